"""The finishing step runs exactly once when two race, and a second run changes nothing."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
from redis.asyncio import Redis

from shared import jobs, keys
from shared.audio.encode import pcm_to_mp3
from shared.audio.rendered import RenderedChunk, SentenceTiming
from shared.config import Settings
from shared.engines import get_engine
from shared.store.cache import ChunkCache, cache_key, chunk_text
from shared.store.files import DirectoryStorage
from shared.store.finished import AUDIO, file_key
from shared.text.document import Block, Document, Sentence
from shared.wakeup import AudioWaker
from worker.tasks import Runtime, _finish_article

RATE = 24000


async def test_two_finishers_race_one_transition(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(fake_engine=True, lock_ttl_ms=3000)
    redis = Redis.from_url(redis_url)
    storage = DirectoryStorage(tmp_path / "store")
    cache = ChunkCache(storage)
    engine = get_engine("fake", settings)
    params = engine.params()
    texts = ["First chunk is short.", "Second chunk, also short.", "Third and last."]
    document = Document(text=" ".join(texts), blocks=(Block(0, len(" ".join(texts)), "paragraph"),))
    outline, at = [], 0
    for i, text in enumerate(texts):  # one sentence per chunk
        outline.append([Sentence(at, at + len(text), text, text, "end" if i == len(texts) - 1 else "sentence", -1)])
        at += len(text) + 1
    chunk_keys = [cache_key(chunk_text(chunk), params) for chunk in outline]
    for i, key in enumerate(chunk_keys):  # every chunk cached: a tone with its PCM
        pcm = (6000 * np.sin(np.arange(RATE // 2 * (i + 1)) * 0.05)).astype(np.int16).tobytes()
        await cache.put(key, RenderedChunk(pcm_to_mp3(pcm, RATE), pcm, RATE, (SentenceTiming(0, 500 * (i + 1)),)))
    job_id = jobs.new_job_id()
    await jobs.create_job(redis, job_id=job_id, owner="me", engine="fake", voice=params.voice, variant="", document=document)
    assert await jobs.start_job(redis, job_id, chunk_keys, [jobs.sentences_json(chunk) for chunk in outline])
    for i in range(len(texts)):
        await jobs.land_chunk(redis, job_id, i, hit=True)
    assert (await jobs.get_job(redis, job_id)).status == "running"  # every chunk landed, files not yet written

    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.events(job_id))
    assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"  # subscribed before anything is published
    done_before = int(await redis.hget(keys.JOBS_BY_STATUS, "done") or 0)
    waker = AudioWaker(redis)
    rt = Runtime(settings=settings, redis=redis, cache_redis=redis, storage=storage, cache=cache, waker=waker, worker_id="w")
    await asyncio.gather(_finish_article(rt, job_id), _finish_article(rt, job_id))
    job = await jobs.get_job(redis, job_id)
    assert job.status == "done" and job.audio_bytes == (tmp_path / "store" / file_key(job_id, AUDIO)).stat().st_size
    assert int(await redis.hget(keys.JOBS_BY_STATUS, "done")) - done_before == 1
    events = []
    while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)) is not None:
        events.append(json.loads(message["data"])["type"])
    assert events.count("done") == 1
    before = (tmp_path / "store" / file_key(job_id, AUDIO)).read_bytes()
    await _finish_article(rt, job_id)  # a re-run after done: nothing changes
    assert (tmp_path / "store" / file_key(job_id, AUDIO)).read_bytes() == before
    assert int(await redis.hget(keys.JOBS_BY_STATUS, "done")) - done_before == 1
    await pubsub.aclose()
    await redis.aclose()
