"""Content-addressed chunk audio cache.

Key recipe (`cache_key`)::

    canonical = JSON of {"v": 1, "text": <chunk text exactly as sent to the engine>,
                         "params": {<every AudioParams field by name>}}
                with sorted keys, ensure_ascii=False, separators (",", ":"), as UTF-8
    key       = "v1-" + sha256(canonical).hexdigest()

The params are every field of `AudioParams` (engine, engine_version, voice, variant,
region, format, sample_rate, bitrate_kbps, extra), taken from the dataclass itself so a
field added later is hashed without touching this module. The text is hashed as is (no
Unicode normalisation, no whitespace folding): text preparation happens before chunking,
and two texts that differ in any code point are two cache entries. Bump `KEY_VERSION`
when the recipe or the audio produced for the same inputs changes.

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

from shared.audio.rendered import _HEADER, RenderedChunk
from shared.engines.base import AudioParams
from shared.store.storage import NotFound, Storage

KEY_VERSION = 1


def cache_key(text: str, params: AudioParams) -> str:
    fields = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    canonical = json.dumps(
        {"v": KEY_VERSION, "text": text, "params": fields},
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
