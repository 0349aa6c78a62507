"""Scores of a probabilistic forecast against what happened.

- PIT (probability integral transform) of a truth ``y`` under a sample ``x`` of forecasts: the
  share of the sample below ``y``, ties counted half (``(#{x < y} + #{x = y} / 2) / n``). For a
  calibrated forecast PIT values are uniform on [0, 1].
- Central 80% interval of a sample: its 10% and 90% quantiles (inverted CDF, so both are values
  of the sample); "inside" includes both ends.
- Brier score of probabilities ``p`` for outcomes ``y`` in {0, 1}: ``mean((p - y)^2)``; 0 is
  perfect, 0.25 is what always saying 0.5 earns.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from simsales.results.stats import wilson

__all__ = ["brier", "coverage", "inside80", "interval80", "pit"]


def pit(sample: npt.ArrayLike, truth: float) -> float:
    x = np.asarray(sample, dtype=np.float64)
    if len(x) == 0:
        return math.nan
    return float(((x < truth).sum() + 0.5 * (x == truth).sum()) / len(x))


def interval80(sample: npt.ArrayLike) -> tuple[float, float]:
    x = np.asarray(sample, dtype=np.float64)
    lo, hi = np.quantile(x, [0.1, 0.9], method="inverted_cdf")
    return float(lo), float(hi)


def inside80(sample: npt.ArrayLike, truth: float) -> bool:
    lo, hi = interval80(sample)
    return lo <= truth <= hi


def brier(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    pa, ya = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(pa) == 0:
        return math.nan
    return float(np.mean((pa - ya) ** 2))


def coverage(inside: npt.ArrayLike) -> tuple[float, float, float]:
    """Share of intervals that held the truth, with its Wilson 95% interval."""
    a = np.asarray(inside, dtype=bool)
    return wilson(float(a.sum()), len(a))
