"""Bounded retries with exponential backoff and full jitter for provider calls.

Engines translate provider failures into `EngineError`; this loop retries the retryable
ones (throttling, 5xx, dropped connections) and re-raises everything else at once.
Full jitter (sleep uniformly in [0, base * 2**attempt]) keeps many workers that were
throttled together from retrying in lockstep.
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.config import Settings
from shared.engines.base import EngineError, Speech

T = TypeVar("T", bound=Speech)

MAX_BACKOFF_S = 20.0


def backoff_s(attempt: int, base_s: float, rng: random.Random | None = None) -> float:
    """Full-jitter delay before retry number `attempt` (1 = the first retry)."""
    ceiling = min(MAX_BACKOFF_S, base_s * 2 ** (attempt - 1))
    return (rng or random).uniform(0.0, ceiling)


async def with_retries(call: Callable[[], Awaitable[T]], settings: Settings) -> T:
    """Run `call` up to `settings.provider_max_tries` times while it fails retryably.

    The result (or the error raised) carries `attempts`: how many requests the provider saw,
    so the stats count every attempt, not just the calls that succeeded.
    """
    tries = max(1, settings.provider_max_tries)
    attempt = 1
    while True:
        try:
            return dataclasses.replace(await call(), attempts=attempt)
        except EngineError as exc:
            exc.attempts = attempt
            if not exc.retryable:
                raise
            if attempt >= tries:
                detail = str(exc).removeprefix(f"{exc.engine}: ")
                final = EngineError(exc.engine, f"{detail} (gave up after {tries} tries)", retryable=True,
                                    code=exc.code)
                final.attempts = attempt
                raise final from exc
        await asyncio.sleep(backoff_s(attempt, settings.provider_backoff_base_s))
        attempt += 1
