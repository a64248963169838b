"""eSpeak NG: PCM of one unit, voices from the binary, deterministic output, speed through -s."""
from __future__ import annotations

import dataclasses

import pytest

from shared.config import Settings
from shared.engines.base import UnknownVoice
from shared.engines.espeak import EspeakEngine, wav_to_pcm


def test_voices_come_from_espeak() -> None:
    engine = EspeakEngine(Settings())
    ids = {v.id for v in engine.voices()}
    assert len(ids) > 50 and {"en-us", "de", "fr-fr"} <= ids
    assert engine.params("de").voice == "de"
    assert engine.params().engine_version.startswith("eSpeak NG")
    with pytest.raises(UnknownVoice):
        engine.params("klingon")


async def test_deterministic_pcm_of_plausible_length() -> None:
    engine = EspeakEngine(Settings())
    text = "<speak>Markup is read as text.</speak>"
    first = await engine.speak(text, engine.params())
    second = await engine.speak(text, engine.params())
    assert first == second and first.sample_rate == 22050
    seconds = len(first.pcm) / 2 / 22050
    assert 1.5 < seconds < 8  # the tags are spoken too
    other = await engine.speak(text, engine.params("de"))
    assert other.pcm != first.pcm


async def test_speed_shortens_the_speech() -> None:
    engine = EspeakEngine(Settings())
    text = "A sentence of ordinary words, spoken at two different rates."
    normal = await engine.speak(text, engine.params())
    fast = await engine.speak(text, dataclasses.replace(engine.params(), speed=1.5))
    assert fast.tempo == pytest.approx(1.5, abs=0.01)
    assert 0.55 < len(fast.pcm) / len(normal.pcm) < 0.8


async def test_longest_unit_works() -> None:
    engine = EspeakEngine(Settings())
    text = ("A sentence of ordinary words for the long unit test, " * 60)[: engine.max_chars]
    result = await engine.speak(text, engine.params())
    assert len(result.pcm) / 2 / 22050 > 60


def test_wav_parsing_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        wav_to_pcm(b"not a wav at all")
