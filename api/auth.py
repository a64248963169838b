"""Who is asking: API keys from `READOUT_API_KEYS`, compared in constant time.

With keys configured every request needs `Authorization: Bearer <key>` and a job belongs
to the key's name. With none configured every caller is `anonymous` (allowed only on a
loopback bind unless READOUT_ALLOW_ANONYMOUS=1; see api.__main__).

The key is accepted only in the `Authorization` header, never in a URL. Browsers, podcast
apps and shared downloads use signed links instead (`api.links`, `signed_request_ok`).
"""
from __future__ import annotations

import hmac

from aiohttp import web

from api.errors import ApiError
from api.links import LinkSigner
from shared.config import Settings

ANONYMOUS = "anonymous"


def _presented_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def signed_request_ok(request: web.Request, signer: LinkSigner) -> bool:
    """True for a GET carrying a valid signed link to its own path; False when it carries none.

    A link that is there but wrong answers 403 `invalid_signature`, a late one 403 `link_expired`.
    """
    if "sig" not in request.query and "expires" not in request.query:
        return False
    job_id = request.match_info.get("job_id", "")
    if request.method not in ("GET", "HEAD") or not job_id:
        raise ApiError(403, "invalid_signature", "signed links are for downloads only")
    signer.check(job_id, request.path, request.query.get("expires", ""), request.query.get("sig", ""))
    return True


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
