"""URL jobs through the real stack: the API, a worker process, a real redis-server, the fake engine.

Private addresses are allowed in this module only (READOUT_FETCH_ALLOW_PRIVATE=1), so the
worker can read the local page server on 127.0.0.1. What is spoken is read back from Redis:
the chunk texts the worker wrote when it split the cleaned article. The fake engine is slow
here (30 s a chunk), so each job is still running while its chunk texts are read, and every
such test cancels its job afterwards. The time limit is 4 s, so the endless page fails fast.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest
import redis.asyncio as aioredis

from shared import jobs, keys
from shared.fetch import MAX_URL_CHARS
from shared.text import Document
from tests.conftest import RedisServer, free_port
from tests.page_server import ARTICLES, PageServer
from tests.stack import Stack

pytestmark = pytest.mark.slow

MAX_CHARS = 20_000
SPOKEN = {  # page -> (title, author, what must be spoken, what must not)
    **ARTICLES,
    "field-notes.txt": (None, None, ["Field notes from the salt marsh", "forty-one avocets on the east scrape"], []),
    "tide-tables.md": ("Reading a tide table", None, ["Reading a tide table.", "Springs and neaps"], ["**", "##"]),
}


@pytest.fixture(scope="module")
def site() -> Iterator[PageServer]:
    server = PageServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "30000",
        "READOUT_WORKER_CONCURRENCY": "64", "READOUT_FETCH_ALLOW_PRIVATE": "1", "READOUT_FETCH_TIMEOUT": "4",
        "READOUT_MAX_CHARS": str(MAX_CHARS),
    })
    s.start(workers=1)
    yield s
    s.stop()


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def submit(http: aiohttp.ClientSession, stack: Stack, body: dict) -> tuple[int, dict]:
    async with http.post(f"{stack.url}/v1/jobs", json=body) as resp:
        return resp.status, await resp.json()


async def status_of(http: aiohttp.ClientSession, stack: Stack, job_id: str) -> dict:
    async with http.get(f"{stack.url}/v1/jobs/{job_id}") as resp:
        assert resp.status == 200
        return await resp.json()


async def until_status(http: aiohttp.ClientSession, stack: Stack, job_id: str, done: Callable[[dict], bool],
                       timeout: float = 60) -> dict:
    """Bounded poll of the job's status JSON until `done(status)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        body = await status_of(http, stack, job_id)
        if done(body) or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.05)  # poll interval


async def spoken_text(http, stack: Stack, store: aioredis.Redis, job_id: str) -> tuple[dict, list[str]]:
    """Once the job is running: its status and the chunk texts the worker will speak."""
    status = await until_status(http, stack, job_id, lambda s: s["status"] != "queued" and s["status"] != "fetching")
    assert status["status"] == "running", status
    chunks = [await jobs.chunk_sentences(store, job_id, i) for i in range(status["chunks"]["total"])]
    assert None not in chunks
    return status, [" ".join(s.text for s in sentences) for sentences in chunks]


async def cancel(http: aiohttp.ClientSession, stack: Stack, job_id: str) -> dict:
    async with http.delete(f"{stack.url}/v1/jobs/{job_id}") as resp:
        return await resp.json()


@pytest.mark.parametrize("page", sorted(SPOKEN))
async def test_only_the_article_is_spoken(stack: Stack, http, store, site: PageServer, page: str) -> None:
    title, author, spoken, unspoken = SPOKEN[page]
    url = f"{site.base}/pages/{page}"
    status, job = await submit(http, stack, {"url": url, "voice": "fake-b"})
    assert status == 202 and job["status"] == "queued", job
    try:
        final, chunks = await spoken_text(http, stack, store, job["id"])
        text = "\n".join(chunks)
        assert (final["title"], final["author"], final["source_url"]) == (title, author, url)
        assert final["voice"] == "fake-b"
        assert final["characters"] == len((await jobs.article_document(store, job["id"])).text)
        if title:  # the title first, as a heading
            assert chunks[0].startswith(title), chunks[0][:200]
            document = await jobs.article_document(store, job["id"])
            first = document.blocks[0]
            assert first.kind == "heading" and document.text[first.start:first.end].startswith(title), first
            heading = [s for s in await jobs.chunk_sentences(store, job["id"], 0) if s.end <= first.end]
            assert heading and heading[-1].boundary == "heading" and {s.chapter for s in heading} == {0}, heading
        for sentence in spoken:
            assert sentence in text, (sentence, text)
        for junk in unspoken:
            assert junk.casefold() not in text.casefold(), (junk, text)
    finally:
        await cancel(http, stack, job["id"])


async def test_fetching_is_a_visible_step(stack: Stack, http, store, site: PageServer) -> None:
    """Events on the job's channel: fetching, then running; the source URL is the page after redirects."""
    pubsub = store.pubsub()
    await pubsub.psubscribe(keys.EVENTS_PATTERN)
    try:
        _, job = await submit(http, stack, {"url": f"{site.base}/redirect/5/lighthouse.html"})
        final, _ = await spoken_text(http, stack, store, job["id"])
        assert final["source_url"] == f"{site.base}/pages/lighthouse.html"
        types: list[str] = []
        deadline = time.monotonic() + 30
        while len(types) < 2 and time.monotonic() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message and message["channel"].decode() == keys.events(job["id"]):
                types.append(json.loads(message["data"])["type"])
        assert types == ["fetching", "running"]
    finally:
        await pubsub.aclose()
        await cancel(http, stack, job["id"])


@pytest.mark.parametrize(("path", "code", "words"), [
    ("/pages/tide-report.pdf", "unsupported_content", "application/pdf"),
    ("/image", "unsupported_content", "image/png"),
    ("/pages/empty.html", "text_empty", "no readable article"),
    ("/blank", "text_empty", "no readable article"),
    ("/status/404", "fetch_failed", "HTTP 404"),
    ("/status/403", "fetch_failed", "HTTP 403"),
    ("/redirect/6/lighthouse.html", "fetch_failed", "more than 5"),
    ("/huge", "fetch_too_large", "5242880 bytes"),
    ("/huge?declared=1", "fetch_too_large", "5242880 bytes"),
    ("/drip", "fetch_timeout", "within 4 s"),
    ("/long", "text_too_long", f"limit is {MAX_CHARS}"),
])
async def test_every_error_code(stack: Stack, http, site: PageServer, path: str, code: str, words: str) -> None:
    before = len(site.requests)
    _, job = await submit(http, stack, {"url": site.base + path})
    final = await until_status(http, stack, job["id"], lambda s: s["status"] in ("done", "failed", "cancelled"))
    assert final["status"] == "failed", final
    assert final["error"]["code"] == code and words in final["error"]["message"], final["error"]
    assert final["chunks"]["total"] is None  # nothing was ever spoken
    hops = 6 if path.startswith("/redirect/") else 1  # /redirect/6 ... /redirect/1, never the page
    assert len(site.requests) - before == hops  # 4xx and the rest: no second try


async def test_a_5xx_page_is_retried_with_backoff_then_fails(stack: Stack, http, site: PageServer) -> None:
    path = f"/status/503?job={time.monotonic_ns()}"
    _, job = await submit(http, stack, {"url": site.base + path})
    final = await until_status(http, stack, job["id"], lambda s: s["status"] in ("done", "failed", "cancelled"))
    assert final["status"] == "failed" and final["error"]["code"] == "fetch_failed", final
    assert "HTTP 503" in final["error"]["message"]
    assert site.paths().count(path) == 3  # READOUT_FETCH_MAX_TRIES


async def test_cancel_while_fetching_aborts_the_fetch(stack: Stack, http, store, site: PageServer) -> None:
    site.drip_closed.clear()
    before = len(site.requests)
    _, job = await submit(http, stack, {"url": f"{site.base}/drip?cancel"})
    deadline = time.monotonic() + 30
    while "/drip?cancel" not in site.paths()[before:] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # poll interval: until the worker's request reaches the page
    status = await status_of(http, stack, job["id"])
    assert status["status"] == "fetching", status
    async with http.get(f"{stack.url}/v1/stats") as resp:
        assert (await resp.json())["jobs"]["fetching"] == 1
    async with http.get(f"{stack.url}/v1/jobs/{job['id']}/events") as events:
        assert await next_sse(events) == ("progress", "fetching")
        assert (await cancel(http, stack, job["id"]))["status"] == "cancelled"
        assert await next_sse(events) == ("cancelled", "cancelled")
    assert await asyncio.to_thread(site.drip_closed.wait, 3.5)  # the worker dropped the page (before its 4 s limit)
    async with http.get(f"{stack.url}/v1/stats") as resp:
        counts = (await resp.json())["jobs"]
    assert counts["fetching"] == 0 and counts["cancelled"] >= 1
    final = await status_of(http, stack, job["id"])
    assert final["status"] == "cancelled" and final["chunks"]["total"] is None and final["error"] is None
    assert await jobs.article_document(store, job["id"]) is None


async def next_sse(resp: aiohttp.ClientResponse) -> tuple[str, str]:
    """The next server-sent event: (event name, the job status in its data)."""
    name = ""
    async for raw in resp.content:
        line = raw.decode().strip()
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            return name, json.loads(line[5:])["status"]
    raise AssertionError("the event stream ended")


async def test_fetch_transitions_are_idempotent_and_counted(store: aioredis.Redis) -> None:
    async def counts() -> dict[str, int]:
        return {k.decode(): int(v) for k, v in (await store.hgetall(keys.JOBS_BY_STATUS)).items()}

    before = await counts()
    job_id = jobs.new_job_id()
    await jobs.create_job(store, job_id=job_id, owner="t", engine="fake", voice="fake-a", variant="", document=None,
                          source_url="https://example.com/a")
    assert await jobs.article_document(store, job_id) is None
    assert await jobs.begin_fetch(store, job_id)
    assert await jobs.begin_fetch(store, job_id)  # a re-run of the article job finds it fetching
    during = await counts()
    assert during.get("queued", 0) == before.get("queued", 0)
    assert during["fetching"] == before.get("fetching", 0) + 1
    assert await jobs.finish_job(store, job_id, "cancelled")
    assert (await counts())["fetching"] == before.get("fetching", 0)
    assert not await jobs.begin_fetch(store, job_id)
    assert not await jobs.store_fetched(store, job_id, document=Document("Late.", ()), title="T", author=None, source_url="https://x/")
    job = await jobs.get_job(store, job_id)
    assert job is not None and job.status == "cancelled" and job.title is None
    assert await jobs.article_document(store, job_id) is None


@pytest.mark.parametrize(("body", "code"), [
    ({"url": "ftp://example.com/article"}, "url_invalid"),
    ({"url": "/relative/article"}, "url_invalid"),
    ({"url": "https://"}, "url_invalid"),
    ({"url": "https://exa mple.com/"}, "url_invalid"),
    ({"url": "https://user:secret@example.com/"}, "url_invalid"),
    ({"url": "https://-bad-.example/"}, "url_invalid"),
    ({"url": "https://1.2.3.4.5/"}, "url_invalid"),
    ({"url": "https://example.com:70000/"}, "url_invalid"),
    ({"url": "https://example.com/" + "a" * MAX_URL_CHARS}, "url_invalid"),
    ({"url": ""}, "url_invalid"),
    ({"url": 42}, "url_invalid"),
    ({"url": None}, "url_invalid"),
    ({"url": "https://example.com/", "text": "Both at once."}, "text_and_url"),
    ({"format": "html"}, "text_missing"),
])
async def test_submit_refuses_malformed_urls_with_400(stack: Stack, http, body: dict, code: str) -> None:
    status, answer = await submit(http, stack, body)
    assert status == 400, answer
    assert answer["error"]["code"] == code and answer["error"]["message"]


async def test_a_worker_killed_while_fetching_loses_no_job(stack: Stack, http, store, site: PageServer) -> None:
    """SIGKILL mid-fetch: a live worker's reaper frees the job and the page is fetched again."""
    path = f"/hold?crash={time.monotonic_ns()}"
    _, job = await submit(http, stack, {"url": site.base + path})
    deadline = time.monotonic() + 30
    while path not in site.paths() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # poll interval: until the first worker's request hangs on the page
    assert (await status_of(http, stack, job["id"]))["status"] == "fetching"
    victim = next(w for w in stack.workers if w.poll() is None)
    victim.kill()
    victim.wait()
    stack.start_worker()
    try:
        final, chunks = await spoken_text(http, stack, store, job["id"])
        assert final["title"] == "The Last Keeper of Skerry Light"
        assert "All six were brought home." in "\n".join(chunks)
        assert site.paths().count(path) == 2  # fetched once more, by the new worker
    finally:
        await cancel(http, stack, job["id"])


async def test_unknown_engine_with_a_url_is_422_at_submit(stack: Stack, http) -> None:
    status, answer = await submit(http, stack, {"url": "https://example.com/", "engine": "nope"})
    assert status == 422 and answer["error"]["code"] == "unknown_engine"
