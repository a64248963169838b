"""Schemathesis (a third-party fuzzer) over every operation of `/openapi.json`, against the real stack.

Three runs of every operation: a deployment without keys; one with keys, called with a
valid key; and the same one called without any. Each generated request (valid and
invalid, positive and negative) must get no 5xx, an error that is JSON with a code, and a
response valid against the document (status, content type, headers, body schema). Without
a key, everything the document does not mark public is a 401, or a 403 where a made-up
signed link (`sig`, `expires`) is sent.
The document used is the one the API serves (tests/test_openapi.py checks they are equal).
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from api.openapi import DOCUMENT
from tests.conftest import RedisServer, free_port
from tests.stack import Stack

pytestmark = pytest.mark.slow

KEY = "fuzz-key-0123456789"
EXAMPLES = 100  # per operation and run: up to 4,500 requests in all, well under a minute
FAKE = {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "5",
        "READOUT_WORKER_CONCURRENCY": "8", "READOUT_BODY_TIMEOUT": "5", "READOUT_MAX_CHARS": "20000"}

schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def open_stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("open"), env=FAKE).start(workers=1)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def keyed_stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("keyed"),
              env={**FAKE, "READOUT_API_KEYS": f"fuzz:{KEY}"}).start(workers=1)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def errors_are_json(response: schemathesis.Response) -> None:
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), (response.status_code, content_type)
        code = json.loads(response.content)["error"]["code"]
        assert isinstance(code, str) and code


# A schema cannot say "speakable" (an article of only "!!!" is valid JSON of the right shape and
# a 400 text_empty) nor which engine names a deployment has: schema-valid requests may be refused.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]


def excluded(case: schemathesis.Case) -> list:
    """Also: a raw text/* article is any text at all, so no "schema-violating" text/* body exists
    (schemathesis sends e.g. `[null, null]` as text/html, which is a fine, speakable-free article)."""
    text_body = (case.media_type or "").startswith("text/")
    return [*EXCLUDED, schemathesis.checks.negative_data_rejection] if text_body else EXCLUDED
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@schema.parametrize()
@FUZZ
def test_without_keys_configured(case: schemathesis.Case, open_stack: Stack, session: requests.Session) -> None:
    response = case.call_and_validate(base_url=open_stack.url, session=session, timeout=30, excluded_checks=excluded(case))
    errors_are_json(response)


@schema.parametrize()
@FUZZ
def test_with_a_key(case: schemathesis.Case, keyed_stack: Stack, session: requests.Session) -> None:
    response = case.call_and_validate(base_url=keyed_stack.url, session=session, timeout=30,
                                      headers={"Authorization": f"Bearer {KEY}"}, excluded_checks=excluded(case))
    errors_are_json(response)


@schema.parametrize()
@FUZZ
def test_without_a_key_where_keys_are_configured(case: schemathesis.Case, keyed_stack: Stack,
                                                 session: requests.Session) -> None:
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    response = case.call_and_validate(base_url=keyed_stack.url, session=session, timeout=30, excluded_checks=excluded(case))
    errors_are_json(response)
    operation = case.operation.definition.raw
    public = operation.get("security", DOCUMENT["security"]) == [{}]  # a feed's token is its own credential
    if not public:  # 401 for anything the route serves; a method it does not serve is still a 405
        # A signed link that is there but made up (no valid signature can be generated) is a 403.
        forged = {"signedLink": []} in operation.get("security", []) and bool({"sig", "expires"} & set(case.query or {}))
        expected = (403 if forged else 401) if case.method.upper() == case.operation.method.upper() else 405
        assert response.status_code == expected, (case.operation.label, case.method, response.status_code)
        if expected == 403:
            assert json.loads(response.content)["error"]["code"] in ("invalid_signature", "link_expired")
