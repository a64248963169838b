"""The benchmark's output: the summary table (stdout and RESULTS.md), the results page, the plots."""
from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import psutil
from _measure import p50, p95
from matplotlib.ticker import FuncFormatter


@dataclass
class Results:
    settings: dict[str, Any]
    machine: dict[str, Any] = field(default_factory=dict)
    herd: list[dict[str, Any]] = field(default_factory=list)  # design, workers, calls, distinct, requests, seconds
    warm: dict[str, list[float]] = field(default_factory=dict)  # mode -> seconds per request
    ttfa: list[dict[str, Any]] = field(default_factory=list)  # chars, ours_first, ours_total, theirs_total (medians)
    scaling: list[dict[str, Any]] = field(default_factory=list)  # workers, articles, chunks, seconds, per_minute
    wakeup: dict[str, list[float]] = field(default_factory=dict)  # ours / poll -> seconds
    memory: dict[str, dict[str, int]] = field(default_factory=dict)  # design -> idle, peak (bytes)
    piper: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    return {
        "cores": os.cpu_count(), "cpu": model, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "redis": next((w.split("=")[1] for w in redis_version if w.startswith("v=")), "?"),
        "load_before": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _ratio(ours: float, theirs: float) -> str:
    """ours / baseline, with the plain-words reading."""
    if theirs == 0:
        return "n/a"
    r = ours / theirs
    return f"{r:.3f} ({1 / r:.0f}x less)" if r < 0.5 else f"{r:.2f}"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def summary(r: Results) -> list[list[str]]:
    """Rows: measure, ours, baseline, ours/baseline, target, met."""
    latency_s = r.settings["fake_latency_ms"] / 1000
    rows: list[list[str]] = []
    for workers in sorted({h["workers"] for h in r.herd}):
        o = next(h for h in r.herd if h["design"] == "ours" and h["workers"] == workers)
        t = next(h for h in r.herd if h["design"] == "baseline" and h["workers"] == workers)
        rows.append([
            f"1. herd, 50 cold clients, {workers} worker{'s' if workers > 1 else ''} (baseline: server processes): provider calls",
            f"{o['calls']} ({o['distinct']} distinct chunks, all served in {o['seconds']:.2f} s)",
            f"{t['calls']} ({t['distinct']} distinct chunks, all served in {t['seconds']:.2f} s)",
            f"calls per distinct chunk {o['calls'] / o['distinct']:.2f} vs {t['calls'] / t['distinct']:.2f}; "
            f"time {_ratio(o['seconds'], t['seconds'])}",
            "calls = distinct chunks", _met(o["calls"] == o["distinct"]),
        ])
    if r.warm:
        theirs = r.warm["baseline"]
        for mode, client in (("ours_done_curl", "curl"), ("ours_done", "Python client")):
            if mode not in r.warm:
                continue
            done, base = r.warm[mode], r.warm["baseline_curl" if client == "curl" else "baseline"]
            rows.append([
                f"2. warm article over HTTP, p50 / p95, {client} (ours: GET audio of a done job)",
                f"{_ms(p50(done))} / {_ms(p95(done))}", f"{_ms(p50(base))} / {_ms(p95(base))}",
                _ratio(p50(done), p50(base)), ">= 20x faster", _met(p50(base) >= 20 * p50(done)),
            ])
        resubmit = r.warm["ours_resubmit"]
        rows.append([
            "2b. warm article, p50 / p95, Python client (ours: submit, then the streamed GET to its last byte)",
            f"{_ms(p50(resubmit))} / {_ms(p95(resubmit))}", f"{_ms(p50(theirs))} / {_ms(p95(theirs))}",
            _ratio(p50(resubmit), p50(theirs)), "(no target)", "",
        ])
    if r.ttfa:
        worst = max(r.ttfa, key=lambda x: x["ours_first"])
        biggest = r.ttfa[-1]
        rows.append([
            f"3. time to first audio, cold, {r.ttfa[0]['chars']:,}-{biggest['chars']:,} chars "
            f"(baseline: full response); worst size / {biggest['chars']:,} chars",
            f"{_ms(worst['ours_first'])} / {_ms(biggest['ours_first'])}",
            f"{_ms(worst['theirs_total'])} / {_ms(biggest['theirs_total'])}",
            _ratio(biggest["ours_first"], biggest["theirs_total"]) + f" at {biggest['chars']:,}",
            f"<= fake latency + 50 ms = {_ms(latency_s + 0.05)}", _met(worst["ours_first"] <= latency_s + 0.05),
        ])
    if r.scaling:
        one = next(s for s in r.scaling if s["workers"] == 1)
        top = max(r.scaling, key=lambda s: s["workers"])
        per = ", ".join(f"{s['workers']}w {s['per_minute']:.0f}" for s in r.scaling)
        rows.append([
            f"4. throughput, articles/min (fake engine, concurrency {r.settings['scaling_concurrency']} per worker)",
            per, "-", f"{top['workers']}w / 1w = {top['per_minute'] / one['per_minute']:.2f}x",
            f">= 3.5x at {top['workers']} workers", _met(top["per_minute"] >= 3.5 * one["per_minute"]),
        ])
    if r.wakeup:
        for suffix, label in (("", f"{r.settings['wake_waiters']} waiters in one process"), ("_1", "one waiter")):
            o, t = r.wakeup["ours" + suffix], r.wakeup["poll" + suffix]
            rows.append([
                f"5{'b' if suffix else ''}. waiter wake-up after the audio lands, {label}, median / p95 "
                f"(baseline: backoff polling)",
                f"{_ms(p50(o))} / {_ms(p95(o))}", f"{_ms(p50(t))} / {_ms(p95(t))}",
                _ratio(p50(o), p50(t)), "median < 5 ms", _met(p50(o) < 0.005),
            ])
    if r.memory:
        o, t = r.memory["ours"], r.memory["baseline"]
        rows.append([
            f"6. server peak RSS, {r.settings['streams']} concurrent cold requests of a "
            f"{r.settings['stream_chars']:,}-char article (idle -> peak)",
            f"{o['idle'] / 2**20:.0f} -> {o['peak'] / 2**20:.0f} MiB",
            f"{t['idle'] / 2**20:.0f} -> {t['peak'] / 2**20:.0f} MiB",
            _ratio(o["peak"], t["peak"]), "(no target)", "",
        ])
    if r.piper:
        p = r.piper
        rows.append([
            f"7. Piper, {p['chars']:,}-char article, {p['workers']} workers: first audio / total / real-time factor",
            f"{p['first_s']:.1f} s / {p['total_s']:.1f} s / {p['audio_s'] / p['total_s']:.1f}x real time "
            f"({p['audio_s'] / 60:.1f} min of audio, {p['chunks']} chunks)",
            "not run", "-", "(no target)", "",
        ])
    return rows


def table(rows: list[list[str]]) -> str:
    head = ["measure", "ours", "baseline", "ours / baseline", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def plots(r: Results, out: Path) -> list[str]:
    """Write the PNGs; returns their file names."""
    out.mkdir(parents=True, exist_ok=True)
    names: list[str] = []

    def save(fig: plt.Figure, name: str) -> None:
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        some = FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")
        for ax in fig.axes:  # log axes: 300, not 3 x 10^2
            for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
                if scale == "log":
                    axis.set_major_formatter(plain)
                    axis.set_minor_formatter(some)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        names.append(name)

    if r.ttfa:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        chars = [x["chars"] for x in r.ttfa]
        ax.plot(chars, [x["theirs_total"] for x in r.ttfa], "o-", color="tab:red", label="baseline: full response (first byte)")
        ax.plot(chars, [x["ours_total"] for x in r.ttfa], "s--", color="tab:blue", alpha=0.6, label="ours: last byte")
        ax.plot(chars, [x["ours_first"] for x in r.ttfa], "s-", color="tab:blue", label="ours: first audio byte")
        ax.axhline(r.settings["fake_latency_ms"] / 1000, color="gray", ls=":", label="one provider call")
        ax.set(xlabel="article length (characters)", ylabel="seconds from request", xscale="log", yscale="log",
               title=f"Cold article, fake engine ({r.settings['fake_latency_ms']} ms a call)")
        ax.legend(fontsize=8)
        save(fig, "ttfa.png")
    if r.scaling:
        fig, ax = plt.subplots(figsize=(6, 4))
        workers = [s["workers"] for s in r.scaling]
        rate = [s["per_minute"] for s in r.scaling]
        ax.bar([str(w) for w in workers], rate, color="tab:blue", label="measured")
        ax.plot([str(w) for w in workers], [rate[0] * w for w in workers], "k--", label="linear")
        ax.set(xlabel="worker processes", ylabel="articles per minute",
               title=f"Throughput, fake engine, concurrency {r.settings['scaling_concurrency']} per worker")
        ax.legend()
        save(fig, "scaling.png")
    if r.warm:
        fig, ax = plt.subplots(figsize=(7, 4))
        labels = {"ours_done_curl": "ours: GET done\n(curl)", "baseline_curl": "baseline\n(curl)",
                  "ours_done": "ours: GET done", "ours_resubmit": "ours: submit\n+ download", "baseline": "baseline"}
        labels = {mode: label for mode, label in labels.items() if mode in r.warm}
        for i, mode in enumerate(labels):
            values = [v * 1000 for v in r.warm[mode]]
            ax.bar(i - 0.2, p50(values), width=0.4, color="tab:blue", label="p50" if i == 0 else None)
            ax.bar(i + 0.2, p95(values), width=0.4, color="tab:orange", label="p95" if i == 0 else None)
        ax.set_xticks(range(len(labels)), list(labels.values()), fontsize=8)
        ax.set(ylabel="milliseconds", yscale="log", title="Warm article over HTTP (curl, then the Python client)")
        ax.legend()
        save(fig, "warm.png")
    if r.wakeup:
        fig, ax = plt.subplots(figsize=(6, 4))
        for mode, label, color in (("ours", "ours: pub/sub + poll", "tab:blue"), ("poll", "backoff polling", "tab:red")):
            for suffix, style, who in (("", "-", f"{r.settings['wake_waiters']} waiters"), ("_1", "--", "1 waiter")):
                values = sorted(v * 1000 for v in r.wakeup[mode + suffix])
                ax.plot(values, [(i + 1) / len(values) for i in range(len(values))], style, color=color,
                        label=f"{label}, {who}")
        ax.set(xlabel="milliseconds after the audio landed", ylabel="fraction of waiters", xscale="log",
               title="Waiter wake-up latency (CDF)")
        ax.legend(fontsize=8)
        save(fig, "wakeup.png")
    if r.herd:
        fig, ax = plt.subplots(figsize=(7, 4))
        labels = [f"{h['design']}\n{h['workers']}w" for h in r.herd]
        ax.bar_label(ax.bar(labels, [h["requests"] for h in r.herd], color="lightgray", label="chunk requests"))
        ax.bar_label(ax.bar(labels, [h["calls"] for h in r.herd], color="tab:blue", label="provider calls"))
        ax.set(ylabel="count", yscale="log", ylim=(1, 3000), title="50 concurrent cold requests of one article")
        ax.legend(loc="upper center", ncols=2)
        save(fig, "herd.png")
    return names


def page(r: Results, rows: list[list[str]], images: list[str]) -> str:
    m, s = r.machine, r.settings
    lines = [
        "# Readout against the original design",
        "",
        "Written by `bench/run.py` (`make bench`); every figure below is from the run it describes. "
        "Ratios are ours / baseline (below 1 is better for times, calls and memory), since absolute "
        "figures move with the machine and its load.",
        "",
        f"**Machine:** {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GiB RAM, {m['os']}, Python {m['python']}, "
        f"redis-server {m['redis']}; 1-minute load average {m['load_before'][0]:.2f} before the run and "
        f"{m['load_after'][0]:.2f} after it "
        f"(the cores are shared with other work, so expect noise). Run on {m['date']}, {r.elapsed_s:.0f} s in all.",
        "",
        "**Designs.** *Ours*: the API (`python -m api`) and ARQ workers (`python -m worker`) as separate processes "
        "on one redis-server; the article job splits the text, synthesizes chunk 0 itself and fans the rest out; "
        "the audio streams from chunk 0. *Baseline* (`bench/baseline.py`): the original design, an aiohttp "
        "server that splits with `(?<=[.!?])\\s+` (2,500 / 4,000 characters), synthesizes every chunk in "
        "order in the request handler behind a `SET NX` lock (losers poll: 50 ms x1.25, cap 500 ms), and "
        "answers with N x `GET` + `ffmpeg -f concat`. Both speak through the same engine classes.",
        "",
        f"**Engines.** `fake`: {s['fake_latency_ms']} ms per call, no CPU (a cloud provider's shape). "
        f"Piper: CPU-bound, local.",
        "",
        "## Summary",
        "",
        table(rows),
        "",
        "## Details",
        "",
    ]
    lines += _details(r)
    lines += ["", "## Plots", ""] + [f"![{name}](plots/{name})" for name in images] + [""]
    return "\n".join(lines)


def _details(r: Results) -> list[str]:
    s = r.settings
    out = [
        f"1. **Herd.** 50 clients request the same cold article at once. Ours: each client submits a job "
        f"and streams its audio (worker concurrency {s['herd_concurrency']}); the provider calls are the "
        f"`fake` engine's count in `/v1/stats`. Baseline: each client POSTs the article to one of the "
        f"baseline server processes (round robin). The two designs chunk differently, so each has its own "
        f"number of distinct chunks. A worker starts at most `READOUT_WORKER_CONCURRENCY` jobs per ARQ "
        f"queue poll (`READOUT_POLL_DELAY`, {s['poll_delay_ms']} ms), which bounds how fast the herd's "
        f"hundreds of short cache-hit jobs drain.",
        f"2. **Warm article.** The herd's article, already cached, {s['warm_repeats']} requests one after "
        f"another, timed by curl (`time_total`: the server's cost, nearly nothing of the client's) and by "
        f"the Python aiohttp client (which adds a few ms per MB of its own to both designs). *GET done "
        f"job*: `GET /v1/jobs/{{id}}/audio` of a finished job (Content-Length, pieces written from the "
        f"cache). *Submit + download*: a new `POST /v1/jobs` of the same article, then the streamed GET "
        f"until its last byte (this pays one queue hop: the article job, which finds every chunk cached "
        f"and lands them itself). Baseline: `POST /speak` of the warm article (N x `GET` + ffmpeg).",
        f"3. **Time to first audio.** A cold article per request and size, {s['ttfa_repeats']} requests per "
        f"size, medians. Ours: from `POST /v1/jobs` to the first audio byte of the streamed GET (and to its "
        f"last byte). Baseline: its first byte is its last, the full response. Ours pays one ARQ queue "
        f"pickup before chunk 0 (0 to `READOUT_POLL_DELAY` = {s['poll_delay_ms']} ms), plus cleaning and "
        f"splitting, which grow with the article.",
        f"4. **Throughput.** {s['scaling_articles']} cold articles of about {s['scaling_chars']:,} characters "
        f"submitted at once, timed to the last `done` (followed over SSE); worker processes added 1 -> 2 -> 4 "
        f"on the same API. `READOUT_WORKER_CONCURRENCY={s['scaling_concurrency']}`, so each worker is the "
        f"bottleneck: with the default (8) a single worker already overlaps 8 provider calls and more "
        f"workers add nothing on this article count.",
        f"5. **Wake-up.** `bench/bench_cache.py`'s holder keeps a chunk's lock for a random 50-1000 ms; "
        f"{s['wake_waiters']} waiters of that chunk each note when they got the audio, "
        f"{s['wake_trials']} trials per mode, measured from the moment the holder had the audio. Ours: "
        f"pub/sub wake-up with backoff polling as the fallback. Baseline: the backoff polling alone. "
        f"Waiters in one process are served one after another by its event loop (each reads the audio "
        f"and writes its wake-up counters), so the {s['wake_waiters']}-waiter figure includes that queueing; "
        f"5b has one waiter per chunk.",
        f"6. **Memory.** Peak resident set (psutil, sampled every 5 ms) of the one process serving "
        f"{s['streams']} concurrent requests for one cold {s['stream_chars']:,}-character article: ours, the "
        f"API process streaming {s['streams']} jobs (workers are separate processes); baseline, one server "
        f"process (its ffmpeg children not counted).",
        f"7. **Piper.** One cold {s['piper_chars']:,}-character article with the default engine, "
        f"{s['piper_workers']} workers (`READOUT_PIPER_PROCESSES=1` each); real-time factor = seconds of "
        f"audio / wall seconds from submit to the last byte. The baseline is not run on Piper (it would "
        f"add minutes of CPU; its first byte is its last).",
    ]
    if r.ttfa:
        out += ["", "| chars | ours first byte | ours last byte | baseline full response | first byte ours / baseline |",
                "|---|---|---|---|---|"]
        out += [f"| {x['chars']:,} | {_ms(x['ours_first'])} | {_ms(x['ours_total'])} | {_ms(x['theirs_total'])} | "
                f"{_ratio(x['ours_first'], x['theirs_total'])} |" for x in r.ttfa]
    if r.scaling:
        out += ["", "| workers | articles | chunks | seconds | articles/min | vs 1 worker |", "|---|---|---|---|---|---|"]
        one = r.scaling[0]["per_minute"]
        out += [f"| {x['workers']} | {x['articles']} | {x['chunks']} | {x['seconds']:.2f} | {x['per_minute']:.0f} | "
                f"{x['per_minute'] / one:.2f}x |" for x in r.scaling]
    return out


def write(r: Results, bench_dir: Path) -> str:
    rows = summary(r)
    images = plots(r, bench_dir / "plots")
    (bench_dir / "RESULTS.md").write_text(page(r, rows, images), encoding="utf-8")
    return table(rows)
