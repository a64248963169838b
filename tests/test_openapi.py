"""The OpenAPI document: valid 3.1, complete (every route the app serves, nothing more), true
to live responses (every endpoint's bodies validated against its schemas, no undocumented
field allowed), its security what the API does, its version the package's; `/docs` is served."""
from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from yarl import URL

from api.app import create_app
from api.openapi import DOCUMENT
from shared.config import Settings
from tests.conftest import CORPUS, RedisServer, free_port
from tests.stack import Stack
from tests.test_service_e2e import fresh

pytestmark = pytest.mark.slow

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def schema_validator(name: str) -> Draft202012Validator:
    """A validator for one component schema, with the document's components for its $refs."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]})


def check(name: str, body: object) -> None:
    errors = sorted(schema_validator(name).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1")
    validate(DOCUMENT)


def test_document_lists_exactly_the_routes_the_app_serves() -> None:
    app = create_app(Settings(fake_engine=True, default_engine="fake"), "redis://127.0.0.1:1/0")
    served = set()
    for route in app.router.routes():
        if route.method not in METHODS:
            continue
        resource = route.resource
        assert resource is not None
        path = resource.canonical
        if isinstance(resource, web.StaticResource):
            path += "/{path}"
        served.add((route.method.lower(), path))
    documented = {(method, path) for path, item in DOCUMENT["paths"].items() for method in item
                  if method.upper() in METHODS}
    assert served == documented


def test_a_wrong_body_fails_the_schemas() -> None:
    """The live checks below can fail: the schemas reject what they should."""
    with pytest.raises(AssertionError):
        check("Job", {"id": "x", "status": "sleeping"})
    with pytest.raises(AssertionError):
        check("Error", {"error": {"code": "x"}})


def strict(node: Any) -> Any:
    """The test's copy of a schema: an object that lists its properties allows no others, so
    a field the API returns without documenting it fails validation."""
    if isinstance(node, dict):
        out = {k: strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


STRICT_COMPONENTS = strict(DOCUMENT["components"])


def documented(method: str, path: str, status: int, body: object, content_type: str = "application/json") -> None:
    """The response is documented for this operation and status, and its body fits the schema."""
    operation = DOCUMENT["paths"][path][method]
    assert str(status) in operation["responses"], f"{method.upper()} {path} answered {status}, which is undocumented"
    content = operation["responses"][str(status)].get("content", {})
    assert content_type in content, f"{method.upper()} {path} {status}: {content_type} is undocumented"
    if content_type != "application/json":
        return
    validator = Draft202012Validator({**strict(content[content_type]["schema"]), "components": STRICT_COMPONENTS})
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method.upper()} {path} {status}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_an_undocumented_field_fails_the_walk() -> None:
    """The strict copy catches a field the document does not list, nested ones too."""
    with pytest.raises(AssertionError, match="Additional properties"):
        documented("get", "/healthz", 200, {"status": "ok", "uptime": 3})
    with pytest.raises(AssertionError, match="Additional properties"):
        documented("get", "/v1/engines", 200, {"engines": [{"name": "x", "default": True, "max_chars": 1, "default_voice": "v",
                                                            "voices": [{"id": "v", "name": "v", "language": "en", "x": 1}]}]})


def test_the_version_is_the_packages() -> None:
    assert DOCUMENT["info"]["version"] == version("readout")


def stack_env(**extra: str) -> dict[str, str]:
    return {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "50", **extra}


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory):
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env=stack_env())
    s.start(workers=1)
    yield s
    s.stop()


async def events_of(http: aiohttp.ClientSession, url: str) -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = []
    event = "message"
    async with http.get(url) as resp:
        documented("get", "/v1/jobs/{job_id}/events", resp.status, None, resp.content_type)
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                found.append((event, json.loads(line[5:])))
    return found


async def test_every_field_of_every_live_response_is_documented(stack: Stack) -> None:
    jobs, job, audio, events = "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/audio", "/v1/jobs/{job_id}/events"
    async with aiohttp.ClientSession() as http:
        async def call(method: str, template: str, url: str, **kwargs: Any) -> tuple[int, Any]:
            async with http.request(method, stack.url + url, **kwargs) as resp:
                body = await resp.json() if resp.content_type == "application/json" else await resp.read()
                documented(method.lower(), template, resp.status, body, resp.content_type)
                return resp.status, body

        status, doc = await call("GET", "/openapi.json", "/openapi.json")
        assert doc == DOCUMENT

        # Jobs: submitted as JSON and as a raw body, followed, finished, cancelled, and their errors.
        status, created = await call("POST", jobs, jobs, json={"text": fresh("One short article. Two sentences.")})
        assert status == 202
        status, _ = await call("POST", jobs, jobs + "?engine=fake", data=fresh("Raw text. Short.").encode(),
                                 headers={"Content-Type": "text/plain"})
        assert status == 202
        await call("GET", job, created["status_url"])
        found = await events_of(http, stack.url + created["events_url"])
        assert found and found[-1][0] == "done"
        for _, data in found:
            documented("get", job, 200, data)  # each event's data is the Job
        assert (await call("GET", job, created["status_url"]))[1]["status"] == "done"
        assert (await call("GET", audio, created["audio_url"]))[0] == 200
        assert (await call("GET", audio, created["audio_url"], headers={"Range": "bytes=0-99"}))[0] == 206
        assert (await call("GET", audio, created["audio_url"], headers={"Range": "bytes=9999999-"}))[0] == 416
        assert (await call("GET", audio, created["audio_url"], headers={"Range": "pages=1"}))[0] == 416
        assert (await call("DELETE", job, created["status_url"]))[0] == 200  # a finished job: unchanged

        long_job = (await call("POST", jobs, jobs, json={"text": fresh((CORPUS / "federalist-10.txt").read_text())}))[1]
        cancelled = (await call("DELETE", job, long_job["status_url"]))[1]
        assert cancelled["status"] == "cancelled"
        assert (await call("GET", audio, long_job["audio_url"]))[0] == 409
        assert (await call("GET", job, f"{jobs}/{'0' * 32}"))[0] == 404
        assert (await call("GET", audio, f"{jobs}/{'0' * 32}/audio"))[0] == 404
        assert (await call("GET", events, f"{jobs}/{'0' * 32}/events"))[0] == 404
        for bad, code in ((dict(data=b"{nope", headers={"Content-Type": "application/json"}), 400),
                          (dict(json={"text": "x", "engine": "nope"}), 422),
                          (dict(data=b"x", headers={"Content-Type": "image/png"}), 415)):
            assert (await call("POST", jobs, jobs, **bad))[0] == code

        # OpenAI-compatible speech.
        speech = "/v1/audio/speech"
        assert (await call("POST", speech, speech, json={"model": "tts-1", "input": fresh("Hi there."), "voice": "alloy"}))[0] == 200
        assert (await call("POST", speech, speech, json={"model": "tts-1", "input": "Hi.", "voice": "alloy", "speed": 9}))[0] == 400
        assert (await call("POST", speech, speech, json={"model": "nope", "input": "Hi.", "voice": "alloy"}))[0] == 422

        # The service's own endpoints and pages.
        for path in ("/v1/engines", "/v1/stats", "/healthz", "/readyz", "/metrics", "/docs", "/"):
            assert (await call("GET", path, path))[0] == 200, path
        assert (await call("GET", "/static/{path}", "/static/app.js"))[0] == 200
        assert (await call("GET", "/static/{path}", "/static/nothing.js"))[0] == 404


async def test_readyz_without_workers_is_documented(tmp_path: Path) -> None:
    redis = RedisServer(port=free_port(), dir=tmp_path)  # its own: no other test's worker heartbeats there
    redis.start()
    s = Stack(redis.url, free_port(), tmp_path / "logs", env=stack_env()).start(workers=0)
    try:
        async with aiohttp.ClientSession() as http, http.get(s.url + "/readyz") as resp:
            assert resp.status == 503
            documented("get", "/readyz", 503, await resp.json())
    finally:
        s.stop()
        redis.kill()


KEY = "docs-test-key"


def example_url(path: str) -> str:
    return path.replace("{job_id}", "0" * 32).replace("{path}", "style.css")


async def test_the_documented_security_is_what_the_api_does(redis_server: RedisServer, tmp_path: Path) -> None:
    """With keys configured, an operation documented as public answers without one; every
    other answers 401 (the README's list of endpoints that need no key comes from this)."""
    s = Stack(redis_server.url, free_port(), tmp_path / "logs", env=stack_env(READOUT_API_KEYS=f"t:{KEY}")).start(workers=1)
    public, keyed = [], []
    try:
        async with aiohttp.ClientSession() as http:
            for path, item in DOCUMENT["paths"].items():
                for method, op in item.items():
                    if method.upper() not in METHODS:
                        continue
                    security = op.get("security", DOCUMENT["security"])
                    body = {"json": {"text": "A short article.", "model": "tts-1", "input": "Hi.", "voice": "alloy"}}
                    async with http.request(method, s.url + example_url(path), **(body if method == "post" else {})) as resp:
                        if security == [{}]:
                            assert resp.status != 401, (method, path)
                            public.append(f"{method.upper()} {path}")
                        else:
                            assert resp.status == 401, (method, path)
                            documented(method, path, 401, await resp.json())
                            keyed.append(f"{method.upper()} {path}")
            # A 43-character sentence is an article (the README says there is no minimum).
            sentence = "A sentence of exactly forty-three letters.."
            assert len(sentence) == 43
            async with http.post(s.url + "/v1/jobs", json={"text": sentence},
                                 headers={"Authorization": f"Bearer {KEY}"}) as resp:
                assert resp.status == 202
    finally:
        s.stop()
    assert "GET /v1/engines" in public and "POST /v1/jobs" in keyed
    print("\npublic:", ", ".join(public), "\nkeyed:", ", ".join(keyed))


async def test_docs_page_and_its_files_are_served(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(stack.url + "/docs") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            html = await resp.text()
        assert "/static/docs.js" in html and "/static/style.css" in html
        for path in ("/static/docs.js", "/static/style.css"):
            async with http.get(stack.url + path) as resp:
                assert resp.status == 200, path
        escape = URL(stack.url + "/static/%2e%2e/app.py", encoded=True)  # not normalised away by the client
        async with http.get(escape) as resp:
            assert resp.status in (403, 404)
            assert resp.content_type == "application/json"
