"""Wake chunk waiters the moment their audio lands: one pub/sub subscription per process.

A holder that writes a chunk publishes its cache key on `keys.AUDIO_READY_CHANNEL` (and
also after a failed synthesis, so waiters take over at once). `AudioWaker` keeps a single
subscription to that channel and resolves the in-process futures watching that key.
A message is only a hint to look again: waiters still poll the cache with backoff, so a
lost message, a reconnect gap or a dead listener costs latency, never correctness.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from shared import keys

log = logging.getLogger(__name__)

_RECONNECT_FIRST_S = 0.05
_RECONNECT_CAP_S = 2.0


class AudioWaker:
    """The process's listener on the audio-ready channel. Create one per process (per event loop)."""

    def __init__(self, redis: Redis, channel: str = keys.AUDIO_READY_CHANNEL) -> None:
        self.redis = redis
        self.channel = channel
        self.subscriptions = 0  # successful (re)subscriptions, for tests and diagnostics
        self._watchers: dict[str, set[asyncio.Future[None]]] = {}
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 5.0) -> None:
        """Start listening; returns once subscribed (or after `timeout_s`: polling covers the gap)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="audio-waker")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
            self._task = None

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    @contextlib.contextmanager
    def watch(self, cache_key: str) -> Iterator[asyncio.Future[None]]:
        """A future resolved by the next message for `cache_key` while the block runs.

        Enter it before checking the cache, so a message that arrives between the check
        and the wait is not missed.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers.setdefault(cache_key, set()).add(future)
        try:
            yield future
        finally:
            watchers = self._watchers.get(cache_key)
            if watchers is not None:
                watchers.discard(future)
                if not watchers:
                    del self._watchers[cache_key]

    def _notify(self, cache_key: str) -> None:
        for future in self._watchers.pop(cache_key, ()):
            if not future.done():
                future.set_result(None)

    async def _listen(self) -> None:
        delay = _RECONNECT_FIRST_S
        while True:
            pubsub = self.redis.pubsub()
            try:
                await self._pump(pubsub)
            except (RedisError, OSError) as exc:
                log.warning("audio-ready listener lost its connection (%s); resubscribing", exc)
            finally:
                was_up = self._subscribed.is_set()
                self._subscribed.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            delay = _RECONNECT_FIRST_S if was_up else min(delay * 2, _RECONNECT_CAP_S)
            await asyncio.sleep(delay)

    async def _pump(self, pubsub: PubSub) -> None:
        await pubsub.subscribe(self.channel)
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            kind, data = message["type"], message["data"]
            if kind == "subscribe":
                self.subscriptions += 1
                self._subscribed.set()
            elif kind == "message":
                self._notify(data.decode() if isinstance(data, bytes) else data)
