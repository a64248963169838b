"""MPEG audio Layer III frames: parse headers, strip tags and VBR header frames, join pieces.

Pieces join at the frame level without re-encoding. Each piece loses its ID3v2 tag, its
trailing ID3v1/APE tags and its Xing/Info/VBRI header frame (ffmpeg and Polly write one;
a stale one tells players the whole file is as long as its first piece). Every piece
produced by an encoder starts with a frame that needs no bit reservoir from before it,
so the joined frames decode cleanly; the cost is each piece's encoder delay/padding
(a few ms) staying in, since the header that told decoders to trim it is gone.
"""
from __future__ import annotations

from dataclasses import dataclass

_MPEG1, _MPEG2, _MPEG25 = 3, 2, 0  # the version field's values
_BITRATES_KBPS = {
    _MPEG1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    _MPEG2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_BITRATES_KBPS[_MPEG25] = _BITRATES_KBPS[_MPEG2]
_SAMPLE_RATES = {_MPEG1: (44100, 48000, 32000), _MPEG2: (22050, 24000, 16000), _MPEG25: (11025, 12000, 8000)}
_VERSION_NAMES = {_MPEG1: "MPEG-1", _MPEG2: "MPEG-2", _MPEG25: "MPEG-2.5"}


@dataclass(frozen=True)
class FrameHeader:
    version: str  # "MPEG-1", "MPEG-2" or "MPEG-2.5"
    bitrate_kbps: int
    sample_rate: int
    padding: bool
    crc: bool
    mono: bool
    length: int  # bytes, header included
    samples: int  # per channel: 1152 (MPEG-1) or 576


def _decode(b1: int, b2: int) -> tuple[int, int, int, int] | None:
    """(version, bitrate kbps, sample rate, frame length) from header bytes 1 and 2, if Layer III."""
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if (b1 & 0xE0) != 0xE0 or version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # free-format bit rate (index 0) is not supported
    bitrate = _BITRATES_KBPS[version][bitrate_index]
    rate = _SAMPLE_RATES[version][rate_index]
    coefficient = 144 if version == _MPEG1 else 72
    return version, bitrate, rate, coefficient * bitrate * 1000 // rate + padding


# (byte1 & 0x1F) << 8 | byte2  ->  (frame length, samples per frame, sample rate), or None
_TABLE: list[tuple[int, int, int] | None] = [None] * (32 << 8)
for _b1 in range(0xE0, 0x100):
    for _b2 in range(256):
        _info = _decode(_b1, _b2)
        if _info is not None:
            _TABLE[((_b1 & 0x1F) << 8) | _b2] = (_info[3], 1152 if _info[0] == _MPEG1 else 576, _info[2])


def parse_header(data: bytes, offset: int = 0) -> FrameHeader | None:
    """The Layer III frame header at `offset`, or None if there is none."""
    if offset + 4 > len(data) or data[offset] != 0xFF:
        return None
    b1, b2, b3 = data[offset + 1], data[offset + 2], data[offset + 3]
    info = _decode(b1, b2)
    if info is None:
        return None
    version, bitrate, rate, length = info
    return FrameHeader(
        version=_VERSION_NAMES[version], bitrate_kbps=bitrate, sample_rate=rate,
        padding=bool(b2 & 2), crc=not b1 & 1, mono=(b3 >> 6) == 3, length=length,
        samples=1152 if version == _MPEG1 else 576,
    )


def _find_frame(data: bytes, start: int, end: int) -> int:
    """Offset of the first frame header in data[start:end] whose successor (if any) is a header too."""
    pos = data.find(b"\xff", start, end)
    while pos != -1 and pos + 4 <= end:
        info = _TABLE[((data[pos + 1] & 0x1F) << 8) | data[pos + 2]] if data[pos + 1] >= 0xE0 else None
        if info is not None:
            after = pos + info[0]
            if after + 2 > end or (data[after] == 0xFF and data[after + 1] >= 0xE0):
                return pos
        pos = data.find(b"\xff", pos + 1, end)
    return -1


def _id3v2_end(data: bytes) -> int:
    pos = 0
    while data[pos : pos + 3] == b"ID3" and len(data) >= pos + 10:
        size = (data[pos + 6] << 21) | (data[pos + 7] << 14) | (data[pos + 8] << 7) | data[pos + 9]
        pos += 10 + size + (10 if data[pos + 5] & 0x10 else 0)  # footer flag
    return pos


def _trailer_start(data: bytes, start: int) -> int:
    """Where trailing ID3v1 and APE tags begin."""
    end = len(data)
    if end - start >= 128 and data[end - 128 : end - 125] == b"TAG":
        end -= 128
    if end - start >= 32 and data[end - 32 : end - 24] == b"APETAGEX":
        size = int.from_bytes(data[end - 20 : end - 16], "little")
        flags = int.from_bytes(data[end - 12 : end - 8], "little")
        end = max(start, end - size - (32 if flags & 0x8000_0000 else 0))
    return end


def is_vbr_header_frame(data: bytes, offset: int, header: FrameHeader) -> bool:
    """A Xing/Info (LAME, ffmpeg) or VBRI (Fraunhofer) header frame: metadata, not audio."""
    side_info = (17 if header.mono else 32) if header.version == "MPEG-1" else (9 if header.mono else 17)
    xing = offset + 4 + side_info
    for at in (xing, xing + 2) if header.crc else (xing,):
        if data[at : at + 4] in (b"Xing", b"Info"):
            return True
    return data[offset + 36 : offset + 40] == b"VBRI"


def _audio_span(data: bytes) -> tuple[int, int, FrameHeader | None]:
    """(start, end, first audio frame's header) of the audio frames, tags and VBR header frame excluded."""
    start = _id3v2_end(data)
    end = _trailer_start(data, start)
    first = _find_frame(data, start, end)
    if first == -1:
        return end, end, None
    header = parse_header(data, first)
    if header is not None and is_vbr_header_frame(data, first, header):
        first = _find_frame(data, first + header.length, end)
        if first == -1:
            return end, end, None
        header = parse_header(data, first)
    return first, end, header


def strip_headers(data: bytes) -> bytes:
    """The audio frames alone: no ID3v2/ID3v1/APE tag, no Xing/Info/VBRI frame, no junk before the first frame."""
    start, end, _ = _audio_span(data)
    return data[start:end]


def join(pieces: list[bytes]) -> bytes:
    """One MP3 stream of the pieces' audio frames, in order (no re-encoding).

    Raises ValueError for a piece without MPEG frames, or pieces whose version, sample
    rate or channel count differ (players cannot switch those mid-stream).
    """
    spans: list[tuple[bytes, int, int]] = []
    first: FrameHeader | None = None
    for index, piece in enumerate(pieces):
        start, end, header = _audio_span(piece)
        if header is None:
            raise ValueError(f"piece {index} holds no MPEG Layer III frames")
        if first is None:
            first = header
        elif (header.version, header.sample_rate, header.mono) != (first.version, first.sample_rate, first.mono):
            raise ValueError(
                f"piece {index} is {header.version} {header.sample_rate} Hz {'mono' if header.mono else 'stereo'}, "
                f"piece 0 is {first.version} {first.sample_rate} Hz {'mono' if first.mono else 'stereo'}"
            )
        spans.append((piece, start, end))
    return b"".join(memoryview(p)[start:end] for p, start, end in spans)


def duration_seconds(data: bytes) -> float:
    """Playing time of the audio frames (tags and VBR header frame excluded)."""
    start, end, _ = _audio_span(data)
    table = _TABLE
    seconds = 0.0
    pos = start
    while pos + 4 <= end:
        info = table[((data[pos + 1] & 0x1F) << 8) | data[pos + 2]] if data[pos] == 0xFF and data[pos + 1] >= 0xE0 else None
        if info is None:  # junk inside the stream: resynchronise on the next frame
            pos = _find_frame(data, pos + 1, end)
            if pos == -1:
                break
            continue
        length, samples, rate = info
        if pos + length > end:  # a truncated last frame
            break
        seconds += samples / rate
        pos += length
    return seconds
