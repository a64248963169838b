"""The OpenAPI document: valid 3.1, complete (every route the app serves, nothing more), and
true to live responses (bodies validated against its schemas), and `/docs` is served."""
from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from yarl import URL

from api.app import create_app
from api.openapi import DOCUMENT
from shared.config import Settings
from tests.conftest import RedisServer, free_port
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


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory):
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "50",
    })
    s.start(workers=1)
    yield s
    s.stop()


async def test_live_responses_match_the_document(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(stack.url + "/openapi.json") as resp:
            assert resp.status == 200
            assert await resp.json() == DOCUMENT

        async with http.post(stack.url + "/v1/jobs", json={"text": fresh("One short article. Two sentences.")}) as resp:
            assert resp.status == 202
            created = await resp.json()
        check("JobCreated", created)
        async with http.get(stack.url + created["status_url"]) as resp:
            check("Job", await resp.json())
        check("Job", await wait_done(http, stack.url, created["id"]))

        async with http.post(stack.url + "/v1/jobs", data=b"{nope", headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400
            check("Error", await resp.json())
        async with http.get(stack.url + f"/v1/jobs/{'0' * 32}") as resp:
            assert resp.status == 404
            check("Error", await resp.json())
        async with http.post(stack.url + "/v1/audio/speech", json={"model": "tts-1", "input": "Hi.", "voice": "alloy",
                                                                   "speed": 5}) as resp:
            assert resp.status == 400
            check("Error", await resp.json())

        for path, name in (("/v1/engines", "Engines"), ("/v1/stats", "Stats"), ("/healthz", "Health"),
                           ("/readyz", "Ready")):
            async with http.get(stack.url + path) as resp:
                assert resp.status == 200, path
                check(name, await resp.json())


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
