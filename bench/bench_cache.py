"""Cache, lock and join benchmark: `.venv/bin/python bench/bench_cache.py [--trials N]`.

Starts its own redis-server and prints, in one run:
1. provider calls for 50 concurrent callers of one cold 7-chunk article (fake engine, 200 ms a call);
2. warm-article assembly: fetch the 7 cached chunks and `shared.audio.mp3.join` them, against the
   original design's `ffmpeg -f concat` of the same pieces (written to files, `-c copy`);
3. how long a waiter takes to notice that audio landed: pub/sub wake-up (`AudioWaker`) with
   backoff polling as the fallback, against backoff polling alone (50 ms x1.25, cap 500 ms).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis.asyncio import Redis

from shared import keys, stats
from shared.audio import mp3
from shared.config import Settings
from shared.engines.base import AudioParams, Engine, Speech, VoiceInfo
from shared.engines.fake import FakeEngine, fake_mp3
from shared.store.cache import ChunkCache, cache_key, chunk_text
from shared.store.files import DirectoryStorage
from shared.synthesis import get_or_synthesize
from shared.text.document import Sentence
from shared.wakeup import AudioWaker
from tests.conftest import CORPUS, RedisServer, free_port

CALLERS = 50


def seven_chunks() -> list[str]:
    paragraphs = [p.strip() for p in (CORPUS / "federalist-03.txt").read_text(encoding="utf-8").split("\n\n") if p.strip()]
    n = len(paragraphs)
    return ["\n\n".join(paragraphs[i * n // 7 : (i + 1) * n // 7]) for i in range(7)]


CACHE = ChunkCache(DirectoryStorage(Path(tempfile.mkdtemp(prefix="bench-cache-"))))  # chunk audio lives in storage


async def herd(redis: Redis, chunks: list[str], use_waker: bool) -> str:
    """One cold herd; returns its report line."""
    await redis.flushdb()
    await CACHE.storage.delete_prefix("chunks/")
    settings = Settings(fake_engine=True, fake_latency_ms=200)
    engine = FakeEngine(settings)
    fake_mp3("warm-up", "fake-a")  # the fake builds its tones once per process, on the event loop
    waker = AudioWaker(redis) if use_waker else None
    if waker is not None:
        await waker.start()
    params = engine.params()

    async def caller() -> list[str]:
        results = await asyncio.gather(*(
            get_or_synthesize(redis, engine, one_unit(text), params, settings=settings, cache=CACHE, waker=waker)
            for text in chunks
        ))
        return [r.source for r in results]

    started = time.perf_counter()
    sources = [s for article in await asyncio.gather(*(caller() for _ in range(CALLERS))) for s in article]
    elapsed = time.perf_counter() - started
    if waker is not None:
        await waker.close()
    counters = await stats.read_stats(redis)
    return (f"{CALLERS} callers x {len(chunks)} chunks = {len(sources)} chunk requests -> "
            f"{counters['provider_calls:fake']} provider calls "
            f"({sources.count('synthesized')} synthesized, {sources.count('waited')} waited, "
            f"{sources.count('hit')} hits; {counters.get(stats.WAKEUPS_NOTIFIED, 0)} woken by pub/sub, "
            f"{counters.get(stats.WAKEUPS_POLLED, 0)} by polling), all served in {elapsed:.2f} s")


async def warm_assembly(redis: Redis, chunks: list[str], runs: int) -> None:
    engine = FakeEngine(Settings(fake_engine=True))
    names = [cache_key(chunk_text(one_unit(text)), engine.params()) for text in chunks]

    async def pieces_of() -> list[bytes]:
        return [await CACHE.mp3(name) for name in names]  # type: ignore[misc]

    async def ours() -> bytes:
        return mp3.join(await pieces_of())

    async def ffmpeg_concat(tmp: Path) -> bytes:
        pieces = await pieces_of()
        listing = tmp / "list.txt"
        lines = []
        for i, piece in enumerate(pieces):
            (tmp / f"{i}.mp3").write_bytes(piece)
            lines.append(f"file '{tmp / f'{i}.mp3'}'")
        listing.write_text("\n".join(lines) + "\n")
        out = tmp / "out.mp3"
        ffmpeg = await asyncio.create_subprocess_exec(
            "ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out))
        if await ffmpeg.wait() != 0:
            raise RuntimeError("ffmpeg -f concat failed")
        return out.read_bytes()

    with tempfile.TemporaryDirectory() as tmp:
        ours_s = [await _timed(ours()) for _ in range(runs * 10)]
        theirs_s = [await _timed(ffmpeg_concat(Path(tmp))) for _ in range(runs)]
    joined = await ours()
    ours_ms, theirs_ms = statistics.median(ours_s) * 1000, statistics.median(theirs_s) * 1000
    print(f"2. warm article ({len(chunks)} chunks, {len(joined) / 1e6:.2f} MB, "
          f"{mp3.duration_seconds(joined):.0f} s of audio), fetch + assemble, median: "
          f"mp3.join {ours_ms:.2f} ms vs ffmpeg -f concat {theirs_ms:.1f} ms -> {theirs_ms / ours_ms:.0f}x faster")


async def _timed(work: object) -> float:
    started = time.perf_counter()
    await work  # type: ignore[misc]
    return time.perf_counter() - started


class Holder(Engine):
    """Holds the lock for a random time, then records when the audio is ready."""

    name = "bench"
    max_chars = 1000

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.landed = 0.0

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(id="v", name="V")]

    def default_voice(self) -> str:
        return "v"

    def params(self, voice: str | None = None, variant: str | None = None) -> AudioParams:
        return AudioParams(engine=self.name, engine_version="1", voice="v")

    async def speak(self, text: str, params: AudioParams) -> Speech:
        await asyncio.sleep(self.hold_s)
        self.landed = time.perf_counter()
        return Speech(pcm=bytes(1000), sample_rate=8000, billed_chars=len(text))


async def wake_latency(redis: Redis, trials: int, waiters: int) -> None:
    settings = Settings()
    rng = random.Random(4)
    holds = [rng.uniform(0.05, 1.0) for _ in range(trials)]
    waker = AudioWaker(redis)
    await waker.start()
    results: dict[str, list[float]] = {}
    for mode, use in (("pub/sub + poll", waker), ("poll only", None)):
        latencies: list[float] = []
        for trial, hold in enumerate(holds):
            engine = Holder(hold)
            text = f"{mode} {trial}"

            holder = asyncio.create_task(_timed_call(redis, engine, text, settings, use))
            while not await redis.exists(keys.lock(_key(text, engine))):
                await asyncio.sleep(0.001)
            done = await asyncio.gather(*(_timed_call(redis, engine, text, settings, use) for _ in range(waiters)))
            await holder
            latencies += [t - engine.landed for t in done]
        results[mode] = latencies
    await waker.close()
    line = []
    for mode, latencies in results.items():
        ms = sorted(x * 1000 for x in latencies)
        line.append(f"{mode}: median {statistics.median(ms):.1f} ms, p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms")
    ratio = statistics.median(results["poll only"]) / statistics.median(results["pub/sub + poll"])
    print(f"3. waiter wake-up after the audio lands ({trials} trials x {waiters} waiters, holder busy 50-1000 ms): "
          f"{'; '.join(line)} -> median {ratio:.0f}x sooner")


async def _timed_call(redis: Redis, engine: Holder, text: str, settings: Settings, waker: AudioWaker | None) -> float:
    """When this caller got the chunk."""
    await get_or_synthesize(redis, engine, one_unit(text), engine.params(), settings=settings, cache=CACHE, waker=waker)
    return time.perf_counter()


def _key(text: str, engine: Engine) -> str:
    return cache_key(chunk_text(one_unit(text)), engine.params())


def one_unit(text: str) -> list[Sentence]:
    """A chunk of one unit (the whole text), so one chunk is one provider call."""
    return [Sentence(start=0, end=len(text), text=text, spoken=text, boundary="paragraph", chapter=-1)]


async def main(trials: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        server = RedisServer(port=free_port(), dir=Path(data), appendonly=False)
        server.start()
        redis = Redis.from_url(server.url)
        try:
            chunks = seven_chunks()
            print(f"1. herd, polling only:   {await herd(redis, chunks, use_waker=False)}")
            print(f"   herd, pub/sub + poll: {await herd(redis, chunks, use_waker=True)}")
            await warm_assembly(redis, chunks, runs=max(5, trials))
            await wake_latency(redis, trials, waiters=10)
        finally:
            await stats.flush()
            await redis.aclose()
            server.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="wake-up trials per mode (each holds 50-1000 ms)")
    asyncio.run(main(parser.parse_args().trials))
