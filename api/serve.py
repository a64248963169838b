"""`readout serve` (or `python -m api.serve`): the whole service on one machine, one command.

A supervisor, not a server: it starts the embedded Redis (unless `REDIS_URL` is set), the API
(`python -m api`) and N workers (`python -m worker`) as child processes, each in its own
process group with its log under the data directory (or on this terminal with `--log -`),
restarts a child that dies, and on Ctrl-C or SIGTERM stops them all within 10 s: SIGTERM to
every group, SIGKILL to whatever is left at the deadline, then the embedded Redis it started.

Worker count: each worker process runs one chunk at a time on the default engine, and a local
engine uses a fixed number of CPU threads per chunk (Piper: 2 onnxruntime threads), so the
default is cores // engine threads (at least 1): worker processes x engine threads = cores,
never more. `--workers N` or `READOUT_WORKERS` overrides it.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from shared.config import Settings, load_settings
from shared.engines import engine_threads
from shared.redis_conn import answers, embedded_url, ensure_embedded_redis, stop_embedded_redis

STOP_DEADLINE_S = 10.0  # the promise: everything gone this long after Ctrl-C or SIGTERM
TERM_GRACE_S = 6.0  # children get this long to exit on SIGTERM before SIGKILL
POLL_S = 0.2  # supervision loop interval
QUICK_DEATH_S = 5.0  # a child that dies younger than this is restarted with a growing delay
MAX_RESTART_DELAY_S = 10.0


def machine_cores() -> int:
    """Cores this process may run on (affinity and cgroup cpusets included)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(settings: Settings, cores: int | None = None) -> int:
    """READOUT_WORKERS, else the worker processes that fit the cores for the default engine."""
    if settings.workers > 0:
        return settings.workers
    return max(1, (cores or machine_cores()) // engine_threads(settings.default_engine, settings))


@dataclass
class Child:
    """One supervised process: its command, its log, and the running process (if any)."""

    name: str
    module: str
    log: Path | None  # None: inherit this terminal
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float = 0.0  # when a dead child may start again
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        out: IO[bytes] | None = None
        if self.log is not None:
            self._log_file = out = open(self.log, "ab")  # open while the child runs
        # Own session and process group: Ctrl-C reaches only the supervisor, which stops the
        # children in order, and a group signal also reaches a child's own children (Piper pools).
        self.proc = subprocess.Popen([sys.executable, "-m", self.module], env=env, stdout=out, stderr=out,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.started_at = time.monotonic()

    def signal_group(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


class Supervisor:
    def __init__(self, settings: Settings, workers: int, log_dir: Path | None) -> None:
        self.settings = settings
        self.workers = workers
        self.log_dir = log_dir
        self.children = [Child("api", "api", self._log("api"))]
        self.children += [Child(f"worker-{i}", "worker", self._log(f"worker-{i}")) for i in range(1, workers + 1)]
        self.redis_url = ""
        self.own_redis = False  # True when this supervisor started the embedded Redis
        self.stopping = False

    def _log(self, name: str) -> Path | None:
        return None if self.log_dir is None else self.log_dir / f"{name}.log"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::", "") else self.settings.host
        return f"http://{host}:{self.settings.port}/"

    def say(self, message: str) -> None:
        print(f"readout serve: {message}", file=sys.stderr, flush=True)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["REDIS_URL"] = self.redis_url
        return env

    def start_redis(self) -> None:
        if self.settings.redis_url:
            self.redis_url = self.settings.redis_url
            return
        url = embedded_url(self.settings.data_dir)
        self.own_redis = not answers(url)
        self.redis_url = ensure_embedded_redis(self.settings.data_dir)

    def redis_pid(self) -> int | None:
        """The embedded redis-server's PID (from its pidfile), when this supervisor started it."""
        if not self.own_redis:
            return None
        try:
            return int((self.settings.data_dir / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            try:
                self.start_redis()
            except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                self.say(f"cannot start the embedded Redis: {exc}")
                return 1
            env = self.env()
            for child in self.children:
                child.start(env)
            logs = "this terminal" if self.log_dir is None else str(self.log_dir)
            self.say(f"API and {self.workers} worker(s) starting; logs in {logs}")
            announced = False
            while not self.stopping:
                self._supervise(env)
                if not announced and self._ready():
                    self.say(f"ready: open {self.url} (API {self.url}v1, {self.workers} worker(s); Ctrl-C stops)")
                    announced = True
                time.sleep(POLL_S)
        finally:
            self.stop()
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def _supervise(self, env: dict[str, str]) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.proc is None or child.proc.poll() is None:
                if child.proc is None and now >= child.restart_at:
                    child.start(env)
                continue
            code = child.proc.returncode
            lived = now - child.started_at
            child.signal_group(signal.SIGKILL)  # anything it left behind in its group
            child.close_log()
            child.proc = None
            child.restarts += 1
            delay = 0.0 if lived >= QUICK_DEATH_S else min(MAX_RESTART_DELAY_S, 0.5 * 2 ** min(child.restarts, 5))
            child.restart_at = now + delay
            self.say(f"{child.name} exited with {code} after {lived:.1f} s; restarting in {delay:.1f} s")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "readyz", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """SIGTERM every child's group, SIGKILL what is left at the grace deadline, then Redis."""
        started = time.monotonic()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        running = [c for c in self.children if c.proc is not None]
        for child in running:
            child.signal_group(signal.SIGTERM)
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(timeout=max(0.0, started + TERM_GRACE_S - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop in {TERM_GRACE_S:.0f} s; killing it")
            child.signal_group(signal.SIGKILL)  # the leader if still there, and its group either way
            child.proc.wait()
            child.close_log()
        pid = self.redis_pid()
        if self.own_redis:
            stop_embedded_redis(self.settings.data_dir)
            if pid is not None:
                _wait_gone(pid, started + STOP_DEADLINE_S - 0.5)
        self.say(f"stopped in {time.monotonic() - started:.1f} s")
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)


def _wait_gone(pid: int, deadline: float) -> None:
    """Wait for a process that is not our child (the daemonized Redis) to exit; SIGKILL it at the deadline."""
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: READOUT_WORKERS, else cores // the default engine's threads)")
    parser.add_argument("--log", default=None,
                        help="directory for the processes' logs (default: READOUT_DATA_DIR/logs); '-' for this terminal")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    workers = args.workers if args.workers is not None else default_workers(settings)
    if workers < 1:
        raise SystemExit("readout serve: --workers must be at least 1")
    log_dir = None if args.log == "-" else Path(args.log) if args.log else settings.data_dir / "logs"
    return Supervisor(settings, workers, log_dir).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="readout serve", description="Run Redis, the API and N workers on this machine.")
    add_arguments(parser)
    sys.exit(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
