"""The summary's interval helpers against scipy.stats, their oracle (simsales.results.stats
computes the same quantiles from scipy.special to keep scipy.stats out of start-up)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from simsales.results.stats import (
    Z95,
    _binom_ppf,
    _ranks,
    mean_interval,
    mean_intervals,
    percentile_interval,
    percentile_intervals,
    sorted_percentile_intervals,
)


def test_the_normal_quantile_is_scipys() -> None:
    assert float(stats.norm.ppf(0.975)) == Z95


@given(
    n=st.integers(1, 200_000),
    q=st.floats(0.0, 1.0),
    p=st.sampled_from([0.005, 0.025, 0.05, 0.1, 0.9, 0.95, 0.975, 0.995]),
)
def test_binomial_quantile_matches_scipy(n: int, q: float, p: float) -> None:
    mine = _binom_ppf(p, n, q)
    theirs = stats.binom.ppf(p, n, q)
    if mine != theirs:  # only at an exact tie, where the CDF's last bit decides (below)
        cdf = stats.binom.cdf(min(mine, theirs), n, q)
        assert abs(mine - theirs) == 1 and math.isclose(cdf, p, rel_tol=1e-9)


def test_binomial_quantile_at_an_exact_tie_is_the_smallest_reaching_rank() -> None:
    # P(K <= 3) = 1/2 exactly for Binomial(7, 1/2): the 0.5 quantile is 3
    assert _binom_ppf(0.5, 7, 0.5) == 3
    assert _binom_ppf(0.1, 1, 0.9) == 0  # P(K <= 0) = 0.1 exactly


def test_the_percentile_interval_covers_the_true_quantile_at_95_percent() -> None:
    # the distribution-free interval of the median of U(0, 1) from n = 50 draws is
    # [X_(l), X_(u + 1)] (order statistics, l and u the ranks): it holds the median when
    # l <= B <= u draws fall below it, B ~ Binomial(n, 1/2); that exact coverage is at least
    # 0.95, and 2,000 trials estimate it with an MC SE of about 0.4 points (bound: 4 SE)
    rng = np.random.default_rng(3)
    n, trials = 50, 2000
    lo_rank, hi_rank = _ranks(n, 0.5, 0.95)
    exact = stats.binom.cdf(hi_rank, n, 0.5) - stats.binom.cdf(lo_rank - 1, n, 0.5)
    assert exact >= 0.95
    hits = 0
    for _ in range(trials):
        _, lo, hi = percentile_interval(rng.random(n), 0.5)
        hits += lo <= 0.5 <= hi
    se = math.sqrt(exact * (1 - exact) / trials)
    assert abs(hits / trials - exact) < 4 * se


@given(
    st.integers(1, 6).flatmap(
        lambda deals: st.integers(0, 300).flatmap(
            lambda n: st.lists(
                st.lists(
                    st.floats(-1e12, 1e12, allow_nan=False) | st.sampled_from([0.0, 5e5]),
                    min_size=n,
                    max_size=n,
                ),
                min_size=deals,
                max_size=deals,
            )
        )
    )
)
def test_row_intervals_have_the_bits_of_each_row_alone(rows: list[list[float]]) -> None:
    # the summary reduces each deal's sample as a row of a matrix: the same numbers, bit for bit
    matrix = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    lone = [mean_interval(np.array(row, dtype=np.float64)) for row in rows]
    assert _bits(mean_intervals(matrix)) == _bits(lone)
    for row, sorted_row in zip(rows, np.sort(matrix, axis=1), strict=True):
        qs = (0.1, 0.5, 0.9)
        assert _bits(sorted_percentile_intervals(sorted_row, qs)) == _bits(
            percentile_intervals(row, qs)
        )


def _bits(intervals: list[tuple[float, float, float]]) -> list[tuple[str, ...]]:
    return [tuple(float(x).hex() for x in triple) for triple in intervals]
