"""Retention on both backends: chunk age, the LRU size cap, finished files whose job is gone."""
from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.config import load_settings
from shared.store import Storage, open_storage
from shared.store.cache import ChunkCache, object_key
from shared.store.files import DirectoryStorage
from shared.store.retention import sweep_chunks, sweep_jobs


@pytest.fixture
async def store(storage_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Storage]:
    storage = open_storage(load_settings({**storage_env, "READOUT_DATA_DIR": str(tmp_path)}))
    yield storage
    await storage.close()


async def chunk_names(store: Storage) -> set[str]:
    return {i.key.removeprefix("chunks/") async for i in store.iter("chunks/")}


async def test_old_chunks_expire(store: Storage) -> None:
    for name in ("a", "b"):
        await store.put(object_key(name), b"x" * 1000)
    await store.put("jobs/" + "c" * 32 + "/audio.mp3", b"finished")  # not a chunk: never aged out here
    assert await sweep_chunks(store, ttl_s=3600, max_bytes=0) == (0, 0, 2000)
    expired, evicted, left = await sweep_chunks(store, ttl_s=3600, max_bytes=0, now=time.time() + 3700)
    assert (expired, evicted, left) == (2, 0, 0) and await chunk_names(store) == set()
    assert await store.exists("jobs/" + "c" * 32 + "/audio.mp3")


async def test_size_cap_evicts_least_recently_used_first(store: Storage) -> None:
    for name in ("old", "mid", "new"):
        await store.put(object_key(name), b"x" * 1000)
    if isinstance(store, DirectoryStorage):  # a directory records reads: the oldest read goes first
        now = time.time()
        for age, name in ((300, "old"), (200, "mid"), (100, "new")):
            os.utime(store.local_path(object_key(name)), (now - age, now - age))
        assert await store.get(object_key("old"), touch=True) is not None  # read just now: recently used
        await sweep_chunks(store, ttl_s=0, max_bytes=2000)
        assert await chunk_names(store) == {"old", "new"}
    else:  # S3 records no reads: the cap still holds
        await sweep_chunks(store, ttl_s=0, max_bytes=2000)
        assert len(await chunk_names(store)) == 2
    assert sum([i.size async for i in store.iter("chunks/")]) <= 2000


async def test_cache_reads_touch_the_chunk(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path)
    path = storage.local_path(object_key("k"))
    await storage.put(object_key("k"), b"\x00" * 64)
    os.utime(path, (1000, 1000))
    assert await ChunkCache(storage).get("k") is None  # damaged blob, still a read
    assert path.stat().st_mtime > 1000


async def test_finished_files_go_with_their_job(store: Storage, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    alive, gone = "1" * 32, "2" * 32
    await redis.hset(keys.job(alive), mapping={"status": "done"})
    for job_id in (alive, gone):
        for name in ("audio.mp3", "captions.vtt"):
            await store.put(f"jobs/{job_id}/{name}", b"data")
    assert await sweep_jobs(store, redis) == 1
    left = {i.key async for i in store.iter("jobs/")}
    assert left == {f"jobs/{alive}/audio.mp3", f"jobs/{alive}/captions.vtt"}
    await redis.aclose()
