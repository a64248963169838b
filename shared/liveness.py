"""Which workers are alive: each heartbeats into `keys.WORKERS` (a sorted set of last-seen times)."""
from __future__ import annotations

import time

from redis.asyncio import Redis

from shared import keys

HEARTBEAT_S = 1.0
DEAD_AFTER_S = 5.0  # a worker not seen for this long is taken for dead


async def live_workers(redis: Redis, now: float | None = None) -> int:
    now = time.time() if now is None else now
    return int(await redis.zcount(keys.WORKERS, now - DEAD_AFTER_S, "+inf"))
