"""Redis failing under a running stack (issue 15): killed, frozen, full, read-only.

Each test runs real API and worker processes on a real redis-server, with jobs in flight
and `curl` clients streaming every job's audio to a file. Whatever Redis does, no worker
exits, every job ends `done` (or `failed` with `store_full` when the store stays full), and
no client that curl reports as successful (exit 0) holds anything but the whole file:
its bytes are the finished job's audio and ffmpeg decodes it without an error. A client
whose stream was cut sees a curl error (18: transfer closed with data outstanding).
Each test prints its figures (outage length, jobs done, time to recover); run with `-s`.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis as sync_redis

from shared import keys
from tests.chunks import chunk_mp3s
from tests.conftest import CORPUS, RedisServer, free_port
from tests.stack import Stack, until
from tests.test_faults import wait_terminal
from tests.test_service_e2e import fresh, submit

pytestmark = pytest.mark.slow

SHORT = (CORPUS / "federalist-05.txt").read_text(encoding="utf-8")
FAKE = {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "300",
        "READOUT_WORKER_CONCURRENCY": "2"}
JOBS = 8
STORE_BOUND_S = 5.0  # the API answers a store failure within this (the promise)


@dataclass
class Client:
    """One `curl` streaming one job's audio into a file."""

    job_id: str
    path: Path
    proc: subprocess.Popen

    def exit_code(self) -> int:
        return self.proc.wait(timeout=600)


@pytest.fixture
def stack(redis_server: RedisServer, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(redis_url, free_port(), tmp_path / "logs", env={**FAKE, "READOUT_STORE_FAIL_AFTER": "15"})
    yield s
    s.stop()
    if redis_server.proc is not None and redis_server.proc.poll() is None:
        os.kill(redis_server.proc.pid, signal.SIGCONT)  # a failed test must not leave Redis frozen
        client = sync_redis.Redis.from_url(redis_server.url, socket_timeout=5)
        client.config_set("maxmemory", 0)
        client.replicaof("NO", "ONE")
        client.close()


def rclient(server: RedisServer) -> sync_redis.Redis:
    return sync_redis.Redis.from_url(server.url, socket_connect_timeout=1, socket_timeout=2)


def stream(base: str, job: dict, tmp: Path) -> Client:
    path = tmp / f"{job['id']}.mp3"
    proc = subprocess.Popen(["curl", "-sS", "--fail", "-o", str(path), "--max-time", "600", base + job["audio_url"]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Client(job["id"], path, proc)


async def start_jobs(http: aiohttp.ClientSession, s: Stack, tmp: Path, n: int = JOBS) -> tuple[list[str], list[Client]]:
    jobs = [await submit(http, s.url, fresh(SHORT)) for _ in range(n)]
    return [j["id"] for j in jobs], [stream(s.url, j, tmp) for j in jobs]


async def under_way(server: RedisServer, ids: list[str]) -> None:
    """Fault time: some job has audio, and some is not finished yet."""
    client = rclient(server)
    try:
        def ready() -> bool:
            statuses = [client.hget(keys.job(i), "status") for i in ids]
            return any(client.scard(keys.job_landed(i)) for i in ids) and any(st != b"done" for st in statuses)
        assert await until(ready, timeout=60)
    finally:
        client.close()


def decodes_cleanly(path: Path) -> bool:
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, check=False)
    return out.returncode == 0 and not out.stderr.strip()


async def check_clients(http: aiohttp.ClientSession, s: Stack, clients: list[Client], finals: dict[str, dict]) -> Counter:
    """No curl that exited 0 holds less than the job's whole audio; returns exit codes counted."""
    codes: Counter = Counter()
    for c in clients:
        code = await asyncio.to_thread(c.exit_code)
        codes[code] += 1
        if code != 0:
            continue
        assert finals[c.job_id]["status"] == "done", (c.job_id, finals[c.job_id])
        async with http.get(s.url + f"/v1/jobs/{c.job_id}/audio") as resp:
            assert resp.status == 200
            whole = await resp.read()
        got = c.path.read_bytes()
        # A stream of a running job is its chunks' MP3s one after another; once done, the finished file.
        pieces = await chunk_mp3s(s, c.job_id)
        streamed = b"".join(p for p in pieces if p is not None) if None not in pieces else None
        assert got in (whole, streamed), f"curl exited 0 with {len(got)} bytes: not the {len(whole)}-byte file " \
                                         f"nor its chunks ({len(streamed or b'')} bytes)"
        assert decodes_cleanly(c.path)
    return codes


def alive(s: Stack) -> bool:
    return all(p.poll() is None for p in [s.api, *s.workers])


async def status_during_outage(http: aiohttp.ClientSession, s: Stack, job_id: str) -> tuple[int, dict]:
    """A status request while the store is down: it must answer (503) within STORE_BOUND_S."""
    async with http.get(s.url + f"/v1/jobs/{job_id}", timeout=aiohttp.ClientTimeout(total=STORE_BOUND_S)) as resp:
        return resp.status, await resp.json()


async def run_outage(redis_server: RedisServer, s: Stack, http: aiohttp.ClientSession, tmp: Path, *,
                     how: str, outage_s: float) -> None:
    s.start(workers=2)
    ids, clients = await start_jobs(http, s, tmp)
    await under_way(redis_server, ids)
    began = time.monotonic()
    if how == "kill":
        redis_server.kill()
    else:
        os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        status, body = await status_during_outage(http, s, ids[-1])
        answered = time.monotonic() - began
        assert status == 503 and body["error"]["code"] == "store_unavailable", body
        # The outage lasts `outage_s`: well past the worker client's own retries (about 35 s).
        assert not await until(lambda: not alive(s), timeout=max(0.0, outage_s - (time.monotonic() - began)))
    finally:
        if how == "kill":
            redis_server.start()
        else:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
    outage = time.monotonic() - began
    back = time.monotonic()
    finals = {f["id"]: f for f in await wait_terminal(http, s.url, ids, timeout=300)}
    recovered = time.monotonic() - back
    assert [finals[i]["status"] for i in ids] == ["done"] * len(ids), (finals, s.read_logs())
    codes = await check_clients(http, s, clients, finals)
    assert alive(s), s.read_logs()
    after = await submit(http, s.url, fresh(SHORT))
    assert [f["status"] for f in await wait_terminal(http, s.url, [after["id"]], timeout=120)] == ["done"]
    print(f"\nredis {'SIGKILL' if how == 'kill' else 'SIGSTOP'}: outage {outage:.0f}s with {len(ids)} jobs in flight; "
          f"503 store_unavailable answered {answered:.1f}s into it; all {len(ids)} jobs done {recovered:.1f}s after "
          f"Redis came back; curl exit codes {dict(codes)}; 0 workers exited")


async def test_redis_sigkill_for_45s(redis_server: RedisServer, stack: Stack, http, tmp_path: Path) -> None:
    await run_outage(redis_server, stack, http, tmp_path, how="kill", outage_s=45)


async def test_redis_sigstop_for_60s(redis_server: RedisServer, stack: Stack, http, tmp_path: Path) -> None:
    await run_outage(redis_server, stack, http, tmp_path, how="stop", outage_s=60)


async def test_redis_sigstop_for_5_minutes(redis_server: RedisServer, stack: Stack, http, tmp_path: Path) -> None:
    await run_outage(redis_server, stack, http, tmp_path, how="stop", outage_s=300)


# --- Redis refusing writes: at maxmemory with noeviction, or read-only ---------------------------


def fill(server: RedisServer) -> None:
    """Every write that needs memory is refused from now on (OOM), reads and deletes still work."""
    client = rclient(server)
    client.config_set("maxmemory", 1)
    client.close()


def unfill(server: RedisServer) -> None:
    client = rclient(server)
    client.config_set("maxmemory", 0)
    client.close()


async def submit_while_full(http: aiohttp.ClientSession, s: Stack) -> aiohttp.ClientResponse:
    async with http.post(s.url + "/v1/jobs", json={"text": fresh(SHORT)},
                         timeout=aiohttp.ClientTimeout(total=STORE_BOUND_S)) as resp:
        await resp.read()
        return resp


def read_only(server: RedisServer) -> None:
    """A replica of a master that is not there: reads work, every write is refused (READONLY)."""
    client = rclient(server)
    client.replicaof("127.0.0.1", str(free_port()))
    client.close()


def writable(server: RedisServer) -> None:
    client = rclient(server)
    client.replicaof("NO", "ONE")
    client.close()


STORE_FAULTS = {  # name: (start, end, status and code a submission gets meanwhile)
    "full": (fill, unfill, 507, "store_full"),
    "read-only": (read_only, writable, 503, "store_unavailable"),
}


@pytest.mark.parametrize("fault", list(STORE_FAULTS))
async def test_redis_refusing_writes_for_a_while_then_every_job_completes(redis_server: RedisServer, stack: Stack,
                                                                          http, tmp_path: Path, fault: str) -> None:
    start, end, status, code = STORE_FAULTS[fault]
    stack.start(workers=2)
    ids, clients = await start_jobs(http, stack, tmp_path)
    await under_way(redis_server, ids)
    start(redis_server)
    began = time.monotonic()
    try:
        resp = await submit_while_full(http, stack)
        assert resp.status == status, resp.status
        assert (await resp.json())["error"]["code"] == code
        assert int(resp.headers["Retry-After"]) > 0
        # Refusing writes for a while, but less than READOUT_STORE_FAIL_AFTER (15 s): nothing may fail.
        assert not await until(lambda: not alive(stack), timeout=8)
    finally:
        end(redis_server)
    fault_for = time.monotonic() - began
    back = time.monotonic()
    finals = {f["id"]: f for f in await wait_terminal(http, stack.url, ids, timeout=300)}
    recovered = time.monotonic() - back
    assert [finals[i]["status"] for i in ids] == ["done"] * len(ids), (finals, stack.read_logs())
    codes = await check_clients(http, stack, clients, finals)
    assert alive(stack)
    print(f"\nredis {fault} for {fault_for:.0f}s with {len(ids)} jobs in flight: new submissions {status} {code}; "
          f"all jobs done {recovered:.1f}s after writes were accepted again; curl exit codes {dict(codes)}; "
          f"0 workers exited")


async def test_redis_that_stays_full_fails_jobs_with_store_full(redis_server: RedisServer, stack: Stack, http,
                                                                tmp_path: Path) -> None:
    stack.start(workers=2)
    ids, clients = await start_jobs(http, stack, tmp_path)
    await under_way(redis_server, ids)
    fill(redis_server)
    began = time.monotonic()
    try:
        finals = {f["id"]: f for f in await wait_terminal(http, stack.url, ids, timeout=180)}
        ended = time.monotonic() - began
        statuses = Counter(f["status"] for f in finals.values())
        assert set(statuses) <= {"done", "failed"} and sum(statuses.values()) == len(ids), finals
        assert statuses["failed"] > 0  # the store filled up before every job was done
        assert {finals[i]["error"]["code"] for i in ids if finals[i]["status"] == "failed"} == {"store_full"}
        codes = await check_clients(http, stack, clients, finals)
        assert alive(stack), stack.read_logs()
    finally:
        unfill(redis_server)
    after = await submit(http, stack.url, fresh(SHORT))
    assert [f["status"] for f in await wait_terminal(http, stack.url, [after["id"]], timeout=120)] == ["done"]
    print(f"\nredis stays full: {statuses['failed']} of {len(ids)} jobs failed store_full and {statuses['done']} were "
          f"done, all ended {ended:.1f}s after the store filled (READOUT_STORE_FAIL_AFTER=15); curl exit codes "
          f"{dict(codes)}; once memory was freed a new job was done; 0 workers exited")
