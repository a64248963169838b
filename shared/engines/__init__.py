"""Engine registry: which engines exist in this process, built once from Settings.

Modules are imported lazily so a process that never speaks with Polly does not import
aiobotocore, and one that never uses Piper does not load its model.
"""
from __future__ import annotations

from shared.config import Settings
from shared.engines.base import AudioParams, Engine, EngineError, Speech, UnknownEngine, UnknownVoice, VoiceInfo

__all__ = [
    "AudioParams",
    "Engine",
    "EngineError",
    "Speech",
    "UnknownEngine",
    "UnknownVoice",
    "VoiceInfo",
    "close_engines",
    "engine_names",
    "get_engine",
]

_engines: dict[str, Engine] = {}


def engine_names(settings: Settings) -> list[str]:
    """Engines usable with this configuration, the default first."""
    names = ["piper", "espeak"]
    if settings.polly_enabled:
        names.append("polly")
    if settings.elevenlabs_api_key:
        names.append("elevenlabs")
    if settings.fake_engine:
        names.append("fake")
    names.sort(key=lambda n: n != settings.default_engine)
    return names


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


def get_engine(name: str, settings: Settings) -> Engine:
    """The process-wide engine instance of that name; raises `UnknownEngine`."""
    if name not in engine_names(settings):
        raise UnknownEngine(name)
    engine = _engines.get(name)
    if engine is None:
        engine = _engines[name] = _build(name, settings)
    return engine


async def close_engines() -> None:
    for engine in list(_engines.values()):
        await engine.close()
    _engines.clear()
