"""Checking a URL before anything is fetched: what the API can refuse at submit time.

Only absolute http(s) URLs with a well-formed host, no credentials, at most MAX_URL_CHARS.
A host that is a literal IP (in any spelling the resolver would accept) is checked against
the address policy at once; a name is checked when it is resolved (see safe_http).
"""
from __future__ import annotations

import re

from yarl import URL

from shared.fetch.errors import FetchError
from shared.fetch.policy import AddressPolicy, NotAnAddress, literal_ip

MAX_URL_CHARS = 2048
SCHEMES = ("http", "https")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


def _invalid(message: str) -> FetchError:
    return FetchError("url_invalid", message)


def _check_name(host: str) -> None:
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise _invalid(f"{host!r} is not a valid host name")


def parse_url(raw: str, policy: AddressPolicy) -> URL:
    """The URL to fetch (fragment dropped), or FetchError url_invalid / url_forbidden."""
    if len(raw) > MAX_URL_CHARS:
        raise _invalid(f"the URL is {len(raw)} characters long; the limit is {MAX_URL_CHARS}")
    if _FORBIDDEN_CHARS.search(raw):
        raise _invalid("the URL contains whitespace, control characters or backslashes")
    try:
        url = URL(raw)
        scheme, host, port = url.scheme.lower(), url.raw_host, url.port
    except (ValueError, UnicodeError) as exc:
        raise _invalid(f"the URL cannot be parsed: {exc}") from exc
    if scheme not in SCHEMES:
        raise _invalid(f"only http and https URLs can be read, not {scheme + ':' if scheme else 'a relative URL'}")
    if not host:
        raise _invalid("the URL has no host")
    if url.raw_user is not None or url.raw_password is not None:
        raise _invalid("credentials in the URL are not accepted")
    if port is None or not 0 < port < 65536:
        raise _invalid("the URL's port is out of range")
    host = host.lower()
    try:
        ip = literal_ip(host)
    except NotAnAddress as exc:
        raise _invalid(str(exc)) from exc
    if ip is None:
        _check_name(host)
    elif not policy.permits(ip):
        spelled = host if host == str(ip) else f"{host} ({ip})"
        raise FetchError("url_forbidden", f"{spelled} is a private, loopback or reserved address; it is never fetched")
    elif host != str(ip):
        url = url.with_host(str(ip))  # connect to exactly the address that was checked, canonically spelled
    return url.with_fragment(None)
