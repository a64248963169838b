"""Serving the app: aiohttp's runner with errors below the app turned into our JSON errors.

Requests that aiohttp's HTTP parser rejects (a header line over the limit, bytes that are
not HTTP, a lying Content-Length) never reach the app's middleware: aiohttp answers them
itself with a text/plain body quoting the offending bytes, and logs those bytes at ERROR.
Here they get `{"error": {"code", "message"}}` without a byte of the request, and the log
line names only the error's type: a request line or header may hold an API key.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler

from api.errors import ResponseCut, error_response, response_started

log = logging.getLogger("readout.api")


class _JsonErrorHandler(RequestHandler):
    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if isinstance(exc, ResponseCut) or response_started(request):
            raise ConnectionError("response already started; the connection is cut")
        if isinstance(exc, LineTooLong):
            status, code, text = 431, "headers_too_large", "the request line or a header is longer than the limit"
        elif isinstance(exc, BadHttpMessage):
            status, code, text = 400, "bad_request", "the request is not valid HTTP"
        elif status == 504:
            code, text = "timeout", "the request took too long"
        else:
            status, code, text = 500, "internal_error", "internal error; it has been logged"
        level = logging.ERROR if status >= 500 else logging.INFO
        log.log(level, "request rejected below the app", extra={"status": status, "error": type(exc).__name__})
        response = error_response(status, code, text)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class ReadoutRunner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server  # same state, one method more: the handler class it makes
        return server


def serve(app: web.Application, host: str, port: int) -> None:
    """`web.run_app` with the runner above, no access log (it would record query strings)."""

    async def main() -> None:
        runner = ReadoutRunner(app, access_log=None, handle_signals=True)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            await asyncio.Event().wait()  # until SIGINT/SIGTERM (GracefulExit)
        finally:
            await runner.cleanup()

    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(main())
