"""A real Readout stack for end-to-end tests: the API and N workers as subprocesses.

Each process gets the test's environment (REDIS_URL of a real redis-server, engine
settings); its output goes to a log file under the test's tmp dir, shown on failure.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

POLL_S = 0.05  # interval of the bounded readiness poll

ROOT = Path(__file__).resolve().parent.parent


def get_json(url: str, timeout: float = 5, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


async def until(check: Callable[[], bool], timeout: float, first_delay: float = 0.01) -> bool:
    """Bounded poll of observable state (True once `check()` holds, False at the timeout)."""
    deadline = time.monotonic() + timeout
    delay = first_delay
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.2)
    return True


@dataclass
class Stack:
    redis_url: str
    port: int
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    api: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        """A header with the first configured API key (every endpoint but /healthz needs one then)."""
        first = self.env.get("READOUT_API_KEYS", "").split(",")[0]
        return {"Authorization": f"Bearer {first.partition(':')[2].strip()}"} if ":" in first else {}

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("READOUT_")}
        env.pop("REDIS_URL", None)
        if self.redis_url:  # "" = the embedded redis-server under READOUT_DATA_DIR
            env["REDIS_URL"] = self.redis_url
        env.update({
            "READOUT_PORT": str(self.port), "READOUT_HOST": "127.0.0.1",
            "PYTHONPATH": str(ROOT), "READOUT_LOG_LEVEL": "INFO",
            "READOUT_DATA_DIR": str(self.logs / "data"),  # chunk cache, finished files, link secret
        })
        env.update(self.env)
        return env

    def _spawn(self, module: str, name: str) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")
        return subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=self._env(), stdout=log, stderr=log)

    def start_api(self) -> None:
        self.api = self._spawn("api", "api")
        self.wait_until(lambda: self._status("/healthz") == 200, "API /healthz")

    def start_worker(self) -> subprocess.Popen:
        proc = self._spawn("worker", f"worker-{len(self.workers)}")
        self.workers.append(proc)
        return proc

    def start(self, workers: int = 2) -> Stack:
        """API and `workers` workers, ready; on any failure nothing is left running."""
        try:
            self.start_api()
            for _ in range(workers):
                self.start_worker()
            if workers:
                self.wait_until(lambda: get_json(self.url + "/readyz", headers=self.auth)[1].get("workers", 0) >= workers, "workers ready")
        except BaseException:
            self.stop()
            raise
        return self

    def _status(self, path: str) -> int | None:
        try:
            return get_json(self.url + path, timeout=2)[0]
        except (urllib.error.URLError, ConnectionError, OSError):
            return None

    def wait_until(self, check, what: str, timeout: float = 60.0) -> None:
        """Bounded readiness poll (process start-up), not synchronisation between test actors."""
        deadline = time.monotonic() + timeout
        while not check():
            for proc in [self.api, *self.workers]:
                if proc is not None and proc.poll() is not None and proc is self.api:
                    raise RuntimeError(f"API exited with {proc.returncode}:\n{self.read_logs()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not reached in {timeout}s:\n{self.read_logs()}")
            time.sleep(POLL_S)

    def read_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(self.logs.glob("*.log")))

    def stop(self) -> None:
        for proc in [*self.workers, self.api]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.api]:
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
