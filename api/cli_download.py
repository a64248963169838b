"""Getting a job's finished audio onto disk, or nothing at all.

The audio goes to a hidden temporary file beside the target (`.NAME.XXXX.part`), renamed
into place only once the job is done and the file is whole, so a partial file never looks
complete. While the job runs, the live stream (the chunks' MP3s as they land) flows into
the temporary file, so progress shows as audio arriving; once the job is done, an MP3 is
fetched again as the job's finished file (`GET /v1/jobs/{id}/audio` of a done job: one
encode with its ID3 tag, chapters and exact duration; a local, fast download) and that is
what lands at the target. Other formats are encoded by the server from the chunks' own
audio either way, so their stream is already the final file. A response that ends early
(a failed job, a restarted or killed API) is never taken for the end: the job's status is
checked again, then the audio is fetched again (a cut finished file resumes with a Range
request, when the server's ETag says it is the same file), or the job's failure is
reported, or, once `reconnect_s` has passed without reaching the server, the loss is.
"""
from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.cli_client import EXIT_FAILED, EXIT_USAGE, ApiRefused, Client, CliError, ConnectionLost

RETRY_FIRST_S, RETRY_MAX_S = 0.25, 2.0  # backoff between reconnection attempts


class JobEnded(CliError):
    """The job failed or was cancelled; the message carries the server's error."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        if status["status"] == "cancelled":
            message = f"job {status['id']} was cancelled"
        else:
            error = status.get("error") or {}
            message = f"job {status['id']} failed: {error.get('code') or 'error'}: {error.get('message') or 'no reason given'}"
        super().__init__(message, EXIT_FAILED)


class Output:
    """A temporary file in the target's directory; `commit` renames it into place, `discard` removes it."""

    def __init__(self, target: Path) -> None:
        self.target = target
        if target.is_dir():
            raise CliError(f"-o {target} is a directory; give a file name", EXIT_USAGE)
        blocker = next((d for d in target.parents if d.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise CliError(f"cannot write {target}: {blocker} is a file, not a directory", EXIT_USAGE)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        except OSError as exc:
            raise CliError(f"cannot write {target}: {exc.strerror or exc}", EXIT_USAGE) from exc
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # the renamed file gets the usual permissions, not mkstemp's 0600
        self.temp = Path(name)
        self._file = os.fdopen(fd, "wb")
        self.size = 0
        self.etag: str | None = None  # set when the bytes held are (a prefix of) the finished file with this ETag

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def restart(self, etag: str | None = None) -> None:
        self._file.seek(0)
        self._file.truncate()
        self.size = 0
        self.etag = etag

    def commit(self) -> None:
        self._file.close()
        os.replace(self.temp, self.target)

    def discard(self) -> None:
        self._file.close()
        self.temp.unlink(missing_ok=True)

    def __enter__(self) -> Output:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._file.closed:
            self.discard()


async def _stream_once(client: Client, job_id: str, out: Output, fmt: str,
                       on_bytes: Callable[[int], None]) -> None:
    """One GET of the audio into `out`; returns only if the response ended cleanly.

    A finished file (it has an ETag; the live stream never does) cut earlier is resumed with
    Range; a 206 of another file or another offset is dropped, and `out` left empty to fetch again.
    """
    params = {"format": fmt} if fmt != "mp3" else {}
    headers = {"Range": f"bytes={out.size}-", "If-Range": out.etag} if out.etag and out.size else {}
    async with client.request("GET", f"/v1/jobs/{job_id}/audio", params=params, headers=headers) as resp:
        etag = resp.headers.get("ETag")
        if resp.status == 206:
            if not headers or etag != out.etag or not resp.headers.get("Content-Range", "").startswith(f"bytes {out.size}-"):
                out.restart()
                return
        else:
            out.restart(etag)
        async for piece in resp.content.iter_any():
            out.write(piece)
            on_bytes(len(piece))


async def fetch_audio(client: Client, job_id: str, out: Output, fmt: str, reconnect_s: float,
                      on_bytes: Callable[[int], None] = lambda n: None) -> dict[str, Any]:
    """Write the job's finished audio to `out` (not yet committed); return its final status.

    Raises JobEnded (failed or cancelled), ConnectionLost (no server for `reconnect_s`), CliError.
    """
    lost_at: float | None = None
    delay = RETRY_FIRST_S
    while True:
        try:
            await _stream_once(client, job_id, out, fmt, on_bytes)
            status = await client.status(job_id)
            if status["status"] == "done" and (out.etag is not None or fmt != "mp3"):
                return status
        except ApiRefused as exc:  # 409: the job ended without audio; 416: the bytes held are not a prefix
            if exc.code not in ("job_failed", "job_cancelled", "range_not_satisfiable"):
                raise
            out.restart()
            status = await client.status(job_id)
        except ConnectionLost as exc:
            lost_at = lost_at or time.monotonic()
            if time.monotonic() - lost_at > reconnect_s:
                raise ConnectionLost(f"{exc} (gave up after {reconnect_s:g} s)") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            try:
                status = await client.status(job_id)
            except ConnectionLost:
                continue
            lost_at, delay = None, RETRY_FIRST_S  # the server is back
        if status["status"] in ("failed", "cancelled"):
            raise JobEnded(status)
        # Cut while running: the live stream again from the start. Done: the finished file (resumed if cut).
