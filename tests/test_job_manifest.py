"""The job record holds the Document, the speed, per-chunk sentence lists and chapter titles."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared import jobs, keys
from shared.text import clean_document, document_sentences, split_sentences
from shared.text.boundaries import headings

ARTICLE = "# First Part\n\nOne sentence. Another (with an aside).\n\n## Second Part\n\n- an item\n\nThe end."


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_document_speed_sentences_and_chapters_round_trip(redis: Redis) -> None:
    doc = clean_document(ARTICLE, "markdown")
    job_id = jobs.new_job_id()
    await jobs.create_job(redis, job_id=job_id, owner="t", engine="fake", voice="fake-a", variant="",
                          document=doc, speed=1.25)
    job = await jobs.get_job(redis, job_id)
    assert job is not None and job.speed == 1.25 and job.characters == len(doc.text)
    summary = jobs.job_summary(job, {"audio_url": "/audio"})
    assert summary["speed"] == 1.25 and summary["audio_url"] == "/audio"
    assert await jobs.article_document(redis, job_id) == doc

    chunks = split_sentences(document_sentences(doc), target_chars=30, max_chars=60)
    entries = [jobs.sentences_json(c) for c in chunks]
    assert await jobs.start_job(redis, job_id, [f"k{i}" for i in range(len(chunks))], entries, headings(doc))
    for i, chunk in enumerate(chunks):
        assert await jobs.chunk_sentences(redis, job_id, i) == chunk
    assert await jobs.job_chapters(redis, job_id) == ["First Part", "Second Part"]
    assert {s.chapter for c in chunks for s in c} == {0, 1}

    # the manifest is written once: a re-run of the article job cannot change it
    assert await jobs.start_job(redis, job_id, ["other"], ["[]"], ["Other"])
    assert await jobs.chunk_sentences(redis, job_id, 0) == chunks[0]
    assert await jobs.job_chapters(redis, job_id) == ["First Part", "Second Part"]
    assert await redis.llen(keys.job_chunks(job_id)) == len(chunks)


async def test_a_job_of_an_older_record_reads_speed_one(redis: Redis) -> None:
    await redis.hset(keys.job("0" * 32), mapping={"status": "queued", "engine": "fake"})
    job = await jobs.get_job(redis, "0" * 32)
    assert job is not None and job.speed == 1.0
    assert await jobs.job_chapters(redis, "0" * 32) == []
