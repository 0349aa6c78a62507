"""Paired differences between two runs simulated with common random numbers (CRN).

Replication *i* of the base and of a variant use the same random streams, so their outputs are
positively correlated and the difference ``variant_i - base_i`` has far less noise than either
run. Every function here returns a :class:`Delta`: the base and variant estimates, the paired
difference with its 95% interval, and the half-width an *unpaired* comparison of two
independent runs of the same size would have had (for contrast; it ignores the correlation).

- means (revenue, cost, a 0/1 indicator such as "target met"): the mean of the per-replication
  differences ± t(n-1)·sd/√n; unpaired: z·√(var_a/n + var_b/n) (z rather than t makes the
  unpaired width, if anything, slightly narrower: the contrast never overstates pairing);
- ratios of sums (mean wait per request = total wait / total requests): the same, applied to
  the ratio estimator's linearization ``(w_i - R·n_i) / mean(n)`` (delta method);
- quantiles (P80 dates, which may be +inf = "after the horizon"): a paired bootstrap over
  replications (the same resampled replications for base and variant), percentile interval;
  unpaired: base and variant resampled independently. Two equal values count as a zero
  difference, including two "after the horizon".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from simsales.results.stats import Z95

__all__ = ["BOOTSTRAP", "Delta", "Resamples", "paired_mean", "paired_quantile", "paired_ratio"]

FloatArray = npt.NDArray[np.float64]
BOOTSTRAP = 2000  # resamples for quantile intervals: the 2.5% tail rests on ~50 of them


@dataclass(frozen=True)
class Delta:
    """Variant against base for one metric; intervals are 95%."""

    base: float
    variant: float
    difference: float  # paired estimate of variant - base
    ci_low: float
    ci_high: float
    unpaired_half_width: float  # what two independent runs would have given

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    @property
    def significant(self) -> bool:
        """The interval excludes zero (a difference distinguishable from Monte Carlo noise)."""
        return bool(self.ci_low > 0 or self.ci_high < 0)


def _t95(n: int) -> float:
    return float(stats.t.ppf(0.975, n - 1))


def paired_mean(base: npt.ArrayLike, variant: npt.ArrayLike) -> Delta:
    """Difference of means from per-replication values of the base and the variant."""
    a, b = _pair(base, variant)
    n = len(a)
    d = b - a
    diff = float(d.mean()) if n else math.nan
    if n < 2:
        return Delta(_mean(a), _mean(b), diff, math.nan, math.nan, math.nan)
    half = _t95(n) * float(d.std(ddof=1)) / math.sqrt(n)
    unpaired = Z95 * math.sqrt((float(a.var(ddof=1)) + float(b.var(ddof=1))) / n)
    return Delta(float(a.mean()), float(b.mean()), diff, diff - half, diff + half, unpaired)


def paired_ratio(
    base_num: npt.ArrayLike,
    base_den: npt.ArrayLike,
    variant_num: npt.ArrayLike,
    variant_den: npt.ArrayLike,
) -> Delta:
    """Difference of ratios of sums, e.g. total wait / total requests, per replication inputs."""
    wa, na = _pair(base_num, base_den)
    wb, nb = _pair(variant_num, variant_den)
    if len(wa) != len(wb):
        raise ValueError(f"base has {len(wa)} replications, the variant {len(wb)}")
    ra, ua = _linearize(wa, na)
    rb, ub = _linearize(wb, nb)
    n = len(wa)
    diff = rb - ra if rb != ra else 0.0  # two equal ratios (even nan-free inf) differ by zero
    if n < 2 or not (math.isfinite(ra) and math.isfinite(rb)):
        return Delta(ra, rb, diff, math.nan, math.nan, math.nan)
    d = ub - ua
    half = _t95(n) * float(d.std(ddof=1)) / math.sqrt(n)
    unpaired = Z95 * math.sqrt((float(ua.var(ddof=1)) + float(ub.var(ddof=1))) / n)
    return Delta(ra, rb, diff, diff - half, diff + half, unpaired)


def _linearize(w: FloatArray, n: FloatArray) -> tuple[float, FloatArray]:
    total = float(n.sum())
    if total <= 0:
        return math.nan, np.full(len(w), math.nan)
    ratio = float(w.sum()) / total
    return ratio, (w - ratio * n) / (total / len(n))


class Resamples:
    """Bootstrap replication indices shared by every quantile metric of a comparison.

    ``paired`` resamples the base and the variant with the same indices; ``other`` is a second,
    independent set for the unpaired contrast. Drawn from their own generator (never the global
    one), so a comparison is reproducible from its seed.
    """

    def __init__(self, n: int, seed: int, size: int = BOOTSTRAP) -> None:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xB007,)))
        self.n = n
        self.paired = rng.integers(0, n, (size, n)) if n else np.zeros((size, 0), np.int64)
        self.other = rng.integers(0, n, (size, n)) if n else np.zeros((size, 0), np.int64)


def quantile(x: npt.ArrayLike, q: float) -> float:
    """The inverted-CDF ``q`` quantile (an observed value; works with +inf), as in summaries."""
    a = np.asarray(x, dtype=np.float64)
    if len(a) == 0:
        return math.nan
    k = _rank(len(a), q)
    return float(np.partition(a, k)[k])


def _rank(n: int, q: float) -> int:
    return min(n - 1, max(0, math.ceil(q * n) - 1))


def _row_quantiles(x: FloatArray, idx: npt.NDArray[np.int64], q: float) -> FloatArray:
    k = _rank(idx.shape[1], q)
    return np.partition(x[idx], k, axis=1)[:, k]


def _sub(b: FloatArray, a: FloatArray) -> FloatArray:
    """``b - a`` where equal values (also two infinities) give exactly zero."""
    with np.errstate(invalid="ignore"):
        return np.where(a == b, 0.0, b - a)


def paired_quantile(
    base: npt.ArrayLike, variant: npt.ArrayLike, q: float, resamples: Resamples
) -> Delta:
    """Difference of the ``q`` quantiles across replications, with bootstrap intervals."""
    a, b = _pair(base, variant)
    if len(a) != resamples.n:
        raise ValueError(f"resamples are for {resamples.n} replications, not {len(a)}")
    qa, qb = quantile(a, q), quantile(b, q)
    diff = float(_sub(np.array([qb]), np.array([qa]))[0])
    if len(a) < 2:
        return Delta(qa, qb, diff, math.nan, math.nan, math.nan)
    boot_a = _row_quantiles(a, resamples.paired, q)
    paired = _sub(_row_quantiles(b, resamples.paired, q), boot_a)
    unpaired = _sub(_row_quantiles(b, resamples.other, q), boot_a)
    lo, hi = _percentile_interval(paired)
    u_lo, u_hi = _percentile_interval(unpaired)
    with np.errstate(invalid="ignore"):
        u_half = (u_hi - u_lo) / 2 if math.isfinite(u_hi - u_lo) else math.inf
    return Delta(qa, qb, diff, lo, hi, u_half)


def _percentile_interval(boot: FloatArray) -> tuple[float, float]:
    boot = boot[~np.isnan(boot)]
    if len(boot) == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(boot, [0.025, 0.975], method="inverted_cdf")
    return float(lo), float(hi)


def _pair(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired values need two equal 1-d arrays, got {x.shape} and {y.shape}")
    return x, y


def _mean(x: FloatArray) -> float:
    return float(x.mean()) if len(x) else math.nan
