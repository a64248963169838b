"""A chunk's audio as the pipeline produces it and the store keeps it.

`mp3` is what streams to a listener while the job runs (bare frames, no ID3/Xing, so pieces
join by concatenation). `pcm` is the exact signal the MP3 encodes (speech plus the pauses its
sentences are owed, at the target loudness): the finished file is encoded once from the
chunks' PCM, so its duration is exact, and other output formats are encoded from it.
`sentences` gives each sentence's speech in milliseconds from the start of this chunk's PCM.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Literal

Timing = Literal["exact", "detected"]  # from per-sentence audio, or from silence detection
_HEADER = struct.Struct("<III")  # header length, mp3 length, pcm length


@dataclass(frozen=True)
class SentenceTiming:
    start_ms: int
    end_ms: int  # end of the speech, before the pause that follows it


@dataclass(frozen=True)
class RenderedChunk:
    mp3: bytes
    pcm: bytes  # int16 mono little-endian
    sample_rate: int
    sentences: tuple[SentenceTiming, ...]
    timing: Timing = "exact"

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.samples / self.sample_rate

    def meta(self) -> dict:
        """Everything but the audio, as JSON-ready data."""
        return {"sample_rate": self.sample_rate, "timing": self.timing,
                "sentences": [[s.start_ms, s.end_ms] for s in self.sentences]}

    def to_bytes(self) -> bytes:
        header = json.dumps(self.meta(), separators=(",", ":")).encode()
        return _HEADER.pack(len(header), len(self.mp3), len(self.pcm)) + header + self.mp3 + self.pcm

    @classmethod
    def from_bytes(cls, blob: bytes) -> RenderedChunk:
        n_header, n_mp3, n_pcm = _HEADER.unpack_from(blob)
        at = _HEADER.size
        meta = json.loads(blob[at:at + n_header])
        at += n_header
        mp3 = blob[at:at + n_mp3]
        pcm = blob[at + n_mp3:at + n_mp3 + n_pcm]
        if len(pcm) != n_pcm:
            raise ValueError("truncated chunk blob")
        return cls(mp3=mp3, pcm=pcm, sample_rate=meta["sample_rate"], timing=meta["timing"],
                   sentences=tuple(SentenceTiming(a, b) for a, b in meta["sentences"]))
