"""End to end with a slow provider: streaming from chunk 0, cancel, a worker killed mid-job."""
from __future__ import annotations

import json
import re
import time

import aiohttp
import pytest
import redis as sync_redis

from shared import keys
from tests.chunks import chunk_mp3s
from tests.conftest import free_port
from tests.fake_speech import planned_chunks
from tests.stack import Stack, until
from tests.test_service_e2e import ESSAY, fresh, provider_calls, submit, wait_done

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_stack(redis_url: str, tmp_path):
    s = Stack(redis_url, free_port(), tmp_path / "logs", env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "400",
        "READOUT_WORKER_CONCURRENCY": "1", "READOUT_LOCK_TTL_MS": "3000",
    })
    yield s
    s.stop()


def landed_count(url: str, job_id: str) -> int:
    client = sync_redis.Redis.from_url(url)
    try:
        return client.scard(keys.job_landed(job_id))
    finally:
        client.close()


async def test_stream_starts_with_chunk_zero_while_later_chunks_are_pending(slow_stack: Stack, http, redis_url) -> None:
    slow_stack.start(workers=1)
    job = await submit(http, slow_stack.url, fresh(ESSAY))
    client = sync_redis.Redis.from_url(redis_url)
    async with http.get(slow_stack.url + job["audio_url"]) as resp:
        assert resp.status == 200
        assert "Content-Length" not in resp.headers  # chunked: the file is still being made
        received = b""
        chunk0 = None
        while chunk0 is None or len(received) < len(chunk0):
            piece = await resp.content.readany()
            assert piece, "stream ended before chunk 0 was complete"
            received += piece
            if chunk0 is None:
                chunk0 = (await chunk_mp3s(slow_stack, job["id"]))[0]
        # chunk 0 is here in full; with one sequential worker the later chunks cannot all be
        total = int(client.hget(keys.job(job["id"]), "total"))
        assert received[: len(chunk0)] == chunk0
        assert landed_count(redis_url, job["id"]) < total
        rest = await resp.read()
    whole = received + rest
    assert whole == b"".join(await chunk_mp3s(slow_stack, job["id"]))  # the stream is the chunks as made
    client.close()


async def test_cancel_skips_chunks_not_yet_started(slow_stack: Stack, http) -> None:
    slow_stack.start(workers=1)
    before = await provider_calls(http, slow_stack.url)
    article = fresh(ESSAY * 2)
    units = [len(chunk) for chunk in planned_chunks(article)]  # provider calls per chunk
    job = await submit(http, slow_stack.url, article)
    async with http.get(slow_stack.url + job["events_url"]) as resp:  # until chunk 0 has landed
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("data:") and json.loads(line[5:])["chunks"]["done"] >= 1:
                break
    async with http.delete(slow_stack.url + job["status_url"]) as resp:
        assert resp.status == 200
        cancelled = await resp.json()
        assert cancelled["status"] == "cancelled"
    # Let the worker drain what it had: a marker job submitted after the cancel must finish.
    marker = await submit(http, slow_stack.url, fresh("One more sentence."))
    assert (await wait_done(http, slow_stack.url, marker["id"]))["status"] == "done"
    async with http.get(slow_stack.url + job["status_url"]) as resp:
        after = await resp.json()
    assert after["status"] == "cancelled"
    total = after["chunks"]["total"]
    assert total == len(units)
    spent = await provider_calls(http, slow_stack.url) - before - 1  # the marker is one unit
    # At most the chunk in flight when the cancel arrived is spoken after it.
    done = cancelled["chunks"]["done"]
    assert done + 1 < total
    assert spent <= sum(units[: done + 1]) < sum(units), (spent, cancelled["chunks"], units)
    async with http.get(slow_stack.url + job["audio_url"]) as resp:
        assert resp.status == 409
        assert (await resp.json())["error"]["code"] == "job_cancelled"


async def test_worker_killed_mid_job_is_finished_by_another(slow_stack: Stack, http, redis_url) -> None:
    slow_stack.start(workers=2)
    before = await provider_calls(http, slow_stack.url)
    article = fresh(ESSAY)
    units = [len(chunk) for chunk in planned_chunks(article)]
    job = await submit(http, slow_stack.url, article)
    client = sync_redis.Redis.from_url(redis_url)
    # Wait (bounded) until both workers hold a job, then kill the first.
    assert await until(lambda: client.hlen(keys.RUNNING) >= 2, timeout=30)
    victim = slow_stack.workers[0]
    victim.kill()
    victim.wait()
    killed_at = time.monotonic()
    final = await wait_done(http, slow_stack.url, job["id"], timeout=120)
    recovered = time.monotonic() - killed_at
    client.close()
    assert final["status"] == "done", final
    total = final["chunks"]["total"]
    calls = await provider_calls(http, slow_stack.url) - before
    # every unit once, plus at most the units of the chunk the killed worker had in flight
    assert sum(units) <= calls <= sum(units) + max(units), f"{calls} provider calls for {units} units"
    print(f"\nworker SIGKILL mid-job: job of {total} chunks done {recovered:.1f}s after the kill, {calls} provider calls")


async def test_chunk_that_never_finishes_fails_the_job_instead_of_hanging(redis_url: str, tmp_path, http) -> None:
    stack = Stack(redis_url, free_port(), tmp_path / "logs", env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "5000",
        "READOUT_CHUNK_TIMEOUT": "1", "READOUT_CHUNK_MAX_TRIES": "2",
    })
    try:
        stack.start(workers=1)
        job = await submit(http, stack.url, fresh("A sentence that takes too long to say."))
        final = await wait_done(http, stack.url, job["id"])
        assert final["status"] == "failed"
        assert final["error"]["code"] == "chunk_failed"
        named = re.search(r"\bchunk (\d+)\b", final["error"]["message"])
        assert named and int(named.group(1)) < final["chunks"]["total"]  # the failing chunk is named
    finally:
        stack.stop()


async def test_stream_of_a_job_that_ends_mid_way_is_cut_not_finished(slow_stack: Stack, http, redis_url) -> None:
    slow_stack.start(workers=1)
    job = await submit(http, slow_stack.url, fresh(ESSAY))
    client = sync_redis.Redis.from_url(redis_url)
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):  # a broken transfer, never a short "complete" file
        async with http.get(slow_stack.url + job["audio_url"]) as resp:
            assert resp.status == 200
            received += await resp.content.readany()  # chunk 0 (or its first part) has arrived
            async with http.delete(slow_stack.url + job["status_url"]) as cancel:
                assert (await cancel.json())["status"] == "cancelled"
            while piece := await resp.content.readany():
                received += piece
    total = int(client.hget(keys.job(job["id"]), "total"))
    client.close()
    assert received and total > 1
