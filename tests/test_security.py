"""Access control and hygiene (issue 6): API keys, ownership, secure-by-default binding,
per-key limits shared across API replicas, the body limit, job-id validation, and logs that
never carry a key, a credential or article text. Real redis-server and real processes."""
from __future__ import annotations

import os
import secrets
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis as sync_redis
from aiohttp import web

from api.__main__ import check_exposure
from api.app import create_app
from shared.config import Settings, load_settings
from tests.conftest import ROOT, RedisServer, free_port
from tests.polly_stub import ACCESS_KEY, PollyStub
from tests.stack import Stack
from tests.test_service_e2e import fresh, wait_done

pytestmark = pytest.mark.slow

ALICE = "alice-" + secrets.token_hex(12)
BOB = "bob-" + secrets.token_hex(12)
METRICS = "scraper-" + secrets.token_hex(12)
PUBLIC = {"/healthz", "/", "/docs", "/openapi.json", "/static/{path}"}  # no data behind these
OWN_TOKEN = {"/v1/feeds/{token}.xml"}  # podcast apps send no headers (see api.feed)
FAKE = {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "20"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"),
              env={**FAKE, "READOUT_API_KEYS": f"alice:{ALICE}, bob:{BOB}", "READOUT_METRICS_TOKEN": METRICS})
    s.start(workers=1)
    yield s
    s.stop()


async def post_job(http: aiohttp.ClientSession, base: str, key: str | None, text: str) -> tuple[int, dict, dict]:
    headers = bearer(key) if key else {}
    async with http.post(f"{base}/v1/jobs", json={"text": text}, headers=headers) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


# --- API keys and ownership ---------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {ALICE}"},
    {"Authorization": f"Bearer {ALICE}x"}, {"Authorization": f"Bearer {ALICE[:-1]}"},
])
async def test_requests_without_a_valid_key_get_401(stack: Stack, http, headers: dict[str, str]) -> None:
    for method, path, body in [("POST", "/v1/jobs", {"text": "Hello."}), ("GET", f"/v1/jobs/{'a' * 32}", None),
                               ("GET", f"/v1/jobs/{'a' * 32}/audio", None), ("DELETE", f"/v1/jobs/{'a' * 32}", None)]:
        async with http.request(method, stack.url + path, json=body, headers=headers) as resp:
            assert resp.status == 401, (method, path)
            assert (await resp.json())["error"]["code"] == "unauthorized"
            assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_another_key_cannot_see_or_touch_a_job(stack: Stack, http) -> None:
    status, job, _ = await post_job(http, stack.url, ALICE, fresh("Alice's private article. It is hers."))
    assert status == 202
    unknown = f"/v1/jobs/{secrets.token_hex(16)}"
    for method, suffix in [("GET", ""), ("GET", "/audio"), ("GET", "/events"), ("DELETE", "")]:
        async with http.request(method, f"{stack.url}{job['status_url']}{suffix}", headers=bearer(BOB)) as resp:
            theirs = resp.status, await resp.json()
        async with http.request(method, f"{stack.url}{unknown}{suffix}", headers=bearer(BOB)) as resp:
            missing = resp.status, await resp.json()
        assert theirs == missing == (404, {"error": {"code": "job_not_found", "message": "no such job"}})
    async with aiohttp.ClientSession(headers=bearer(ALICE)) as alice:
        final = await wait_done(alice, stack.url, job["id"])
        assert final["status"] == "done"  # Bob's DELETE did not cancel it
        async with alice.get(stack.url + job["audio_url"]) as resp:
            assert resp.status == 200 and len(await resp.read()) > 0


def served_routes() -> list[tuple[str, str]]:
    """Every (method, concrete path) the app serves, from its own router."""
    app = create_app(Settings(fake_engine=True, default_engine="fake", api_keys={"k": "n"}), "redis://127.0.0.1:1/0")
    found = []
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        path = route.resource.canonical
        if isinstance(route.resource, web.StaticResource):
            path += "/{path}"
        found.append((route.method, path))
    return sorted(set(found))


def concrete(path: str) -> str:
    """A route's path with every placeholder filled in, so the route itself answers."""
    filled = {"{job_id}": "0" * 32, "{path}": "style.css", "{model_id}": "tts-1", "{token}": secrets.token_urlsafe(24)}
    for placeholder, value in filled.items():
        path = path.replace(placeholder, value)
    assert "{" not in path, f"a placeholder of {path} is not filled in"
    return path


@pytest.mark.parametrize(("method", "path"), served_routes())
async def test_every_endpoint_but_the_public_ones_needs_a_key(stack: Stack, http, method: str, path: str) -> None:
    url = stack.url + concrete(path)
    async with http.request(method, url, data=b"{}", headers={"Content-Type": "application/json"}) as resp:
        if path in PUBLIC:
            assert resp.status == 200, (method, path, resp.status)
            return
        if path in OWN_TOKEN:  # the unguessable token in the URL is the credential: a wrong one finds nothing
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found", (path, resp.status)
            return
        assert resp.status == 401, (method, path, resp.status)
        assert (await resp.json())["error"]["code"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    async with http.request(method, url, data=b"{}", headers={"Content-Type": "application/json", **bearer(ALICE)}) as resp:
        assert resp.status != 401, (method, path)


@pytest.mark.parametrize(("headers", "status"), [
    (bearer(METRICS), 200), (bearer(ALICE), 200), ({}, 401), (bearer(METRICS + "x"), 401),
])
async def test_metrics_take_the_metrics_token_or_a_key(stack: Stack, http, headers: dict[str, str], status: int) -> None:
    async with http.get(stack.url + "/metrics", headers=headers) as resp:
        assert resp.status == status
        if status == 200:
            assert "readout_jobs" in await resp.text()


async def test_the_metrics_token_is_no_api_key(stack: Stack, http) -> None:
    async with http.get(stack.url + "/v1/stats", headers=bearer(METRICS)) as resp:
        assert resp.status == 401


def test_two_authorization_headers_are_a_400(stack: Stack) -> None:
    for first, second in ((ALICE, BOB), (ALICE, ALICE), ("wrong", ALICE)):
        answer = send_raw(stack.port, (f"GET /v1/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {first}\r\n"
                                       f"Authorization: Bearer {second}\r\nConnection: close\r\n\r\n").encode())
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
        assert b'"duplicate_authorization"' in answer


# --- Secure by default ---------------------------------------------------------------------


@pytest.mark.parametrize("env, refused", [
    ({}, False),
    ({"READOUT_HOST": "127.0.0.1"}, False),
    ({"READOUT_HOST": "::1"}, False),
    ({"READOUT_HOST": "localhost"}, False),
    ({"READOUT_HOST": "0.0.0.0"}, True),
    ({"READOUT_HOST": "::"}, True),
    ({"READOUT_HOST": "192.168.1.10"}, True),
    ({"READOUT_HOST": "0.0.0.0", "READOUT_ALLOW_ANONYMOUS": "1"}, False),
    ({"READOUT_HOST": "0.0.0.0", "READOUT_ALLOW_ANONYMOUS": "0"}, True),
    ({"READOUT_HOST": "0.0.0.0", "READOUT_API_KEYS": "a:k1"}, False),
])
def test_check_exposure(env: dict[str, str], refused: bool) -> None:
    problem = check_exposure(load_settings(env))
    assert (problem is not None) == refused
    if problem:
        assert "READOUT_ALLOW_ANONYMOUS=1" in problem and "READOUT_API_KEYS" in problem


def test_python_m_api_refuses_a_public_bind_without_keys(redis_server: RedisServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("READOUT_")}
    env.update({"READOUT_HOST": "0.0.0.0", "READOUT_PORT": str(free_port()), "REDIS_URL": redis_server.url,
                "PYTHONPATH": str(ROOT)})
    proc = subprocess.run([sys.executable, "-m", "api"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode != 0
    assert "READOUT_ALLOW_ANONYMOUS" in proc.stderr


# --- Limits shared across API replicas -----------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of the test's own: the module's stack and its worker must not see these jobs."""
    server = RedisServer(port=free_port(), dir=tmp_path / "redis")
    server.dir.mkdir()
    server.start()
    yield server.url
    server.kill()


@pytest.fixture
def two_apis(own_redis: str, tmp_path: Path) -> Iterator[tuple[Stack, Stack]]:
    """Two API processes on one Redis (no workers: limits are the API's business)."""
    redis_url = own_redis
    env = {**FAKE, "READOUT_API_KEYS": f"alice:{ALICE},bob:{BOB}", "READOUT_RATE_PER_MIN": "4",
           "READOUT_QUOTA_CHARS": "1000"}
    a = Stack(redis_url, free_port(), tmp_path / "a", env=env)
    b = Stack(redis_url, free_port(), tmp_path / "b", env=env)
    try:
        a.start(workers=0)
        b.start(workers=0)
        yield a, b
    finally:
        a.stop()
        b.stop()


async def test_rate_limit_is_shared_by_api_replicas(two_apis, http) -> None:
    a, b = two_apis
    for _ in range(2):  # a fixed one-minute window: if the minute turned mid-test, run again in the next
        minute = int(time.time() // 60)
        results = [await post_job(http, api.url, ALICE, fresh("A tiny article.")) for api in (a, b, a, b, a, b)]
        if int(time.time() // 60) == minute:
            break
    assert [r[0] for r in results] == [202, 202, 202, 202, 429, 429]
    for _status, body, headers in results[4:]:
        assert body["error"]["code"] == "rate_limited"
        assert 1 <= int(headers["Retry-After"]) <= 60
    status, _, _ = await post_job(http, a.url, BOB, fresh("Bob has his own budget."))
    assert status == 202


async def test_monthly_quota_is_shared_by_api_replicas(two_apis, http) -> None:
    a, b = two_apis
    text = "x" * 400
    assert (await post_job(http, a.url, BOB, text))[0] == 202
    assert (await post_job(http, b.url, BOB, text))[0] == 202
    status, body, headers = await post_job(http, a.url, BOB, text)  # would make 1,200 > 1,000
    assert status == 429 and body["error"]["code"] == "quota_exceeded"
    assert int(headers["Retry-After"]) > 0
    # A refused job is charged nothing (neither characters nor a rate slot): 200 more still fit.
    assert (await post_job(http, b.url, BOB, "y" * 200))[0] == 202
    status, body, _ = await post_job(http, b.url, BOB, "z")
    assert (status, body["error"]["code"]) == (429, "quota_exceeded")
    assert (await post_job(http, a.url, ALICE, text))[0] == 202  # per key


# --- Body limit and job ids ----------------------------------------------------------------


def raw_exchange(port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request head and part of a body, never finishing it; return what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):  # the server stopped reading: fine
                break
        data = b""
        while b"\r\n\r\n" not in data:
            piece = sock.recv(65536)  # times out (fails the test) if the server waits for the rest
            if not piece:
                break
            data += piece
        return data


def test_oversized_declared_body_is_refused_before_it_is_sent(stack: Stack) -> None:
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n").encode()
    answer = raw_exchange(stack.port, head, [b"only a little of it"])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_oversized_chunked_body_is_refused_once_over_the_limit(stack: Stack) -> None:
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\n"
            "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    piece = b"word " * 13107  # 64 KiB
    parts = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 80  # 5 MiB, never terminated
    answer = raw_exchange(stack.port, head, parts)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"body_too_large" in answer or b"Content-Length" in answer


def test_malformed_job_ids_never_reach_redis(stack: Stack, redis_server: RedisServer) -> None:
    """Watch Redis with MONITOR: a malformed id is refused without a command; a well-formed one is looked up."""
    odd = ["Z" * 32, "a" * 33, "a" * 400, "A" * 32, "a" * 31 + "*", "..%2F" + "a" * 27]
    well_formed = secrets.token_hex(16)
    marker = "marker-" + secrets.token_hex(4)
    seen: list[str] = []
    client = sync_redis.Redis.from_url(redis_server.url)
    ready = threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                seen.append(command["command"])
                if marker in command["command"]:
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert ready.wait(10)
    for job_id in [*odd, well_formed]:
        request = urllib.request.Request(f"{stack.url}/v1/jobs/{job_id}", headers=bearer(ALICE))
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 404
    sync_redis.Redis.from_url(redis_server.url).echo(marker)
    thread.join(20)
    client.close()
    log = "\n".join(seen)
    assert well_formed in log  # the monitor did see the lookups
    for job_id in odd:
        assert job_id[:31] not in log.replace(well_formed, ""), job_id


# --- Logs, and Polly's plain text ----------------------------------------------------------


def send_raw(port: int, data: bytes) -> bytes:
    """Send bytes as they are (no client would send these) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        answer = b""
        while piece := conn.recv(65536):
            answer += piece
        return answer


async def test_logs_hold_no_key_credential_or_article_text(own_redis: str, tmp_path: Path) -> None:
    """A whole run at DEBUG, through Polly (a local stub) and the fake engine, failures included;
    then grep every log file for the key, the AWS credentials and the article's words."""
    secret = "SECRETKEY" + secrets.token_hex(16)
    phrase = "Quixotic" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))  # no digits: spoken as written
    markup = f'<speak>{phrase} reads <break time="9s"/> this <prosody rate="x-fast">aloud</prosody>.</speak>'
    async with PollyStub() as stub:
        s = Stack(own_redis, free_port(), tmp_path / "logs", env={
            **FAKE, "READOUT_API_KEYS": f"alice:{ALICE}", "READOUT_LOG_LEVEL": "DEBUG",
            "READOUT_POLLY_ENDPOINT_URL": stub.url, "READOUT_PROVIDER_BACKOFF": "0.01",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-cred"),
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        try:
            s.start(workers=1)
            async with aiohttp.ClientSession(headers=bearer(ALICE)) as alice:
                finals = []
                for engine, text in [("polly", markup), ("fake", f"{phrase} is a plain article. " * 30),
                                     ("polly", f"{phrase} fails.")]:
                    if text.endswith("fails."):
                        stub.fail_next.append((400, "ValidationException", "rejected"))
                    async with alice.post(f"{s.url}/v1/jobs", json={"text": text, "engine": engine}) as resp:
                        assert resp.status == 202, await resp.text()
                        finals.append(await wait_done(alice, s.url, (await resp.json())["id"]))
                async with alice.post(f"{s.url}/v1/jobs", data=f'{{"text": "{phrase}',
                                      headers={"Content-Type": "application/json"}) as resp:
                    assert resp.status == 400
                async with alice.post(f"{s.url}/v1/jobs", json={"text": phrase},
                                      headers=bearer(ALICE + "typo")) as resp:
                    assert resp.status == 401
            assert [f["status"] for f in finals] == ["done", "done", "failed"], finals
            # Requests aiohttp's own parser rejects, carrying the key and article text in their bytes,
            # and links with signed-looking query strings: none of it may reach a log line.
            job_path = f"/v1/jobs/{finals[0]['id']}"
            for raw in (
                f"GET {job_path} HTTP/1.1\r\nAuthorization: Bearer {ALICE}\r\nX-Pad: {phrase * 2000}\r\n\r\n",
                f"GET {job_path} HTTP/1.1\r\nAuthorization: Bearer {ALICE}\r\nBad Header {phrase}: x\r\n\r\n",
                f"GET {job_path}/audio?access_token={ALICE}&sig={secret} HTTP/1.1\r\n{phrase}\r\n\r\n",
                f"\x16\x03\x01 {ALICE} {phrase}\r\n\r\n",
                f"POST /v1/jobs HTTP/1.1\r\nAuthorization: Bearer {ALICE}\r\nContent-Type: application/json\r\n"
                f"Content-Length: 5\r\n\r\n{{\"text\": \"{phrase}\"}}\r\n\r\n",
            ):
                answer = send_raw(s.port, raw.encode())
                assert answer.startswith(b"HTTP/1."), answer[:100]
                assert ALICE.encode() not in answer and phrase.encode() not in answer, answer[:300]
            # A key in the URL is no credential (401); a signature that is wrong is refused (403).
            for query, refused in ((f"access_token={ALICE}", 401), (f"sig={secret}&token={secret}", 403)):
                async with aiohttp.ClientSession() as anyone:
                    async with anyone.get(f"{s.url}{job_path}/audio?{query}") as resp:
                        assert resp.status == refused, (query[:12], resp.status)
        finally:
            s.stop()
    texts = [r["Text"] for r in stub.requests]
    # markup spoken as text: its tags reach Polly as words (normalised like any text), never as SSML
    assert any(phrase in t and "<speak>" in t and "prosody" in t for t in texts), texts
    assert {r["TextType"] for r in stub.requests} == {"text"}
    logs = {p.name: p.read_text(errors="replace") for p in (tmp_path / "logs").glob("*.log")}
    assert sum(len(t) for t in logs.values()) > 1000  # DEBUG logging really ran
    for name, text in logs.items():
        for needle in (ALICE, ACCESS_KEY, secret, phrase):
            assert needle not in text, f"{needle[:12]}... found in {name}"
