"""The finished-file writer against synthetic chunks: real PCM (tones with pauses), both backends.

Measured on the audio: ffprobe's duration against a full decode, the decoded length against
the PCM that went in, chapters against the heading cues, silence in every gap between cues.
"""
from __future__ import annotations

import itertools
import json
import math
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import webvtt
from mutagen.id3 import ID3
from mutagen.mp3 import MP3

from shared.audio.encode import pcm_to_mp3
from shared.audio.rendered import RenderedChunk, SentenceTiming
from shared.config import load_settings
from shared.store import Storage, open_storage
from shared.store.finished import AUDIO, MARKS, SRT, VTT, file_key, write_finished
from shared.text.document import Sentence

RATE = 22050
PAUSE_MS = 400


def synthetic_article(chunks: int = 3, per_chunk: int = 4, headings: tuple[int, ...] = (0, 5)) -> tuple[list[RenderedChunk], list[list[Sentence]], list[str]]:
    """Chunks of tone 'sentences' (each a different pitch and length) separated by silent pauses.

    Sentence numbers in `headings` are headings: each opens a chapter.
    """
    rendered, outline, titles = [], [], []
    number, offset, chapter = 0, 0, -1
    for _ in range(chunks):
        pcm = np.zeros(0, dtype=np.int16)
        timings, sentences = [], []
        for _ in range(per_chunk):
            ms = 350 + 97 * (number % 5)
            n = RATE * ms // 1000
            t = np.arange(n) / RATE
            tone = (9000 * np.sin(2 * math.pi * (220 + 40 * number) * t) * np.hanning(n)).astype(np.int16)
            start_ms = round(1000 * len(pcm) / RATE)
            pcm = np.concatenate([pcm, tone])
            timings.append(SentenceTiming(start_ms, round(1000 * len(pcm) / RATE)))
            pcm = np.concatenate([pcm, np.zeros(RATE * PAUSE_MS // 1000, dtype=np.int16)])
            if number in headings:
                chapter += 1
                titles.append(f"Part {chapter + 1}" + " of the story" * (chapter == 0))  # longest first: frames keep chapter order
                text = titles[-1]
            else:
                text = f"Sentence {number} says 3 & <more>."
            sentences.append(Sentence(offset, offset + len(text), text, text.replace("3", "three"),
                                      "heading" if number in headings else "sentence", chapter))
            offset += len(text) + 1
            number += 1
        raw = pcm.tobytes()
        rendered.append(RenderedChunk(mp3=pcm_to_mp3(raw, RATE), pcm=raw, sample_rate=RATE, sentences=tuple(timings)))
        outline.append(sentences)
    return rendered, outline, titles


@pytest.fixture
async def store(storage_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Storage]:
    storage = open_storage(load_settings({**storage_env, "READOUT_DATA_DIR": str(tmp_path)}))
    yield storage
    await storage.close()


def decode(path: Path) -> np.ndarray:
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "pipe:1"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype=np.int16)


def probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-of", "json", str(path)],
                         capture_output=True, check=True, text=True).stdout
    return json.loads(out)


async def written(store: Storage, tmp_path: Path, chunks, outline, titles, **meta) -> tuple[Path, dict]:
    async def load(i: int) -> RenderedChunk:
        return chunks[i]

    info = await write_finished(store, "f" * 32, load=load, sentences=outline, chapter_titles=titles, **meta)
    path = tmp_path / "audio.mp3"
    path.write_bytes(await store.get(file_key("f" * 32, AUDIO)))
    assert info.audio_bytes == path.stat().st_size
    return path, info


async def test_duration_is_exact(store: Storage, tmp_path: Path) -> None:
    chunks, outline, titles = synthetic_article()
    path, info = await written(store, tmp_path, chunks, outline, titles)
    pcm_total = sum(c.samples for c in chunks)
    decoded = decode(path)
    assert abs(len(decoded) - pcm_total) <= 1152, (len(decoded), pcm_total)
    # ffmpeg 5.1 reports the span of every frame as `duration` and the trimmed priming as
    # `start_time` (its own libmp3lame files read 57 ms long per 10 s at 22 kHz): the audio
    # it plays is duration - start_time, which must match the decode
    fmt = probe(path)["format"]
    probed = float(fmt["duration"]) - float(fmt["start_time"])
    assert abs(probed - len(decoded) / RATE) <= 0.030, (probed, len(decoded) / RATE)
    assert abs(MP3(path).info.length - pcm_total / RATE) <= 0.001  # mutagen trims delay and padding too
    assert info.samples == pcm_total and info.duration_ms == round(1000 * pcm_total / RATE)
    # the decoded signal lines up with the input: the priming delay is trimmed, not left in
    reference = np.concatenate([np.frombuffer(c.pcm, dtype=np.int16) for c in chunks]).astype(float)
    n = min(len(reference), len(decoded))
    lag = max(range(-200, 201), key=lambda d: float(np.dot(reference[max(0, d):n + min(0, d)], decoded[max(0, -d):n - max(0, d)])))
    assert abs(lag) <= 5


async def test_tag_title_author_and_chapters(store: Storage, tmp_path: Path) -> None:
    chunks, outline, titles = synthetic_article()
    path, info = await written(store, tmp_path, chunks, outline, titles, author="A. Writer")
    tag = ID3(path)
    assert tag.version == (2, 4, 0)
    assert str(tag["TIT2"]) == "Part 1 of the story" and str(tag["TPE1"]) == "A. Writer"  # the first heading
    assert int(str(tag["TLEN"])) == info.duration_ms
    marks = json.loads(await store.get(file_key("f" * 32, MARKS)))
    heading_cues = [s for s in marks["sentences"] if s["text"] in titles]
    chapters = probe(path)["chapters"]
    assert [c["tags"]["title"] for c in chapters] == titles
    for chapter, cue in zip(chapters, heading_cues, strict=True):
        assert abs(float(chapter["start_time"]) * 1000 - cue["start_ms"]) <= 300
    assert [c["title"] for c in marks["chapters"]] == titles


async def test_title_is_the_job_title_then_the_first_heading_then_the_first_words(store: Storage, tmp_path: Path) -> None:
    chunks, outline, titles = synthetic_article()
    path, info = await written(store, tmp_path, chunks, outline, titles, title="The Page's Own Title.")
    assert info.title == str(ID3(path)["TIT2"]) == "The Page's Own Title."  # a URL job's, as the page gives it
    assert [c["tags"]["title"] for c in probe(path)["chapters"]] == titles
    chunks, outline, _ = synthetic_article(chunks=1, headings=())
    path, info = await written(store, tmp_path, chunks, outline, [], title="From the URL")
    assert info.title == "From the URL" and str(ID3(path)["TIT2"]) == "From the URL"
    assert "CTOC:toc" not in ID3(path) and probe(path)["chapters"] == []
    path, info = await written(store, tmp_path, chunks, outline, [])
    assert info.title.startswith("Sentence 0 says 3") and "TPE1" not in ID3(path)


async def test_captions_match_the_audio(store: Storage, tmp_path: Path) -> None:
    chunks, outline, titles = synthetic_article()
    path, _ = await written(store, tmp_path, chunks, outline, titles)
    vtt_text = (await store.get(file_key("f" * 32, VTT))).decode()
    vtt = webvtt.from_string(vtt_text)
    flat = [s for chunk in outline for s in chunk]
    assert len(vtt.captions) == len(flat)
    assert "3 &amp; &lt;more&gt;." in vtt_text  # cue text escaped, as written (not the spoken form)
    srt_bytes = await store.get(file_key("f" * 32, SRT))
    srt = webvtt.from_srt(_save(tmp_path / "c.srt", srt_bytes))
    assert [c.start for c in srt.captions] == [c.start for c in vtt.captions]
    assert "\nSentence 1 says 3 & <more>.\n" in srt_bytes.decode()  # SRT is plain text
    audio = decode(path).astype(float) / 32768
    marks = json.loads(await store.get(file_key("f" * 32, MARKS)))
    assert marks["timing"] == "exact"
    cues = marks["sentences"]
    assert [(c["text"], c["spoken"], c["start"], c["end"], c["chapter"]) for c in cues] == [
        (s.text, s.spoken, s.start, s.end, s.chapter) for s in flat]
    for cue, caption in zip(cues, vtt.captions, strict=True):
        assert abs(_ms(caption.start) - cue["start_ms"]) <= 1 and abs(_ms(caption.end) - cue["end_ms"]) <= 1
        # speech is where the cue says: loud inside, within 50 ms at the edges
        inside = audio[RATE * (cue["start_ms"] + 50) // 1000: RATE * (cue["end_ms"] - 50) // 1000]
        assert _dbfs(inside) > -30
        onset = _first_loud(audio, cue["start_ms"] - 100, cue["end_ms"])
        assert abs(onset - cue["start_ms"]) <= 50, (onset, cue["start_ms"])
    for before, after in itertools.pairwise(cues):
        middle = (before["end_ms"] + after["start_ms"]) // 2
        window = audio[RATE * (middle - 10) // 1000: RATE * (middle + 10) // 1000]
        assert _dbfs(window) < -45, (middle, _dbfs(window))


async def test_second_run_leaves_the_same_files(store: Storage, tmp_path: Path) -> None:
    chunks, outline, titles = synthetic_article(chunks=2)
    first, _ = await written(store, tmp_path, chunks, outline, titles)
    before = first.read_bytes()
    second, _ = await written(store, tmp_path, chunks, outline, titles)
    assert second.read_bytes() == before


def _save(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _ms(clock: str) -> int:
    h, m, s = clock.split(":")
    return round((int(h) * 3600 + int(m) * 60 + float(s)) * 1000)


def _dbfs(x: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -200.0


def _first_loud(audio: np.ndarray, from_ms: int, to_ms: int, step_ms: int = 5) -> int:
    """Start of the first 10 ms window above -40 dBFS in [from_ms, to_ms)."""
    for ms in range(max(0, from_ms), to_ms, step_ms):
        if _dbfs(audio[RATE * ms // 1000: RATE * (ms + 10) // 1000]) > -40:
            return ms
    return to_ms
