"""Piper: deterministic, valid MP3 of plausible length, off the event loop."""
from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import miniaudio
import pytest

from shared.config import Settings
from shared.engines import piper as piper_module
from shared.engines.base import UnknownVoice
from shared.engines.piper import PiperEngine

PROBE_S = 0.01  # how often the responsiveness probe ticks

SENTENCES = "The quick brown fox jumps over the lazy dog. Then it ran home before the rain began."


def ffmpeg_errors(mp3: bytes, path: Path) -> str:
    """What ffmpeg reports at level error while decoding the whole file."""
    path.write_bytes(mp3)
    run = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, check=False)
    return run.stderr + ("" if run.returncode == 0 else f"exit {run.returncode}")


@pytest.fixture
async def piper() -> AsyncIterator[PiperEngine]:
    engine = PiperEngine(Settings())
    yield engine
    await engine.close()


def test_voice_and_identity(piper: PiperEngine) -> None:
    params = piper.params()
    assert params.voice == "en_US-joe-medium" == piper.default_voice()
    assert [v.id for v in piper.voices()] == ["en_US-joe-medium"]
    assert params.engine_version.startswith("piper-tts 1.8.0; en_US-joe-medium sha256:")
    assert params.sample_rate == 22050
    with pytest.raises(UnknownVoice):
        piper.params("en_US-lessac-high")


async def test_same_text_same_bytes_even_after_reload(piper: PiperEngine) -> None:
    params = piper.params()
    first = await piper.synthesize(SENTENCES, params)
    second = await piper.synthesize(SENTENCES, params)
    await piper.close()  # drops the pool and the loaded model
    third = await piper.synthesize(SENTENCES, params)
    assert first.audio == second.audio == third.audio
    assert first.billed_chars == 0  # local: nothing billed
    assert (await piper.synthesize("Something else entirely.", params)).audio != first.audio


async def test_process_pool_gives_the_same_bytes(piper: PiperEngine) -> None:
    in_thread = await piper.synthesize(SENTENCES, piper.params())
    pooled = PiperEngine(Settings(piper_processes=2))
    try:
        in_process = await pooled.synthesize(SENTENCES, pooled.params())
    finally:
        await pooled.close()
    assert in_process.audio == in_thread.audio


async def test_valid_mp3_with_plausible_duration(piper: PiperEngine, tmp_path: Path) -> None:
    mp3 = (await piper.synthesize(SENTENCES, piper.params())).audio
    assert ffmpeg_errors(mp3, tmp_path / "piper.mp3") == ""
    assert not mp3.startswith(b"ID3")  # bare frames: pieces join by concatenation
    decoded = miniaudio.decode(mp3, nchannels=1, sample_rate=22050)
    seconds = decoded.num_frames / 22050
    words = len(SENTENCES.split())
    assert words / 5 < seconds < words / 1.5  # speech runs at 1.5 to 5 words a second
    peak = max(abs(s) for s in decoded.samples)
    assert peak > 8000  # speech, not silence


async def test_phoneme_syntax_in_text_is_not_interpreted(piper: PiperEngine) -> None:
    params = piper.params()
    raw = await piper.synthesize("Say [[ hh ]] now.", params)
    spaced = await piper.synthesize("Say [ [ hh ] ] now.", params)
    assert raw.audio == spaced.audio


async def test_event_loop_keeps_running_during_synthesis(piper: PiperEngine) -> None:
    params = piper.params()
    await piper.synthesize("Load the model first.", params)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(PROBE_S)  # a probe of loop responsiveness, not synchronisation

    probe = asyncio.create_task(ticker())
    await piper.synthesize(SENTENCES * 4, params)  # a few seconds of CPU work
    done.set()
    await probe
    assert ticks >= 10


async def test_warm_loads_the_model_once(piper: PiperEngine) -> None:
    piper_module._load_voice.cache_clear()
    await piper.warm()
    assert piper_module._load_voice.cache_info().currsize == 1
    await piper.synthesize("Hello.", piper.params())
    assert piper_module._load_voice.cache_info().misses == 1
