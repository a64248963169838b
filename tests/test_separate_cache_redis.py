"""At scale chunk locks live on their own Redis (READOUT_CACHE_URL), audio in storage: everything still works."""
from __future__ import annotations

from pathlib import Path

import pytest
import redis as sync_redis

from shared import keys
from tests.chunks import chunk_mp3s
from tests.conftest import RedisServer, free_port
from tests.stack import Stack
from tests.test_service_e2e import ESSAY, fresh, submit, wait_done

pytestmark = pytest.mark.slow


async def test_locks_live_on_the_cache_redis_and_audio_in_storage(redis_url: str, tmp_path: Path, http) -> None:
    cache_server = RedisServer(port=free_port(), dir=tmp_path / "cache", appendonly=False)
    cache_server.dir.mkdir()
    cache_server.start()
    stack = Stack(redis_url, free_port(), tmp_path / "logs", env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "50",
        "READOUT_CACHE_URL": cache_server.url,
    })
    queue = sync_redis.Redis.from_url(redis_url)
    cache = sync_redis.Redis.from_url(cache_server.url)
    try:
        stack.start(workers=2)
        article = fresh(ESSAY)
        finals = []
        for _ in ("cold", "warm"):
            finals.append(await wait_done(http, stack.url, (await submit(http, stack.url, article))["id"]))
        cold = finals[0]
        assert [f["status"] for f in finals] == ["done", "done"]
        assert all(await chunk_mp3s(stack, cold["id"]))  # every chunk in the storage
        assert not queue.keys(keys.lock("*"))
        assert cache.get(keys.AUDIO_READY_CHANNEL) is None and not cache.keys("readout:audio:*")
        assert cache.pubsub_numpat() + len(cache.pubsub_channels()) >= 1  # wake-ups go through the cache Redis
        async with http.get(stack.url + cold["audio_url"]) as resp:
            assert resp.status == 200 and (await resp.read())[:3] == b"ID3"
        assert finals[0]["cache"]["misses"] == finals[1]["cache"]["hits"] == finals[1]["chunks"]["total"]
    finally:
        stack.stop()
        queue.close()
        cache.close()
        cache_server.kill()
