"""Fault survival against real processes and a real redis-server (issue 6).

Each test prints what it survived (jobs, provider calls, time to recover) so the figures
can be quoted; run with `-s` to see them.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis as sync_redis

from shared import keys
from tests.conftest import CORPUS, RedisServer, free_port
from tests.stack import Stack, get_json, until
from tests.test_service_e2e import fresh, submit, wait_done

pytestmark = pytest.mark.slow

SHORT = (CORPUS / "federalist-05.txt").read_text(encoding="utf-8")
FAKE = {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake"}
TERMINAL = ("done", "failed", "cancelled")


@pytest.fixture
def stacks(redis_url: str, tmp_path: Path) -> Iterator[list[Stack]]:
    """Stacks a test starts; all stopped at the end."""
    started: list[Stack] = []
    yield started
    for s in started:
        s.stop()


def new_stack(stacks: list[Stack], redis_url: str, logs: Path, **env: str) -> Stack:
    s = Stack(redis_url, free_port(), logs, env={**FAKE, **env})
    stacks.append(s)
    return s


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as session:
        yield session


@pytest.fixture
def rclient(redis_url: str) -> Iterator[sync_redis.Redis]:
    client = sync_redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
    yield client
    client.close()


async def get_status(http: aiohttp.ClientSession, base: str, job_id: str) -> dict:
    async with http.get(f"{base}/v1/jobs/{job_id}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def statuses(http: aiohttp.ClientSession, base: str, ids: list[str]) -> list[dict]:
    return list(await asyncio.gather(*(get_status(http, base, i) for i in ids)))


async def wait_terminal(http: aiohttp.ClientSession, base: str, ids: list[str], timeout: float) -> list[dict]:
    """Bounded poll of the status endpoint until every job is terminal; the last statuses."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            current = await statuses(http, base, ids)
            if all(s["status"] in TERMINAL for s in current):
                return current
        except (aiohttp.ClientError, AssertionError):
            current = []
        if time.monotonic() > deadline:
            return current
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


async def fake_stats(http: aiohttp.ClientSession, base: str) -> dict[str, int]:
    async with http.get(f"{base}/v1/stats") as resp:
        return (await resp.json())["providers"].get("fake", {"calls": 0, "errors": 0})


# --- Redis killed with SIGKILL and restarted --------------------------------------------


async def test_redis_sigkill_and_restart(redis_server: RedisServer, redis_url: str, stacks, tmp_path, http,
                                         rclient) -> None:
    s = new_stack(stacks, redis_url, tmp_path / "logs", READOUT_FAKE_LATENCY_MS="300",
                  READOUT_WORKER_CONCURRENCY="2").start(workers=2)
    ids = [(await submit(http, s.url, fresh(SHORT)))["id"] for _ in range(6)]
    # Crash once work is under way: some chunk has landed, and jobs are still queued or running.
    assert await until(lambda: any(rclient.scard(keys.job_landed(i)) for i in ids), timeout=30)
    before = [b.decode() for b in (rclient.hget(keys.job(i), "status") for i in ids)]
    assert any(st in ("queued", "running") for st in before), before
    redis_server.kill()
    killed = time.monotonic()
    # Stay down until the API has noticed (its readiness probe fails), then come back.
    assert await until(lambda: get_json(s.url + "/readyz")[0] == 503, timeout=30)
    down = time.monotonic() - killed
    redis_server.start()
    finals = await wait_terminal(http, s.url, ids, timeout=120)
    recovered = time.monotonic() - killed
    assert [f["status"] for f in finals] == ["done"] * len(ids), (finals, s.read_logs())
    calls = (await fake_stats(http, s.url))["calls"]
    # Both sides reconnected on their own: a job submitted after the restart completes too.
    after = await submit(http, s.url, fresh(SHORT))
    assert (await wait_done(http, s.url, after["id"]))["status"] == "done"
    assert all(p.poll() is None for p in [s.api, *s.workers])
    chunks = sum(f["chunks"]["total"] for f in finals)
    print(f"\nredis SIGKILL+restart: {len(ids)} jobs ({before.count('queued')} queued, "
          f"{before.count('running')} running at the crash, {chunks} chunks); redis down {down:.1f}s; "
          f"all done {recovered:.1f}s after the kill; {calls} provider calls for {chunks} chunks")
