"""Articles from the web: `fetch_article(url, settings)` fetches a page safely and extracts it.

`safe_http` is the SSRF-checked, size- and time-bounded client, `extract` the charset and
trafilatura step, `policy` which addresses may be reached, `urls` the checks a URL passes
before anything is fetched (the API runs them at submit time). Every failure is a
`FetchError` whose `code` the job fails with.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver

from shared.config import Settings
from shared.fetch.errors import CODES, FetchError
from shared.fetch.extract import extract
from shared.fetch.policy import AddressPolicy
from shared.fetch.safe_http import USER_AGENT, fetch_page
from shared.fetch.urls import MAX_URL_CHARS, parse_url

__all__ = ["CODES", "MAX_URL_CHARS", "USER_AGENT", "AddressPolicy", "FetchError", "FetchedArticle", "check_url",
           "fetch_article"]


@dataclass(frozen=True)
class FetchedArticle:
    text: str  # Markdown or plain text, as `format` says; HTML pages come as Markdown
    format: str  # markdown | text: what shared.text.clean_text is given
    title: str | None
    author: str | None
    date: str | None
    final_url: str  # after redirects


def check_url(url: str, settings: Settings) -> str:
    """The URL as it will be fetched, or FetchError url_invalid / url_forbidden (no network used)."""
    return str(parse_url(url, AddressPolicy.from_settings(settings)))


async def fetch_article(url: str, settings: Settings, *, resolver: AbstractResolver | None = None) -> FetchedArticle:
    page = await fetch_page(url, settings, resolver=resolver)
    found = await asyncio.to_thread(extract, page.body, page.format, page.charset, page.url)
    if not found.text.strip():
        raise FetchError("text_empty", f"no readable article was found at {page.url}")
    return FetchedArticle(text=found.text, format=found.format, title=found.title, author=found.author,
                          date=found.date, final_url=page.url)
