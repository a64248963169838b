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

Each chunk is one object, `chunks/<key>`, in the configured storage (a directory or S3):
a `RenderedChunk` (MP3 frames, PCM, per-sentence timings) in its `to_bytes` form, so a warm
chunk is one object read. `mp3(key)` reads only the MP3 part (a range read of the head, and
one more only for a long chunk), for streaming. Redis holds no audio; it keeps the locks.
Retention is `shared.store.retention` (age and LRU size cap on a directory, a bucket
lifecycle rule on S3); a chunk that left the cache is synthesised again by whoever needs it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from collections.abc import Sequence

from shared.audio.render import RenderSettings
from shared.audio.rendered import _HEADER, RenderedChunk
from shared.engines.base import AudioParams
from shared.store.storage import NotFound, Storage
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


_HEAD_READ = 64 * 1024  # one range read covers the header and a short chunk's MP3


def object_key(key: str) -> str:
    """Where a chunk lives in the storage."""
    return f"chunks/{key}"


class ChunkCache:
    """RenderedChunk by cache key, one object each in `storage`."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def get(self, key: str) -> RenderedChunk | None:
        blob = await self.storage.get(object_key(key), touch=True)
        if blob is None:
            return None
        try:
            return RenderedChunk.from_bytes(blob)
        except (ValueError, KeyError, IndexError, TypeError, struct.error):  # damaged: a miss, made again
            return None

    async def mp3(self, key: str) -> bytes | None:
        """Only the chunk's MP3 frames (what streams), without reading its PCM."""
        name = object_key(key)
        try:
            head = await self.storage.get_range(name, 0, _HEAD_READ - 1)
        except NotFound:
            return None
        if len(head) < _HEADER.size:
            return None
        n_header, n_mp3, _ = _HEADER.unpack_from(head)
        start = _HEADER.size + n_header
        mp3 = head[start:start + n_mp3]
        if len(mp3) < n_mp3:
            try:
                mp3 += await self.storage.get_range(name, start + len(mp3), start + n_mp3 - 1)
            except NotFound:
                return None
        return mp3 if len(mp3) == n_mp3 else None

    async def put(self, key: str, chunk: RenderedChunk) -> None:
        await self.storage.put(object_key(key), chunk.to_bytes())

    async def exists(self, key: str) -> bool:
        return await self.storage.exists(object_key(key))

    async def delete(self, key: str) -> None:
        await self.storage.delete(object_key(key))
