"""Time-stretching without a pitch change: FFmpeg's `atempo` filter through PyAV.

Used for the part of a job's `speed` an engine cannot reach with its own control.
"""
from __future__ import annotations

import av
import numpy as np
from av.filter import Graph

_MIN_FACTOR, _MAX_FACTOR = 0.5, 2.0  # one atempo stage; longer chains are never needed here
_FRAME = 4096


def time_stretch(samples: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """`samples` (float32 mono, -1..1) played `factor` times faster: len / factor samples."""
    if abs(factor - 1.0) < 1e-3 or samples.size == 0:
        return samples
    factor = min(_MAX_FACTOR, max(_MIN_FACTOR, factor))
    graph = Graph()
    source = graph.add_abuffer(format="flt", sample_rate=sample_rate, layout="mono")
    tempo = graph.add("atempo", f"{factor:.6f}")
    sink = graph.add("abuffersink")
    source.link_to(tempo)
    tempo.link_to(sink)
    graph.configure()
    out: list[np.ndarray] = []
    data = np.ascontiguousarray(samples, dtype=np.float32)
    for at in range(0, data.size, _FRAME):
        frame = av.AudioFrame.from_ndarray(data[at:at + _FRAME].reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = sample_rate
        graph.push(frame)
        _drain(graph, out)
    graph.push(None)
    _drain(graph, out)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _drain(graph: Graph, out: list[np.ndarray]) -> None:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        out.append(frame.to_ndarray().reshape(-1).astype(np.float32))
