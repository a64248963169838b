"""PCM to MP3 with lameenc: constant bit rate, mono, no ID3 tag and no Xing/Info frame.

Because lameenc writes bare MPEG frames, pieces encoded here join by plain concatenation.
"""
from __future__ import annotations

import lameenc

_QUALITY = 2  # LAME's "high quality" preset; 0-1 are much slower for no audible gain at 64 kbps


def pcm_to_mp3(pcm: bytes, sample_rate: int, bitrate_kbps: int = 64) -> bytes:
    """Encode 16-bit little-endian mono PCM.

    Empty input becomes a short silence, so every result is a decodable MP3.
    """
    if not pcm:
        pcm = bytes(2 * (sample_rate // 20))
    encoder = mono_encoder(sample_rate, bitrate_kbps)
    return bytes(encoder.encode(pcm) + encoder.flush())


def mono_encoder(sample_rate: int, bitrate_kbps: int = 64) -> lameenc.Encoder:
    """A lameenc encoder for 16-bit mono PCM at `sample_rate`, constant `bitrate_kbps`."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_out_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(_QUALITY)
    return encoder
