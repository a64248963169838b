"""Frame-level MP3 joins: ffmpeg decodes the result without a complaint and ffprobe's duration
is the sum of the pieces, including pieces that carry ID3 tags and Xing/Info header frames."""
from __future__ import annotations

import math
import subprocess
from pathlib import Path

import miniaudio
import pytest

from shared.audio import mp3
from shared.audio.encode import pcm_to_mp3


def tone_pcm(seconds: float, rate: int, hz: float) -> bytes:
    n = int(seconds * rate)
    return b"".join(int(8000 * math.sin(2 * math.pi * hz * i / rate)).to_bytes(2, "little", signed=True) for i in range(n))


def lame_piece(seconds: float, rate: int = 22050, hz: float = 440.0, kbps: int = 64) -> bytes:
    return pcm_to_mp3(tone_pcm(seconds, rate, hz), rate, kbps)


def ffmpeg_piece(tmp: Path, seconds: float, hz: int, rate: int, channels: int, *extra: str) -> bytes:
    """An ffmpeg-made MP3: ID3v2 tag, then a LAME Info frame, then audio (plus `extra` options)."""
    out = tmp / f"piece-{hz}-{seconds}-{rate}-{channels}.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency={hz}:duration={seconds}",
         "-ar", str(rate), "-ac", str(channels), "-b:a", "64k", *extra, str(out)],
        check=True,
    )
    return out.read_bytes()


def decode_errors(path: Path) -> str:
    """ffmpeg's complaints while decoding the whole file ("" for a clean file)."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], check=False, capture_output=True, text=True
    )
    return done.stdout + done.stderr + ("" if done.returncode == 0 else f"exit status {done.returncode}")


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    return float(out)


def decoded_seconds(path: Path) -> float:
    decoded = miniaudio.decode_file(str(path))
    return decoded.num_frames / decoded.sample_rate


def write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def frame_seconds(rate: int) -> float:
    return (1152 if rate >= 32000 else 576) / rate


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "kbps", "version", "samples"), [
    (44100, 128, "MPEG-1", 1152),
    (22050, 64, "MPEG-2", 576),
    (8000, 32, "MPEG-2.5", 576),
])
def test_parse_header_of_lame_frames(rate: int, kbps: int, version: str, samples: int) -> None:
    data = lame_piece(0.5, rate, kbps=kbps)
    header = mp3.parse_header(data)
    assert header is not None
    assert (header.version, header.sample_rate, header.bitrate_kbps, header.samples, header.mono) == (
        version, rate, kbps, samples, True)
    coefficient = 144 if version == "MPEG-1" else 72
    assert header.length == coefficient * kbps * 1000 // rate + header.padding
    following = mp3.parse_header(data, header.length)
    assert following is not None and following.sample_rate == rate


def test_parse_header_rejects_non_frames() -> None:
    assert mp3.parse_header(b"ID3\x04\x00\x00\x00\x00\x00\x00") is None
    assert mp3.parse_header(b"\xff\xfb") is None  # too short
    assert mp3.parse_header(b"\xff\xfd\x90\xc4") is None  # layer II
    assert mp3.parse_header(b"\xff\xfb\xf0\xc4") is None  # bit rate index 15


def test_strip_headers_of_an_ffmpeg_piece(tmp_path: Path) -> None:
    piece = ffmpeg_piece(tmp_path, 1.0, 440, 22050, 1, "-metadata", "title=piece", "-write_id3v1", "1")
    assert piece.startswith(b"ID3") and b"Info" in piece[:400] and piece[-128:].startswith(b"TAG")
    audio = mp3.strip_headers(piece)
    first = mp3.parse_header(audio)
    assert first is not None and not mp3.is_vbr_header_frame(audio, 0, first)
    assert audio == piece[piece.index(audio[:64]) : len(piece) - 128]
    assert mp3.duration_seconds(audio) == mp3.duration_seconds(piece)
    assert mp3.strip_headers(audio) == audio


def test_strip_headers_drops_an_ape_tag() -> None:
    audio = lame_piece(0.3)
    items = b"\x05\x00\x00\x00\x00\x00\x00\x00Title\x00hello"
    footer = b"APETAGEX" + (2000).to_bytes(4, "little") + (len(items) + 32).to_bytes(4, "little") \
        + (1).to_bytes(4, "little") + bytes(4) + bytes(8)
    assert mp3.strip_headers(audio + items + footer) == audio


def test_duration_counts_frames() -> None:
    data = lame_piece(2.0, 22050)
    frames = 0
    pos = 0
    while (header := mp3.parse_header(data, pos)) is not None:
        frames += 1
        pos += header.length
    assert pos == len(data)
    assert mp3.duration_seconds(data) == pytest.approx(frames * 576 / 22050)
    assert 2.0 <= mp3.duration_seconds(data) < 2.0 + 4 * frame_seconds(22050)


# --- joins -----------------------------------------------------------------------------------


def test_join_of_lameenc_pieces_decodes_with_summed_duration(tmp_path: Path) -> None:
    pieces = [lame_piece(s, hz=hz) for s, hz in [(1.0, 300), (0.4, 500), (2.2, 700), (0.05, 900)]]
    joined = write(tmp_path, "joined.mp3", mp3.join(pieces))
    assert decode_errors(joined) == ""
    expected = sum(mp3.duration_seconds(p) for p in pieces)
    assert mp3.duration_seconds(joined.read_bytes()) == pytest.approx(expected)
    assert probe_duration(joined) == pytest.approx(expected, abs=2 * frame_seconds(22050))
    single = [probe_duration(write(tmp_path, f"p{i}.mp3", p)) for i, p in enumerate(pieces)]
    assert probe_duration(joined) == pytest.approx(sum(single), abs=2 * frame_seconds(22050))


@pytest.mark.parametrize(("rate", "channels"), [(22050, 1), (44100, 2)])
def test_join_of_ffmpeg_pieces_with_id3_and_info_frames(tmp_path: Path, rate: int, channels: int) -> None:
    pieces = [
        ffmpeg_piece(tmp_path, 1.5, 300, rate, channels),
        ffmpeg_piece(tmp_path, 0.7, 500, rate, channels, "-metadata", "title=piece", "-write_id3v1", "1"),
        ffmpeg_piece(tmp_path, 2.3, 700, rate, channels),
    ]
    assert all(p.startswith(b"ID3") and b"Info" in p[:600] for p in pieces)
    joined = write(tmp_path, "joined.mp3", mp3.join(pieces))
    assert decode_errors(joined) == ""
    single = [probe_duration(write(tmp_path, f"p{i}.mp3", p)) for i, p in enumerate(pieces)]
    assert probe_duration(joined) == pytest.approx(sum(single), abs=2 * frame_seconds(rate))
    assert mp3.duration_seconds(joined.read_bytes()) == pytest.approx(sum(map(mp3.duration_seconds, pieces)))
    assert decoded_seconds(joined) == pytest.approx(mp3.duration_seconds(joined.read_bytes()), abs=frame_seconds(rate))


def test_naive_concatenation_is_what_the_join_fixes(tmp_path: Path) -> None:
    """The control: plain concatenation keeps piece 0's Info frame, and a decoder that honours
    it (miniaudio's dr_mp3, like many players) stops after piece 0."""
    pieces = [ffmpeg_piece(tmp_path, 1.0, 300, 22050, 1), ffmpeg_piece(tmp_path, 3.0, 600, 22050, 1)]
    assert decoded_seconds(write(tmp_path, "naive.mp3", b"".join(pieces))) == pytest.approx(1.0, abs=0.01)
    assert decoded_seconds(write(tmp_path, "joined.mp3", mp3.join(pieces))) > 4.0


def test_join_rejects_mismatched_or_empty_pieces() -> None:
    with pytest.raises(ValueError, match="22050 Hz"):
        mp3.join([lame_piece(0.2, 22050), lame_piece(0.2, 24000)])
    with pytest.raises(ValueError, match="piece 1 holds no MPEG"):
        mp3.join([lame_piece(0.2), b"ID3\x04\x00\x00\x00\x00\x00\x00not audio"])
    assert mp3.join([]) == b""
