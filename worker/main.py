"""ARQ `WorkerSettings`: run with `python -m worker` (which supervises ARQ's loop, see
worker.resilience; `arq worker.main.WorkerSettings` works too, without that supervision)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any, ClassVar

from arq import func
from arq.worker import Function
from redis.exceptions import RedisError

from shared import queue_order, stats
from shared.config import NETWORK_WORKER_CONCURRENCY, load_settings
from shared.engines import EngineUnavailable, close_engines, get_engine, local_slots, mark_unavailable
from shared.logs import setup_logging
from shared.redis_conn import arq_redis_settings, connect, resolve_redis_url
from shared.store import open_storage
from shared.store.cache import ChunkCache
from shared.store.retention import sweep_forever
from shared.wakeup import AudioWaker
from worker import liveness
from worker.tasks import Runtime, after_chunk_job, article_job, chunk_job, finish_article, sweep_windows

log = logging.getLogger("readout.worker")
SETTINGS = load_settings()
REDIS_URL = resolve_redis_url(SETTINGS)


def worker_concurrency() -> int:
    """READOUT_WORKER_CONCURRENCY, else what the default engine can really run at once: a local
    engine's slots (Piper: 1 per synthesis process), so no chunk waits inside a worker, where
    the queue's fair order cannot reach it; 4 for a network engine."""
    if SETTINGS.worker_concurrency > 0:
        return SETTINGS.worker_concurrency
    return local_slots(SETTINGS.default_engine, SETTINGS) or NETWORK_WORKER_CONCURRENCY


# ARQ must never end a job on its own: a job ARQ times out is marked failed in ARQ and never
# retried, so its Readout job would stay `running` for good. worker.tasks bounds every step
# itself (chunk_timeout_s, finish_timeout_s, store_fail_after_s, chunk_max_tries) and hands a
# job back to the queue (Retry) when it cannot even record a failure, which only a frozen
# Redis can delay, without limit. So ARQ's timeout is set out of reach (a week), and dead
# workers are found by heartbeats (worker.liveness), not by ARQ's in-progress key expiring.
JOB_TIMEOUT_S = 7 * 24 * 3600
ARQ_MAX_TRIES = 1000


async def startup(ctx: dict[str, Any]) -> None:
    if "rt" in ctx:  # ARQ's loop was restarted after a store error: everything is still here
        return
    setup_logging(SETTINGS.log_level)
    redis = connect(REDIS_URL)
    cache_redis = connect(SETTINGS.cache_url) if SETTINGS.cache_url else redis
    waker = AudioWaker(cache_redis)
    await waker.start()
    worker_id = uuid.uuid4().hex
    storage = open_storage(SETTINGS)
    ctx["rt"] = Runtime(settings=SETTINGS, redis=redis, cache_redis=cache_redis, storage=storage,
                        cache=ChunkCache(storage), waker=waker, worker_id=worker_id)
    await warm_default_engine()  # before the first heartbeat: /readyz counts workers that can speak at once
    ctx["heartbeat"] = asyncio.create_task(liveness.heartbeat_loop(redis, worker_id))
    ctx["background"] = [
        asyncio.create_task(sweep_forever(storage, redis, SETTINGS)),
        asyncio.create_task(window_sweep_loop(ctx)),
    ]


async def warm_default_engine() -> None:
    """Load the default engine's model before the first job. If it cannot run here the worker
    says so and keeps serving the other engines; its jobs fail with the reason."""
    name = SETTINGS.default_engine
    try:
        await get_engine(name, SETTINGS).warm()
    except EngineUnavailable as exc:
        log.warning("default engine unavailable", extra={"engine": name, "reason": exc.reason})
    except Exception as exc:  # a model that fails to load takes its engine, not the worker, down
        mark_unavailable(name, f"failed to load: {exc}")
        log.warning("default engine unavailable", extra={"engine": name, "reason": str(exc)})


async def window_sweep_loop(ctx: dict[str, Any]) -> None:
    """The fair-queue windows' safety net (worker.tasks.sweep_windows); survives Redis trouble."""
    while True:
        await asyncio.sleep(queue_order.SWEEP_S)
        try:
            await sweep_windows(ctx)
        except (RedisError, OSError) as exc:
            log.warning("window sweep failed", extra={"error": str(exc)})


async def shutdown(ctx: dict[str, Any]) -> None:
    rt: Runtime = ctx["rt"]
    for task in ctx["background"]:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await liveness.stop(ctx["heartbeat"], rt.redis, rt.worker_id)
    await stats.flush()
    await rt.waker.close()
    await close_engines()
    await rt.storage.close()
    if rt.cache_redis is not rt.redis:
        await rt.cache_redis.aclose()
    await rt.redis.aclose()


async def job_started(ctx: dict[str, Any]) -> None:
    rt: Runtime = ctx["rt"]
    try:
        await liveness.mark_running(rt.redis, ctx["job_id"], rt.worker_id)
    except (RedisError, OSError) as exc:  # bookkeeping only: the job itself still runs
        log.warning("could not mark job running", extra={"arq_job": ctx["job_id"], "error": type(exc).__name__})


async def job_ended(ctx: dict[str, Any]) -> None:
    rt: Runtime = ctx["rt"]
    try:
        await liveness.mark_finished(rt.redis, ctx["job_id"], rt.worker_id)
    except (RedisError, OSError) as exc:
        log.warning("could not mark job finished", extra={"arq_job": ctx["job_id"], "error": type(exc).__name__})


async def after_job_ended(ctx: dict[str, Any]) -> None:
    """The job has left ARQ's queue: release the next chunk of its job's window."""
    try:
        await after_chunk_job(ctx)
    except (RedisError, OSError) as exc:  # the sweep releases it instead
        log.warning("window release failed", extra={"error": str(exc)})


class WorkerSettings:
    functions: ClassVar[list[Function]] = [
        func(article_job, name="article_job", timeout=JOB_TIMEOUT_S, max_tries=ARQ_MAX_TRIES, keep_result=60),
        func(chunk_job, name="chunk_job", timeout=JOB_TIMEOUT_S, max_tries=ARQ_MAX_TRIES, keep_result=60),
        func(finish_article, name="finish_article", timeout=JOB_TIMEOUT_S, max_tries=ARQ_MAX_TRIES, keep_result=60),
    ]
    redis_settings = arq_redis_settings(REDIS_URL)
    on_startup = startup
    on_shutdown = shutdown
    on_job_start = job_started
    on_job_end = job_ended
    after_job_end = after_job_ended
    max_jobs = worker_concurrency()
    poll_delay = SETTINGS.poll_delay_s
    job_timeout = JOB_TIMEOUT_S
    health_check_interval = 5
