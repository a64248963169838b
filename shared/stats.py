"""Cluster-wide counters: one Redis hash (`keys.STATS`), one field per counter.

Add a counter by naming its field here and calling `incr`; `read_stats` returns them all.
"""
from __future__ import annotations

from redis.asyncio import Redis

from shared import keys

CACHE_HITS = "cache_hits"
CACHE_MISSES = "cache_misses"
LOCK_WAITS = "lock_waits"  # callers that found the chunk locked and waited
WAKEUPS_NOTIFIED = "wakeups_notified"  # waiters that found the audio right after a pub/sub wake-up
WAKEUPS_POLLED = "wakeups_polled"  # waiters that found the audio on a backoff poll
TAKEOVERS = "lock_takeovers"  # waiters that took the lock after the holder vanished or failed
CACHED_CHARS = "cached_chars"  # characters served from the cache instead of a provider (worker)


def provider_calls(engine: str) -> str:
    return f"provider_calls:{engine}"


def provider_chars(engine: str) -> str:
    """Characters sent to the provider."""
    return f"provider_chars:{engine}"


def provider_billed(engine: str) -> str:
    """Characters the provider billed (Polly's RequestCharacters; 0 for local engines)."""
    return f"provider_billed:{engine}"


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


async def read_stats(redis: Redis) -> dict[str, int]:
    raw = await redis.hgetall(keys.STATS)
    return {_text(k): int(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
