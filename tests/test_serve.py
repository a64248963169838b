"""`readout serve`: Redis, the API and N workers under one supervisor that restarts a dead
child and leaves no process behind on SIGINT (checked PID by PID, the embedded Redis too)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from api.serve import default_workers
from shared.config import load_settings
from tests.conftest import ROOT, free_port
from tests.stack import get_json

POLL_S = 0.05


def wait_for(check, what: str, timeout: float = 60.0) -> None:
    """Bounded poll of observable state."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s")
        time.sleep(POLL_S)


def worker_pids(serve: psutil.Process) -> set[int]:
    found = set()
    for child in serve.children(recursive=True):
        try:
            if child.cmdline()[1:3] == ["-m", "worker"]:
                found.add(child.pid)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, IndexError):
            pass
    return found


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    port = free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("READOUT_") and k != "REDIS_URL"}
    env.update({"READOUT_DATA_DIR": str(data), "READOUT_PORT": str(port), "READOUT_FAKE_ENGINE": "1",
                "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "20", "PYTHONPATH": str(ROOT)})
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--workers", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield proc, f"http://127.0.0.1:{port}", data
    finally:
        if proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
        proc.wait()


def ready_workers(url: str) -> int:
    try:
        status, body = get_json(url + "/readyz", timeout=2)
    except OSError:
        return 0
    return body.get("workers", 0) if status == 200 else 0


def convert(url: str) -> dict:
    body = json.dumps({"text": "One sentence. And a second one."}).encode()
    req = urllib.request.Request(url + "/v1/jobs", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        job = json.loads(resp.read())
    wait_for(lambda: get_json(url + job["status_url"])[1]["status"] == "done", "job done", 30)
    return job


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_restarts_a_dead_worker_and_stops_cleanly(serve, stop_signal: signal.Signals) -> None:
    proc, url, data = serve
    wait_for(lambda: ready_workers(url) == 2, "/readyz with 2 workers")
    supervisor = psutil.Process(proc.pid)
    first = worker_pids(supervisor)
    assert len(first) == 2
    redis_pid = int((data / "redis.pid").read_text())
    assert psutil.pid_exists(redis_pid)
    seen = {c.pid for c in supervisor.children(recursive=True)} | {redis_pid}

    victim = min(first)
    psutil.Process(victim).kill()
    wait_for(lambda: len(worker_pids(supervisor) - first) == 1 and len(worker_pids(supervisor)) == 2,
             "a new worker in place of the killed one")
    assert victim not in worker_pids(supervisor)
    seen |= {c.pid for c in supervisor.children(recursive=True)}
    convert(url)  # the service still works end to end
    assert (data / "logs" / "api.log").stat().st_size > 0 and (data / "logs" / "worker-2.log").stat().st_size > 0

    proc.send_signal(stop_signal)
    assert proc.wait(timeout=30) == 0
    out = proc.stdout.read().decode()
    assert f"open {url}/" in out and "worker-1 exited" in out
    left = [pid for pid in seen if not gone(pid)]
    assert left == [], f"processes left behind: {left}"


@pytest.mark.parametrize(("env", "cores", "expected"), [
    ({}, 2, 1),  # Piper: 2 onnxruntime threads per worker on 2 cores
    ({}, 8, 4),
    ({}, 1, 1),
    ({"READOUT_PIPER_PROCESSES": "2"}, 8, 2),
    ({"READOUT_DEFAULT_ENGINE": "fake"}, 2, 2),  # network-shaped engines: one worker per core
    ({"READOUT_WORKERS": "5"}, 2, 5),
])
def test_default_worker_count_fits_the_cores(env: dict[str, str], cores: int, expected: int) -> None:
    assert default_workers(load_settings(env), cores) == expected
