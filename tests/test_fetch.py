"""shared.fetch against a real local web site: charsets, extraction, redirects, limits, errors.

The pages (tests/data/pages) carry what a listener must not hear: menus, ads, cookie
banners, comments and footers. Private addresses are allowed here (the site is on
127.0.0.1); tests/test_ssrf.py checks the policy itself.
"""
from __future__ import annotations

import asyncio
import codecs
from collections.abc import Iterator
from dataclasses import replace

import pytest

from shared.chunking import clean_text
from shared.config import Settings
from shared.fetch import USER_AGENT, FetchError, fetch_article
from shared.fetch.extract import decode, with_title_heading
from tests.conftest import free_port
from tests.page_server import ARTICLES, HUGE_BYTES, PageServer

SETTINGS = Settings(fetch_allow_private=True, fetch_timeout_s=3.0)

@pytest.fixture(scope="module")
def site() -> Iterator[PageServer]:
    server = PageServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("page", sorted(ARTICLES))
async def test_article_is_extracted_without_boilerplate(site: PageServer, page: str) -> None:
    title, author, spoken, unspoken = ARTICLES[page]
    article = await fetch_article(f"{site.base}/pages/{page}", SETTINGS)
    assert (article.title, article.author) == (title, author)
    assert article.format == "markdown"
    text = clean_text(article.text, article.format)
    assert text.startswith(title), text[:200]  # the title is spoken first, as a heading
    assert text.count(title) == 1
    for sentence in spoken:
        assert sentence in text, (sentence, text)
    for junk in unspoken:
        assert junk.casefold() not in text.casefold(), (junk, text)
    assert "\ufffd" not in text  # decoded with the right charset, not replaced


async def test_date_is_the_pages_own(site: PageServer) -> None:
    assert (await fetch_article(f"{site.base}/pages/lighthouse.html", SETTINGS)).date == "2024-03-18"
    assert (await fetch_article(f"{site.base}/pages/brauerei.html", SETTINGS)).date is None  # © 2024 is no date


async def test_plain_text_and_markdown_are_taken_whole(site: PageServer) -> None:
    notes = await fetch_article(f"{site.base}/pages/field-notes.txt", SETTINGS)
    assert notes.format == "text" and notes.title is None
    assert "forty-one avocets" in clean_text(notes.text, notes.format)
    tides = await fetch_article(f"{site.base}/pages/tide-tables.md", SETTINGS)
    assert tides.format == "markdown" and tides.title == "Reading a tide table"
    spoken = clean_text(tides.text, tides.format)
    assert spoken.startswith("Reading a tide table") and "Springs and neaps" in spoken and "**" not in spoken


async def test_user_agent_and_accept_are_sent(site: PageServer) -> None:
    await fetch_article(f"{site.base}/pages/field-notes.txt?ua", SETTINGS)
    headers = next(h for path, h in site.requests if path.endswith("?ua"))
    assert headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("Readout/")
    assert "text/html" in headers["Accept"]


async def test_five_redirects_are_followed_six_are_not(site: PageServer) -> None:
    article = await fetch_article(f"{site.base}/redirect/5/lighthouse.html", SETTINGS)
    assert article.final_url == f"{site.base}/pages/lighthouse.html"
    with pytest.raises(FetchError) as caught:
        await fetch_article(f"{site.base}/redirect/6/lighthouse.html", SETTINGS)
    assert caught.value.code == "fetch_failed" and "more than 5" in caught.value.message
    assert "/pages/lighthouse.html" not in site.paths()[-6:]  # the sixth hop was never requested


@pytest.mark.parametrize("declared", [False, True])
async def test_a_30_mb_page_is_cut_at_the_limit(site: PageServer, declared: bool) -> None:
    settings = replace(SETTINGS, fetch_max_bytes=1024 * 1024)
    with pytest.raises(FetchError) as caught:
        await fetch_article(f"{site.base}/huge{'?declared=1' if declared else ''}", settings)
    assert caught.value.code == "fetch_too_large" and "1048576" in caught.value.message
    # the client stopped reading: the server could not write the 30 MB (socket buffers hold a few MB at most)
    assert await _settles(lambda: site.huge_sent < HUGE_BYTES // 2), site.huge_sent


async def test_a_gzip_bomb_is_cut_at_the_limit_after_decompression(site: PageServer) -> None:
    with pytest.raises(FetchError) as caught:
        await fetch_article(f"{site.base}/bomb", replace(SETTINGS, fetch_max_bytes=1024 * 1024))
    assert caught.value.code == "fetch_too_large"


async def _settles(check, tries: int = 50) -> bool:
    """The server's writer notices a closed connection asynchronously: a bounded poll of its counter."""
    for _ in range(tries):
        if check():
            return True
        await asyncio.sleep(0.02)
    return check()


async def test_a_page_that_never_finishes_times_out(site: PageServer) -> None:
    site.drip_closed.clear()
    settings = replace(SETTINGS, fetch_timeout_s=1.0)
    with pytest.raises(FetchError) as caught:
        await fetch_article(f"{site.base}/drip", settings)
    assert caught.value.code == "fetch_timeout" and "READOUT_FETCH_TIMEOUT" in caught.value.message
    assert await asyncio.to_thread(site.drip_closed.wait, 10)  # and the connection was dropped


@pytest.mark.parametrize(("path", "code", "retryable"), [
    ("/pages/tide-report.pdf", "unsupported_content", False),
    ("/image", "unsupported_content", False),
    ("/blank", "text_empty", False),
    ("/pages/empty.html", "text_empty", False),
    ("/status/404", "fetch_failed", False),
    ("/status/410", "fetch_failed", False),
    ("/status/429", "fetch_failed", True),
    ("/status/500", "fetch_failed", True),
    ("/status/503", "fetch_failed", True),
    ("/status/204", "fetch_failed", False),
])
async def test_error_codes(site: PageServer, path: str, code: str, retryable: bool) -> None:
    with pytest.raises(FetchError) as caught:
        await fetch_article(site.base + path, SETTINGS)
    assert (caught.value.code, caught.value.retryable) == (code, retryable), caught.value.message
    if path.startswith("/status/"):
        assert path.rsplit("/", 1)[1] in caught.value.message  # the HTTP status is named


async def test_a_refused_connection_is_a_retryable_fetch_failure(site: PageServer) -> None:
    with pytest.raises(FetchError) as caught:
        await fetch_article(f"http://127.0.0.1:{free_port()}/", SETTINGS)
    assert caught.value.code == "fetch_failed" and caught.value.retryable


@pytest.mark.parametrize(("body", "header", "fmt", "expected"), [
    ("naïve café".encode(), None, "text", "naïve café"),  # detection
    ("“quoted” €5".encode("cp1252"), "iso-8859-1", "text", "“quoted” €5"),  # latin-1 label = windows-1252
    ("“quoted” €5".encode("cp1252"), "us-ascii", "text", "“quoted” €5"),
    (codecs.BOM_UTF8 + "über".encode(), "windows-1252", "text", "über"),  # a BOM beats the header
    ('<meta charset="koi8-r"><p>Привет, мир</p>'.encode("koi8-r"), None, "html", "<p>Привет, мир</p>"),
    ('<meta charset="koi8-r"><p>é</p>'.encode(), "utf-8", "html", "<p>é</p>"),  # the header beats <meta>
    ('<meta charset="utf-16"><p>é</p>'.encode(), None, "html", "<p>é</p>"),  # <meta> cannot say UTF-16
    ('<meta charset="no-such-charset"><p>東京</p>'.encode(), "bogus", "html", "<p>東京</p>"),  # unknown labels: detect
])
def test_decode(body: bytes, header: str | None, fmt: str, expected: str) -> None:
    assert decode(body, header, fmt).endswith(expected)


def test_title_heading_is_added_once() -> None:
    assert with_title_heading("# Tides\n\nText.", "Tides") == "# Tides\n\nText."
    assert with_title_heading("Text.", "Tides *and* tables") == "# Tides \\*and\\* tables\n\nText."
    assert with_title_heading("Text.", None) == "Text."
