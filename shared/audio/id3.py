"""The finished article's ID3v2.4 tag (mutagen): title, author, length and chapters.

One `CHAP` frame per heading (its title in a `TIT2` sub-frame, start and end in ms) and one
top-level, ordered `CTOC` listing them, so players and ffprobe show the article's sections.
The `CHAP` frames are stored in chapter order: mutagen sorts frames by size, and ffmpeg
(5.1) lists chapters in the order of their frames, ignoring the `CTOC`.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from mutagen.id3 import CHAP, CTOC, ID3, TIT2, TLEN, TPE1, TSSE, CTOCFlags

_HEADER = 10  # tag header and frame header, in ID3v2.4 both 10 bytes


@dataclass(frozen=True)
class Chapter:
    title: str
    start_ms: int
    end_ms: int


def id3_tag(*, title: str, author: str | None, duration_ms: int, chapters: list[Chapter]) -> bytes:
    """The tag's bytes, to go first in the file."""
    tag = ID3()
    tag.add(TIT2(encoding=3, text=[title]))
    if author:
        tag.add(TPE1(encoding=3, text=[author]))
    tag.add(TLEN(encoding=3, text=[str(duration_ms)]))
    tag.add(TSSE(encoding=3, text=["Readout (LAME via lameenc)"]))
    ids = [f"chp{i}" for i in range(len(chapters))]
    for element_id, chapter in zip(ids, chapters, strict=True):
        tag.add(CHAP(element_id=element_id, start_time=chapter.start_ms, end_time=chapter.end_ms,
                     sub_frames=[TIT2(encoding=3, text=[chapter.title])]))
    if chapters:
        tag.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids,
                     sub_frames=[TIT2(encoding=3, text=["Chapters"])]))
    out = io.BytesIO()
    tag.save(out, v2_version=4, padding=lambda _info: 0)
    return _chapters_in_order(out.getvalue(), ids)


def _syncsafe(data: bytes) -> int:
    return (data[0] << 21) | (data[1] << 14) | (data[2] << 7) | data[3]


def _chapters_in_order(tag: bytes, ids: list[str]) -> bytes:
    """The same tag with its `CHAP` frames moved, in the order of `ids`, to where the first one was."""
    frames: list[bytes] = []
    at = _HEADER
    while at + _HEADER <= len(tag) and tag[at:at + 4] != b"\0\0\0\0":
        end = at + _HEADER + _syncsafe(tag[at + 4:at + 8])
        frames.append(tag[at:end])
        at = end
    chaps = {f[_HEADER:f.index(b"\0", _HEADER)].decode("latin-1"): f for f in frames if f[:4] == b"CHAP"}
    if not chaps:
        return tag
    first = next(i for i, f in enumerate(frames) if f[:4] == b"CHAP")
    rest = [f for f in frames if f[:4] != b"CHAP"]
    ordered = rest[:first] + [chaps[i] for i in ids] + rest[first:]
    return tag[:_HEADER] + b"".join(ordered) + tag[at:]
