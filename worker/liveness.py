"""Worker heartbeats and the reaper that frees jobs held by dead workers.

ARQ marks a running job with an `arq:in-progress:<id>` key that only expires after the
longest job timeout plus 10 s; a worker killed with SIGKILL would leave its jobs stuck that
long. Every worker heartbeats into `readout:workers` and records the ARQ jobs it runs in
`readout:running`. Any live worker's reaper deletes the in-progress key of a job whose
worker stopped heartbeating, so ARQ hands the job (still in its queue) to another worker at
once. The chunk lock the dead worker held expires on its own TTL, after which the new
runner synthesizes. Failure cases: a worker whose loop stalls past `DEAD_AFTER_S` is taken
for dead and its job may run twice; chunk jobs are idempotent, so that only costs time.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import keys
from shared.liveness import DEAD_AFTER_S, HEARTBEAT_S

log = logging.getLogger("readout.worker")

FORGET_AFTER_S = 3600.0
ARQ_IN_PROGRESS = "arq:in-progress:"


async def mark_running(redis: Redis, arq_job_id: str, worker_id: str) -> None:
    await redis.hset(keys.RUNNING, arq_job_id, worker_id)


async def mark_finished(redis: Redis, arq_job_id: str, worker_id: str) -> None:
    # Only our own entry: a reaped-and-rerun job may belong to another worker by now.
    if (await redis.hget(keys.RUNNING, arq_job_id)) == worker_id.encode():
        await redis.hdel(keys.RUNNING, arq_job_id)


async def reap(redis: Redis, now: float | None = None) -> list[str]:
    """Release the ARQ jobs of workers not seen for DEAD_AFTER_S; return their ids."""
    now = time.time() if now is None else now
    running = await redis.hgetall(keys.RUNNING)
    reaped = []
    for arq_id_b, worker_b in running.items():
        seen = await redis.zscore(keys.WORKERS, worker_b)
        if seen is not None and seen >= now - DEAD_AFTER_S:
            continue
        arq_id = arq_id_b.decode()
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(ARQ_IN_PROGRESS + arq_id)
            pipe.hdel(keys.RUNNING, arq_id)
            await pipe.execute()
        reaped.append(arq_id)
        log.warning("reaped job of dead worker", extra={"arq_job": arq_id, "worker": worker_b.decode()})
    await redis.zremrangebyscore(keys.WORKERS, "-inf", now - FORGET_AFTER_S)
    return reaped


async def heartbeat_loop(redis: Redis, worker_id: str) -> None:
    """Heartbeat every second, reap every other beat; survives Redis restarts."""
    beat = 0
    while True:
        try:
            await redis.zadd(keys.WORKERS, {worker_id: time.time()})
            if beat % 2 == 0:
                await reap(redis)
        except (RedisError, OSError) as exc:
            log.warning("heartbeat failed", extra={"error": str(exc)})
        beat += 1
        await asyncio.sleep(HEARTBEAT_S)


async def stop(task: asyncio.Task[None], redis: Redis, worker_id: str) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with contextlib.suppress(RedisError, OSError):
        await redis.zrem(keys.WORKERS, worker_id)
