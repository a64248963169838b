"""A deterministic stand-in provider for tests, demos and benchmarks.

It behaves like a network engine (latency, throttling, hard failures) but costs almost no
CPU. `speak` returns a tone as PCM: 10 ms a character divided by the speed, at a pitch of the
voice's own (each voice has its own tones, so two voices never sound alike) picked by the
text.

`fake_mp3` is what the Polly and ElevenLabs test stubs send as their MP3 bodies: a short
tone is encoded once per process and whole MP3 frames of it are repeated. LAME's bit
reservoir makes a frame's data start inside earlier frames, so the repeated unit is a cycle
of frames taken from the steady part of a longer encoding, after the prefix that led to it:
every frame is then preceded by exactly the bytes it was encoded after, and the result
decodes cleanly.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import random
from dataclasses import dataclass

import numpy as np

from shared.audio.encode import pcm_to_mp3
from shared.config import Settings
from shared.engines.base import AudioParams, Engine, EngineError, Speech, UnknownVoice, VoiceInfo
from shared.engines.retry import with_retries

SAMPLE_RATE = 24_000  # 64 kbps at 24 kHz gives 192-byte frames with no padding bytes
BITRATE_KBPS = 64
FRAME_SAMPLES = 576  # MPEG-2 layer III
FRAME_BYTES = 72 * BITRATE_KBPS * 1000 // SAMPLE_RATE
MS_PER_CHAR = 10
# Tone periods per frame (500-1083 Hz), four per voice; each decodes and probes cleanly from two frames.
_TONE_STEPS = (12, 14, 16, 20, 21, 23, 24, 26)
_MIN_FRAMES = 2  # ffmpeg cannot probe a file of a single frame
_VOICES = {"fake-a": "Fake A", "fake-b": "Fake B"}
_AMPLITUDE = 0.25
_FADE_S = 0.005


@dataclass(frozen=True)
class _Tone:
    prefix: list[bytes]  # frames before the repeating cycle
    cycle: bytes  # whole frames that repeat forever once the encoder is steady

    def frames(self, count: int) -> bytes:
        head = b"".join(self.prefix[:count])
        rest = count - len(self.prefix)
        if rest <= 0:
            return head
        cycle_frames = len(self.cycle) // FRAME_BYTES
        whole, part = divmod(rest, cycle_frames)
        return head + self.cycle * whole + self.cycle[: part * FRAME_BYTES]


@functools.cache
def _tone(step: int) -> _Tone:
    """Encode two seconds of a tone and find its shortest repeating cycle of frames."""
    count = SAMPLE_RATE * 2 // FRAME_SAMPLES * FRAME_SAMPLES
    samples = bytearray()
    for i in range(count):
        value = int(6000 * math.sin(2 * math.pi * step * (i % FRAME_SAMPLES) / FRAME_SAMPLES))
        samples += value.to_bytes(2, "little", signed=True)
    mp3 = pcm_to_mp3(bytes(samples), SAMPLE_RATE, BITRATE_KBPS)
    frames = [mp3[i : i + FRAME_BYTES] for i in range(0, len(mp3), FRAME_BYTES)]
    steady = frames[: len(frames) - 4]  # the last frames carry the encoder's flush
    for period in range(1, 9):
        for start in range(1, len(steady) - 3 * period):
            if all(steady[start + k] == steady[start + k + period] for k in range(2 * period)):
                return _Tone(prefix=frames[:start], cycle=b"".join(frames[start : start + period]))
    raise RuntimeError("fake engine: no repeating frame cycle in the tone encoding")


def _tone_step(text: str, voice: str) -> int:
    """Each voice has its own tones (so voices never give the same audio); the text picks one."""
    digest = hashlib.sha256(f"{voice}\0{text}".encode()).digest()
    per_voice = len(_TONE_STEPS) // len(_VOICES)
    slot = sorted(_VOICES).index(voice) if voice in _VOICES else digest[1] % len(_VOICES)  # stubs pass others
    return _TONE_STEPS[slot * per_voice + digest[0] % per_voice]


def fake_mp3(text: str, voice: str) -> bytes:
    """The stubs' MP3: 10 ms a character in whole frames (at least two)."""
    frames = max(_MIN_FRAMES, round(len(text) * MS_PER_CHAR * SAMPLE_RATE / 1000 / FRAME_SAMPLES))
    return _tone(_tone_step(text, voice)).frames(frames)


def fake_pcm(text: str, voice: str, speed: float = 1.0) -> bytes:
    """The fake engine's PCM: a tone of 10 ms a character / speed, with 5 ms fades at its ends."""
    count = max(1, round(len(text) * MS_PER_CHAR * SAMPLE_RATE / 1000 / speed))
    t = np.arange(count)
    wave = _AMPLITUDE * np.sin(2 * np.pi * _tone_step(text, voice) * t / FRAME_SAMPLES)
    fade = min(count // 2, int(_FADE_S * SAMPLE_RATE))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[count - fade:] *= ramp[::-1]
    return (wave * 32767).astype("<i2").tobytes()


class FakeEngine(Engine):
    name = "fake"
    max_chars = 3000
    parallel = 8

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._rng = random.Random()

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(id=v, name=n, language="en") for v, n in _VOICES.items()]

    def default_voice(self) -> str:
        return "fake-a"

    def params(self, voice: str | None = None, variant: str | None = None) -> AudioParams:
        voice = voice or self.default_voice()
        if voice not in _VOICES:
            raise UnknownVoice(f"fake has no voice {voice!r}")
        return AudioParams(
            engine=self.name, engine_version="fake-2", voice=voice,
            sample_rate=SAMPLE_RATE, bitrate_kbps=BITRATE_KBPS,
        )

    async def warm(self) -> None:
        """Build the tones (about 0.1 s of CPU) before the first request needs them."""
        await asyncio.to_thread(lambda: [_tone(step) for step in _TONE_STEPS])

    async def speak(self, text: str, params: AudioParams) -> Speech:
        return await with_retries(lambda: self.call_once(text, params), self._settings)

    async def call_once(self, text: str, params: AudioParams) -> Speech:
        """One simulated provider request, without retries."""
        await asyncio.sleep(self._settings.fake_latency_ms / 1000)
        if self._settings.fake_fail_hard:
            raise EngineError(self.name, "simulated permanent failure", code="provider_failed")
        if self._rng.random() < self._settings.fake_fail_rate:
            raise EngineError(self.name, "simulated throttling", retryable=True, code="throttled")
        return Speech(pcm=fake_pcm(text, params.voice, params.speed), sample_rate=SAMPLE_RATE,
                      billed_chars=len(text), tempo=params.speed)
