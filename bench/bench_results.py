"""The warm download of a finished article: stored file vs the original design, in one run.

    .venv/bin/python bench/bench_results.py [--repeats 30]

Starts a redis-server, a SeaweedFS S3 server (`weed mini`), a baseline server
(bench/baseline.py: N Redis GETs + `ffmpeg -f concat` per request) and Readout stacks on
the `fake` engine: one on a directory, one on S3 with the API proxying, and a second API on
the same S3 answering 307 to presigned URLs. A 20,000-character article is made once on
each (then the workers stop: serving a finished file needs none), and every path is
downloaded warm `--repeats` times, interleaved, with curl (a C client, so the figures are
the servers') and with aiohttp. Prints the table and writes bench/RESULTS-results.md.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
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
from run import Baselines

from tests.conftest import CORPUS, RedisServer, free_port
from tests.seaweed import SeaweedS3
from tests.stack import Stack

ARTICLE_CHARS = 20_000
TARGET_RATIO = 50
WARM_UP = 3
ESSAY = "\n\n".join((CORPUS / f"federalist-{n:02d}.txt").read_text(encoding="utf-8") for n in (22, 23))


def fake_env(**extra: str) -> dict[str, str]:
    return {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "0",
            "READOUT_WORKER_CONCURRENCY": "8", "READOUT_URL_SECRET": "bench-secret", **extra}


async def finished_job(http: aiohttp.ClientSession, stack: Stack, text: str) -> dict:
    job = await m.submit(http, stack.url, text)
    return await m.wait_done(http, stack.url, job["id"], timeout=300)


def stop_workers(stack: Stack) -> None:
    for proc in stack.workers:
        proc.terminate()
    for proc in stack.workers:
        proc.wait(timeout=30)
    stack.workers.clear()


async def python_get(http: aiohttp.ClientSession, url: str, size: int) -> float:
    started = time.perf_counter()
    async with http.get(url) as resp:
        body = await resp.read()
    if resp.status != 200 or len(body) != size:
        raise RuntimeError(f"{url} answered {resp.status} with {len(body)} bytes, expected {size}")
    return time.perf_counter() - started


async def python_post(http: aiohttp.ClientSession, url: str, text: str) -> float:
    return (await m.theirs(http, url, text)).total_s


def row(name: str, curl_s: list[float], py_s: list[float], base_curl: float, base_py: float, size: int) -> str:
    c50, p50 = statistics.median(curl_s), statistics.median(py_s)
    return (f"| {name} | {f'{size / 1e6:.2f} MB' if size else '-'} | {1000 * c50:.1f} ms / {1000 * m.p95(curl_s):.1f} ms | "
            f"{1000 * p50:.1f} ms / {1000 * m.p95(py_s):.1f} ms | {base_curl / c50:.0f}x | {base_py / p50:.0f}x |")


async def main(repeats: int) -> int:
    text = m.article(m.fresh(ESSAY), ARTICLE_CHARS)
    with tempfile.TemporaryDirectory(prefix="bench-results-") as tmp_dir:
        tmp = Path(tmp_dir)
        redis = RedisServer(port=free_port(), dir=tmp, appendonly=False)
        redis.start()
        s3 = SeaweedS3(tmp / "s3")
        s3.dir.mkdir()
        s3.start()
        baselines = Baselines(redis.url, tmp / "logs")
        stacks: list[Stack] = []
        try:
            baselines.start(1)
            db = redis.url.rsplit("/", 1)[0]  # the directory stack and the S3 stacks each get their own queue
            on_dir = Stack(f"{db}/1", free_port(), tmp / "dir", env=fake_env(READOUT_STORAGE=f"file://{tmp / 'store'}"))
            on_s3 = Stack(f"{db}/2", free_port(), tmp / "s3-proxy", env=fake_env(**s3.env("bench")))
            presigned = Stack(f"{db}/2", free_port(), tmp / "s3-presign", env=fake_env(**s3.env("bench"), READOUT_S3_PRESIGN="1"))
            for stack, workers in ((on_dir, 2), (on_s3, 2), (presigned, 0)):
                stacks.append(stack)
                stack.start(workers=workers)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
                base = baselines.urls[0]
                await python_post(http, base, text)  # cold: the baseline synthesises and caches every chunk
                dir_job = await finished_job(http, on_dir, text)
                s3_job = await finished_job(http, on_s3, text)
                size = dir_job["audio"]["bytes"]
                for stack in stacks:  # a finished file needs no worker: idle workers' queue polls are only noise
                    stop_workers(stack)
                paths = {
                    f"original design: {dir_job['chunks']['total']} chunk GETs + ffmpeg -f concat": (
                        lambda: m.curl(base + "/speak", "-X", "POST", "-H", "Content-Type: text/plain", "--data-binary", text),
                        lambda: python_post(http, base, text)),
                    "stored file, directory (sendfile)": (
                        lambda: m.curl(on_dir.url + dir_job["audio_url"]),
                        lambda: python_get(http, on_dir.url + dir_job["audio_url"], size)),
                    "stored file, S3 proxied by the API": (
                        lambda: m.curl(on_s3.url + s3_job["audio_url"]),
                        lambda: python_get(http, on_s3.url + s3_job["audio_url"], size)),
                    "stored file, S3 presigned (307, then S3)": (
                        lambda: m.curl(presigned.url + s3_job["audio_url"], "-L"),
                        lambda: python_get(http, presigned.url + s3_job["audio_url"], size)),
                }
                curl_s: dict[str, list[float]] = {name: [] for name in paths}
                py_s: dict[str, list[float]] = {name: [] for name in paths}
                for run in range(WARM_UP + repeats):  # interleaved: every path sees the same machine load
                    for name, (by_curl, by_python) in paths.items():
                        c, p = await by_curl(), await by_python()
                        if run >= WARM_UP:
                            curl_s[name].append(c)
                            py_s[name].append(p)
                names = list(paths)
                base_curl, base_py = statistics.median(curl_s[names[0]]), statistics.median(py_s[names[0]])
                lines = [
                    f"Warm download of a finished {len(text):,}-character article ({dir_job['chunks']['total']} chunks, "
                    f"{dir_job['audio']['duration_seconds']:.0f} s of audio), {repeats} interleaved runs of each path "
                    f"after {WARM_UP} warm-up runs, same machine, one run.",
                    "",
                    "| path | file | curl p50 / p95 | Python client p50 / p95 | baseline / ours (curl) | baseline / ours (Python) |",
                    "|---|---|---|---|---|---|",
                    *(row(name, curl_s[name], py_s[name], base_curl, base_py, size if i else 0) for i, name in enumerate(names)),
                ]
                ratio = base_curl / statistics.median(curl_s[names[1]])
        finally:
            for stack in stacks:
                stack.stop()
            baselines.stop()
            s3.stop()
            redis.kill()
    met = ratio >= TARGET_RATIO
    lines += ["", f"Target: the directory path at least {TARGET_RATIO}x faster than the original design (curl): "
                  f"{ratio:.0f}x, {'met' if met else 'NOT met'}."]
    report = "\n".join(lines)
    print(report)
    (BENCH / "RESULTS-results.md").write_text("# Finished files: warm download\n\n" + report + "\n")
    return 0 if met else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    sys.exit(asyncio.run(main(parser.parse_args().repeats)))
