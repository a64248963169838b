"""The finished article through the live pipeline (espeak, real processes): captions against
the audio, one chapter per heading, and durations measured by decoding. The same checks
run on synthetic chunks in tests/test_finished.py.
"""
from __future__ import annotations

import itertools
import json
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import webvtt

from shared.text import clean_document, document_sentences
from tests.chunks import chunk_rendered
from tests.conftest import RedisServer, free_port
from tests.stack import Stack

pytestmark = pytest.mark.slow

ARTICLE = """# The First Part

The harbour was quiet that morning. Boats rested on the water, and gulls circled the masts.
Nobody spoke for a long while.

## A Second Part

Then the bell rang twice. Everyone turned towards the square, where a crowd had gathered.

## The Last Part

By noon the streets were empty again. The sea kept its own counsel, as it always had.
"""


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={"READOUT_DEFAULT_ENGINE": "espeak"})
    s.start(workers=1)
    yield s
    s.stop()


def _dbfs(x: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -200.0


async def test_captions_chapters_and_silences_match_the_audio(stack: Stack, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    async with http.post(f"{stack.url}/v1/jobs", json={"text": ARTICLE, "format": "markdown"}) as resp:
        job = await resp.json()
    async with http.get(stack.url + job["events_url"]) as resp:
        assert "event: done" in (await resp.text()).replace("\r\n", "\n")
    async with http.get(f"{stack.url}/v1/jobs/{job['id']}") as resp:
        done = await resp.json()
    files = {}
    for name in ("audio_url", "captions_url", "marks_url"):
        async with http.get(stack.url + done[name]) as resp:
            assert resp.status == 200, name
            files[name] = await resp.read()
    audio_path, vtt_path = tmp_path / "a.mp3", tmp_path / "c.vtt"
    audio_path.write_bytes(files["audio_url"])
    vtt_path.write_bytes(files["captions_url"])
    captions = webvtt.read(str(vtt_path)).captions
    marks = json.loads(files["marks_url"])
    assert len(captions) == len(marks["sentences"]) > 6 and marks["timing"] == "exact"
    chunks = [c for c in await chunk_rendered(stack, job["id"]) if c is not None]
    assert len(chunks) == done["chunks"]["total"] > 1
    rate = chunks[0].sample_rate
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(audio_path), "-f", "s16le", "-ac", "1", "-"],
                         capture_output=True, check=True).stdout
    decoded = len(pcm) // 2
    assert abs(decoded - sum(c.samples for c in chunks)) <= 1152  # one frame: priming and padding trimmed
    fmt = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_format", "-of", "json", str(audio_path)],
                                    capture_output=True, check=True, text=True).stdout)["format"]
    # ffmpeg 5.1: `duration` spans every frame, `start_time` is the trimmed priming (tests/test_finished.py)
    assert abs(float(fmt["duration"]) - float(fmt["start_time"]) - decoded / rate) <= 0.030
    assert abs(marks["duration_ms"] - 1000 * decoded / rate) <= 1000 * 1152 / rate
    audio = np.frombuffer(pcm, dtype=np.int16).astype(float) / 32768
    cues = marks["sentences"]
    # each cue is its sentence's speech as the renderer timed it, at its chunk's place in the file
    offset, expected = 0, []
    for chunk in chunks:
        expected += [(round(1000 * offset / rate + t.start_ms), round(1000 * offset / rate + t.end_ms)) for t in chunk.sentences]
        offset += chunk.samples
    assert [(c["start_ms"], c["end_ms"]) for c in cues] == expected
    assert all(c["start_ms"] < c["end_ms"] for c in cues)
    document = clean_document(ARTICLE, "markdown")  # text as written, its offsets, spoken form and chapter
    assert [(c["text"], c["spoken"], c["chapter"]) for c in cues] == [
        (s.text, s.spoken, s.chapter) for s in document_sentences(document)]
    assert all(document.text[c["start"]:c["end"]] == c["text"] for c in cues)
    bounds = [0] + [(a["end_ms"] + b["start_ms"]) // 2 for a, b in itertools.pairwise(cues)] + [len(audio) * 1000 // rate]
    for cue, low, high in zip(cues, bounds[:-1], bounds[1:], strict=True):  # the speech is where its cue says, within 50 ms
        span = np.abs(audio[rate * low // 1000: rate * high // 1000])
        loud = np.flatnonzero(span >= span.max() * 10 ** (-34 / 20))
        onset, offset = low + 1000 * loud[0] / rate, low + 1000 * (loud[-1] + 1) / rate
        assert abs(onset - cue["start_ms"]) <= 50 and abs(offset - cue["end_ms"]) <= 50, (cue["text"], onset, offset, cue)
    for before, after in itertools.pairwise(cues):
        gap = after["start_ms"] - before["end_ms"]
        if gap > 0:  # at the midpoint of every gap between cues the audio is silent
            middle, half = (before["end_ms"] + after["start_ms"]) / 2, min(10, gap / 4)
            window = audio[round(rate * (middle - half) / 1000): round(rate * (middle + half) / 1000) + 1]
            assert _dbfs(window) < -45, (before["text"], after["text"], _dbfs(window))
    headings = ["The First Part", "A Second Part", "The Last Part"]
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(audio_path)],
                                      capture_output=True, check=True, text=True).stdout)
    assert [c["tags"]["title"] for c in probe["chapters"]] == headings
    for number, (chapter, title) in enumerate(zip(probe["chapters"], headings, strict=True)):
        cue = next(c for c in cues if c["chapter"] == number)  # the heading itself opens its chapter
        assert cue["text"] == title + "."  # as cleaned: a Markdown block gets its full stop
        assert abs(float(chapter["start_time"]) * 1000 - cue["start_ms"]) <= 300
    assert [c["title"] for c in marks["chapters"]] == headings
