"""Content-addressed chunk cache: each chunk's `RenderedChunk`.

Key recipe (`cache_key`)::

    text      = chunk_text(sentences): JSON list of [spoken form, boundary] per sentence,
                ensure_ascii=False, separators (",", ":")
    canonical = JSON of {"v": 2, "text": <text>,
                         "params": {<every AudioParams field by name>},
                         "render": {<every RenderSettings field by name, the pause table nested>}}
                with sorted keys, ensure_ascii=False, separators (",", ":"), as UTF-8
    key       = "v2-" + sha256(canonical).hexdigest()

The params are every field of `AudioParams` (engine, engine_version, voice, variant,
region, format, sample_rate, bitrate_kbps, extra, speed) and the render settings every
field of `RenderSettings` (pause table, loudness target, true-peak ceiling, the silence kept
at each sentence's ends, the normaliser version), both taken from the dataclasses
themselves (`dataclasses.asdict`) so a field added later is hashed without touching this
module. The text is what the engine is sent, sentence by sentence, with the boundary that
decides the pause after each; it is hashed as is (no Unicode normalisation, no whitespace
folding), so two chunks that differ in any code point or boundary are two cache entries.
Bump `KEY_VERSION` when the recipe or the audio produced for the same inputs changes.

The MP3 lives at `keys.audio(key)` (what the API streams) and the whole `RenderedChunk`
(`to_bytes`: timings, PCM and MP3) at `keys.chunk(key)`, both with a TTL
(`READOUT_CACHE_TTL`), written in one transaction; a chunk counts as cached only when both
are there. At scale this belongs on its own Redis (`READOUT_CACHE_URL`) with
`maxmemory-policy allkeys-lru`, while the queue's Redis keeps `noeviction`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

from redis.asyncio import Redis

from shared import keys
from shared.audio.render import RenderSettings
from shared.audio.rendered import RenderedChunk
from shared.engines.base import AudioParams
from shared.text.document import Sentence

KEY_VERSION = 2


def chunk_text(sentences: Sequence[Sentence]) -> str:
    """The cache text of a chunk: its sentences' spoken forms with their boundaries."""
    return json.dumps([[s.spoken, s.boundary] for s in sentences], ensure_ascii=False, separators=(",", ":"))


def cache_key(text: str, params: AudioParams, render: RenderSettings | None = None) -> str:
    canonical = json.dumps(
        {"v": KEY_VERSION, "text": text, "params": dataclasses.asdict(params),
         "render": dataclasses.asdict(render or RenderSettings())},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return f"v{KEY_VERSION}-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ChunkCache:
    """Rendered chunks by cache key, on the cache Redis."""

    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def get(self, key: str) -> RenderedChunk | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.chunk(key))
            pipe.exists(keys.audio(key))
            blob, has_mp3 = await pipe.execute()
        return RenderedChunk.from_bytes(blob) if blob is not None and has_mp3 else None

    async def mp3(self, key: str) -> bytes | None:
        return await self.redis.get(keys.audio(key))

    async def put(self, key: str, chunk: RenderedChunk) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.audio(key), chunk.mp3, ex=self.ttl_s)
            pipe.set(keys.chunk(key), chunk.to_bytes(), ex=self.ttl_s)
            await pipe.execute()

    async def exists(self, key: str) -> bool:
        return await self.redis.exists(keys.audio(key), keys.chunk(key)) == 2
