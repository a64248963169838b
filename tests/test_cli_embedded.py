"""The single-machine path: no REDIS_URL, so the embedded redis-server starts; the `readout` CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.redis_conn import stop_embedded_redis
from tests.conftest import CORPUS, ROOT, free_port
from tests.fake_speech import planned_chunks
from tests.stack import Stack
from tests.test_service_e2e import ffprobe_duration

pytestmark = pytest.mark.slow


def readout(stack: Stack, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "--url", stack.url, "--json", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_convert_with_embedded_redis_then_warm_rerun_then_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"READOUT_DATA_DIR": str(data), "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake",
           "READOUT_FAKE_LATENCY_MS": "50"}
    article = tmp_path / "essay.md"
    article.write_text("# Federalist 51\n\n" + (CORPUS / "federalist-51.txt").read_text(encoding="utf-8"))
    stack = Stack("", free_port(), tmp_path / "logs", env=env)
    try:
        stack.start(workers=1)
        assert (data / "redis.sock").exists() and (data / "appendonlydir").exists()
        cold = readout(stack, "convert", str(article), "-o", str(tmp_path / "cold.mp3"), "-q")
        assert cold["cache"]["misses"] == cold["chunks"] > 1 and cold["cache"]["hits"] == 0
        assert cold["time_to_first_audio_s"] is not None
        assert Path(cold["file"]).stat().st_size == cold["bytes"] > 0
        assert ffprobe_duration(Path(cold["file"])) > 10
        warm = readout(stack, "convert", str(article), "-o", str(tmp_path / "warm.mp3"), "-q")
        assert warm["cache"]["hits"] == warm["chunks"] == cold["chunks"]
        assert (tmp_path / "warm.mp3").read_bytes() == (tmp_path / "cold.mp3").read_bytes()
        status = readout(stack, "status", cold["job"])
        assert status["status"] == "done"
    finally:
        stack.stop()
        stop_embedded_redis(data)
    # Everything restarts from the data directory: the job record and its audio survived.
    stack = Stack("", free_port(), tmp_path / "logs2", env=env)
    try:
        stack.start(workers=0)
        assert readout(stack, "status", cold["job"])["status"] == "done"
        again = readout(stack, "download", cold["job"], "-o", str(tmp_path / "again.mp3"))
        assert again["bytes"] == (tmp_path / "again.mp3").stat().st_size
        # a finished job is its stored file (tagged, encoded once): the streamed audio, same length
        assert (tmp_path / "again.mp3").read_bytes()[:3] == b"ID3"
        assert ffprobe_duration(tmp_path / "again.mp3") == pytest.approx(ffprobe_duration(Path(cold["file"])), abs=0.15)
        stats = readout(stack, "stats")
        planned = planned_chunks(article.read_text(encoding="utf-8"), fmt="markdown")
        assert len(planned) == cold["chunks"]
        assert stats["providers"]["fake"]["calls"] == sum(map(len, planned))  # once per unit, cold only
        assert stats["cost"]["cached_characters"] > 0
    finally:
        stack.stop()
        stop_embedded_redis(data)
