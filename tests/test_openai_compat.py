"""`POST /v1/audio/speech` driven by the real `openai` client, against real processes."""
from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import openai
import pytest
from openai import OpenAI

from api.openai_compat import OPENAI_VOICES
from tests.conftest import CORPUS, RedisServer, free_port
from tests.fake_speech import expected_mp3, expected_seconds
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


def get_keyed(stack: Stack, path: str) -> dict:
    request = urllib.request.Request(stack.url + path, headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


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
    # Fake speech lasts 10 ms a character, plus the pauses: the file holds the whole input.
    assert probe_duration(out) == pytest.approx(expected_seconds(text), rel=0.03)

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
    """OpenAI voice names map to the engine's voices (fake has two); the engine's own voices are used as is."""
    text = "A sentence for the voice test. " + fresh("It ends here.")

    def speak(voice: str) -> bytes:
        return client.audio.speech.create(model="fake", voice=voice, input=text).content

    a, b = expected_mp3(text, "fake-a"), expected_mp3(text, "fake-b")
    assert a != b
    assert speak("fake-a") == speak("alloy") == a
    assert speak("fake-b") == speak("ash") == b


@pytest.mark.parametrize(("fields", "error", "code"), [
    ({"speed": 4.5}, openai.BadRequestError, "invalid_parameter"),
    ({"speed": 0.2}, openai.BadRequestError, "invalid_parameter"),
    ({"response_format": "ogg"}, openai.BadRequestError, "unsupported_response_format"),
    ({"stream_format": "sse"}, openai.BadRequestError, "unsupported_stream_format"),
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
    assert audio.content == expected_mp3(text, "fake-a")  # tts-1: the default engine, its default voice


@pytest.mark.parametrize("speed", [0.25, 4.0])
def test_speed_across_openais_range_is_accepted(client: OpenAI, tmp_path: Path, speed: float) -> None:
    out = tmp_path / "speed.mp3"
    out.write_bytes(client.audio.speech.create(model="fake", voice="alloy", input=fresh("Any speed."), speed=speed).content)
    assert decode_errors(out) == "" and probe_duration(out) > 0.1


def test_a_wrong_key_is_refused(stack: Stack) -> None:
    with (OpenAI(base_url=stack.url + "/v1", api_key="sk-wrong", max_retries=0) as c,
          pytest.raises(openai.AuthenticationError) as caught):
        c.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert caught.value.code == "unauthorized"


FORMATS = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac", "wav": "audio/wav",
           "pcm": "audio/pcm"}
DECODE_RATE = 48_000


def decoded_seconds(path: Path, fmt: str) -> float:
    """Playing time by full decode with ffmpeg (pcm read as OpenAI documents it: 24 kHz s16le mono)."""
    raw = ["-f", "s16le", "-ar", "24000", "-ac", "1"] if fmt == "pcm" else []
    out = subprocess.run(["ffmpeg", "-v", "error", *raw, "-i", str(path), "-f", "s16le", "-ac", "1", "-ar",
                          str(DECODE_RATE), "-"], capture_output=True, check=False)
    assert out.returncode == 0 and not out.stderr, out.stderr.decode()
    return len(out.stdout) / 2 / DECODE_RATE


def probe_stream(path: Path) -> tuple[str, int, int]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels", "-of",
                          "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    codec, rate, channels = out.stdout.strip().split(",")
    return codec, int(rate), int(channels)


def test_every_format_decodes_to_the_duration_of_the_mp3(stack: Stack, client: OpenAI, tmp_path: Path) -> None:
    """One multi-chunk input in all six formats: right Content-Type and codec, the job's length within 100 ms.

    The formats are encoded from the chunks' own PCM, the signal the job's finished MP3 encodes once
    (exact length); the live mp3 stream is the chunk MP3s joined, each with its codec's padding.
    """
    text = fresh(ESSAY[:4000])
    seconds: dict[str, float] = {}
    jobs: dict[str, str] = {}
    for fmt, content_type in FORMATS.items():
        out = tmp_path / f"speech.{fmt}"
        with client.audio.speech.with_streaming_response.create(model="fake", voice="alloy", input=text,
                                                                response_format=fmt) as response:
            assert response.headers["content-type"] == content_type
            jobs[fmt] = response.headers["x-readout-job"]
            response.stream_to_file(out)
        seconds[fmt] = decoded_seconds(out, fmt)
        if fmt != "pcm":
            codec, rate, channels = probe_stream(out)
            assert channels == 1
            assert (codec, rate) == {"mp3": ("mp3", 24000), "opus": ("opus", 48000), "aac": ("aac", 24000),
                                     "flac": ("flac", 24000), "wav": ("pcm_s16le", 24000)}[fmt]
    request = urllib.request.Request(f"{stack.url}/v1/jobs/{jobs['mp3']}/audio", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        (tmp_path / "finished.mp3").write_bytes(resp.read())
    finished = decoded_seconds(tmp_path / "finished.mp3", "mp3")
    print("decoded seconds per format:", {k: round(v, 3) for k, v in seconds.items()}, "finished mp3:", round(finished, 3))
    assert finished == pytest.approx(expected_seconds(text), abs=0.030)
    assert seconds["mp3"] == pytest.approx(expected_seconds(text), rel=0.03)
    for fmt, value in seconds.items():
        if fmt != "mp3":
            assert abs(value - finished) < 0.100, (fmt, value, finished)
    wav = (tmp_path / "speech.wav").read_bytes()
    assert wav[4:8] == wav[40:44] == b"\xff\xff\xff\xff"  # streamed: sizes unknown, as OpenAI's stream has them


def test_a_transcoded_format_streams_before_the_job_is_done(stack: Stack, client: OpenAI) -> None:
    with client.audio.speech.with_streaming_response.create(model="fake", voice="fake-a", input=fresh(ESSAY),
                                                            response_format="flac") as response:
        pieces = response.iter_bytes()
        first = next(pieces)
        assert first.startswith(b"fLaC")
        assert stats(stack)["jobs"]["running"] == 1
        rest = b"".join(pieces)
    assert len(first) + len(rest) > 100_000


def job_status(stack: Stack, job_id: str) -> dict:
    return get_keyed(stack, f"/v1/jobs/{job_id}")


def test_the_response_names_its_job(stack: Stack, client: OpenAI) -> None:
    text = fresh("Which job made this?")
    response = client.audio.speech.with_raw_response.create(model="fake", voice="alloy", input=text)
    job_id = response.headers["x-readout-job"]
    status = job_status(stack, job_id)
    assert status["id"] == job_id and status["status"] == "done" and status["characters"] == len(text)
    assert response.content == expected_mp3(text, "fake-a")


def test_instructions_are_accepted_and_change_nothing(client: OpenAI) -> None:
    text = fresh("Instructions are ignored.")
    plain = client.audio.speech.create(model="fake", voice="alloy", input=text).content
    styled = client.audio.speech.create(model="fake", voice="alloy", input=text, instructions="Speak like a pirate.")
    assert styled.content == plain


@pytest.mark.parametrize(("asked", "job_speed"), [(0.25, 0.5), (1.5, 1.5), (4.0, 2.0)])
def test_speed_is_accepted_and_clamped_to_the_job_range(stack: Stack, client: OpenAI, asked: float,
                                                        job_speed: float) -> None:
    response = client.audio.speech.with_raw_response.create(model="fake", voice="alloy", input=fresh("Speed."),
                                                            speed=asked)
    assert response.status_code == 200
    assert job_status(stack, response.headers["x-readout-job"])["speed"] == job_speed


def test_models_list_and_get(client: OpenAI) -> None:
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "fake", "espeak"} <= set(ids)
    assert all(m.object == "model" and m.owned_by == "readout" and m.created > 0 for m in models.data)
    one = client.models.retrieve("tts-1-hd")
    assert (one.id, one.object) == ("tts-1-hd", "model")
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("tts-9")
    assert caught.value.code == "model_not_found"


def test_openai_voice_names_are_distinct_espeak_voices(client: OpenAI) -> None:
    """All thirteen names, decoded: thirteen different voices."""
    text = fresh("Every voice reads this sentence.")
    pcm = {}
    for voice in OPENAI_VOICES:
        mp3 = client.audio.speech.create(model="espeak", voice=voice, input=text, response_format="pcm").content
        assert len(mp3) > 24_000  # over half a second of speech
        pcm[voice] = hashlib.sha256(mp3).hexdigest()
    assert len(set(pcm.values())) == len(OPENAI_VOICES), pcm


async def test_job_audio_in_another_format(stack: Stack, client: OpenAI, http, tmp_path: Path) -> None:
    text = fresh(ESSAY[:3000])
    response = client.audio.speech.with_raw_response.create(model="fake", voice="alloy", input=text)
    job_id = response.headers["x-readout-job"]
    url = f"{stack.url}/v1/jobs/{job_id}/audio"
    headers = {"Authorization": f"Bearer {KEY}"}
    (tmp_path / "speech.mp3").write_bytes(response.content)
    assert decode_errors(tmp_path / "speech.mp3") == ""
    # The job is done once the speech response has ended: its mp3 is the finished file (tagged, exact length),
    # and every other format is encoded from the same chunks' PCM, so it lasts as long.
    for fmt in ("mp3", "opus", "aac", "flac", "wav", "pcm"):
        async with http.get(url, params={"format": fmt}, headers=headers) as resp:
            assert resp.status == 200 and resp.content_type == FORMATS[fmt]
            out = tmp_path / f"job.{fmt}"
            out.write_bytes(await resp.read())
        assert abs(decoded_seconds(out, fmt) - decoded_seconds(tmp_path / "job.mp3", "mp3")) < 0.100, fmt
    finished = tmp_path / "job.mp3"
    assert finished.read_bytes()[:3] == b"ID3"
    assert decoded_seconds(finished, "mp3") == pytest.approx(
        get_keyed(stack, f"/v1/jobs/{job_id}")["audio"]["duration_seconds"], abs=0.03)
    async with http.get(url, params={"format": "ogg"}, headers=headers) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "unsupported_format"


async def test_a_transcoded_stream_of_a_job_that_ends_mid_way_is_cut(stack: Stack, http) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with http.post(stack.url + "/v1/jobs", json={"text": fresh(ESSAY), "engine": "fake"}, headers=headers) as resp:
        job = await resp.json()
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):  # a broken transfer, never a short "complete" file
        async with http.get(stack.url + job["audio_url"], params={"format": "flac"}, headers=headers) as resp:
            assert resp.status == 200 and resp.content_type == "audio/flac"
            received += await resp.content.readany()
            async with http.delete(stack.url + job["status_url"], headers=headers) as cancel:
                assert (await cancel.json())["status"] == "cancelled"
            while piece := await resp.content.readany():
                received += piece
    assert received.startswith(b"fLaC")
    assert "Unhandled exception" not in stack.read_logs()
