"""Real speech says the text: Piper (rendered chunk) -> MP3 -> miniaudio -> pocketsphinx -> word recall.

Recall is order-aware (longest common subsequence of words over the reference length), so
common words scattered through a wrong transcript count for little. Measured with the
bundled joe voice: about 0.7 against the true paragraph, 0.14-0.29 against other ones.
"""
from __future__ import annotations

import re
from pathlib import Path

import miniaudio
from pocketsphinx import Decoder

from shared.audio.render import RenderSettings, render_chunk
from shared.config import Settings
from shared.engines.piper import PiperEngine
from shared.text import clean_document, document_sentences

CORPUS = Path(__file__).resolve().parent / "data" / "federalist"


def paragraphs(name: str) -> list[str]:
    text = (CORPUS / name).read_text(encoding="utf-8")
    flat = (re.sub(r"\s+", " ", p).strip() for p in text.split("\n\n"))
    return [p for p in flat if 300 < len(p) < 700]


def spoken(text: str) -> str:
    """What the engine is asked to say: the normaliser's spoken form of every sentence."""
    return " ".join(s.spoken for s in document_sentences(clean_document(text, "text")))


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def recall(reference: str, transcript: str) -> float:
    ref, hyp = words(reference), words(transcript)
    previous = [0] * (len(hyp) + 1)
    for r in ref:
        current = [0]
        for j, h in enumerate(hyp):
            current.append(previous[j] + 1 if r == h else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1] / len(ref)


def transcribe(mp3: bytes) -> str:
    decoded = miniaudio.decode(mp3, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1,
                               sample_rate=16000)
    decoder = Decoder(samprate=16000, loglevel="FATAL")
    decoder.start_utt()
    decoder.process_raw(decoded.samples.tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr if hypothesis else ""


def test_recall_words_from_ordering() -> None:
    assert recall("a b c d", "a x c d") == 0.75
    assert recall("a b c d", "d c b a") == 0.25


async def test_piper_speech_is_recognised_as_its_text() -> None:
    text = paragraphs("federalist-01.txt")[2]
    others = paragraphs("federalist-01.txt")[:2] + paragraphs("federalist-02.txt")[:1]
    engine = PiperEngine(Settings())
    try:
        sentences = document_sentences(clean_document(text, "text"))
        mp3 = (await render_chunk(engine, sentences, engine.params(), RenderSettings())).mp3
    finally:
        await engine.close()
    transcript = transcribe(mp3)
    right = recall(spoken(text), transcript)
    wrong = max(recall(spoken(other), transcript) for other in others)
    assert right >= 0.5, (right, transcript)
    assert wrong <= 0.4, (wrong, transcript)
    assert right - wrong >= 0.25
