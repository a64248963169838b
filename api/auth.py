"""Who is asking: API keys from `READOUT_API_KEYS`, compared in constant time.

With keys configured every request needs `Authorization: Bearer <key>` and a job belongs
to the key's name. With none configured every caller is `anonymous` (allowed only on a
loopback bind unless READOUT_ALLOW_ANONYMOUS=1; see api.__main__).

Browsers cannot put a header on an `<audio src>` or an `EventSource`, so `GET` of a job's
`/audio` and `/events` (and only those) also accept the key as `?access_token=<key>`.
The API writes no access log, so the key does not land in its logs.
"""
from __future__ import annotations

import hmac
import re

from aiohttp import web

from api.errors import ApiError
from shared.config import Settings

ANONYMOUS = "anonymous"
_QUERY_TOKEN_PATHS = re.compile(r"^/v1/jobs/[^/]+/(audio|events)$")


def _presented_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if not header and request.method == "GET" and _QUERY_TOKEN_PATHS.match(request.path):
        return request.query.get("access_token") or None
    return None


def caller(request: web.Request, settings: Settings) -> str:
    """The name owning this request's jobs; raises 401 without a valid key."""
    if not settings.api_keys:
        return ANONYMOUS
    token = _presented_key(request)
    if token is None:
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'",
                       {"WWW-Authenticate": "Bearer"})
    token_b = token.encode()
    found = None
    for key, name in settings.api_keys.items():  # check every key: timing says nothing
        if hmac.compare_digest(key.encode(), token_b):
            found = name
    if found is None:
        raise ApiError(401, "unauthorized", "API key not recognised", {"WWW-Authenticate": "Bearer"})
    return found
