"""Compressed audio (a provider's MP3) to 16-bit mono PCM at a chosen rate, with PyAV."""
from __future__ import annotations

import io

import av


def decode_to_pcm(data: bytes, sample_rate: int) -> bytes:
    """Every sample of `data`, resampled to `sample_rate` mono int16 little-endian.

    Raises ValueError when `data` is not decodable audio.
    """
    try:
        return _decode(data, sample_rate)
    except (av.FFmpegError, IndexError) as exc:  # IndexError: no audio stream
        raise ValueError(f"undecodable audio: {exc}") from exc


def _decode(data: bytes, sample_rate: int) -> bytes:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    out = bytearray()
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(audio=0):
            for piece in resampler.resample(frame):
                out += bytes(piece.planes[0])[: piece.samples * 2]
    for piece in resampler.resample(None):
        out += bytes(piece.planes[0])[: piece.samples * 2]
    return bytes(out)
