"""Captions and marks of a finished article: WebVTT, SRT and `marks.json`, from its cues."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.audio.rendered import Timing


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    text: str  # as written in the article
    spoken: str
    start: int  # character offsets in the cleaned text
    end: int
    chapter: int


def _clock(ms: int, sep: str) -> str:
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def _one_line(text: str) -> str:
    """Cue text on one line: no blank line (it would end the cue) and no `-->`."""
    return " ".join(text.split()).replace("-->", "->")


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: list[Cue]) -> str:
    blocks = ["WEBVTT"]
    for cue in cues:
        text = _vtt_escape(_one_line(cue.text)) or "…"
        blocks.append(f"{_clock(cue.start_ms, '.')} --> {_clock(cue.end_ms, '.')}\n{text}")
    return "\n\n".join(blocks) + "\n"


def to_srt(cues: list[Cue]) -> str:
    blocks = [
        f"{n}\n{_clock(cue.start_ms, ',')} --> {_clock(cue.end_ms, ',')}\n{_one_line(cue.text) or '…'}"
        for n, cue in enumerate(cues, 1)
    ]
    return "\n\n".join(blocks) + "\n"


def to_marks(cues: list[Cue], *, chapters: list[tuple[str, int]], timing: Timing, duration_ms: int,
             title: str) -> str:
    body: dict[str, Any] = {
        "title": title,
        "duration_ms": duration_ms,
        "timing": timing,
        "chapters": [{"title": t, "start_ms": ms} for t, ms in chapters],
        "sentences": [
            {"start_ms": c.start_ms, "end_ms": c.end_ms, "text": c.text, "spoken": c.spoken,
             "start": c.start, "end": c.end, "chapter": c.chapter} for c in cues
        ],
    }
    return json.dumps(body, ensure_ascii=False, indent=1)
