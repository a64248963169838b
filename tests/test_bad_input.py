"""Bad input (issue 6): a table of malformed requests, each with its status and error code,
nasty but valid articles that must be accepted and spoken, and a hypothesis fuzz run against
one live API. Never a 500; every 4xx is JSON with `error.code`."""
from __future__ import annotations

import asyncio
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.audio import mp3
from tests.chunks import chunk_mp3s, chunk_rendered
from tests.conftest import RedisServer, free_port
from tests.stack import Stack, get_json

pytestmark = pytest.mark.slow

MAX_CHARS = 60_000  # READOUT_MAX_CHARS for this module: a 50,000-character token still fits
FAKE_MAX_CHARS = 3000


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "5",
        "READOUT_MAX_CHARS": str(MAX_CHARS), "READOUT_WORKER_CONCURRENCY": "16",
    })
    s.start(workers=1)
    yield s
    s.stop()


def request(stack: Stack, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def error_code(body: bytes) -> str:
    return json.loads(body)["error"]["code"]


@dataclass
class Case:
    name: str
    body: bytes
    content_type: str = "application/json"
    query: str = ""
    status: int = 400
    code: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


def js(obj: object) -> bytes:
    return json.dumps(obj).encode()


OVER = "word " * (MAX_CHARS // 5)  # exactly MAX_CHARS characters, the last a space the cleaner drops
CASES = [
    Case("empty body", b"", code="text_empty"),
    Case("empty plain body", b"", "text/plain", code="text_empty"),
    Case("whitespace only", b" \n\t \r\n ", "text/plain", code="text_empty"),
    Case("whitespace text field", js({"text": "   \n\t  "}), code="text_empty"),
    Case("only markdown syntax", b"# \n\n---\n\n* \n\n> \n\n```\n```\n", "text/markdown", code="text_empty"),
    Case("only markup", b"<html><body><div></div><br/></body></html>", "text/html", code="text_empty"),
    Case("invalid json", b'{"text": "unterminated', code="invalid_json"),
    Case("json array", js(["text"]), code="body_not_object"),
    Case("json string", js("an article"), code="body_not_object"),
    Case("json null", b"null", code="body_not_object"),
    Case("text missing", js({"txt": "hello"}), code="text_missing"),
    Case("text a number", js({"text": 42}), code="text_not_string"),
    Case("text a list", js({"text": ["a", "b"]}), code="text_not_string"),
    Case("text null", js({"text": None}), code="text_not_string"),
    Case("invalid utf-8 plain", b"caf\xe9 au lait \xff\xfe", "text/plain", code="invalid_utf8"),
    Case("invalid utf-8 json", b'{"text": "caf\xe9"}', code="invalid_utf8"),
    Case("only NUL bytes", b"\x00\x00\x00\x00", "text/plain", code="text_empty"),
    Case("only NUL escapes", js({"text": "\u0000" * 10}), code="text_empty"),
    Case("NUL bytes inside text", b"Hello\x00 there.\x00 Fine.", "text/plain", status=202),
    Case("5 MB body", b"a" * (5 * 1024 * 1024), "text/plain", status=413, code="body_too_large"),
    Case("text one over the limit", js({"text": OVER.strip() + " a"}), status=413, code="text_too_long"),
    Case("text exactly at the limit", js({"text": OVER.strip() + "a"}), status=202),
    Case("unknown format", js({"text": "Hello.", "format": "pdf"}), code="unknown_format"),
    Case("format not a string", js({"text": "Hello.", "format": 3}), code="unknown_format"),
    Case("engine not a string", js({"text": "Hello.", "engine": 3}), code="invalid_parameter"),
    Case("voice not a string", js({"text": "Hello.", "voice": {"id": 1}}), code="invalid_parameter"),
    Case("unknown engine", js({"text": "Hello.", "engine": "nope"}), status=422, code="unknown_engine"),
    Case("unknown voice", js({"text": "Hello.", "engine": "fake", "voice": "nobody"}), status=422,
         code="unknown_voice"),
    Case("unknown engine in query", b"Hello.", "text/plain", "?engine=nope", status=422, code="unknown_engine"),
    Case("unknown voice in query", b"Hello.", "text/plain", "?voice=nobody", status=422, code="unknown_voice"),
    Case("wrong content type", b"<a>Hello.</a>", "application/xml", status=415, code="unsupported_media_type"),
    Case("form content type", b"text=Hello", "application/x-www-form-urlencoded", status=415,
         code="unsupported_media_type"),
    Case("no content type", b"Hello.", "", status=415, code="unsupported_media_type"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_submit_table(stack: Stack, case: Case) -> None:
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    status, _, body = request(stack, "POST", "/v1/jobs" + case.query, case.body, headers)
    assert status == case.status, body[:300]
    if case.code:
        assert error_code(body) == case.code


BAD_IDS = ["a" * 33, "a" * 1000, "A" * 32, "g" * 32, "a" * 31 + "%24", "%00" + "a" * 29, "..", "a" * 31 + "%20",
           "%F0%9F%98%80" * 8]


@pytest.mark.parametrize("job_id", BAD_IDS)
@pytest.mark.parametrize("method, suffix", [("GET", ""), ("GET", "/audio"), ("GET", "/events"), ("DELETE", "")])
def test_malformed_job_ids_are_404(stack: Stack, job_id: str, method: str, suffix: str) -> None:
    status, _, body = request(stack, method, f"/v1/jobs/{job_id}{suffix}")
    assert status == 404
    assert error_code(body) in ("job_not_found", "not_found")


@pytest.fixture(scope="module")
def done_job(stack: Stack) -> tuple[str, int]:
    """A finished job and its file size, for the Range rows."""
    status, _, body = request(stack, "POST", "/v1/jobs", js({"text": "A short finished article. It has audio."}),
                              {"Content-Type": "application/json"})
    assert status == 202
    job_id = json.loads(body)["id"]
    stack.wait_until(lambda: get_json(f"{stack.url}/v1/jobs/{job_id}")[1]["status"] == "done", "job done")
    status, _, audio = request(stack, "GET", f"/v1/jobs/{job_id}/audio")
    assert status == 200
    return job_id, len(audio)


@pytest.mark.parametrize("header, status, code", [
    ("bytes=abc", 416, "invalid_range"),
    ("items=0-10", 416, "invalid_range"),
    ("bytes=0-1,5-6", 416, "invalid_range"),
    ("bytes=-", 416, "invalid_range"),
    ("bytes 0-10", 416, "invalid_range"),
    ("bytes=--5", 416, "invalid_range"),
    ("bytes=99999999-", 416, "range_not_satisfiable"),
    ("bytes=99999999-100000000", 416, "range_not_satisfiable"),
    ("bytes=10-5", 416, "range_not_satisfiable"),
    ("bytes=-0", 416, "range_not_satisfiable"),
    ("bytes=0-0", 206, None),
    ("bytes=-100", 206, None),
    ("bytes=10-99999999", 206, None),
])
def test_range_headers(stack: Stack, done_job: tuple[str, int], header: str, status: int, code: str | None) -> None:
    job_id, size = done_job
    got, headers, body = request(stack, "GET", f"/v1/jobs/{job_id}/audio", headers={"Range": header})
    assert got == status, body[:200]
    if code:
        assert error_code(body) == code
        assert headers["content-range"] == f"bytes */{size}"
    else:
        assert headers["content-range"].endswith(f"/{size}") and len(body) == int(headers["content-length"])


NASTY = {
    "one 50,000-character token": "Supercalifragilistic" * 2500,
    "emoji ZWJ sequences": ("👩‍👩‍👧‍👦 👨🏽‍💻 🏳️‍🌈 🧑‍🤝‍🧑 " * 400 + "The end. ") * 3,
    "right-to-left": "مرحبا بالعالم. هذه مقالة قصيرة باللغة العربية. " * 200 + "שלום עולם. זהו מאמר. " * 200,
    "CJK": "这是一篇很长的文章。它没有空格，但有句号。" * 300 + "日本語の文章です。句読点があります。" * 300,
    "mixed scripts and controls": ("Hello\u200b\u200e wörld\u202e reversed\u202c. " + "\u0007bell. ") * 500,
}


@pytest.mark.parametrize("name", list(NASTY))
def test_nasty_valid_text_is_accepted_and_spoken(stack: Stack, name: str) -> None:
    text = NASTY[name]
    status, _, body = request(stack, "POST", "/v1/jobs", js({"text": text}), {"Content-Type": "application/json"})
    assert status == 202, body[:300]
    job_id = json.loads(body)["id"]
    stack.wait_until(lambda: get_json(f"{stack.url}/v1/jobs/{job_id}")[1]["status"] in ("done", "failed"), "terminal")
    final = get_json(f"{stack.url}/v1/jobs/{job_id}")[1]
    assert final["status"] == "done", final
    pieces = asyncio.run(chunk_mp3s(stack, job_id))
    rendered = asyncio.run(chunk_rendered(stack, job_id))
    assert len(pieces) == final["chunks"]["total"] and all(pieces)
    # The fake engine speaks 10 ms a character: no chunk's speech (its units' timings) is longer
    # than the engine's max_chars allows.
    for chunk in rendered:
        speech_ms = [t.end_ms - t.start_ms for t in chunk.sentences]
        assert sum(speech_ms) <= FAKE_MAX_CHARS * 10 + len(speech_ms), speech_ms
    status, _, audio = request(stack, "GET", f"/v1/jobs/{job_id}/audio")
    # the finished file: every chunk's PCM, encoded once (plus one encoder delay and padding)
    assert status == 200 and audio[:3] == b"ID3"
    assert mp3.duration_seconds(audio) == pytest.approx(sum(c.samples / c.sample_rate for c in rendered), abs=0.15)


# --- Fuzz -----------------------------------------------------------------------------------

_printable = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40)
_header_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_submission = st.fixed_dictionaries({}, optional={
    "text": st.one_of(st.text(max_size=300), _json), "format": st.one_of(st.sampled_from(["text", "markdown", "html"]),
                                                                          _json),
    "engine": st.one_of(st.sampled_from(["fake", "piper", "espeak"]), _json),
    "voice": st.one_of(st.sampled_from(["fake-a", "fake-b"]), _json), "variant": _json,
})
_bodies = st.one_of(
    st.binary(max_size=400),
    _json.map(lambda v: json.dumps(v).encode()),
    _submission.map(lambda v: json.dumps(v).encode()),
    st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
_paths = st.one_of(
    st.sampled_from(["/v1/jobs", "/v1/engines", "/v1/stats", "/healthz", "/readyz", "/", "/v1", "/v1/jobs/"]),
    st.builds(lambda i, s: f"/v1/jobs/{i}{s}", st.one_of(st.text("0123456789abcdef", min_size=32, max_size=32),
                                                          _printable.map(urllib.parse.quote)),
              st.sampled_from(["", "/audio", "/events", "/x"])),
    _printable.map(lambda p: "/" + urllib.parse.quote(p)),
)
_content_types = st.one_of(
    st.sampled_from(["application/json", "text/plain", "text/markdown", "text/html", "application/xml",
                     "application/json; charset=latin-1", "text/plain; charset=utf-16", "multipart/form-data"]),
    _header_value,
)


def _static_page(path: str) -> bool:
    """The browser pages are files, not the JSON API: aiohttp's FileResponse answers a bad
    Range on them with a bare 416 (no 5xx still holds there)."""
    return path in ("/", "/docs") or path.startswith("/static/")


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
@given(method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"]), path=_paths, body=_bodies,
       content_type=_content_types, query=st.dictionaries(st.sampled_from(["engine", "voice", "variant", "x"]),
                                                          _header_value, max_size=3),
       extra=st.dictionaries(st.sampled_from(["Range", "Authorization", "If-None-Match", "Accept", "If-Range"]),
                             _header_value, max_size=3))
def test_fuzz_never_500_and_errors_are_json(stack: Stack, method: str, path: str, body: bytes, content_type: str,
                                            query: dict[str, str], extra: dict[str, str]) -> None:
    url = path + ("?" + urllib.parse.urlencode(query) if query else "")
    headers = {"Content-Type": content_type, **extra}
    status, resp_headers, resp_body = request(stack, method, url, body if method != "GET" else None, headers)
    assert status < 500, (method, url, headers, body[:100], resp_body[:300])
    if status >= 400 and not _static_page(path):
        assert resp_headers.get("content-type", "").startswith("application/json"), (status, resp_body[:200])
        assert isinstance(error_code(resp_body), str)
