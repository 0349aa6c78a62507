"""The statistical fits against truths drawn with numpy (not with simsales)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simsales.calibrate.fit import (
    LOAD_LEVEL,
    LOAD_MIN,
    MIN_RESAMPLED,
    VALUE_LEVEL,
    aalen_johansen,
    age_at_load,
    arrival_pattern,
    beta_rate,
    bulk_days,
    eb_prior,
    fit_duration,
    fit_empirical,
    fit_values,
    month_exposure,
    poisson_rate,
    type_trends,
)
from simsales.errors import SimsalesError


def _durations(rng: np.random.Generator, n: int, mu: float, sigma: float, as_of: float):
    """Day-rounded CRM durations with deals still open at ``as_of`` (right-censored)."""
    start = rng.uniform(0, as_of, n)
    end = start + np.exp(mu + sigma * rng.standard_normal(n))
    e, c = np.floor(start), np.ceil(end) - 1
    done = c <= as_of
    gap = c - e
    low = np.where(done, np.maximum(gap - 0.5, 0), as_of - e + 0.5)
    high = np.where(done, gap + 0.5, np.inf)
    return low, high, done


def test_censored_fit_recovers_the_median_and_dropping_open_deals_would_not() -> None:
    rng = np.random.default_rng(11)
    mu, sigma = math.log(40.0), 0.9
    low, high, done = _durations(rng, 3000, mu, sigma, as_of=200.0)
    assert (~done).sum() > 300  # enough censoring to matter
    fit = fit_duration(low, high)
    lo, hi = fit.median_interval
    assert lo <= 40.0 <= hi
    assert fit.n_done == done.sum() and fit.n_open == (~done).sum()
    assert fit.sigma == pytest.approx(sigma, abs=5 * fit.se_mu)
    # The naive fit on finished deals only is biased short: outside the interval.
    naive = fit_duration(low[done], high[done])
    assert naive.median_interval[1] < 40.0


def test_standard_error_of_the_median_is_the_normal_theory_one_for_exact_durations() -> None:
    """With (nearly) exact, uncensored durations the fit is the normal one of the logs, whose
    observed information gives se(mu) = sigma / sqrt(n) exactly: the one-pass difference
    Hessian must reproduce it."""
    rng = np.random.default_rng(3)
    d = np.exp(math.log(20.0) + 0.8 * rng.standard_normal(2000))
    fit = fit_duration(d * (1 - 1e-7), d * (1 + 1e-7))
    assert fit.sigma == pytest.approx(float(np.std(np.log(d))), rel=1e-4)
    assert fit.se_mu == pytest.approx(fit.sigma / math.sqrt(2000), rel=1e-4)


def test_left_truncation_corrects_the_bias_of_deals_seen_only_if_long() -> None:
    rng = np.random.default_rng(5)
    mu, sigma = math.log(30.0), 0.7
    start = rng.uniform(-150, 300, 6000)
    d = np.exp(mu + sigma * rng.standard_normal(6000))
    seen = start + d > 0  # the export only holds deals that ended after day 0
    start, d = start[seen], d[seen]
    gap = np.round(d)
    low, high = np.maximum(gap - 0.5, 0), gap + 0.5
    trunc = np.maximum(-start, 0.0)
    fit = fit_duration(low, high, trunc)
    lo, hi = fit.median_interval
    assert lo <= 30.0 <= hi
    assert fit.n_truncated == (trunc > 0).sum()
    assert fit_duration(low, high).median_interval[0] > 30.0  # ignoring it overestimates


def test_too_few_finished_durations_is_a_clear_error() -> None:
    with pytest.raises(SimsalesError, match="only 2 completed durations"):
        fit_duration([1, 2, 5, 5], [2, 3, np.inf, np.inf])


def test_beta_posterior_interval_is_the_beta_quantiles() -> None:
    r = beta_rate(30, 50)
    assert (r.alpha, r.beta) == (31, 21)
    lo, hi = r.interval
    assert lo == pytest.approx(stats.beta.ppf(0.025, 31, 21))
    assert hi == pytest.approx(stats.beta.ppf(0.975, 31, 21))
    with pytest.raises(ValueError, match="successes"):
        beta_rate(5, 3)


def test_empirical_bayes_prior_is_centred_on_the_pooled_rate_and_shrinks_small_groups() -> None:
    rng = np.random.default_rng(2)
    p = rng.beta(12, 8, 12)  # true group rates around 0.6
    n = rng.integers(20, 400, 12)
    k = rng.binomial(n, p)
    a, b, note = eb_prior(k, n)
    assert "empirical Bayes over 12 groups" in note
    assert a / (a + b) == pytest.approx(k.sum() / n.sum(), abs=0.05)
    small = beta_rate(1, 2, (a, b))
    assert abs(small.mean - a / (a + b)) < abs(0.5 - a / (a + b)) + 1e-9  # pulled to the prior
    a2, b2, note2 = eb_prior([3, 9], [10, 10])
    assert "fixed strength" in note2 and a2 + b2 == pytest.approx(10.0)


def _opened(rng: np.random.Generator, per_day: float, weekly: bool = False) -> pd.Series:
    """Two years of deals opened on weekdays at a growing Poisson rate (Mondays twice the
    others), or with ``weekly`` the week's deals all entered on its Friday."""
    days = pd.date_range("2022-01-03", periods=728, freq="D")
    shape = np.where(days.day_of_week == 0, 2.0, np.where(days.day_of_week < 5, 1.0, 0.0))
    rate = per_day * shape * np.linspace(1.0, 2.0, len(days))
    counts = rng.poisson(rate)
    if weekly:  # a week's deals typed in at once on Friday: no load, a habit
        weeks = np.arange(len(days)) // 7
        counts = np.where(days.day_of_week == 4, np.bincount(weeks, counts)[weeks], 0)
    return pd.Series(np.repeat(days, counts))


def test_no_bulk_day_in_poisson_days_however_uneven_the_weekdays() -> None:
    """Poisson days with a Monday peak, growth and weekends, or a weekly Friday habit, show no
    load: each history's chance of a false one is under LOAD_LEVEL (Bonferroni), so of 40
    histories at most one may have one (two or more: probability under 1e-3); a quiet team's
    busy day of fewer than LOAD_MIN deals is none either."""
    rng = np.random.default_rng(11)
    false = sum(
        bool(bulk_days(_opened(rng, 6.0))) + bool(bulk_days(_opened(rng, 3.0, weekly=True)))
        for _ in range(20)
    )
    assert false <= 1 and stats.binom.sf(1, 40, LOAD_LEVEL) < 1e-3
    quiet = pd.concat([_opened(rng, 0.2), pd.Series([pd.Timestamp("2023-03-08")] * (LOAD_MIN - 1))])
    assert bulk_days(quiet) == []


def test_a_load_of_old_deals_is_found_on_its_day() -> None:
    """A migration's load (60 deals stamped with one day) on the history's first day, or in
    the middle of it, is found, and only that day."""
    rng = np.random.default_rng(12)
    for day in ("2022-01-03", "2022-09-14"):
        load = pd.Series([pd.Timestamp(day) + pd.Timedelta(hours=15)] * 60)
        assert bulk_days(pd.concat([load, _opened(rng, 6.0)])) == [pd.Timestamp(day)]


def _loaded(rng: np.random.Generator, age: float, n: int, follow: float) -> tuple:  # type: ignore[type-arg]
    """Weibull(shape 0.6, scale 30) times in a stage (a hazard falling with age, so a
    deal's age changes its chances), ended by a win when under 10 days, else by a loss: the
    stage's Aalen-Johansen from 5,000 visits, and that of ``n`` deals loaded at ``age`` days
    old and followed ``follow`` days (open after that)."""
    stage = 30.0 * rng.weibull(0.6, 5000)
    # X | X > age by inverting the conditional survival exp((age/30)^0.6 - (x/30)^0.6)
    x = 30.0 * ((age / 30.0) ** 0.6 + rng.exponential(1.0, n)) ** (1 / 0.6)
    left = x - age
    to = np.where(left <= follow, np.where(x < 10.0, "won", "lost"), "")
    return (
        aalen_johansen(stage, np.where(stage < 10.0, "won", "lost")),
        aalen_johansen(np.minimum(left, follow), to),
        follow,
    )


def test_age_at_load_recovers_the_age_deals_were_loaded_at() -> None:
    """2,000 deals loaded 40 days into a stage, followed 30 days: over 20 such loads the
    mean age found is within 4 of its standard errors of 40 (least squares on Aalen-Johansen
    curves is consistent, its bias at this size far below that), and a load of new visits
    (age 0) is found younger than 5 days on average; 24 exits, after a load or of the stage's
    own visits, are too few."""
    rng = np.random.default_rng(21)
    old, new = [], []
    for _ in range(20):
        fit = age_at_load(*_loaded(rng, 40.0, 2000, 30.0))
        assert fit is not None and fit.horizon == 30.0 and 0.0 < fit.still < 1.0
        old.append(fit.age)
        young = age_at_load(*_loaded(rng, 0.0, 2000, 30.0))
        assert young is not None
        new.append(young.age)
    se = float(np.std(old, ddof=1)) / math.sqrt(len(old))
    assert abs(float(np.mean(old)) - 40.0) < 4 * se, (np.mean(old), se)
    assert float(np.mean(new)) < 5.0
    stage, loaded, _ = _loaded(rng, 40.0, 2000, 30.0)
    few = aalen_johansen(np.arange(1.0, 31.0), ["lost"] * 24 + [""] * 6)
    assert age_at_load(stage, few, 30.0) is None
    assert age_at_load(few, loaded, 30.0) is None  # nor a stage's 24 own


def test_poisson_rate_interval_is_garwood() -> None:
    r = poisson_rate(40, 4.0)
    assert r.per_month == 10.0
    assert r.low == pytest.approx(stats.chi2.ppf(0.025, 80) / 2 / 4)
    assert r.high == pytest.approx(stats.chi2.ppf(0.975, 82) / 2 / 4)
    assert poisson_rate(0, 2.0).low == 0.0


def test_month_exposure_counts_partial_months_by_their_days() -> None:
    ts = pd.Timestamp
    assert month_exposure(ts("2017-03-01"), ts("2017-07-01")) == pytest.approx(4.0)
    assert month_exposure(ts("2017-02-15"), ts("2017-03-01")) == pytest.approx(14 / 28)
    assert month_exposure(ts("2017-03-01"), ts("2017-03-01")) == 0.0


def test_values_fit_is_the_lognormal_of_the_logs() -> None:
    rng = np.random.default_rng(4)
    v = np.exp(8 + 0.4 * rng.standard_normal(500))
    fit = fit_values(np.concatenate([v, [0.0, np.nan]]))  # zeros and blanks are not values
    assert fit is not None and fit.n == 500
    lo, hi = fit.median_interval
    assert lo <= math.exp(8) <= hi
    assert fit_values([0.0, np.nan]) is None
    assert fit_values([5.0, 5.0, 5.0]).spec() == {"fixed": 5.0}  # type: ignore[union-attr]


def test_values_whose_logs_are_not_normal_are_resampled() -> None:
    """Lognormal values keep the lognormal: of 100 samples of 200, at most 4 are resampled
    (the test's level is VALUE_LEVEL = 1%: P(5 or more) < 0.004). Pareto values (whales among
    small deals) are resampled in at least 95 of 100 (the test's power here is near 1), as
    the values themselves, with a median interval from their order statistics that holds the
    true median; fewer than MIN_RESAMPLED values are never resampled."""
    rng = np.random.default_rng(6)
    assert VALUE_LEVEL == 0.01 and stats.binom.sf(4, 100, VALUE_LEVEL) < 0.004
    lognormal = [fit_values(np.exp(9 + rng.standard_normal(200))) for _ in range(100)]
    assert sum(bool(f and f.resampled) for f in lognormal) <= 4
    pareto = [fit_values(20_000 * (1 + rng.pareto(1.2, 200))) for _ in range(100)]
    assert sum(bool(f and f.resampled) for f in pareto) >= 95
    fit = next(f for f in pareto if f and f.resampled)
    assert fit.spec() == {"empirical": list(fit.resampled)} and fit.n == 200
    truth = 20_000 * 2 ** (1 / 1.2)  # the Pareto's median
    held = [f.median_interval[0] <= truth <= f.median_interval[1] for f in pareto if f]
    assert sum(held) >= 90  # a 95% interval: of 100, 90 or more (P(fewer) < 0.03)
    few = fit_values(20_000 * (1 + rng.pareto(1.2, MIN_RESAMPLED - 1)))
    assert few is not None and not few.resampled


def _two_types(rng: np.random.Generator, trends: tuple[float, float]) -> np.ndarray:
    months = np.arange(30)
    return np.stack([rng.poisson(80 * (1 + r) ** months) for r in trends]).astype(np.float64)


def test_types_whose_arrivals_grow_apart_get_their_own_trends() -> None:
    """Two types over 30 months, one flat and one growing 4% a month: each type's trend is
    its own (within four of the flat one's standard error, the larger: 1 / sqrt(80 sum (i -
    mean)^2), about 0.0024) and its
    rate at month 30 is near the truth; two types growing alike share the pattern's: of 100
    such pairs at most 4 get trends of their own (the test's level is 1%: P(5 or more) below
    0.004)."""
    rng = np.random.default_rng(9)
    exposure, months = np.ones(30), (np.arange(30) % 12) + 1
    counts = _two_types(rng, (0.0, 0.04))
    total = arrival_pattern(counts.sum(axis=0), exposure, months)
    found = type_trends(counts, exposure, months, total, 30)
    assert found is not None
    trends, rate = found
    se = 1 / math.sqrt(80 * float(np.sum((np.arange(30) - 14.5) ** 2)))
    np.testing.assert_allclose(trends, [0.0, 0.04], atol=4 * se)
    np.testing.assert_allclose(rate, [80, 80 * 1.04**30], rtol=0.1)
    alike = 0
    for _ in range(100):
        counts = _two_types(rng, (0.02, 0.02))
        total = arrival_pattern(counts.sum(axis=0), exposure, months)
        alike += type_trends(counts, exposure, months, total, 30) is not None
    assert alike <= 4 and stats.binom.sf(4, 100, 0.01) < 0.004


def test_kaplan_meier_matches_scipy_with_right_censoring() -> None:
    rng = np.random.default_rng(8)
    true = np.round(np.exp(3 + 0.8 * rng.standard_normal(800)))
    seen = np.minimum(true, rng.integers(5, 120, 800))
    done = seen == true
    fit = fit_empirical(seen, done)
    ref = stats.ecdf(stats.CensoredData(uncensored=seen[done], right=seen[~done]))
    cdf = np.cumsum(fit.p)
    assert np.allclose(cdf, ref.cdf.evaluate(np.array(fit.values)), atol=1e-12)
    assert fit.tail == pytest.approx(1 - cdf[-1])
    spec = fit.spec()["discrete"]
    assert math.fsum(spec["p"]) == pytest.approx(1.0, abs=1e-12)  # type: ignore[index]


def test_kaplan_meier_with_delayed_entry_recovers_the_median() -> None:
    rng = np.random.default_rng(9)
    start = rng.integers(-150, 300, 8000)
    d = np.maximum(np.round(np.exp(math.log(30.0) + 0.7 * rng.standard_normal(8000))), 1)
    seen = start + d >= 0  # the export only holds deals that ended on or after day 0
    start, d = start[seen], d[seen]
    as_of = 300
    done = start + d <= as_of
    days = np.where(done, d, as_of - start)
    fit = fit_empirical(days, done, -start)
    lo, hi = fit.median_interval
    assert lo <= 30 <= hi
    assert fit.n_truncated == (start < 0).sum() and fit.n_open == (~done).sum()
    naive = fit_empirical(days, done)  # without delayed entry: biased long
    assert naive.median > 30
