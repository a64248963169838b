"""The per-chunk lock and `get_or_synthesize` against a real redis-server.

Actors are synchronised through events and observed Redis state; the only waiting on time
is for a TTL to run out or for a lock to be held longer than its TTL, which is the point.
"""
from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared import keys, stats
from shared.config import Settings
from shared.engines.base import AudioParams, Engine, EngineError, Speech, VoiceInfo
from shared.engines.fake import SAMPLE_RATE, fake_pcm
from shared.lock import ChunkLock
from shared.redis_conn import connect
from shared.store.cache import ChunkCache, cache_key, chunk_text
from shared.store.files import DirectoryStorage
from shared.synthesis import Backoff, ChunkWaitTimeout, get_or_synthesize
from shared.wakeup import AudioWaker
from tests.conftest import ROOT
from tests.test_herd import CountingFake, chunk_of

POLL_S = 0.01  # interval of bounded polls of observable state

PARAMS = AudioParams(engine="gated", engine_version="1", voice="v")
NEVER_POLL = Backoff(initial_s=5.0, factor=1.0, cap_s=5.0)  # waiters can only be woken by a message
CACHE: ChunkCache  # each test's own chunk cache (a fresh directory), see _fresh_cache


@pytest.fixture(autouse=True)
def _fresh_cache(tmp_path: Path) -> None:
    global CACHE
    CACHE = ChunkCache(DirectoryStorage(tmp_path / "store"))


class GatedEngine(Engine):
    """Synthesizes when the test opens the gate; fails the calls listed in `fail_calls`."""

    name = "gated"
    max_chars = 1000

    def __init__(self, fail_calls: frozenset[int] = frozenset()) -> None:
        self.calls = 0
        self.fail_calls = fail_calls
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(id="v", name="V")]

    def default_voice(self) -> str:
        return "v"

    def params(self, voice: str | None = None, variant: str | None = None) -> AudioParams:
        return PARAMS

    async def speak(self, text: str, params: AudioParams) -> Speech:
        self.calls += 1
        call = self.calls
        self.entered.set()
        await self.gate.wait()
        if call in self.fail_calls:
            raise EngineError(self.name, f"call {call} failed")
        return Speech(pcm=fake_pcm(text, "fake-a"), sample_rate=SAMPLE_RATE, billed_chars=len(text))


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def waker(redis: Redis) -> AsyncIterator[AudioWaker]:
    waker = AudioWaker(redis)
    await waker.start()
    assert waker.subscribed
    yield waker
    await waker.close()


async def until(condition: Callable[[], Awaitable[object] | bool], what: str, timeout_s: float = 20.0) -> None:
    """Poll a condition (bounded, so a broken implementation fails instead of hanging)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await _value(condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(POLL_S)


async def _value(result: Awaitable[object] | bool) -> object:
    return await result if inspect.isawaitable(result) else result


async def stat(redis: Redis, field: str) -> int:
    return (await stats.read_stats(redis)).get(field, 0)


def stat_is(redis: Redis, field: str, expected: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await stat(redis, field) == expected

    return check


def settings(**overrides: object) -> Settings:
    return Settings(**{"lock_ttl_ms": 10_000, "wait_timeout_s": 30.0, **overrides})  # type: ignore[arg-type]


# --- the lock primitive ---------------------------------------------------------------------


async def test_only_one_holder(redis: Redis) -> None:
    first = await ChunkLock.try_acquire(redis, "k", 10_000)
    assert first is not None
    assert await ChunkLock.try_acquire(redis, "k", 10_000) is None
    assert await first.release()
    second = await ChunkLock.try_acquire(redis, "k", 10_000)
    assert second is not None
    await second.release()


async def test_expired_holder_cannot_release_or_extend_the_new_holders_lock(redis: Redis) -> None:
    old = await ChunkLock.try_acquire(redis, "k", 60_000)
    assert old is not None
    await redis.delete(keys.lock("k"))  # its TTL ran out
    new = await ChunkLock.try_acquire(redis, "k", 60_000)
    assert new is not None

    assert not await old.extend()
    assert await redis.pttl(keys.lock("k")) <= 60_000
    assert not await old.release()
    assert old.lost
    assert await redis.get(keys.lock("k")) == new.token.encode()
    assert await new.release()
    assert not await redis.exists(keys.lock("k"))


async def test_held_lock_outlives_its_ttl(redis: Redis) -> None:
    lock = await ChunkLock.try_acquire(redis, "k", 300)
    assert lock is not None
    async with lock:
        while lock.extensions < 4:  # 4 extensions at ttl/3 intervals: held for more than the TTL
            assert await ChunkLock.try_acquire(redis, "k", 300) is None
            assert await redis.get(keys.lock("k")) == lock.token.encode()
            await asyncio.sleep(POLL_S)
        assert not lock.lost
    assert not await redis.exists(keys.lock("k"))


# --- get_or_synthesize ------------------------------------------------------------------------


async def test_hit_after_synthesis_and_counters(redis: Redis) -> None:
    engine = GatedEngine()
    engine.gate.set()
    first = await get_or_synthesize(redis, engine, chunk_of("hello"), PARAMS, cache=CACHE, settings=settings())
    second = await get_or_synthesize(redis, engine, chunk_of("hello"), PARAMS, cache=CACHE, settings=settings())
    assert (first.source, second.source) == ("synthesized", "hit")
    assert first.chunk == second.chunk and first.key == second.key
    assert first.chunk.samples > len(fake_pcm("hello", "fake-a")) // 2  # the unit plus its pause
    assert engine.calls == 1
    counters = await stats.read_stats(redis)
    assert counters["provider_calls:gated"] == 1 and counters["provider_chars:gated"] == 5
    assert counters["cache_misses"] == 1 and counters["cache_hits"] == 1
    assert not await redis.exists(keys.lock(first.key))


async def test_slow_call_keeps_a_second_caller_out(redis: Redis) -> None:
    ttl_ms = 300
    engine = GatedEngine()
    cfg = settings(lock_ttl_ms=ttl_ms)
    holder = asyncio.create_task(get_or_synthesize(redis, engine, chunk_of("slow"), PARAMS, cache=CACHE, settings=cfg))
    await engine.entered.wait()
    token = await redis.get(keys.lock(_key("slow")))
    second = asyncio.create_task(get_or_synthesize(redis, engine, chunk_of("slow"), PARAMS, cache=CACHE, settings=cfg))
    await until(stat_is(redis, stats.LOCK_WAITS, 1), "the second caller waits")

    loop = asyncio.get_running_loop()
    held_until = loop.time() + 3 * ttl_ms / 1000  # the provider call outlasts the TTL three times
    while loop.time() < held_until:
        assert await redis.get(keys.lock(_key("slow"))) == token
        await asyncio.sleep(POLL_S)
    assert engine.calls == 1

    engine.gate.set()
    results = await asyncio.gather(holder, second)
    assert [r.source for r in results] == ["synthesized", "waited"]
    assert engine.calls == 1 and await stat(redis, "provider_calls:gated") == 1


async def test_holder_crash_lock_expires_and_one_waiter_synthesizes(redis: Redis, redis_url: str, waker: AudioWaker) -> None:
    """A real holder process is SIGKILLed mid-synthesis; its lock runs out and one waiter takes over."""
    text = "a holder that dies"
    env = {
        **os.environ, "READOUT_FAKE_ENGINE": "1", "READOUT_FAKE_LATENCY_MS": "600000",
        "READOUT_LOCK_TTL_MS": "500", "PYTHONPATH": str(ROOT),
        "READOUT_STORAGE": f"file://{CACHE.storage.local_path('x').parent}",  # this test's cache directory
    }
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", _HOLDER, redis_url, text, env=env, cwd=ROOT)
    try:
        engine = CountingFake(Settings(fake_engine=True, fake_latency_ms=50))
        key = _key(text, engine.params())
        await until(lambda: redis.exists(keys.lock(key)), "the child holds the lock")
    finally:
        child.kill()  # SIGKILL: no finally, no release
        await child.wait()

    cfg = settings(lock_ttl_ms=500)
    results = await asyncio.gather(*(
        get_or_synthesize(redis, engine, chunk_of(text), engine.params(), cache=CACHE, settings=cfg, waker=waker) for _ in range(5)
    ))
    assert sorted(r.source for r in results) == ["synthesized"] + ["waited"] * 4
    assert len({r.audio for r in results}) == 1
    assert engine.calls == 1
    counters = await stats.read_stats(redis)
    assert counters["provider_calls:fake"] == 1 and counters["lock_takeovers"] == 1


_HOLDER = """
import asyncio, sys
from redis.asyncio import Redis
from shared.config import load_settings
from shared.engines import get_engine
from shared.store import open_storage
from shared.store.cache import ChunkCache
from shared.synthesis import get_or_synthesize
from tests.test_herd import chunk_of

async def main():
    settings = load_settings()
    engine = get_engine("fake", settings)
    await get_or_synthesize(Redis.from_url(sys.argv[1]), engine, chunk_of(sys.argv[2]), engine.params(), cache=ChunkCache(open_storage(settings)), settings=settings)

asyncio.run(main())
"""


async def test_holder_failure_releases_at_once_and_a_waiter_retries(redis: Redis, waker: AudioWaker) -> None:
    engine = GatedEngine(fail_calls=frozenset({1}))
    cfg = settings(lock_ttl_ms=600_000)  # a waiter stuck until the TTL would hit the wait timeout instead
    holder = asyncio.create_task(get_or_synthesize(redis, engine, chunk_of("flaky"), PARAMS, cache=CACHE, settings=cfg, waker=waker))
    await engine.entered.wait()
    waiters = [
        asyncio.create_task(get_or_synthesize(redis, engine, chunk_of("flaky"), PARAMS, cache=CACHE, settings=cfg, waker=waker))
        for _ in range(3)
    ]
    await until(stat_is(redis, stats.LOCK_WAITS, 3), "three callers wait")

    engine.gate.set()
    with pytest.raises(EngineError, match="call 1 failed"):
        await holder
    results = await asyncio.gather(*waiters)
    assert sorted(r.source for r in results) == ["synthesized", "waited", "waited"]
    assert engine.calls == 2
    counters = await stats.read_stats(redis)
    assert counters["provider_errors:gated"] == 1 and counters["provider_calls:gated"] == 1
    assert counters["lock_takeovers"] == 1
    assert (await get_or_synthesize(redis, engine, chunk_of("flaky"), PARAMS, cache=CACHE, settings=cfg)).source == "hit"


async def test_waiter_gives_up_with_a_clear_error(redis: Redis) -> None:
    key = _key("stuck")
    await redis.set(keys.lock(key), "someone else", px=600_000)
    engine = GatedEngine()
    with pytest.raises(ChunkWaitTimeout, match=key) as raised:
        await get_or_synthesize(redis, engine, chunk_of("stuck"), PARAMS, cache=CACHE, settings=settings(wait_timeout_s=0.3))
    assert isinstance(raised.value, TimeoutError) and raised.value.key == key
    assert engine.calls == 0


# --- wake-ups ---------------------------------------------------------------------------------


async def _herd_of_waiters(redis: Redis, engine: GatedEngine, waker: AudioWaker | None, backoff: Backoff) -> list[str]:
    cfg = settings()
    holder = asyncio.create_task(get_or_synthesize(redis, engine, chunk_of("wake"), PARAMS, cache=CACHE, settings=cfg, waker=waker))
    await engine.entered.wait()
    waiters = [
        asyncio.create_task(get_or_synthesize(redis, engine, chunk_of("wake"), PARAMS, cache=CACHE, settings=cfg, waker=waker, backoff=backoff))
        for _ in range(10)
    ]
    await until(stat_is(redis, stats.LOCK_WAITS, 10), "ten callers wait")
    engine.gate.set()
    return [r.source for r in await asyncio.gather(holder, *waiters)]


async def test_waiters_are_woken_by_the_notification(redis: Redis, waker: AudioWaker) -> None:
    engine = GatedEngine()
    sources = await _herd_of_waiters(redis, engine, waker, NEVER_POLL)
    assert sources == ["synthesized"] + ["waited"] * 10
    await stats.flush()
    counters = await stats.read_stats(redis)
    assert counters.get(stats.WAKEUPS_POLLED, 0) == 0  # nobody needed the 5 s poll
    assert counters[stats.WAKEUPS_NOTIFIED] >= 1


async def test_without_a_waker_waiters_poll(redis: Redis) -> None:
    engine = GatedEngine()
    sources = await _herd_of_waiters(redis, engine, None, Backoff())
    assert sources == ["synthesized"] + ["waited"] * 10
    await stats.flush()
    counters = await stats.read_stats(redis)
    assert counters.get(stats.WAKEUPS_NOTIFIED, 0) == 0 and counters[stats.WAKEUPS_POLLED] >= 1


async def test_a_dead_listener_only_costs_latency(redis: Redis) -> None:
    waker = AudioWaker(redis)
    await waker.start()
    await waker.close()
    engine = GatedEngine()
    sources = await _herd_of_waiters(redis, engine, waker, Backoff())
    assert sources == ["synthesized"] + ["waited"] * 10
    await stats.flush()
    assert await stat(redis, stats.WAKEUPS_POLLED) >= 1


async def test_one_subscription_per_process(redis: Redis, waker: AudioWaker) -> None:
    engine = GatedEngine()
    holders = [
        asyncio.create_task(get_or_synthesize(redis, engine, chunk_of(f"text {i}"), PARAMS, cache=CACHE, settings=settings(), waker=waker))
        for i in range(20)
    ]
    waiters = [
        asyncio.create_task(get_or_synthesize(redis, engine, chunk_of(f"text {i}"), PARAMS, cache=CACHE, settings=settings(), waker=waker))
        for i in range(20)
    ]
    await until(stat_is(redis, stats.LOCK_WAITS, 20), "twenty callers wait")
    assert dict(await redis.pubsub_numsub(keys.AUDIO_READY_CHANNEL)) == {keys.AUDIO_READY_CHANNEL.encode(): 1}
    engine.gate.set()
    await asyncio.gather(*holders, *waiters)
    assert engine.calls == 20


@pytest.mark.parametrize("client", ["plain", "retrying"])
async def test_listener_resubscribes_after_a_reconnect(redis_url: str, client: str) -> None:
    redis = Redis.from_url(redis_url) if client == "plain" else connect(redis_url)
    waker = AudioWaker(redis)
    await waker.start()
    try:
        assert waker.subscriptions == 1
        await redis.client_kill_filter(_type="pubsub")
        await until(lambda: waker.subscriptions >= 2 and waker.subscribed, "the listener resubscribes")
        assert dict(await redis.pubsub_numsub(keys.AUDIO_READY_CHANNEL)) == {keys.AUDIO_READY_CHANNEL.encode(): 1}

        engine = GatedEngine()
        sources = await _herd_of_waiters(redis, engine, waker, NEVER_POLL)
        assert sources == ["synthesized"] + ["waited"] * 10
        await stats.flush()
        assert await stat(redis, stats.WAKEUPS_POLLED) == 0
    finally:
        await waker.close()
        await redis.aclose()


def _key(text: str, params: AudioParams = PARAMS) -> str:
    return cache_key(chunk_text(chunk_of(text)), params)
