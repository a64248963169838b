"""One chunk's sentences -> its `RenderedChunk`: speech, the pauses the document asks for,
the job's speed and the target loudness, the same steps for every engine.

For each sentence (spoken concurrently, at most `engine.parallel` at a time):
1. the engine's own silence at both ends is cut to the same amount: speech is where the
   signal rises above -34 dB under the sentence's peak, and exactly `lead_ms` before it and
   `tail_ms` after it are kept (the engine's own audio there: a soft "h" or the decay of the
   last sound, with a 5 ms fade where the cut falls; zeros where the engine left less), so
   pauses mean the same whatever the engine. Measured on Piper: 30-90 ms of its own silence
   before its speech and 110-240 ms after;
2. the part of the speed the engine could not reach itself (`speed / Speech.tempo`) is made
   up by time-stretching the unit (`shared.audio.tempo`);
3. the pause its boundary is owed follows it (`PauseTable`, divided by the speed). The last
   sentence of a chunk gets its pause too, so a chunk join sounds exactly like the same
   boundary inside a chunk.
Then the chunk is brought to the target loudness with a true-peak ceiling
(`shared.audio.loudness`), quantised to int16 once and encoded to MP3. Sentence timings come
from the sample counts, so they are exact: from the first to the last audible sample of
each unit (the kept margins and the pause lie between two timings).
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import av
import numpy as np

from shared.audio.encode import pcm_to_mp3
from shared.audio.loudness import normalize_loudness
from shared.audio.rendered import RenderedChunk, SentenceTiming
from shared.audio.tempo import time_stretch
from shared.config import Settings
from shared.engines.base import AudioParams, Engine, EngineError, Speech
from shared.text.document import Boundary, Sentence
from shared.text.normalize import version as normalizer_version

_SPEECH_THRESHOLD_DB = -34.0
_FADE_MS = 5.0
_DEFAULT_BITRATE_KBPS = 64  # for engines that leave it to the provider (bitrate_kbps 0)


@dataclass(frozen=True)
class PauseTable:
    """Silence after a sentence, in ms at speed 1.0, by the boundary that follows it."""

    clause: int = 100  # between the pieces of an over-long sentence
    sentence: int = 300
    list_item: int = 350  # like a sentence, a touch longer
    paragraph: int = 700  # clearly longer than a sentence (>= 1.5x)
    heading: int = 950  # after a heading: longer than a paragraph
    end: int = 1200  # the article's closing pause

    def after(self, boundary: Boundary) -> int:
        return int(getattr(self, boundary))


@dataclass(frozen=True)
class RenderSettings:
    """Everything besides the engine and its params that shapes a chunk's audio.

    All of it is part of the chunk cache identity (`shared.store.cache.cache_key`).
    """

    pauses: PauseTable = PauseTable()
    loudness_lufs: float = -19.0
    peak_dbtp: float = -1.0
    lead_ms: int = 40
    tail_ms: int = 80
    normalizer: str = field(default_factory=normalizer_version)

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderSettings:
        return cls(pauses=PauseTable(**dict(settings.pauses)), loudness_lufs=settings.loudness_lufs)


@dataclass
class Usage:
    """What the provider calls of one render cost (for the stats)."""

    calls: int = 0
    attempts: int = 0
    billed_chars: int = 0


async def render_chunk(
    engine: Engine, sentences: Sequence[Sentence], params: AudioParams, settings: RenderSettings,
    usage: Usage | None = None,
) -> RenderedChunk:
    """Speak every sentence and assemble the chunk (see the module docstring)."""
    gate = asyncio.Semaphore(max(1, engine.parallel))
    usage = usage if usage is not None else Usage()

    async def speak(sentence: Sentence) -> Speech:
        async with gate:
            try:
                speech = await engine.speak(sentence.spoken, params)
            except EngineError as exc:
                usage.attempts += exc.attempts
                raise
            usage.calls += 1
            usage.attempts += speech.attempts
            usage.billed_chars += speech.billed_chars
            return speech

    tasks = [asyncio.ensure_future(speak(s)) for s in sentences]
    try:
        speeches = await asyncio.gather(*tasks)
    except BaseException:  # the first failure is the chunk's; the other units are not needed any more
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    try:
        return await asyncio.to_thread(assemble, speeches, [s.boundary for s in sentences], params, settings)
    except (ValueError, av.FFmpegError) as exc:  # audio the engine returned that cannot be assembled
        raise EngineError(engine.name, f"its audio could not be rendered: {exc}", code="provider_failed") from exc


def assemble(speeches: Sequence[Speech], boundaries: Sequence[Boundary], params: AudioParams,
             settings: RenderSettings) -> RenderedChunk:
    """The chunk from its sentences' speech: trim, stretch, pause, loudness, encode."""
    rates = {s.sample_rate for s in speeches}
    if len(rates) != 1:
        raise ValueError(f"one chunk's units came at different sample rates: {sorted(rates)}")
    rate = rates.pop()
    speed = params.speed
    lead, tail = int(rate * settings.lead_ms / 1000), int(rate * settings.tail_ms / 1000)
    pieces: list[np.ndarray] = []
    timings: list[SentenceTiming] = []
    at = 0
    for speech, boundary in zip(speeches, boundaries, strict=True):
        factor = speed / speech.tempo
        unit = time_stretch(speech_unit(speech, lead, tail), rate, factor)
        before, after = round(lead / factor), round(tail / factor)
        start, end = at + min(before, unit.size), at + max(unit.size - after, min(before, unit.size))
        timings.append(SentenceTiming(round(1000 * start / rate), round(1000 * end / rate)))
        pause = np.zeros(int(rate * settings.pauses.after(boundary) / 1000 / speed), np.float32)
        pieces += [unit, pause]
        at += unit.size + pause.size
    signal = np.concatenate(pieces)
    signal = normalize_loudness(signal, rate, settings.loudness_lufs, settings.peak_dbtp)
    pcm = np.clip(np.round(signal * 32767.0), -32768, 32767).astype("<i2").tobytes()
    return RenderedChunk(mp3=pcm_to_mp3(pcm, rate, params.bitrate_kbps or _DEFAULT_BITRATE_KBPS), pcm=pcm, sample_rate=rate,
                         sentences=tuple(timings))


def speech_core(speech: Speech) -> np.ndarray:
    """The unit's samples (float, full scale 1.0) from its first to its last audible one."""
    x = _samples(speech)
    first, last = _audible(x)
    return x[first:last]


def speech_unit(speech: Speech, lead: int, tail: int) -> np.ndarray:
    """The audible part with exactly `lead` samples before it and `tail` after (see step 1)."""
    x = _samples(speech)
    first, last = _audible(x)
    if first == last:
        return np.zeros(lead + tail, np.float32)
    start, end = first - lead, last + tail
    unit = x[max(0, start):min(x.size, end)].copy()
    fade = min(int(_FADE_MS * speech.sample_rate / 1000), unit.size // 2)
    if start > 0 and fade:
        unit[:fade] *= np.linspace(0.0, 1.0, fade, dtype=np.float32)
    if end < x.size and fade:
        unit[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return np.concatenate([np.zeros(max(0, -start), np.float32), unit, np.zeros(max(0, end - x.size), np.float32)])


def _samples(speech: Speech) -> np.ndarray:
    return np.frombuffer(speech.pcm, dtype="<i2").astype(np.float32) / 32768.0


def _audible(x: np.ndarray) -> tuple[int, int]:
    """[first, last) of the samples above the speech threshold; (0, 0) for silence."""
    level = np.abs(x)
    peak = float(level.max(initial=0.0))
    if peak == 0.0:
        return 0, 0
    loud = np.flatnonzero(level >= peak * 10 ** (_SPEECH_THRESHOLD_DB / 20))
    return int(loud[0]), int(loud[-1]) + 1
