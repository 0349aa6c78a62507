"""Interval estimates used by every summary: honest uncertainty for Monte Carlo estimates.

- probabilities: Wilson score interval (good near 0 and 1, where the normal one is not);
- means: normal interval from the standard error (replications are i.i.d.);
- percentiles: distribution-free order-statistic interval (ranks from the binomial).

The normal and binomial quantiles come from ``scipy.special``, not ``scipy.stats``: every run
summarises, and importing ``scipy.stats`` would add about half a second to each command's
start-up. The normal one is what ``scipy.stats.norm.ppf`` computes (``ndtri``); the binomial
ranks step on ``bdtr`` and equal ``scipy.stats.binom.ppf`` but at exact ties of the CDF, where
the rounding of each library's CDF decides (``tests/results/test_stats.py`` checks both).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "Z95",
    "mean_interval",
    "mean_intervals",
    "percentile_interval",
    "percentile_intervals",
    "ratio_interval",
    "sorted_percentile_intervals",
    "wilson",
]

FloatArray = npt.NDArray[np.float64]

Z95 = float(special.ndtri(0.975))


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float, float]:
    """(estimate, low, high) of a probability from ``successes`` out of ``n``."""
    if n == 0:
        return math.nan, math.nan, math.nan
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(x: npt.ArrayLike, z: float = Z95) -> tuple[float, float, float]:
    """(mean, low, high): the mean with a normal interval from its standard error."""
    a = np.asarray(x, dtype=np.float64)
    if len(a) == 0:
        return math.nan, math.nan, math.nan
    m = float(a.mean())
    if len(a) < 2:
        return m, math.nan, math.nan
    half = z * float(a.std(ddof=1)) / math.sqrt(len(a))
    return m, m - half, m + half


def mean_intervals(rows: FloatArray, z: float = Z95) -> list[tuple[float, float, float]]:
    """:func:`mean_interval` of each row of a matrix, in one pass over it (numpy reduces each
    contiguous row as it reduces the row alone: the same bits)."""
    n = rows.shape[1]
    if n == 0:
        return [(math.nan, math.nan, math.nan)] * len(rows)
    means = rows.mean(axis=1)
    if n < 2:
        return [(float(m), math.nan, math.nan) for m in means]
    sds = rows.std(axis=1, ddof=1)
    root = math.sqrt(n)
    out = []
    for m, sd in zip(means.tolist(), sds.tolist(), strict=True):
        half = z * sd / root
        out.append((m, m - half, m + half))
    return out


def percentile_interval(
    x: npt.ArrayLike, q: float, level: float = 0.95
) -> tuple[float, float, float]:
    """(estimate, low, high) of the ``q`` quantile; values may be +inf (e.g. "not by the horizon").

    The interval is [x_(l), x_(u)] with ranks from Binomial(n, q), which covers the true
    quantile with probability >= ``level`` whatever the distribution.
    """
    return _from_sorted(np.sort(np.asarray(x, dtype=np.float64)), q, level)


def percentile_intervals(
    x: npt.ArrayLike, qs: Iterable[float], level: float = 0.95
) -> list[tuple[float, float, float]]:
    """:func:`percentile_interval` of each quantile in ``qs``, the sample sorted once."""
    a = np.sort(np.asarray(x, dtype=np.float64))
    return [_from_sorted(a, q, level) for q in qs]


def sorted_percentile_intervals(
    a: FloatArray, qs: Iterable[float], level: float = 0.95
) -> list[tuple[float, float, float]]:
    """:func:`percentile_intervals` of a sample already sorted (ascending)."""
    return [_from_sorted(a, q, level) for q in qs]


def _from_sorted(a: FloatArray, q: float, level: float) -> tuple[float, float, float]:
    n = len(a)
    if n == 0:
        return math.nan, math.nan, math.nan
    k = min(n - 1, max(0, math.ceil(q * n) - 1))  # inverted-CDF estimate: an observed value
    lo_rank, hi_rank = _ranks(n, float(q), float(level))
    lo = a[max(0, lo_rank - 1)] if lo_rank >= 1 else -math.inf
    hi = a[hi_rank] if hi_rank < n else math.inf
    return float(a[k]), float(lo), float(hi)


@functools.lru_cache(maxsize=1024)  # a summary asks for the same few (n, q) per deal and period
def _ranks(n: int, q: float, level: float) -> tuple[int, int]:
    """The Binomial(n, q) ranks of percentile_interval's bounds."""
    return _binom_ppf((1 - level) / 2, n, q), _binom_ppf(1 - (1 - level) / 2, n, q)


def _binom_ppf(p: float, n: int, q: float) -> int:
    """``scipy.stats.binom.ppf(p, n, q)`` for ``0 < p < 1``: the smallest ``k`` with
    ``P(K <= k) >= p``, found from the continuous inverse (``bdtrik``) by stepping on the CDF.
    A CDF within rounding (``1e-12`` relative) of ``p`` counts as reaching it: at an exact tie
    (``P(K <= 3) = 0.5`` for ``n = 7, q = 0.5``) the rounding of the CDF must not decide."""
    if not 0.0 < q < 1.0:  # a degenerate binomial: every draw is 0 (q = 0) or n (q = 1)
        return 0 if q <= 0.0 else n
    reach = p * (1.0 - 1e-12)
    guess = float(special.bdtrik(p, n, q))  # NaN for a q too close to 0 or 1: step from the end
    k = min(max(math.ceil(guess), 0), n) if math.isfinite(guess) else (0 if q < 0.5 else n)
    while k > 0 and float(special.bdtr(k - 1, n, q)) >= reach:
        k -= 1
    while k < n and float(special.bdtr(k, n, q)) < reach:
        k += 1
    return k


def ratio_interval(
    numerators: npt.ArrayLike, denominators: npt.ArrayLike, z: float = Z95
) -> tuple[float, float, float]:
    """(ratio, low, high) of sum(numerators) / sum(denominators) over replications.

    For rates pooled over many events per replication (conversion per stage visit, wait per
    request): events inside one replication are correlated (a global risk hits them together),
    so the replication is the independent unit. The standard error is the delta method's
    (ratio estimator with replications as clusters).
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    n = len(num)
    total = float(den.sum())
    if n == 0 or total == 0:
        return math.nan, math.nan, math.nan
    r = float(num.sum()) / total
    if n < 2:
        return r, math.nan, math.nan
    resid = num - r * den
    half = z * math.sqrt(float(resid.var(ddof=1)) * n) / total
    return r, r - half, r + half
