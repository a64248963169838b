"""JSON errors everywhere: `{"error": {"code": ..., "message": ...}}`, never an HTML page or a 500 body."""
from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import RedisError

log = logging.getLogger("readout.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


# aiohttp's own HTTP exceptions (no route, wrong method, body too large) keep their status.
_HTTP_CODES = {
    404: ("not_found", "no such endpoint"),
    405: ("method_not_allowed", "method not allowed on this endpoint"),
    413: ("body_too_large", "request body is larger than the limit"),
}


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, message = _HTTP_CODES.get(exc.status, ("http_error", exc.reason))
        return error_response(exc.status, code, message)
    except ConnectionError:
        raise  # the client went away mid-response; aiohttp drops the connection quietly
    except RedisError as exc:  # Redis down past the client's retries: a clear 503, not a 500
        log.warning("redis unavailable", extra={"path": request.path, "error": type(exc).__name__})
        return error_response(503, "service_unavailable", "the job store is unreachable; try again shortly",
                              {"Retry-After": "5"})
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal_error", "internal error; it has been logged")
