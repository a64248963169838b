"""JSON errors everywhere: `{"error": {"code": ..., "message": ...}}`, never an HTML page or a 500 body.

Once a response's headers are on the wire, no error response can follow: a second status
line inside a body would make a truncated MP3 look like a finished one. Any failure after
that point cuts the connection instead (the transport is aborted, so a chunked body never
gets its terminating chunk and a Content-Length body comes up short), logged with the job id.
"""
from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisError

log = logging.getLogger("readout.api")

JOB_ID = "readout_job_id"  # request key: the job a response is about (for the cut log line)
STORE_RETRY_AFTER_S = 5


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class ResponseCut(ConnectionResetError):
    """Raised after a started response was cut; aiohttp drops the connection quietly."""


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def response_started(request: web.BaseRequest) -> bool:
    """True once any byte of the response (its headers at least) has been written."""
    writer = request.writer
    return writer is not None and writer.output_size > 0


def cut_response(request: web.Request, reason: str) -> None:
    """End a started response without completing it: the client sees a broken transfer."""
    job_id = request.get(JOB_ID) or request.match_info.get("job_id")
    log.warning("response cut", extra={"job_id": job_id, "route": _route(request), "reason": reason})
    if request.transport is not None:
        request.transport.abort()


def _route(request: web.Request) -> str:
    """The route template, never the raw path (which may hold a query string with a key)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


# aiohttp's own HTTP exceptions (no route, wrong method, body too large) keep their status.
_HTTP_CODES = {
    400: ("bad_request", "the request could not be parsed"),
    404: ("not_found", "no such endpoint"),
    405: ("method_not_allowed", "method not allowed on this endpoint"),
    413: ("body_too_large", "request body is larger than the limit"),
}


def store_error(exc: RedisError) -> ApiError:
    """What a client is told when the job store fails: 507 when it is full, else 503."""
    retry = {"Retry-After": str(STORE_RETRY_AFTER_S)}
    if isinstance(exc, OutOfMemoryError):
        return ApiError(507, "store_full", "the job store is out of memory; try again later", retry)
    if isinstance(exc, ReadOnlyError):
        return ApiError(503, "store_unavailable", "the job store is read-only; try again shortly", retry)
    return ApiError(503, "store_unavailable", "the job store is unreachable; try again shortly", retry)


def _as_response(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    if isinstance(exc, web.HTTPException):
        code, message = _HTTP_CODES.get(exc.status, ("http_error", exc.reason))
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, code, message, headers)
    if isinstance(exc, RedisError):  # Redis down, frozen or full past the client's retries
        log.warning("job store error", extra={"route": _route(request), "error": type(exc).__name__})
        err = store_error(exc)
        return error_response(err.status, err.code, err.message, err.headers)
    log.error("unhandled error", extra={"route": _route(request), "error": type(exc).__name__}, exc_info=exc)
    return error_response(500, "internal_error", "internal error; it has been logged")


def _check_static(request: web.Request) -> None:
    """A `/static/` name that is no file there is a JSON 404 (aiohttp sends an empty one, or a
    500 for a name longer than the file system allows)."""
    resource = request.match_info.route.resource
    directory = resource.get_info().get("directory") if resource is not None else None
    if directory is None:
        return
    name = request.match_info.get("filename", "")
    try:
        found = all(len(part) <= 255 for part in name.split("/")) and Path(directory, name).resolve().is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise ApiError(404, "not_found", "no such file")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        _check_static(request)
        return await handler(request)
    except ConnectionError:
        raise  # the client went away mid-response (or the response was cut already)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _answer(request, exc)
    except Exception as exc:
        return _answer(request, exc)


def _answer(request: web.Request, exc: Exception) -> web.Response:
    if response_started(request):
        cut_response(request, type(exc).__name__ if not isinstance(exc, ApiError) else exc.code)
        raise ResponseCut("response cut after its headers were sent") from exc
    return _as_response(request, exc)
