"""The HTTP side of the `readout` CLI: one aiohttp session, every failure turned into a `CliError`.

A `CliError` carries the one line the user sees and the process's exit code, so nothing
below `api.cli.main` ever shows a traceback for a user error or a server failure.
"""
from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aiohttp

# Exit codes (documented in --help and the README).
EXIT_DONE = 0
EXIT_FAILED = 1  # the job failed or was cancelled, or the server refused the request
EXIT_USAGE = 2  # bad command line, missing or unreadable article, unwritable -o
EXIT_UNREACHABLE = 3  # server unreachable, not a Readout API, or the key was refused
EXIT_INTERRUPTED = 130  # Ctrl-C


class CliError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ApiRefused(CliError):
    """The API answered with an error JSON; `status` and `code` say which."""

    def __init__(self, message: str, exit_code: int, status: int, code: str) -> None:
        super().__init__(message, exit_code)
        self.status = status
        self.code = code


class ConnectionLost(CliError):
    """The server could not be reached, or dropped the connection mid-response."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_UNREACHABLE)


def check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(f"the server URL {url!r} needs a scheme and a host, e.g. http://127.0.0.1:8000 "
                       "(--url or READOUT_URL)", EXIT_USAGE)
    return url.rstrip("/")


def error_of(body: Any) -> tuple[str, str] | None:
    """(code, message) of a Readout error body, if it is one."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return str(err.get("code") or "error"), str(err.get("message") or "")
    return None


class Client:
    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = check_base_url(base_url)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=300))

    async def close(self) -> None:
        await self.session.close()

    def _lost(self, exc: BaseException) -> ConnectionLost:
        if isinstance(exc, aiohttp.ClientConnectorError):
            error = exc.os_error
            if isinstance(exc, aiohttp.ClientSSLError):
                reason = f"TLS failed ({getattr(error, 'reason', None) or error}); is it https?"
            elif isinstance(error.errno, int) and error.errno > 0:
                reason = os.strerror(error.errno)
            else:
                reason = error.strerror or str(error)
            return ConnectionLost(f"cannot reach the Readout API at {self.base_url}: {reason}")
        if isinstance(exc, TimeoutError):
            return ConnectionLost(f"the Readout API at {self.base_url} did not answer in time")
        return ConnectionLost(f"lost the connection to {self.base_url}: {type(exc).__name__} {exc}".rstrip())

    async def _refusal(self, resp: aiohttp.ClientResponse) -> ApiRefused:
        try:
            body = await resp.json(content_type=None)
        except (aiohttp.ClientError, json.JSONDecodeError, UnicodeDecodeError, TimeoutError):
            body = None
        code, message = error_of(body) or (f"http_{resp.status}", resp.reason or "")
        if resp.status in (401, 403):
            return ApiRefused(f"the server refused the API key ({resp.status} {code}): set READOUT_API_KEY to a valid key",
                              EXIT_UNREACHABLE, resp.status, code)
        if error_of(body) is None:
            return ApiRefused(f"{self.base_url} answered {resp.status} {resp.reason or ''} without a Readout error; "
                              "is it a Readout API?", EXIT_UNREACHABLE, resp.status, code)
        exit_code = EXIT_UNREACHABLE if resp.status == 503 else EXIT_FAILED
        return ApiRefused(f"{resp.status} {code}: {message}", exit_code, resp.status, code)

    @asynccontextmanager
    async def request(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[aiohttp.ClientResponse]:
        """A response with a success status; errors become CliError (dropped connections: ConnectionLost)."""
        try:
            async with self.session.request(method, self.base_url + path, **kwargs) as resp:
                if resp.status >= 400:
                    raise await self._refusal(resp)
                yield resp
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            raise self._lost(exc) from exc

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.request(method, path, **kwargs) as resp:
            try:
                return await resp.json(content_type=None)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise CliError(f"{self.base_url}{path} did not answer JSON; is it a Readout API?", EXIT_UNREACHABLE) from exc

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/v1/jobs", json=body)

    async def status(self, job_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/jobs/{job_id}")

    async def cancel(self, job_id: str) -> dict[str, Any]:
        """The job's status after the cancel (never DELETE: that removes a finished job and its files)."""
        return await self.json("POST", f"/v1/jobs/{job_id}/cancel")
