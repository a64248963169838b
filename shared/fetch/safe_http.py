"""An HTTP GET that cannot be turned against the private network, and cannot run away.

- Every hop is checked before it is requested: the URL (scheme, host, a literal IP) by
  `parse_url`, and a host name by `CheckedResolver`, which resolves it once, refuses it if any
  address is not permitted, and hands the connector exactly the addresses it checked, so
  there is no second lookup for DNS rebinding to change. Host header and TLS SNI stay the name.
- Redirects are followed here (at most MAX_REDIRECTS), so each target is checked the same way.
- The body is streamed and cut at READOUT_FETCH_MAX_BYTES (after decompression), and the
  whole fetch, all hops and a slow-drip body included, is bounded by READOUT_FETCH_TIMEOUT.
- Only HTML, plain text and Markdown are read; anything else is refused before its body is.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from importlib import metadata

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from shared.config import Settings
from shared.fetch.errors import FetchError
from shared.fetch.policy import AddressPolicy
from shared.fetch.urls import SCHEMES, parse_url

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MEDIA_FORMATS = {
    "text/html": "html", "application/xhtml+xml": "html",
    "text/plain": "text",
    "text/markdown": "markdown", "text/x-markdown": "markdown",
}
ACCEPT = "text/html,application/xhtml+xml,text/markdown;q=0.9,text/plain;q=0.8"
_READ_BYTES = 64 * 1024


def _version() -> str:
    try:
        return metadata.version("readout")
    except metadata.PackageNotFoundError:
        return "dev"


USER_AGENT = f"Readout/{_version()} (+article reader)"


class ForbiddenAddress(OSError):
    """A name resolved to an address the policy refuses (an OSError, so aiohttp passes it on)."""


class CheckedResolver(AbstractResolver):
    """Resolve once, refuse the name if any of its addresses is not permitted, return the rest as is."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        for answer in answers:
            try:
                ip = ipaddress.ip_address(answer["host"])
            except ValueError:  # e.g. a scoped link-local address: never public
                raise ForbiddenAddress(f"{host} resolves to {answer['host']}, which is never fetched") from None
            if not self._policy.permits(ip):
                raise ForbiddenAddress(f"{host} resolves to {ip}, a private, loopback or reserved address; it is never fetched")
        if not answers:
            raise OSError(f"{host} has no address")
        return answers

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class Page:
    body: bytes
    format: str  # html | text | markdown
    charset: str | None  # from the Content-Type header
    url: str  # after redirects


def _network_error(url: URL, exc: aiohttp.ClientError) -> FetchError:
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, ForbiddenAddress):
        return FetchError("url_forbidden", str(exc.os_error))
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        temporary = isinstance(exc.os_error, socket.gaierror) and exc.os_error.errno == socket.EAI_AGAIN
        return FetchError("fetch_failed", f"{url.host} could not be resolved: {exc.os_error}", retryable=temporary)
    if isinstance(exc, aiohttp.ClientSSLError):
        return FetchError("fetch_failed", f"TLS with {url.host} failed: {exc}")
    transient = isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError)
    return FetchError("fetch_failed", f"GET {url} failed: {type(exc).__name__}: {exc}", retryable=transient)


def _redirect_target(url: URL, location: str, policy: AddressPolicy) -> URL:
    try:
        target = url.join(URL(location))
    except ValueError as exc:
        raise FetchError("fetch_failed", f"{url} redirects to an invalid URL {location[:200]!r}") from exc
    if target.scheme.lower() not in SCHEMES:
        raise FetchError("url_forbidden", f"{url} redirects to a {target.scheme or 'relative'}: URL; only http and https are fetched")
    try:
        return parse_url(str(target), policy)
    except FetchError as exc:
        if exc.code == "url_forbidden":
            raise FetchError("url_forbidden", f"{url} redirects to {exc.message}") from exc
        raise FetchError("fetch_failed", f"{url} redirects to an invalid URL: {exc.message}") from exc


def _media_format(resp: aiohttp.ClientResponse) -> str:
    """By Content-Type (none at all counts as application/octet-stream), before the body is read."""
    fmt = MEDIA_FORMATS.get(resp.content_type)
    if fmt is None:
        raise FetchError("unsupported_content", f"{resp.url} is {resp.content_type}; only HTML, plain text and Markdown can be read")
    return fmt


async def _read_body(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    too_large = FetchError("fetch_too_large", f"{resp.url} is larger than {max_bytes} bytes (READOUT_FETCH_MAX_BYTES)")
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise too_large
    body = bytearray()
    async for piece in resp.content.iter_chunked(_READ_BYTES):
        body += piece
        if len(body) > max_bytes:
            raise too_large
    return bytes(body)


async def _get(session: aiohttp.ClientSession, start: URL, settings: Settings, policy: AddressPolicy) -> Page:
    url = start
    for _ in range(MAX_REDIRECTS + 1):
        try:
            async with session.get(url, allow_redirects=False) as resp:
                if resp.status in REDIRECT_STATUSES and "Location" in resp.headers:
                    url = _redirect_target(url, resp.headers["Location"], policy)
                    continue
                if resp.status >= 400:
                    raise FetchError("fetch_failed", f"{url} answered HTTP {resp.status} {resp.reason or ''}".rstrip(),
                                     retryable=resp.status >= 500 or resp.status == 429)
                if resp.status != 200:
                    raise FetchError("fetch_failed", f"{url} answered HTTP {resp.status}, not a page")
                fmt = _media_format(resp)
                body = await _read_body(resp, settings.fetch_max_bytes)
                return Page(body=body, format=fmt, charset=resp.charset, url=str(url))
        except aiohttp.ClientError as exc:
            raise _network_error(url, exc) from exc
    raise FetchError("fetch_failed", f"{start} redirects more than {MAX_REDIRECTS} times")


async def fetch_page(raw_url: str, settings: Settings, *, resolver: AbstractResolver | None = None,
                     policy: AddressPolicy | None = None) -> Page:
    """GET the page at `raw_url` under the SSRF policy and the size and time limits.

    `resolver` replaces the system resolver (tests inject DNS answers); it is always wrapped
    in CheckedResolver.
    """
    policy = policy or AddressPolicy.from_settings(settings)
    url = parse_url(raw_url, policy)
    connector = aiohttp.TCPConnector(resolver=CheckedResolver(policy, resolver), use_dns_cache=False)
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    try:
        async with asyncio.timeout(settings.fetch_timeout_s):
            async with aiohttp.ClientSession(connector=connector, headers=headers, trust_env=False) as session:
                return await _get(session, url, settings, policy)
    except TimeoutError as exc:
        raise FetchError("fetch_timeout",
                         f"{raw_url} was not read within {settings.fetch_timeout_s:g} s (READOUT_FETCH_TIMEOUT)") from exc
