"""ARQ `WorkerSettings`: run with `python -m worker` (which supervises ARQ's loop, see
worker.resilience; `arq worker.main.WorkerSettings` works too, without that supervision)."""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, ClassVar

from arq import func
from arq.worker import Function
from redis.exceptions import RedisError

from shared import stats
from shared.config import load_settings
from shared.engines import close_engines, get_engine
from shared.logs import setup_logging
from shared.redis_conn import arq_redis_settings, connect, resolve_redis_url
from shared.store import open_storage
from shared.store.cache import ChunkCache
from shared.store.retention import sweep_forever
from shared.wakeup import AudioWaker
from worker import liveness
from worker.tasks import Runtime, article_job, chunk_job, finish_article

log = logging.getLogger("readout.worker")
SETTINGS = load_settings()
REDIS_URL = resolve_redis_url(SETTINGS)
# ARQ's own timeout and try limit are only backstops: worker.tasks enforces chunk_timeout_s and
# chunk_max_tries, and rides out store errors for store_fail_after_s; ARQ must never end a job
# on its own (a job it drops is a Readout job left `running`).
JOB_TIMEOUT_S = SETTINGS.chunk_timeout_s + SETTINGS.store_fail_after_s + 60
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
    ctx["heartbeat"] = asyncio.create_task(liveness.heartbeat_loop(redis, worker_id))
    ctx["sweeper"] = asyncio.create_task(sweep_forever(storage, redis, SETTINGS))
    await get_engine(SETTINGS.default_engine, SETTINGS).warm()  # model load before the first job


async def shutdown(ctx: dict[str, Any]) -> None:
    rt: Runtime = ctx["rt"]
    ctx["sweeper"].cancel()
    await asyncio.wait({ctx["sweeper"]})
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


class WorkerSettings:
    functions: ClassVar[list[Function]] = [
        func(article_job, name="article_job", timeout=JOB_TIMEOUT_S, max_tries=ARQ_MAX_TRIES, keep_result=60),
        func(chunk_job, name="chunk_job", timeout=JOB_TIMEOUT_S, max_tries=ARQ_MAX_TRIES, keep_result=60),
        func(finish_article, name="finish_article", timeout=SETTINGS.finish_timeout_s + SETTINGS.store_fail_after_s + 60,
             max_tries=ARQ_MAX_TRIES, keep_result=60),
    ]
    redis_settings = arq_redis_settings(REDIS_URL)
    on_startup = startup
    on_shutdown = shutdown
    on_job_start = job_started
    on_job_end = job_ended
    max_jobs = SETTINGS.worker_concurrency
    poll_delay = SETTINGS.poll_delay_s
    job_timeout = JOB_TIMEOUT_S
    health_check_interval = 5
