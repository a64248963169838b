"""The benchmark's baseline (the original design) works: its splitter and its warm path."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.config import Settings
from shared.engines.fake import FakeEngine
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import baseline

SHORT = ("The first sentence is here. Is this the second one? Yes! " * 6).strip()


def test_splitter_keeps_sentences_whole_and_under_the_maximum() -> None:
    chunks = baseline.split_sentences(SHORT, target=60, max_chars=90)
    assert len(chunks) > 3
    assert all(len(c) <= 90 for c in chunks)
    assert all(len(c) >= 60 for c in chunks[:-1])  # every chunk but the last reaches the target
    assert all(re.search(r"[.!?]$", c) for c in chunks)
    assert " ".join(chunks).split() == SHORT.split()


def test_splitter_cuts_a_sentence_longer_than_the_maximum() -> None:
    long = "word " * 50 + "end."
    chunks = baseline.split_sentences(long, target=40, max_chars=50)
    assert all(len(c) <= 50 for c in chunks)
    assert " ".join(chunks).split() == long.split()


async def test_warm_path_gives_one_valid_mp3(redis_url: str, tmp_path: Path) -> None:
    redis = Redis.from_url(redis_url)
    engine = FakeEngine(Settings(fake_engine=True, fake_latency_ms=0))
    speaker = baseline.Baseline(redis, engine)
    text = " ".join(f"Sentence number {i} of the smoke test." for i in range(200))
    chunks = baseline.split_sentences(text)
    try:
        await speaker.speak(text)  # cold: synthesizes and caches every chunk
        calls = int(await redis.get(baseline.PROVIDER_CALLS))
        warm = await speaker.speak(text)  # warm: N x GET + ffmpeg -f concat
        assert int(await redis.get(baseline.PROVIDER_CALLS)) == calls == len(chunks) >= 3
    finally:
        await redis.aclose()
    path = tmp_path / "warm.mp3"
    path.write_bytes(warm)
    decode = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
    assert decode.returncode == 0 and decode.stderr == ""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )
    # the fake speaks 10 ms a character; each chunk's MP3 adds the encoder's delay and frame padding
    assert float(probe.stdout) == pytest.approx(sum(len(c) for c in chunks) / 100, abs=0.08 * len(chunks))
