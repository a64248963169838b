"""End to end: a real redis-server, the API and worker processes, the `fake` engine."""
from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from pathlib import Path

import aiohttp
import pytest
import redis as sync_redis

from shared import keys
from shared.config import load_settings
from shared.engines.fake import FakeEngine
from shared.text import clean_document
from tests.chunks import chunk_rendered
from tests.conftest import CORPUS, RedisServer, free_port
from tests.stack import Stack
from worker.tasks import split_for_engine

pytestmark = pytest.mark.slow

ESSAY = (CORPUS / "federalist-10.txt").read_text(encoding="utf-8")


def fresh(text: str) -> str:
    """A cold article: the essay with a unique word after every "the", so no chunk is cached."""
    tag = "".join(secrets.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
    return f"Reading {tag}.\n\n" + text.replace(" the ", f" the {tag} ")


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory):
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "100",
        "READOUT_WORKER_CONCURRENCY": "8",
    })
    s.start(workers=2)
    yield s
    s.stop()


async def submit(http: aiohttp.ClientSession, base: str, text: str, **fields) -> dict:
    async with http.post(f"{base}/v1/jobs", json={"text": text, **fields}) as resp:
        body = await resp.json()
        assert resp.status == 202, body
        assert resp.headers["Location"] == body["status_url"]
        return body


async def wait_done(http: aiohttp.ClientSession, base: str, job_id: str, timeout: float = 60) -> dict:
    """Follow the job's server-sent events until it ends; return the final status."""
    async with http.get(f"{base}/v1/jobs/{job_id}/events", timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        assert resp.status == 200
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("data:") and json.loads(line[5:])["status"] in ("done", "failed", "cancelled"):
                break
    async with http.get(f"{base}/v1/jobs/{job_id}") as resp:
        return await resp.json()


async def provider_calls(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(f"{base}/v1/stats") as resp:
        return (await resp.json())["providers"].get("fake", {}).get("calls", 0)


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


async def test_submit_poll_download_gives_one_valid_mp3(stack: Stack, http, tmp_path: Path, redis_server) -> None:
    job = await submit(http, stack.url, fresh(ESSAY))
    status = await wait_done(http, stack.url, job["id"])
    assert status["status"] == "done", status
    assert status["chunks"]["done"] == status["chunks"]["total"] > 3
    assert status["characters"] > 10_000

    async with http.get(stack.url + job["audio_url"]) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "audio/mpeg"
        assert resp.headers["Accept-Ranges"] == "bytes"
        body = await resp.read()
        assert int(resp.headers["Content-Length"]) == len(body)
        etag = resp.headers["ETag"]
    path = tmp_path / "article.mp3"
    path.write_bytes(body)
    errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
    assert errors.returncode == 0 and errors.stderr == ""

    # the finished file is the chunks' PCM encoded once (not the chunk MP3s joined, whose
    # frames each carry their own priming and padding): as long as that PCM, within one frame
    pieces = await chunk_rendered(stack, job["id"])
    assert all(p is not None for p in pieces)
    expected = sum(p.samples for p in pieces)
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-"],
                             capture_output=True, check=True).stdout
    assert abs(len(decoded) // 2 - expected) <= 1152, (len(decoded) // 2, expected)
    assert status["audio"]["duration_seconds"] == pytest.approx(expected / pieces[0].sample_rate, abs=0.001)

    async with http.get(stack.url + job["audio_url"], headers={"Range": "bytes=100-199"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
        assert await resp.read() == body[100:200]
    async with http.get(stack.url + job["audio_url"], headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304


async def test_fifty_concurrent_submissions_cost_one_rendering_per_chunk(stack: Stack, http) -> None:
    """Every chunk is rendered once: one provider call per unit (sentence) of the article, not 50."""
    article = fresh(ESSAY)
    planned = split_for_engine(clean_document(article, "text"), load_settings(stack._env()), FakeEngine.max_chars)
    units = sum(map(len, planned))
    before = await provider_calls(http, stack.url)
    jobs = await asyncio.gather(*(submit(http, stack.url, article) for _ in range(50)))
    finals = await asyncio.gather(*(wait_done(http, stack.url, j["id"]) for j in jobs))
    assert {f["status"] for f in finals} == {"done"}
    chunks = finals[0]["chunks"]["total"]
    assert {f["chunks"]["total"] for f in finals} == {chunks} == {len(planned)}
    assert await provider_calls(http, stack.url) - before == units
    print(f"\n50 concurrent submissions of a {chunks}-chunk cold article: {units} provider calls, one per unit")


async def test_speed_is_validated_stored_and_shown(stack: Stack, http) -> None:
    job = await submit(http, stack.url, fresh("A short article. It has two sentences."), speed=1.25)
    async with http.get(f"{stack.url}/v1/jobs/{job['id']}") as resp:
        assert (await resp.json())["speed"] == 1.25
    async with http.post(f"{stack.url}/v1/jobs?speed=0.75", data="Plain text at a slower rate.",
                         headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 202
        status_url = (await resp.json())["status_url"]
    async with http.get(stack.url + status_url) as resp:
        assert (await resp.json())["speed"] == 0.75
    for bad in (0.49, 2.01, "fast", True, None):
        async with http.post(f"{stack.url}/v1/jobs", json={"text": "Hello there.", "speed": bad}) as resp:
            if bad is None:
                assert resp.status == 202  # null is the default
                continue
            assert resp.status == 400, bad
            assert (await resp.json())["error"]["code"] == "invalid_parameter"
    async with http.post(f"{stack.url}/v1/jobs?speed=3", data="Too fast.", headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_parameter"


async def test_status_fields_and_unknown_job(stack: Stack, http) -> None:
    job = await submit(http, stack.url, fresh("A short article. It has two sentences."))
    async with http.get(f"{stack.url}/v1/jobs/{job['id']}") as resp:
        body = await resp.json()
        for field in ("id", "status", "engine", "voice", "speed", "characters", "chunks", "cache", "error",
                      "created_at", "finished_at", "duration_seconds", "audio_url"):
            assert field in body
        assert body["engine"] == "fake"
    await wait_done(http, stack.url, job["id"])
    async with http.get(f"{stack.url}/v1/jobs/{'0' * 32}") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "job_not_found"


async def test_engines_list(stack: Stack, http) -> None:
    async with http.get(f"{stack.url}/v1/engines") as resp:
        engines = {e["name"]: e for e in (await resp.json())["engines"]}
    assert {"piper", "espeak", "fake"} <= set(engines)
    assert all(e["max_chars"] > 0 and e["voices"] for e in engines.values() if e["available"])


async def test_markdown_job_keeps_its_chapters_and_each_chunk_its_sentence_timings(stack: Stack, http,
                                                                                   redis_server) -> None:
    article = fresh("# The First Part\n\nIt starts here. It goes on.\n\n## The Second Part\n\n- a point\n- another\n")
    async with http.post(f"{stack.url}/v1/jobs", json={"text": article, "format": "markdown"}) as resp:
        assert resp.status == 202
        job = await resp.json()
    final = await wait_done(http, stack.url, job["id"])
    assert final["status"] == "done"
    planned = split_for_engine(clean_document(article, "markdown"), load_settings(stack._env()), FakeEngine.max_chars)
    client = sync_redis.Redis.from_url(redis_server.url)
    try:
        chapters = json.loads(client.hget(keys.job(job["id"]), "chapters"))
    finally:
        client.close()
    rendered = await chunk_rendered(stack, job["id"])
    assert chapters == ["The First Part", "The Second Part"]
    assert [len(c.sentences) for c in rendered] == [len(c) for c in planned]
