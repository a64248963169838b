"""Loudness normalisation of a chunk: integrated loudness to a target, true peak under a ceiling.

Loudness is measured with pyloudnorm (ITU-R BS.1770-4, K-weighting with gating, so the
pauses between sentences do not count). The gain that brings the chunk to the target is
applied, then a true-peak limiter keeps the result under the ceiling:

- peaks are found on the signal oversampled 4x (polyphase, the filter scipy's
  `resample_poly(x, 4, 1)` uses), so peaks between samples count too, but only where they
  can reach the ceiling: an interpolated value is at most the largest sample within the
  filter's reach times the sum of a phase's absolute taps, so blocks of 64 samples whose
  neighbourhood is under ceiling / that bound are skipped exactly (about 85% of speech);
- each sample gets the gain that would bring its peak to the ceiling (1 where it is under);
- a sliding minimum over +-`LOOKAHEAD_MS` spreads every reduction to its neighbourhood, and a
  moving average of the same width smooths it (computed only around the peaks over the
  ceiling), so the gain starts falling before a peak and
  recovers after it, with no step (no clicks) and never above the needed gain at the peak;
- the peaks are computed again where the gain changed anything (within the filter's reach
  of a sample with gain < 1; elsewhere the signal, so its peaks, are unchanged) and the
  pass repeats until the ceiling holds (a second pass is rare).

The limiter only touches the few peaks above the ceiling, but that lowers the loudness a
little (about 0.3 LU on Piper's speech, estimated from the energy it removed); when it is
more than 0.1 LU a makeup gain and the limiter are applied once more, so the result sits
within about 0.1 LU of the target.
Oversampling is linear, so the makeup gain scales the known peaks exactly (peaks are found
wherever they could reach the ceiling after up to 1 dB of makeup).
"""
from __future__ import annotations

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
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
_GAIN_BOUND = float(np.abs(_PHASES).sum(axis=1).max())  # no interpolated value exceeds this x the window's max
_BLOCK = 64  # > _HALF: a sample's window lies within its block and the two beside it
_MAKEUP_HEADROOM = 10 ** (1 / 20)  # peaks are exact wherever 1 dB more gain could take them over


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
    before = float(np.dot(x, x))
    x, peaks = _limit(x, _sample_peaks(x, _ceiling(ceiling_dbtp) / _MAKEUP_HEADROOM), sample_rate, ceiling_dbtp)
    # What limiting took, from the energy it removed: the gain only changes around a few
    # peaks, so the gated, weighted loudness moves by about the same (tests/test_render.py).
    short = 10 * np.log10(before / max(float(np.dot(x, x)), 1e-30))
    if short > _MAKEUP_LU:
        makeup = 10 ** (short / 20)
        x = x * makeup
        peaks = peaks * makeup if makeup <= _MAKEUP_HEADROOM else _sample_peaks(x, _ceiling(ceiling_dbtp))
        x, _ = _limit(x, peaks, sample_rate, ceiling_dbtp)
    return x


def limit(samples: np.ndarray, sample_rate: int, ceiling_dbtp: float) -> np.ndarray:
    """Look-ahead true-peak limiter (see the module docstring)."""
    x = np.asarray(samples, dtype=np.float64)
    return _limit(x, _sample_peaks(x, _ceiling(ceiling_dbtp)), sample_rate, ceiling_dbtp)[0]


def _ceiling(ceiling_dbtp: float) -> float:
    return 10 ** ((ceiling_dbtp - _MARGIN_DB) / 20)


def _limit(x: np.ndarray, peaks: np.ndarray, sample_rate: int, ceiling_dbtp: float) -> tuple[np.ndarray, np.ndarray]:
    """(limited signal, its per-sample true peaks), given the signal's per-sample true peaks.

    The gain at a sample depends on the peaks within `reach` of it (sliding minimum, then
    moving average), so it is computed only around the peaks over the ceiling: on each group
    of them (groups closer than two reaches are merged, so they never interact) widened by two
    reaches; everywhere else it is 1.
    """
    ceiling = _ceiling(ceiling_dbtp)
    width = max(1, int(sample_rate * LOOKAHEAD_MS / 1000))
    reach = 2 * width
    for _ in range(_PASSES):
        over = np.flatnonzero(peaks > ceiling * _AIM)
        if peaks.max(initial=0.0) <= ceiling or over.size == 0:
            break
        x, peaks = x.copy(), peaks.copy()
        touched = np.zeros(-(-x.size // _BLOCK), dtype=bool)
        splits = np.flatnonzero(np.diff(over) > 4 * reach) + 1
        for group in np.split(over, splits):
            lo, hi = max(0, int(group[0]) - 2 * reach), min(x.size, int(group[-1]) + 1 + 2 * reach)
            gain = np.minimum(1.0, ceiling * _AIM / np.maximum(peaks[lo:hi], 1e-12))
            gain = minimum_filter1d(gain, size=2 * width + 1, mode="nearest")
            gain = np.minimum(1.0, uniform_filter1d(gain, size=2 * width + 1, mode="nearest"))
            gain[gain >= _UNITY] = 1.0  # the moving average's rounding is no gain change
            x[lo:hi] *= gain
            touched[lo // _BLOCK:(hi - 1) // _BLOCK + 1] = True
        _exact(x, peaks, _spread(touched))  # elsewhere nothing changed within reach
    return x, peaks


def _sample_peaks(x: np.ndarray, ceiling: float) -> np.ndarray:
    """Per sample, the largest magnitude among its 4 oversampled values wherever that could
    exceed `ceiling`; elsewhere the sample's own magnitude (both sides are then under it)."""
    level = np.abs(x)
    near = _spread(_block_max(level))
    peaks = level.copy()
    _exact(x, peaks, near * _GAIN_BOUND > ceiling)
    return peaks


def _block_max(values: np.ndarray) -> np.ndarray:
    blocks = -(-values.size // _BLOCK)
    padded = np.zeros(blocks * _BLOCK, dtype=values.dtype)
    padded[: values.size] = values
    return padded.reshape(blocks, _BLOCK).max(axis=1)


def _spread(per_block: np.ndarray) -> np.ndarray:
    """Each block's value, or a neighbour's if larger (a sample's window reaches both)."""
    out = per_block.copy()
    np.maximum(out[1:], per_block[:-1], out=out[1:])
    np.maximum(out[:-1], per_block[1:], out=out[:-1])
    return out


def _exact(x: np.ndarray, peaks: np.ndarray, blocks: np.ndarray) -> None:
    """Write the exact oversampled peaks of the marked blocks into `peaks`."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], blocks.view(np.int8), [0]))))
    for first, last in zip(edges[::2], edges[1::2], strict=True):
        lo, hi = first * _BLOCK, min(x.size, last * _BLOCK)
        at = max(0, lo - _HALF)
        segment = np.asarray(x[at:min(x.size, hi + _HALF)], dtype=np.float32)
        found = np.abs(np.convolve(segment, _KERNELS[0], mode="same"))
        for kernel in _KERNELS[1:]:
            np.maximum(found, np.abs(np.convolve(segment, kernel, mode="same")), out=found)
        peaks[lo:hi] = found[lo - at:hi - at]


def _oversampled(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return np.zeros(OVERSAMPLE)
    y = resample_poly(x, OVERSAMPLE, 1)
    return np.pad(y, (0, max(0, x.size * OVERSAMPLE - y.size)))
