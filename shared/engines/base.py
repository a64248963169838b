"""The small interface every speech engine implements, and the errors engines raise."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


class EngineError(Exception):
    """A provider call failed. `retryable` says whether trying again may succeed."""

    def __init__(self, engine: str, message: str, *, retryable: bool = False, code: str = "provider_error"):
        super().__init__(f"{engine}: {message}")
        self.engine = engine
        self.retryable = retryable
        self.code = code
        self.attempts = 1  # requests the provider saw before this error (set by the retry loop)


class UnknownEngine(LookupError):
    """No engine of that name is registered (or it is not configured)."""


class UnknownVoice(LookupError):
    """The engine has no voice of that name."""


@dataclass(frozen=True)
class AudioParams:
    """Everything that changes the audio of a chunk; the cache key hashes all of it.

    `extra` holds engine-specific settings as sorted (name, value) pairs, e.g. an
    ElevenLabs model id or the neighbouring text used for request stitching. `speed` is the
    job's speaking rate (0.5-2.0): the engine applies what its own control can, the renderer
    time-stretches the rest (see `Speech.tempo`).
    """

    engine: str
    engine_version: str
    voice: str
    variant: str = ""
    region: str = ""
    format: str = "mp3"
    sample_rate: int = 22050
    bitrate_kbps: int = 64
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    speed: float = 1.0


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    language: str = ""


@dataclass(frozen=True)
class Speech:
    """One spoken unit: 16-bit mono little-endian PCM, the characters billed, the requests it took.

    `tempo` is the speed factor the engine has already applied (`params.speed` when its own
    control reached it, 1.0 when it has none); the renderer time-stretches by speed / tempo.
    """

    pcm: bytes
    sample_rate: int
    billed_chars: int
    attempts: int = 1
    tempo: float = 1.0


class Engine(ABC):
    """Speaks one unit of text (a sentence or a clause, at most `max_chars` code points) as PCM.

    The text is exactly what the engine must say, final punctuation included: an engine never
    splits it again into sentences. Silence at the ends, loudness, pauses between units and
    encoding are the renderer's (`shared.audio.render`), the same for every engine.

    Implementations must not block the event loop, must be deterministic for the same
    (text, params), and raise `EngineError` for provider failures.
    """

    name: str
    max_chars: int
    # True for engines that run on this machine's CPU: chunks compete for the same cores, so
    # the article job speaks chunk 0 before fanning out the rest (first audio sooner).
    local: bool = False
    # How many of one chunk's units the renderer may have in flight at once.
    parallel: int = 4

    @abstractmethod
    def voices(self) -> list[VoiceInfo]: ...

    @abstractmethod
    def default_voice(self) -> str: ...

    @abstractmethod
    def params(self, voice: str | None = None, variant: str | None = None) -> AudioParams:
        """Validate the voice (raise `UnknownVoice`) and return the full audio identity."""

    @abstractmethod
    async def speak(self, text: str, params: AudioParams) -> Speech:
        """The audio of exactly `text` (one unit), at `params.speed` as far as the engine can."""

    async def warm(self) -> None:
        """Load models ahead of the first request (a worker calls this at start-up)."""

    async def close(self) -> None:
        """Release clients, pools and models."""
