"""The Xing/Info frame with the LAME extension, for a file of constant-bit-rate MPEG frames.

Players read it to show the exact duration, to seek, and to trim the encoder's priming
samples (`delay`) and the flush padding at the end (`padding`), so the decoded length is the
PCM that went in. Layout (the LAME tag spec, rev 1): a silent frame whose side info is zero,
then `Info`, flags, frame count, byte count, a 100-entry TOC, a quality word, and 36 bytes of
LAME extension ending with a CRC-16 of every byte of the frame before it.
"""
from __future__ import annotations

import struct

from shared.audio.mp3 import _BITRATES_KBPS, _SAMPLE_RATES, FrameHeader

ENCODER = b"LAME3.100"  # 9 bytes: players key the delay/padding fields on a "LAME" prefix
LAME_DELAY = 576  # lameenc's encoder delay in samples (decoders add their own 529)
_VERSION_BITS = {"MPEG-1": 3, "MPEG-2": 2, "MPEG-2.5": 0}
_MIN_FRAME = 192  # the longest layout (MPEG-1 stereo) ends its LAME tag at byte 192


def _crc16(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0), as LAME computes its tag CRC."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _frame_header(template: FrameHeader) -> tuple[bytes, int]:
    """A header like the audio's (version, rate, mode) at a bit rate whose frame can hold the tag."""
    version = _VERSION_BITS[template.version]
    rate_index = _SAMPLE_RATES[version].index(template.sample_rate)
    coefficient = 144 if version == 3 else 72
    rates = _BITRATES_KBPS[version]
    for index in range(rates.index(template.bitrate_kbps), len(rates)):
        length = coefficient * rates[index] * 1000 // template.sample_rate
        if length >= _MIN_FRAME:
            break
    else:
        raise ValueError("no bit rate gives a frame large enough for the LAME tag")
    b1 = 0xE0 | (version << 3) | (1 << 1) | 1  # layer III, no CRC
    b2 = (index << 4) | (rate_index << 2)  # no padding, private bit 0
    b3 = (3 << 6) if template.mono else 0  # channel mode: mono or stereo
    return bytes([0xFF, b1, b2, b3]), length


def info_frame(template: FrameHeader, *, frames: int, audio_bytes: int, samples: int,
               bitrate_kbps: int, delay: int = LAME_DELAY) -> bytes:
    """The Info frame to put before `frames` audio frames (`audio_bytes` long) encoding `samples` PCM samples."""
    header, length = _frame_header(template)
    padding = frames * template.samples - delay - samples
    if not 0 <= padding < 4096 or not 0 <= delay < 4096:
        raise ValueError(f"delay {delay} / padding {padding} do not fit the LAME tag's 12-bit fields")
    side_info = (17 if template.mono else 32) if template.version == "MPEG-1" else (9 if template.mono else 17)
    total = length + audio_bytes
    toc = bytes(min(255, i * 256 // 100) for i in range(100))  # CBR: byte offset grows linearly
    body = b"Info" + struct.pack(">III", 0x0F, frames, total) + toc + struct.pack(">I", 100)
    lame = bytearray(ENCODER)
    lame += bytes([(0 << 4) | 1])  # tag revision 0, VBR method 1 = constant bit rate
    lame += bytes([0])  # lowpass unknown
    lame += bytes(8)  # replay gain: peak and two gain fields unset
    lame += bytes([0])  # encoding flags, ATH type
    lame += bytes([min(255, bitrate_kbps)])
    lame += ((delay << 12) | padding).to_bytes(3, "big")
    lame += bytes(4)  # misc, MP3 gain, preset and surround
    lame += struct.pack(">I", total) + bytes(2)  # music length; music CRC left 0 (optional)
    frame = header + bytes(side_info) + body + bytes(lame)
    frame += struct.pack(">H", _crc16(frame))  # tag CRC: every byte of the frame before it
    return frame + bytes(length - len(frame))
