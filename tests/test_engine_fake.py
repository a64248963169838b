"""The fake engine: PCM tones of 10 ms per character (and the stubs' valid MP3), cheap, with injectable failures."""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import miniaudio
import numpy as np
import pytest

from shared.config import Settings
from shared.engines import fake as fake_module
from shared.engines.base import AudioParams, EngineError, Speech
from shared.engines.fake import SAMPLE_RATE, FakeEngine, fake_mp3


def ffmpeg_errors(mp3: bytes, tmp_path: Path) -> str:
    """Everything ffmpeg reports at level error while decoding the whole file."""
    path = tmp_path / "x.mp3"
    path.write_bytes(mp3)
    run = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, check=False)
    return run.stderr + ("" if run.returncode == 0 else f"exit {run.returncode}")


def ffprobe_duration(mp3: bytes, tmp_path: Path) -> float:
    path = tmp_path / "d.mp3"
    path.write_bytes(mp3)
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return float(out)


def engine(**fields: object) -> FakeEngine:
    base: dict[str, object] = {"fake_engine": True, "fake_latency_ms": 0, "provider_backoff_base_s": 0.0}
    return FakeEngine(Settings(**{**base, **fields}))  # type: ignore[arg-type]


@pytest.mark.parametrize("chars", [10, 99, 400, 2500])
def test_duration_is_ten_ms_per_character(chars: int, tmp_path: Path) -> None:
    mp3 = fake_mp3("a" * chars, "fake-a")
    expected = chars / 100
    frame = 576 / 24000
    assert abs(ffprobe_duration(mp3, tmp_path) - expected) <= frame
    decoded = miniaudio.decode(mp3, nchannels=1, sample_rate=24000)
    assert abs(decoded.num_frames / 24000 - expected) <= frame


def test_every_tone_decodes_cleanly(tmp_path: Path) -> None:
    pieces = {fake_mp3(f"text number {i} " * 30, "fake-a") for i in range(24)}
    assert len(pieces) >= 3  # the bytes depend on the text, not only on its length
    for mp3 in pieces:
        assert ffmpeg_errors(mp3, tmp_path) == ""
    assert ffmpeg_errors(b"".join(sorted(pieces)), tmp_path) == ""  # pieces join by concatenation


def test_tiny_text_is_still_a_probeable_mp3(tmp_path: Path) -> None:
    mp3 = fake_mp3("a", "fake-a")
    assert ffmpeg_errors(mp3, tmp_path) == ""
    assert ffprobe_duration(mp3, tmp_path) > 0


@pytest.mark.parametrize("step", fake_module._TONE_STEPS)
def test_every_tone_is_probeable_from_its_shortest_piece(step: int, tmp_path: Path) -> None:
    mp3 = fake_module._tone(step).frames(fake_module._MIN_FRAMES)
    assert ffmpeg_errors(mp3, tmp_path) == ""
    assert ffprobe_duration(mp3, tmp_path) > 0


def test_the_two_voices_never_share_audio() -> None:
    texts = [f"text number {i}" for i in range(64)]
    assert all(fake_mp3(t, "fake-a") != fake_mp3(t, "fake-b") for t in texts)


async def test_deterministic_and_voice_sensitive() -> None:
    fake = engine()
    a = await fake.speak("Same text.", fake.params("fake-a"))
    b = await fake.speak("Same text.", fake.params("fake-a"))
    assert a == b and a.billed_chars == len("Same text.")
    others = {(await fake.speak(f"Same text {i}.", fake.params("fake-b"))).pcm for i in range(8)}
    assert len(others) > 1


@pytest.mark.parametrize(("chars", "speed"), [(10, 1.0), (400, 1.0), (400, 1.25), (99, 0.5)])
async def test_speech_is_ten_ms_per_character_over_the_speed(chars: int, speed: float) -> None:
    fake = engine()
    params = dataclasses.replace(fake.params(), speed=speed)
    speech = await fake.speak("a" * chars, params)
    assert speech.sample_rate == SAMPLE_RATE and speech.tempo == speed
    assert abs(len(speech.pcm) / 2 / SAMPLE_RATE - chars / 100 / speed) < 1 / SAMPLE_RATE


async def test_the_two_voices_sound_different() -> None:
    """Each voice's tone has its own pitch: the dominant frequencies never coincide."""
    fake = engine()

    async def pitch(text: str, voice: str) -> int:
        pcm = np.frombuffer((await fake.speak(text, fake.params(voice))).pcm, "<i2")
        return int(np.argmax(np.abs(np.fft.rfft(pcm))))

    texts = [f"text number {i}" for i in range(16)]
    a = {await pitch(t, "fake-a") for t in texts}
    b = {await pitch(t, "fake-b") for t in texts}
    assert a and b and not a & b


async def test_sleeps_the_configured_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def record(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(fake_module.asyncio, "sleep", record)
    fake = engine(fake_latency_ms=250)
    await fake.speak("Hello.", fake.params())
    assert slept == [0.25]


async def test_fail_rate_throttles_that_fraction_of_calls() -> None:
    fake = engine(fake_fail_rate=0.5, provider_max_tries=1)
    params = fake.params()
    failures = 0
    for i in range(400):
        try:
            await fake.speak(f"call {i}", params)
        except EngineError as exc:
            assert exc.retryable and exc.code == "throttled"
            failures += 1
    assert 0.35 < failures / 400 < 0.65


def count_calls(monkeypatch: pytest.MonkeyPatch, fake: FakeEngine) -> list[int]:
    """Count the raw provider calls (one per try) the engine makes; the list holds one number."""
    calls = [0]
    original = fake.call_once

    async def counted(text: str, params: AudioParams) -> Speech:
        calls[0] += 1
        return await original(text, params)

    monkeypatch.setattr(fake, "call_once", counted)
    return calls


async def test_throttled_calls_are_retried_and_every_try_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = engine(fake_fail_rate=0.5, provider_max_tries=30)
    calls = count_calls(monkeypatch, fake)
    params = fake.params()
    results = [await fake.speak(f"call {i}", params) for i in range(40)]
    assert all(r.pcm for r in results)
    assert calls[0] > 40
    assert sum(r.attempts for r in results) == calls[0]


async def test_always_failing_gives_up_as_throttled() -> None:
    fake = engine(fake_fail_rate=1.0, provider_max_tries=3)
    with pytest.raises(EngineError) as info:
        await fake.speak("x", fake.params())
    assert info.value.retryable and info.value.code == "throttled"
    assert "gave up after 3 tries" in str(info.value)


async def test_fail_hard_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = engine(fake_fail_hard=True, provider_max_tries=5)
    calls = count_calls(monkeypatch, fake)
    with pytest.raises(EngineError) as info:
        await fake.speak("x", fake.params())
    assert calls[0] == 1 == info.value.attempts
    assert not info.value.retryable and info.value.code == "provider_failed"


async def test_warm_builds_every_tone() -> None:
    fake_module._tone.cache_clear()
    await engine().warm()
    assert fake_module._tone.cache_info().currsize == len(fake_module._TONE_STEPS)
