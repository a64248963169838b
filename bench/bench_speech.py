"""What the speech stages cost, as ratios measured in the same run.

Usage (from the repo root): /work/venv/bin/python bench/bench_speech.py [--words N] [--calibrate]

1. The loudness step's share of rendering with Piper: the essay's first chunks are rendered
   (`render_chunk`) with `normalize_loudness` timed where the renderer calls it, on the real
   signal; the share is loudness time / render time (target: under 5%), as CPU time (the
   step's thread time against the process's, which includes Piper's thread: immune to other
   load on a shared machine) and as wall time.
2. Piper's narration rate at speed 1.0 (READOUT_PIPER_LENGTH_SCALE), in words per minute of
   rendered audio, pauses included (bundled essay, first N words).
3. Text stages: clean_document + document_sentences (normalisation included) + split_sentences,
   in characters per second over the Federalist corpus, against split_text on the same text.
`--calibrate` prints Piper's speech duration against `length_scale` (the table in
shared/engines/piper.py) and espeak's against `-s`.
"""
from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.audio import render as render_module
from shared.audio.loudness import normalize_loudness
from shared.audio.render import RenderSettings, render_chunk, speech_core
from shared.config import Settings, load_settings
from shared.engines.espeak import EspeakEngine, wav_to_pcm
from shared.engines.piper import PiperEngine
from shared.text import clean_document, document_sentences, split_sentences, split_text
from worker.tasks import split_for_engine

CORPUS = ROOT / "tests" / "data" / "federalist"
ESSAY = ROOT / "samples" / "federalist-10.txt"
PROSE = [
    "The friend of popular governments never finds himself so much alarmed for their character and fate.",
    "What happens next?",
    "He will not fail, therefore, to set a due value on any plan which provides a proper cure for it.",
    "Complaints are everywhere heard from our most considerate and virtuous citizens.",
]


def first_words(text: str, words: int) -> str:
    """The essay's paragraphs up to about `words` words (whole paragraphs)."""
    out, count = [], 0
    for paragraph in text.split("\n\n"):
        out.append(paragraph)
        count += len(paragraph.split())
        if count >= words:
            break
    return "\n\n".join(out)


async def piper_figures(words: int) -> None:
    settings = load_settings()  # READOUT_PIPER_LENGTH_SCALE, READOUT_PAUSES, ... apply
    engine = PiperEngine(settings)
    render = RenderSettings.from_settings(settings)
    text = first_words(ESSAY.read_text(encoding="utf-8"), words)
    document = clean_document(text, "text")
    chunks = split_for_engine(document, settings, engine.max_chars)
    params = engine.params()
    loudness_s = loudness_cpu_s = 0.0

    def timed(*args: object) -> np.ndarray:
        nonlocal loudness_s, loudness_cpu_s
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return normalize_loudness(*args)  # type: ignore[arg-type]
        finally:
            loudness_s += time.perf_counter() - started
            loudness_cpu_s += time.thread_time() - cpu

    render_module.normalize_loudness = timed  # the step exactly as the renderer runs it
    try:
        await engine.speak("Warm up.", params)
        started, cpu = time.perf_counter(), time.process_time()
        rendered = [await render_chunk(engine, chunk, params, render) for chunk in chunks]
        render_s, render_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    finally:
        render_module.normalize_loudness = normalize_loudness
        await engine.close()
    audio_s = sum(c.duration_ms for c in rendered) / 1000
    spoken_words = sum(len(s.text.split()) for chunk in chunks for s in chunk)
    print(f"1. loudness step, rendering {audio_s:.0f} s of Piper audio in {len(chunks)} chunks: CPU "
          f"{loudness_cpu_s:.3f} s of {render_cpu_s:.2f} s -> {100 * loudness_cpu_s / render_cpu_s:.1f}%; wall "
          f"{loudness_s:.3f} s of {render_s:.2f} s -> {100 * loudness_s / render_s:.1f}% (target < 5%)")
    print(f"2. Piper narration rate (length_scale {settings.piper_length_scale:g}, speed 1.0): {spoken_words} words in "
          f"{audio_s:.1f} s -> {60 * spoken_words / audio_s:.0f} words per minute, pauses included")


def text_stage_figures() -> None:
    raws = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))]
    chars = sum(map(len, raws))
    best_ours = best_base = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for raw in raws:
            split_sentences(document_sentences(clean_document(raw, "text")), target_chars=2500, max_chars=3000,
                            first_chars=400)
        best_ours = min(best_ours, time.perf_counter() - t)
        t = time.perf_counter()
        for raw in raws:
            split_text(raw, target_chars=2500, max_chars=3000, first_chars=400)
        best_base = min(best_base, time.perf_counter() - t)
    print(f"3. text stages over the corpus ({chars:,} chars): clean + sentences + normalise + split "
          f"{chars / best_ours:,.0f} chars/s; split_text alone {chars / best_base:,.0f} chars/s "
          f"(ratio {best_ours / best_base:.1f}x)")


async def calibrate() -> None:
    engine = PiperEngine(Settings())
    try:
        voice_speak = engine.speak

        async def speech_ms(text: str, scale: float) -> float:
            engine._length_scale = scale  # the curve is measured relative to length_scale 1.0
            speech = await voice_speak(text, engine.params())
            return speech_core(speech).size / speech.sample_rate

        base = [await speech_ms(t, 1.0) for t in PROSE]
        for scale in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.6, 1.8, 2.0, 2.4, 2.8, 3.2):
            ratios = [await speech_ms(t, scale) / b for t, b in zip(PROSE, base, strict=True)]
            print(f"piper length_scale {scale:.1f}: duration x{np.mean(ratios):.3f} (spread {np.ptp(ratios):.3f})")
    finally:
        await engine.close()
    binary = EspeakEngine(Settings())._binary

    def espeak_s(text: str, rate: int) -> float:
        wav = subprocess.run([binary, "--stdout", "-b", "1", "-v", "en-us", "-s", str(rate), text],
                             capture_output=True, check=True).stdout
        pcm, sample_rate = wav_to_pcm(wav)
        x = np.frombuffer(pcm, "<i2")
        loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
        return (loud[-1] - loud[0]) / sample_rate

    base = [espeak_s(t, 175) for t in PROSE]
    for rate in (80, 100, 120, 140, 175, 200, 220, 260, 300, 350, 400, 450):
        print(f"espeak -s {rate}: duration x{np.mean([espeak_s(t, rate) / b for t, b in zip(PROSE, base, strict=True)]):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=600, help="essay words to render with Piper")
    parser.add_argument("--calibrate", action="store_true", help="print the speed curves instead")
    args = parser.parse_args()
    if args.calibrate:
        asyncio.run(calibrate())
        return
    asyncio.run(piper_figures(args.words))
    text_stage_figures()


if __name__ == "__main__":
    main()
