"""The cluster-wide numbers behind `GET /v1/stats` (and `readout stats`), read from Redis."""
from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from arq.constants import default_queue_name
from redis.asyncio import Redis

from shared import keys, stats
from shared.config import Settings
from shared.jobs import STATUSES
from shared.liveness import live_workers

_PER_ENGINE = {"provider_calls": "calls", "provider_attempts": "attempts", "provider_chars": "characters",
               "provider_billed": "billed_characters", "provider_errors": "errors"}


async def cluster_stats(redis: Redis, queue: ArqRedis, settings: Settings) -> dict[str, Any]:
    counters = await stats.read_stats(redis)
    engines: dict[str, dict[str, int]] = {}
    for field, value in counters.items():
        prefix, _, engine = field.partition(":")
        if engine and prefix in _PER_ENGINE:
            engines.setdefault(engine, dict.fromkeys(_PER_ENGINE.values(), 0))[_PER_ENGINE[prefix]] = value
    by_status = {k.decode(): int(v) for k, v in (await redis.hgetall(keys.JOBS_BY_STATUS)).items()}
    billed = sum(e["billed_characters"] for e in engines.values())
    cached = counters.get(stats.CACHED_CHARS, 0)
    price = settings.price_per_million
    return {
        "providers": engines,
        "provider_calls": sum(e["calls"] for e in engines.values()),
        "cache": {
            "hits": counters.get(stats.CACHE_HITS, 0),
            "misses": counters.get(stats.CACHE_MISSES, 0),
            "lock_waits": counters.get(stats.LOCK_WAITS, 0),
            "wakeups_notified": counters.get(stats.WAKEUPS_NOTIFIED, 0),
            "wakeups_polled": counters.get(stats.WAKEUPS_POLLED, 0),
        },
        "jobs": {s: by_status.get(s, 0) for s in STATUSES},
        "queue_depth": int(await queue.zcard(default_queue_name)),
        "workers": await live_workers(redis),
        "cost": {
            "price_per_million_chars": price,
            "billed_characters": billed,
            "cached_characters": cached,
            "billed_usd": round(billed * price / 1e6, 6),
            "saved_usd": round(cached * price / 1e6, 6),
        },
    }
