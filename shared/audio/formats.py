"""Streaming encoders for the download formats, in memory with PyAV (FFmpeg's libraries).

`StreamEncoder(fmt, source_rate)` takes 16-bit mono PCM at the engine's rate, resamples it
to the format's rate and hands back whatever encoded bytes the muxer has written so far, so
a response can go out as the chunks land. Nothing touches the disk: the muxer writes into a
non-seekable in-memory sink, which also means the containers are written the streaming way:
- `wav`: the RIFF and data sizes are 0xFFFFFFFF ("unknown length", as OpenAI's stream does);
  players read to the end of the data.
- `flac`: the STREAMINFO block carries no total sample count and no MD5 (both need a seek).
- `opus`: Ogg Opus at 48 kHz; `aac`: AAC-LC in ADTS frames; `pcm`: raw s16le, no header.
All formats are mono; every rate but Opus's is 24 kHz, the rate OpenAI documents for `pcm`.
ADTS cannot say how much of the start is encoder priming, so AAC (and MP3 re-encoded here)
decodes up to about 85 ms (priming plus the last frame's padding) longer than its input.
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import av.audio.resampler


@dataclass(frozen=True)
class Format:
    name: str
    content_type: str
    container: str  # FFmpeg muxer
    codec: str  # FFmpeg encoder
    sample_rate: int
    bit_rate: int | None = None  # lossy codecs only


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("mp3", "audio/mpeg", "mp3", "libmp3lame", 24_000, 64_000),
    Format("opus", "audio/ogg", "ogg", "libopus", 48_000, 48_000),
    Format("aac", "audio/aac", "adts", "aac", 24_000, 64_000),
    Format("flac", "audio/flac", "flac", "flac", 24_000),
    Format("wav", "audio/wav", "wav", "pcm_s16le", 24_000),
    Format("pcm", "audio/pcm", "s16le", "pcm_s16le", 24_000),
)}


class UnsupportedFormat(ValueError):
    """No encoder of that name."""


class _Sink:
    """A write-only, non-seekable file for the muxer; `take()` empties it."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class StreamEncoder:
    """Feed int16 mono PCM with `feed`, end with `finish`; each returns the bytes ready so far."""

    def __init__(self, fmt: str, source_rate: int) -> None:
        if fmt not in FORMATS:
            raise UnsupportedFormat(fmt)
        self.format = FORMATS[fmt]
        self.source_rate = source_rate
        self._sink = _Sink()
        self._container = av.open(self._sink, mode="w", format=self.format.container)
        self._container.flags |= 0x0400  # AVFMT_FLAG_BITEXACT: no encoder-version tags, same bytes every run
        stream = self._container.add_stream(self.format.codec, rate=self.format.sample_rate, layout="mono")
        if self.format.bit_rate:
            stream.bit_rate = self.format.bit_rate
        self._stream = stream
        self._resampler = av.audio.resampler.AudioResampler(format=stream.format.name, layout="mono",
                                                            rate=self.format.sample_rate)
        self._pts = 0

    @property
    def content_type(self) -> str:
        return self.format.content_type

    def _encode(self, frame: av.AudioFrame | None) -> None:
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def feed(self, pcm: bytes) -> bytes:
        if len(pcm) < 2:
            return self._sink.take()
        samples = len(pcm) // 2
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(pcm[: 2 * samples])
        frame.sample_rate = self.source_rate
        frame.pts = self._pts
        self._pts += samples
        for resampled in self._resampler.resample(frame):
            self._encode(resampled)
        return self._sink.take()

    def finish(self) -> bytes:
        """Flush the resampler, the encoder and the muxer; the encoder is closed after this."""
        for resampled in self._resampler.resample(None):
            self._encode(resampled)
        self._encode(None)
        self._container.close()
        return self._sink.take()

