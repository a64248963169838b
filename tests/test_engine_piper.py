"""Piper: one sentence per model call, deterministic raw PCM of plausible length, off the event loop."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from shared.audio.render import speech_core
from shared.config import Settings
from shared.engines import piper as piper_module
from shared.engines.base import AudioParams, Speech, UnknownVoice
from shared.engines.piper import PiperEngine
from shared.text import clean_document, document_sentences
from shared.text.boundaries import spoken_form

PROBE_S = 0.01  # how often the responsiveness probe ticks
SILENCE_DB = -40.0  # a 10 ms frame this far under the loudest frame is silence
FRAME_S = 0.01

SENTENCES = "The quick brown fox jumps over the lazy dog."
NAMES = "Dr. Jones of St. Louis met Mrs. Smith on Jan. 5."
NAMES_SPOKEN = "Doctor Jones of Saint Louis met Missus Smith on January fifth."  # the normaliser's form


def silences_ms(samples: np.ndarray, sample_rate: int) -> list[int]:
    """Lengths of the runs of silent 10 ms frames in `samples`."""
    frame = int(sample_rate * FRAME_S)
    n = samples.size // frame
    rms = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)) + 1e-12
    quiet = 20 * np.log10(rms / rms.max()) < SILENCE_DB
    runs, run = [], 0
    for q in quiet:
        if q:
            run += 1
        elif run:
            runs.append(run * 10)
            run = 0
    return runs + ([run * 10] if run else [])


class Recording(PiperEngine):
    """Piper, keeping every text it was asked to speak."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.heard: list[str] = []

    async def speak(self, text: str, params: AudioParams) -> Speech:
        self.heard.append(text)
        return await super().speak(text, params)


@pytest.fixture
async def piper() -> AsyncIterator[PiperEngine]:
    engine = PiperEngine(Settings())
    yield engine
    await engine.close()


def test_voice_and_identity(piper: PiperEngine) -> None:
    params = piper.params()
    assert params.voice == "en_US-joe-medium" == piper.default_voice()
    assert [v.id for v in piper.voices()] == ["en_US-joe-medium"]
    assert params.engine_version.startswith("piper-tts 1.8.0; en_US-joe-medium sha256:")
    assert params.sample_rate == 22050
    with pytest.raises(UnknownVoice):
        piper.params("en_US-lessac-high")


async def test_same_text_same_bytes_even_after_reload(piper: PiperEngine) -> None:
    params = piper.params()
    first = await piper.speak(SENTENCES, params)
    second = await piper.speak(SENTENCES, params)
    await piper.close()  # drops the pool and the loaded model
    third = await piper.speak(SENTENCES, params)
    assert first == second == third
    assert first.billed_chars == 0  # local: nothing billed
    assert (await piper.speak("Something else entirely.", params)).pcm != first.pcm


async def test_process_pool_gives_the_same_bytes(piper: PiperEngine) -> None:
    in_thread = await piper.speak(SENTENCES, piper.params())
    pooled = PiperEngine(Settings(piper_processes=2))
    try:
        in_process = await pooled.speak(SENTENCES, pooled.params())
    finally:
        await pooled.close()
    assert in_process.pcm == in_thread.pcm


async def test_raw_pcm_of_plausible_duration_not_peak_normalised(piper: PiperEngine) -> None:
    speech = await piper.speak(SENTENCES, piper.params())
    samples = np.frombuffer(speech.pcm, "<i2")
    seconds = samples.size / speech.sample_rate
    words = len(SENTENCES.split())
    assert words / 5 < seconds < words / 1.5  # speech runs at 1.5 to 5 words a second
    peak = int(np.abs(samples.astype(np.int32)).max())
    assert 8000 < peak < 32000  # speech, and not scaled to full range as Piper's synthesize() does


async def test_names_with_abbreviations_reach_piper_as_one_sentence_without_pauses() -> None:
    """Our splitter keeps "Dr. Jones of St. Louis" whole, and Piper says it without a stop inside."""
    engine = Recording(Settings())
    try:
        doc = clean_document(f"{NAMES} Then they left.", "text")
        sentences = document_sentences(doc)
        assert [s.text for s in sentences] == [NAMES, "Then they left."]
        assert sentences[0].spoken == NAMES_SPOKEN
        speech = await engine.speak(sentences[0].spoken, engine.params())
        assert engine.heard == [NAMES_SPOKEN]  # one unit, final punctuation kept
        voice = piper_module._load_voice(str(engine._model), str(engine._config))
        for text in (NAMES, NAMES_SPOKEN):  # even unnormalised text loses espeak's false sentence ends
            flat = piper_module.phonemes(voice, text)
            assert flat[-1] == "." and "." not in flat[:-1], text
        # a question spoken alone keeps its mark (before a blank line in a longer text espeak dropped it)
        assert piper_module.phonemes(voice, "What happens next?")[-1] == "?"
        assert "?" not in [p for piece in voice.phonemize("What happens next?\n\nThe end.") for p in piece]
    finally:
        await engine.close()
    core = speech_core(speech)
    assert max(silences_ms(core, speech.sample_rate), default=0) <= 250
    # the check can fail: with espeak's own sentence split the same text has long stops inside
    split = np.frombuffer(b"".join(c.audio_int16_bytes for c in voice.synthesize(NAMES)), "<i2")
    assert max(silences_ms(split, speech.sample_rate)) > 250


async def test_phoneme_syntax_in_text_is_not_interpreted(piper: PiperEngine) -> None:
    params = piper.params()
    raw = await piper.speak("Say [[ hh ]] now.", params)
    spaced = await piper.speak("Say [ [ hh ] ] now.", params)
    assert raw.pcm == spaced.pcm


async def test_event_loop_keeps_running_during_synthesis(piper: PiperEngine) -> None:
    params = piper.params()
    await piper.speak("Load the model first.", params)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(PROBE_S)  # a probe of loop responsiveness, not synchronisation

    probe = asyncio.create_task(ticker())
    await piper.speak(" ".join([SENTENCES.rstrip(".")] * 6) + ".", params)  # a few seconds of CPU work
    done.set()
    await probe
    assert ticks >= 10


async def test_warm_loads_the_model_once(piper: PiperEngine) -> None:
    piper_module._load_voice.cache_clear()
    await piper.warm()
    assert piper_module._load_voice.cache_info().currsize == 1
    await piper.speak("Hello.", piper.params())
    assert piper_module._load_voice.cache_info().misses == 1


async def test_brackets_and_dashes_get_clause_pauses(piper: PiperEngine) -> None:
    """Piper reads "(a tall man)" and a spaced hyphen with no pause; their spoken form has two."""
    params = piper.params()
    for written in ("The mayor (a tall man) spoke first.", "The mayor - a tall man - spoke first."):
        raw = await piper.speak(written, params)
        spoken = await piper.speak(spoken_form(written), params)
        assert max(silences_ms(speech_core(raw), raw.sample_rate)) < 150, written
        assert sum(ms >= 150 for ms in silences_ms(speech_core(spoken), spoken.sample_rate)) >= 2, written
