"""Fair scheduling: the window rule, the queue order it produces in a real Redis, and a real
worker interleaving a short job into a long one while never queueing more than the window."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from arq.connections import create_pool
from redis.asyncio import Redis

from shared import jobs, keys, queue_order
from shared.redis_conn import arq_redis_settings
from tests.conftest import free_port
from tests.stack import Stack, get_json

WINDOW = 3
SENTENCE = "This sentence is one chunk of the long article and it says nothing else at all. "


async def test_first_chunk_goes_ahead_of_waiting_chunks(redis_url: str) -> None:
    pool = await create_pool(arq_redis_settings(redis_url))
    try:
        for index in range(1, 6):
            await pool.enqueue_job("chunk_job", "a" * 32, index, _job_id=jobs.chunk_job_id("a" * 32, index))
        await queue_order.enqueue_article(pool, "b" * 32)
        await pool.enqueue_job("chunk_job", "a" * 32, 6, _job_id=jobs.chunk_job_id("a" * 32, 6))
        order = [m.decode() for m in await pool.zrange("arq:queue", 0, -1)]
    finally:
        await pool.aclose()
    assert order[0] == jobs.article_job_id("b" * 32)
    assert order[1:] == [jobs.chunk_job_id("a" * 32, i) for i in range(1, 7)]


def queued_chunks(members: list[bytes], job_id: str) -> list[int]:
    prefix = f"chunk:{job_id}:".encode()
    return sorted(int(m[len(prefix):]) for m in members if m.startswith(prefix))


async def finish(pool, job_id: str, index: int) -> None:
    """What ARQ does when a job ends: out of the queue, its job key gone, a result kept."""
    arq_id = jobs.chunk_job_id(job_id, index)
    await pool.zrem("arq:queue", arq_id)
    await pool.delete(f"arq:job:{arq_id}")
    await pool.set(f"arq:result:{arq_id}", b"done", px=60_000)


async def test_window_refills_as_chunks_leave_the_queue(redis_url: str) -> None:
    job = "d" * 32
    pool = await create_pool(arq_redis_settings(redis_url))
    try:
        await queue_order.open_window(pool, job, list(range(1, 11)), 60)
        await queue_order.open_window(pool, job, [7], 60)  # a re-run article job keeps the first list
        assert not await queue_order.release(pool, job, WINDOW)
        assert queued_chunks(await pool.zrange("arq:queue", 0, -1), job) == [1, 2, 3]
        assert not await queue_order.release(pool, job, WINDOW)  # nothing finished: nothing more
        assert queued_chunks(await pool.zrange("arq:queue", 0, -1), job) == [1, 2, 3]
        await finish(pool, job, 2)  # out of order
        await finish(pool, job, 1)
        # two workers releasing at once never overfill the window
        await asyncio.gather(*(queue_order.release(pool, job, WINDOW) for _ in range(4)))
        assert queued_chunks(await pool.zrange("arq:queue", 0, -1), job) == [3, 4, 5]
        job_ids = await pool.queued_jobs()
        assert sorted(j.args[1] for j in job_ids) == [3, 4, 5]  # real ARQ jobs, readable by ARQ
        assert all(j.function == "chunk_job" and j.args[0] == job for j in job_ids)
        for index in range(3, 11):
            if index in queued_chunks(await pool.zrange("arq:queue", 0, -1), job):
                await finish(pool, job, index)
            await queue_order.release(pool, job, WINDOW)
        assert await queue_order.release(pool, job, WINDOW)  # all released
        assert job in await queue_order.open_jobs(pool)
        await queue_order.close_window(pool, job)
        assert job not in await queue_order.open_jobs(pool)
    finally:
        await pool.aclose()


@pytest.fixture(scope="module")
def stack(redis_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "40",
        "READOUT_WORKER_CONCURRENCY": "1", "READOUT_JOB_WINDOW": str(WINDOW),
        "READOUT_CHUNK_TARGET": "60", "READOUT_CHUNK_MAX": "200", "READOUT_FIRST_CHUNK_CHARS": "0",
    })
    s.start(workers=1)
    yield s
    s.stop()


def submit(base: str, text: str) -> str:
    req = urllib.request.Request(base + "/v1/jobs", data=json.dumps({"text": text}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["id"]


async def test_a_short_job_interleaves_and_the_window_holds(stack: Stack, redis_server) -> None:
    redis = Redis.from_url(redis_server.url)
    try:
        long_id = submit(stack.url, SENTENCE * 40)
        most_waiting, short_id, short_done_before = 0, None, None
        deadline = time.monotonic() + 60
        while (status := get_json(f"{stack.url}/v1/jobs/{long_id}")[1])["status"] != "done":
            assert time.monotonic() < deadline, status
            queued = await redis.zrange("arq:queue", 0, -1)
            most_waiting = max(most_waiting, len(queued_chunks(queued, long_id)))
            if short_id is None and status["chunks"]["done"] >= 5:
                short_id = submit(stack.url, "A short request.")
            if short_id is not None and short_done_before is None:
                if get_json(f"{stack.url}/v1/jobs/{short_id}")[1]["status"] == "done":
                    short_done_before = status["chunks"]["done"]
            await asyncio.sleep(0.005)
        # Done means the finish job ran (it is no chunk of the window); the window, all released, is closed.
        assert status["audio"] is not None and status["audio"]["bytes"] > 0
        while await redis.exists(keys.job_window(long_id), keys.job_window_state(long_id)) or \
                await redis.sismember(keys.WINDOWS, long_id):
            assert time.monotonic() < deadline, "the finished job's window stayed open"
            await asyncio.sleep(0.05)
    finally:
        await redis.aclose()
    assert status["chunks"]["total"] >= 30
    assert 1 <= most_waiting <= WINDOW
    assert short_id is not None and short_done_before is not None, "the short job waited for the whole long one"
    assert short_done_before <= 5 + WINDOW + 1  # it went ahead of the long job's remaining chunks
