"""The podcast feed: feedparser reads it cleanly; every enclosure downloads the same bytes as
the authenticated audio endpoint; a rotated token's feed answers 404."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import feedparser
import pytest
from mutagen.id3 import ID3

from tests.conftest import RedisServer
from tests.page_server import ARTICLES, PageServer
from tests.service import auth, keyed_stack, submit, wait_status
from tests.stack import Stack


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = keyed_stack(redis_server.url, tmp_path_factory.mktemp("logs"), READOUT_FETCH_ALLOW_PRIVATE="1")
    s.start(workers=1)
    yield s
    s.stop()


async def feed_url(http: aiohttp.ClientSession, stack: Stack, path: str = "/v1/feed", method: str = "GET",
                   headers: dict | None = None) -> str:
    async with http.request(method, stack.url + path, headers={**auth(), **(headers or {})}) as resp:
        assert resp.status == 200
        return (await resp.json())["url"]


async def test_feed_lists_finished_articles(http: aiohttp.ClientSession, stack: Stack) -> None:
    ids = [(await submit(http, stack))["id"] for _ in range(3)]
    statuses = [await wait_status(http, stack, i) for i in ids]
    await submit(http, stack, who="other")
    url = await feed_url(http, stack)
    assert url.startswith(stack.url + "/v1/feeds/") and url.endswith(".xml")
    assert await feed_url(http, stack) == url  # stable until rotated
    async with http.get(url) as resp:  # no header: podcast apps cannot send one
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/rss+xml")
        xml = await resp.read()
    parsed = feedparser.parse(xml)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20" and "itunes" in parsed.namespaces
    assert [e.id for e in parsed.entries] == [f"readout:{i}" for i in ids[::-1]]  # newest first, mine only
    for entry, status in zip(parsed.entries, statuses[::-1], strict=True):
        assert entry.title == status["title"] and entry.description and entry.published_parsed
        h, m, s = (int(x) for x in entry.itunes_duration.split(":"))
        assert abs(h * 3600 + m * 60 + s - status["audio"]["duration_seconds"]) <= 1
        (enclosure,) = entry.enclosures
        assert enclosure.type == "audio/mpeg" and int(enclosure.length) == status["audio"]["bytes"]
        assert enclosure.href.startswith(stack.url) and "sig=" in enclosure.href
        async with http.get(enclosure.href) as resp:
            assert resp.status == 200
            via_feed = await resp.read()
        async with http.get(f"{stack.url}/v1/jobs/{status['id']}/audio", headers=auth()) as resp:
            assert resp.status == 200 and await resp.read() == via_feed
        assert len(via_feed) == int(enclosure.length)


async def test_rotate_retires_the_old_feed(http: aiohttp.ClientSession, stack: Stack) -> None:
    old = await feed_url(http, stack)
    new = await feed_url(http, stack, "/v1/feed/rotate", "POST")
    assert new != old and await feed_url(http, stack) == new
    async with http.get(old) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    async with http.get(new) as resp:
        assert resp.status == 200 and not feedparser.parse(await resp.read()).bozo
    async with http.get(stack.url + "/v1/feed") as resp:
        assert resp.status == 401


async def test_absolute_urls_from_proxy_headers_only_when_trusted(http: aiohttp.ClientSession, stack: Stack) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "podcasts.example"}
    url = await feed_url(http, stack, headers=forwarded)
    assert url.startswith(stack.url)  # READOUT_TRUST_PROXY is off in this stack


def test_public_base_from_settings_request_or_trusted_proxy() -> None:
    from aiohttp.test_utils import make_mocked_request

    from api.context import public_base
    from shared.config import load_settings

    forwarded = {"Host": "10.0.0.5:8000", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "podcasts.example"}
    request = make_mocked_request("GET", "/v1/feed", headers=forwarded)
    assert public_base(request, load_settings({})) == "http://10.0.0.5:8000"
    assert public_base(request, load_settings({"READOUT_TRUST_PROXY": "1"})) == "https://podcasts.example"
    assert public_base(request, load_settings({"READOUT_PUBLIC_URL": "https://readout.example/"})) == "https://readout.example"


async def test_a_url_jobs_page_title_and_author_reach_the_tag_and_the_feed(http: aiohttp.ClientSession, stack: Stack,
                                                                         tmp_path: Path) -> None:
    site = PageServer().start()
    try:
        async with http.post(f"{stack.url}/v1/jobs", json={"url": f"{site.base}/pages/lighthouse.html"}, headers=auth()) as resp:
            assert resp.status == 202
            job = await resp.json()
        status = await wait_status(http, stack, job["id"])
    finally:
        site.stop()
    title, author = ARTICLES["lighthouse.html"][:2]
    assert (status["title"], status["author"]) == (title, author)
    async with http.get(stack.url + status["audio_url"]) as resp:
        assert resp.status == 200
        (tmp_path / "a.mp3").write_bytes(await resp.read())
    tag = ID3(tmp_path / "a.mp3")
    assert (str(tag["TIT2"]), str(tag["TPE1"])) == (title, author)
    async with http.get(await feed_url(http, stack)) as resp:
        parsed = feedparser.parse(await resp.read())
    entry = next(e for e in parsed.entries if e.id == f"readout:{job['id']}")
    assert entry.title == title and entry.author == author
