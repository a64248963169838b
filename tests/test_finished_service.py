"""End to end on both storage backends: real redis-server, API and worker processes, `fake` engine.

The finished article is written once and served from storage; Redis keeps no audio; chunks
lost from the cache are synthesised again; deleting a finished job removes every URL of it.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis
import webvtt
from multidict import CIMultiDict

from shared import keys
from shared.config import load_settings
from shared.store import open_storage
from shared.store.cache import object_key
from tests.chunks import chunk_mp3s
from tests.conftest import CORPUS, RedisServer, free_port
from tests.stack import Stack, until

pytestmark = pytest.mark.slow

KEY = "store-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ESSAY = (CORPUS / "federalist-10.txt").read_text(encoding="utf-8")[:6000]


def fresh(text: str = ESSAY) -> str:
    tag = "".join(secrets.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
    return f"Reading {tag}.\n\n" + text.replace(" the ", f" the {tag} ")


@pytest.fixture(scope="module", params=["file", "s3"])
def stack(request: pytest.FixtureRequest, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("data")
    env = {"READOUT_STORAGE": f"file://{data / 'store'}"} if request.param == "file" else \
        request.getfixturevalue("s3_server").env(prefix=f"e2e-{os.urandom(4).hex()}")
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={
        **env, "READOUT_DATA_DIR": str(data), "READOUT_API_KEYS": f"me:{KEY},other:other-key",
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "50",
        "READOUT_WORKER_CONCURRENCY": "8", "READOUT_CHUNK_TARGET": "700", "READOUT_CHUNK_MAX": "900",
    })
    s.start(workers=2)
    yield s
    s.stop()


def storage_of(stack: Stack):
    return open_storage(load_settings({k: v for k, v in stack._env().items() if k.startswith(("READOUT_", "AWS_"))}))


async def submit(http: aiohttp.ClientSession, stack: Stack, text: str, fmt: str = "text") -> dict:
    async with http.post(f"{stack.url}/v1/jobs", json={"text": text, "format": fmt}, headers=AUTH) as resp:
        body = await resp.json()
        assert resp.status == 202, body
        return body


async def status(http: aiohttp.ClientSession, stack: Stack, job_id: str) -> dict:
    async with http.get(f"{stack.url}/v1/jobs/{job_id}", headers=AUTH) as resp:
        return await resp.json()


async def wait_done(http: aiohttp.ClientSession, stack: Stack, job_id: str, timeout: float = 90) -> dict:
    last: dict = {}

    async def check() -> bool:
        nonlocal last
        last = await status(http, stack, job_id)
        return last["status"] in ("done", "failed", "cancelled")

    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, last
        await asyncio.sleep(0.05)
    assert last["status"] == "done", last
    return last


async def download(http: aiohttp.ClientSession, url: str, headers: dict | None = None) -> tuple[int, bytes, CIMultiDict]:
    async with http.get(url, headers=headers or {}) as resp:
        return resp.status, await resp.read(), resp.headers.copy()


async def test_finished_file_served_from_storage_with_signed_links(http: aiohttp.ClientSession, stack: Stack, tmp_path: Path) -> None:
    job = await submit(http, stack, "# A Title Here\n\n" + fresh(), "markdown")
    done = await wait_done(http, stack, job["id"])
    assert done["title"] and done["audio"]["bytes"] > 0
    code, body, headers = await download(http, f"{stack.url}/v1/jobs/{job['id']}/audio", AUTH)
    assert code == 200 and body[:3] == b"ID3" and int(headers["Content-Length"]) == len(body) == done["audio"]["bytes"]
    assert headers["Content-Type"].startswith("audio/mpeg") and headers.get("ETag")
    # signed links work without a header; the key is never in a URL
    for name in ("audio_url", "captions_url", "srt_url", "marks_url", "events_url"):
        assert "sig=" in done[name] and KEY not in done[name]
    code, signed, _ = await download(http, stack.url + done["audio_url"])
    assert code == 200 and signed == body
    code, vtt, _ = await download(http, stack.url + done["captions_url"])
    assert code == 200
    path = tmp_path / "c.vtt"
    path.write_bytes(vtt)
    assert len(webvtt.read(str(path)).captions) >= 1
    code, marks, _ = await download(http, stack.url + done["marks_url"])
    assert code == 200 and json.loads(marks)["sentences"]
    # Range and conditional requests on the stored file
    code, part, headers = await download(http, stack.url + done["audio_url"], {"Range": "bytes=100-199"})
    assert code == 206 and part == body[100:200] and headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    code, _, headers = await download(http, stack.url + done["audio_url"], {"Range": "bytes=x"})
    assert code == 416
    file = tmp_path / "a.mp3"
    file.write_bytes(body)
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_format", "-of", "json", str(file)],
                                      capture_output=True, check=True, text=True).stdout)
    # the first heading (with the speech branch's outline), the first words before it
    assert probe["format"]["tags"]["title"].startswith("A Title Here")


async def test_tampered_and_expired_links_and_no_access_token(http: aiohttp.ClientSession, stack: Stack) -> None:
    job = await submit(http, stack, fresh())
    done = await wait_done(http, stack, job["id"])
    url = stack.url + done["audio_url"]
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    async with http.get(tampered) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "invalid_signature"
    other_path = url.replace("/audio?", "/marks.json?")  # a signature is for its own path only
    async with http.get(other_path) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "invalid_signature"
    async with http.get(f"{stack.url}/v1/jobs/{job['id']}/audio", params={"access_token": KEY}) as resp:
        assert resp.status == 401
    async with http.get(f"{stack.url}/v1/jobs/{job['id']}/audio") as resp:
        assert resp.status == 401


async def test_redis_holds_no_audio_after_20_articles(http: aiohttp.ClientSession, stack: Stack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    client.flushall()
    ids = [(await submit(http, stack, fresh(ESSAY[:3000])))["id"] for _ in range(20)]
    for job_id in ids:
        await wait_done(http, stack, job_id)
    usage = {k.decode(): client.memory_usage(k) or 0 for k in client.scan_iter(count=1000)}
    total = sum(usage.values())
    families: dict[str, int] = {}
    for name, size in usage.items():
        family = ":".join(p if not all(c in "0123456789abcdef" for c in p) or len(p) < 16 else "*" for p in name.split(":")[:3])
        families[family] = families.get(family, 0) + size
    print(f"\nRedis MEMORY USAGE of every key after 20 articles: {total} bytes ({total / 20:.0f} per article)",
          sorted(families.items(), key=lambda kv: -kv[1])[:8])
    assert total / 20 < 8192  # a few KB: job records, manifests, ARQ's 60-second results
    assert not any(b":audio:" in k for k in client.scan_iter(count=1000))


async def test_finished_download_survives_losing_every_chunk(http: aiohttp.ClientSession, stack: Stack) -> None:
    job = await submit(http, stack, fresh())
    done = await wait_done(http, stack, job["id"])
    _, before, _ = await download(http, stack.url + done["audio_url"])
    storage = storage_of(stack)
    removed = await storage.delete_prefix("chunks/")
    await storage.close()
    assert removed > 0
    code, after, _ = await download(http, stack.url + done["audio_url"])
    assert code == 200 and after == before


async def test_a_lost_chunk_of_a_running_job_is_synthesised_again(http: aiohttp.ClientSession, stack: Stack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    calls_before = int(client.hget(keys.STATS, "provider_calls:fake") or 0)
    job = await submit(http, stack, fresh(ESSAY))
    assert await until(lambda: client.sismember(keys.job_landed(job["id"]), 0), 60)
    manifest = [k.decode() for k in client.lrange(keys.job_chunks(job["id"]), 0, -1)]
    storage = storage_of(stack)
    await storage.delete(object_key(manifest[0]))  # chunk 0 landed, then left the cache
    await storage.close()
    code, streamed, _ = await download(http, stack.url + job["audio_url"])
    done = await wait_done(http, stack, job["id"])
    pieces = await chunk_mp3s(stack, job["id"])  # chunk 0 is back in the cache: made again
    assert code == 200 and all(pieces) and streamed == b"".join(pieces)
    assert await until(lambda: int(client.hget(keys.STATS, "provider_calls:fake") or 0) - calls_before
                       >= done["chunks"]["total"] + 1, 10)  # every chunk once, chunk 0 twice
    code, body, _ = await download(http, stack.url + done["audio_url"])
    assert code == 200 and body[:3] == b"ID3"


async def test_delete_removes_every_url(http: aiohttp.ClientSession, stack: Stack) -> None:
    job = await submit(http, stack, fresh(ESSAY[:2000]))
    done = await wait_done(http, stack, job["id"])
    async with http.delete(f"{stack.url}/v1/jobs/{job['id']}", headers={"Authorization": "Bearer other-key"}) as resp:
        assert resp.status == 404  # not yours
    async with http.delete(f"{stack.url}/v1/jobs/{job['id']}", headers=AUTH) as resp:
        assert resp.status == 204
    for url in (f"/v1/jobs/{job['id']}", done["audio_url"], done["captions_url"], done["marks_url"], done["srt_url"]):
        async with http.get(stack.url + url, headers=AUTH) as resp:
            assert resp.status == 404, url
    storage = storage_of(stack)
    assert [i async for i in storage.iter(f"jobs/{job['id']}/")] == []
    await storage.close()


async def test_presigned_redirect_on_s3(http: aiohttp.ClientSession, stack: Stack, tmp_path: Path) -> None:
    if "s3://" not in stack.env["READOUT_STORAGE"]:
        pytest.skip("presigned URLs are an S3 feature; a directory is served with sendfile")
    presigning = Stack(stack.redis_url, free_port(), tmp_path / "logs", env={**stack.env, "READOUT_S3_PRESIGN": "1"})
    try:
        presigning.start_api()  # a second API on the same Redis, storage and data dir (link secret)
        job = await submit(http, stack, fresh(ESSAY[:2000]))
        done = await wait_done(http, stack, job["id"])
        _, proxied, _ = await download(http, stack.url + done["audio_url"])
        async with http.get(presigning.url + done["audio_url"], allow_redirects=False) as resp:
            assert resp.status == 307
            location = resp.headers["Location"]
        assert location.startswith(stack.env["READOUT_S3_ENDPOINT_URL"]) and "Signature" in location
        code, body, _ = await download(http, location)  # no credentials: the URL carries them
        assert code == 200 and body == proxied
    finally:
        presigning.stop()
