"""The shared retry loop: bounded tries, full-jitter backoff, non-retryable errors at once."""
from __future__ import annotations

import random

import pytest

from shared.config import Settings
from shared.engines import retry as retry_module
from shared.engines.base import EngineError, Speech
from shared.engines.retry import backoff_s, with_retries


def test_full_jitter_stays_within_the_exponential_ceiling() -> None:
    rng = random.Random(7)
    for attempt in range(1, 8):
        delays = [backoff_s(attempt, 0.2, rng) for _ in range(200)]
        ceiling = min(retry_module.MAX_BACKOFF_S, 0.2 * 2 ** (attempt - 1))
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2  # spread over the range


async def test_retries_until_success_with_growing_ceilings(monkeypatch: pytest.MonkeyPatch) -> None:
    ceilings: list[float] = []

    def fake_backoff(attempt: int, base_s: float) -> float:
        ceilings.append(base_s * 2 ** (attempt - 1))
        return 0.0

    monkeypatch.setattr(retry_module, "backoff_s", fake_backoff)
    outcomes = [EngineError("p", "slow down", retryable=True, code="throttled")] * 3

    async def call() -> Speech:
        if outcomes:
            raise outcomes.pop()
        return Speech(pcm=b"ok", sample_rate=8000, billed_chars=2)

    result = await with_retries(call, Settings(provider_max_tries=5, provider_backoff_base_s=0.5))
    assert result == Speech(pcm=b"ok", sample_rate=8000, billed_chars=2, attempts=4)
    assert ceilings == [0.5, 1.0, 2.0]


async def test_non_retryable_is_raised_at_once() -> None:
    calls = 0

    async def call() -> Speech:
        nonlocal calls
        calls += 1
        raise EngineError("p", "bad key", code="auth_failed")

    with pytest.raises(EngineError, match="bad key") as info:
        await with_retries(call, Settings(provider_max_tries=5, provider_backoff_base_s=0.0))
    assert calls == 1 and info.value.attempts == 1


async def test_gives_up_after_max_tries_keeping_the_code() -> None:
    calls = 0

    async def call() -> Speech:
        nonlocal calls
        calls += 1
        raise EngineError("p", "HTTP 503", retryable=True, code="provider_unavailable")

    with pytest.raises(EngineError) as info:
        await with_retries(call, Settings(provider_max_tries=4, provider_backoff_base_s=0.0))
    assert calls == 4 == info.value.attempts
    assert info.value.code == "provider_unavailable" and info.value.retryable
    assert str(info.value) == "p: HTTP 503 (gave up after 4 tries)"
