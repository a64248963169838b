"""`readout`: the command-line client of a Readout API (see `readout --help` and the README).

Every user error and server failure ends as one line on stderr (`readout: ...`) and an exit
code from api.cli_client; the audio lands at `-o` only when the job is done (api.cli_download).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from api import serve
from api.cli_client import (
    EXIT_DONE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ApiRefused,
    Client,
    CliError,
    ConnectionLost,
)
from api.cli_download import Output, fetch_audio

DEFAULT_URL = "http://127.0.0.1:8000"
ARTICLE_FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
AUDIO_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
RECONNECT_S = 15.0
T = TypeVar("T")

EPILOG = f"""\
environment:
  READOUT_URL       the API's base URL (default {DEFAULT_URL}); --url overrides it
  READOUT_API_KEY   sent as "Authorization: Bearer <key>" when set

exit codes:
  0    done
  1    the job failed or was cancelled, or the server refused the request (the server's error is printed)
  2    usage: bad arguments, missing or unreadable article, unwritable -o
  3    server unreachable, not a Readout API, or the API key was refused
  130  interrupted (Ctrl-C); the job id and the commands to resume or cancel are printed

Audio is written to a temporary file beside -o and renamed into place only when the job is done,
so a file at -o is always complete. What lands there is the job's finished file (the mp3 with its
ID3 tag, chapters and exact duration): the live stream fills the temporary file while the job runs
(progress), then the finished file is fetched (a fast, local download) and renamed into place; a cut
download of a finished file resumes with a Range request. Messages and progress go to stderr; results
to stdout: lines for people on a terminal, JSON with --json or when stdout is not a terminal."""
SERVE_NOTE = """
To run the service itself on this machine (Redis, the API and the workers): readout serve (see readout serve --help)."""


class Interrupted(Exception):
    """Ctrl-C while waiting."""


class _Sigint:
    """Ctrl-C as an event the waiting code watches; a second Ctrl-C exits at once."""

    def __init__(self) -> None:
        self.pressed = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._press)

    def _press(self) -> None:
        if self.pressed.is_set():
            os.write(2, b"readout: interrupted again; exiting\n")
            os._exit(EXIT_INTERRUPTED)
        self.pressed.set()

    def close(self) -> None:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)


_sigint: _Sigint | None = None


async def interruptible(work: Awaitable[T]) -> T:
    """Await `work`; on Ctrl-C (even one pressed just before) cancel it and raise Interrupted."""
    assert _sigint is not None, "interruptible outside with_client"
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(_sigint.pressed.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finished = task.done() and not _sigint.pressed.is_set()
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, waiter, return_exceptions=True)
    if finished:
        return task.result()
    raise Interrupted


def say(message: str) -> None:
    print(f"readout: {message}", file=sys.stderr, flush=True)


def emit(args: argparse.Namespace, data: Any, human: str) -> None:
    as_json = args.json or not sys.stdout.isatty()
    print(json.dumps(data, indent=2) if as_json else human, flush=True)


# --- the article -------------------------------------------------------------------------------

_HOST_LIKE = re.compile(r"^(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)+(/|$)", re.IGNORECASE)


def is_url(article: str) -> bool:
    return article.lower().startswith(("http://", "https://"))


def looks_like_a_bare_url(article: str) -> bool:
    """`example.com/post` (a host and maybe a path, no scheme), not `notes.txt`."""
    return bool(_HOST_LIKE.match(article)) and Path(article).suffix.lower() not in (*ARTICLE_FORMATS, ".txt")


def article_body(args: argparse.Namespace) -> dict[str, Any]:
    """The POST /v1/jobs JSON for the article argument and the job options."""
    article: str = args.article
    if is_url(article):
        body: dict[str, Any] = {"url": article}
    elif "://" in article:
        raise CliError(f"{article!r}: only http:// and https:// URLs can be converted", EXIT_USAGE)
    else:
        path = Path(article)
        if not path.exists():
            hint = " (for a web page give the whole URL, with https://)" if looks_like_a_bare_url(article) else ""
            raise CliError(f"no such file: {article}{hint}", EXIT_USAGE)
        if path.is_dir():
            raise CliError(f"{article} is a directory; give an article file (.txt, .md or .html) or a URL", EXIT_USAGE)
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {article}: {exc.strerror or exc}", EXIT_USAGE) from exc
        except UnicodeDecodeError as exc:
            raise CliError(f"{article} is not UTF-8 text (byte {exc.start})", EXIT_USAGE) from exc
        body = {"text": text, "format": args.format or ARTICLE_FORMATS.get(path.suffix.lower(), "text")}
    for name in ("engine", "voice", "speed"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    return body


def audio_format(args: argparse.Namespace) -> str:
    if args.audio_format:
        return args.audio_format
    suffix = Path(args.output).suffix.lower().lstrip(".")
    return suffix if suffix in AUDIO_FORMATS else "mp3"


# --- commands ---------------------------------------------------------------------------------

def resume_hint(args: argparse.Namespace, job_id: str) -> str:
    url = f" --url {shlex.quote(args.url)}" if args.url != os.environ.get("READOUT_URL", DEFAULT_URL) else ""
    return (f"job {job_id} is still on the server.\n"
            f"  resume: readout download {job_id} -o {shlex.quote(args.output)}{url}\n"
            f"  cancel: readout cancel {job_id}{url}")


async def follow_progress(client: Client, job_id: str, bar: tqdm) -> None:
    """Move `bar` with the job's events; best effort (the audio stream is what decides)."""
    try:
        async with client.request("GET", f"/v1/jobs/{job_id}/events") as resp:
            async for raw in resp.content:
                line = raw.decode(errors="replace").strip()
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event["chunks"]["total"]:
                        bar.total = event["chunks"]["total"]
                    bar.n = event["chunks"]["done"]
                    bar.refresh()
    except (CliError, ValueError, KeyError):
        return


async def write_audio(client: Client, args: argparse.Namespace, job_id: str, out: Output,
                      started: float) -> dict[str, Any]:
    """Fetch the audio to `out` (progress on stderr), commit it; the summary of what was written."""
    first: list[float] = []

    def on_bytes(count: int) -> None:
        if not first:
            first.append(time.monotonic() - started)

    with tqdm(total=None, unit="chunk", desc="synthesizing", file=sys.stderr, disable=True if args.quiet else None) as bar:
        progress = asyncio.ensure_future(follow_progress(client, job_id, bar))
        try:
            final = await fetch_audio(client, job_id, out, audio_format(args), args.reconnect, on_bytes)
        finally:
            progress.cancel()
            await asyncio.gather(progress, return_exceptions=True)
    out.commit()
    return {
        "job": job_id,
        "file": str(Path(args.output).resolve()),
        "format": audio_format(args),
        "bytes": out.size,
        "chunks": final["chunks"]["total"],
        "cache": final["cache"],
        "time_to_first_audio_s": round(first[0], 3) if first else None,
        "total_s": round(time.monotonic() - started, 3),
    }


def summary_line(s: dict[str, Any]) -> str:
    first = f"first audio after {s['time_to_first_audio_s']} s, " if s["time_to_first_audio_s"] is not None else ""
    return (f"wrote {s['file']} ({s['bytes'] / 1e6:.1f} MB, {s['chunks']} chunks): {first}done in {s['total_s']} s; "
            f"cache hits={s['cache']['hits']} misses={s['cache']['misses']}")


async def convert(client: Client, args: argparse.Namespace) -> int:
    body = article_body(args)
    started = time.monotonic()
    with Output(Path(args.output)) as out:  # an unwritable -o fails here, before submitting
        job = await interruptible(client.submit(body))
        say(f"job {job['id']} submitted")
        try:
            summary = await interruptible(write_audio(client, args, job["id"], out, started))
        except Interrupted:
            return await interrupted(client, args, job["id"])
        except ConnectionLost as exc:
            raise ConnectionLost(f"{exc}; {resume_hint(args, job['id'])}") from exc
    emit(args, summary, summary_line(summary))
    return EXIT_DONE


async def download(client: Client, args: argparse.Namespace) -> int:
    with Output(Path(args.output)) as out:
        try:
            summary = await interruptible(write_audio(client, args, args.job_id, out, time.monotonic()))
        except Interrupted:
            return await interrupted(client, args, args.job_id)
        except ConnectionLost as exc:
            raise ConnectionLost(f"{exc}; {resume_hint(args, args.job_id)}") from exc
    emit(args, summary, summary_line(summary))
    return EXIT_DONE


async def interrupted(client: Client, args: argparse.Namespace, job_id: str) -> int:
    if args.cancel_on_interrupt:
        try:
            status = await client.cancel(job_id)
            say(f"interrupted; job {job_id} is {status['status']}")
        except CliError as exc:
            say(f"interrupted; cancelling job {job_id} failed: {exc}")
    else:
        say(f"interrupted; {resume_hint(args, job_id)}")
    return EXIT_INTERRUPTED


async def submit(client: Client, args: argparse.Namespace) -> int:
    job = await interruptible(client.submit(article_body(args)))
    say(f"job {job['id']} submitted")
    emit(args, job, job["id"])
    return EXIT_DONE


def status_line(s: dict[str, Any]) -> str:
    chunks = s.get("chunks") or {}
    line = (f"{s['id']}  {s['status']:<9}  {s.get('engine', '')}/{s.get('voice', '')}  "
            f"{s.get('characters', 0)} chars  chunks {chunks.get('done', 0)}/{chunks.get('total') or '?'}")
    if s.get("error"):
        line += f"  error {s['error'].get('code')}: {s['error'].get('message')}"
    return line


async def status(client: Client, args: argparse.Namespace) -> int:
    s = await client.status(args.job_id)
    emit(args, s, status_line(s))
    return EXIT_DONE


async def cancel(client: Client, args: argparse.Namespace) -> int:
    s = await client.cancel(args.job_id)
    emit(args, s, status_line(s))
    if s["status"] != "cancelled":
        say(f"job {args.job_id} had already ended ({s['status']}); nothing to cancel")
        return EXIT_FAILED
    return EXIT_DONE


async def engines(client: Client, args: argparse.Namespace) -> int:
    body = await client.json("GET", "/v1/engines")
    lines = []
    for e in body["engines"]:
        state = "" if e.get("available", True) else f"  unavailable: {e.get('reason', '')}"
        voices = len(e.get("voices", []))
        lines.append(f"{e['name']}{' (default)' if e.get('default') else ''}: {voices} voice{'s' * (voices != 1)}, "
                     f"default voice {e.get('default_voice')}, chunks up to {e.get('max_chars')} chars{state}")
    emit(args, body, "\n".join(lines))
    return EXIT_DONE


async def jobs(client: Client, args: argparse.Namespace) -> int:
    params = {"limit": str(args.limit), **({"cursor": args.cursor} if args.cursor else {})}
    try:
        body = await client.json("GET", "/v1/jobs", params=params)
    except ApiRefused as exc:
        if exc.status in (404, 405):
            raise CliError(f"this server has no job list (GET /v1/jobs answered {exc.status}); it is older than this CLI",
                           EXIT_FAILED) from exc
        raise
    lines = [status_line(s) for s in body.get("jobs", [])] or ["no jobs"]
    if body.get("next_cursor"):
        lines.append(f"more: readout jobs --cursor {body['next_cursor']}")
    emit(args, body, "\n".join(lines))
    return EXIT_DONE


def _flat(data: Any, prefix: str = "") -> list[str]:
    if isinstance(data, dict):
        return [line for key, value in data.items() for line in _flat(value, f"{prefix}{key}.")]
    return [f"{prefix.rstrip('.')}: {data}"]


async def stats(client: Client, args: argparse.Namespace) -> int:
    body = await client.json("GET", "/v1/stats")
    emit(args, body, "\n".join(_flat(body)))
    return EXIT_DONE


Command = Callable[[Client, argparse.Namespace], Awaitable[int]]


def with_client(command: Command) -> Callable[[argparse.Namespace], int]:
    """A subcommand's `run`: a session for the API, closed whatever happens."""

    async def run(args: argparse.Namespace) -> int:
        global _sigint
        _sigint = _Sigint()
        client = Client(args.url, os.environ.get("READOUT_API_KEY") or None)
        try:
            return await command(client, args)
        finally:
            await client.close()
            _sigint.close()

    return lambda args: asyncio.run(run(args))


# --- the command line -------------------------------------------------------------------------

def _speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.5 <= speed <= 2.0:
        raise argparse.ArgumentTypeError(f"{value} is outside 0.5-2.0")
    return speed


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def _version() -> str:
    try:
        return metadata.version("readout")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _common(top: bool) -> argparse.ArgumentParser:
    """--url and --json, accepted before or after the subcommand (after: only when given)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("READOUT_URL", DEFAULT_URL) if top else argparse.SUPPRESS,
                        help=f"the API's base URL (default: READOUT_URL, else {DEFAULT_URL})")
    common.add_argument("--json", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="results as JSON on stdout, also on a terminal (the default when stdout is not one)")
    return common


def parser() -> argparse.ArgumentParser:
    common = _common(top=False)
    p = argparse.ArgumentParser(prog="readout", parents=[_common(top=True)], epilog=EPILOG + "\n" + SERVE_NOTE,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Turn articles (text, Markdown, HTML files or web page URLs) into speech "
                                            "with a Readout API.")
    p.add_argument("--version", action="version", version=f"readout {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, command: Command, help_text: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, parents=[common], help=help_text, description=help_text, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        c.set_defaults(run=with_client(command))
        return c

    def job_options(c: argparse.ArgumentParser) -> None:
        c.add_argument("article", help="a .txt, .md or .html file (UTF-8), or an http(s):// URL the server fetches")
        c.add_argument("--engine", help="engine name (see `readout engines`); default: the server's")
        c.add_argument("--voice", help="voice id of the engine; default: the engine's default voice")
        c.add_argument("--speed", type=_speed, help="speaking rate, 0.5-2.0 (default 1.0); sent only when given")
        c.add_argument("--format", choices=("text", "markdown", "html"),
                       help="a file article's format; default: from its extension (.md, .html, else text)")

    def output_options(c: argparse.ArgumentParser) -> None:
        c.add_argument("-o", "--output", required=True, help="where the audio goes (written only once complete)")
        c.add_argument("--audio-format", choices=AUDIO_FORMATS,
                       help="audio format; default: from the -o extension if it is one of these, else mp3")
        c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        c.add_argument("--cancel-on-interrupt", action="store_true",
                       help="on Ctrl-C cancel the job instead of leaving it running")
        c.add_argument("--reconnect", type=float, default=RECONNECT_S, metavar="SECONDS",
                       help=f"how long to keep trying when the server drops or is unreachable (default {RECONNECT_S:g})")

    c = add("convert", convert, "submit an article, show progress, write the audio to -o once the job is done")
    job_options(c)
    output_options(c)
    job_options(add("submit", submit, "submit an article and print the job id (JSON: the job's URLs too)"))
    add("status", status, "show a job's status").add_argument("job_id")
    d = add("download", download, "write a job's finished audio to -o (waits while the job runs; resumes a cut download)")
    d.add_argument("job_id")
    output_options(d)
    add("cancel", cancel, "cancel a job (chunks not yet started are skipped)").add_argument("job_id")
    add("engines", engines, "list the server's engines and voices")
    j = add("jobs", jobs, "list your jobs, newest first")
    j.add_argument("--limit", type=_positive, default=20, help="jobs per page (default 20)")
    j.add_argument("--cursor", help="the next_cursor of the previous page")
    add("stats", stats, "cluster-wide counters and what the cache saved")
    s = sub.add_parser("serve", help="run Redis, the API and the workers on this machine",
                       description="Run the whole service on this machine: the embedded Redis (unless REDIS_URL "
                                   "is set), the API and the workers, until Ctrl-C or SIGTERM.")
    serve.add_arguments(s)
    s.set_defaults(run=serve.run)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)  # usage errors: argparse prints them and exits 2
    try:
        code = args.run(args)
    except CliError as exc:
        say(str(exc))
        code = exc.exit_code
    except (Interrupted, KeyboardInterrupt):
        say("interrupted")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed early (`readout jobs | head`)
        code = EXIT_DONE
    sys.exit(code)


if __name__ == "__main__":
    main()
