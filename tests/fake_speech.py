"""What the fake engine's audio of an article must be, computed from the pipeline's own plan."""
from __future__ import annotations

import asyncio

from shared.audio.render import RenderSettings, render_chunk
from shared.config import Settings
from shared.engines.fake import FakeEngine
from shared.text import clean_document
from worker.tasks import split_for_engine


def planned_chunks(text: str, settings: Settings | None = None, fmt: str = "text") -> list:
    return split_for_engine(clean_document(text, fmt), settings or Settings(), FakeEngine.max_chars)


def expected_seconds(text: str, settings: Settings | None = None) -> float:
    """10 ms a spoken character, the silence kept at each unit's ends, the pause each is owed."""
    render = RenderSettings()
    return sum(
        len(s.spoken) / 100 + (render.lead_ms + render.tail_ms + render.pauses.after(s.boundary)) / 1000
        for chunk in planned_chunks(text, settings) for s in chunk
    )


def expected_mp3(text: str, voice: str) -> bytes:
    """The finished MP3 of a job of `text` with the fake engine: its chunks rendered here, joined."""
    engine = FakeEngine(Settings(fake_engine=True, fake_latency_ms=0))
    params = engine.params(voice)

    async def render() -> bytes:
        chunks = [await render_chunk(engine, c, params, RenderSettings()) for c in planned_chunks(text)]
        return b"".join(c.mp3 for c in chunks)

    return asyncio.run(render())
