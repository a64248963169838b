"""From a fetched page's bytes to the article: the right charset, then the main text.

Charset, in the order browsers use: a byte-order mark, the Content-Type header's charset,
then (HTML) a `<meta charset>` or `<meta http-equiv="Content-Type">` in the first 4 KiB, else
detection (charset-normalizer). Like browsers, ISO-8859-1 and ASCII labels decode as
windows-1252, its superset.

HTML goes through trafilatura, favouring precision (comments, navigation, cookie banners,
related links and footers left out; a page of nothing but those is empty), to Markdown, so
headings survive to the cleaner; title, author and date come from the page's metadata. Plain text and Markdown are taken whole.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer
import lxml.etree
import lxml.html
import trafilatura

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]+)""", re.IGNORECASE)
_WINDOWS_1252_ALIASES = frozenset({"iso8859-1", "latin-1", "ascii"})  # codec names after codecs.lookup
_PRESCAN_BYTES = 4096
_DATES = {"extensive_search": False, "original_date": True}  # a date the page states, never a guess from ©
_ATX_TITLE = re.compile(r"^ {0,3}# +(.+?)(?: +#+)? *$", re.MULTILINE)


@dataclass(frozen=True)
class Extracted:
    text: str  # Markdown or plain text, as `format` says
    format: str  # markdown | text
    title: str | None
    author: str | None
    date: str | None  # ISO 8601 date, as trafilatura finds it


def _codec(label: str | None) -> str | None:
    """Python's codec for a charset label, or None for a label it does not know."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    if name in _WINDOWS_1252_ALIASES:
        return "cp1252"
    if name.startswith("utf-16"):  # a page cannot announce UTF-16 from inside itself; trust only a BOM
        return None
    return name


def _decode_as(body: bytes, codec: str) -> str:
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        return body.decode(codec, errors="replace")


def decode(body: bytes, header_charset: str | None, fmt: str) -> str:
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return _decode_as(body, codec)
    codec = _codec(header_charset)
    if codec is None and fmt == "html":
        found = _META_CHARSET.search(body[:_PRESCAN_BYTES])
        codec = _codec(found.group(1).decode("ascii")) if found else None
    if codec is not None:
        return _decode_as(body, codec)
    best = charset_normalizer.from_bytes(body).best()
    if best is not None:
        return str(best)
    return body.decode("utf-8", errors="replace")


def _clean_meta(value: str | None) -> str | None:
    value = " ".join(value.split()) if value else ""
    return value or None


def with_title_heading(markdown: str, title: str | None) -> str:
    """The article with its title as the first heading (spoken first), unless it already opens with it."""
    if not title:
        return markdown
    first = next((line for line in markdown.splitlines() if line.strip()), "")
    if first.lstrip("#").strip().casefold() == title.casefold():
        return markdown
    heading = title.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
    return f"# {heading}\n\n{markdown}"


def _meta_author(html: str) -> str | None:
    """`<meta name="author">` as written: trafilatura drops names in scripts it does not expect (e.g. 山田花子)."""
    try:
        found = lxml.html.fromstring(html).xpath('//meta[translate(@name, "AUTHOR", "author")="author"]/@content')
    except (ValueError, lxml.etree.ParserError):
        return None
    return _clean_meta(str(found[0])) if found else None


def extract_html(html: str, url: str) -> Extracted:
    body = trafilatura.extract(
        html, url=url, output_format="markdown", include_comments=False, include_tables=True,
        include_images=False, include_links=False, deduplicate=False, favor_precision=True,
    ) or ""
    meta = trafilatura.extract_metadata(html, default_url=url, date_config=_DATES)
    title = _clean_meta(meta.title) if meta else None
    author = (_clean_meta(meta.author) if meta else None) or _meta_author(html)
    date = _clean_meta(meta.date) if meta else None
    text = with_title_heading(body, title) if body.strip() else ""
    return Extracted(text=text, format="markdown", title=title, author=author, date=date)


def extract(body: bytes, fmt: str, charset: str | None, url: str) -> Extracted:
    """The article in a page of format html, text or markdown (CPU-bound: run it in a thread)."""
    text = decode(body, charset, fmt)
    if fmt == "html":
        return extract_html(text, url)
    title = None
    if fmt == "markdown":
        found = _ATX_TITLE.search(text)
        title = _clean_meta(found.group(1)) if found else None
    return Extracted(text=text, format=fmt, title=title, author=None, date=None)
