"""Who is asking: API keys from `READOUT_API_KEYS`, compared in constant time.

With keys configured every request needs `Authorization: Bearer <key>` (the `require_key`
middleware checks it before any handler runs) and a job belongs to the key's name. Exempt:
`/healthz` and the public documents (the web page and its assets, `/docs`, `/openapi.json`),
which hold no data. `/metrics` also takes `READOUT_METRICS_TOKEN`, so a scraper needs no
API key. With no keys configured every caller is `anonymous` (allowed only on a loopback
bind unless READOUT_ALLOW_ANONYMOUS=1; see api.__main__).

The key is accepted only in the `Authorization` header, never in a URL. Browsers, podcast
apps and shared downloads use signed links instead (`api.links`, `signed_request_ok`), and
feeds their own token: the app registers a check with `set_signature_check`, and a request
it vouches for is authorised as the name it returns. Two `Authorization` headers are a 400
(which one would win is not something to guess).
"""
from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from api.errors import ApiError
from api.links import LinkSigner
from shared.config import Settings

ANONYMOUS = "anonymous"
_PUBLIC_PATHS = frozenset({"/healthz", "/", "/docs", "/openapi.json"})
_PUBLIC_PREFIXES = ("/static/",)
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII: anything else is no key of ours
CALLER = "readout_caller"  # request key: the authorised caller's name, set by require_key

SignatureCheck = Callable[[web.Request], Awaitable[str | None]]
SIGNATURE_CHECK = web.AppKey("signature_check", SignatureCheck)


def set_signature_check(app: web.Application, check: SignatureCheck) -> None:
    """Hook for signed links: `check(request)` returns the owner a valid signature names, else None."""
    app[SIGNATURE_CHECK] = check


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})


def _authorization(request: web.Request) -> str:
    values = request.headers.getall("Authorization", [])
    if len(values) > 1:
        raise ApiError(400, "duplicate_authorization", "send one Authorization header, not several")
    return values[0] if values else ""


def _presented_key(request: web.Request) -> str | None:
    header = _authorization(request)
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


def _match(token: str, candidates: dict[str, str]) -> str | None:
    """The name of the key equal to `token`; every key is compared, so timing says nothing."""
    if not _TOKEN.match(token):  # also keeps bytes that are not text away from encode()
        return None
    token_b = token.encode()
    found = None
    for key, name in candidates.items():
        if hmac.compare_digest(key.encode(), token_b):
            found = name
    return found


def caller(request: web.Request, settings: Settings) -> str:
    """The name owning this request's jobs; raises 401 without a valid key."""
    if CALLER in request:
        return request[CALLER]
    _authorization(request)  # a duplicate header is a 400 even without keys
    if not settings.api_keys:
        return ANONYMOUS
    token = _presented_key(request)
    if token is None:
        raise _unauthorized("send an API key as 'Authorization: Bearer <key>'")
    found = _match(token, settings.api_keys)
    if found is None:
        raise _unauthorized("API key not recognised")
    return found


def _public(path: str) -> bool:
    return path in _PUBLIC_PATHS or path.startswith(_PUBLIC_PREFIXES)


def require_key(settings: Settings) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Middleware: with keys configured, nothing but the public paths runs without one."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        _authorization(request)
        if request.match_info.http_exception is not None:  # no such route or method: 404/405 say no more
            return await handler(request)
        metrics = request.path == "/metrics" and bool(settings.metrics_token)
        if metrics and _metrics_token_ok(request, settings):
            pass
        elif settings.api_keys and not _public(request.path):
            check = request.app.get(SIGNATURE_CHECK)
            signed = await check(request) if check is not None else None
            request[CALLER] = signed if signed is not None else caller(request, settings)
        elif metrics:
            raise _unauthorized("send the metrics token as 'Authorization: Bearer <token>'")
        return await handler(request)

    return middleware


def _metrics_token_ok(request: web.Request, settings: Settings) -> bool:
    scheme, _, token = _authorization(request).partition(" ")
    return scheme.lower() == "bearer" and _match(token.strip(), {settings.metrics_token: "metrics"}) is not None
