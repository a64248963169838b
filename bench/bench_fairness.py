"""Fair scheduling under a long-article load: `.venv/bin/python bench/bench_fairness.py`.

Two Readout stacks in one run on one redis-server, the `fake` engine (a latency, no CPU),
2 workers each: *before* (`READOUT_JOB_WINDOW=0`: first come, first served, every chunk
enqueued at once) and *after* (the default window, article jobs ahead of waiting chunks).
In each: a 200-chunk article alone (its total time), then the same article again with
one-sentence jobs submitted every 0.4 s while it runs (each one's first-audio latency,
and the long article's total). Prints the table, writes bench/plots/fairness.png.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import secrets
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
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from shared.config import Settings
from tests.conftest import RedisServer, free_port
from tests.stack import Stack

LATENCY_MS = 200
WORKERS = 2
LONG_CHUNKS = 200
SHORTS = 10  # one-sentence jobs submitted during the long article
SHORT_GAP_S = 0.4  # one every this long
START_AFTER_CHUNKS = 10  # the long article is well under way (every worker busy) first
MODES = (("before", 0), ("after", Settings().job_window))


def env(window: int) -> dict[str, str]:
    return {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": str(LATENCY_MS),
            "READOUT_JOB_WINDOW": str(window),
            # one sentence per chunk, so the long article is LONG_CHUNKS chunks
            "READOUT_CHUNK_TARGET": "50", "READOUT_CHUNK_MAX": "150", "READOUT_FIRST_CHUNK_CHARS": "0"}


def long_article() -> str:
    tag = secrets.token_hex(4)
    return " ".join(f"Sentence {i} of the long article {tag} fills exactly one chunk of it." for i in range(LONG_CHUNKS))


def short_article(i: int) -> str:
    return f"Short request {secrets.token_hex(4)} number {i} is one sentence."


async def chunks_done(http: aiohttp.ClientSession, base: str, job_id: str) -> dict:
    async with http.get(f"{base}/v1/jobs/{job_id}") as resp:
        return await resp.json()


async def long_alone(http: aiohttp.ClientSession, base: str) -> float:
    started = time.perf_counter()
    job = await m.submit(http, base, long_article())
    status = await m.wait_done(http, base, job["id"], timeout=600)
    assert status["chunks"]["total"] == LONG_CHUNKS, status["chunks"]
    return time.perf_counter() - started


async def long_with_shorts(http: aiohttp.ClientSession, base: str) -> tuple[float, list[dict[str, float]]]:
    started = time.perf_counter()
    job = await m.submit(http, base, long_article())
    long_done = asyncio.ensure_future(m.wait_done(http, base, job["id"], timeout=600))
    while (await chunks_done(http, base, job["id"]))["chunks"]["done"] < START_AFTER_CHUNKS:
        await asyncio.sleep(0.02)
    async def short(i: int) -> dict[str, float]:
        at = time.perf_counter() - started
        fetch = await m.ours(http, base, short_article(i))
        return {"submitted_s": at, "first_s": fetch.first_s, "total_s": fetch.total_s}

    runs = []
    for i in range(SHORTS):  # one every SHORT_GAP_S, whether or not the earlier ones have their audio
        if long_done.done():
            break
        runs.append(asyncio.ensure_future(short(i)))
        await asyncio.sleep(SHORT_GAP_S)
    shorts = list(await asyncio.gather(*runs))
    await long_done
    return time.perf_counter() - started, shorts


async def run_mode(http: aiohttp.ClientSession, redis_url: str, logs: Path, window: int) -> dict:
    stack = Stack(redis_url, free_port(), logs, env=env(window))
    try:
        stack.start(workers=WORKERS)
        alone = await long_alone(http, stack.url)
        mixed, shorts = await long_with_shorts(http, stack.url)
    finally:
        stack.stop()
    return {"window": window, "long_alone_s": alone, "long_mixed_s": mixed, "shorts": shorts}


def report(results: dict[str, dict]) -> str:
    call = LATENCY_MS / 1000
    target = 2 * call + 0.2
    lines = [f"fake engine {LATENCY_MS} ms per call, {WORKERS} workers, {LONG_CHUNKS}-chunk article; "
             f"target: a short job's first audio <= 2 calls + 200 ms = {target * 1000:.0f} ms", "",
             "| mode | window | short jobs | first audio p50 / max | long article alone / with short jobs | "
             "growth | short jobs' own work |", "|---|---|---|---|---|---|---|"]
    for mode, r in results.items():
        firsts = [s["first_s"] for s in r["shorts"]]
        work = len(firsts) * call
        growth = r["long_mixed_s"] - r["long_alone_s"]
        lines.append(f"| {mode} | {r['window'] or 'off (FIFO)'} | {len(firsts)} | {m.p50(firsts) * 1000:.0f} ms / "
                     f"{max(firsts) * 1000:.0f} ms | {r['long_alone_s']:.2f} s / {r['long_mixed_s']:.2f} s | "
                     f"{growth:+.2f} s | {work:.2f} s |")
    after = results["after"]
    worst = max(s["first_s"] for s in after["shorts"])
    growth = after["long_mixed_s"] - after["long_alone_s"]
    lines += ["", f"after: worst first audio {worst * 1000:.0f} ms vs target {target * 1000:.0f} ms: "
              f"{'met' if worst <= target else 'NOT met'}; long article grew {growth:+.2f} s vs the short jobs' own "
              f"work {len(after['shorts']) * call:.2f} s: {'met' if growth <= len(after['shorts']) * call else 'NOT met'}"]
    return "\n".join(lines)


def plot(results: dict[str, dict], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for (mode, r), marker in zip(results.items(), ("o", "s"), strict=True):
        label = f"{mode}: " + (f"window {r['window']}, first chunk ahead" if r["window"] else "FIFO, no window")
        ax.plot([s["submitted_s"] for s in r["shorts"]], [s["first_s"] * 1000 for s in r["shorts"]],
                marker=marker, label=label)
    ax.axhline((2 * LATENCY_MS) + 200, color="grey", linestyle="--", label="target: 2 engine calls + 200 ms")
    ax.set_yscale("log")
    ax.set_xlabel("submitted at (s after the long article)")
    ax.set_ylabel("first audio of a one-sentence job (ms)")
    ax.set_title(f"Short jobs under a {LONG_CHUNKS}-chunk article, {WORKERS} workers, fake engine {LATENCY_MS} ms")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


async def main(json_out: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="readout-fairness-") as tmp:
        server = RedisServer(port=free_port(), dir=Path(tmp), appendonly=False)
        server.start()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as http:
                results = {mode: await run_mode(http, server.url, Path(tmp) / mode, window) for mode, window in MODES}
        finally:
            server.kill()
    print(report(results))
    plot(results, BENCH / "plots" / "fairness.png")
    print(f"\nwrote {BENCH / 'plots' / 'fairness.png'}")
    if json_out:
        json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    asyncio.run(main(parser.parse_args().json))
