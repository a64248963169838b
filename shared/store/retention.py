"""Retention: chunk age (`READOUT_CACHE_TTL`), the cache's size cap (`READOUT_CACHE_MAX_BYTES`,
least recently used first) and finished files whose job record is gone (`READOUT_JOB_TTL`).

Workers run `sweep_forever`; a Redis `SET NX EX` claim lets one sweep run per interval
across the cluster. A chunk's mtime is its last read on a directory (reads touch it), its
upload on S3 (where a bucket lifecycle rule is the better tool for the age limit).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from shared import keys
from shared.config import Settings
from shared.store.finished import job_prefix
from shared.store.storage import ObjectInfo, Storage

log = logging.getLogger("readout.retention")


@dataclass(frozen=True)
class Swept:
    expired_chunks: int
    evicted_chunks: int
    cache_bytes: int  # what the cache holds after the sweep
    orphaned_jobs: int


async def sweep_chunks(storage: Storage, *, ttl_s: int, max_bytes: int, now: float | None = None) -> tuple[int, int, int]:
    """Delete chunks older than `ttl_s`, then the least recently used until under `max_bytes` (0 = no cap)."""
    now = time.time() if now is None else now
    kept: list[ObjectInfo] = []
    expired = 0
    async for info in storage.iter("chunks/"):
        if ttl_s > 0 and now - info.mtime > ttl_s:
            await storage.delete(info.key)
            expired += 1
        else:
            kept.append(info)
    total = sum(i.size for i in kept)
    evicted = 0
    if max_bytes > 0 and total > max_bytes:
        for info in sorted(kept, key=lambda i: i.mtime):
            if total <= max_bytes:
                break
            await storage.delete(info.key)
            total -= info.size
            evicted += 1
    return expired, evicted, total


async def sweep_jobs(storage: Storage, redis: Redis) -> int:
    """Delete `jobs/<id>/` folders whose job record is gone (expired or deleted)."""
    ids = sorted({info.key.split("/")[1] async for info in storage.iter("jobs/") if info.key.count("/") >= 2})
    removed = 0
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in batch:
                pipe.exists(keys.job(job_id))
            alive = await pipe.execute()
        for job_id, exists in zip(batch, alive, strict=True):
            if not exists:
                removed += await storage.delete_prefix(job_prefix(job_id)) > 0
    return removed


async def sweep(storage: Storage, redis: Redis, settings: Settings) -> Swept:
    expired, evicted, total = await sweep_chunks(storage, ttl_s=settings.cache_ttl_s, max_bytes=settings.cache_max_bytes)
    orphaned = await sweep_jobs(storage, redis)
    return Swept(expired, evicted, total, orphaned)


async def sweep_forever(storage: Storage, redis: Redis, settings: Settings) -> None:
    """Every `sweep_interval_s`, the one worker holding the claim sweeps; errors are logged, never fatal."""
    while True:
        try:
            if await redis.set(keys.SWEEP_CLAIM, "1", nx=True, ex=max(1, settings.sweep_interval_s)):
                swept = await sweep(storage, redis, settings)
                log.info("retention sweep", extra={"expired_chunks": swept.expired_chunks,
                                                   "evicted_chunks": swept.evicted_chunks,
                                                   "cache_bytes": swept.cache_bytes, "orphaned_jobs": swept.orphaned_jobs})
        except Exception as exc:  # Redis, disk, botocore errors: the next interval tries again
            log.warning("retention sweep failed", extra={"error": repr(exc)})
        await asyncio.sleep(max(1, settings.sweep_interval_s))
