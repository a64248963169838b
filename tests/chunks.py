"""Test helper: a job's chunk MP3s, read from the stack's chunk cache (storage, not Redis)."""
from __future__ import annotations

import redis as sync_redis

from shared import keys
from shared.config import load_settings
from shared.store import open_storage
from shared.store.cache import ChunkCache
from tests.stack import Stack


async def chunk_mp3s(stack: Stack, job_id: str) -> list[bytes | None]:
    """Each chunk's MP3 in manifest order (None for one the cache does not hold)."""
    env = {k: v for k, v in stack._env().items() if k.startswith(("READOUT_", "AWS_"))}
    client = sync_redis.Redis.from_url(stack.redis_url)
    manifest = [k.decode() for k in client.lrange(keys.job_chunks(job_id), 0, -1)]
    client.close()
    storage = open_storage(load_settings(env))
    cache = ChunkCache(storage)
    try:
        return [await cache.mp3(k) for k in manifest]
    finally:
        await storage.close()
