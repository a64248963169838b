"""The finished article, written once: `jobs/<id>/audio.mp3` and its captions and marks.

The audio is encoded once for the whole article from the chunks' PCM with one LAME
encoder, streaming chunk by chunk, so there is one priming delay and one padding for the
file, both recorded in the Info frame's LAME tag: a decoder that honours it (ffmpeg,
browsers, podcast apps) yields exactly the PCM that went in. Layout: ID3v2.4 tag (title,
author, TLEN, CHAP per heading + CTOC), Info frame, audio frames.

Cue times are the sentences' timings inside their chunk plus the chunk's offset in samples,
so they sit where the audio is. The files are written before `audio.mp3`, which goes last:
its presence means the set is complete. Every write replaces whole objects, so a second
run (a retried job) leaves the same files.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import lameenc

from shared.audio.encode import mono_encoder
from shared.audio.id3 import Chapter, id3_tag
from shared.audio.mp3 import FrameHeader, parse_header
from shared.audio.rendered import RenderedChunk, Timing
from shared.audio.xing import info_frame
from shared.store.captions import Cue, to_marks, to_srt, to_vtt
from shared.store.storage import Storage
from shared.text.document import Sentence

AUDIO = "audio.mp3"
VTT = "captions.vtt"
SRT = "captions.srt"
MARKS = "marks.json"
_TITLE_WORDS = 10
WRITER_VERSION = 2  # bump when the files written for the same input change


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def file_key(job_id: str, name: str) -> str:
    return job_prefix(job_id) + name


@dataclass(frozen=True)
class Finished:
    title: str
    audio_bytes: int
    duration_ms: int
    samples: int
    sample_rate: int
    timing: Timing
    chapters: int


class _FrameCounter:
    """Counts whole MPEG frames in a byte stream that arrives in pieces."""

    def __init__(self) -> None:
        self.frames = 0
        self.first: FrameHeader | None = None
        self._pending = b""

    def feed(self, data: bytes) -> None:
        buf = self._pending + data
        pos = 0
        while pos + 4 <= len(buf):
            header = parse_header(buf, pos)
            if header is None:
                raise ValueError("the encoder wrote something that is not an MPEG frame")
            if pos + header.length > len(buf):
                break
            self.first = self.first or header
            self.frames += 1
            pos += header.length
        self._pending = buf[pos:]

    def close(self) -> None:
        if self._pending:
            raise ValueError("the encoder's output ends inside a frame")


def _title(sentences: list[Sentence], chapter_titles: list[str], job_title: str | None) -> str:
    """The job's own title (a URL job's page title, as the page gives it), else the first heading, else the first words."""
    if job_title:
        return job_title
    if chapter_titles:
        return chapter_titles[0]
    words = " ".join(s.text for s in sentences[:3]).split()
    head = " ".join(words[:_TITLE_WORDS])
    return head + ("…" if len(words) > _TITLE_WORDS else "") if head else "Untitled article"


async def write_finished(
    storage: Storage,
    job_id: str,
    *,
    load: Callable[[int], Awaitable[RenderedChunk]],
    sentences: list[list[Sentence]],
    chapter_titles: list[str],
    title: str | None = None,
    author: str | None = None,
    bitrate_kbps: int = 64,
) -> Finished:
    """Encode chunks 0..n-1 (`load(i)`, one at a time) into the finished files of `job_id`."""
    cues: list[Cue] = []
    timing: Timing = "exact"
    samples = 0
    rate = 0
    counter = _FrameCounter()
    encoder: lameenc.Encoder | None = None
    with tempfile.TemporaryDirectory(prefix="readout-finish-") as tmp:
        frames_path = Path(tmp) / "frames.mp3"
        with open(frames_path, "wb") as frames_out:
            for index, chunk_sentences in enumerate(sentences):
                chunk = await load(index)
                if encoder is None:
                    rate = chunk.sample_rate
                    encoder = mono_encoder(rate, bitrate_kbps)
                if chunk.sample_rate != rate:
                    raise ValueError(f"chunk {index} is {chunk.sample_rate} Hz, chunk 0 is {rate} Hz")
                if len(chunk.sentences) != len(chunk_sentences):
                    raise ValueError(f"chunk {index}: {len(chunk.sentences)} timings for {len(chunk_sentences)} sentences")
                if chunk.timing != "exact":
                    timing = "detected"
                offset_ms = 1000.0 * samples / rate
                for mark, sentence in zip(chunk.sentences, chunk_sentences, strict=True):
                    cues.append(Cue(round(offset_ms + mark.start_ms), round(offset_ms + mark.end_ms), sentence.text,
                                    sentence.spoken, sentence.start, sentence.end, sentence.chapter))
                encoded = bytes(await asyncio.to_thread(encoder.encode, chunk.pcm)) if chunk.pcm else b""
                counter.feed(encoded)
                frames_out.write(encoded)
                samples += chunk.samples
            if encoder is None:
                raise ValueError("an article without chunks has no audio")
            tail = bytes(encoder.flush())
            counter.feed(tail)
            frames_out.write(tail)
        counter.close()
        assert counter.first is not None
        duration_ms = round(1000 * samples / rate)
        heading_starts = _chapter_starts(cues, len(chapter_titles))
        chapters = [
            Chapter(title, start, heading_starts[i + 1] if i + 1 < len(heading_starts) else duration_ms)
            for i, (title, start) in enumerate(zip(chapter_titles, heading_starts, strict=True))
        ]
        name = _title([s for chunk in sentences for s in chunk[:3]][:3], chapter_titles, title)
        frames_bytes = frames_path.stat().st_size
        head = id3_tag(title=name, author=author, duration_ms=duration_ms, chapters=chapters) + info_frame(
            counter.first, frames=counter.frames, audio_bytes=frames_bytes, samples=samples, bitrate_kbps=bitrate_kbps)
        audio_path = Path(tmp) / AUDIO
        with open(audio_path, "wb") as out, open(frames_path, "rb") as src:
            out.write(head)
            shutil.copyfileobj(src, out, 1 << 20)
        await storage.put(file_key(job_id, VTT), to_vtt(cues).encode(), "text/vtt; charset=utf-8")
        await storage.put(file_key(job_id, SRT), to_srt(cues).encode(), "application/x-subrip; charset=utf-8")
        marks = to_marks(cues, chapters=[(c.title, c.start_ms) for c in chapters], timing=timing,
                         duration_ms=duration_ms, title=name)
        await storage.put(file_key(job_id, MARKS), marks.encode(), "application/json")
        await storage.put_file(file_key(job_id, AUDIO), audio_path, "audio/mpeg")
        size = audio_path.stat().st_size
    return Finished(title=name, audio_bytes=size, duration_ms=duration_ms, samples=samples, sample_rate=rate,
                    timing=timing, chapters=len(chapters))


def _chapter_starts(cues: list[Cue], count: int) -> list[int]:
    """Each heading's chapter starts at its first cue (a chapter without cues starts where the next does)."""
    starts: list[int | None] = [None] * count
    for cue in cues:
        if 0 <= cue.chapter < count and starts[cue.chapter] is None:
            starts[cue.chapter] = cue.start_ms
    result: list[int] = []
    following = cues[-1].end_ms if cues else 0
    for start in reversed(starts):
        following = start if start is not None else following
        result.append(following)
    return result[::-1]


def content_id(chunk_keys: list[str], sentences: list[list[Sentence]], chapter_titles: list[str],
               title: str | None, author: str | None, bitrate_kbps: int) -> str:
    """What the finished files depend on, hashed: equal ids mean byte-equal files."""
    canonical = json.dumps({
        "v": WRITER_VERSION, "chunks": chunk_keys, "chapters": chapter_titles, "title": title, "author": author,
        "bitrate": bitrate_kbps, "sentences": [[dataclasses.astuple(s) for s in chunk] for chunk in sentences],
    }, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def copy_finished(storage: Storage, src_job: str, dst_job: str) -> bool:
    """Give `dst_job` the files of `src_job` (same content id); the audio goes last. False if any is gone."""
    for name in (VTT, SRT, MARKS, AUDIO):
        if not await storage.copy(file_key(src_job, name), file_key(dst_job, name)):
            await delete_finished(storage, dst_job)
            return False
    return True


async def delete_finished(storage: Storage, job_id: str) -> int:
    return await storage.delete_prefix(job_prefix(job_id))
