"""The small interface every place that keeps bytes implements: a directory or S3.

Keys are `/`-separated relative names (`chunks/<cache key>`, `jobs/<id>/audio.mp3`). Every
write is whole or absent: a reader never sees half an object. `mtime` is the last write
or (where the backend can record it cheaply) the last read, which the cache's LRU size cap
uses; on S3 it is the last write.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    mtime: float  # unix seconds


class NotFound(LookupError):
    """The object does not exist."""


def check_key(key: str) -> str:
    """Refuse keys that could leave the store's root (`..`, absolute, empty parts)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise ValueError(f"invalid storage key {key!r}")
    return key


class Storage(ABC):
    @abstractmethod
    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    @abstractmethod
    async def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        """Store a local file's bytes (moved or uploaded; the file is left for the caller to delete)."""

    @abstractmethod
    async def get(self, key: str, *, touch: bool = False) -> bytes | None:
        """The whole object, or None. `touch` records the read for LRU eviction where cheap."""

    @abstractmethod
    async def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes start..end inclusive (shorter at the end of the object); NotFound if absent."""

    @abstractmethod
    async def stat(self, key: str) -> ObjectInfo | None: ...

    async def size(self, key: str) -> int | None:
        info = await self.stat(key)
        return None if info is None else info.size

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; absent is fine."""

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under `prefix` (a folder such as `jobs/<id>/`); returns how many."""
        found = [info.key async for info in self.iter(prefix)]
        for key in found:
            await self.delete(key)
        return len(found)

    @abstractmethod
    def iter(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in no particular order."""

    async def copy(self, src: str, dst: str) -> bool:
        """Copy one object to another key; False if `src` does not exist."""
        data = await self.get(src)
        if data is None:
            return False
        await self.put(dst, data)
        return True

    def local_path(self, key: str) -> Path | None:
        """The file holding the object when the backend is a directory (for sendfile), else None."""
        return None

    async def presign(self, key: str, expires_s: int) -> str | None:
        """A URL that fetches the object without credentials, where the backend has one."""
        return None

    async def close(self) -> None:
        """Release clients."""
