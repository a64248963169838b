"""Optional engines are optional: one that cannot run here is listed as unavailable with its
reason, refused with `422 engine_unavailable`, and takes neither the API nor a worker down."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import load_settings
from shared.engines import KNOWN_ENGINES, EngineUnavailable, UnknownEngine, close_engines, engine_status, get_engine
from tests.bare_path import bare_path
from tests.conftest import free_port
from tests.stack import Stack, get_json, until


def post_json(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def stack(redis_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """No espeak-ng on PATH, a Piper voice path that does not exist (and Piper the default
    engine, so the worker's start-up warm-up meets it), no AWS or ElevenLabs settings."""
    tmp = tmp_path_factory.mktemp("availability")
    env = {
        "PATH": bare_path(tmp / "bin"),
        "READOUT_FAKE_ENGINE": "1", "READOUT_FAKE_LATENCY_MS": "5",
        "READOUT_DEFAULT_ENGINE": "piper", "READOUT_PIPER_VOICE": str(tmp / "missing" / "voice.onnx"),
    }
    s = Stack(redis_server.url, free_port(), tmp / "logs", env=env)
    s.start(workers=1)
    yield s
    s.stop()


def test_engines_lists_every_known_engine_with_availability(stack: Stack) -> None:
    status, body = get_json(stack.url + "/v1/engines")
    assert status == 200
    engines = {e["name"]: e for e in body["engines"]}
    assert set(engines) == set(KNOWN_ENGINES)
    assert body["engines"][0]["name"] == "piper" and engines["piper"]["default"]
    for name in ("piper", "espeak", "polly", "elevenlabs"):
        assert engines[name]["available"] is False, name
        assert engines[name]["voices"] == []
    assert "espeak-ng" in engines["espeak"]["reason"]
    assert "voice.onnx" in engines["piper"]["reason"]
    assert "AWS" in engines["polly"]["reason"]
    assert "ELEVENLABS_API_KEY" in engines["elevenlabs"]["reason"]
    fake = engines["fake"]
    assert fake["available"] is True and fake["reason"] is None and fake["voices"] and fake["max_chars"] > 0


@pytest.mark.parametrize("engine", ["espeak", None])  # None: the default engine (Piper, broken here)
def test_unavailable_engine_is_refused_with_its_reason(stack: Stack, engine: str | None) -> None:
    body = {"text": "Hello there.", **({"engine": engine} if engine else {})}
    status, answer = post_json(stack.url + "/v1/jobs", body)
    assert status == 422
    assert answer["error"]["code"] == "engine_unavailable"
    reason = "espeak-ng" if engine else "voice.onnx"
    assert reason in answer["error"]["message"]


def test_unknown_engine_stays_unknown(stack: Stack) -> None:
    status, answer = post_json(stack.url + "/v1/jobs", {"text": "Hello there.", "engine": "nope"})
    assert (status, answer["error"]["code"]) == (422, "unknown_engine")


async def test_worker_with_an_unavailable_default_serves_other_engines(stack: Stack) -> None:
    status, job = post_json(stack.url + "/v1/jobs", {"text": "Hello there. This is the fake engine.", "engine": "fake"})
    assert status == 202
    assert await until(lambda: get_json(stack.url + job["status_url"])[1]["status"] == "done", 30)
    assert stack.workers[0].poll() is None
    assert "default engine unavailable" in (stack.logs / "worker-0.log").read_text()


def test_registry_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", bare_path(tmp_path / "bin"))
    settings = load_settings({"READOUT_DEFAULT_ENGINE": "espeak"})
    statuses = engine_status(settings)
    assert statuses[0].name == "espeak"
    espeak = next(s for s in statuses if s.name == "espeak")
    assert not espeak.available and "espeak-ng" in espeak.reason
    with pytest.raises(EngineUnavailable) as caught:
        get_engine("espeak", settings)
    assert caught.value.code == "engine_unavailable" and not caught.value.retryable
    with pytest.raises(UnknownEngine):
        get_engine("nope", settings)


@pytest.mark.parametrize("config", ['{"audio": {}}', "not json", None])
async def test_a_broken_piper_voice_is_unavailable_not_a_crash(tmp_path: Path, config: str | None) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"not a model")
    if config is not None:
        Path(f"{model}.json").write_text(config)
    settings = load_settings({"READOUT_PIPER_VOICE": str(model)})
    await close_engines()  # forget what earlier tests in this process built
    try:
        piper = next(s for s in engine_status(settings) if s.name == "piper")
        assert not piper.available and piper.reason
        with pytest.raises(EngineUnavailable):
            get_engine("piper", settings)
    finally:
        await close_engines()
