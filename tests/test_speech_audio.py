"""The rendered audio itself, with real Piper and espeak: pauses that follow the document,
the same at chunk joins as inside a chunk, loudness at the target, speed that means what it says.

Pauses are measured by silence detection on the chunks' PCM joined as the finished file
joins them; loudness with pyloudnorm (integrated) and FFmpeg's ebur128 filter (true peak,
4x oversampled: an implementation independent of ours); durations by decoding the MP3.
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import statistics
import subprocess
import wave
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from shared.audio.decode import decode_to_pcm
from shared.audio.loudness import integrated_lufs
from shared.audio.render import RenderSettings, render_chunk
from shared.audio.rendered import RenderedChunk
from shared.config import Settings
from shared.engines.base import Engine
from shared.engines.espeak import EspeakEngine
from shared.engines.piper import PiperEngine
from shared.text import Sentence, clean_document, document_sentences, split_sentences

ARTICLE = """# Reading in the Age of Machines

Machines now read aloud. Dr. Lee tried 3 of them on Jan. 5. Some listeners love it.

Others find the voices flat. The pauses feel wrong to them.

## What listeners ask for

- Numbers like 42 read as words
- Pauses that follow the page
- An even loudness

A good reader breathes between paragraphs. It waits after a heading.
"""
NORMALISED = ["Doctor Lee tried three of them on January fifth.", "Numbers like forty-two read as words."]
LIMITS = {"target_chars": 40, "max_chars": 80, "first_chars": 30}  # several boundaries fall at joins
SILENCE_DB = -45.0  # a 5 ms frame this far under the chunk's loudest frame is silence
FRAME_S = 0.005
SEARCH_MS = 150  # silence is looked for this far around the gap the timings give


@dataclasses.dataclass
class Rendered:
    chunks: list[list[Sentence]]
    audio: list[RenderedChunk]

    def joined(self) -> np.ndarray:
        return np.concatenate([np.frombuffer(c.pcm, "<i2").astype(np.float64) / 32768 for c in self.audio])

    @property
    def rate(self) -> int:
        return self.audio[0].sample_rate


async def render_article(engine: Engine, text: str, fmt: str = "markdown", speed: float = 1.0,
                         limits: dict[str, int] | None = None) -> Rendered:
    sentences = document_sentences(clean_document(text, fmt))
    chunks = split_sentences(sentences, **(limits or LIMITS))
    params = dataclasses.replace(engine.params(), speed=speed)
    audio = [await render_chunk(engine, chunk, params, RenderSettings()) for chunk in chunks]
    return Rendered(chunks, audio)


def longest_silence_ms(samples: np.ndarray, rate: int, start_ms: float, end_ms: float, floor: float) -> float:
    frame = int(rate * FRAME_S)
    a, b = int(rate * start_ms / 1000), int(rate * end_ms / 1000)
    window = samples[max(0, a):b]
    n = window.size // frame
    rms = np.sqrt(np.mean(window[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-12
    best = run = 0
    for quiet in 20 * np.log10(rms / floor) < SILENCE_DB:
        run = run + 1 if quiet else 0
        best = max(best, run)
    return best * FRAME_S * 1000


def pauses(rendered: Rendered) -> list[tuple[str, bool, float]]:
    """(boundary, at a chunk join, measured silence in ms) for every gap between two sentences."""
    samples, rate = rendered.joined(), rendered.rate
    frame = int(rate * FRAME_S)
    n = samples.size // frame
    floor = float(np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1)).max())
    spans: list[tuple[float, float, Sentence, bool]] = []  # start, end (ms in the joined audio)
    offset = 0.0
    for chunk, audio in zip(rendered.chunks, rendered.audio, strict=True):
        for i, (sentence, timing) in enumerate(zip(chunk, audio.sentences, strict=True)):
            spans.append((offset + timing.start_ms, offset + timing.end_ms, sentence, i == len(chunk) - 1))
        offset += audio.duration_ms
    out = []
    for (_, end, sentence, last), (start, _, _, _) in itertools.pairwise(spans):
        silence = longest_silence_ms(samples, rate, end - SEARCH_MS, start + SEARCH_MS, floor)
        out.append((sentence.boundary, last, silence))
    return out


async def _render_and_close(engine: Engine) -> Rendered:
    try:
        return await render_article(engine, ARTICLE)
    finally:
        await engine.close()


@pytest.fixture(scope="module")
def piper_article() -> Rendered:
    """Rendered once for the module (CPU is shared)."""
    return asyncio.run(_render_and_close(PiperEngine(Settings())))


@pytest.fixture(scope="module")
def espeak_article() -> Rendered:
    return asyncio.run(_render_and_close(EspeakEngine(Settings())))


def test_the_article_has_boundaries_inside_chunks_and_at_joins(piper_article: Rendered) -> None:
    spoken = [s.spoken for chunk in piper_article.chunks for s in chunk]
    assert all(form in spoken for form in NORMALISED), spoken  # the engines speak the normalised text
    found = {(boundary, join) for boundary, join, _ in pauses(piper_article)}
    for boundary in ("sentence", "heading", "list_item"):
        assert {(boundary, False), (boundary, True)} <= found, boundary
    assert ("paragraph", True) in found


def test_pauses_follow_the_document_and_chunk_joins_sound_alike(piper_article: Rendered) -> None:
    by_kind: dict[str, list[float]] = defaultdict(list)
    by_place: dict[tuple[str, bool], list[float]] = defaultdict(list)
    for boundary, join, ms in pauses(piper_article):
        by_kind[boundary].append(ms)
        by_place[(boundary, join)].append(ms)
    median = {k: statistics.median(v) for k, v in by_kind.items()}
    print("\nmedian pauses (ms):", {k: round(v) for k, v in median.items()})
    assert median["paragraph"] >= 1.5 * median["sentence"]
    assert median["heading"] > median["paragraph"]
    assert abs(median["list_item"] - median["sentence"]) < 0.5 * median["sentence"]  # list items like sentences
    for boundary in by_kind:
        inside, joins = by_place.get((boundary, False)), by_place.get((boundary, True))
        if inside and joins:
            assert abs(statistics.median(joins) - statistics.median(inside)) <= 50, boundary


def ffmpeg_true_peak_dbtp(pcm: bytes, rate: int, tmp_path: Path) -> float:
    """FFmpeg's ebur128 true peak (4x oversampled), dBTP."""
    path = tmp_path / "chunk.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    run = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True, check=True)
    summary = run.stderr[run.stderr.rindex("Summary:"):]
    return float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf)", summary).group(1))


@pytest.mark.parametrize("name", ["piper", "espeak"])
def test_loudness_at_target_with_a_true_peak_ceiling(name: str, piper_article: Rendered, espeak_article: Rendered,
                                                       tmp_path: Path) -> None:
    rendered = piper_article if name == "piper" else espeak_article
    target = RenderSettings().loudness_lufs
    levels = []
    for chunk in rendered.audio:
        samples = np.frombuffer(chunk.pcm, "<i2").astype(np.float64) / 32768
        levels.append(integrated_lufs(samples, chunk.sample_rate))
        assert ffmpeg_true_peak_dbtp(chunk.pcm, chunk.sample_rate, tmp_path) <= -1.0
    print(f"\n{name}: chunk loudness {[round(x, 2) for x in levels]} LUFS")
    assert all(abs(level - target) <= 1.0 for level in levels)
    assert max(levels) - min(levels) <= 1.0
    whole = integrated_lufs(rendered.joined(), rendered.rate)
    assert abs(whole - target) <= 1.0


def test_engines_sit_within_one_lu_of_each_other(piper_article: Rendered, espeak_article: Rendered) -> None:
    piper = integrated_lufs(piper_article.joined(), piper_article.rate)
    espeak = integrated_lufs(espeak_article.joined(), espeak_article.rate)
    assert abs(piper - espeak) <= 1.0


SPEED_TEXT = "The friend of popular governments never finds himself so alarmed. He will not fail to act.\n\nA cure is found."


def decoded_seconds(rendered: Rendered) -> float:
    return sum(len(decode_to_pcm(c.mp3, c.sample_rate)) / 2 / c.sample_rate for c in rendered.audio)


@pytest.mark.parametrize("engine_class", [PiperEngine, EspeakEngine])
async def test_speed_means_what_it_says(engine_class: type[Engine]) -> None:
    engine = engine_class(Settings())
    limits = {"target_chars": 400, "max_chars": 500, "first_chars": 0}
    try:
        normal = await render_article(engine, SPEED_TEXT, "text", 1.0, limits)
        fast = await render_article(engine, SPEED_TEXT, "text", 1.25, limits)
    finally:
        await engine.close()
    ratio = decoded_seconds(fast) / decoded_seconds(normal)
    print(f"\n{engine.name}: speed 1.25 gives {ratio:.3f} of the duration (want {1 / 1.25:.3f})")
    assert abs(ratio * 1.25 - 1) <= 0.06
