"""Paired statistics on synthetic data whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simsales.results.paired import Resamples, paired_mean, paired_quantile, paired_ratio, quantile


def test_paired_mean_is_scipys_paired_t_interval() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(10, 3, 80)
    b = a + rng.normal(0.5, 0.4, 80)  # strongly correlated with a
    d = paired_mean(a, b)
    ci = stats.ttest_rel(b, a).confidence_interval(0.95)
    assert (d.ci_low, d.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert d.unpaired_half_width == pytest.approx(
        stats.norm.ppf(0.975) * math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 80)
    )
    assert d.half_width < d.unpaired_half_width / 3 and d.significant


def test_quantile_is_the_inverted_cdf_with_infinities() -> None:
    x = np.array([5.0, 1.0, np.inf, 3.0, 2.0])
    assert quantile(x, 0.8) == 5.0  # ceil(0.8 * 5) = 4th smallest
    assert quantile(x, 0.81) == math.inf
    assert quantile(x, 0.8) == np.quantile(x, 0.8, method="inverted_cdf")


def test_paired_quantile_of_a_pure_shift_is_exact() -> None:
    rng = np.random.default_rng(2)
    a = rng.exponential(30, 200)
    d = paired_quantile(a, a + 3.0, 0.8, Resamples(200, seed=3))
    # every resample shifts by exactly 3, so the paired interval has no width at all
    assert d.difference == pytest.approx(3.0)
    assert (d.ci_low, d.ci_high) == pytest.approx((3.0, 3.0))
    assert d.unpaired_half_width > 5  # independent resamples of a skewed sample disagree a lot


def test_paired_quantile_equal_infinities_differ_by_zero() -> None:
    a = np.array([1.0, np.inf, np.inf, np.inf, 2.0, np.inf])
    d = paired_quantile(a, a.copy(), 0.8, Resamples(6, seed=1))
    assert (d.base, d.variant) == (math.inf, math.inf)
    assert (d.difference, d.ci_low, d.ci_high) == (0.0, 0.0, 0.0)
    later = paired_quantile(np.full(6, 10.0), a, 0.8, Resamples(6, seed=1))
    assert later.difference == math.inf


def test_paired_quantile_interval_covers_a_known_shift_of_a_quantile() -> None:
    """b = 2a doubles every quantile: the interval must hold 2·q(a) - q(a) = q(a) (estimated)."""
    rng = np.random.default_rng(4)
    a = rng.exponential(1.0, 400)
    d = paired_quantile(a, 2 * a, 0.8, Resamples(400, seed=5))
    truth = -math.log(0.2)  # the 0.8 quantile of Exp(1), which the difference estimates
    assert d.ci_low < truth < d.ci_high
    assert d.half_width < d.unpaired_half_width


def test_paired_ratio_delta_method_against_a_bootstrap() -> None:
    """The linearized interval's half-width agrees with a brute-force paired bootstrap."""
    rng = np.random.default_rng(6)
    n = 300
    req_a = rng.poisson(20, n).astype(float)
    wait_a = req_a * rng.gamma(2.0, 2.0, n)
    req_b = req_a + rng.poisson(2, n)
    wait_b = wait_a * 0.7 + rng.gamma(2.0, 1.0, n)
    d = paired_ratio(wait_a, req_a, wait_b, req_b)
    assert d.base == pytest.approx(wait_a.sum() / req_a.sum())
    assert d.variant == pytest.approx(wait_b.sum() / req_b.sum())
    idx = np.random.default_rng(7).integers(0, n, (4000, n))
    boot = wait_b[idx].sum(1) / req_b[idx].sum(1) - wait_a[idx].sum(1) / req_a[idx].sum(1)
    assert d.half_width == pytest.approx(1.96 * boot.std(), rel=0.1)


def test_identical_ratios_differ_by_zero() -> None:
    w, n = np.array([3.0, 0.0, 5.0]), np.array([2.0, 1.0, 4.0])
    d = paired_ratio(w, n, w.copy(), n.copy())
    assert (d.difference, d.ci_low, d.ci_high) == (0.0, 0.0, 0.0)
    empty = paired_ratio(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))
    assert math.isnan(empty.base) and not empty.significant


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="equal 1-d arrays"):
        paired_mean([1.0, 2.0], [1.0])
