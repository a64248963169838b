"""ARQ job functions: the article job (chunk, fan out, speak chunk 0) and the chunk job.

Both are idempotent, because ARQ runs a job at least once: the manifest is written once,
a chunk that already landed is skipped, and audio comes through the cache and the
per-chunk lock, so a re-run never calls the provider for audio that exists.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from arq import Retry
from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import jobs, keys, queue_order, stats
from shared.chunking import split_text
from shared.config import Settings
from shared.engines import EngineError, get_engine
from shared.store.cache import cache_key
from shared.synthesis import ChunkWaitTimeout, get_or_synthesize
from shared.wakeup import AudioWaker

log = logging.getLogger("readout.worker")


@dataclass
class Runtime:
    """What every job function needs, built once per worker process (see worker.main)."""

    settings: Settings
    redis: Redis  # queue and job records
    cache_redis: Redis  # chunk audio, locks
    waker: AudioWaker
    worker_id: str


def split_for_engine(text: str, settings: Settings, engine_max_chars: int) -> list[str]:
    """Chunks no provider can reject: the ceiling is min(configured, engine limit)."""
    max_chars = min(settings.chunk_max_chars, engine_max_chars)
    target = min(settings.chunk_target_chars, max_chars)
    first = min(settings.first_chunk_chars, max_chars)
    return split_text(text, target_chars=target, max_chars=max_chars, first_chars=first)


async def article_job(ctx: dict[str, Any], job_id: str) -> str:
    return await _guarded(ctx, job_id, 0, _chunk_article)


async def chunk_job(ctx: dict[str, Any], job_id: str, index: int) -> str:
    return await _guarded(ctx, job_id, index, _synthesize_chunk)


async def _guarded(
    ctx: dict[str, Any], job_id: str, index: int, step: Callable[[dict[str, Any], str, int], Awaitable[str]]
) -> str:
    """Run one job step so that no failure leaves the job hanging.

    A step gets `chunk_timeout_s`, enforced here (ARQ does not retry its own timeouts).
    Transient trouble (a provider that throttles, a waiter that gave up, Redis going away,
    a timeout) is retried with backoff up to `chunk_max_tries`; then, or on a permanent
    provider error, the job fails with an error naming the engine and the chunk.
    """
    rt: Runtime = ctx["rt"]
    tries = ctx.get("job_try", 1)
    more = tries < rt.settings.chunk_max_tries
    try:
        async with asyncio.timeout(rt.settings.chunk_timeout_s):
            return await step(ctx, job_id, index)
    except EngineError as exc:
        if exc.retryable and more:
            raise _retry(job_id, index, tries, exc) from exc
        return await _fail(rt, job_id, f"engine {exc.engine} failed on chunk {index}: {exc}", exc.code)
    except (ChunkWaitTimeout, TimeoutError, RedisError, OSError) as exc:
        if more:
            raise _retry(job_id, index, tries, exc) from exc
        return await _fail(rt, job_id, f"chunk {index} did not complete after {tries} tries: {exc!r}",
                           "chunk_failed")


def _retry(job_id: str, index: int, tries: int, exc: BaseException) -> Retry:
    log.warning("chunk retry", extra={"job_id": job_id, "chunk": index, "try": tries, "error": repr(exc)})
    return Retry(defer=random.uniform(0, min(5.0, 0.25 * 2**tries)))


async def _fail(rt: Runtime, job_id: str, message: str, code: str) -> str:
    await jobs.finish_job(rt.redis, job_id, "failed", error=message, error_code=code)
    await jobs.expire_job(rt.redis, job_id, rt.settings.job_ttl_s)
    log.error("job failed", extra={"job_id": job_id, "error": message})
    return "failed"


async def _chunk_article(ctx: dict[str, Any], job_id: str, _index: int) -> str:
    rt: Runtime = ctx["rt"]
    job = await jobs.get_job(rt.redis, job_id)
    if job is None or job.terminal:
        return "skipped"
    text = await jobs.article_text(rt.redis, job_id)
    if text is None:
        return "skipped"
    engine = get_engine(job.engine, rt.settings)
    params = engine.params(job.voice, job.variant or None)
    chunks = split_for_engine(text, rt.settings, engine.max_chars)
    if not chunks:
        return await _fail(rt, job_id, "text is empty after cleaning", "text_empty")
    chunk_keys = [cache_key(c, params) for c in chunks]
    if not await jobs.start_job(rt.redis, job_id, chunk_keys, chunks):
        return "skipped"
    log.info("article chunked", extra={"job_id": job_id, "chunks": len(chunks), "chars": len(text)})
    async with rt.cache_redis.pipeline(transaction=False) as pipe:
        for key in chunk_keys[1:]:
            pipe.exists(keys.audio(key))
        cached = [False, *map(bool, await pipe.execute())]
    pending = [i for i in range(1, len(chunks)) if not cached[i]]
    # Chunk 0 here, not through the queue: one hop less before the first audio byte. A
    # network engine speaks it while the rest fan out; a local one first, with the CPU to
    # itself. Chunks already cached land here too: a warm article costs one hop, not two.
    if engine.local:
        source = await _synthesize_chunk(ctx, job_id, 0)
        await _fan_out(ctx, job_id, pending)
    else:
        source, _ = await asyncio.gather(_synthesize_chunk(ctx, job_id, 0), _fan_out(ctx, job_id, pending))
    await asyncio.gather(*(_synthesize_chunk(ctx, job_id, i) for i in range(1, len(chunks)) if cached[i]))
    return source


async def _fan_out(ctx: dict[str, Any], job_id: str, indexes: list[int]) -> None:
    """Queue the job's uncached chunks, in order: with a window (READOUT_JOB_WINDOW) only its
    first chunks now and each next one as an earlier one finishes, else all of them at once."""
    rt: Runtime = ctx["rt"]
    pool: ArqRedis = ctx["redis"]
    if rt.settings.job_window <= 0:
        for index in indexes:
            await pool.enqueue_job("chunk_job", job_id, index, _job_id=jobs.chunk_job_id(job_id, index))
        return
    await queue_order.open_window(pool, job_id, indexes, rt.settings.job_ttl_s)
    await release_window(ctx, job_id)


async def release_window(ctx: dict[str, Any], job_id: str) -> None:
    """Enqueue what the job's window has room for; forget the window once it is all released
    or the job is over. Called after each chunk job has left the queue, and by the sweep."""
    rt: Runtime = ctx["rt"]
    pool: ArqRedis = ctx["redis"]
    job = await jobs.get_job(rt.redis, job_id)
    if job is None or job.terminal or await queue_order.release(pool, job_id, rt.settings.job_window):
        await queue_order.close_window(pool, job_id)


async def after_chunk_job(ctx: dict[str, Any]) -> None:
    """ARQ's after_job_end: the chunk job is out of the queue now, so its window has room."""
    kind, _, rest = ctx["job_id"].partition(":")
    if kind == "chunk" and ctx["rt"].settings.job_window > 0:
        await release_window(ctx, rest.partition(":")[0])


async def sweep_windows(ctx: dict[str, Any]) -> None:
    """Release for every job with unreleased chunks (once a second per worker): covers a worker
    that died after its chunk job finished but before it released the next one."""
    for job_id in await queue_order.open_jobs(ctx["redis"]):
        await release_window(ctx, job_id)


async def _synthesize_chunk(ctx: dict[str, Any], job_id: str, index: int) -> str:
    rt: Runtime = ctx["rt"]
    job = await jobs.get_job(rt.redis, job_id)
    if job is None or job.terminal:
        return "skipped"
    if await rt.redis.sismember(keys.job_landed(job_id), index):
        return "landed already"
    text = await jobs.chunk_text(rt.redis, job_id, index)
    if text is None:
        return "skipped"
    engine = get_engine(job.engine, rt.settings)
    params = engine.params(job.voice, job.variant or None)
    result = await get_or_synthesize(
        rt.cache_redis, engine, text, params, settings=rt.settings, stats_redis=rt.redis, waker=rt.waker
    )
    hit = result.source != "synthesized"
    if hit:
        await stats.incr(rt.redis, stats.CACHED_CHARS, len(text))
    landing = await jobs.land_chunk(rt.redis, job_id, index, hit=hit)
    if landing.new and landing.done == landing.total:
        await jobs.expire_job(rt.redis, job_id, rt.settings.job_ttl_s)
        finished = await jobs.get_job(rt.redis, job_id)
        if finished is not None:
            log.info(
                f"chunk cache stats hits={finished.hits} misses={finished.misses}",
                extra={"job_id": job_id, "chunks": landing.total, "status": finished.status},
            )
    return result.source
