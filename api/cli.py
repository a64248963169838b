"""`readout`: the command-line client of a Readout API.

    readout convert ARTICLE -o out.mp3   submit, show progress, write the MP3 as it streams
    readout submit ARTICLE               print the job id
    readout status ID                    print the job's status JSON
    readout download ID -o out.mp3       write the finished (or still streaming) audio
    readout stats                        cluster-wide counters and what the cache saved

The API is READOUT_URL (default http://127.0.0.1:8000); READOUT_API_KEY is sent as a
bearer token when set. The article's format comes from its extension (.md, .html, else text).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from tqdm import tqdm

from api import serve

CONTENT_TYPES = {".md": "text/markdown", ".markdown": "text/markdown", ".html": "text/html", ".htm": "text/html"}


class Client:
    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.session = aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=None, sock_read=300))

    async def close(self) -> None:
        await self.session.close()

    async def _check(self, resp: aiohttp.ClientResponse) -> None:
        if resp.status >= 400:
            try:
                err = (await resp.json())["error"]
                message = f"{resp.status} {err['code']}: {err['message']}"
            except (aiohttp.ContentTypeError, KeyError, json.JSONDecodeError):
                message = f"{resp.status} {await resp.text()}"
            raise SystemExit(f"readout: {message}")

    async def submit(self, path: Path, engine: str | None, voice: str | None) -> dict[str, Any]:
        params = {k: v for k, v in (("engine", engine), ("voice", voice)) if v}
        headers = {"Content-Type": CONTENT_TYPES.get(path.suffix.lower(), "text/plain") + "; charset=utf-8"}
        async with self.session.post(f"{self.base_url}/v1/jobs", data=path.read_bytes(), params=params,
                                     headers=headers) as resp:
            await self._check(resp)
            return await resp.json()

    async def status(self, job_id: str) -> dict[str, Any]:
        async with self.session.get(f"{self.base_url}/v1/jobs/{job_id}") as resp:
            await self._check(resp)
            return await resp.json()

    async def download(self, job_id: str, out: Path) -> tuple[int, float | None]:
        """Write the audio as it arrives; return (bytes, seconds to the first byte)."""
        started = time.monotonic()
        first: float | None = None
        total = 0
        out.parent.mkdir(parents=True, exist_ok=True)
        async with self.session.get(f"{self.base_url}/v1/jobs/{job_id}/audio") as resp:
            await self._check(resp)
            with out.open("wb") as fh:
                async for piece in resp.content.iter_any():
                    if first is None:
                        first = time.monotonic() - started
                    fh.write(piece)
                    total += len(piece)
        return total, first

    async def follow(self, job_id: str, bar: tqdm) -> dict[str, Any]:
        """Update `bar` from the job's server-sent events until the job ends."""
        last: dict[str, Any] = {}
        async with self.session.get(f"{self.base_url}/v1/jobs/{job_id}/events") as resp:
            await self._check(resp)
            async for raw in resp.content:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                last = json.loads(line[5:])
                if last["chunks"]["total"]:
                    bar.total = last["chunks"]["total"]
                bar.n = last["chunks"]["done"]
                bar.refresh()
        return last

    async def stats(self) -> dict[str, Any]:
        async with self.session.get(f"{self.base_url}/v1/stats") as resp:
            await self._check(resp)
            return await resp.json()


async def convert(client: Client, args: argparse.Namespace) -> None:
    started = time.monotonic()
    job = await client.submit(Path(args.article), args.engine, args.voice)
    with tqdm(total=None, unit="chunk", desc="synthesizing", file=sys.stderr, disable=args.quiet) as bar:
        (size, first), final = await asyncio.gather(client.download(job["id"], Path(args.output)),
                                                    client.follow(job["id"], bar))
    final = await client.status(job["id"])
    if final["status"] != "done":
        raise SystemExit(f"readout: job {job['id']} ended {final['status']}: {final.get('error')}")
    summary = {
        "job": job["id"],
        "file": str(Path(args.output).resolve()),
        "bytes": size,
        "chunks": final["chunks"]["total"],
        "cache": final["cache"],
        "time_to_first_audio_s": round(first, 3) if first is not None else None,
        "total_s": round(time.monotonic() - started, 3),
    }
    if not args.quiet:  # for people; stdout keeps the JSON for scripts
        print(
            f"wrote {summary['file']} ({size / 1e6:.1f} MB, {summary['chunks']} chunks): first audio after "
            f"{summary['time_to_first_audio_s']} s, done in {summary['total_s']} s; "
            f"cache hits={final['cache']['hits']} misses={final['cache']['misses']}",
            file=sys.stderr,
        )
    print(json.dumps(summary))


async def run(args: argparse.Namespace) -> None:
    client = Client(args.url, os.environ.get("READOUT_API_KEY"))
    try:
        if args.command == "convert":
            await convert(client, args)
        elif args.command == "submit":
            print(json.dumps(await client.submit(Path(args.article), args.engine, args.voice)))
        elif args.command == "status":
            print(json.dumps(await client.status(args.job_id), indent=2))
        elif args.command == "download":
            size, _ = await client.download(args.job_id, Path(args.output))
            print(json.dumps({"file": str(Path(args.output).resolve()), "bytes": size}))
        elif args.command == "stats":
            print(json.dumps(await client.stats(), indent=2))
    finally:
        await client.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="readout", description="Turn articles into MP3 with a Readout API.")
    p.add_argument("--url", default=os.environ.get("READOUT_URL", "http://127.0.0.1:8000"))
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("convert", "submit"):
        c = sub.add_parser(name)
        c.add_argument("article")
        c.add_argument("--engine")
        c.add_argument("--voice")
        if name == "convert":
            c.add_argument("-o", "--output", required=True)
            c.add_argument("-q", "--quiet", action="store_true")
    sub.add_parser("status").add_argument("job_id")
    d = sub.add_parser("download")
    d.add_argument("job_id")
    d.add_argument("-o", "--output", required=True)
    sub.add_parser("stats")
    serve.add_arguments(sub.add_parser("serve", help="run Redis, the API and the workers on this machine"))
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "serve":  # the supervisor of Redis, the API and the workers (api/serve.py)
        raise SystemExit(serve.run(args))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
