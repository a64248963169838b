"""ARQ job functions: the article job (chunk, fan out, speak chunk 0), the chunk job, and the
finishing job (the finished files, then `done`) that the last chunk to land enqueues.

Both are idempotent, because ARQ runs a job at least once: the manifest is written once,
a chunk that already landed is skipped, and audio comes through the cache and the
per-chunk lock, so a re-run never calls the provider for audio that exists.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from arq import Retry
from arq.connections import ArqRedis
from botocore.exceptions import BotoCoreError, ClientError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import jobs, keys, stats
from shared.audio.rendered import RenderedChunk
from shared.chunking import split_text
from shared.config import Settings
from shared.engines import EngineError, get_engine
from shared.lock import ChunkLock
from shared.store import Storage, adapter
from shared.store.cache import ChunkCache, cache_key
from shared.store.finished import Finished, content_id, copy_finished, delete_finished, write_finished
from shared.synthesis import ChunkResult, ChunkWaitTimeout, get_or_synthesize
from shared.wakeup import AudioWaker

log = logging.getLogger("readout.worker")


@dataclass
class Runtime:
    """What every job function needs, built once per worker process (see worker.main)."""

    settings: Settings
    redis: Redis  # queue and job records
    cache_redis: Redis  # chunk locks, audio-ready wake-ups
    storage: Storage  # chunk audio and finished files
    cache: ChunkCache
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


async def finish_article(ctx: dict[str, Any], job_id: str) -> str:
    """Write the finished files and flip the job to done (enqueued by the last chunk to land).

    A job of its own, with `finish_timeout_s`: encoding a long article takes longer than a
    chunk may. Storage trouble is retried like a chunk's; anything else fails the job (a
    job that cannot be finished must not stay running).
    """
    rt: Runtime = ctx["rt"]
    tries = ctx.get("job_try", 1)
    try:
        async with asyncio.timeout(rt.settings.finish_timeout_s):
            await _finish_article(rt, job_id)
            return "finished"
    except (ChunkWaitTimeout, TimeoutError, RedisError, OSError, BotoCoreError, ClientError, EngineError) as exc:
        if tries < rt.settings.chunk_max_tries and not (isinstance(exc, EngineError) and not exc.retryable):
            raise _retry(job_id, -1, tries, exc) from exc
        return await _fail(rt, job_id, f"writing the finished files failed after {tries} tries: {exc!r}", "finish_failed")
    except Exception as exc:
        log.exception("finishing failed", extra={"job_id": job_id})
        return await _fail(rt, job_id, f"writing the finished files failed: {exc!r}", "finish_failed")


async def _guarded(
    ctx: dict[str, Any], job_id: str, index: int, step: Callable[[dict[str, Any], str, int], Awaitable[str]]
) -> str:
    """Run one job step so that no failure leaves the job hanging.

    A step gets `chunk_timeout_s`, enforced here (ARQ does not retry its own timeouts).
    Transient trouble (a provider that throttles, a waiter that gave up, Redis or the storage
    going away, a timeout) is retried with backoff up to `chunk_max_tries`; then, or on a
    permanent provider error, the job fails with an error naming the engine and the chunk.
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
    except (ChunkWaitTimeout, TimeoutError, RedisError, OSError, BotoCoreError, ClientError) as exc:
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
    cached = [False, *await asyncio.gather(*(rt.cache.exists(key) for key in chunk_keys[1:]))]
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
    """One chunk job per index, enqueued in order so workers take them front to back."""
    pool: ArqRedis = ctx["redis"]
    for index in indexes:
        await pool.enqueue_job("chunk_job", job_id, index, _job_id=jobs.chunk_job_id(job_id, index))


async def _synthesize_chunk(ctx: dict[str, Any], job_id: str, index: int) -> str:
    rt: Runtime = ctx["rt"]
    job = await jobs.get_job(rt.redis, job_id)
    if job is None or job.terminal:
        return "skipped"
    if await rt.redis.sismember(keys.job_landed(job_id), index):
        if job.total >= 0 and job.done == job.total:  # a re-run after the last landing: finish if nobody has
            await _enqueue_finish(ctx, job_id)
        return "landed already"
    text = await jobs.chunk_text(rt.redis, job_id, index)
    if text is None:
        return "skipped"
    result = await _chunk_audio(rt, job, text)
    hit = result.source != "synthesized"
    if hit:
        await stats.incr(rt.redis, stats.CACHED_CHARS, len(text))
    landing = await jobs.land_chunk(rt.redis, job_id, index, hit=hit)
    if landing.done == landing.total:
        await _enqueue_finish(ctx, job_id)
    return result.source


async def _enqueue_finish(ctx: dict[str, Any], job_id: str) -> None:
    """One finish job per job: ARQ drops a second enqueue of the same id while the first is known."""
    pool: ArqRedis = ctx["redis"]
    await pool.enqueue_job("finish_article", job_id, _job_id=jobs.finish_job_id(job_id))


async def _chunk_audio(rt: Runtime, job: jobs.Job, text: str) -> ChunkResult:
    engine = get_engine(job.engine, rt.settings)
    params = engine.params(job.voice, job.variant or None)
    return await get_or_synthesize(
        rt.cache_redis, engine, text, params, settings=rt.settings, cache=rt.cache, stats_redis=rt.redis, waker=rt.waker
    )


async def _written_once(rt: Runtime, job_id: str, content: str, write: Callable[[], Awaitable[Finished]]) -> Finished:
    """The job's finished files, encoded only if no job with the same content has them.

    Fifty submissions of one article encode it once: the first takes the content's lock and
    writes; the others wait for it (polling, bounded) and copy its files.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + rt.settings.wait_timeout_s
    delay = 0.05
    while True:
        known = await rt.redis.get(keys.finished_content(content))
        if known is not None:
            info = json.loads(known)
            if info["job_id"] == job_id or await copy_finished(rt.storage, info["job_id"], job_id):
                return Finished(**info["finished"])
        lock = await ChunkLock.try_acquire(rt.redis, f"content:{content}", rt.settings.lock_ttl_ms)
        if lock is not None or loop.time() > deadline:
            try:
                finished = await write()
                await rt.redis.set(keys.finished_content(content), json.dumps(  # before the lock goes: no second encode
                    {"job_id": job_id, "finished": dataclasses.asdict(finished)}), ex=rt.settings.job_ttl_s)
            finally:
                if lock is not None:
                    await lock.release()
            return finished
        await asyncio.sleep(delay)  # another worker is writing these files: copy them when it is done
        delay = min(delay * 1.5, 0.5)


async def _finish_article(rt: Runtime, job_id: str) -> None:
    """Write the finished files once, then flip the job to done (exactly once, see module doc).

    The finish job runs this; so may a duplicate of it. The claim (a lock the holder keeps
    extending) lets one write; another waits until the job is done or the claim is free (a
    holder that died lets its claim expire; then the waiter finishes). A chunk that left the
    cache meanwhile is synthesised again.
    """
    delay = 0.05
    while (claim := await ChunkLock.try_acquire(rt.redis, keys.finish_claim(job_id), rt.settings.lock_ttl_ms)) is None:
        current = await jobs.get_job(rt.redis, job_id)
        if current is None or current.terminal:
            return  # the other holder finished it
        await asyncio.sleep(delay)  # held: by a live writer (it ends), or a dead one (its claim expires)
        delay = min(delay * 1.5, 1.0)
    async with claim:
        job = await jobs.get_job(rt.redis, job_id)
        if job is None or job.status != "running" or job.done != job.total:
            return
        manifest = await jobs.chunk_keys(rt.redis, job_id)
        outline = await adapter.article_outline(rt.redis, job_id, job.total)  # MERGE ADAPTER: the manifest's sentences

        async def load(index: int) -> RenderedChunk:
            chunk = await rt.cache.get(manifest[index])
            if chunk is None:
                text = await jobs.chunk_text(rt.redis, job_id, index)
                if text is None:
                    raise OSError(f"chunk {index} left the cache and its text is gone")
                chunk = (await _chunk_audio(rt, job, text)).chunk
            return await adapter.with_pcm(chunk)  # MERGE ADAPTER: chunks carry PCM

        engine = get_engine(job.engine, rt.settings)
        bitrate = engine.params(job.voice, job.variant or None).bitrate_kbps
        content = content_id(manifest, outline.sentences, outline.chapters, job.title, job.author, bitrate)

        async def write() -> Finished:
            return await write_finished(rt.storage, job_id, load=load, sentences=outline.sentences,
                                        chapter_titles=outline.chapters, title=job.title, author=job.author,
                                        bitrate_kbps=bitrate)

        finished = await _written_once(rt, job_id, content, write)
        if not await jobs.complete_job(rt.redis, job_id, title=finished.title, audio_bytes=finished.audio_bytes,
                                       audio_ms=finished.duration_ms):
            current = await jobs.get_job(rt.redis, job_id)
            if current is None or current.status != "done":  # cancelled or deleted while we wrote
                await delete_finished(rt.storage, job_id)
            return
        await jobs.expire_job(rt.redis, job_id, rt.settings.job_ttl_s)
        done = await jobs.get_job(rt.redis, job_id)
    if done is not None:
        log.info(
            f"chunk cache stats hits={done.hits} misses={done.misses}",
            extra={"job_id": job_id, "chunks": done.total, "status": done.status,
                   "audio_seconds": finished.duration_ms / 1000, "timing": finished.timing},
        )
