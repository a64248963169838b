"""The engine registry: which engines exist, which can run here, and one instance of each.

Engines are built lazily, so a process that never speaks with Polly does not import
aiobotocore, and one that never uses Piper does not load its model. An engine that cannot
run on this machine (no `espeak-ng` binary, no AWS credentials, no ElevenLabs key, a Piper
voice that is not there) is *unavailable*: listed with its reason, never offered, and asking
for it raises `EngineUnavailable` instead of crashing the process that asked.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings
from shared.engines.base import AudioParams, Engine, EngineError, Speech, UnknownEngine, UnknownVoice, VoiceInfo

__all__ = [
    "KNOWN_ENGINES",
    "AudioParams",
    "Engine",
    "EngineError",
    "EngineStatus",
    "EngineUnavailable",
    "Speech",
    "UnknownEngine",
    "UnknownVoice",
    "VoiceInfo",
    "close_engines",
    "engine_names",
    "engine_status",
    "engine_threads",
    "get_engine",
    "local_slots",
    "mark_unavailable",
]

KNOWN_ENGINES = ("piper", "espeak", "polly", "elevenlabs", "fake")


class EngineUnavailable(EngineError, UnknownEngine):
    """A known engine that cannot run here; `reason` says why. Never worth retrying."""

    def __init__(self, name: str, reason: str) -> None:
        EngineError.__init__(self, name, f"not available here: {reason}", code="engine_unavailable")
        self.reason = reason


@dataclass(frozen=True)
class EngineStatus:
    name: str
    available: bool
    reason: str = ""  # why not, when unavailable


_engines: dict[str, Engine] = {}
_problems: dict[str, str] = {}  # engines that failed to build, resolve or load in this process


def _config_problem(name: str, settings: Settings) -> str | None:
    """What the configuration or the machine lacks for this engine, checked without building it."""
    if name == "polly" and not settings.polly_enabled:
        return "no AWS credentials (set AWS_ACCESS_KEY_ID or AWS_PROFILE, or READOUT_POLLY_ENDPOINT_URL)"
    if name == "elevenlabs" and not settings.elevenlabs_api_key:
        return "ELEVENLABS_API_KEY is not set"
    if name == "fake" and not settings.fake_engine:
        return "the test engine is off (READOUT_FAKE_ENGINE=1 turns it on)"
    if name == "espeak":
        from shared.engines.espeak import missing_binary
        return missing_binary()
    return None


def _build(name: str, settings: Settings) -> Engine:
    if name == "piper":
        from shared.engines.piper import PiperEngine
        return PiperEngine(settings)
    if name == "espeak":
        from shared.engines.espeak import EspeakEngine
        return EspeakEngine(settings)
    if name == "polly":
        from shared.engines.polly import PollyEngine
        return PollyEngine(settings)
    if name == "elevenlabs":
        from shared.engines.elevenlabs import ElevenLabsEngine
        return ElevenLabsEngine(settings)
    if name == "fake":
        from shared.engines.fake import FakeEngine
        return FakeEngine(settings)
    raise UnknownEngine(name)


def _problem(name: str, settings: Settings) -> str | None:
    """None when the engine can run here (building it on first use), else the reason it cannot."""
    if name not in KNOWN_ENGINES:
        raise UnknownEngine(name)
    problem = _config_problem(name, settings) or _problems.get(name)
    if problem is None and name not in _engines:
        try:
            _engines[name] = _build(name, settings)
        except Exception as exc:  # a missing file or package, a bad setting, a broken voice: not offered
            problem = _problems[name] = f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
    return problem


def engine_status(settings: Settings) -> list[EngineStatus]:
    """Every known engine, the default first, each with whether it can run here and why not."""
    names = sorted(KNOWN_ENGINES, key=lambda n: n != settings.default_engine)
    statuses = []
    for name in names:
        problem = _problem(name, settings)
        statuses.append(EngineStatus(name=name, available=problem is None, reason=problem or ""))
    return statuses


def engine_names(settings: Settings) -> list[str]:
    """Engines usable here, the default first."""
    return [s.name for s in engine_status(settings) if s.available]


def get_engine(name: str, settings: Settings) -> Engine:
    """The process-wide engine instance of that name.

    Raises `UnknownEngine` for a name that is no engine, `EngineUnavailable` (which is both
    an `UnknownEngine` and a non-retryable `EngineError`) for one that cannot run here.
    """
    problem = _problem(name, settings)
    if problem is not None:
        raise EngineUnavailable(name, problem)
    return _engines[name]


def engine_threads(name: str, settings: Settings) -> int:
    """CPU threads one worker keeps busy with this engine: Piper's fixed onnxruntime threads
    per synthesis process; 1 (the worker's own event loop) for every other engine."""
    if name == "piper":
        from shared.engines.piper import _ONNX_THREADS  # fixed for determinism, see piper.py
        return _ONNX_THREADS * max(1, settings.piper_processes)
    return 1


def local_slots(name: str, settings: Settings) -> int | None:
    """Chunks one worker can synthesize at once with this local (CPU) engine; None for a
    network engine, whose calls mostly wait and overlap freely."""
    if name == "piper":
        return max(1, settings.piper_processes)
    if name == "espeak":
        return 1
    return None


def mark_unavailable(name: str, reason: str) -> None:
    """Take an engine out of service in this process (it failed to resolve or load)."""
    _problems[name] = reason
    _engines.pop(name, None)


async def close_engines() -> None:
    """Close every engine and forget what this process learnt about them."""
    for engine in list(_engines.values()):
        await engine.close()
    _engines.clear()
    _problems.clear()
