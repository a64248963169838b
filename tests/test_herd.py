"""The herd: 50 concurrent callers for one cold 7-chunk article cause exactly 7 provider calls,
in one process and spread over 4 OS processes, against a real redis-server.

Each chunk here is one unit (a whole paragraph spoken as one sentence), so one chunk is one
provider call."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import redis as sync_redis
from redis.asyncio import Redis

from shared import keys, stats
from shared.audio import mp3
from shared.audio.render import PauseTable, RenderSettings
from shared.config import Settings
from shared.engines.base import AudioParams, Speech
from shared.engines.fake import FakeEngine
from shared.store.cache import ChunkCache
from shared.store.files import DirectoryStorage
from shared.synthesis import ChunkResult, get_or_synthesize
from shared.text.document import Sentence
from shared.wakeup import AudioWaker
from tests.conftest import CORPUS, ROOT

CALLERS = 50
PROCESSES = 4


def seven_chunks() -> list[str]:
    """Federalist No. 3 cut at paragraph boundaries into 7 chunks."""
    paragraphs = [p.strip() for p in (CORPUS / "federalist-03.txt").read_text(encoding="utf-8").split("\n\n") if p.strip()]
    n = len(paragraphs)
    chunks = ["\n\n".join(paragraphs[i * n // 7 : (i + 1) * n // 7]) for i in range(7)]
    assert len(set(chunks)) == 7 and all(chunks)
    return chunks


def chunk_of(text: str) -> list[Sentence]:
    """A chunk of one unit: `text` spoken as it is, followed by a paragraph break."""
    return [Sentence(start=0, end=len(text), text=text, spoken=text, boundary="paragraph", chapter=-1)]


class CountingFake(FakeEngine):
    """The fake engine, counting the calls made to it in this process."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.calls = 0

    async def speak(self, text: str, params: AudioParams) -> Speech:
        self.calls += 1
        return await super().speak(text, params)


async def read_article(redis: Redis, engine: FakeEngine, chunks: list[str], settings: Settings,
                       waker: AudioWaker, go: asyncio.Event, cache: ChunkCache) -> list[ChunkResult]:
    """One caller: wait for the start signal, then ask for every chunk at once."""
    await go.wait()
    params = engine.params()
    return list(await asyncio.gather(*(
        get_or_synthesize(redis, engine, chunk_of(text), params, cache=cache, settings=settings, waker=waker) for text in chunks
    )))


async def test_fifty_callers_one_process(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(fake_engine=True, fake_latency_ms=200)
    engine = CountingFake(settings)
    chunks = seven_chunks()
    redis = Redis.from_url(redis_url)
    waker = AudioWaker(redis)
    await waker.start()
    go = asyncio.Event()
    try:
        cache = ChunkCache(DirectoryStorage(tmp_path / "store"))
        callers = [asyncio.create_task(read_article(redis, engine, chunks, settings, waker, go, cache)) for _ in range(CALLERS)]
        go.set()
        articles = await asyncio.gather(*callers)
        counters = await stats.read_stats(redis)
    finally:
        await waker.close()
        await redis.aclose()

    assert engine.calls == 7
    assert counters["provider_calls:fake"] == 7
    assert counters["provider_chars:fake"] == sum(map(len, chunks))
    assert counters.get("cache_hits", 0) + counters["cache_misses"] == CALLERS * 7
    sources = Counter(r.source for article in articles for r in article)
    assert sources["synthesized"] == 7
    assert {tuple(r.audio for r in article) for article in articles} == {tuple(r.audio for r in articles[0])}
    joined = mp3.join([r.audio for r in articles[0]])
    render = RenderSettings()
    # 10 ms per character, the silence kept at the unit's ends and the paragraph pause after it
    per_chunk_s = (render.lead_ms + render.tail_ms + PauseTable().paragraph) / 1000
    expected_s = sum(map(len, chunks)) / 100 + 7 * per_chunk_s
    assert abs(sum(r.chunk.duration_ms for r in articles[0]) / 1000 - expected_s) < 7 * 0.002
    # each chunk's MP3 adds the encoder's delay and padding to whole frames (24 ms each at 24 kHz)
    assert 0 <= mp3.duration_seconds(joined) - expected_s < 7 * 3 * 0.024


_CHILD = """
import asyncio, hashlib, json, sys
from collections import Counter
from redis.asyncio import Redis
from shared.config import load_settings
from shared.engines import get_engine
from shared.store import open_storage
from shared.store.cache import ChunkCache
from shared.synthesis import get_or_synthesize
from shared.wakeup import AudioWaker
from tests.test_herd import chunk_of

async def main(url, callers, chunks):
    settings = load_settings()
    engine = get_engine("fake", settings)
    calls = 0
    speak = engine.speak
    async def counted(text, params):
        nonlocal calls
        calls += 1
        return await speak(text, params)
    engine.speak = counted
    redis = Redis.from_url(url)
    cache = ChunkCache(open_storage(settings))
    waker = AudioWaker(redis)
    await waker.start()
    await redis.rpush("test:herd:ready", 1)
    await redis.blpop(["test:herd:go"], timeout=60)  # the barrier: all processes start together
    async def caller():
        return await asyncio.gather(*(
            get_or_synthesize(redis, engine, chunk_of(text), engine.params(), cache=cache, settings=settings, waker=waker)
            for text in chunks
        ))
    articles = await asyncio.gather(*(caller() for _ in range(callers)))
    await waker.close()
    print(json.dumps({
        "calls": calls,
        "sources": Counter(r.source for a in articles for r in a),
        "articles": sorted({"".join(hashlib.sha256(r.audio).hexdigest() for r in a) for a in articles}),
    }))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), json.loads(sys.stdin.readline())))
"""


def test_fifty_callers_four_processes(redis_url: str, tmp_path: Path) -> None:
    chunks = seven_chunks()
    env = {**os.environ, "READOUT_FAKE_ENGINE": "1", "READOUT_FAKE_LATENCY_MS": "200", "PYTHONPATH": str(ROOT),
           "READOUT_STORAGE": f"file://{tmp_path / 'store'}"}  # one chunk cache shared by the four processes
    shares = [CALLERS // PROCESSES + (i < CALLERS % PROCESSES) for i in range(PROCESSES)]
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, redis_url, str(n)], env=env, cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for n in shares
    ]
    redis = sync_redis.Redis.from_url(redis_url)
    try:
        for child in children:
            child.stdin.write(json.dumps(chunks) + "\n")  # type: ignore[union-attr]
            child.stdin.flush()  # type: ignore[union-attr]
        for _ in children:
            assert redis.blpop(["test:herd:ready"], timeout=120) is not None, "a child never got ready"
        redis.rpush("test:herd:go", *[1] * len(children))
        reports = []
        for child in children:
            out, _ = child.communicate(timeout=120)
            assert child.returncode == 0
            reports.append(json.loads(out))
        counters = {k.decode(): int(v) for k, v in redis.hgetall(keys.STATS).items()}
    finally:
        for child in children:
            child.kill()
        redis.close()

    assert sum(r["calls"] for r in reports) == 7
    assert counters["provider_calls:fake"] == 7
    assert sum(r["sources"].get("synthesized", 0) for r in reports) == 7
    assert sum(sum(r["sources"].values()) for r in reports) == CALLERS * 7
    assert len({a for r in reports for a in r["articles"]}) == 1  # every caller got the same article
