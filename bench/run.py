"""Readout against the original design, in one run: `.venv/bin/python bench/run.py` (`make bench`).

Starts its own redis-server, baseline servers (bench/baseline.py) and Readout stacks (the
API and N worker processes, tests/stack.Stack), runs the seven measurements of issue 8 with
the `fake` engine (latency-bound) and Piper (CPU-bound), prints the summary table and writes
bench/RESULTS.md and bench/plots/*.png. `--no-piper` skips the Piper part (minutes of CPU).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (ROOT, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import _measure as m
import aiohttp
from _report import Results, machine, write
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from shared.audio import mp3
from shared.config import NETWORK_WORKER_CONCURRENCY, Settings
from tests.conftest import CORPUS, RedisServer, free_port
from tests.stack import Stack, get_json

FAKE_LATENCY_MS = 200
HERD_CLIENTS = 50
HERD_CONCURRENCY = NETWORK_WORKER_CONCURRENCY  # the fake engine's default: a herd is hundreds of short cache-hit jobs
SCALING_CONCURRENCY = 1  # one provider call in flight per worker: the worker is the bottleneck
SCALING_ARTICLES, SCALING_CHARS = 16, 5_000
WARM_REPEATS = 30
TTFA_SIZES = (1_000, 2_500, 5_000, 10_000, 20_000)
TTFA_REPEATS = 5
STREAMS, STREAM_CHARS = 100, 20_000
WAKE_TRIALS, WAKE_WAITERS = 12, 10
PIPER_CHARS, PIPER_WORKERS = 20_000, 2

HERD_ESSAY = (CORPUS / "federalist-10.txt").read_text(encoding="utf-8")  # ~18k chars: ~7 chunks
LONG_ESSAY = (CORPUS / "federalist-22.txt").read_text(encoding="utf-8")  # ~21k chars
SCALING_ESSAYS = [(CORPUS / f"federalist-{n:02d}.txt").read_text(encoding="utf-8") for n in range(1, 1 + SCALING_ARTICLES)]


def fake_env(concurrency: int) -> dict[str, str]:
    return {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake",
            "READOUT_FAKE_LATENCY_MS": str(FAKE_LATENCY_MS), "READOUT_WORKER_CONCURRENCY": str(concurrency)}


class Baselines:
    """Baseline server processes (bench/baseline.py), one port each."""

    def __init__(self, redis_url: str, logs: Path) -> None:
        self.redis_url = redis_url
        self.logs = logs
        self.procs: list[subprocess.Popen] = []
        self.urls: list[str] = []

    def start(self, count: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("READOUT_")}
        env.update(fake_env(1), PYTHONPATH=str(ROOT))
        self.logs.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            port = free_port()
            log = open(self.logs / f"baseline-{i}.log", "ab")
            self.procs.append(subprocess.Popen(
                [sys.executable, str(BENCH / "baseline.py"), "--port", str(port), "--redis-url", self.redis_url],
                cwd=ROOT, env=env, stdout=log, stderr=log))
            self.urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(self.procs, self.urls, strict=True):
            _wait_up(proc, url + "/healthz")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)


def _wait_up(proc: subprocess.Popen, url: str, timeout: float = 60) -> None:
    """Bounded readiness poll of a server process started by this run."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if get_json(url, timeout=2)[0] == 200:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up (exit code {proc.poll()})")
        time.sleep(0.05)


@contextlib.contextmanager
def readout(redis_url: str, logs: Path, env: dict[str, str], workers: int) -> Iterator[Stack]:
    """A Readout stack on the run's redis-server; the database is emptied when it stops."""
    stack = Stack(redis_url, free_port(), logs, env=env)
    try:
        stack.start(workers=workers)
        yield stack
    finally:
        stack.stop()
        with SyncRedis.from_url(redis_url) as client:
            client.flushall()


def add_workers(stack: Stack, total: int) -> None:
    while len(stack.workers) < total:
        stack.start_worker()
    stack.wait_until(lambda: get_json(stack.url + "/readyz")[1].get("workers", 0) >= total, f"{total} workers")


def say(message: str) -> None:
    print(message, flush=True)


async def fake_engine_part(r: Results, http: aiohttp.ClientSession, redis: Redis, redis_url: str, logs: Path) -> None:
    baselines = Baselines(redis_url, logs)
    baselines.start(4)
    try:
        with readout(redis_url, logs / "herd", fake_env(HERD_CONCURRENCY), workers=1) as stack:
            for workers in (1, 4):
                add_workers(stack, workers)
                say(f"1. herd, {workers} worker(s)")
                herd_text = m.fresh(HERD_ESSAY)
                ours = await m.herd_ours(http, stack.url, redis, herd_text, HERD_CLIENTS)
                theirs = await m.herd_theirs(http, baselines.urls[:workers], redis, m.fresh(HERD_ESSAY), HERD_CLIENTS)
                r.herd += [{"design": "ours", "workers": workers, **ours}, {"design": "baseline", "workers": workers, **theirs}]
            await warm(r, http, stack, baselines, herd_text, ours["job_id"], logs)
            await ttfa(r, http, stack, baselines)
            say(f"6. memory, {STREAMS} concurrent requests")
            idle, peak, _ = await m.peak_rss(stack.api.pid, asyncio.gather(
                *(m.ours(http, stack.url, text) for text in [m.cold(LONG_ESSAY, STREAM_CHARS)] * STREAMS)))
            r.memory["ours"] = {"idle": idle, "peak": peak}
            idle, peak, _ = await m.peak_rss(baselines.procs[0].pid, asyncio.gather(
                *(m.theirs(http, baselines.urls[0], text) for text in [m.cold(LONG_ESSAY, STREAM_CHARS)] * STREAMS)))
            r.memory["baseline"] = {"idle": idle, "peak": peak}
    finally:
        baselines.stop()

    with readout(redis_url, logs / "scaling", fake_env(SCALING_CONCURRENCY), workers=1) as stack:
        for workers in (1, 2, 4):
            add_workers(stack, workers)
            say(f"4. throughput, {workers} worker(s)")
            result = await m.throughput(http, stack.url, SCALING_ESSAYS, SCALING_CHARS)
            r.scaling.append({"workers": workers, **result})


async def warm(r: Results, http: aiohttp.ClientSession, stack: Stack, baselines: Baselines, text: str,
               job_id: str, logs: Path) -> None:
    """The last herd's article: warm in our cache; one cold request warms the baseline's.

    The designs take turns, request by request: the baseline's time swings by 2x with the
    machine's state (68-173 ms within fifteen minutes here) while ours stays at a few ms, so measuring
    all of one design and then all of the other let a change of load between the two
    blocks move the ratio by itself (it read 17-18x once, 21-28x in other runs).
    """
    say("2. warm article")
    await m.theirs(http, baselines.urls[0], text)
    for _ in range(WARM_REPEATS):
        r.warm.setdefault("ours_done", []).append((await m.ours_done(http, stack.url, job_id)).total_s)
        r.warm.setdefault("ours_resubmit", []).append((await m.ours(http, stack.url, text)).total_s)
        r.warm.setdefault("baseline", []).append((await m.theirs(http, baselines.urls[0], text)).total_s)
    if m.CURL is None:
        say("   (no curl on PATH: warm figures from the Python client only)")
        return
    body = logs / "warm-article.txt"
    body.write_text(text, encoding="utf-8")
    for _ in range(WARM_REPEATS):
        r.warm.setdefault("ours_done_curl", []).append(await m.curl(f"{stack.url}/v1/jobs/{job_id}/audio"))
        r.warm.setdefault("baseline_curl", []).append(await m.curl(
            baselines.urls[0] + "/speak", "-H", "Content-Type: text/plain", "--data-binary", f"@{body}"))


async def ttfa(r: Results, http: aiohttp.ClientSession, stack: Stack, baselines: Baselines) -> None:
    for size in TTFA_SIZES:
        say(f"3. time to first audio, {size:,} chars")
        ours = [await m.ours(http, stack.url, m.cold(LONG_ESSAY, size)) for _ in range(TTFA_REPEATS)]
        theirs = [await m.theirs(http, baselines.urls[0], m.cold(LONG_ESSAY, size)) for _ in range(TTFA_REPEATS)]
        r.ttfa.append({"chars": size, "ours_first": m.p50([f.first_s for f in ours]),
                       "ours_total": m.p50([f.total_s for f in ours]), "theirs_total": m.p50([f.total_s for f in theirs])})


async def piper_part(r: Results, http: aiohttp.ClientSession, redis_url: str, logs: Path) -> None:
    text = m.article(LONG_ESSAY, PIPER_CHARS)
    say(f"7. Piper, {len(text):,} chars, {PIPER_WORKERS} workers (a few minutes)")
    with readout(redis_url, logs / "piper", {"READOUT_DEFAULT_ENGINE": "piper"}, workers=PIPER_WORKERS) as stack:
        fetch = await m.ours(http, stack.url, text)
        status = get_json(f"{stack.url}/v1/jobs/{fetch.job_id}")[1]
    r.piper = {"chars": len(text), "workers": PIPER_WORKERS, "first_s": fetch.first_s, "total_s": fetch.total_s,
               "audio_s": mp3.duration_seconds(fetch.body), "chunks": status["chunks"]["total"]}


async def main(with_piper: bool) -> None:
    started = time.perf_counter()
    r = Results(settings={
        "fake_latency_ms": FAKE_LATENCY_MS, "herd_concurrency": HERD_CONCURRENCY, "warm_repeats": WARM_REPEATS,
        "ttfa_repeats": TTFA_REPEATS, "scaling_concurrency": SCALING_CONCURRENCY, "scaling_articles": SCALING_ARTICLES,
        "scaling_chars": SCALING_CHARS, "wake_trials": WAKE_TRIALS, "wake_waiters": WAKE_WAITERS, "streams": STREAMS,
        "stream_chars": STREAM_CHARS, "piper_chars": PIPER_CHARS, "piper_workers": PIPER_WORKERS,
        "poll_delay_ms": round(Settings().poll_delay_s * 1000),
    }, machine=machine())
    with tempfile.TemporaryDirectory(prefix="readout-bench-") as tmp:
        server = RedisServer(port=free_port(), dir=Path(tmp), appendonly=False)
        server.start()
        redis = Redis.from_url(server.url)
        connector = aiohttp.TCPConnector(limit=0)
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=900)) as http:
                await fake_engine_part(r, http, redis, server.url, Path(tmp) / "logs")
                say("5. wake-up latency")
                many = await m.wake_latency(server.url, WAKE_TRIALS, WAKE_WAITERS)
                one = await m.wake_latency(server.url, WAKE_TRIALS, 1)
                r.wakeup = {**many, "ours_1": one["ours"], "poll_1": one["poll"]}
                if with_piper:
                    await piper_part(r, http, server.url, Path(tmp) / "logs")
        finally:
            await redis.aclose()
            server.kill()
    r.elapsed_s = time.perf_counter() - started
    r.machine["load_after"] = os.getloadavg()
    print(write(r, BENCH))
    print(f"\nwrote {BENCH / 'RESULTS.md'} and {BENCH / 'plots'}/ in {r.elapsed_s:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-piper", action="store_true", help="skip the Piper measurement")
    asyncio.run(main(not parser.parse_args().no_piper))
