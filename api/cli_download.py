"""Getting a job's whole audio onto disk, or nothing at all.

The audio goes to a hidden temporary file beside the target (`.NAME.XXXX.part`), renamed
into place only once the job is done and the stream ended cleanly, so a partial file never
looks complete. A stream the server cuts (a failed job, a restarted or killed API) is never
taken for the end: the job's status is checked again, and then the audio is fetched again
(resumed with a Range request when the bytes held are the stored MP3's), or the job's failure
is reported, or, once `reconnect_s` has passed without reaching the server, the loss is.

An MP3 that streamed while the job ran is the chunks' MP3s one after another: it plays from
the first chunk on, but it is not the finished file (no ID3 tag, no chapters, not its exact
length). So once the job is done, the stored file (the response with an ETag) replaces it.
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
        self.stored = False  # the bytes held are (a prefix of) the stored finished file

    def begin(self, stored: bool) -> None:
        """A response starts: `stored` says whether it is the stored finished file."""
        self.stored = stored

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def restart(self) -> None:
        self._file.seek(0)
        self._file.truncate()
        self.size = 0
        self.stored = False

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


async def _stream_once(client: Client, job_id: str, out: Output, fmt: str, resume: bool,
                       on_bytes: Callable[[int], None]) -> None:
    """One GET of the audio into `out`; returns only if the response ended cleanly."""
    params = {"format": fmt} if fmt != "mp3" else {}
    headers = {"Range": f"bytes={out.size}-"} if resume and out.size else {}
    async with client.request("GET", f"/v1/jobs/{job_id}/audio", params=params, headers=headers) as resp:
        if resp.status != 206:
            out.restart()
        out.begin(stored="ETag" in resp.headers)  # the live stream has none
        async for piece in resp.content.iter_any():
            out.write(piece)
            on_bytes(len(piece))


async def fetch_audio(client: Client, job_id: str, out: Output, fmt: str, reconnect_s: float,
                      on_bytes: Callable[[int], None] = lambda n: None) -> dict[str, Any]:
    """Write the job's complete audio to `out` (not yet committed); return its final status.

    Raises JobEnded (failed or cancelled), ConnectionLost (no server for `reconnect_s`), CliError.
    """
    resume = False
    lost_at: float | None = None
    delay = RETRY_FIRST_S
    while True:
        try:
            await _stream_once(client, job_id, out, fmt, resume, on_bytes)
            status = await client.status(job_id)
            if status["status"] == "done" and (out.stored or fmt != "mp3"):
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
        # Cut, or the live stream ended: fetch again, resuming the stored MP3 where it stopped.
        resume = out.stored and status["status"] == "done"
