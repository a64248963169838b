"""Speed of normalize() against two baselines measured in the same run.

Usage (from the repo root): .venv/bin/python bench/bench_normalize.py
Texts: 1 MB of mixed prose (the Federalist essays, then the news article repeated to fill the
megabyte) and 1 MB of the news article alone (a digit, a date or a price in every sentence:
the slowest realistic case). Baselines: `str.translate` with an empty table (a copy of the
text: the floor of any pass over it) and a naive normaliser that hands every digit run to
num2words (what a first attempt does; it reads "$4.2 million" as "$four.two million").
Ratios are normalize's time over the baseline's. Times are this process's CPU time (other load
on a shared machine does not count), best of REPEATS runs each, every run with cold number-word
caches.
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from num2words import num2words

from shared.text import normalize, normalize_en

CORPUS = ROOT / "tests" / "data" / "federalist"
NEWS = ROOT / "tests" / "data" / "news" / "riverside-flood-plan.txt"
MB = 1_000_000
REPEATS = 5
_DIGITS = re.compile(r"\d+")
_NO_OP = str.maketrans({})


def naive(text: str) -> str:
    return _DIGITS.sub(lambda m: num2words(int(m.group(0))), text)


def copy(text: str) -> str:
    return text.translate(_NO_OP)


def cold_caches() -> None:
    """Each run starts with empty number-word caches, as a fresh worker would."""
    normalize_en.cardinal.cache_clear()
    normalize_en.ordinal.cache_clear()


def best_seconds(step: Callable[[str], str], text: str) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        cold_caches()
        start = time.process_time()
        step(text)
        best = min(best, time.process_time() - start)
    return best


def fill(parts: list[str], size: int) -> str:
    out: list[str] = []
    length = i = 0
    while length < size:
        out.append(parts[i % len(parts)])
        length += len(out[-1]) + 2
        i += 1
    return "\n\n".join(out)[:size]


def report(name: str, text: str) -> float:
    ours = best_seconds(normalize, text)
    floor = best_seconds(copy, text)
    first = best_seconds(naive, text)
    chars = len(text)
    megabytes = len(text.encode("utf-8")) / MB
    print(f"{name:<26} {chars:>9,} chars  normalize {megabytes / ours:5.2f} MB/s {chars / ours:>11,.0f} chars/s"
          f" ({ours * 1000:6.1f} ms)  vs translate {ours / floor:6.0f}x  vs naive num2words {ours / first:5.2f}x")
    return ours


def main() -> None:
    essays = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))]
    news = NEWS.read_text(encoding="utf-8")
    normalize("warm up: $5, 1984, Dr. Who")  # loads the English rules and num2words once
    print(f"CPU time, best of {REPEATS}; ratio = normalize time / baseline time\n")
    mixed = report("mixed prose, 1 MB", fill([*essays, *[news] * 27], MB))
    dense = report("news article only, 1 MB", fill([news], MB))
    report("Federalist essays only", "\n\n".join(essays))
    worst = max(mixed, dense)
    print(f"\ntarget: 1 MB well under a second; mixed {mixed:.2f} s, news {dense:.2f} s:"
          f" {'met' if worst < 1 else 'NOT met'} ({worst:.0%} of a second at worst)")
    print("\nlinearity (1 to 8 copies of 125 kB of the mixed prose):")
    block = fill([*essays[:8], news, news], MB // 8)
    for copies in (1, 2, 4, 8):
        text = "\n\n".join([block] * copies)
        seconds = best_seconds(normalize, text)
        print(f"  {len(text):>9,} chars  {seconds * 1000:7.1f} ms  {seconds / len(text) * 1e9:6.0f} ns/char")


if __name__ == "__main__":
    main()
