"""Measured speed curves: which value of an engine's own rate control gives a duration ratio.

Engine rate controls are not linear in duration (Piper's `length_scale` 0.8 shortens speech
only to 0.86-0.89 of its length), so each engine carries a table of (control value, speech
duration relative to a reference control value) measured on a few sentences of prose, with
silence at the ends trimmed. A wanted ratio is looked up by linear interpolation between the
measured points; outside the table the nearest end is used and the renderer time-stretches
the rest (`Speech.tempo` reports what the control reached).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpeedCurve:
    controls: tuple[float, ...]  # ascending
    ratios: tuple[float, ...]  # duration relative to the reference control, monotonic in `controls`

    def ratio(self, control: float) -> float:
        """The duration ratio that `control` gives (interpolated)."""
        return float(np.interp(control, self.controls, self.ratios))

    def control_for(self, ratio: float) -> tuple[float, float]:
        """(control value, ratio it reaches) for a wanted duration `ratio`, clamped to the table."""
        xs, ys = self._ascending_ratios()
        reached = min(max(ratio, xs[0]), xs[-1])
        return float(np.interp(reached, xs, ys)), reached

    def _ascending_ratios(self) -> tuple[np.ndarray, np.ndarray]:
        ratios, controls = np.asarray(self.ratios), np.asarray(self.controls)
        order = np.argsort(ratios)
        return ratios[order], controls[order]
