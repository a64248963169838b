"""Cluster-wide counters: one Redis hash (`keys.STATS`), one field per counter.

Add a counter by naming its field here and calling `incr`; `read_stats` returns them all.
Histograms live in the same hash: one field per bucket (`<name>_bucket:<upper bound>`, counts
per bucket, not cumulative) and `<name>_sum_us`, so recording one value is two HINCRBYs.
`/metrics` turns them into Prometheus histograms at scrape time (api.metrics).
"""
from __future__ import annotations

import asyncio
import bisect
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import keys

log = logging.getLogger(__name__)

CACHE_HITS = "cache_hits"
CACHE_MISSES = "cache_misses"
LOCK_WAITS = "lock_waits"  # callers that found the chunk locked and waited
WAKEUPS_NOTIFIED = "wakeups_notified"  # waiters that found the audio right after a pub/sub wake-up
WAKEUPS_POLLED = "wakeups_polled"  # waiters that found the audio on a backoff poll
TAKEOVERS = "lock_takeovers"  # waiters that took the lock after the holder vanished or failed
CACHED_CHARS = "cached_chars"  # characters served from the cache instead of a provider (worker)

# Histograms: upper bounds in seconds; the last bucket is +Inf.
LOCK_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TTFA = "ttfa"  # a job's time to first audio: chunk 0 landed minus created (shared.jobs records it)
TTFA_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


def provider_calls(engine: str) -> str:
    return f"provider_calls:{engine}"


def provider_chars(engine: str) -> str:
    """Characters sent to the provider."""
    return f"provider_chars:{engine}"


def provider_billed(engine: str) -> str:
    """Characters the provider billed (Polly's RequestCharacters; 0 for local engines)."""
    return f"provider_billed:{engine}"


def provider_attempts(engine: str) -> str:
    """Requests the provider saw, retries included (throttled ones too)."""
    return f"provider_attempts:{engine}"


def provider_errors(engine: str) -> str:
    return f"provider_errors:{engine}"


async def incr(redis: Redis, field: str, amount: int = 1) -> None:
    await redis.hincrby(keys.STATS, field, amount)


async def incr_many(redis: Redis, counts: dict[str, int]) -> None:
    """Several counters in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for field, amount in counts.items():
        pipe.hincrby(keys.STATS, field, amount)
    await pipe.execute()


def lock_wait(woken_by: str) -> str:
    """Histogram of a waiter's time from finding the chunk locked to holding its audio,
    by what ended the wait (`WAKEUPS_NOTIFIED` or `WAKEUPS_POLLED`)."""
    return "lock_wait_" + woken_by.removeprefix("wakeups_")


def bucket_label(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def histogram_fields(name: str, seconds: float, buckets: tuple[float, ...]) -> dict[str, int]:
    """The counter increments that record one observation of `seconds`."""
    index = bisect.bisect_left(buckets, seconds)
    bound = buckets[index] if index < len(buckets) else float("inf")
    return {f"{name}_bucket:{bucket_label(bound)}": 1, f"{name}_sum_us": round(seconds * 1e6)}


async def observe(redis: Redis, name: str, seconds: float, buckets: tuple[float, ...]) -> None:
    await incr_many(redis, histogram_fields(name, seconds, buckets))


def read_histogram(
    counters: dict[str, int], name: str, buckets: tuple[float, ...]
) -> tuple[list[tuple[str, int]], float]:
    """Cumulative (le, count) pairs ending with +Inf, and the sum in seconds."""
    cumulative, running = [], 0
    for bound in (*buckets, float("inf")):
        label = bucket_label(bound)
        running += counters.get(f"{name}_bucket:{label}", 0)
        cumulative.append((label, running))
    return cumulative, counters.get(f"{name}_sum_us", 0) / 1e6


_pending: set[asyncio.Task[None]] = set()


def incr_many_later(redis: Redis, counts: dict[str, int]) -> None:
    """`incr_many` off the caller's path (a waiter hands over its audio first).

    The task is kept referenced until it ends; a Redis error only loses these counts.
    """
    task = asyncio.get_running_loop().create_task(_incr_quietly(redis, counts))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def flush() -> None:
    """Wait for the counts `incr_many_later` has scheduled (tests, shutdown)."""
    if _pending:
        await asyncio.gather(*_pending)


async def _incr_quietly(redis: Redis, counts: dict[str, int]) -> None:
    try:
        await incr_many(redis, counts)
    except (RedisError, OSError) as exc:
        log.warning("stats update lost: %s", exc)


async def read_stats(redis: Redis) -> dict[str, int]:
    raw = await redis.hgetall(keys.STATS)
    return {_text(k): int(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
