"""The per-chunk synthesis lock: one holder per cache key across every process.

    acquire  SET lock:<key> <random token> NX PX <ttl>
    extend   if GET == token then PEXPIRE <ttl>   (Lua, atomic)
    release  if GET == token then DEL             (Lua, atomic)

While held, a background task extends the lock every ttl/3, so a provider call that
outlasts the TTL keeps it. Failure cases:

- The holder process dies: nothing extends the lock, it expires after at most `ttl_ms`,
  and a waiter takes it.
- The holder is alive but cannot extend in time (event loop blocked for longer than
  2/3 of the TTL, Redis unreachable): the lock expires, a second caller may synthesize
  the same chunk. The cost is one duplicate provider call, never wrong audio (same key,
  same bytes); `lost` turns true and the holder's release leaves the new lock alone.
- The Redis holding the lock fails over to a replica that had not seen the SET: the same
  duplicate call. Single-instance locks only (no Redlock); PX timing is the server's,
  so client clocks do not matter.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from types import TracebackType
from typing import Self

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import keys

log = logging.getLogger(__name__)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class ChunkLock:
    """A held lock. Get one with `ChunkLock.try_acquire`; leave it with `release` or `async with`."""

    def __init__(self, redis: Redis, cache_key: str, token: str, ttl_ms: int) -> None:
        self.redis = redis
        self.name = keys.lock(cache_key)
        self.token = token
        self.ttl_ms = ttl_ms
        self.extensions = 0
        self.lost = False
        self._keepalive = asyncio.create_task(self._extend_forever(), name=f"keepalive {self.name}")

    @classmethod
    async def try_acquire(cls, redis: Redis, cache_key: str, ttl_ms: int) -> ChunkLock | None:
        """The lock if it was free, else None (never blocks)."""
        token = secrets.token_hex(16)
        if await redis.set(keys.lock(cache_key), token, nx=True, px=ttl_ms):
            return cls(redis, cache_key, token, ttl_ms)
        return None

    @staticmethod
    async def is_locked(redis: Redis, cache_key: str) -> bool:
        return bool(await redis.exists(keys.lock(cache_key)))

    async def extend(self) -> bool:
        """Reset the TTL to `ttl_ms` if we still hold the lock."""
        ok = bool(await self.redis.eval(_EXTEND, 1, self.name, self.token, str(self.ttl_ms)))
        if ok:
            self.extensions += 1
        else:
            self.lost = True
        return ok

    async def release(self) -> bool:
        """Stop extending and delete the lock if it is still ours; False if it was lost."""
        self._keepalive.cancel()
        await asyncio.wait({self._keepalive})  # an extend in flight lands before the delete
        released = bool(await self.redis.eval(_RELEASE, 1, self.name, self.token))
        if not released:
            self.lost = True
            log.warning("lock %s expired before release; another caller may have synthesized", self.name)
        return released

    async def _extend_forever(self) -> None:
        interval = self.ttl_ms / 3000
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.extend():
                    log.warning("lock %s lost while held", self.name)
                    return
            except RedisError as exc:  # keep trying: the TTL still has 2/3 left
                log.warning("extending lock %s failed: %s", self.name, exc)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.release()
