"""The OpenAPI document: valid 3.1, complete (every route the app serves, nothing more), true
to live responses (every endpoint's bodies validated against its schemas, no undocumented
field allowed), its security what the API does, its version the package's; `/docs` is served."""
from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis as sync_redis
from aiohttp import web
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from yarl import URL

from api.app import create_app
from api.links import LinkSigner
from api.openapi import DOCUMENT
from shared.config import Settings
from tests.conftest import CORPUS, RedisServer, free_port
from tests.page_server import ARTICLES, PageServer
from tests.stack import Stack
from tests.test_service_e2e import fresh, wait_done

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
    if status == 204:  # no content: none documented, none sent
        assert content == {} and body == b"", f"{method.upper()} {path} 204 has a body"
        return
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


SECRET = "openapi-test-url-secret"  # the test signs a link of its own (an expired one) with it


def stack_env(**extra: str) -> dict[str, str]:
    return {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "50",
            "READOUT_URL_SECRET": SECRET, "READOUT_FETCH_ALLOW_NETWORKS": "127.0.0.1/32", **extra}


@pytest.fixture(scope="module")
def site() -> Iterator[PageServer]:
    server = PageServer().start()
    yield server
    server.stop()


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


async def test_every_field_of_every_live_response_is_documented(stack: Stack, site: PageServer) -> None:
    jobs, job, audio, events = "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/audio", "/v1/jobs/{job_id}/events"
    cancel = "/v1/jobs/{job_id}/cancel"
    stored = {"captions_url": "/v1/jobs/{job_id}/captions.vtt", "srt_url": "/v1/jobs/{job_id}/captions.srt",
              "marks_url": "/v1/jobs/{job_id}/marks.json"}
    async with aiohttp.ClientSession() as http:
        async def call(method: str, template: str, url: str, **kwargs: Any) -> tuple[int, Any]:
            async with http.request(method, stack.url + url, **kwargs) as resp:
                body = await resp.json() if resp.content_type == "application/json" else await resp.read()
                documented(method.lower(), template, resp.status, body, resp.content_type)
                return resp.status, body

        status, doc = await call("GET", "/openapi.json", "/openapi.json")
        assert doc == DOCUMENT

        # Jobs: submitted as JSON and as a raw body, followed, finished, listed, cancelled, deleted, and their errors.
        status, created = await call("POST", jobs, jobs, json={"text": fresh("# A heading\n\nOne short article. Two sentences."),
                                                             "format": "markdown"})
        assert status == 202
        status, raw = await call("POST", jobs, jobs + "?engine=fake", data=fresh("Raw text. Short.").encode(),
                                 headers={"Content-Type": "text/plain"})
        assert status == 202
        await call("GET", job, created["status_url"])
        found = await events_of(http, stack.url + created["events_url"])
        assert found and found[-1][0] == "done"
        for _, data in found:
            documented("get", job, 200, data)  # each event's data is the Job
        finished = (await call("GET", job, created["status_url"]))[1]
        assert finished["status"] == "done" and finished["audio"]["bytes"] > 0
        assert (await call("GET", audio, created["audio_url"]))[0] == 200
        assert (await call("GET", audio, created["audio_url"], headers={"Range": "bytes=0-99"}))[0] == 206
        assert (await call("GET", audio, created["audio_url"], headers={"Range": "bytes=9999999-"}))[0] == 416
        assert (await call("GET", audio, created["audio_url"], headers={"Range": "pages=1"}))[0] == 416
        assert (await call("GET", audio, created["audio_url"] + "&format=ogg"))[0] == 400
        for name, template in stored.items():
            assert (await call("GET", template, finished[name]))[0] == 200, name
        marks = (await call("GET", stored["marks_url"], finished["marks_url"]))[1]
        assert marks["chapters"][0]["title"] == "A heading" and marks["sentences"][-1]["text"] == "Two sentences."

        # Signed links: a tampered one, and one signed right that is late.
        path = f"{jobs}/{created['id']}/audio"
        tampered = created["audio_url"][:-4] + ("0000" if not created["audio_url"].endswith("0000") else "1111")
        status, body = await call("GET", audio, tampered)
        assert (status, body["error"]["code"]) == (403, "invalid_signature")
        expired = LinkSigner(SECRET.encode(), 3600).sign(created["id"], path, ttl_s=-86400 * 3)
        status, body = await call("GET", audio, expired)
        assert (status, body["error"]["code"]) == (403, "link_expired")
        query = "?" + created["audio_url"].split("?", 1)[1]  # a link for the audio opens nothing else
        for method, template, url in (("GET", job, created["status_url"]), ("DELETE", job, created["status_url"]),
                                      ("POST", cancel, created["status_url"] + "/cancel")):
            status, body = await call(method, template, url + query)
            assert (status, body["error"]["code"]) == (403, "invalid_signature"), (method, url)

        # The job list: pages newest first; a bad limit or cursor is a 400.
        await wait_done(http, stack.url, raw["id"])
        status, page = await call("GET", jobs, jobs + "?limit=1")
        assert status == 200 and len(page["jobs"]) == 1 and page["next_cursor"]
        status, second = await call("GET", jobs, f"{jobs}?limit=1&cursor={page['next_cursor']}")
        assert status == 200 and second["jobs"][0]["id"] != page["jobs"][0]["id"]
        for bad in ("?limit=0", "?limit=x", "?cursor=nope"):
            assert (await call("GET", jobs, jobs + bad))[0] == 400, bad

        # Cancel a finished job: unchanged. Delete it: 204, then gone everywhere.
        assert (await call("POST", cancel, f"{created['status_url']}/cancel"))[1]["status"] == "done"
        assert (await call("DELETE", job, created["status_url"]))[0] == 204
        assert (await call("GET", job, created["status_url"]))[0] == 404
        assert (await call("GET", audio, created["audio_url"]))[0] == 404
        assert (await call("GET", stored["marks_url"], finished["marks_url"]))[0] == 404
        assert (await call("DELETE", job, created["status_url"]))[0] == 404

        # Running jobs: cancelled with POST .../cancel, or with DELETE (200 and the job, which stays).
        essay = (CORPUS / "federalist-10.txt").read_text()
        for method, suffix in (("POST", "/cancel"), ("DELETE", "")):
            long_job = (await call("POST", jobs, jobs, json={"text": fresh(essay)}))[1]
            status, cancelled = await call(method, cancel if suffix else job, long_job["status_url"] + suffix)
            assert (status, cancelled["status"]) == (200, "cancelled")
            assert (await call("GET", audio, long_job["audio_url"]))[0] == 409
            assert (await call("GET", stored["captions_url"], long_job["captions_url"]))[0] == 404
        assert (await call("GET", job, long_job["status_url"]))[1]["status"] == "cancelled"
        none = f"{jobs}/{'0' * 32}"
        for template, url in ((job, none), (audio, f"{none}/audio"), (events, f"{none}/events"),
                              (stored["srt_url"], f"{none}/captions.srt")):
            assert (await call("GET", template, url))[0] == 404, url
        assert (await call("POST", cancel, f"{none}/cancel"))[0] == 404
        for bad, code in ((dict(data=b"{nope", headers={"Content-Type": "application/json"}), 400),
                          (dict(json={"text": "x", "engine": "nope"}), 422),
                          (dict(json={"url": "http://10.1.2.3/private"}), 422),
                          (dict(data=b"x", headers={"Content-Type": "image/png"}), 415)):
            assert (await call("POST", jobs, jobs, **bad))[0] == code
        assert (await call("POST", jobs, jobs + "?speed=1.5", json={"text": "In the body."}))[0] == 400

        # A URL job: fetching, then the page's title, author and address.
        status, url_job = await call("POST", jobs, jobs, json={"url": f"{site.base}/pages/lighthouse.html"})
        assert status == 202
        await events_of(http, stack.url + url_job["events_url"])
        fetched = (await call("GET", job, url_job["status_url"]))[1]
        assert fetched["status"] == "done" and fetched["title"] == ARTICLES["lighthouse.html"][0]
        assert fetched["author"] == ARTICLES["lighthouse.html"][1] and fetched["source_url"].endswith("lighthouse.html")

        # The podcast feed: its URL, the feed itself, a rotation that retires the old one.
        feed, feeds = "/v1/feed", "/v1/feeds/{token}.xml"
        status, url = await call("GET", feed, feed)
        assert status == 200
        old = URL(url["url"]).path
        status, rss = await call("GET", feeds, old)
        assert status == 200 and b"<enclosure" in rss
        new = URL((await call("POST", "/v1/feed/rotate", "/v1/feed/rotate"))[1]["url"]).path
        assert new != old and (await call("GET", feeds, new))[0] == 200
        assert (await call("GET", feeds, old))[0] == 404

        # OpenAI-compatible speech and models.
        speech = "/v1/audio/speech"
        assert (await call("POST", speech, speech, json={"model": "tts-1", "input": fresh("Hi there."), "voice": "alloy"}))[0] == 200
        assert (await call("POST", speech, speech, json={"model": "tts-1", "input": "Hi.", "voice": "alloy", "speed": 9}))[0] == 400
        assert (await call("POST", speech, speech, json={"model": "tts-1", "input": "Hi.", "voice": "alloy",
                                                          "response_format": {}}))[0] == 400
        assert (await call("POST", speech, speech, json={"model": "nope", "input": "Hi.", "voice": "alloy"}))[0] == 422
        models = (await call("GET", "/v1/models", "/v1/models"))[1]
        assert {"tts-1", "fake"} <= {m["id"] for m in models["data"]}
        assert (await call("GET", "/v1/models/{model_id}", "/v1/models/tts-1"))[0] == 200
        assert (await call("GET", "/v1/models/{model_id}", "/v1/models/nope"))[0] == 404

        # The service's own endpoints and pages.
        for path in ("/v1/engines", "/v1/stats", "/healthz", "/readyz", "/metrics", "/docs", "/"):
            assert (await call("GET", path, path))[0] == 200, path
        engines = (await call("GET", "/v1/engines", "/v1/engines"))[1]["engines"]
        assert {e["name"]: e["available"] for e in engines}["fake"] is True
        assert (await call("GET", "/static/{path}", "/static/app.js"))[0] == 200
        assert (await call("GET", "/static/{path}", "/static/nothing.js"))[0] == 404


async def test_readiness_and_store_failures_are_documented(tmp_path: Path) -> None:
    """No workers: /readyz 503. A full store: 507 `store_full`; a store gone: 503 `store_unavailable`
    (with Retry-After), and /readyz says so."""
    redis = RedisServer(port=free_port(), dir=tmp_path)  # its own: no other test's worker heartbeats there
    redis.start()
    s = Stack(redis.url, free_port(), tmp_path / "logs", env=stack_env(READOUT_STORE_TIMEOUT="1")).start(workers=0)

    async def answer(http: aiohttp.ClientSession, method: str, path: str, template: str, **kwargs: Any) -> tuple[int, Any]:
        async with http.request(method, s.url + path, **kwargs) as resp:
            body = await resp.json()
            documented(method.lower(), template, resp.status, body)
            if resp.status in (503, 507) and template != "/readyz":
                assert resp.headers["Retry-After"].isdigit()
            return resp.status, body

    try:
        async with aiohttp.ClientSession() as http:
            assert (await answer(http, "GET", "/readyz", "/readyz"))[1]["status"] == "no_workers"
            status, created = await answer(http, "POST", "/v1/jobs", "/v1/jobs", json={"text": "Before the store fills."})
            assert status == 202
            store = sync_redis.Redis.from_url(redis.url)
            store.config_set("maxmemory", 1)
            status, body = await answer(http, "POST", "/v1/jobs", "/v1/jobs", json={"text": fresh("A full store.")})
            assert (status, body["error"]["code"]) == (507, "store_full")
            store.config_set("maxmemory", 0)
            store.close()
            redis.kill()
            for method, path, template in (("GET", created["status_url"], "/v1/jobs/{job_id}"),
                                           ("GET", "/v1/jobs", "/v1/jobs"),
                                           ("POST", "/v1/jobs", "/v1/jobs")):
                status, body = await answer(http, method, path, template, json={"text": "The store is gone."})
                assert (status, body["error"]["code"]) == (503, "store_unavailable"), (method, path)
            assert (await answer(http, "GET", "/readyz", "/readyz"))[1]["status"] == "unavailable"
    finally:
        s.stop()
        redis.kill()


KEY = "docs-test-key"


def example_url(path: str) -> str:
    """`path` with every parameter filled in (a literal `{name}` matches no route)."""
    for name, value in (("{job_id}", "0" * 32), ("{path}", "style.css"), ("{model_id}", "tts-1"), ("{token}", "nope")):
        path = path.replace(name, value)
    assert "{" not in path, path
    return path


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
    assert "GET /healthz" in public and "GET /v1/engines" in keyed and "POST /v1/jobs" in keyed
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
