"""Loudness normalisation of a chunk: integrated loudness to a target, true peak under a ceiling.

Loudness is measured with pyloudnorm (ITU-R BS.1770-4, K-weighting with gating, so the
pauses between sentences do not count). The gain that brings the chunk to the target is
applied, then a true-peak limiter keeps the result under the ceiling:

- peaks are found on the signal oversampled 4x (polyphase, as BS.1770 Annex 2 describes), so
  peaks between samples count too;
- each sample gets the gain that would bring its peak to the ceiling (1 where it is under);
- a sliding minimum over +-`LOOKAHEAD_MS` spreads every reduction to its neighbourhood, and a
  moving average of the same width smooths it, so the gain starts falling before a peak and
  recovers after it, with no step (no clicks) and never above the needed gain at the peak;
- the check is repeated on the result (rarely needed), so the ceiling always holds.

The limiter only touches the few peaks above the ceiling, but that lowers the loudness a
little (about 0.3 LU on Piper's speech); when it is more than 0.1 LU the gain and limiter
are applied once more, so the result sits within about 0.1 LU of the target.
"""
from __future__ import annotations

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

OVERSAMPLE = 4
LOOKAHEAD_MS = 2.0
_BLOCK_S = 0.4  # BS.1770's gating block: shorter signals cannot be measured as they are
_SILENCE_LUFS = -70.0  # BS.1770's absolute gate
_MARGIN_DB = 0.05  # aim this far under the ceiling: int16 rounding and resampling ripple
_PASSES = 3
_MAKEUP_LU = 0.1


def integrated_lufs(samples: np.ndarray, sample_rate: int) -> float:
    """BS.1770 integrated loudness; a signal shorter than one block is measured repeated."""
    x = np.asarray(samples, dtype=np.float64)
    block = int(_BLOCK_S * sample_rate) + 1
    if x.size == 0:
        return -np.inf
    if x.size < block:
        x = np.tile(x, -(-block // x.size))
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(x))


def true_peak_dbtp(samples: np.ndarray) -> float:
    """Peak of the 4x oversampled signal, in dB relative to full scale."""
    peak = float(np.max(np.abs(_oversampled(samples)), initial=0.0))
    return 20 * np.log10(peak) if peak > 0 else -np.inf


def normalize_loudness(samples: np.ndarray, sample_rate: int, target_lufs: float, ceiling_dbtp: float) -> np.ndarray:
    """`samples` (float, full scale 1.0) at `target_lufs` with true peaks under `ceiling_dbtp`."""
    x = np.asarray(samples, dtype=np.float64)
    loudness = integrated_lufs(x, sample_rate)
    if not np.isfinite(loudness) or loudness < _SILENCE_LUFS:
        return x  # silence (or nearly): nothing to bring up
    x = limit(x * 10 ** ((target_lufs - loudness) / 20), sample_rate, ceiling_dbtp)
    short = target_lufs - integrated_lufs(x, sample_rate)
    if short > _MAKEUP_LU:
        x = limit(x * 10 ** (short / 20), sample_rate, ceiling_dbtp)
    return x


def limit(samples: np.ndarray, sample_rate: int, ceiling_dbtp: float) -> np.ndarray:
    """Look-ahead true-peak limiter (see the module docstring)."""
    x = np.asarray(samples, dtype=np.float64)
    ceiling = 10 ** ((ceiling_dbtp - _MARGIN_DB) / 20)
    width = max(1, int(sample_rate * LOOKAHEAD_MS / 1000))
    for _ in range(_PASSES):
        peaks = np.abs(_oversampled(x)).reshape(-1, OVERSAMPLE).max(axis=1)[: x.size]
        if peaks.max(initial=0.0) <= ceiling:
            break
        gain = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
        gain = minimum_filter1d(gain, size=2 * width + 1, mode="nearest")
        gain = uniform_filter1d(gain, size=2 * width + 1, mode="nearest")
        x = x * gain
    return x


def _oversampled(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return np.zeros(OVERSAMPLE)
    y = resample_poly(x, OVERSAMPLE, 1)
    return np.pad(y, (0, max(0, x.size * OVERSAMPLE - y.size)))
