"""Test helper: a job's chunks (MP3s, or whole), read from the stack's chunk cache (storage, not Redis)."""
from __future__ import annotations

import redis as sync_redis

from shared import keys
from shared.audio.rendered import RenderedChunk
from shared.config import load_settings
from shared.store import open_storage
from shared.store.cache import ChunkCache
from tests.stack import Stack


async def chunk_mp3s(stack: Stack, job_id: str) -> list[bytes | None]:
    """Each chunk's MP3 in manifest order (None for one the cache does not hold)."""
    return [c.mp3 if c is not None else None for c in await chunk_rendered(stack, job_id)]


async def chunk_rendered(stack: Stack, job_id: str) -> list[RenderedChunk | None]:
    """Each chunk as the cache holds it (MP3, PCM, timings), in manifest order."""
    env = {k: v for k, v in stack._env().items() if k.startswith(("READOUT_", "AWS_"))}
    client = sync_redis.Redis.from_url(stack.redis_url)
    manifest = [k.decode() for k in client.lrange(keys.job_chunks(job_id), 0, -1)]
    client.close()
    storage = open_storage(load_settings(env))
    cache = ChunkCache(storage)
    try:
        return [await cache.get(k) for k in manifest]
    finally:
        await storage.close()
