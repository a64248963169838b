"""Speed of split_text against a naive regex sentence splitter, in the same run.

Usage (from the repo root): .venv/bin/python bench/bench_chunking.py
Prints characters per second for the Federalist corpus, a 1 MB synthetic article and a 1 MB
article with no spaces at all (the slowest path: grapheme-cluster cuts), plus 125 kB to
1 MB of the same prose to show that time grows linearly with the text.
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.chunking import clean_text, split_text

CORPUS = ROOT / "tests" / "data" / "federalist"
MB = 1_000_000
REPEATS = 5
_NAIVE = re.compile(r"(?<=[.!?])\s+")


def naive_split(text: str) -> list[str]:
    return _NAIVE.split(text)


def service_split(text: str) -> list[str]:
    return split_text(text, target_chars=2500, max_chars=3000, first_chars=400)


def best_seconds(split: Callable[[str], list[str]], texts: list[str]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for text in texts:
            split(text)
        best = min(best, time.perf_counter() - start)
    return best


def synthetic_article(essays: list[str], size: int) -> str:
    """Corpus paragraphs plus URLs, abbreviations, numbers and emoji, cut to `size` chars."""
    extras = (
        "Dr. Smith, Mr. J. R. Jones and Prof. Lee met at 5 p.m. on Jan. 5 (see "
        "https://example.com/a/b.html, v1.2.3 and 3.5 kg). It cost $4.50, e.g. less than "
        "expected! Was it worth it? \u201cYes,\u201d she said \u2014 \U0001F44D\U0001F3FD\u2026"
    )
    paragraphs = [p for essay in essays for p in essay.split("\n\n")]
    out: list[str] = []
    length = i = 0
    while length < size:
        paragraph = paragraphs[i % len(paragraphs)] + (" " + extras if i % 7 == 0 else "")
        out.append(paragraph)
        length += len(paragraph) + 2
        i += 1
    return "\n\n".join(out)[:size]


def report(name: str, texts: list[str]) -> None:
    chars = sum(len(t) for t in texts)
    ours = best_seconds(service_split, texts)
    naive = best_seconds(naive_split, texts)
    chunks = sum(len(service_split(t)) for t in texts)
    print(
        f"{name:<28} {chars:>10,} chars {chunks:>5} chunks  split_text {chars / ours:>13,.0f} chars/s"
        f" ({ours * 1000:7.1f} ms)  naive {chars / naive:>13,.0f} chars/s  ratio {ours / naive:5.1f}x"
    )


def main() -> None:
    essays = [clean_text(p.read_text(encoding="utf-8"), "text") for p in sorted(CORPUS.glob("*.txt"))]
    article = synthetic_article(essays, MB)
    print(f"best of {REPEATS}; ratio = split_text time / naive re.split time\n")
    report(f"corpus ({len(essays)} essays)", essays)
    report("synthetic article, 1 MB", [article])
    report("one 1 MB token (no spaces)", ["x" * MB])
    print("\nlinearity (1 to 8 copies of the article's first 125 kB):")
    block = article[: MB // 8]
    for copies in (1, 2, 4, 8):
        text = "\n\n".join([block] * copies)
        seconds = best_seconds(service_split, [text])
        print(f"  {len(text):>9,} chars  {seconds * 1000:7.1f} ms  {seconds / len(text) * 1e9:6.0f} ns/char")


if __name__ == "__main__":
    main()
