"""Hostile input and failure paths (issue 15), against the real stack and a real aiohttp server.

- A response that has started is never followed by an error response: it is cut.
- No input gets a 500: bytes that are not text in any header, numbers of any length, JSON
  of any depth, file names of any length, requests aiohttp's own parser rejects (answered
  as JSON that echoes nothing), a body that never arrives (408), two Authorization headers.
- CPU-heavy articles never block the event loop, and the cleaners are linear in their input.
"""
from __future__ import annotations

import asyncio
import gc
import json
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.exceptions import ConnectionError as RedisConnectionError

from api.errors import ApiError, json_errors
from shared.text.cleaning import clean_text
from tests.conftest import CORPUS, RedisServer, free_port
from tests.seaweed import SeaweedS3
from tests.stack import Stack
from tests.test_service_e2e import fresh, wait_done

KEY = "hostile-" + secrets.token_hex(8)
AUTH = {"Authorization": f"Bearer {KEY}"}
MARKER = "Echo" + secrets.token_hex(6)  # put into hostile requests; must never come back
CLEAN_TIMEOUT_S = 1.5
PROBE_S = 0.01  # /healthz sampling interval while the bombs are cleaned


def exchange(port: int, data: bytes, timeout: float = 20) -> bytes:
    """Raw bytes in, everything the server sends until it closes out."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        answer = b""
        try:
            while piece := conn.recv(65536):
                answer += piece
        except ConnectionResetError:
            pass
        return answer


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def request(method: str, path: str, headers: dict[str, bytes | str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()))
    if body:
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "20",
        "READOUT_API_KEYS": f"hostile:{KEY}", "READOUT_BODY_TIMEOUT": "1",
        "READOUT_CLEAN_TIMEOUT": str(CLEAN_TIMEOUT_S),
    })
    s.start(workers=1)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def done_job(stack: Stack) -> str:
    async def make() -> str:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            async with http.post(stack.url + "/v1/jobs", json={"text": fresh("A short article. It has two sentences.")}) as r:
                job = await r.json()
            assert (await wait_done(http, stack.url, job["id"]))["status"] == "done"
            return job["id"]
    return asyncio.run(make())


# --- No 500, whatever the bytes --------------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000
LONG_NUMBER = b'{"text": "hi", "n": ' + b"9" * 5_000 + b"}"
SPEECH_LONG_NUMBER = b'{"model": "tts-1", "voice": "alloy", "input": "hi", "speed": ' + b"1" * 5_000 + b"}"
JSON = {"Content-Type": "application/json"}

CASES: list[tuple[str, str, str, dict[str, bytes | str], bytes, int, str | None]] = [
    # id, method, path, headers, body, status, error code
    ("auth-not-utf8", "GET", "/v1/stats", {"Authorization": b"Bearer \xff\xfe" + MARKER.encode()}, b"", 401, "unauthorized"),
    ("auth-latin1", "GET", "/v1/engines", {"Authorization": "Bearer cl\xe9".encode("latin-1")}, b"", 401, "unauthorized"),
    ("auth-control", "GET", "/v1/engines", {"Authorization": b"Bearer a\x01b"}, b"", 400, "bad_request"),
    ("auth-huge-token", "GET", "/v1/stats", {"Authorization": "Bearer " + "k" * 4000}, b"", 401, "unauthorized"),
    ("auth-on-job", "GET", "/v1/jobs/" + "0" * 32, {"Authorization": b"Bearer \x80\x81"}, b"", 401, "unauthorized"),
    ("range-not-utf8", "GET", "{audio}", {**AUTH, "Range": b"bytes=\xff-\xfe"}, b"", 416, "invalid_range"),
    ("range-5000-digits", "GET", "{audio}", {**AUTH, "Range": "bytes=" + "9" * 5000 + "-"}, b"", 416, "invalid_range"),
    ("range-suffix-5000", "GET", "{audio}", {**AUTH, "Range": "bytes=-" + "1" * 5000}, b"", 416, "invalid_range"),
    ("if-none-match-bytes", "GET", "{audio}", {**AUTH, "If-None-Match": b"\xff\xfe"}, b"", 200, None),
    ("content-type-bytes", "POST", "/v1/jobs", {**AUTH, "Content-Type": b"\xff/\xfe"}, b"hi", 415, "unsupported_media_type"),
    ("json-deep-jobs", "POST", "/v1/jobs", {**AUTH, **JSON}, DEEP, 400, "json_too_complex"),
    ("json-deep-small", "POST", "/v1/jobs", {**AUTH, **JSON}, b'{"text": ' + b"[" * 40 + b"]" * 40 + b"}", 400,
     "json_too_deep"),
    ("json-deep-speech", "POST", "/v1/audio/speech", {**AUTH, **JSON}, DEEP, 400, "json_too_complex"),
    ("json-number-jobs", "POST", "/v1/jobs", {**AUTH, **JSON}, LONG_NUMBER, 400, "number_too_long"),
    ("json-number-speech", "POST", "/v1/audio/speech", {**AUTH, **JSON}, SPEECH_LONG_NUMBER, 400, "number_too_long"),
    ("json-exponent", "POST", "/v1/audio/speech", {**AUTH, **JSON},
     b'{"model": "tts-1", "voice": "alloy", "input": "hi", "speed": 1e99999}', 400, "invalid_parameter"),
    ("json-not-utf8", "POST", "/v1/audio/speech", {**AUTH, **JSON}, b'{"input": "\xff"}', 400, "invalid_utf8"),
    ("static-long-name", "GET", "/static/" + "a" * 300, {}, b"", 404, "not_found"),
    ("static-long-path", "GET", "/static/" + "/".join(["b" * 200] * 30), {}, b"", 404, "not_found"),
    ("static-miss", "GET", "/static/nope.js", {}, b"", 404, "not_found"),
    ("static-traversal", "GET", "/static/../../../../etc/passwd", {}, b"", 404, "not_found"),
    ("unknown-path", "GET", "/nope", AUTH, b"", 404, "not_found"),
    ("two-authorization", "GET", "/v1/stats", {"Authorization": "Bearer " + KEY}, b"", 400, "duplicate_authorization"),
]


@pytest.mark.parametrize(("name", "method", "path", "headers", "body", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_hostile_request_gets_a_json_answer(stack: Stack, done_job: str, name: str, method: str, path: str,
                                            headers: dict[str, bytes | str], body: bytes, status: int,
                                            code: str | None) -> None:
    raw = request(method, path.replace("{audio}", f"/v1/jobs/{done_job}/audio"), headers, body)
    if name == "two-authorization":  # a second header of the same name
        raw = raw.replace(b"Connection: close", b"Connection: close\r\nAuthorization: Bearer " + KEY.encode())
    got, resp_headers, resp_body = parse(exchange(stack.port, raw))
    assert got == status, (name, got, resp_body[:300])
    if code is not None:
        assert resp_headers["content-type"].startswith("application/json")
        assert json.loads(resp_body)["error"]["code"] == code
    assert MARKER.encode() not in resp_body


PARSER_CASES = [
    ("header-too-long", request("GET", "/healthz", {"X-Pad": MARKER * 2000}), 431, "headers_too_large"),
    ("request-line-too-long", request("GET", "/healthz?q=" + MARKER * 2000), 431, "headers_too_large"),
    ("header-without-colon", request("GET", "/healthz", {f"Bad Header {MARKER}": "x"}), 400, "bad_request"),
    ("not-http", f"\x16\x03\x01\x02 {MARKER}\r\n\r\n".encode(), 400, "bad_request"),
    ("bad-method", f"G(T / HTTP/1.1\r\nX: {MARKER}\r\n\r\n".encode(), 400, "bad_request"),
    ("lying-length-short", request("POST", "/v1/jobs", {**AUTH, **JSON, "Content-Length": "3"}).replace(
        b"\r\n\r\n", b"\r\n\r\n" + f'{{"text": "{MARKER}"}}'.encode(), 1), 400, None),
    ("bad-chunked", request("POST", "/v1/jobs", {**AUTH, **JSON, "Transfer-Encoding": "chunked"}) + b"zz\r\n" +
     MARKER.encode() + b"\r\n", 400, None),
    ("two-content-lengths", request("POST", "/v1/jobs", {**AUTH, **JSON, "Content-Length": "2"}).replace(
        b"Connection: close", b"Connection: close\r\nContent-Length: 4"), 400, "bad_request"),
]


@pytest.mark.parametrize(("name", "raw", "status", "code"), PARSER_CASES, ids=[c[0] for c in PARSER_CASES])
def test_parser_errors_are_json_and_echo_nothing(stack: Stack, name: str, raw: bytes, status: int, code: str | None) -> None:
    answer = exchange(stack.port, raw)
    assert MARKER.encode() not in answer, answer[:400]
    first = answer.split(b"HTTP/1.")[1:]
    assert first, answer[:200]
    got, headers, body = parse(b"HTTP/1." + first[0])
    assert got == status, (name, answer[:300])
    assert headers["content-type"].startswith("application/json")
    body = body[: int(headers["content-length"])]
    found = json.loads(body)["error"]["code"]
    assert code is None or found == code


def test_a_body_that_never_arrives_is_a_408(stack: Stack) -> None:
    head = request("POST", "/v1/jobs", {**AUTH, **JSON, "Content-Length": "100"}) + b'{"text": '
    got, headers, body = parse(exchange(stack.port, head))  # the rest never comes
    assert got == 408, body
    assert json.loads(body[: int(headers["content-length"])])["error"]["code"] == "body_timeout"


def test_405_names_the_allowed_methods(stack: Stack) -> None:
    for path, allowed in (("/v1/stats", {"GET", "HEAD"}), ("/v1/jobs", {"GET", "HEAD", "POST"}), ("/healthz", {"GET", "HEAD"})):
        got, headers, body = parse(exchange(stack.port, request("PUT", path, AUTH)))
        assert got == 405
        assert set(headers["allow"].split(",")) == allowed
        assert json.loads(body)["error"]["code"] == "method_not_allowed"


# --- A started response is cut, never followed by an error response ------------------------


async def _failing_app(kind: str) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        if kind == "sized":
            response.content_length = 100_000
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"\xff\xfb" * 1000)
        if kind == "sized":
            raise ApiError(410, "audio_expired", "this job's audio has left the cache")
        raise RedisConnectionError("Redis went away mid-stream")

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/audio", handler)
    return app


@pytest.mark.parametrize("kind", ["chunked", "sized"])
async def test_a_failure_after_the_headers_cuts_the_connection(kind: str) -> None:
    server = TestServer(await _failing_app(kind))
    await server.start_server()
    try:
        answer = await asyncio.to_thread(exchange, server.port, request("GET", "/audio"))
    finally:
        await server.close()
    assert answer.count(b"HTTP/1.1") == 1, answer[-300:]  # no second response inside the body
    assert b'"error"' not in answer
    _, headers, body = parse(answer)
    if kind == "chunked":
        assert not body.endswith(b"0\r\n\r\n")  # no terminating chunk: the client knows it is short
    else:
        assert len(body) < int(headers["content-length"])
    async with aiohttp.ClientSession() as http:  # and a real client reports an error, not a short file
        server = TestServer(await _failing_app(kind))
        await server.start_server()
        try:
            with pytest.raises(aiohttp.ClientPayloadError):
                async with http.get(server.make_url("/audio")) as resp:
                    await resp.read()
        finally:
            await server.close()


# --- CPU-heavy articles --------------------------------------------------------------------


async def test_markup_bombs_never_block_the_event_loop(stack: Stack) -> None:
    bomb = "![" * 25_000  # 50 KB of image openers
    started = time.perf_counter()
    clean_text(bomb, "markdown")
    one_clean = time.perf_counter() - started  # what one bomb costs the CPU, measured here and now
    latencies: list[float] = []
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async def bomb_request() -> int:
            async with http.post(stack.url + "/v1/jobs", data=bomb.encode(), headers={"Content-Type": "text/markdown"}) as r:
                await r.read()
                return r.status

        async def probe(until: asyncio.Task) -> None:
            while not until.done():
                t = time.perf_counter()
                async with http.get(stack.url + "/healthz") as r:
                    assert r.status == 200
                latencies.append(time.perf_counter() - t)
                await asyncio.sleep(PROBE_S)

        async def all_bombs() -> list[int]:
            return list(await asyncio.gather(*(bomb_request() for _ in range(20))))

        bombs = asyncio.create_task(all_bombs())
        await probe(bombs)
        statuses = await bombs
    assert set(statuses) <= {400, 422}, statuses  # nothing speakable in it (400), or over the budget (422)
    assert len(latencies) > 5
    # Twenty bombs cost the CPU twenty cleans; /healthz never waited for even one of them.
    assert max(latencies) < one_clean, (max(latencies), one_clean)
    print(f"\n20 markup bombs: /healthz answered {len(latencies)} times meanwhile, slowest {max(latencies) * 1000:.0f} ms "
          f"(one bomb takes {one_clean * 1000:.0f} ms to clean); statuses {sorted(set(statuses))}")


async def test_an_article_over_the_cleaning_budget_is_a_422_and_the_pool_recovers(stack: Stack) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        started = time.perf_counter()
        async with http.post(stack.url + "/v1/jobs", data=("![" * 400_000).encode(),
                             headers={"Content-Type": "text/markdown"}) as r:
            assert r.status == 422, await r.text()
            assert (await r.json())["error"]["code"] == "text_too_complex"
        refused_after = time.perf_counter() - started
        for _ in range(4):  # more than the pool's processes: the killed one was replaced
            async with http.post(stack.url + "/v1/jobs", json={"text": fresh("Fine text. Spoken."), "format": "markdown"}) as r:
                assert r.status == 202, await r.text()
    assert refused_after >= CLEAN_TIMEOUT_S
    print(f"\n800 KB markup bomb refused with 422 after {refused_after:.1f}s (budget {CLEAN_TIMEOUT_S}s)")


# name: (format, size n, input of size ~n); each is measured at n and 4n
LINEAR_FAMILIES: dict[str, tuple[str, int, Callable[[int], str]]] = {
    "markdown image openers": ("markdown", 8_000, lambda n: "![" * n),
    "markdown link openers": ("markdown", 8_000, lambda n: "[a](" * n),
    "markdown emphasis": ("markdown", 8_000, lambda n: "*a " * n),
    "markdown quotes nested": ("markdown", 8_000, lambda n: ">" * n + " a"),
    "markdown table rows": ("markdown", 2_000, lambda n: "|a|b|\n|-|-|\n" + "|x|y|\n" * n),
    "markdown megabyte line": ("markdown", 64_000, lambda n: "word " * n),
    "html nested divs": ("html", 8_000, lambda n: "<div>" * n + "a"),
    "html open tags": ("html", 8_000, lambda n: "<b>a" * n),
    "html lone brackets": ("html", 64_000, lambda n: "<" * n),
    "text url tail": ("text", 64_000, lambda n: "http://a.com/" + "(" * n + ")" * n + "." * n),
    "text dotted host": ("text", 64_000, lambda n: "a." * n),
    "text megabyte line": ("text", 256_000, lambda n: "a" * n),
}


def _best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    gc.disable()  # time the algorithm, not when the collector happens to run
    try:
        for _ in range(runs):
            started = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - started)
    finally:
        gc.enable()
    return best


@pytest.mark.parametrize("family", list(LINEAR_FAMILIES))
def test_cleaners_are_linear_on_adversarial_input(family: str) -> None:
    """4x the input may cost about 4x the time; quadratic code would cost 16x."""
    fmt, n, make = LINEAR_FAMILIES[family]
    small, large = make(n), make(4 * n)
    t_small = _best_of(3, lambda: clean_text(small, fmt))
    t_large = _best_of(3, lambda: clean_text(large, fmt))
    ratio = t_large / max(t_small, 1e-4)
    assert ratio < 10, f"{family}: {t_small * 1000:.1f} ms -> {t_large * 1000:.1f} ms for 4x the input ({ratio:.1f}x)"


# --- A stream that waits on a job going nowhere is cut -----------------------------------------


async def test_streams_of_a_job_that_never_moves_are_cut(tmp_path) -> None:
    own = RedisServer(port=free_port(), dir=tmp_path)  # no worker of another stack may take the job
    own.start()
    s = Stack(own.url, free_port(), tmp_path / "logs", env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_STREAM_IDLE_TIMEOUT": "2",
    })
    s.start(workers=0)  # nobody will ever work on the job
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(s.url + "/v1/jobs", json={"text": fresh("Nobody speaks this. Ever.")}) as r:
                job = await r.json()
            for path in (job["audio_url"], job["events_url"]):
                with pytest.raises(aiohttp.ClientPayloadError):  # a broken transfer, not an ended one
                    async with http.get(s.url + path) as resp:
                        assert resp.status == 200
                        await resp.read()
            async with http.get(s.url + job["status_url"]) as r:
                assert (await r.json())["status"] == "queued"
    finally:
        s.stop()
        own.kill()


def test_storage_failing_during_a_download_cuts_it(tmp_path: Path) -> None:
    """A finished job's file proxied from S3 goes out with Content-Length; storage that fails
    meanwhile cuts the download (short body), never an error response written inside the 200."""
    own = RedisServer(port=free_port(), dir=tmp_path / "redis")  # the module stack's worker must not take these jobs
    own.dir.mkdir()
    own.start()
    (tmp_path / "s3").mkdir()
    s3 = SeaweedS3(tmp_path / "s3")  # this test's own S3 server: it is killed half-way
    s3.start()
    s = Stack(own.url, free_port(), tmp_path / "logs", env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_API_KEYS": f"hostile:{KEY}",
        **s3.env(prefix="cut"),
    })
    try:
        s.start(workers=1)
        article = fresh((CORPUS / "federalist-10.txt").read_text(encoding="utf-8") * 4)

        async def make() -> str:
            async with aiohttp.ClientSession(headers=AUTH) as http:
                async with http.post(s.url + "/v1/jobs", json={"text": article}) as r:
                    job = await r.json()
                assert (await wait_done(http, s.url, job["id"], timeout=300))["status"] == "done"
                return job["id"]

        job_id = asyncio.run(make())
        with socket.socket() as conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow reader: the server must wait on us
            conn.settimeout(30)
            conn.connect(("127.0.0.1", s.port))
            conn.sendall(request("GET", f"/v1/jobs/{job_id}/audio", AUTH))
            answer = conn.recv(4096)
            s3.proc.kill()  # the storage goes away while the download is under way
            s3.proc.wait()
            try:
                while piece := conn.recv(65536):
                    answer += piece
            except ConnectionResetError:
                pass
        status, headers, body = parse(answer)
        assert status == 200
        assert answer.count(b"HTTP/1.1") == 1 and b'"error"' not in answer
        assert len(body) < int(headers["content-length"]), (len(body), headers["content-length"])
        assert "storage read failed" in s.read_logs()
        print(f"\nS3 killed during a download: {len(body)} of {headers['content-length']} bytes sent, then cut")
    finally:
        s.stop()
        s3.stop()
        own.kill()
