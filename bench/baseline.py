"""The design Readout started from, small and faithful, for benchmarks only.

    split      regex sentences `(?<=[.!?])\\s+`, packed to ~2,500 characters (at most 4,000)
    per chunk  GET the cache; on a miss `SET lock NX PX`; the winner synthesizes, SETs the
               audio and DELs the lock; losers poll GET with backoff (50 ms x1.25, cap 500 ms)
    request    POST /speak synthesizes every chunk, in order, inside the request handler,
               then assembles: N x GET + an `ffmpeg -f concat -c copy` subprocess, and answers
               with the whole MP3

It speaks through the service's own engine classes (shared/engines), so both designs pay
the same provider cost. Run a server with `python bench/baseline.py --port P --redis-url URL`
(engine settings come from the READOUT_* environment, as for the service).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from aiohttp import web
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.audio.encode import pcm_to_mp3
from shared.config import load_settings
from shared.engines import get_engine
from shared.engines.base import Engine

TARGET_CHARS = 2500
MAX_CHARS = 4000
LOCK_TTL_MS = 30_000
BACKOFF_FIRST_S, BACKOFF_FACTOR, BACKOFF_CAP_S = 0.05, 1.25, 0.5
PROVIDER_CALLS = "baseline:provider_calls"
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _cut_long(sentence: str, max_chars: int) -> list[str]:
    """A sentence longer than `max_chars`, cut at the last space before the limit."""
    pieces = []
    while len(sentence) > max_chars:
        cut = sentence.rfind(" ", 0, max_chars)
        cut = cut if cut > 0 else max_chars
        pieces.append(sentence[:cut])
        sentence = sentence[cut:].lstrip()
    return [*pieces, sentence] if sentence else pieces


def split_sentences(text: str, target: int = TARGET_CHARS, max_chars: int = MAX_CHARS) -> list[str]:
    """Sentences joined by one space until a chunk reaches `target`; no chunk over `max_chars`."""
    chunks: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text.strip()):
        for piece in _cut_long(sentence, max_chars):
            if current and len(current) + 1 + len(piece) > max_chars:
                chunks.append(current)
                current = ""
            current = f"{current} {piece}" if current else piece
            if len(current) >= target:
                chunks.append(current)
                current = ""
    if current:
        chunks.append(current)
    return chunks


async def ffmpeg_concat(pieces: list[bytes]) -> bytes:
    """The original assembly: pieces to files, a concat list, `ffmpeg -f concat -c copy`."""
    with tempfile.TemporaryDirectory(prefix="baseline-") as tmp:
        lines = []
        for i, piece in enumerate(pieces):
            path = Path(tmp) / f"{i}.mp3"
            path.write_bytes(piece)
            lines.append(f"file '{path}'")
        listing = Path(tmp) / "list.txt"
        listing.write_text("\n".join(lines) + "\n")
        out = Path(tmp) / "out.mp3"
        proc = await asyncio.create_subprocess_exec(
            FFMPEG, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg -f concat failed: {err.decode(errors='replace')[:500]}")
        return out.read_bytes()


class Baseline:
    """Cache, lock and request-path synthesis of the original design."""

    def __init__(self, redis: Redis, engine: Engine) -> None:
        self.redis = redis
        self.engine = engine
        self.params = engine.params()

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.engine.name}\0{self.params.voice}\0{text}".encode()).hexdigest()

    async def chunk_audio(self, text: str) -> bytes:
        key = self._key(text)
        audio_key, lock_key = f"baseline:audio:{key}", f"baseline:lock:{key}"
        while True:
            audio = await self.redis.get(audio_key)
            if audio is not None:
                return audio
            if await self.redis.set(lock_key, secrets.token_hex(8), nx=True, px=LOCK_TTL_MS):
                try:
                    speech = await self.engine.speak(text, self.params)
                    audio = await asyncio.to_thread(pcm_to_mp3, speech.pcm, speech.sample_rate)
                    await self.redis.incr(PROVIDER_CALLS)
                    await self.redis.set(audio_key, audio)
                    return audio
                finally:
                    await self.redis.delete(lock_key)
            delay = BACKOFF_FIRST_S
            while await self.redis.exists(lock_key):
                await asyncio.sleep(delay)
                audio = await self.redis.get(audio_key)
                if audio is not None:
                    return audio
                delay = min(delay * BACKOFF_FACTOR, BACKOFF_CAP_S)

    async def speak(self, text: str) -> bytes:
        """The whole article: every chunk in order (cache or synthesis), then ffmpeg concat."""
        return await ffmpeg_concat([await self.chunk_audio(chunk) for chunk in split_sentences(text)])


BASELINE = web.AppKey("baseline", Baseline)


async def speak_handler(request: web.Request) -> web.Response:
    text = await request.text()
    if not text.strip():
        return web.json_response({"error": "empty text"}, status=400)
    audio = await request.app[BASELINE].speak(text)
    return web.Response(body=audio, content_type="audio/mpeg")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(redis_url: str, engine_name: str) -> web.Application:
    settings = load_settings()
    engine = get_engine(engine_name, settings)
    app = web.Application(client_max_size=8 * 1024 * 1024)

    async def startup(app: web.Application) -> None:
        await engine.warm()
        app[BASELINE] = Baseline(Redis.from_url(redis_url), engine)

    async def cleanup(app: web.Application) -> None:
        await app[BASELINE].redis.aclose()
        await engine.close()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    app.router.add_post("/speak", speak_handler)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="The original design's server, for benchmarks.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--engine", default="fake")
    args = parser.parse_args()
    web.run_app(create_app(args.redis_url, args.engine), host="127.0.0.1", port=args.port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()
