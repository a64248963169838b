"""Turning a `POST /v1/jobs` request into a validated submission.

Two shapes: a JSON object `{"text", "format", "engine", "voice", "speed"}` (or `{"url", ...}`
instead of text: the worker fetches the page), or the raw article as the body with
`Content-Type: text/plain|text/markdown|text/html` and engine/voice/speed as query parameters.
The body size is checked against the limit before it is read. `speed` is the speaking rate,
0.5 to 2.0 (default 1.0).
"""
from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from api.cleaner_pool import CleanerBusy, CleanerPool, CleanTimeout, get_pool
from api.errors import ApiError
from shared.config import Settings
from shared.fetch import FetchError, check_url
from shared.text import Document, clean_document

FORMATS = ("text", "markdown", "html")
CONTENT_TYPES = {"text/plain": "text", "text/markdown": "markdown", "text/x-markdown": "markdown", "text/html": "html"}
MIN_SPEED, MAX_SPEED = 0.5, 2.0


@dataclass(frozen=True)
class Submission:
    document: Document | None  # cleaned; None for a URL job
    format: str
    engine: str | None
    voice: str | None
    variant: str | None
    speed: float = 1.0
    url: str | None = None  # a URL job: checked here, fetched by the worker


def parse_speed(value: object) -> float:
    """A job's `speed` from JSON (a number) or a query parameter (its text); 400 if invalid."""
    if value is None:
        return 1.0
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not MIN_SPEED <= value <= MAX_SPEED:
        raise ApiError(400, "invalid_parameter", f"'speed' must be a number from {MIN_SPEED} to {MAX_SPEED}")
    return float(value)


async def read_body(request: web.Request, settings: Settings) -> bytes:
    """The whole body, within the size limit and READOUT_BODY_TIMEOUT (a slow sender gets a 408)."""
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        raise ApiError(413, "body_too_large", f"request body is over {settings.max_body_bytes} bytes")
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, "body_too_large", f"request body is over {settings.max_body_bytes} bytes") from exc
    except TimeoutError as exc:
        raise ApiError(408, "body_timeout", f"the request body did not arrive within {settings.body_timeout_s:g} s",
                       {"Connection": "close"}) from exc


# JSON is bounded before it is parsed: json.loads recurses per nesting level (RecursionError)
# and int() refuses numbers over 4,300 digits (ValueError). Strings are blanked first, so
# the scans below see only structure; each is one linear pass.
MAX_JSON_DEPTH = 32
MAX_JSON_BRACKETS = 10_000
MAX_NUMBER_CHARS = 100
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\Z)', re.DOTALL)  # an unclosed string runs to the end
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LONG_NUMBER = re.compile(rf"[-+0-9.eE]{{{MAX_NUMBER_CHARS + 1}}}")


def load_json(body: bytes) -> Any:
    """`json.loads` for untrusted bodies: 400 for bad UTF-8, bad JSON, or JSON past the bounds."""
    text = _decode(body)
    structure = _JSON_STRING.sub('""', text)
    if _LONG_NUMBER.search(structure):
        raise ApiError(400, "number_too_long", f"a JSON number is longer than {MAX_NUMBER_CHARS} characters")
    brackets = _NOT_BRACKET.sub("", structure)
    if len(brackets) > MAX_JSON_BRACKETS:
        raise ApiError(400, "json_too_complex", f"the JSON body has more than {MAX_JSON_BRACKETS} brackets")
    depth = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise ApiError(400, "json_too_deep", f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc.msg} at position {exc.pos}") from exc


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_utf8", f"body is not valid UTF-8 (byte {exc.start})") from exc


def _optional_str(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_parameter", f"'{name}' must be a string")
    return value or None


def _load_json(body: bytes) -> dict[str, Any]:
    obj = load_json(body)
    if not isinstance(obj, dict):
        raise ApiError(400, "body_not_object", "JSON body must be an object with a 'text' field")
    return obj


def _parse_json(obj: dict[str, Any]) -> tuple[str, str, str | None, str | None, str | None, float]:
    if "text" not in obj:
        raise ApiError(400, "text_missing", "JSON body has no 'text' field")
    if not isinstance(obj["text"], str):
        raise ApiError(400, "text_not_string", "'text' must be a string")
    fmt = obj.get("format", "text")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ApiError(400, "unknown_format", f"'format' must be one of {', '.join(FORMATS)}")
    return (obj["text"], fmt, _optional_str(obj, "engine"), _optional_str(obj, "voice"), _optional_str(obj, "variant"),
            parse_speed(obj.get("speed")))


def url_submission(obj: dict[str, Any], settings: Settings) -> Submission:
    """A JSON submission with `url` (and no `text`): the URL checked as far as possible without the network."""
    if "text" in obj:
        raise ApiError(400, "text_and_url", "give either 'text' or 'url', not both")
    url = obj["url"]
    if not isinstance(url, str) or not url.strip():
        raise ApiError(400, "url_invalid", "'url' must be a non-empty string")
    try:
        checked = check_url(url.strip(), settings)
    except FetchError as exc:
        raise ApiError(422 if exc.code == "url_forbidden" else 400, exc.code, exc.message) from exc
    return Submission(document=None, format="url", engine=_optional_str(obj, "engine"), voice=_optional_str(obj, "voice"),
                      variant=_optional_str(obj, "variant"), speed=parse_speed(obj.get("speed")), url=checked)


def cleaner(settings: Settings) -> CleanerPool:
    """This process's cleaner pool (see api.cleaner_pool); the app starts it with its startup."""
    return get_pool(clean_document, settings.clean_processes, settings.clean_timeout_s)


async def clean_article(raw: str, fmt: str, settings: Settings, what: str = "the article") -> Document:
    """The document that will be spoken; 400 if nothing is left, 413 if it is over READOUT_MAX_CHARS."""
    try:
        document = await cleaner(settings).run(raw, fmt)
    except CleanTimeout as exc:
        raise ApiError(422, "text_too_complex",
                       f"{what} could not be cleaned within {settings.clean_timeout_s:g} s (READOUT_CLEAN_TIMEOUT)") from exc
    except CleanerBusy as exc:
        raise ApiError(503, "cleaner_busy", "every cleaner is busy; try again shortly", {"Retry-After": "2"}) from exc
    text = document.text
    if not text:
        raise ApiError(400, "text_empty", f"{what} has no speakable text after cleaning")
    if len(text) > settings.max_chars:
        raise ApiError(
            413, "text_too_long",
            f"{what} has {len(text)} characters after cleaning; the limit is {settings.max_chars} (READOUT_MAX_CHARS)",
        )
    return document


_QUERY_OPTIONS = ("engine", "voice", "variant", "speed")


def _query_options(request: web.Request, *, json_body: bool) -> dict[str, str]:
    """The options of a raw-body submission's query; each at most once, and none beside a JSON body
    (which carries its own: two places for one option would leave a winner to guess)."""
    found: dict[str, str] = {}
    for name in _QUERY_OPTIONS:
        values = request.query.getall(name, [])
        if json_body and values:
            raise ApiError(400, "invalid_parameter", f"send {name!r} in the JSON body, not in the query")
        if len(values) > 1:
            raise ApiError(400, "invalid_parameter", f"give {name!r} once")
        if values:
            found[name] = values[0]
    return found


async def parse_submission(request: web.Request, settings: Settings) -> Submission:
    content_type = request.content_type
    if content_type != "application/json" and content_type not in CONTENT_TYPES:
        raise ApiError(
            415, "unsupported_media_type",
            f"Content-Type {content_type!r} is not accepted; use application/json, text/plain, text/markdown or text/html",
        )
    options = _query_options(request, json_body=content_type == "application/json")
    body = await read_body(request, settings)
    if not body.strip():
        raise ApiError(400, "text_empty", "the request body is empty")
    if content_type == "application/json":
        obj = _load_json(body)
        if "url" in obj:
            return url_submission(obj, settings)
        raw, fmt, engine, voice, variant, speed = _parse_json(obj)
    else:
        raw, fmt = _decode(body), CONTENT_TYPES[content_type]
        engine, voice, variant = (options.get(name) or None for name in ("engine", "voice", "variant"))
        speed = parse_speed(options.get("speed"))
    document = await clean_article(raw, fmt, settings)
    return Submission(document=document, format=fmt, engine=engine, voice=voice, variant=variant, speed=speed)
