"""The cache key: stable for equal input, different for any change of text or audio parameter."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from shared.audio.render import PauseTable, RenderSettings
from shared.audio.rendered import RenderedChunk, SentenceTiming
from shared.config import load_settings
from shared.engines.base import AudioParams
from shared.store import open_storage
from shared.store.cache import ChunkCache, cache_key, chunk_text
from shared.text.document import Sentence

BASE = AudioParams(
    engine="polly", engine_version="2024-01", voice="Joanna", variant="standard", region="us-east-1",
    format="mp3", sample_rate=22050, bitrate_kbps=64, extra=(("lexicon", "none"),),
)
TEXT = "Among the numerous advantages promised by a well-constructed Union..."

CHANGED = {
    "engine": "elevenlabs",
    "engine_version": "2024-02",
    "voice": "Matthew",
    "variant": "neural",
    "region": "eu-west-1",
    "format": "ogg",
    "sample_rate": 24000,
    "bitrate_kbps": 48,
    "extra": (("lexicon", "custom"),),
    "speed": 1.25,
}
RENDER_CHANGED = {
    "pauses": PauseTable(paragraph=900),
    "loudness_lufs": -16.0,
    "peak_dbtp": -2.0,
    "lead_ms": 10,
    "tail_ms": 60,
    "normalizer": "another version",
}


def test_every_audio_param_is_covered_by_this_test() -> None:
    assert set(CHANGED) == {f.name for f in dataclasses.fields(AudioParams)}


def test_every_render_setting_is_covered_by_this_test() -> None:
    assert set(RENDER_CHANGED) == {f.name for f in dataclasses.fields(RenderSettings)}


@pytest.mark.parametrize("field", sorted(RENDER_CHANGED))
def test_key_changes_with_each_render_setting(field: str) -> None:
    changed = dataclasses.replace(RenderSettings(), **{field: RENDER_CHANGED[field]})
    assert cache_key(TEXT, BASE, changed) != cache_key(TEXT, BASE, RenderSettings())


def test_key_changes_with_one_pause_of_the_table() -> None:
    for name in (f.name for f in dataclasses.fields(PauseTable)):
        table = dataclasses.replace(PauseTable(), **{name: PauseTable().after(name) + 1})  # type: ignore[arg-type]
        assert cache_key(TEXT, BASE, RenderSettings(pauses=table)) != cache_key(TEXT, BASE, RenderSettings())


def test_chunk_text_holds_spoken_forms_and_boundaries() -> None:
    one = Sentence(0, 4, "Dr. X", "Doctor X.", "sentence", -1)
    assert chunk_text([one]) == '[["Doctor X.","sentence"]]'
    other = dataclasses.replace(one, boundary="paragraph")
    assert cache_key(chunk_text([one]), BASE) != cache_key(chunk_text([other]), BASE)
    respoken = dataclasses.replace(one, spoken="Drive X.")
    assert cache_key(chunk_text([one]), BASE) != cache_key(chunk_text([respoken]), BASE)


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_key_changes_with_each_param(field: str) -> None:
    changed = dataclasses.replace(BASE, **{field: CHANGED[field]})
    assert cache_key(TEXT, changed) != cache_key(TEXT, BASE)


def test_key_is_stable_for_equal_input() -> None:
    twin = AudioParams(**{f.name: getattr(BASE, f.name) for f in dataclasses.fields(BASE)})
    assert cache_key(TEXT, twin) == cache_key(TEXT, BASE)
    assert re.fullmatch(r"v2-[0-9a-f]{64}", cache_key(TEXT, BASE))


@pytest.mark.parametrize("other", [
    TEXT + " ",
    TEXT.upper(),
    "Cafe\u0301",  # decomposed é: not normalised, a different text
    "",
])
def test_key_changes_with_the_text(other: str) -> None:
    assert cache_key(other, BASE) != cache_key(TEXT, BASE)


def test_nfc_and_nfd_are_different_keys() -> None:
    assert cache_key("Caf\u00e9", BASE) != cache_key("Cafe\u0301", BASE)


def test_extra_entries_do_not_collide_with_text_or_each_other() -> None:
    a = dataclasses.replace(BASE, extra=(("next", "a,b"),))
    b = dataclasses.replace(BASE, extra=(("next", "a"), ("b", "")))
    assert cache_key(TEXT, a) != cache_key(TEXT, b)


def test_joanna_standard_vs_matthew_neural_is_a_miss() -> None:
    joanna = dataclasses.replace(BASE, voice="Joanna", variant="standard")
    matthew = dataclasses.replace(BASE, voice="Matthew", variant="neural")
    assert cache_key(TEXT, joanna) != cache_key(TEXT, matthew)


async def test_chunk_cache_roundtrip(storage_env: dict[str, str], tmp_path: Path) -> None:
    """One object per chunk in the storage (both backends): RenderedChunk in, the same out; mp3() alone."""
    storage = open_storage(load_settings({**storage_env, "READOUT_DATA_DIR": str(tmp_path)}))
    cache = ChunkCache(storage)
    key = cache_key(TEXT, BASE)
    assert await cache.get(key) is None and not await cache.exists(key) and await cache.mp3(key) is None
    for mp3_len in (300, 200_000):  # short (one head read) and long (a second range read)
        chunk = RenderedChunk(mp3=bytes(range(256)) * (mp3_len // 256) + b"\xff" * (mp3_len % 256), pcm=b"\x01\x02" * 5000,
                              sample_rate=22050, sentences=(SentenceTiming(0, 120), SentenceTiming(300, 450)))
        await cache.put(key, chunk)
        assert await cache.get(key) == chunk and await cache.exists(key)
        assert await cache.mp3(key) == chunk.mp3
    assert [i.key async for i in storage.iter("chunks/")] == [f"chunks/{key}"]
    other = cache_key(TEXT, dataclasses.replace(BASE, voice="Matthew", variant="neural"))
    assert await cache.get(other) is None
    await storage.put(f"chunks/{other}", b"damaged")
    assert await cache.get(other) is None  # a damaged object is a miss, made again
    await storage.close()
