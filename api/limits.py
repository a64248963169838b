"""Per-key limits kept in Redis, so every API replica enforces the same budget.

- Characters per calendar month (UTC), READOUT_QUOTA_CHARS: a submission that would go
  over is refused whole (429 `quota_exceeded`), nothing is charged for it (nor its rate slot).
- Jobs per minute, READOUT_RATE_PER_MIN: a fixed one-minute window (429 `rate_limited`).
Both answer `Retry-After` with the seconds until the window resets. 0 turns a limit off.
"""
from __future__ import annotations

import calendar
import time

from aiohttp import web
from redis.asyncio import Redis

from api.errors import ApiError
from shared import keys
from shared.config import Settings

# KEYS: counter; ARGV: amount, limit, ttl. Adds only if the result stays within the limit.
_CHARGE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return -1 end
local now = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return now
"""


def _month_end(now: float) -> tuple[str, int]:
    t = time.gmtime(now)
    days = calendar.monthrange(t.tm_year, t.tm_mon)[1]
    end = calendar.timegm((t.tm_year, t.tm_mon, days, 23, 59, 59)) + 1
    return f"{t.tm_year:04d}-{t.tm_mon:02d}", int(end - now)


class Limits:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings

    async def charge(self, owner: str, chars: int, now: float | None = None) -> None:
        """Count one job of `chars` characters for `owner`, or raise 429."""
        now = time.time() if now is None else now
        s = self._settings
        rate_key = keys.rate(owner, int(now // 60))
        if s.rate_per_min > 0:
            retry = 60 - int(now % 60)
            if await self._redis.eval(_CHARGE, 1, rate_key, 1, s.rate_per_min, 120) < 0:
                raise ApiError(429, "rate_limited", f"more than {s.rate_per_min} jobs per minute for this key",
                               {"Retry-After": str(retry)})
        if s.quota_chars > 0:
            month, retry = _month_end(now)
            used = await self._redis.eval(_CHARGE, 1, keys.quota(owner, month), chars, s.quota_chars, 32 * 86400)
            if used < 0:
                if s.rate_per_min > 0:  # a refused submission is not a job: give its rate slot back
                    await self._redis.decr(rate_key)
                raise ApiError(429, "quota_exceeded",
                               f"this job would exceed the monthly quota of {s.quota_chars} characters",
                               {"Retry-After": str(retry)})


LIMITS = web.AppKey("limits", Limits)
