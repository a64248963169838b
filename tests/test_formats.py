"""shared.audio.formats: the streaming encoders, checked by decoding their output with ffmpeg."""
from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from shared.audio.formats import FORMATS, StreamEncoder, UnsupportedFormat

DECODE_RATE = 48_000
CODECS = {"mp3": "mp3", "opus": "opus", "aac": "aac", "flac": "flac", "wav": "pcm_s16le"}


def tone(seconds: float, rate: int) -> bytes:
    samples = int(seconds * rate)
    return b"".join(int(8000 * math.sin(2 * math.pi * 440 * i / rate)).to_bytes(2, "little", signed=True)
                    for i in range(samples))


def decode(path: Path, fmt: str) -> bytes:
    raw = ["-f", "s16le", "-ar", str(FORMATS["pcm"].sample_rate), "-ac", "1"] if fmt == "pcm" else []
    out = subprocess.run(["ffmpeg", "-v", "error", *raw, "-i", str(path), "-f", "s16le", "-ac", "1", "-ar",
                          str(DECODE_RATE), "-"], capture_output=True, check=False)
    assert out.returncode == 0 and not out.stderr, out.stderr.decode()
    return out.stdout


@pytest.mark.parametrize("rate", [22_050, 24_000])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_decodes_to_the_input_duration(tmp_path: Path, fmt: str, rate: int) -> None:
    """Fed in ten pieces at an engine's rate: ffmpeg reads the right codec and rate, and the same length within 100 ms."""
    pcm = tone(3.0, rate)
    encoder = StreamEncoder(fmt, rate)
    step = len(pcm) // 10 // 2 * 2
    body = b"".join(encoder.feed(pcm[i: i + step]) for i in range(0, len(pcm), step)) + encoder.finish()
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(body)
    seconds = len(decode(path, fmt)) / 2 / DECODE_RATE
    assert abs(seconds - 3.0) < 0.100, seconds
    if fmt != "pcm":
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels",
                                "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
        assert probe.stdout.strip() == f"{CODECS[fmt]},{FORMATS[fmt].sample_rate},1"


@pytest.mark.parametrize("fmt", ["mp3", "aac", "flac", "wav", "pcm", "opus"])
def test_bytes_come_out_before_the_end(fmt: str) -> None:
    """Streaming: most of the output is handed back while feeding, not held until finish()."""
    pcm = tone(6.0, 24_000)
    encoder = StreamEncoder(fmt, 24_000)
    step = len(pcm) // 6 // 2 * 2
    fed = [len(encoder.feed(pcm[i: i + step])) for i in range(0, len(pcm), step)]
    tail = len(encoder.finish())
    assert sum(fed[:-1]) > tail
    assert fed[1] > 0 or (fmt == "opus" and fed[2] > 0)  # Ogg pages hold about a second


def test_pcm_is_24_khz_s16le_and_wav_has_streaming_sizes() -> None:
    pcm = tone(1.0, 24_000)
    raw = StreamEncoder("pcm", 24_000)
    out = raw.feed(pcm) + raw.finish()
    assert len(out) == len(pcm)  # no header, no resampling needed
    wav = StreamEncoder("wav", 22_050)
    head = wav.feed(tone(1.0, 22_050)) + wav.finish()
    assert head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    assert head[4:8] == head[40:44] == b"\xff\xff\xff\xff"
    assert int.from_bytes(head[24:28], "little") == 24_000


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(UnsupportedFormat):
        StreamEncoder("ogg", 24_000)
