"""One pub/sub subscription per API process, fanned out to every local waiter.

Streaming and SSE clients wait on job events. Instead of a Redis connection per client,
the process pattern-subscribes once to `readout:events:*` and wakes the local watchers of
the job named in each message. Failure cases: a message lost while Redis restarts is
covered by waking every watcher on reconnect and by the watchers' own bounded re-checks
of the job state, so a lost event costs latency, never a hung stream.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import keys
from shared.jobs import decode_event

log = logging.getLogger("readout.api")
_PREFIX_LEN = len(keys.events(""))


class Watcher:
    """Events for one job, queued for one client."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None after `timeout` (the caller re-reads the job state)."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class JobNotifier:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._watchers: dict[str, set[Watcher]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def watch(self, job_id: str) -> AsyncIterator[Watcher]:
        """Register before reading job state, so no event between the read and the wait is lost."""
        watcher = Watcher()
        self._watchers[job_id].add(watcher)
        try:
            yield watcher
        finally:
            self._watchers[job_id].discard(watcher)
            if not self._watchers[job_id]:
                del self._watchers[job_id]

    def _dispatch(self, job_id: str, event: dict[str, Any]) -> None:
        for watcher in self._watchers.get(job_id, ()):
            watcher.queue.put_nowait(event)

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(keys.EVENTS_PATTERN)
                self.connected.set()
                for job_id in list(self._watchers):  # events may have been missed while down
                    self._dispatch(job_id, {"type": "resync"})
                async for message in pubsub.listen():
                    if message["type"] != "pmessage":
                        continue
                    job_id = message["channel"].decode()[_PREFIX_LEN:]
                    if job_id in self._watchers:
                        self._dispatch(job_id, decode_event(message["data"]))
            except (RedisError, OSError) as exc:
                self.connected.clear()
                log.warning("event subscription lost; reconnecting", extra={"error": str(exc)})
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
