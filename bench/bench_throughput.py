"""Piper through the service against Piper alone, in one run: `.venv/bin/python bench/bench_throughput.py`.

Raw: the bundled essay's chunks (cleaned and split exactly as a worker does) through the same
`PiperEngine` code in this process, one after another (1 synthesis process, a thread), and
over N spawned synthesis processes (N = cores, all chunks at once); the best of the two is
the engine's limit on this machine. Service: `readout serve` with its default worker count on
a fresh redis-server (a cold cache), the same essay submitted over HTTP and streamed to its
last byte. Prints the ratio service / best raw (target: within 5%), and the time to first
audio against the raw time of the first chunk alone (target: at most 150 ms more).

Minutes of CPU per run; on a shared machine the figures are noisy, which is why the raw runs
and the service run go back to back in one process run (`--repeat` alternates them).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (ROOT, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import _measure as m
import aiohttp
import psutil

from api.serve import default_workers, machine_cores
from shared.audio import mp3
from shared.chunking import clean_text
from shared.config import Settings, load_settings
from shared.engines.piper import PiperEngine
from tests.conftest import RedisServer, free_port
from tests.stack import get_json
from worker.tasks import split_for_engine

ESSAY = ROOT / "samples" / "federalist-10.txt"


async def raw(settings: Settings, chunks: list[str], processes: int) -> dict[str, float]:
    """Seconds for all chunks through PiperEngine with `processes` synthesis processes (1 = a thread)."""
    engine = PiperEngine(dataclasses.replace(settings, piper_processes=processes))
    params = engine.params()
    try:
        await engine.warm()  # model loaded in every process, as a worker does at start-up
        pool = [psutil.Process()] + [psutil.Process(p) for p in getattr(engine._pool, "_processes", {})]
        cpu_before = _cpu(pool)
        started = time.perf_counter()
        if processes <= 1:  # one after another; the first one's time is the floor of first audio
            results = [await engine.synthesize(chunks[0], params)]
            first_s = time.perf_counter() - started
            results += [await engine.synthesize(c, params) for c in chunks[1:]]
        else:  # everything at once over the process pool
            results = list(await asyncio.gather(*(engine.synthesize(c, params) for c in chunks)))
            first_s = float("nan")
        total = time.perf_counter() - started
        cpu = _cpu(pool) - cpu_before
    finally:
        await engine.close()
    audio_s = sum(mp3.duration_seconds(s.audio) for s in results)
    return {"total_s": total, "first_chunk_s": first_s, "audio_s": audio_s, "cpu_s": cpu}


def _cpu(procs: list[psutil.Process]) -> float:
    """CPU seconds (user + system) the processes have used so far: a figure other load on
    the machine changes far less than wall time."""
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _ready(url: str, workers: int) -> bool:
    with contextlib.suppress(OSError):
        status, body = get_json(url + "/readyz", timeout=2)
        return status == 200 and body.get("workers", 0) >= workers
    return False


async def service(text: str, tmp: Path, workers: int) -> dict[str, float]:
    """`readout serve` (default workers) on a fresh redis-server; one cold conversion over HTTP."""
    server = RedisServer(port=free_port(), dir=tmp, appendonly=False)
    server.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("READOUT_")}
    env.update(REDIS_URL=server.url, READOUT_PORT=str(port), READOUT_DATA_DIR=str(tmp / "data"), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "api.serve", "--log", str(tmp / "logs")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _ready(url, workers):  # bounded readiness poll: the model loads before the first heartbeat
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"readout serve did not become ready; see {tmp / 'logs'}")
            await asyncio.sleep(0.1)
        tree = [psutil.Process(server.proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        cpu_before = _cpu(tree)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800)) as http:
            fetch = await m.ours(http, url, text)
        cpu = _cpu(tree) - cpu_before
        status = get_json(f"{url}/v1/jobs/{fetch.job_id}")[1]
    finally:
        proc.send_signal(2)
        proc.wait(timeout=30)
        server.kill()
    return {"total_s": fetch.total_s, "first_s": fetch.first_s, "chunks": status["chunks"]["total"],
            "audio_s": mp3.duration_seconds(fetch.body), "misses": status["cache"]["misses"], "cpu_s": cpu}


async def main(repeat: int) -> None:
    settings = load_settings({})
    cores = machine_cores()
    workers = default_workers(settings, cores)
    text = clean_text(ESSAY.read_text(encoding="utf-8"), "text")
    chunks = split_for_engine(text, settings, PiperEngine.max_chars)
    print(f"{ESSAY.name}: {len(text):,} characters, {len(chunks)} Piper chunks; {cores} cores, "
          f"readout serve default: {workers} worker(s); load average before {os.getloadavg()[0]:.2f}", flush=True)
    rows: list[dict[str, float]] = []
    for run in range(repeat):
        with tempfile.TemporaryDirectory(prefix="readout-throughput-") as tmp:
            one = await raw(settings, chunks, 1)
            print(f"  run {run + 1}: raw, 1 process:  {one['total_s']:.1f} s", flush=True)
            many = await raw(settings, chunks, cores) if cores > 1 else one
            print(f"  run {run + 1}: raw, {cores} processes: {many['total_s']:.1f} s", flush=True)
            ours = await service(text, Path(tmp), workers)
            print(f"  run {run + 1}: service:         {ours['total_s']:.1f} s (first audio {ours['first_s'] * 1000:.0f} ms)",
                  flush=True)
        assert ours["chunks"] == len(chunks) and ours["misses"] == len(chunks), ours
        best = min(one["total_s"], many["total_s"])
        rows.append({"raw_1": one["total_s"], "raw_n": many["total_s"], "service": ours["total_s"],
                     "ratio": ours["total_s"] / best, "first": ours["first_s"], "raw_first": one["first_chunk_s"],
                     "cpu_raw_1": one["cpu_s"], "cpu_raw_n": many["cpu_s"], "cpu_service": ours["cpu_s"]})
    print(f"\n| run | raw, 1 process | raw, {cores} processes | service ({workers} worker(s)) | service / best raw | "
          "service / raw 1 process | first audio | raw first chunk | first audio - raw first chunk |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(f"| {i} | {r['raw_1']:.1f} s | {r['raw_n']:.1f} s | {r['service']:.1f} s | {r['ratio']:.3f} | "
              f"{r['service'] / r['raw_1']:.3f} | "
              f"{r['first'] * 1000:.0f} ms | {r['raw_first'] * 1000:.0f} ms | {(r['first'] - r['raw_first']) * 1000:+.0f} ms |")
    print(f"\n| run | CPU s, raw 1 process | CPU s, raw {cores} processes | CPU s, service (workers, API, Redis) | "
          "service / raw 1 process |")
    print("|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(f"| {i} | {r['cpu_raw_1']:.1f} | {r['cpu_raw_n']:.1f} | {r['cpu_service']:.1f} | "
              f"{r['cpu_service'] / r['cpu_raw_1']:.3f} |")
    ratio = m.p50([r["ratio"] for r in rows])
    extra = m.p50([r["first"] - r["raw_first"] for r in rows])
    print(f"\nservice / best raw (median of {len(rows)}): {ratio:.3f} (target <= 1.05: {'met' if ratio <= 1.05 else 'NOT met'}); "
          f"first audio over the raw first chunk: {extra * 1000:+.0f} ms (target <= 150 ms: "
          f"{'met' if extra <= 0.150 else 'NOT met'}); load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="raw + service rounds, back to back")
    asyncio.run(main(parser.parse_args().repeat))
