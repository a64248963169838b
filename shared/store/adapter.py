"""MERGE ADAPTER (replace at merge): the store branch's stand-in for the speech branch's pipeline.

In this branch engines return bare MP3 frames and the manifest holds only chunk texts. The
speech branch makes synthesis return a `RenderedChunk` (MP3 + PCM + per-sentence timings)
and writes per-chunk `Sentence` lists plus the chapter titles into the manifest. Until
then these three functions bridge the gap, and they are the only place that does:

- `rendered_from_engine(mp3, sample_rate)`: what synthesis caches (MP3 only, no PCM yet);
- `with_pcm(chunk)`: the PCM the finished file is encoded from, decoded from the MP3;
- `article_outline(redis, job_id, total)`: one caption "sentence" per chunk, no chapters.

At merge: synthesis caches the engine's RenderedChunk as is, the finisher reads the real
outline from the manifest, and this module goes away.
"""
from __future__ import annotations

import asyncio
import dataclasses

from redis.asyncio import Redis

from shared import jobs, keys
from shared.audio.mp3 import parse_header
from shared.audio.rendered import RenderedChunk, SentenceTiming
from shared.text.document import Sentence


@dataclasses.dataclass(frozen=True)
class Outline:
    """Per chunk, its sentences (offsets into the cleaned text); and the chapter titles."""

    sentences: list[list[Sentence]]
    chapters: list[str]


def rendered_from_engine(mp3: bytes, sample_rate: int) -> RenderedChunk:
    return RenderedChunk(mp3=mp3, pcm=b"", sample_rate=sample_rate, sentences=(), timing="detected")


async def with_pcm(chunk: RenderedChunk) -> RenderedChunk:
    """The chunk with PCM decoded from its MP3 (ffmpeg), and one timing spanning all of it."""
    if chunk.pcm:
        return chunk
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-f", "mp3", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-threads", "1", "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    pcm, err = await proc.communicate(chunk.mp3)
    if proc.returncode != 0:
        raise OSError(f"ffmpeg could not decode a chunk: {err.decode(errors='replace')[-300:]}")
    first = parse_header(chunk.mp3)
    if first is None:
        raise OSError("a cached chunk does not start with an MPEG frame")
    rate = first.sample_rate
    ms = 1000 * (len(pcm) // 2) // rate
    return dataclasses.replace(chunk, pcm=pcm, sample_rate=rate, sentences=(SentenceTiming(0, ms),))


async def article_outline(redis: Redis, job_id: str, total: int) -> Outline:
    """One caption per chunk (its text as spoken), offsets counted along the chunk texts."""
    raw = await redis.lrange(keys.job_texts(job_id), 0, -1)
    texts = [t.decode("utf-8") for t in raw] if len(raw) == total else [
        (await jobs.chunk_text(redis, job_id, i)) or "" for i in range(total)]
    sentences: list[list[Sentence]] = []
    at = 0
    for text in texts:
        sentences.append([Sentence(start=at, end=at + len(text), text=text, spoken=text, boundary="paragraph",
                                   chapter=-1)])
        at += len(text) + 1
    return Outline(sentences=sentences, chapters=[])
