"""Fault survival against real processes and a real redis-server (issue 6).

Each test prints what it survived (jobs, provider calls, time to recover) so the figures
can be quoted; run with `-s` to see them.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest
import redis as sync_redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.exceptions import ConnectionError as RedisConnectionError

from api.errors import json_errors
from shared import keys
from tests.chunks import chunk_mp3s
from tests.conftest import CORPUS, RedisServer, free_port
from tests.fake_speech import planned_chunks
from tests.stack import Stack, get_json, until
from tests.test_service_e2e import fresh, submit, wait_done

SAMPLE_S = 0.02  # memory sampling interval

pytestmark = pytest.mark.slow

SHORT = (CORPUS / "federalist-05.txt").read_text(encoding="utf-8")
FAKE = {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake"}
TERMINAL = ("done", "failed", "cancelled")


@pytest.fixture
def stacks(redis_url: str, tmp_path: Path) -> Iterator[list[Stack]]:
    """Stacks a test starts; all stopped at the end."""
    started: list[Stack] = []
    yield started
    for s in started:
        s.stop()


def new_stack(stacks: list[Stack], redis_url: str, logs: Path, **env: str) -> Stack:
    s = Stack(redis_url, free_port(), logs, env={**FAKE, **env})
    stacks.append(s)
    return s


@pytest.fixture
def rclient(redis_url: str) -> Iterator[sync_redis.Redis]:
    client = sync_redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
    yield client
    client.close()


async def get_status(http: aiohttp.ClientSession, base: str, job_id: str) -> dict:
    async with http.get(f"{base}/v1/jobs/{job_id}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def statuses(http: aiohttp.ClientSession, base: str, ids: list[str]) -> list[dict]:
    return list(await asyncio.gather(*(get_status(http, base, i) for i in ids)))


async def wait_terminal(http: aiohttp.ClientSession, base: str, ids: list[str], timeout: float) -> list[dict]:
    """Bounded poll of the status endpoint until every job is terminal; the last statuses."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            current = await statuses(http, base, ids)
            if all(s["status"] in TERMINAL for s in current):
                return current
        except (aiohttp.ClientError, AssertionError):
            current = []
        if time.monotonic() > deadline:
            return current
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


async def fake_stats(http: aiohttp.ClientSession, base: str) -> dict[str, int]:
    async with http.get(f"{base}/v1/stats") as resp:
        return (await resp.json())["providers"].get("fake", {"calls": 0, "errors": 0, "attempts": 0})


# --- Redis killed with SIGKILL and restarted --------------------------------------------


async def test_redis_sigkill_and_restart(redis_server: RedisServer, redis_url: str, stacks, tmp_path, http,
                                         rclient) -> None:
    # Two single-slot workers: jobs wait their turn, so the crash finds some queued and some running.
    s = new_stack(stacks, redis_url, tmp_path / "logs", READOUT_FAKE_LATENCY_MS="300",
                  READOUT_WORKER_CONCURRENCY="1").start(workers=2)
    ids = [(await submit(http, s.url, fresh(SHORT)))["id"] for _ in range(8)]
    # Crash once work is under way: some chunk has landed, and jobs are still queued or running.
    assert await until(lambda: any(rclient.scard(keys.job_landed(i)) for i in ids), timeout=30)
    before = [b.decode() for b in (rclient.hget(keys.job(i), "status") for i in ids)]
    assert "queued" in before and "running" in before, before
    redis_server.kill()
    killed = time.monotonic()
    # Stay down until the API has noticed (its readiness probe fails), then come back.
    assert await until(lambda: get_json(s.url + "/readyz")[0] == 503, timeout=30)
    down = time.monotonic() - killed
    redis_server.start()
    finals = await wait_terminal(http, s.url, ids, timeout=120)
    recovered = time.monotonic() - killed
    assert [f["status"] for f in finals] == ["done"] * len(ids), (finals, s.read_logs())
    calls = (await fake_stats(http, s.url))["calls"]
    # Both sides reconnected on their own: the API's event subscription and each worker's
    # audio-ready subscription are back, both workers heartbeat, and a new job completes.
    def resubscribed() -> bool:
        audio_subs = dict(rclient.pubsub_numsub(keys.AUDIO_READY_CHANNEL)).get(keys.AUDIO_READY_CHANNEL.encode(), 0)
        return rclient.pubsub_numpat() >= 1 and audio_subs >= len(s.workers)
    assert await until(resubscribed, timeout=30)
    assert get_json(s.url + "/readyz")[1].get("workers") == len(s.workers)
    after = await submit(http, s.url, fresh(SHORT))
    assert (await wait_done(http, s.url, after["id"]))["status"] == "done"
    assert all(p.poll() is None for p in [s.api, *s.workers])
    chunks = sum(f["chunks"]["total"] for f in finals)
    print(f"\nredis SIGKILL+restart: {len(ids)} jobs ({before.count('queued')} queued, "
          f"{before.count('running')} running at the crash, {chunks} chunks); redis down {down:.1f}s; "
          f"all done {recovered:.1f}s after the kill; {calls} provider calls for {chunks} chunks")


# --- Provider throttling -------------------------------------------------------------------


async def test_throttled_provider_every_job_completes_within_the_retry_bound(redis_url, stacks, tmp_path, http) -> None:
    """30% of provider requests throttled. Each unit (sentence) is one provider call, retried by
    the engine's own loop (full jitter, at most READOUT_PROVIDER_MAX_TRIES tries); /v1/stats
    counts every try as an attempt. Bound: attempts <= units x max tries, and no unit is
    spoken twice (calls == units)."""
    max_tries = 8
    s = new_stack(stacks, redis_url, tmp_path / "logs", READOUT_FAKE_FAIL_RATE="0.3", READOUT_FAKE_LATENCY_MS="30",
                  READOUT_PROVIDER_MAX_TRIES=str(max_tries), READOUT_PROVIDER_BACKOFF="0.01").start(workers=2)
    started = time.monotonic()
    articles = [fresh(SHORT) for _ in range(8)]
    units = sum(len(chunk) for text in articles for chunk in planned_chunks(text))
    ids = [(await submit(http, s.url, text))["id"] for text in articles]
    finals = await asyncio.gather(*(wait_done(http, s.url, i, timeout=120) for i in ids))
    elapsed = time.monotonic() - started
    assert [f["status"] for f in finals] == ["done"] * len(ids), finals
    chunks = sum(f["chunks"]["total"] for f in finals)
    fake = await fake_stats(http, s.url)
    assert fake["attempts"] > fake["calls"], "the provider was never throttled: the test proved nothing"
    assert fake["calls"] == units  # each unit spoken once: no retry made a duplicate call
    assert fake["attempts"] <= units * max_tries
    print(f"\nprovider throttling 30%: {len(ids)} jobs, {chunks} chunks ({units} units) all done in {elapsed:.1f}s; "
          f"{fake['attempts']} provider attempts, bound {units * max_tries}")


# --- Provider hard failure -----------------------------------------------------------------


async def test_provider_hard_failure_fails_fast_and_recovers_without_ttl(redis_url, stacks, tmp_path, http,
                                                                         rclient) -> None:
    # A long lock TTL: a lock left behind would still be there when we look.
    s = new_stack(stacks, redis_url, tmp_path / "logs", READOUT_FAKE_FAIL_HARD="1", READOUT_FAKE_LATENCY_MS="30",
                  READOUT_LOCK_TTL_MS="120000").start(workers=2)
    article = fresh(SHORT)
    started = time.monotonic()
    job = await submit(http, s.url, article)
    final = await wait_done(http, s.url, job["id"])
    failed_after = time.monotonic() - started
    assert final["status"] == "failed", final
    message = final["error"]["message"]
    assert "engine fake" in message and "chunk " in message, message
    assert final["error"]["code"] == "provider_failed"
    # Once the queue has drained, no lock is left waiting for its TTL.
    assert await until(lambda: rclient.zcard("arq:queue") == 0 and rclient.hlen(keys.RUNNING) == 0, timeout=30)
    assert rclient.keys(keys.lock("*")) == []
    errors = (await fake_stats(http, s.url))["errors"]
    assert 1 <= errors <= final["chunks"]["total"]  # a permanent error is never retried

    # The provider recovers: workers restart without the fault; the same article succeeds at once.
    for worker in s.workers:
        worker.terminate()
        worker.wait()
    s.workers.clear()
    s.env["READOUT_FAKE_FAIL_HARD"] = "0"
    for _ in range(2):
        s.start_worker()
    s.wait_until(lambda: get_json(s.url + "/readyz")[0] == 200, "workers ready")
    waits_before = int(rclient.hget(keys.STATS, "lock_waits") or 0)
    resubmitted = time.monotonic()
    again = await submit(http, s.url, article)
    done = await wait_done(http, s.url, again["id"])
    assert done["status"] == "done", done
    assert int(rclient.hget(keys.STATS, "lock_waits") or 0) == waits_before  # nobody waited on a stale lock
    print(f"\nprovider hard failure: job failed {failed_after:.2f}s after submit ({message!r}); "
          f"{errors} provider attempts; 0 locks left; resubmitted job done {time.monotonic() - resubmitted:.2f}s "
          f"after the provider recovered")


# --- The API restarted while a client streams ---------------------------------------------


async def test_api_restart_mid_stream_then_the_client_gets_the_whole_file(redis_url, stacks, tmp_path, http,
                                                                          rclient) -> None:
    s = new_stack(stacks, redis_url, tmp_path / "logs", READOUT_FAKE_LATENCY_MS="300",
                  READOUT_WORKER_CONCURRENCY="1").start(workers=1)
    job = await submit(http, s.url, fresh(SHORT))
    received = b""
    with pytest.raises(aiohttp.ClientError):  # the cut stream is an error, never a short "complete" file
        async with http.get(s.url + job["audio_url"]) as resp:
            assert resp.status == 200
            while not received:
                received += await resp.content.readany()
            s.api.kill()  # SIGKILL mid-stream, while later chunks are still pending
            s.api.wait()
            killed = time.monotonic()
            assert rclient.hget(keys.job(job["id"]), "status") == b"running"
            while True:
                piece = await resp.content.readany()
                if not piece:
                    break
                received += piece
    s.start_api()
    restarted = time.monotonic() - killed
    async with http.get(s.url + job["audio_url"]) as resp:
        assert resp.status == 200
        whole = await resp.read()
    manifest = [k.decode() for k in rclient.lrange(keys.job_chunks(job["id"]), 0, -1)]
    if whole.startswith(b"ID3"):  # done meanwhile: the finished file, every chunk's audio in it
        assert rclient.hget(keys.job(job["id"]), "status") == b"done"
        assert int(rclient.hget(keys.job(job["id"]), "audio_bytes")) == len(whole)
    else:  # still running: the stream again, from chunk 0
        assert whole == b"".join(await chunk_mp3s(s, job["id"]))
        assert whole.startswith(received)
    print(f"\nAPI SIGKILL mid-stream: client had {len(received)} bytes; API back in {restarted:.1f}s; "
          f"second request got the complete {len(whole)}-byte file ({len(manifest)} chunks)")


# --- Load: 200 concurrent clients against one API process ---------------------------------


async def test_two_hundred_concurrent_clients(redis_url, stacks, tmp_path, rclient) -> None:

    s = new_stack(stacks, redis_url, tmp_path / "logs", READOUT_FAKE_LATENCY_MS="20",
                  READOUT_WORKER_CONCURRENCY="16").start(workers=2)
    api = psutil.Process(s.api.pid)
    baseline = api.memory_info().rss
    peak = baseline
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, api.memory_info().rss)
            await asyncio.sleep(SAMPLE_S)

    articles = [fresh(SHORT)[:1500] for _ in range(20)]  # 20 distinct articles, each asked for 10 times
    errors: list[str] = []

    async def client(n: int, http: aiohttp.ClientSession) -> tuple[str, str]:
        job = await submit(http, s.url, articles[n % len(articles)])
        mode = ("poll", "stream", "events")[n % 3]
        if mode == "stream":
            async with http.get(s.url + job["audio_url"]) as resp:
                body = await resp.read()
                if resp.status != 200 or not body:
                    errors.append(f"stream {resp.status}")
        elif mode == "events":
            if (await wait_done(http, s.url, job["id"], timeout=120))["status"] != "done":
                errors.append("events: not done")
        else:
            status = {"status": "queued"}
            while status["status"] not in TERMINAL:
                async with http.get(s.url + job["status_url"]) as resp:
                    if resp.status != 200:
                        errors.append(f"poll {resp.status}")
                        break
                    status = await resp.json()
                    await asyncio.sleep(float(resp.headers.get("Retry-After", "0")) / 4)
        return job["id"], mode

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=180)) as http:
        results = await asyncio.gather(*(client(n, http) for n in range(200)), return_exceptions=True)
        elapsed = time.monotonic() - started
        sampling = False
        await sampler
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures, failures[:3]
        assert not errors, errors[:5]
        ids = [r[0] for r in results]
        finals = await statuses(http, s.url, ids)
    assert len(set(ids)) == 200
    assert [f["status"] for f in finals] == ["done"] * 200
    by_status = {k.decode(): int(v) for k, v in rclient.hgetall(keys.JOBS_BY_STATUS).items()}
    assert by_status.get("done") == 200 and by_status.get("queued", 0) == by_status.get("running", 0) == 0
    calls = rclient.hget(keys.STATS, "provider_calls:fake")
    mib = 1024 * 1024
    print(f"\nload: 200 concurrent clients (submit + poll/stream/SSE) on one API: all 200 jobs done in "
          f"{elapsed:.1f}s, 0 errors, {int(calls or 0)} provider calls; API RSS {baseline / mib:.0f} MiB at rest, "
          f"peak {peak / mib:.0f} MiB")
    assert peak - baseline < 256 * mib


async def test_redis_unreachable_past_retries_is_a_503_not_a_500() -> None:
    """What a request sees if Redis stays down longer than the client's retries."""
    async def down(request: web.Request) -> web.Response:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/v1/jobs/{job_id}", down)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(f"/v1/jobs/{'a' * 32}")
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "store_unavailable"
        assert int(resp.headers["Retry-After"]) > 0


# --- Finished files that cannot be written ------------------------------------------------


def block_finished_files(logs: Path) -> Path:
    """A plain file where the directory storage keeps finished articles (`jobs/`): every write
    of a finished file fails with an OSError, while chunks (`chunks/`) are stored as usual."""
    blocker = logs / "data" / "store" / "jobs"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"not a directory")
    return blocker


async def test_finished_files_that_cannot_be_written_wait_for_the_storage_then_the_job_is_done(
        stacks, redis_url, tmp_path, http) -> None:
    blocker = block_finished_files(tmp_path / "logs")
    # One try per step: only a storage error that costs no try can leave this job alive.
    s = new_stack(stacks, redis_url, tmp_path / "logs", READOUT_STORE_FAIL_AFTER="120",
                  READOUT_CHUNK_MAX_TRIES="1").start(workers=1)
    job = await submit(http, s.url, fresh(SHORT))
    # Every chunk lands, yet the job is not done: its finished file cannot be written.
    deadline = time.monotonic() + 60
    while True:
        current = await get_status(http, s.url, job["id"])
        if (current["chunks"]["total"] or 0) > 0 and current["chunks"]["done"] == current["chunks"]["total"]:
            break
        assert current["status"] in ("queued", "running") and time.monotonic() < deadline, current
        await asyncio.sleep(0.05)
    assert await until(lambda: "store error; step retried" in s.read_logs(), timeout=30)
    assert (await get_status(http, s.url, job["id"]))["status"] == "running"
    blocker.unlink()  # the storage is back
    final = await wait_done(http, s.url, job["id"])
    assert final["status"] == "done", (final, s.read_logs())
    async with http.get(s.url + final["audio_url"]) as resp:
        assert resp.status == 200 and len(await resp.read()) == final["audio"]["bytes"] > 0
    assert all(p.poll() is None for p in [s.api, *s.workers])


async def test_finished_files_that_stay_unwritable_fail_the_job_with_a_code(stacks, redis_url, tmp_path, http) -> None:
    block_finished_files(tmp_path / "logs")
    s = new_stack(stacks, redis_url, tmp_path / "logs", READOUT_STORE_FAIL_AFTER="2").start(workers=1)
    job = await submit(http, s.url, fresh(SHORT))
    with pytest.raises(aiohttp.ClientPayloadError):  # the running job's stream is cut, never ended cleanly
        async with http.get(s.url + job["audio_url"]) as resp:
            assert resp.status == 200
            await resp.read()
    [final] = await wait_terminal(http, s.url, [job["id"]], timeout=60)
    assert final["status"] == "failed" and final["error"]["code"] == "store_unavailable", final
    assert final["chunks"]["done"] == final["chunks"]["total"]  # every chunk was there: the finishing failed
    assert all(p.poll() is None for p in [s.api, *s.workers])
