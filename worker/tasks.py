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
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from arq import Retry
from arq.connections import ArqRedis
from botocore.exceptions import BotoCoreError, ClientError
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError, RedisError

from shared import jobs, keys, queue_order, stats
from shared.audio.render import RenderSettings
from shared.audio.rendered import RenderedChunk
from shared.config import Settings
from shared.engines import EngineError, get_engine
from shared.fetch import FetchError, fetch_article
from shared.lock import ChunkLock
from shared.store import Storage
from shared.store.cache import ChunkCache, cache_key, chunk_text
from shared.store.finished import Finished, content_id, copy_finished, delete_finished, write_finished
from shared.synthesis import ChunkResult, ChunkWaitTimeout, get_or_synthesize
from shared.text import Document, Sentence, clean_document, document_sentences, split_sentences
from shared.text.boundaries import headings
from shared.wakeup import AudioWaker

log = logging.getLogger("readout.worker")
T = TypeVar("T")
STORE_BACKOFF_MIN_S = 0.1
STORE_BACKOFF_MAX_S = 5.0
FINISHING = -1  # the step index `_guarded` is given for the finishing job


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


def split_for_engine(document: Document, settings: Settings, engine_max_chars: int) -> list[list[Sentence]]:
    """Chunks of the document's sentences; no unit over the engine's limit, no chunk over the configured size."""
    max_chars = min(settings.chunk_max_chars, engine_max_chars)
    target = min(settings.chunk_target_chars, max_chars)
    first = min(settings.first_chunk_chars, max_chars)
    return split_sentences(document_sentences(document), target_chars=target, max_chars=max_chars, first_chars=first)


async def article_job(ctx: dict[str, Any], job_id: str) -> str:
    return await _guarded(ctx, job_id, 0, _chunk_article)


async def chunk_job(ctx: dict[str, Any], job_id: str, index: int) -> str:
    return await _guarded(ctx, job_id, index, _synthesize_chunk)


async def finish_article(ctx: dict[str, Any], job_id: str) -> str:
    """Write the finished files and flip the job to done (enqueued by the last chunk to land).

    Guarded like a chunk step (store errors ridden out, storage trouble retried), with
    `finish_timeout_s`: encoding a long article takes longer than a chunk may. Anything else
    fails the job too: a job that cannot be finished must not stay running.
    """
    rt: Runtime = ctx["rt"]
    try:
        return await _guarded(ctx, job_id, FINISHING, _finish_step, timeout_s=rt.settings.finish_timeout_s)
    except Retry:
        raise
    except Exception as exc:
        log.exception("finishing failed", extra={"job_id": job_id})
        return await _fail(rt, job_id, f"writing the finished files failed: {exc!r}", "finish_failed")


async def _finish_step(ctx: dict[str, Any], job_id: str, _index: int) -> str:
    await _finish_article(ctx["rt"], job_id)
    return "finished"


async def _guarded(
    ctx: dict[str, Any], job_id: str, index: int, step: Callable[[dict[str, Any], str, int], Awaitable[str]],
    *, timeout_s: float | None = None,
) -> str:
    """Run one job step so that no failure leaves the job hanging.

    A step gets `chunk_timeout_s` (or `timeout_s`), enforced here (ARQ does not retry its own
    timeouts). Transient trouble (a provider that throttles, a waiter that gave up, the chunk
    storage going away, a timeout) is retried with backoff up to `chunk_max_tries`; then, or on
    a permanent provider error, the job fails with an error naming the engine and the chunk
    (`chunk_failed`, or `finish_failed` for the finishing step). A job store that fails (Redis
    away, full, read-only) is retried here, with capped backoff and without spending a try,
    for up to `store_fail_after_s`; then the job fails `store_full` or `store_unavailable`.
    """
    rt: Runtime = ctx["rt"]
    tries = ctx.get("job_try", 1)
    more = tries < rt.settings.chunk_max_tries
    what, failed = ("finishing", "finish_failed") if index == FINISHING else (f"chunk {index}", "chunk_failed")
    store_since: float | None = None
    delay = STORE_BACKOFF_MIN_S
    while True:
        try:
            async with asyncio.timeout(timeout_s or rt.settings.chunk_timeout_s):
                return await step(ctx, job_id, index)
        except EngineError as exc:
            if exc.retryable and more:
                raise _retry(job_id, index, tries, exc) from exc
            return await _fail(rt, job_id, f"engine {exc.engine} failed on {what}: {exc}", exc.code)
        except (ChunkWaitTimeout, TimeoutError, BotoCoreError, ClientError) as exc:
            if more:
                raise _retry(job_id, index, tries, exc) from exc
            return await _fail(rt, job_id, f"{what} did not complete after {tries} tries: {exc!r}", failed)
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            store_since = store_since or now
            if now - store_since >= rt.settings.store_fail_after_s:
                code = store_error_code(exc)
                return await _fail(rt, job_id, f"{what}: the job store failed for over "
                                   f"{rt.settings.store_fail_after_s:g} s ({type(exc).__name__})", code)
            log.warning("store error; step retried", extra={"job_id": job_id, "chunk": index,
                                                            "error": type(exc).__name__, "retry_in": delay})
            await asyncio.sleep(delay)
            delay = min(delay * 2, STORE_BACKOFF_MAX_S)


def store_error_code(exc: BaseException) -> str:
    """`store_full` for a Redis out of memory, `store_unavailable` for any other store failure."""
    return "store_full" if isinstance(exc, OutOfMemoryError) else "store_unavailable"


def _retry(job_id: str, index: int, tries: int, exc: BaseException) -> Retry:
    log.warning("chunk retry", extra={"job_id": job_id, "chunk": index, "try": tries, "error": repr(exc)})
    return Retry(defer=random.uniform(0, min(5.0, 0.25 * 2**tries)))


async def _fail(rt: Runtime, job_id: str, message: str, code: str) -> str:
    """Record the failure; a store that cannot take it yet gets the job back later (ARQ retry)."""
    try:
        await jobs.finish_job(rt.redis, job_id, "failed", error=message, error_code=code,
                              even_if_full=code == "store_full")
        await jobs.expire_job(rt.redis, job_id, rt.settings.job_ttl_s)
    except (RedisError, OSError) as exc:
        log.warning("could not record the failure; job retried later", extra={"job_id": job_id,
                                                                              "error": type(exc).__name__})
        raise Retry(defer=STORE_BACKOFF_MAX_S) from exc
    log.error("job failed", extra={"job_id": job_id, "error": message, "code": code})
    return "failed"


async def _chunk_article(ctx: dict[str, Any], job_id: str, _index: int) -> str:
    rt: Runtime = ctx["rt"]
    job = await jobs.get_job(rt.redis, job_id)
    if job is None or job.terminal:
        return "skipped"
    document = await jobs.article_document(rt.redis, job_id)
    if document is None and job.source_url:  # a URL job whose page is not read yet
        document = await fetch_step(ctx, job)
    if document is None:
        return "skipped"
    engine = get_engine(job.engine, rt.settings)
    params = jobs.job_params(engine, job)
    chunks = split_for_engine(document, rt.settings, engine.max_chars)
    if not chunks:
        return await _fail(rt, job_id, "text is empty after cleaning", "text_empty")
    render = RenderSettings.from_settings(rt.settings)
    chunk_keys = [cache_key(chunk_text(c), params, render) for c in chunks]
    entries = [jobs.sentences_json(c) for c in chunks]
    if not await jobs.start_job(rt.redis, job_id, chunk_keys, entries, headings(document)):
        return "skipped"
    log.info("article chunked", extra={"job_id": job_id, "chunks": len(chunks), "chars": len(document.text)})
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


async def fetch_step(ctx: dict[str, Any], job: jobs.Job) -> Document | None:
    """A URL job's first step: fetch and extract the page, clean it, keep it as the article.

    Returns the cleaned document, or None when the job failed (with the fetch's error code) or was
    cancelled meanwhile: a cancel aborts the fetch at once. A 5xx or network error is retried
    with backoff up to READOUT_FETCH_MAX_TRIES; other errors fail the job at once.
    """
    rt: Runtime = ctx["rt"]
    assert job.source_url is not None
    if not await jobs.begin_fetch(rt.redis, job.id):
        return None
    try:
        article = await _unless_over(rt.redis, job.id, fetch_article(job.source_url, rt.settings))
    except FetchError as exc:
        tries = ctx.get("job_try", 1)
        if exc.retryable and tries < rt.settings.fetch_max_tries:
            log.warning("fetch retry", extra={"job_id": job.id, "try": tries, "error": exc.message})
            raise Retry(defer=random.uniform(0.5, 1.0) * 2 ** (tries - 1)) from exc
        await _fail(rt, job.id, exc.message, exc.code)
        return None
    if article is None:
        return None
    document = await asyncio.to_thread(clean_document, article.text, article.format)
    text = document.text
    if not text:
        await _fail(rt, job.id, f"no speakable text is left after cleaning {article.final_url}", "text_empty")
        return None
    if len(text) > rt.settings.max_chars:
        await _fail(rt, job.id, f"the article at {article.final_url} has {len(text)} characters after cleaning; "
                                f"the limit is {rt.settings.max_chars} (READOUT_MAX_CHARS)", "text_too_long")
        return None
    if not await jobs.store_fetched(rt.redis, job.id, document=document, title=article.title, author=article.author,
                                    source_url=article.final_url):
        return None
    log.info("article fetched", extra={"job_id": job.id, "chars": len(text), "format": article.format})
    return document


async def _unless_over(redis: Redis, job_id: str, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None as soon as the job is over (cancelled), with `work` cancelled.

    If watching fails (Redis went away), that error is raised, so the step is retried.
    """
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_until_over(redis, job_id))
    try:
        done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, watch):
            t.cancel()
        await asyncio.gather(task, watch, return_exceptions=True)
    if task in done:
        return task.result()
    watch.result()
    return None


async def _until_over(redis: Redis, job_id: str) -> None:
    """Return once the job is terminal: woken by its events, re-checked at least every second."""
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(keys.events(job_id))
        while True:
            job = await jobs.get_job(redis, job_id)
            if job is None or job.terminal:
                return
            await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)


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
        if job.total >= 0 and job.done == job.total:  # a re-run after the last landing: finish if nobody has
            await _enqueue_finish(ctx, job_id)
        return "landed already"
    sentences = await jobs.chunk_sentences(rt.redis, job_id, index)
    if sentences is None:
        return "skipped"
    result = await _chunk_audio(rt, job, sentences)
    hit = result.source != "synthesized"
    if hit:
        await stats.incr(rt.redis, stats.CACHED_CHARS, sum(len(s.spoken) for s in sentences))
    landing = await jobs.land_chunk(rt.redis, job_id, index, hit=hit)
    if landing.done == landing.total:
        await _enqueue_finish(ctx, job_id)
    return result.source


async def _enqueue_finish(ctx: dict[str, Any], job_id: str) -> None:
    """One finish job per job: ARQ drops a second enqueue of the same id while the first is known."""
    pool: ArqRedis = ctx["redis"]
    await pool.enqueue_job("finish_article", job_id, _job_id=jobs.finish_job_id(job_id))


async def _chunk_audio(rt: Runtime, job: jobs.Job, sentences: list[Sentence]) -> ChunkResult:
    engine = get_engine(job.engine, rt.settings)
    return await get_or_synthesize(
        rt.cache_redis, engine, sentences, jobs.job_params(engine, job), settings=rt.settings, cache=rt.cache,
        stats_redis=rt.redis, waker=rt.waker,
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
        sentences: list[list[Sentence]] = []
        for index in range(job.total):
            chunk_sentences = await jobs.chunk_sentences(rt.redis, job_id, index)
            if chunk_sentences is None:  # not a store error to wait out: the job's data is gone
                raise LookupError(f"the sentences of chunk {index} are gone")
            sentences.append(chunk_sentences)
        chapters = await jobs.job_chapters(rt.redis, job_id)

        async def load(index: int) -> RenderedChunk:
            chunk = await rt.cache.get(manifest[index])
            if chunk is None:  # the cache lost it: made again
                chunk = (await _chunk_audio(rt, job, sentences[index])).chunk
            return chunk

        bitrate = jobs.job_params(get_engine(job.engine, rt.settings), job).bitrate_kbps
        content = content_id(manifest, sentences, chapters, job.title, job.author, bitrate)

        async def write() -> Finished:
            return await write_finished(rt.storage, job_id, load=load, sentences=sentences,
                                        chapter_titles=chapters, title=job.title, author=job.author,
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
