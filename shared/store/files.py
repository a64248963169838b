"""Storage in a directory: the embedded default (`file:///abs/path`, else `READOUT_DATA_DIR/store`).

Writes go to a temporary file in the target's directory and are renamed over it, so a
reader sees the old object or the new one, never a mix. Reads with `touch` set the file's
mtime, so the size cap evicts the least recently used chunks first. File I/O runs in a
thread, off the event loop.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

from shared.store.storage import NotFound, ObjectInfo, Storage, check_key


class DirectoryStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def _write(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        path = self._path(key)
        for attempt in (1, 2):  # a concurrent delete may remove the folder between mkdir and mkstemp
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(self._write, key, lambda out: out.write(data))

    async def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        def copy(out: BinaryIO) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        await asyncio.to_thread(self._write, key, copy)

    def _copy(self, src: str, dst: str) -> bool:
        """A hard link renamed into place: atomic, and no bytes copied."""
        source, target = self._path(src), self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".tmp-{os.urandom(8).hex()}"
        try:
            os.link(source, tmp)
        except FileNotFoundError:
            return False
        os.replace(tmp, target)
        return True

    async def copy(self, src: str, dst: str) -> bool:
        return await asyncio.to_thread(self._copy, src, dst)

    def _get(self, key: str, touch: bool) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        if touch:
            with contextlib.suppress(FileNotFoundError):
                now = time.time()
                os.utime(path, (now, now))
        return data

    async def get(self, key: str, *, touch: bool = False) -> bytes | None:
        return await asyncio.to_thread(self._get, key, touch)

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        try:
            with open(self._path(key), "rb") as f:
                f.seek(start)
                return f.read(end - start + 1)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound(key) from exc

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        return await asyncio.to_thread(self._get_range, key, start, end)

    def _stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return None if stat.S_ISDIR(st.st_mode) else ObjectInfo(key, st.st_size, st.st_mtime)

    async def stat(self, key: str) -> ObjectInfo | None:
        return await asyncio.to_thread(self._stat, key)

    def _delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if path.parent.parent != self.root and path.parent != self.root:  # jobs/<id>/ left empty goes too
            with contextlib.suppress(OSError):
                path.parent.rmdir()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    def _list(self, prefix: str) -> list[ObjectInfo]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = self.root / base if base else self.root
        found: list[ObjectInfo] = []
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    st = full.stat()
                    found.append(ObjectInfo(key, st.st_size, st.st_mtime))
        return found

    async def iter(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        for info in await asyncio.to_thread(self._list, prefix):
            yield info

