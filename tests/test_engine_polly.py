"""PollyEngine through the real aiobotocore client against the local Polly stub."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
import pytest
import redis.asyncio as aioredis

from shared import stats
from shared.audio.decode import decode_to_pcm
from shared.config import Settings
from shared.engines.base import EngineError, UnknownVoice
from shared.engines.polly import PollyEngine
from shared.store.cache import ChunkCache
from shared.store.files import DirectoryStorage
from shared.synthesis import get_or_synthesize
from tests.polly_stub import ACCESS_KEY, PollyStub, speak_ssml
from tests.test_herd import chunk_of


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Fake credentials, and nothing read from ~/.aws or the instance metadata service."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
async def stub() -> AsyncIterator[PollyStub]:
    async with PollyStub() as server:
        yield server


def make_engine(stub: PollyStub, **overrides: object) -> PollyEngine:
    fields: dict[str, object] = {
        "polly_enabled": True, "polly_region": "us-east-1", "polly_endpoint_url": stub.url,
        "provider_max_tries": 5, "provider_backoff_base_s": 0.001, **overrides,
    }
    return PollyEngine(Settings(**fields))  # type: ignore[arg-type]


async def test_success_sends_plain_text_and_reads_billed_chars(stub: PollyStub) -> None:
    engine = make_engine(stub)
    params = engine.params("Matthew", "standard")
    text = "Hello from Readout. " * 20
    result = await engine.speak(text, params)
    await engine.close()
    assert len(stub.requests) == 1
    request = stub.requests[0]
    assert request == {
        "Text": text, "TextType": "text", "VoiceId": "Matthew", "Engine": "standard",
        "OutputFormat": "mp3", "SampleRate": "24000",
    }
    assert result.billed_chars == len(text)
    assert result.sample_rate == 24000
    assert abs(len(result.pcm) / 2 / 24000 - len(text) / 100) < 0.1  # the stub's 10 ms a character, decoded


def longest_silence_s(pcm: bytes, sample_rate: int) -> float:
    """The longest run of digital silence in the PCM."""
    quiet = np.frombuffer(pcm, "<i2") == 0
    best = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        best = max(best, run)
    return best / sample_rate


ARTICLE_SSML = 'Wait <break time="10s"/> & see, <prosody rate="20%">"slowly"</prosody>.'


async def test_speed_wraps_escaped_text_in_prosody_and_markup_is_read(stub: PollyStub) -> None:
    engine = make_engine(stub)
    params = replace(engine.params(), speed=1.25)
    result = await engine.speak(ARTICLE_SSML, params)
    await engine.close()
    request = stub.requests[0]
    assert request["TextType"] == "ssml"
    assert request["Text"].startswith('<speak><prosody rate="125%">') and "<break" not in request["Text"]
    assert result.billed_chars == len(ARTICLE_SSML)  # the markup was billed as text: it was read
    seconds = len(result.pcm) / 2 / 24000
    assert abs(seconds - len(ARTICLE_SSML) / 100 / 1.25) < 0.1  # read at 1.25x, no 10 s break
    assert longest_silence_s(result.pcm, 24000) < 0.5


def test_the_stub_obeys_real_ssml() -> None:
    """The check above can fail: unescaped, the same break is 10 s of silence, and a bare `&` is refused."""
    mp3, _ = speak_ssml(f"<speak>{ARTICLE_SSML.replace('&', 'and')}</speak>", "Joanna", 24000)
    assert longest_silence_s(decode_to_pcm(mp3, 24000), 24000) > 9.9
    with pytest.raises(ValueError):
        speak_ssml(f"<speak>{ARTICLE_SSML}</speak>", "Joanna", 24000)


async def test_markup_is_never_sent_as_ssml(stub: PollyStub) -> None:
    engine = make_engine(stub)
    article = '<speak>Read <break time="10s"/> this <prosody rate="x-fast">now</prosody></speak>'
    result = await engine.speak(article, engine.params())
    await engine.close()
    assert stub.requests[0]["TextType"] == "text"
    assert stub.requests[0]["Text"] == article
    assert result.billed_chars == len(article)  # tags are billed as text: they were not parsed


async def test_throttling_is_retried_then_succeeds(stub: PollyStub) -> None:
    stub.throttle_first(3)
    engine = make_engine(stub)
    result = await engine.speak("A short sentence.", engine.params())
    await engine.close()
    assert len(stub.requests) == 4
    assert result.billed_chars == len("A short sentence.")


async def test_server_errors_are_retried(stub: PollyStub) -> None:
    stub.fail_next.extend([(500, "ServiceFailureException", "boom"), (503, "ServiceUnavailable", "busy")])
    engine = make_engine(stub)
    await engine.speak("Hello.", engine.params())
    await engine.close()
    assert len(stub.requests) == 3


async def test_throttling_gives_up_after_max_tries(stub: PollyStub) -> None:
    stub.throttle_first(10)
    engine = make_engine(stub, provider_max_tries=3)
    with pytest.raises(EngineError) as info:
        await engine.speak("Hello.", engine.params())
    await engine.close()
    assert len(stub.requests) == 3
    assert info.value.retryable and info.value.code == "throttled"
    assert "gave up after 3 tries" in str(info.value)


async def test_fractional_throttling_eventually_succeeds(stub: PollyStub) -> None:
    stub.throttle_rate = 0.3
    engine = make_engine(stub, provider_max_tries=10)
    params = engine.params()
    for i in range(20):
        await engine.speak(f"Sentence number {i}.", params)
    await engine.close()
    assert len(stub.requests) > 20  # some calls were throttled and retried


async def test_text_too_long_fails_at_once(stub: PollyStub) -> None:
    engine = make_engine(stub)
    with pytest.raises(EngineError) as info:
        await engine.speak("x" * 3001, engine.params())
    await engine.close()
    assert len(stub.requests) == 1
    assert not info.value.retryable and info.value.code == "invalid_request"
    assert "text too long for Polly (3001 characters)" in str(info.value)


async def test_voice_rejected_by_service_fails_at_once(stub: PollyStub) -> None:
    engine = make_engine(stub)
    params = replace(engine.params("Joanna"), voice="Nobody")  # a voice the service does not know
    with pytest.raises(EngineError) as info:
        await engine.speak("Hello.", params)
    await engine.close()
    assert len(stub.requests) == 1
    assert not info.value.retryable
    assert "ValidationException" in str(info.value) and "Nobody" in str(info.value)


async def test_bad_credentials_fail_at_once(stub: PollyStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDWRONG")
    engine = make_engine(stub)
    with pytest.raises(EngineError) as info:
        await engine.speak("Hello.", engine.params())
    await engine.close()
    assert len(stub.requests) == 1
    assert not info.value.retryable and info.value.code == "auth_failed"
    assert "AWS rejected the credentials" in str(info.value)


async def test_missing_credentials_fail_at_once(stub: PollyStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    engine = make_engine(stub)
    with pytest.raises(EngineError) as info:
        await engine.speak("Hello.", engine.params())
    await engine.close()
    assert stub.requests == []
    assert info.value.code == "auth_failed" and not info.value.retryable


def test_params_identity_and_validation() -> None:
    engine = PollyEngine(Settings(polly_region="eu-west-1"))
    joanna = engine.params("Joanna", "standard")
    matthew = engine.params("Matthew", "neural")
    assert joanna != matthew
    assert (joanna.voice, joanna.variant, joanna.region) == ("Joanna", "standard", "eu-west-1")
    assert engine.params().variant == "neural"  # the configured default
    with pytest.raises(UnknownVoice):
        engine.params("Nobody")
    with pytest.raises(UnknownVoice):
        engine.params("Joanna", "turbo")
    assert any(v.id == "Joanna" for v in engine.voices())


async def test_every_attempt_polly_saw_is_counted_under_throttling(stub: PollyStub, redis_url: str, tmp_path) -> None:
    """30% throttling through the real client: the stats count exactly the requests Polly got."""
    stub.throttle_rate = 0.3
    engine = make_engine(stub, provider_max_tries=8)
    params = engine.params("Joanna", "neural")
    settings = Settings(lock_ttl_ms=5000, wait_timeout_s=30)
    redis = aioredis.Redis.from_url(redis_url)
    cache = ChunkCache(DirectoryStorage(tmp_path / "store"))
    texts = [f"Sentence number {i} of the throttled article." for i in range(20)]
    try:
        results = await asyncio.gather(*(
            get_or_synthesize(redis, engine, chunk_of(text), params, cache=cache, settings=settings)
            for text in texts for _ in range(3)
        ))
        counters = await stats.read_stats(redis)
    finally:
        await redis.aclose()
        await engine.close()
    assert sum(r.source == "synthesized" for r in results) == len(texts)
    assert counters[stats.provider_calls("polly")] == len(texts)
    assert counters[stats.provider_attempts("polly")] == len(stub.requests)
    assert len(texts) < len(stub.requests) <= len(texts) * 8  # some were throttled, all within the bound
    print(f"\n30% throttling: {len(texts)} chunks, {len(stub.requests)} requests to Polly, all counted")
