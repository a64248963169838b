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

The audio lives at `keys.audio(key)` with a TTL (`READOUT_CACHE_TTL`). At scale this
belongs on its own Redis (`READOUT_CACHE_URL`) with `maxmemory-policy allkeys-lru`, while
the queue's Redis keeps `noeviction`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

from redis.asyncio import Redis

from shared import keys
from shared.engines.base import AudioParams

KEY_VERSION = 1


def cache_key(text: str, params: AudioParams) -> str:
    fields = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    canonical = json.dumps(
        {"v": KEY_VERSION, "text": text, "params": fields},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return f"v{KEY_VERSION}-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ChunkCache:
    """Chunk MP3 bytes by cache key, on the cache Redis."""

    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def get(self, key: str) -> bytes | None:
        return await self.redis.get(keys.audio(key))

    async def put(self, key: str, audio: bytes) -> None:
        await self.redis.set(keys.audio(key), audio, ex=self.ttl_s)

    async def exists(self, key: str) -> bool:
        return bool(await self.redis.exists(keys.audio(key)))
