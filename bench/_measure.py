"""Client-side measurements for bench/run.py: one request of each design, timed, and the
experiments built from them. Every figure is taken over HTTP against real processes,
except the wake-up latency, which times `get_or_synthesize` waiters directly.
"""
from __future__ import annotations

import asyncio
import math
import random
import secrets
import shutil
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import baseline
import psutil
from bench_cache import Holder, _timed_call
from redis.asyncio import Redis

from shared import keys, stats
from shared.config import Settings
from shared.store.cache import cache_key
from shared.wakeup import AudioWaker
from tests.test_service_e2e import fresh, provider_calls, submit, wait_done

T = TypeVar("T")
CURL = shutil.which("curl")


@dataclass(frozen=True)
class Fetch:
    """One request: seconds to the first audio byte and to the last, the body, the job id."""

    first_s: float
    total_s: float
    body: bytes
    job_id: str = ""


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


async def _read(resp: aiohttp.ClientResponse, started: float) -> tuple[float, bytes]:
    if resp.status != 200:
        raise RuntimeError(f"{resp.method} {resp.url} answered {resp.status}: {(await resp.read())[:300]!r}")
    first = 0.0
    body = bytearray()
    async for data in resp.content.iter_any():
        if not body:
            first = time.perf_counter() - started
        body += data
    return first, bytes(body)


async def ours(http: aiohttp.ClientSession, base: str, text: str) -> Fetch:
    """Submit, then stream GET /v1/jobs/{id}/audio at once: first byte and end, from the submit."""
    started = time.perf_counter()
    job = await submit(http, base, text)
    async with http.get(base + job["audio_url"]) as resp:
        first, body = await _read(resp, started)
    return Fetch(first, time.perf_counter() - started, body, job["id"])


async def ours_done(http: aiohttp.ClientSession, base: str, job_id: str) -> Fetch:
    """GET the audio of a finished job (Content-Length, served from the cached pieces)."""
    started = time.perf_counter()
    async with http.get(f"{base}/v1/jobs/{job_id}/audio") as resp:
        first, body = await _read(resp, started)
    return Fetch(first, time.perf_counter() - started, body, job_id)


async def theirs(http: aiohttp.ClientSession, url: str, text: str) -> Fetch:
    """POST /speak to a baseline server: the whole MP3 comes back in the response."""
    started = time.perf_counter()
    async with http.post(url + "/speak", data=text.encode(), headers={"Content-Type": "text/plain"}) as resp:
        first, body = await _read(resp, started)
    return Fetch(first, time.perf_counter() - started, body)


async def curl(url: str, *args: str) -> float:
    """Seconds curl reports from connecting to the last byte (its own clock, not its start-up).

    A C client adds almost nothing to the server's time, where the Python client adds a
    few ms of its own per megabyte to both designs alike.
    """
    assert CURL is not None
    proc = await asyncio.create_subprocess_exec(
        CURL, "-s", "-f", "-o", "/dev/null", "-w", "%{time_total}", *args, url, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"curl {url} exited with {proc.returncode}")
    return float(out)


def article(essay: str, size: int) -> str:
    """`essay` cut at the last sentence end at or before `size` characters."""
    if len(essay) <= size:
        return essay
    cut = max(essay.rfind(end, 0, size) for end in (". ", ".\n", "? ", "! "))
    return essay[: cut + 1] if cut > 0 else essay[:size]


def cold(essay: str, size: int) -> str:
    """A `size`-character article no cache has seen (a fresh variant, then cut)."""
    return article(fresh(essay), size)


async def herd_ours(http: aiohttp.ClientSession, base: str, redis: Redis, text: str, clients: int) -> dict[str, Any]:
    before = await provider_calls(http, base)
    started = time.perf_counter()
    fetches = await asyncio.gather(*(ours(http, base, text) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    manifest = await redis.lrange(keys.job_chunks(fetches[0].job_id), 0, -1)
    if len({f.body for f in fetches}) != 1:
        raise RuntimeError("herd clients got different audio for the same article")
    return {"calls": await provider_calls(http, base) - before, "distinct": len(set(manifest)),
            "requests": clients * len(manifest), "seconds": elapsed, "job_id": fetches[0].job_id}


async def herd_theirs(http: aiohttp.ClientSession, urls: list[str], redis: Redis, text: str, clients: int) -> dict[str, Any]:
    before = int(await redis.get(baseline.PROVIDER_CALLS) or 0)
    started = time.perf_counter()
    fetches = await asyncio.gather(*(theirs(http, urls[i % len(urls)], text) for i in range(clients)))
    elapsed = time.perf_counter() - started
    chunks = baseline.split_sentences(text)
    if any(not f.body for f in fetches):
        raise RuntimeError("a baseline herd client got no audio")
    return {"calls": int(await redis.get(baseline.PROVIDER_CALLS) or 0) - before, "distinct": len(set(chunks)),
            "requests": clients * len(chunks), "seconds": elapsed}


async def repeat(times: int, make: Callable[[], Awaitable[Fetch]]) -> list[Fetch]:
    """`make()` awaited `times` times, one after another (no overlap, so no queueing)."""
    return [await make() for _ in range(times)]


async def throughput(http: aiohttp.ClientSession, base: str, essays: list[str], size: int) -> dict[str, Any]:
    """All articles submitted at once; articles per minute until the last one is done."""
    texts = [cold(e, size) for e in essays]
    started = time.perf_counter()
    jobs = await asyncio.gather(*(submit(http, base, t) for t in texts))
    finals = await asyncio.gather(*(wait_done(http, base, j["id"], timeout=300) for j in jobs))
    elapsed = time.perf_counter() - started
    if {f["status"] for f in finals} != {"done"}:
        raise RuntimeError(f"throughput run: not every job finished: {[f['status'] for f in finals]}")
    chunks = sum(f["chunks"]["total"] for f in finals)
    return {"articles": len(texts), "chunks": chunks, "seconds": elapsed, "per_minute": 60 * len(texts) / elapsed}


async def peak_rss(pid: int, work: Awaitable[T], every_s: float = 0.005) -> tuple[int, int, T]:
    """(RSS before, peak RSS while `work` runs, its result) of process `pid`, sampled."""
    proc = psutil.Process(pid)
    idle = peak = proc.memory_info().rss
    task = asyncio.ensure_future(work)
    while not task.done():
        peak = max(peak, proc.memory_info().rss)
        await asyncio.wait({task}, timeout=every_s)
    return idle, peak, task.result()


async def wake_latency(redis_url: str, trials: int, waiters: int) -> dict[str, list[float]]:
    """Seconds from the audio landing to each waiter having it: pub/sub + poll vs poll only.

    A holder (bench_cache.Holder) keeps the lock for a random 50-1000 ms; `waiters` callers
    of the same chunk wait on it. Each trial uses a chunk no one has seen.
    """
    redis = Redis.from_url(redis_url)
    waker = AudioWaker(redis)
    await waker.start()
    settings = Settings()
    rng = random.Random(4)
    holds = [rng.uniform(0.05, 1.0) for _ in range(trials)]
    results: dict[str, list[float]] = {}
    try:
        for mode, use in (("ours", waker), ("poll", None)):
            latencies: list[float] = []
            for hold in holds:
                engine = Holder(hold)
                text = f"wake-up {mode} {secrets.token_hex(8)}"
                holder = asyncio.create_task(_timed_call(redis, engine, text, settings, use))
                lock = keys.lock(cache_key(text, engine.params()))
                while not await redis.exists(lock):  # bounded by the holder's start, a few ms
                    await asyncio.sleep(0.001)
                done = await asyncio.gather(*(_timed_call(redis, engine, text, settings, use) for _ in range(waiters)))
                await holder
                latencies += [t - engine.landed for t in done]
            results[mode] = latencies
    finally:
        await stats.flush()
        await waker.close()
        await redis.aclose()
    return results
