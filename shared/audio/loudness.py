"""Loudness normalisation of a chunk: integrated loudness to a target, true peak under a ceiling.

Loudness is measured with pyloudnorm (ITU-R BS.1770-4, K-weighting with gating, so the
pauses between sentences do not count). The gain that brings the chunk to the target is
applied, then a true-peak limiter keeps the result under the ceiling:

- peaks are found on the signal oversampled 4x (polyphase, the filter scipy's
  `resample_poly(x, 4, 1)` uses), so peaks between samples count too;
- each sample gets the gain that would bring its peak to the ceiling (1 where it is under);
- a sliding minimum over +-`LOOKAHEAD_MS` spreads every reduction to its neighbourhood, and a
  moving average of the same width smooths it, so the gain starts falling before a peak and
  recovers after it, with no step (no clicks) and never above the needed gain at the peak;
- the peaks are computed again where the gain changed anything (within the filter's reach
  of a sample with gain < 1; elsewhere the signal, so its peaks, are unchanged) and the
  pass repeats until the ceiling holds (a second pass is rare).

The limiter only touches the few peaks above the ceiling, but that lowers the loudness a
little (about 0.3 LU on Piper's speech); when it is more than 0.1 LU a makeup gain and the
limiter are applied once more, so the result sits within about 0.1 LU of the target.
Oversampling is linear, so the makeup gain scales the known peaks exactly: the whole chunk
is oversampled once; cost is about 1.5 ms per second of audio.
"""
from __future__ import annotations

import numpy as np
import pyloudnorm
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, resample_poly

OVERSAMPLE = 4  # fixed: the polyphase table below is built for it
LOOKAHEAD_MS = 2.0
_BLOCK_S = 0.4  # BS.1770's gating block: shorter signals cannot be measured as they are
_SILENCE_LUFS = -70.0  # BS.1770's absolute gate
_MARGIN_DB = 0.05  # aim this far under the ceiling: int16 rounding
_PASSES = 4
_AIM = 1 - 1e-4  # a reduced peak lands this far under the ceiling, not on it (float rounding)
_UNITY = 1 - 1e-9
_MAKEUP_LU = 0.1
_HALF = 10  # interpolation filter reach, in samples each side (scipy's resample_poly default)
_TAPS = firwin(2 * _HALF * 4 + 1, 1 / 4, window=("kaiser", 5.0)) * 4  # the filter resample_poly(x, 4, 1) uses
# _PHASES[k] @ x[n - _HALF : n + _HALF + 1] is the k-th of the 4 values at sample n
_PHASES = np.array([[_TAPS[2 * _HALF * 4 - 4 * i + k] if 2 * _HALF * 4 - 4 * i + k < _TAPS.size else 0.0
                     for i in range(2 * _HALF + 1)] for k in range(4)])
_KERNELS = [phase[::-1].astype(np.float32) for phase in _PHASES]  # as convolution kernels


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
    x = x * 10 ** ((target_lufs - loudness) / 20)
    x, peaks = _limit(x, _sample_peaks(x), sample_rate, ceiling_dbtp)
    short = target_lufs - integrated_lufs(x, sample_rate)
    if short > _MAKEUP_LU:
        makeup = 10 ** (short / 20)
        x, _ = _limit(x * makeup, peaks * makeup, sample_rate, ceiling_dbtp)
    return x


def limit(samples: np.ndarray, sample_rate: int, ceiling_dbtp: float) -> np.ndarray:
    """Look-ahead true-peak limiter (see the module docstring)."""
    x = np.asarray(samples, dtype=np.float64)
    return _limit(x, _sample_peaks(x), sample_rate, ceiling_dbtp)[0]


def _limit(x: np.ndarray, peaks: np.ndarray, sample_rate: int, ceiling_dbtp: float) -> tuple[np.ndarray, np.ndarray]:
    """(limited signal, its per-sample true peaks), given the signal's per-sample true peaks."""
    ceiling = 10 ** ((ceiling_dbtp - _MARGIN_DB) / 20)
    width = max(1, int(sample_rate * LOOKAHEAD_MS / 1000))
    for _ in range(_PASSES):
        if peaks.max(initial=0.0) <= ceiling:
            break
        gain = np.minimum(1.0, ceiling * _AIM / np.maximum(peaks, 1e-12))
        gain = minimum_filter1d(gain, size=2 * width + 1, mode="nearest")
        gain = np.minimum(1.0, uniform_filter1d(gain, size=2 * width + 1, mode="nearest"))
        reduced = gain < _UNITY
        gain[~reduced] = 1.0  # the moving average's rounding is no gain change
        x = x * gain
        changed = np.flatnonzero(maximum_filter1d(reduced.view(np.uint8), size=2 * _HALF + 1))
        peaks = peaks.copy()
        peaks[changed] = _peaks_at(x, changed)
    return x, peaks


def _sample_peaks(x: np.ndarray) -> np.ndarray:
    """Per sample, the largest magnitude among its 4 oversampled values."""
    xf = np.asarray(x, dtype=np.float32)
    peaks = np.abs(np.convolve(xf, _KERNELS[0], mode="same"))
    for kernel in _KERNELS[1:]:
        np.maximum(peaks, np.abs(np.convolve(xf, kernel, mode="same")), out=peaks)
    return peaks.astype(np.float64)


def _peaks_at(x: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`_sample_peaks(x)[where]`, computed only there."""
    if where.size == 0:
        return np.zeros(0)
    windows = sliding_window_view(np.pad(x, _HALF), 2 * _HALF + 1)[where]
    return np.abs(windows @ _PHASES.T).max(axis=1)


def _oversampled(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return np.zeros(OVERSAMPLE)
    y = resample_poly(x, OVERSAMPLE, 1)
    return np.pad(y, (0, max(0, x.size * OVERSAMPLE - y.size)))
