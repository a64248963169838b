"""eSpeak NG (the Debian `espeak-ng` binary): robotic but very fast, with about 100 languages.

Text goes in on stdin without `-m`, so markup is spoken as text, never interpreted as SSML.
One call per unit (a sentence of ours). The WAV it writes to stdout carries placeholder sizes
(it streams), so the PCM is taken as everything after the `data` chunk header.

Speed is espeak's `-s` (words per minute, 175 by default), picked from a measured curve: its
duration is close to, but not exactly, inversely proportional to `-s`.
"""
from __future__ import annotations

import asyncio
import functools
import shutil
import struct
import subprocess

from shared.config import Settings
from shared.engines.base import AudioParams, Engine, EngineError, Speech, UnknownVoice, VoiceInfo
from shared.engines.calibration import SpeedCurve

BITRATE_KBPS = 64
SAMPLE_RATE = 22_050  # what espeak-ng writes for every voice
# Speech duration (ends trimmed) against -s, relative to 175 (four prose sentences, en-us).
_SPEED_CURVE = SpeedCurve(
    controls=(80, 100, 120, 140, 175, 200, 220, 260, 300, 350, 400, 450),
    ratios=(2.004, 1.702, 1.434, 1.234, 1.0, 0.880, 0.806, 0.692, 0.610, 0.532, 0.467, 0.407),
)


@functools.cache
def _espeak_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    return out.split("Data at:")[0].strip()


@functools.cache
def _espeak_voices(binary: str) -> tuple[VoiceInfo, ...]:
    """Parse `espeak-ng --voices`: Pty, Language, Age/Gender, VoiceName, File, Other languages."""
    out = subprocess.run([binary, "--voices"], capture_output=True, text=True, check=True).stdout
    voices: dict[str, VoiceInfo] = {}
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 4 and cols[1] not in voices:
            voices[cols[1]] = VoiceInfo(id=cols[1], name=cols[3].replace("_", " "), language=cols[1])
    return tuple(voices.values())


@functools.cache
def _espeak_variants(binary: str) -> frozenset[str]:
    """Voice variants (`en-us+f3`: the file `!v/f3`), from `espeak-ng --voices=variant`."""
    out = subprocess.run([binary, "--voices=variant"], capture_output=True, text=True, check=True).stdout
    return frozenset(cols[4].removeprefix("!v/") for cols in map(str.split, out.splitlines()[1:]) if len(cols) >= 5)


def wav_to_pcm(wav: bytes) -> tuple[bytes, int]:
    """(16-bit mono PCM, sample rate) from espeak's streamed WAV."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise ValueError("not a WAV stream")
    pos, rate = 12, 0
    while pos + 8 <= len(wav):
        chunk, size = wav[pos : pos + 4], struct.unpack("<I", wav[pos + 4 : pos + 8])[0]
        if chunk == b"fmt ":
            channels, rate, _, _, bits = struct.unpack("<HIIHH", wav[pos + 10 : pos + 24])
            if channels != 1 or bits != 16:
                raise ValueError(f"expected 16-bit mono, got {bits}-bit with {channels} channels")
        elif chunk == b"data":
            return wav[pos + 8 :], rate
        pos += 8 + size
    raise ValueError("WAV stream has no data chunk")


def missing_binary() -> str | None:
    """Why espeak cannot run here, or None when the `espeak-ng` binary is on PATH."""
    if shutil.which("espeak-ng") is None:
        return "the espeak engine needs the espeak-ng binary on PATH (apt install espeak-ng)"
    return None


class EspeakEngine(Engine):
    name = "espeak"
    max_chars = 3000
    local = True
    parallel = 2

    def __init__(self, settings: Settings) -> None:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise FileNotFoundError(missing_binary())
        self._binary = binary

    def voices(self) -> list[VoiceInfo]:
        return list(_espeak_voices(self._binary))

    def default_voice(self) -> str:
        return "en-us"

    def params(self, voice: str | None = None, variant: str | None = None) -> AudioParams:
        voice = voice or self.default_voice()
        base, _, tone = voice.partition("+")  # a voice, or voice+variant such as en-us+f3
        if base not in {v.id for v in _espeak_voices(self._binary)} or (
                tone and tone not in _espeak_variants(self._binary)):
            raise UnknownVoice(f"espeak has no voice {voice!r}")
        return AudioParams(
            engine=self.name, engine_version=_espeak_version(self._binary), voice=voice,
            sample_rate=SAMPLE_RATE, bitrate_kbps=BITRATE_KBPS,
        )

    async def warm(self) -> None:
        """Ask espeak-ng for its voices and version off the event loop."""
        await asyncio.to_thread(lambda: (_espeak_voices(self._binary), _espeak_variants(self._binary),
                                         _espeak_version(self._binary)))

    async def speak(self, text: str, params: AudioParams) -> Speech:
        words_per_minute, reached = _SPEED_CURVE.control_for(1.0 / params.speed)
        proc = await asyncio.create_subprocess_exec(
            self._binary, "--stdout", "--stdin", "-b", "1", "-v", params.voice, "-s", str(round(words_per_minute)),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        wav, err = await proc.communicate(text.encode("utf-8"))
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip()
            raise EngineError(self.name, f"espeak-ng exited with {proc.returncode}: {message}",
                              code="provider_failed")
        try:
            pcm, rate = wav_to_pcm(wav)
        except ValueError as exc:
            raise EngineError(self.name, f"unreadable output: {exc}", code="provider_failed") from exc
        return Speech(pcm=pcm, sample_rate=rate, billed_chars=0, tempo=1.0 / reached)
