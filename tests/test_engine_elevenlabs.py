"""ElevenLabsEngine against the local ElevenLabs stub."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.config import Settings
from shared.engines.base import EngineError, UnknownVoice
from shared.engines.elevenlabs import ElevenLabsEngine
from tests.elevenlabs_stub import API_KEY, ElevenLabsStub


@pytest.fixture
async def stub() -> AsyncIterator[ElevenLabsStub]:
    async with ElevenLabsStub() as server:
        yield server


def make_engine(stub: ElevenLabsStub, key: str = API_KEY, tries: int = 4) -> ElevenLabsEngine:
    return ElevenLabsEngine(Settings(
        elevenlabs_api_key=key, elevenlabs_url=stub.url, elevenlabs_model="eleven_test_v1",
        provider_max_tries=tries, provider_backoff_base_s=0.001,
    ))


async def test_success(stub: ElevenLabsStub) -> None:
    engine = make_engine(stub)
    params = engine.params("Rachel")
    result = await engine.speak("Good morning, listeners.", params)
    await engine.close()
    assert stub.requests == [{
        "voice": "21m00Tcm4TlvDq8ikWAM", "query": {"output_format": "mp3_44100_64"},
        "text": "Good morning, listeners.", "model_id": "eleven_test_v1",
    }]
    assert result.billed_chars == len("Good morning, listeners.")
    # the stub's MP3 (10 ms a character, at 24 kHz) decoded and resampled to the engine's 44.1 kHz
    assert result.sample_rate == 44_100 and result.tempo == 1.0
    assert abs(len(result.pcm) / 2 / 44_100 - len("Good morning, listeners.") / 100) < 0.06


async def test_429_is_retried(stub: ElevenLabsStub) -> None:
    stub.fail_next.extend([429, 429, 503])
    engine = make_engine(stub)
    await engine.speak("Hello.", engine.params())
    await engine.close()
    assert len(stub.requests) == 4


async def test_429_gives_up_after_max_tries(stub: ElevenLabsStub) -> None:
    stub.fail_next.extend([429] * 5)
    engine = make_engine(stub, tries=2)
    with pytest.raises(EngineError) as info:
        await engine.speak("Hello.", engine.params())
    await engine.close()
    assert len(stub.requests) == 2
    assert info.value.retryable and info.value.code == "throttled"


async def test_401_fails_at_once(stub: ElevenLabsStub) -> None:
    engine = make_engine(stub, key="wrong")
    with pytest.raises(EngineError) as info:
        await engine.speak("Hello.", engine.params())
    await engine.close()
    assert len(stub.requests) == 1
    assert not info.value.retryable and info.value.code == "auth_failed"
    assert "API key rejected: HTTP 401: Invalid API key" in str(info.value)


async def test_unreachable_server_is_retryable() -> None:
    async with ElevenLabsStub() as stub:
        url = stub.url
    engine = ElevenLabsEngine(Settings(elevenlabs_api_key=API_KEY, elevenlabs_url=url,
                                       provider_max_tries=2, provider_backoff_base_s=0.001))
    with pytest.raises(EngineError) as info:
        await engine.speak("Hello.", engine.params())
    await engine.close()
    assert info.value.retryable and info.value.code == "provider_unavailable"


def test_params_carry_model_and_validate_voice() -> None:
    engine = ElevenLabsEngine(Settings(elevenlabs_api_key="k", elevenlabs_model="m1"))
    assert dict(engine.params().extra) == {"model_id": "m1"}
    other = ElevenLabsEngine(Settings(elevenlabs_api_key="k", elevenlabs_model="m2"))
    assert other.params() != engine.params()
    assert engine.params("Adam").voice == "pNInz6obpgDQGcFmaJgB"
    assert engine.params("abcdefghij0123456789").voice == "abcdefghij0123456789"  # a cloned voice
    with pytest.raises(UnknownVoice):
        engine.params("no such voice")
