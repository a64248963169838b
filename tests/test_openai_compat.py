"""`POST /v1/audio/speech` driven by the real `openai` client, against real processes."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from shared.audio.mp3 import strip_headers
from shared.engines.fake import fake_mp3
from tests.conftest import CORPUS, RedisServer, free_port
from tests.stack import Stack, get_json
from tests.test_service_e2e import fresh

pytestmark = pytest.mark.slow

KEY = "sk-readout-test"
ESSAY = (CORPUS / "federalist-10.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "150",
        "READOUT_WORKER_CONCURRENCY": "2", "READOUT_API_KEYS": f"tester:{KEY}",
    })
    s.start(workers=1)
    yield s
    s.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[OpenAI]:
    with OpenAI(base_url=stack.url + "/v1", api_key=KEY, max_retries=0) as c:
        yield c


def stats(stack: Stack) -> dict:
    status, body = get_json(stack.url + "/v1/stats", headers=stack.auth)
    assert status == 200
    return body


def decode_errors(path: Path) -> str:
    """ffmpeg's complaints while decoding the whole file ('' for a clean MP3)."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    return out.stderr


def probe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


def test_stream_to_file_gives_a_valid_mp3_made_by_the_job_pipeline(stack: Stack, client: OpenAI, tmp_path: Path) -> None:
    text = fresh(ESSAY)
    before = stats(stack)
    out = tmp_path / "speech.mp3"
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input=text) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        response.stream_to_file(out)
    assert decode_errors(out) == ""
    after = stats(stack)
    calls = after["provider_calls"] - before["provider_calls"]
    assert calls > 3  # chunked and fanned out like any job
    assert after["jobs"]["done"] - before["jobs"]["done"] == 1
    # Fake speech lasts 10 ms a character: the file holds the whole input.
    assert probe_duration(out) == pytest.approx(len(text) * 0.010, rel=0.03)

    again = tmp_path / "again.mp3"
    with client.audio.speech.with_streaming_response.create(model="tts-1-hd", voice="alloy", input=text) as response:
        response.stream_to_file(again)
    assert again.read_bytes() == out.read_bytes()
    assert stats(stack)["provider_calls"] == after["provider_calls"]  # the same cache: no provider call


def test_audio_streams_before_the_job_is_done(stack: Stack, client: OpenAI) -> None:
    """One worker, two slots, 150 ms a chunk: the first bytes arrive while chunks are still pending."""
    with client.audio.speech.with_streaming_response.create(model="fake", voice="fake-a", input=fresh(ESSAY)) as response:
        pieces = response.iter_bytes()
        first = next(pieces)
        assert first
        assert stats(stack)["jobs"]["running"] == 1
        rest = b"".join(pieces)
    assert len(first) + len(rest) > 100_000


def test_voice_mapping(client: OpenAI) -> None:
    """OpenAI voice names mean the engine's default voice; the engine's own voices are used as is."""
    text = "A sentence for the voice test. " + fresh("It ends here.")

    def speak(voice: str) -> bytes:
        return client.audio.speech.create(model="fake", voice=voice, input=text).content

    default, alloy, nova, b = speak("fake-a"), speak("alloy"), speak("nova"), speak("fake-b")
    assert default == alloy == nova
    assert strip_headers(fake_mp3(text, "fake-a")) == default
    assert strip_headers(fake_mp3(text, "fake-b")) == b != default


@pytest.mark.parametrize(("fields", "error", "code"), [
    ({"speed": 1.5}, openai.BadRequestError, "unsupported_speed"),
    ({"response_format": "opus"}, openai.BadRequestError, "unsupported_response_format"),
    ({"response_format": "wav"}, openai.BadRequestError, "unsupported_response_format"),
    ({"instructions": "Speak like a pirate."}, openai.BadRequestError, "unsupported_instructions"),
    ({"model": "tts-9"}, openai.UnprocessableEntityError, "unknown_model"),
    ({"voice": "no-such-voice"}, openai.UnprocessableEntityError, "unknown_voice"),
    ({"input": "   "}, openai.BadRequestError, "text_empty"),
])
def test_unsupported_requests_are_refused_with_a_code(client: OpenAI, fields: dict, error: type, code: str) -> None:
    request = {"model": "tts-1", "voice": "alloy", "input": "Hello there.", **fields}
    with pytest.raises(error) as caught:
        client.audio.speech.create(**request)
    assert caught.value.code == code


def test_speed_one_is_accepted(client: OpenAI) -> None:
    text = fresh("Speed one.")
    audio = client.audio.speech.create(model="tts-1", voice="echo", input=text, speed=1.0)
    assert audio.content == strip_headers(fake_mp3(text, "fake-a"))  # tts-1: the default engine, its default voice


def test_a_wrong_key_is_refused(stack: Stack) -> None:
    with (OpenAI(base_url=stack.url + "/v1", api_key="sk-wrong", max_retries=0) as c,
          pytest.raises(openai.AuthenticationError) as caught):
        c.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert caught.value.code == "unauthorized"
