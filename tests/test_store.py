"""The storage interface, against both backends: a temp directory and a real S3 (SeaweedFS)."""
from __future__ import annotations

import asyncio
import os
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.config import load_settings
from shared.store import NotFound, Storage, open_storage
from shared.store.files import DirectoryStorage


@pytest.fixture
async def store(storage_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Storage]:
    storage = open_storage(load_settings({**storage_env, "READOUT_DATA_DIR": str(tmp_path)}))
    yield storage
    await storage.close()


async def test_put_get_range_size_delete(store: Storage) -> None:
    data = os.urandom(100_000)
    assert await store.get("chunks/a") is None
    assert not await store.exists("chunks/a")
    await store.put("chunks/a", data)
    assert await store.get("chunks/a") == data
    assert await store.size("chunks/a") == len(data)
    assert await store.exists("chunks/a")
    assert await store.get_range("chunks/a", 10, 19) == data[10:20]
    assert await store.get_range("chunks/a", 99_990, 200_000) == data[99_990:]
    await store.put("chunks/a", b"second")  # overwrite is whole
    assert await store.get("chunks/a") == b"second"
    await store.delete("chunks/a")
    await store.delete("chunks/a")  # absent is fine
    assert await store.get("chunks/a") is None
    with pytest.raises(NotFound):
        await store.get_range("chunks/a", 0, 1)


async def test_iter_and_delete_prefix(store: Storage, tmp_path: Path) -> None:
    for name in ("jobs/1/audio.mp3", "jobs/1/marks.json", "jobs/2/audio.mp3", "chunks/x"):
        await store.put(name, name.encode())
    listed = {info.key: info.size for info in [i async for i in store.iter("jobs/")]}
    assert listed == {"jobs/1/audio.mp3": 16, "jobs/1/marks.json": 17, "jobs/2/audio.mp3": 16}
    assert await store.delete_prefix("jobs/1/") == 2
    assert {i.key async for i in store.iter("")} == {"jobs/2/audio.mp3", "chunks/x"}
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    await store.put_file("jobs/2/audio.mp3", big)
    assert await store.get("jobs/2/audio.mp3") == big.read_bytes()


async def test_keys_cannot_escape(store: Storage) -> None:
    for bad in ("../x", "/etc/passwd", "a//b", "a/./b", ""):
        with pytest.raises(ValueError):
            await store.put(bad, b"x")


async def test_concurrent_writers_leave_one_whole_object(store: Storage) -> None:
    blobs = [bytes([i]) * 200_000 for i in range(8)]
    await asyncio.gather(*(store.put("jobs/race/audio.mp3", b) for b in blobs))
    assert await store.get("jobs/race/audio.mp3") in blobs


async def test_presign_only_where_the_backend_has_urls(store: Storage) -> None:
    await store.put("jobs/p/audio.mp3", b"ID3 bytes")
    url = await store.presign("jobs/p/audio.mp3", 60)
    if isinstance(store, DirectoryStorage):
        assert url is None and store.local_path("jobs/p/audio.mp3").read_bytes() == b"ID3 bytes"
    else:
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
        assert body == b"ID3 bytes"


def test_storage_url_parsing(tmp_path: Path) -> None:
    assert isinstance(open_storage(load_settings({"READOUT_DATA_DIR": str(tmp_path)})), DirectoryStorage)
    for bad in ("file://relative/path", "s3://", "ftp://x/y"):
        with pytest.raises(ValueError):
            open_storage(load_settings({"READOUT_STORAGE": bad}))
