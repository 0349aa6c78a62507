"""Interval estimates used by every summary: honest uncertainty for Monte Carlo estimates.

- probabilities: Wilson score interval (good near 0 and 1, where the normal one is not);
- means: normal interval from the standard error (replications are i.i.d.);
- percentiles: distribution-free order-statistic interval (ranks from the binomial).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["Z95", "mean_interval", "percentile_interval", "ratio_interval", "wilson"]

Z95 = float(stats.norm.ppf(0.975))


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


def percentile_interval(
    x: npt.ArrayLike, q: float, level: float = 0.95
) -> tuple[float, float, float]:
    """(estimate, low, high) of the ``q`` quantile; values may be +inf (e.g. "not by the horizon").

    The interval is [x_(l), x_(u)] with ranks from Binomial(n, q), which covers the true
    quantile with probability >= ``level`` whatever the distribution.
    """
    a = np.sort(np.asarray(x, dtype=np.float64))
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
    return (
        int(stats.binom.ppf((1 - level) / 2, n, q)),
        int(stats.binom.ppf(1 - (1 - level) / 2, n, q)),
    )


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
