"""`GET /metrics`: Prometheus text that any API replica answers with the cluster's numbers."""
from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from shared import stats
from tests.conftest import CORPUS, free_port
from tests.stack import Stack, get_json
from tests.test_service_e2e import fresh, submit, wait_done

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
ESSAY = (CORPUS / "federalist-10.txt").read_text(encoding="utf-8")


def scrape(base: str) -> Samples:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_histogram_fields_round_trip(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    buckets = (0.1, 1.0)
    for seconds in (0.05, 0.1, 0.5, 3.0):
        await stats.observe(redis, "probe", seconds, buckets)
    cumulative, total = stats.read_histogram(await stats.read_stats(redis), "probe", buckets)
    await redis.aclose()
    assert cumulative == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert total == pytest.approx(3.65)


@pytest.fixture
def stacks(redis_url: str, tmp_path: Path) -> Iterator[tuple[Stack, Stack]]:
    """Two API replicas on one Redis; the workers hang off the first's stack."""
    env = {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "100"}
    one = Stack(redis_url, free_port(), tmp_path / "one", env=env)
    two = Stack(redis_url, free_port(), tmp_path / "two", env=env)
    try:
        one.start(workers=2)
        two.start(workers=0)
        yield one, two
    finally:
        two.stop()
        one.stop()


@pytest.mark.slow
async def test_metrics_tell_the_cluster_truth_on_every_replica(stacks: tuple[Stack, Stack]) -> None:
    one, two = stacks
    article = fresh(ESSAY)
    jobs = 20
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        created = await asyncio.gather(*(submit(http, one.url, article) for _ in range(jobs)))
        finals = await asyncio.gather(*(wait_done(http, one.url, j["id"]) for j in created))
    assert {f["status"] for f in finals} == {"done"}
    _, body = get_json(one.url + "/v1/stats")
    first, second = scrape(one.url), scrape(two.url)

    for samples in (first, second):  # worker-made numbers: the same from either replica
        assert value(samples, "readout_provider_calls_total", engine="fake") == body["providers"]["fake"]["calls"]
        assert value(samples, "readout_provider_characters_total", engine="fake") == body["providers"]["fake"]["characters"]
        assert value(samples, "readout_cache_hits_total") == body["cache"]["hits"]
        assert value(samples, "readout_cache_misses_total") == body["cache"]["misses"]
        assert value(samples, "readout_lock_waits_total") == body["cache"]["lock_waits"]
        assert value(samples, "readout_jobs", status="done") == jobs
        assert value(samples, "readout_jobs", status="running") == 0
        assert value(samples, "readout_queue_depth") == 0
        assert value(samples, "readout_workers_alive") == 2

        # One time-to-first-audio observation per job, summing the jobs' own figures.
        assert value(samples, "readout_time_to_first_audio_seconds_count") == jobs
        assert value(samples, "readout_time_to_first_audio_seconds_bucket", le="+Inf") == jobs
        ttfa = sum(f["time_to_first_audio_seconds"] for f in finals)
        assert value(samples, "readout_time_to_first_audio_seconds_sum") == pytest.approx(ttfa, abs=0.001 * jobs)

        # Every waiter that got its audio after a wake-up is in the lock-wait histogram, by what woke it.
        for woken_by, counter in (("notified", "wakeups_notified"), ("polled", "wakeups_polled")):
            count = value(samples, "readout_lock_wait_seconds_count", woken_by=woken_by)
            assert count == body["cache"][counter]
            assert value(samples, "readout_lock_wait_seconds_bucket", woken_by=woken_by, le="+Inf") == count
    assert body["cache"]["lock_waits"] > 0  # 20 copies of one cold article: callers waited on each other's locks
    waits = sum(value(first, "readout_lock_wait_seconds_count", woken_by=w) for w in ("notified", "polled"))
    assert 0 < waits <= body["cache"]["lock_waits"]
    print(f"\nlock waits {body['cache']['lock_waits']}, woken: notified {body['cache']['wakeups_notified']}, "
          f"polled {body['cache']['wakeups_polled']}; mean lock wait "
          f"{sum(value(first, 'readout_lock_wait_seconds_sum', woken_by=w) for w in ('notified', 'polled')) / waits:.3f} s; "
          f"mean time to first audio {ttfa / jobs:.3f} s")

    # HTTP latency is per process: only the replica that served the submissions counted them.
    posted = ("readout_http_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/jobs"), ("status", "202")))
    assert first[posted] == jobs
    assert posted not in second
    events = [k for k in first if k[0] == "readout_http_request_duration_seconds_count"
              and dict(k[1]).get("route") == "/v1/jobs/{job_id}/events"]
    assert events and sum(first[k] for k in events) == jobs  # route templates, never raw ids
