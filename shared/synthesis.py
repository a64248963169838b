"""`get_or_synthesize`: one rendering per distinct chunk, however many callers ask at once.

A chunk is a list of sentences; rendering it (`shared.audio.render.render_chunk`) makes one
provider call per sentence and gives a `RenderedChunk` (MP3, PCM, timings), which is what
the cache keeps and what every caller gets.

    cache hit                        -> return it
    miss, lock free                  -> take it, re-check the cache, render, write the cache,
                                        release (in `finally`), publish the key
    miss, lock held                  -> wait: pub/sub wake-up (`AudioWaker`) or backoff poll
    lock gone without audio (holder  -> take the lock and synthesize (a retry, not a hang)
    died and its TTL ran out, or
    holder failed and released)
    waited `wait_timeout_s`          -> `ChunkWaitTimeout`

The lock lives on the cache Redis (`redis`), the audio in `cache` (the storage); the counters
go to `stats_redis` (the queue's Redis; the same client when there is one Redis).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import keys, stats
from shared.audio.render import RenderSettings, Usage, render_chunk
from shared.audio.rendered import RenderedChunk
from shared.config import Settings
from shared.engines.base import AudioParams, Engine
from shared.lock import ChunkLock
from shared.store.cache import ChunkCache, cache_key, chunk_text
from shared.text.document import Sentence
from shared.wakeup import AudioWaker

log = logging.getLogger(__name__)

Source = Literal["hit", "synthesized", "waited"]


@dataclass(frozen=True)
class ChunkResult:
    key: str
    chunk: RenderedChunk
    source: Source

    @property
    def audio(self) -> bytes:
        """The chunk's MP3."""
        return self.chunk.mp3


@dataclass(frozen=True)
class Backoff:
    """Cache polling while waiting: `initial_s`, times `factor` each poll, at most `cap_s`."""

    initial_s: float = 0.05
    factor: float = 1.25
    cap_s: float = 0.5


DEFAULT_BACKOFF = Backoff()


class ChunkWaitTimeout(TimeoutError):
    """Another caller held the chunk's lock for longer than this caller was willing to wait."""

    def __init__(self, key: str, waited_s: float) -> None:
        super().__init__(f"chunk {key}: gave up after waiting {waited_s:.1f}s for another worker's synthesis")
        self.key = key
        self.waited_s = waited_s


async def get_or_synthesize(
    redis: Redis,
    engine: Engine,
    sentences: Sequence[Sentence],
    params: AudioParams,
    *,
    settings: Settings,
    render: RenderSettings | None = None,
    cache: ChunkCache,
    stats_redis: Redis | None = None,
    waker: AudioWaker | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> ChunkResult:
    """The chunk's audio, from the cache, from this caller's rendering, or from another's.

    `render` defaults to `RenderSettings.from_settings(settings)`. Without `waker` a waiter
    only polls. Engine errors propagate (after the lock is released).
    """
    stats_redis = redis if stats_redis is None else stats_redis
    render = render or RenderSettings.from_settings(settings)
    key = cache_key(chunk_text(sentences), params, render)
    audio = await cache.get(key)
    if audio is not None:
        await stats.incr(stats_redis, stats.CACHE_HITS)
        return ChunkResult(key, audio, "hit")
    await stats.incr(stats_redis, stats.CACHE_MISSES)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.wait_timeout_s
    waited = False
    wait_started = 0.0
    while True:
        lock = await ChunkLock.try_acquire(redis, key, settings.lock_ttl_ms)
        if lock is not None:
            if waited:
                await stats.incr(stats_redis, stats.TAKEOVERS)
            audio, synthesized = await _synthesize_locked(lock, cache, engine, sentences, params, render, key,
                                                          stats_redis)
            return ChunkResult(key, audio, "synthesized" if synthesized else "waited" if waited else "hit")
        if not waited:
            waited = True
            wait_started = loop.time()
            await stats.incr(stats_redis, stats.LOCK_WAITS)
        audio = await _wait(redis, cache, key, deadline, waker, backoff, stats_redis, wait_started)
        if audio is not None:
            return ChunkResult(key, audio, "waited")
        if loop.time() >= deadline:
            raise ChunkWaitTimeout(key, settings.wait_timeout_s)


async def _synthesize_locked(
    lock: ChunkLock, cache: ChunkCache, engine: Engine, sentences: Sequence[Sentence], params: AudioParams,
    render: RenderSettings, key: str, stats_redis: Redis,
) -> tuple[RenderedChunk, bool]:
    """Holding `lock`: render unless the audio landed since our look; always release.

    Returns the audio and whether this call synthesized it. Releases before publishing, so
    a waiter woken after a failure finds the lock free.
    """
    called = False
    try:
        audio = await cache.get(key)
        if audio is not None:  # the previous holder finished (and announced) between our look and our lock
            return audio, False
        called = True
        usage = Usage()
        try:
            chunk = await render_chunk(engine, sentences, params, render, usage)
        except Exception:
            await stats.incr_many(stats_redis, {
                stats.provider_errors(engine.name): 1,
                stats.provider_attempts(engine.name): max(1, usage.attempts),
            })
            raise
        await stats.incr_many(stats_redis, {
            stats.provider_calls(engine.name): usage.calls,
            stats.provider_attempts(engine.name): usage.attempts,
            stats.provider_chars(engine.name): sum(len(s.spoken) for s in sentences),
            stats.provider_billed(engine.name): usage.billed_chars,
        })
        await cache.put(key, chunk)
        return chunk, True
    finally:
        await lock.release()
        if called:
            await _announce(lock.redis, key)


async def _announce(redis: Redis, key: str) -> None:
    """Tell waiters to look again: the audio landed, or the lock is free after a failure."""
    try:
        await redis.publish(keys.AUDIO_READY_CHANNEL, key)
    except RedisError as exc:  # waiters still poll; don't mask the synthesis outcome
        log.warning("could not publish audio-ready for %s: %s", key, exc)


async def _wait(
    redis: Redis, cache: ChunkCache, key: str, deadline: float, waker: AudioWaker | None,
    backoff: Backoff, stats_redis: Redis, wait_started: float,
) -> RenderedChunk | None:
    """Until the audio lands (returned) or the lock is gone without it / the deadline passes (None)."""
    loop = asyncio.get_running_loop()
    delay = backoff.initial_s
    woken_by: str | None = None  # None until the first wait ends: a first-look find is no wake-up
    while True:
        with _watch(waker, key) as wake:
            audio = await cache.get(key)
            if audio is not None:
                if woken_by is not None:
                    waited_s = loop.time() - wait_started
                    stats.incr_many_later(stats_redis, {
                        woken_by: 1, **stats.histogram_fields(stats.lock_wait(woken_by), waited_s, stats.LOCK_WAIT_BUCKETS),
                    })
                return audio
            if not await ChunkLock.is_locked(redis, key):
                return None
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            done, _ = await asyncio.wait({wake}, timeout=min(delay, remaining))
            woken_by = stats.WAKEUPS_NOTIFIED if done else stats.WAKEUPS_POLLED
        delay = min(delay * backoff.factor, backoff.cap_s)


def _watch(waker: AudioWaker | None, key: str) -> contextlib.AbstractContextManager[asyncio.Future[None]]:
    """The waker's future for `key`, or (polling only) one that never resolves."""
    if waker is not None:
        return waker.watch(key)
    return contextlib.nullcontext(asyncio.get_running_loop().create_future())
