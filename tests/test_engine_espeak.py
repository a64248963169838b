"""eSpeak NG: valid MP3, voices from the binary, deterministic output."""
from __future__ import annotations

import subprocess
from pathlib import Path

import miniaudio
import pytest

from shared.config import Settings
from shared.engines.base import UnknownVoice
from shared.engines.espeak import EspeakEngine, wav_to_pcm


def ffmpeg_errors(mp3: bytes, path: Path) -> str:
    """What ffmpeg reports at level error while decoding the whole file."""
    path.write_bytes(mp3)
    run = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, check=False)
    return run.stderr + ("" if run.returncode == 0 else f"exit {run.returncode}")


def test_voices_come_from_espeak() -> None:
    engine = EspeakEngine(Settings())
    ids = {v.id for v in engine.voices()}
    assert len(ids) > 50 and {"en-us", "de", "fr-fr"} <= ids
    assert engine.params("de").voice == "de"
    assert engine.params().engine_version.startswith("eSpeak NG")
    with pytest.raises(UnknownVoice):
        engine.params("klingon")


async def test_valid_deterministic_mp3(tmp_path: Path) -> None:
    engine = EspeakEngine(Settings())
    text = "<speak>Markup is read as text.</speak> Then a second sentence follows."
    first = await engine.synthesize(text, engine.params())
    second = await engine.synthesize(text, engine.params())
    assert first.audio == second.audio
    assert ffmpeg_errors(first.audio, tmp_path / "espeak.mp3") == ""
    seconds = miniaudio.decode(first.audio, nchannels=1, sample_rate=22050).num_frames / 22050
    assert 2 < seconds < 15
    other = await engine.synthesize(text, engine.params("de"))
    assert other.audio != first.audio


async def test_longest_chunk_works() -> None:
    engine = EspeakEngine(Settings())
    text = ("A sentence of ordinary words for the long chunk test. " * 60)[: engine.max_chars]
    result = await engine.synthesize(text, engine.params())
    seconds = miniaudio.decode(result.audio, nchannels=1, sample_rate=22050).num_frames / 22050
    assert seconds > 60


def test_wav_parsing_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        wav_to_pcm(b"not a wav at all")
