"""render_chunk with cheap engines: trimmed ends, the pause table, speed, loudness, exact timings."""
from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from shared.audio.decode import decode_to_pcm
from shared.audio.loudness import integrated_lufs, limit, normalize_loudness, true_peak_dbtp
from shared.audio.render import PauseTable, RenderSettings, Usage, render_chunk
from shared.config import Settings, load_settings
from shared.engines.base import AudioParams, Engine, EngineError, Speech, VoiceInfo
from shared.engines.fake import SAMPLE_RATE, FakeEngine
from shared.text import Sentence

RATE = SAMPLE_RATE


def unit(spoken: str, boundary: str = "sentence") -> Sentence:
    return Sentence(start=0, end=len(spoken), text=spoken, spoken=spoken, boundary=boundary, chapter=-1)  # type: ignore[arg-type]


class Padded(Engine):
    """A tone of 10 ms a character with `pad_s` of the engine's own silence on each side, at `level`.

    `tempo` 1.0: the engine has no speed control, the renderer time-stretches.
    """

    name = "padded"
    max_chars = 1000

    def __init__(self, pad_s: float = 0.0, level: float = 0.25, fail_on: str = "") -> None:
        self.pad_s, self.level, self.fail_on = pad_s, level, fail_on
        self.spoken: list[str] = []

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(id="v", name="V")]

    def default_voice(self) -> str:
        return "v"

    def params(self, voice: str | None = None, variant: str | None = None) -> AudioParams:
        return AudioParams(engine=self.name, engine_version="1", voice="v", sample_rate=RATE)

    async def speak(self, text: str, params: AudioParams) -> Speech:
        self.spoken.append(text)
        if text == self.fail_on:
            raise EngineError(self.name, "no", code="provider_failed")
        t = np.arange(int(len(text) * RATE / 100))
        tone = self.level * np.sin(2 * np.pi * 440 * t / RATE)
        pad = np.zeros(int(self.pad_s * RATE))
        pcm = (np.concatenate([pad, tone, pad]) * 32767).astype("<i2").tobytes()
        return Speech(pcm=pcm, sample_rate=RATE, billed_chars=len(text))


def gaps_ms(chunk) -> list[int]:
    return [b.start_ms - a.end_ms for a, b in zip(chunk.sentences, chunk.sentences[1:], strict=False)]


async def test_pauses_come_from_the_table_and_the_chunk_ends_with_its_last_pause() -> None:
    render = RenderSettings()
    sentences = [unit("A" * 50), unit("B" * 40, "paragraph"), unit("C" * 30, "heading"), unit("D" * 20, "end")]
    chunk = await render_chunk(Padded(), sentences, Padded().params(), render)
    table, kept = render.pauses, render.lead_ms + render.tail_ms
    # between two timings: the margin kept after the first, its pause, the margin before the next
    assert gaps_ms(chunk) == pytest.approx([table.sentence + kept, table.paragraph + kept, table.heading + kept], abs=1)
    last = chunk.sentences[-1]
    assert chunk.duration_ms - last.end_ms == pytest.approx(render.tail_ms + table.end, abs=1)
    # each timing spans exactly what the engine said (10 ms a character)
    assert [t.end_ms - t.start_ms for t in chunk.sentences] == pytest.approx([500, 400, 300, 200], abs=2)


async def test_a_join_sounds_like_the_same_boundary_inside_a_chunk() -> None:
    engine, render = Padded(), RenderSettings()
    one = await render_chunk(engine, [unit("A" * 50, "paragraph"), unit("B" * 40, "end")], engine.params(), render)
    first = await render_chunk(engine, [unit("A" * 50, "paragraph")], engine.params(), render)
    second = await render_chunk(engine, [unit("B" * 40, "end")], engine.params(), render)
    inside = one.sentences[1].start_ms - one.sentences[0].end_ms
    join = first.duration_ms - first.sentences[0].end_ms + second.sentences[0].start_ms
    assert join == pytest.approx(inside, abs=1)
    assert first.samples + second.samples == one.samples


async def test_soft_edges_of_the_engines_audio_are_kept_not_zeroed() -> None:
    """A quiet onset (under the speech threshold) within the kept margin stays audible."""

    class SoftOnset(Padded):
        async def speak(self, text: str, params: AudioParams) -> Speech:
            speech = await super().speak(text, params)
            t = np.arange(int(0.03 * RATE))
            breath = (0.004 * np.sin(2 * np.pi * 3000 * t / RATE) * 32767).astype("<i2").tobytes()
            return dataclasses.replace(speech, pcm=bytes(2 * RATE) + breath + speech.pcm)

    engine, render = SoftOnset(), RenderSettings()
    chunk = await render_chunk(engine, [unit("A" * 50, "end")], engine.params(), render)
    samples = np.frombuffer(chunk.pcm, "<i2")
    start = int(chunk.sentences[0].start_ms * RATE / 1000)
    onset = samples[start - int(0.03 * RATE):start]
    assert np.abs(onset[len(onset) // 2:]).max() > 50  # the soft sound before the speech is there
    assert chunk.sentences[0].start_ms == render.lead_ms  # and the second of silence before it is gone


async def test_the_engines_own_silence_is_trimmed_to_the_same_amount() -> None:
    render = RenderSettings()
    sentences = [unit("A" * 50), unit("B" * 40, "end")]
    tight = await render_chunk(Padded(0.0), sentences, Padded().params(), render)
    padded = await render_chunk(Padded(0.7), sentences, Padded().params(), render)
    assert padded.sentences == tight.sentences
    assert padded.samples == tight.samples


async def test_speed_scales_speech_and_pauses_by_time_stretching_when_the_engine_cannot() -> None:
    engine, render = Padded(), RenderSettings()
    sentences = [unit("A" * 200, "paragraph"), unit("B" * 150, "end")]
    normal = await render_chunk(engine, sentences, engine.params(), render)
    fast = await render_chunk(engine, sentences, dataclasses.replace(engine.params(), speed=1.25), render)
    slow = await render_chunk(engine, sentences, dataclasses.replace(engine.params(), speed=0.5), render)
    assert fast.duration_ms / normal.duration_ms == pytest.approx(1 / 1.25, rel=0.03)
    assert slow.duration_ms / normal.duration_ms == pytest.approx(2.0, rel=0.03)


async def test_an_engine_that_applies_the_speed_itself_is_not_stretched_again() -> None:
    fake = FakeEngine(Settings(fake_engine=True, fake_latency_ms=0))
    sentences = [unit("A" * 200, "end")]
    normal = await render_chunk(fake, sentences, fake.params(), RenderSettings())
    fast = await render_chunk(fake, sentences, dataclasses.replace(fake.params(), speed=2.0), RenderSettings())
    speech = [t.end_ms - t.start_ms for t in (normal.sentences[0], fast.sentences[0])]
    assert speech[1] == pytest.approx(speech[0] / 2, abs=2)


@pytest.mark.parametrize("level", [0.003, 0.05, 0.9])
async def test_quiet_and_loud_engines_come_out_at_the_target(level: float) -> None:
    engine = Padded(level=level)
    chunk = await render_chunk(engine, [unit("A" * 150), unit("B" * 100, "end")], engine.params(), RenderSettings())
    samples = np.frombuffer(chunk.pcm, "<i2") / 32768
    assert integrated_lufs(samples, RATE) == pytest.approx(-19.0, abs=0.5)
    assert true_peak_dbtp(samples) <= -1.0


async def test_the_mp3_is_the_pcm_encoded() -> None:
    engine = Padded()
    chunk = await render_chunk(engine, [unit("A" * 150, "end")], engine.params(), RenderSettings())
    decoded = decode_to_pcm(chunk.mp3, RATE)
    assert 0 <= len(decoded) / 2 - chunk.samples < 3 * 576  # the encoder adds at most a few frames


async def test_usage_counts_calls_and_billed_characters() -> None:
    fake = FakeEngine(Settings(fake_engine=True, fake_latency_ms=0))
    usage = Usage()
    await render_chunk(fake, [unit("Hello."), unit("There.", "end")], fake.params(), RenderSettings(), usage)
    assert (usage.calls, usage.attempts, usage.billed_chars) == (2, 2, len("Hello.There."))


async def test_a_failing_unit_fails_the_chunk_and_stops_the_others() -> None:
    engine = Padded(fail_on="bad")
    with pytest.raises(EngineError):
        await render_chunk(engine, [unit("bad"), *(unit(f"unit {i}") for i in range(20))], engine.params(),
                           RenderSettings())
    await asyncio.sleep(0)
    assert "bad" in engine.spoken


async def test_audio_that_cannot_be_assembled_is_an_engine_error() -> None:
    class MixedRates(Padded):
        async def speak(self, text: str, params: AudioParams) -> Speech:
            speech = await super().speak(text, params)
            return dataclasses.replace(speech, sample_rate=RATE if text == "a" else RATE // 2)

    engine = MixedRates()
    with pytest.raises(EngineError) as info:
        await render_chunk(engine, [unit("a"), unit("b")], engine.params(), RenderSettings())
    assert info.value.code == "provider_failed" and "sample rates" in str(info.value)


def test_pause_table_overrides() -> None:
    assert RenderSettings.from_settings(load_settings({})) == RenderSettings()
    custom = RenderSettings.from_settings(load_settings({"READOUT_PAUSES": "sentence=300, paragraph=900",
                                                         "READOUT_LOUDNESS_LUFS": "-16"}))
    assert custom.pauses == PauseTable(sentence=300, paragraph=900) and custom.loudness_lufs == -16
    for bad in ("sentence", "nope=1", "sentence=-1", "sentence=fast"):
        with pytest.raises(ValueError):
            load_settings({"READOUT_PAUSES": bad})
    defaults = PauseTable()
    assert defaults.paragraph >= 1.5 * defaults.sentence and defaults.heading > defaults.paragraph


def test_the_limiter_reduces_gain_smoothly_instead_of_clipping() -> None:
    t = np.arange(RATE)
    x = 0.3 * np.sin(2 * np.pi * 220 * t / RATE)
    x[RATE // 2 - 20:RATE // 2 + 20] *= 6  # a burst far over the ceiling
    y = limit(x, RATE, -1.0)
    assert true_peak_dbtp(y) <= -1.0
    gain = np.divide(y, x, out=np.ones_like(x), where=np.abs(x) > 1e-3)
    assert np.max(np.abs(np.diff(gain[np.abs(x) > 1e-3]))) < 0.2  # no step in the gain: no clicks
    assert np.allclose(y[: RATE // 4], x[: RATE // 4])  # far from the burst nothing changes
    clipped = np.clip(x, -0.89, 0.89)
    assert true_peak_dbtp(clipped) > true_peak_dbtp(y)  # clipping would not even hold the ceiling


def test_silence_is_left_alone() -> None:
    assert np.array_equal(normalize_loudness(np.zeros(RATE), RATE, -19.0, -1.0), np.zeros(RATE))
