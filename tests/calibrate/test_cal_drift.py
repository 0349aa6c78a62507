"""Between-month drift of the ``uncertainty:`` multipliers: counted only when a dispersion test
rejects homogeneous months at 1% (:data:`simsales.calibrate.fit.DRIFT_LEVEL`).

- Homogeneous months (Poisson counts, binomial shares, normal log values): the drift is 0 in
  all but about 1% of the series; the number of series with a drift is checked against the
  one-sided Binomial(R, 0.01) bound at 1e-4.
- The degrees of freedom are the months less the parameters fitted to them: for counts whose
  expectation came from :func:`arrival_pattern` (level, trend, cycle), ``X^2 / df`` averages 1
  (checked within 4 standard errors of the mean over the series) and the test's rejection
  count lies in the two-sided Binomial(R, 0.01) region at 1e-4 (counting one parameter only
  would reject about ten times too rarely here).
- An injected between-month variance is recovered: the mean estimate over series within 4
  standard errors of the mean, and the standard error each estimate states within a factor
  1.5 of the estimates' actual spread.
- In a calibration: the win-odds test counts the ``won_season`` levels; values carry their
  multiplier per deal type; the sampling variance of the win odds is binomial."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import simsales
import simsales.calibrate.calibrate as calibration
from simsales.calibrate.calibrate import (
    UNMEASURED_ODDS_VAR,
    Calibration,
    ExitMonths,
    WonMonths,
    _hazard_by_month,
    _split_z,
    _stage_odds,
    _won_shift,
    calibrate,
)
from simsales.calibrate.fit import (
    DRIFT_LEVEL,
    arrival_pattern,
    count_drift,
    odds_drift,
    value_drift,
)
from simsales.calibrate.importer import read_history
from simsales.calibrate.mapping import resolve_mapping
from simsales.calibrate.scenario_yaml import scenario_dict
from simsales.calibrate.synthetic import synthetic_history, synthetic_mapping

K = 4.0
R = 600  # independent series per check


def _at_most() -> float:
    """The most series with a drift that 1% false positives allow (one-sided, 1e-4)."""
    return float(stats.binom.ppf(1 - 1e-4, R, DRIFT_LEVEL))


def test_homogeneous_poisson_months_give_no_drift_but_at_the_test_level() -> None:
    rng = np.random.default_rng(21)
    e = np.full(24, 40.0)
    drifts = [count_drift(rng.poisson(e), np.ones(24), e) for _ in range(R)]
    hits = sum(d.between_var > 0 for d in drifts)
    assert hits <= _at_most(), hits
    assert all(d.df == 23 for d in drifts)
    # a drift is counted exactly when the test rejects
    assert all((d.between_var > 0) == d.rejected for d in drifts)


def test_homogeneous_binomial_months_give_no_odds_drift_but_at_the_test_level() -> None:
    rng = np.random.default_rng(22)
    n = np.full(18, 80)
    drifts = [odds_drift(rng.binomial(n, 0.35), n) for _ in range(R)]
    hits = sum(d.between_var > 0 for d in drifts)
    assert hits <= _at_most(), hits
    # the pooled log-odds' sampling variance is binomial: 1 / (N p (1 - p))
    d = drifts[0]
    assert d.sampling_var == pytest.approx(1 / (n.sum() * 0.35 * 0.65), rel=0.15)


def test_homogeneous_months_of_values_give_no_value_drift_but_at_the_test_level() -> None:
    rng = np.random.default_rng(23)
    months = np.repeat(np.arange(20), rng.integers(1, 12, 20))
    drifts = [value_drift(rng.normal(9.0, 0.8, len(months)), months) for _ in range(R)]
    hits = sum(d.between_var > 0 for d in drifts)
    assert hits <= _at_most(), hits
    assert all(d.df == 19 for d in drifts)


def test_degrees_of_freedom_are_months_less_the_fitted_parameters() -> None:
    """Counts with a trend and a quarter cycle, expectations from :func:`arrival_pattern`:
    ``X^2`` on ``months - parameters`` df is a calibrated test."""
    rng = np.random.default_rng(24)
    months = 18
    cal = (np.arange(months) % 12) + 1
    cycle = np.array([0.8, 0.9, 1.3])[(cal - 1) % 3]
    mu = 50 * 1.03 ** np.arange(months) * cycle / cycle.mean()
    ratios, hits = [], 0
    for _ in range(R // 2):
        y = rng.poisson(mu)
        pattern = arrival_pattern(y, np.ones(months), cal)
        d = count_drift(y, np.ones(months), pattern.expected, pattern.parameters)
        assert d.df == months - pattern.parameters
        ratios.append(d.chi2 / d.df)
        hits += d.rejected
    r = np.array(ratios)
    assert abs(r.mean() - 1) < K * r.std(ddof=1) / math.sqrt(len(r)), r.mean()
    lo, hi = stats.binom.ppf([1e-4, 1 - 1e-4], len(r), DRIFT_LEVEL)
    assert lo <= hits <= hi, hits


def _recovered(estimates: list[float], ses: list[float], truth: float) -> None:
    est = np.array(estimates)
    sd = float(est.std(ddof=1))
    assert abs(est.mean() - truth) < K * sd / math.sqrt(len(est)), (est.mean(), truth, sd)
    stated = float(np.median(ses))
    assert sd / 1.5 < stated < sd * 1.5, (stated, sd)


def test_injected_rate_drift_is_recovered_within_its_standard_error() -> None:
    """Rates drawn lognormally per month (variance of the log 0.3^2, mean 1): 36 months of
    about 50 counts; the estimate is the variance of the log, ``log(1 + v)``."""
    rng = np.random.default_rng(25)
    e = np.full(36, 50.0)
    out = []
    for _ in range(R // 2):
        lam = e * rng.lognormal(-0.045, 0.3, 36)
        out.append(count_drift(rng.poisson(lam), np.ones(36), e))
    assert all(d.rejected for d in out)  # a drift this large is always seen
    _recovered([d.between_var for d in out], [d.between_se for d in out], 0.09)


def test_injected_value_drift_is_recovered_within_its_standard_error() -> None:
    """Mean log value shifted per month by N(0, 0.3^2); 30 months of 6 to 20 values, within
    sd 0.5."""
    rng = np.random.default_rng(26)
    out = []
    for _ in range(R // 2):
        sizes = rng.integers(6, 21, 30)
        months = np.repeat(np.arange(30), sizes)
        shift = rng.normal(0, 0.3, 30)[months]
        out.append(value_drift(rng.normal(10 + shift, 0.5), months))
    assert all(d.rejected for d in out)  # a drift this large is always seen
    _recovered([d.between_var for d in out], [d.between_se for d in out], 0.09)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Calibration:
    path = tmp_path_factory.mktemp("drift") / "history.csv"
    synthetic_history("2021-01-01", "2022-12-31", seed=11, won_cycle=(0.8, 1.0, 1.25)).to_csv(
        path, index=False
    )
    h = read_history(path, resolve_mapping(mapping=synthetic_mapping()))
    return calibrate(h, "2022-08-31", by="product")


def test_win_odds_test_counts_the_won_season_levels(fitted: Calibration) -> None:
    d = fitted.uncertainty["win_odds"]
    assert fitted.won_cycle is not None and fitted.won_cycle.form == "month_of_quarter"
    assert d.df == d.periods - 1 - 2  # the level and the cycle's two free levels
    # binomial sampling variance of the decided deals' log-odds
    decided = fitted.history.deals["outcome"]
    won, lost = int((decided == "won").sum()), int((decided == "lost").sum())
    p = won / (won + lost)
    assert d.n == won + lost
    assert d.sampling_var == pytest.approx(1 / ((won + lost) * p * (1 - p)), rel=1e-9)
    a = fitted.uncertainty["arrivals"]
    assert fitted.pattern is not None and a.df == a.periods - fitted.pattern.parameters


def test_values_carry_their_multiplier_per_deal_type(fitted: Calibration) -> None:
    data = fitted.scenario()
    assert "value" not in data.get("uncertainty", {})
    for g in fitted.groups:
        assert g.value is not None
        d = g.uncertainty["value"]
        assert d.n == g.value.n  # this type's own won values
        s2 = g.value.sigma**2
        assert d.sampling_var == pytest.approx(s2 / d.n + s2**2 / (2 * (d.n - 1)), rel=1e-9)
        spec = data["deal_types"][g.id]["uncertainty"]["value"]["lognormal"]
        assert spec["sd"] == pytest.approx(math.sqrt(math.expm1(d.sd_log**2)), rel=1e-3)
    text = fitted.to_yaml()
    assert "homogeneity" in text and "at 0.01" in text
    simsales.load_dict(data)


def test_resampled_values_carry_their_multiplier_too(tmp_path: Path) -> None:
    """Won values drawn from a Pareto (whales among small deals) are resampled, and the type
    still has its value multiplier, measured on its own values."""
    rows = synthetic_history("2021-01-01", "2022-12-31", seed=11)
    won = rows["value"].notna()
    rows.loc[won, "value"] = 20_000 * (1 + np.random.default_rng(3).pareto(1.2, int(won.sum())))
    path = tmp_path / "whales.csv"
    rows.to_csv(path, index=False)
    c = calibrate(read_history(path, resolve_mapping(mapping=synthetic_mapping())), "2022-08-31",
                  by=None)  # fmt: skip
    (g,) = c.groups
    assert g.value is not None and g.value.resampled
    assert g.uncertainty["value"].n == g.value.n
    data = c.scenario()
    assert "empirical" in data["deal_types"][g.id]["value"]
    assert "value" in data["deal_types"][g.id]["uncertainty"]


@pytest.mark.slow
def test_drift_is_counted_in_the_written_scenario_only_when_rejected(tmp_path: Path) -> None:
    """Months far from homogeneous (arrivals doubled in every other month): the arrivals'
    drift is counted and the comment says the test rejected."""
    rows = synthetic_history("2021-01-01", "2022-06-30", seed=4, trend=0.0,
                             quarter_cycle=(1, 1, 1))  # fmt: skip
    first = rows.groupby("id")["entered_at"].transform("min")
    extra = rows[first.str[5:7].astype(int) % 2 == 1].copy()
    extra["id"] = extra["id"] + "x"  # a copy of every deal that arrived in an odd month
    path = tmp_path / "lumpy.csv"
    both = pd.concat([rows, extra]).sort_values(["entered_at", "id"], kind="stable")
    both.to_csv(path, index=False)
    c = calibrate(read_history(path, resolve_mapping(mapping=synthetic_mapping())), "2022-06-30")
    a = c.uncertainty["arrivals"]
    assert a.rejected and a.between_var > 0.05
    assert "homogeneity rejected" in c.to_yaml()


def test_the_hazard_by_month_sums_what_each_visit_was_at_risk_for() -> None:
    """Prefix sums per (visit, month) against the direct sum over every (visit, age)."""
    rng = np.random.default_rng(4)
    times = np.unique(np.round(rng.exponential(30.0, 400), 3))
    hazard = rng.uniform(0.0, 0.02, len(times))
    n = 300
    entered = rng.uniform(0.0, 200.0, n)
    hi = rng.exponential(40.0, n)
    lo = np.where(rng.uniform(size=n) < 0.3, hi * rng.uniform(size=n), -np.inf)
    hi[:5] = times[:5]  # ends exactly at an age: that age counts
    edges = np.array([0.0, 31.0, 59.0, 90.0, 120.0, 151.0, 181.0])
    when = entered[:, None] + times[None, :]
    k = np.searchsorted(edges, when, side="right") - 1
    inside = (times > lo[:, None]) & (times <= hi[:, None]) & (k >= 0) & (k < len(edges) - 1)
    direct = np.bincount(k[inside], np.broadcast_to(hazard, when.shape)[inside],
                         minlength=len(edges) - 1)  # fmt: skip
    got = _hazard_by_month(times, hazard, entered, lo, hi, edges)
    np.testing.assert_allclose(got, direct, rtol=1e-12, atol=1e-12)
    assert direct.sum() > 1.0


def _opened(rng: np.random.Generator, per_month: float) -> tuple[pd.Timestamp, pd.DatetimeIndex]:
    """The export's day (2021-09-30) and deals opened at ``per_month`` a month from 2020."""
    start, end = pd.Timestamp("2020-01-01"), pd.Timestamp("2021-09-30")
    days = (end - start).days
    n = rng.poisson(per_month * days / 30.44)
    return end, start + pd.to_timedelta(np.sort(rng.uniform(0, days, n)), unit="D")


def _changed_history(
    path: Path, seed: int, per_month: float, won: tuple[float, float], change: str = "2021-07-01"
) -> Path:
    """Deals opened at ``per_month`` a month over 2020-2021 into one open stage, decided after
    an exponential time (mean 30 days), won with chance ``won[0]``, or ``won[1]`` when decided
    from ``change`` on (a price change): a stage-changes export as of 2021-09-30."""
    rng = np.random.default_rng(seed)
    end, opened = _opened(rng, per_month)
    n = len(opened)
    decided = opened + pd.to_timedelta(rng.exponential(30.0, n), unit="D")
    p = np.where(decided >= pd.Timestamp(change), won[1], won[0])
    outcome = np.where(rng.random(n) < p, "Won", "Lost")
    ids = [f"d{i}" for i in range(n)]
    rows = [pd.DataFrame({"id": ids, "stage": "open", "entered_at": opened})]
    done = decided <= end
    rows.append(pd.DataFrame({"id": np.array(ids)[done], "stage": outcome[done],
                              "entered_at": decided[done]}))  # fmt: skip
    frame = pd.concat(rows).sort_values("entered_at", kind="stable")
    frame["entered_at"] = frame["entered_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.to_csv(path, index=False)
    return path


def test_two_months_of_decisions_measure_the_drift_of_winning(tmp_path: Path) -> None:
    """Two whole months are one degree of freedom, enough for the test: won with 0.5 in
    January, 0.2 from February on, the win odds' drift is counted as of February's end (and
    the history is not called too short); a month earlier there is one month, and a note."""
    path = _changed_history(tmp_path / "h.csv", 3, 400, (0.5, 0.2), change="2020-02-01")
    h = read_history(path, preset="stage-changes", exported="2021-09-30")
    c = calibrate(h, "2020-02-29")
    d = c.uncertainty["win_odds"]
    assert d.df == 1 and d.rejected and d.between_var > 0
    assert not c.history.report.count("short_history")
    early = calibrate(h, "2020-01-31")
    assert early.history.report.count("short_history") > 0
    # one month measures no drift: the prior stands for it (not zero), over the run's months
    prior = early.uncertainty["win_odds"]
    assert prior.statistic == "prior" and prior.sampling_var > 0
    assert prior.between_var * prior.horizon_months == pytest.approx(UNMEASURED_ODDS_VAR)


def test_the_between_month_drift_is_drawn_month_by_month(tmp_path: Path) -> None:
    """Months vary independently about their level: the between-month part is a factor drawn
    every month (the same whatever the horizon), on the chance to win with the wins' own
    relative variance; the sampling part, the level's error, is the once-per-run one."""
    path = _changed_history(tmp_path / "h.csv", 3, 400, (0.5, 0.2), change="2020-02-01")
    h = read_history(path, preset="stage-changes", exported="2021-09-30")
    short = calibrate(h, "2020-02-29", horizon="2020-04-29")
    two = short.uncertainty["win_odds"]
    six = calibrate(h, "2020-02-29", horizon="2020-08-29").uncertainty["win_odds"]
    assert two == six and two.monthly and two.between_var > 0
    once, month = two.spec(), two.monthly_spec()
    assert once is not None and month is not None
    sd = math.sqrt(math.expm1(two.sampling_var))
    assert once["lognormal"]["sd"] == pytest.approx(sd, rel=1e-3)  # type: ignore[index]
    # on the chance to win: the odds' between-month variance times (1 - p)^2 (the delta method)
    assert 0 < two.monthly_var < two.between_var
    assert scenario_dict(short)["uncertainty"]["monthly"]["win"] == month


def test_two_homogeneous_months_give_no_drift_but_at_the_test_level() -> None:
    """As the win odds' test does: the expected counts scaled to the observed total (the one
    parameter fitted), two months left one degree of freedom."""
    rng = np.random.default_rng(22)
    e = np.array([150.0, 300.0])
    counts = [rng.poisson(e) for _ in range(R)]
    drifts = [count_drift(c, np.ones(2), e * c.sum() / e.sum()) for c in counts]
    assert all(d.df == 1 for d in drifts)
    assert sum(d.between_var > 0 for d in drifts) <= _at_most()


def test_a_recent_change_of_the_chance_to_win_is_taken_at_its_new_level(tmp_path: Path) -> None:
    """Won with 0.5 until three months before the as-of date, 0.3 since: the calibration
    finds the shift and sets the won share of decisions near 0.3 (its binomial SE over the
    recent months' ~1,200 decisions is about 0.013; the tolerance is four of them)."""
    path = _changed_history(tmp_path / "h.csv", 7, 400, (0.5, 0.3))
    c = calibrate(read_history(path, preset="stage-changes", exported="2021-09-30"), "2021-09-30")
    assert c.win_shift is not None and c.win_shift.z < -3
    exits = {e.to: e.p for e in c.stages[0].exits}
    share = exits["won"] / (exits["won"] + exits["lost"])
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 1200)
    assert c.history.report.count("win_shift") == c.win_shift.decisions > 0
    # its estimate's uncertainty is in the win odds' spread
    assert c.uncertainty["win_odds"].sampling_var > 1 / (c.uncertainty["win_odds"].n * 0.25)


def _won_months(forward: np.ndarray, lost: np.ndarray, expected: np.ndarray) -> WonMonths:
    """Months whose decisions go ``forward`` and are ``lost``, each series expected at
    ``expected`` by the age-based rates (the forward ones all wins: one stage)."""
    months = tuple(pd.period_range("2020-01", periods=len(forward), freq="M"))
    return WonMonths(months, forward, expected, forward, expected, 0, 0.5, 1000,
                     ExitMonths(forward, expected), ExitMonths(lost, expected))  # fmt: skip


def test_a_change_of_the_chance_to_win_is_found_at_its_month_however_long_ago() -> None:
    """Months expecting 100 decisions forward and 100 lost each, going forward at 0.6 and lost
    at 1.4 times that from a month eight to fourteen months back (the last months of 20 or
    26): the change is found at its month (within one), and each factor is the recent
    months' own level against the E scaled to the O (within four of its Poisson SEs of the
    truth so scaled); of 200 series without a change, at most six show one (the largest
    split's level is 1%: expected 2, P(7 or more) < 0.005)."""
    rng = np.random.default_rng(5)
    for n, k in ((20, 8), (26, 14)):
        level = np.r_[np.ones(n - k), np.full(k, 0.6)]
        e = np.full(n, 100.0)
        f = rng.poisson(e * level).astype(np.float64)
        lo = rng.poisson(e * (2 - level)).astype(np.float64)
        shift = _won_shift(_won_months(f, lo, e))
        assert shift is not None and abs(shift.months - k) <= 1 and shift.z < -5
        for o, truth, got in ((f, level, shift.forward), (lo, 2 - level, shift.lost)):
            scaled = e * o.sum() / e.sum()
            recent = o[-shift.months :].sum() / scaled[-shift.months :].sum()
            assert got == pytest.approx(recent)
            bound = 4 * math.sqrt(recent / (100 * k))
            assert abs(recent - truth[-1] * e.sum() / (truth * e).sum()) < bound
        assert shift.factor == pytest.approx(shift.forward)  # the wins are the forward ones

    def flat() -> np.ndarray:
        return rng.poisson(np.full(20, 100.0)).astype(np.float64)

    found = sum(_won_shift(_won_months(flat(), flat(), np.full(20, 100.0))) is not None
                for _ in range(200))  # fmt: skip
    assert found <= 6 and stats.binom.sf(6, 200, 0.01) < 0.005


def test_a_faster_pace_alone_is_no_change_of_the_chance_to_win() -> None:
    """Decisions coming 1.5 times as fast in the last eight months, forward and lost alike
    (a team that decides faster, no better): the odds did not move, so no change is found
    in a series without noise where a change of the odds of the same size would be."""
    e = np.full(20, 100.0)
    pace = np.r_[np.ones(12), np.full(8, 1.5)]
    assert _won_shift(_won_months(e * pace, e * pace, e)) is None
    assert _won_shift(_won_months(e * pace, e, e)) is not None


def test_each_stage_keeps_its_own_change_where_the_stages_plainly_differ() -> None:
    """Three stages, each with 10,000 decisions a month expected forward and lost over 20
    months, no noise. Where every stage's odds fell by the same factor, the stages' changes
    do not vary beyond their sampling (DerSimonian-Laird's between-stage variance is 0) and
    each takes the precision-weighted mean, here that factor exactly. Where only the first
    stage's fell, the between-stage variance is large against the tiny sampling variance, so
    each keeps about its own: the first near its factor, the others near 1 (within 2%, the
    shrinkage left at these counts)."""
    e = np.full(20, 10_000.0)
    recent = np.r_[np.ones(12), np.full(8, 0.5)]

    def stage(fell: bool) -> tuple[ExitMonths, ExitMonths]:
        return ExitMonths(e * (recent if fell else 1), e), ExitMonths(e.copy(), e)

    def truth(fell: bool) -> float:
        o = e * (recent if fell else 1)
        return float(o[-8:].sum() / (e * o.sum() / e.sum())[-8:].sum())

    alike = _stage_odds({s: stage(True) for s in "abc"}, 8, 0.0)
    assert alike == pytest.approx(dict.fromkeys("abc", truth(True)))
    one = _stage_odds({"a": stage(True), "b": stage(False), "c": stage(False)}, 8, 0.0)
    assert one["a"] == pytest.approx(truth(True), rel=0.02)
    assert one["b"] == pytest.approx(1.0, rel=0.02) and one["c"] == pytest.approx(1.0, rel=0.02)
    # a stage with no recent decisions takes the pooled change
    empty = (ExitMonths(np.zeros(20), e), ExitMonths(np.zeros(20), e))
    assert _stage_odds({"a": stage(True), "z": empty}, 8, math.log(0.7))["z"] == 0.7


def test_the_split_statistic_is_pearsons_on_each_side_with_any_month_left_out() -> None:
    """The prefix-sum form against scipy's Pearson chi-square on each side about its own
    level, on random months (one expecting none), with all months and with each one left
    out (the series without it, its split one month shorter where it was recent)."""
    rng = np.random.default_rng(3)
    n = 14
    e = rng.uniform(5.0, 60.0, n)
    e[4] = 0.0
    o = rng.poisson(e, (5, n)).astype(np.float64)
    ks = np.arange(3, n - 6 + 1)
    lr, var = _split_z(o, e, ks, n - 2)
    for drop in (None, 0, 4, n - 1):
        keep = np.arange(n) != (-1 if drop is None else drop)
        for j, k in enumerate(ks):
            recent = (np.arange(n) >= n - k)[keep]
            oo, ee = o[:, keep], e[keep]
            for h in range(len(o)):
                sides = [(oo[h, m], ee[m]) for m in (recent, ~recent)]
                levels = [x.sum() / y.sum() for x, y in sides]
                chi2 = sum(
                    stats.chisquare(x[y > 0], lv * y[y > 0], sum_check=False).statistic
                    for (x, y), lv in zip(sides, levels, strict=True)
                )
                df = n - 2 - (drop is not None)
                v = max(1.0, chi2 / df) * sum(1 / x.sum() for x, _ in sides)
                at = (h, 0 if drop is None else 1 + drop, j)
                assert var[at] == pytest.approx(v, rel=1e-9)
                assert lr[at] == pytest.approx(math.log(levels[0] / levels[1]), rel=1e-9)


def test_a_change_carried_by_one_month_is_no_lasting_change() -> None:
    """A clean-up closing 400 old deals lost in one month, three months before the as-of
    date, the months otherwise alike (100 forward and 100 lost expected each, no noise): the
    split of the last three months differs beyond 1% (its |z| is 3.6 with every
    month counted), but with that month left out nothing changed, so no change is found; the
    same 400 spread over the last three months is one."""
    e = np.full(20, 100.0)
    spike = e.copy()
    spike[-3] += 400
    assert _won_shift(_won_months(e.copy(), spike, e)) is None
    spread = e.copy()
    spread[-3:] += 400 / 3
    assert _won_shift(_won_months(e.copy(), spread, e)) is not None


def _cleanup_history(path: Path, seed: int, cleanup: str | None) -> Path:
    """Deals opened at 300 a month over 2020-2021 into one open stage, decided after an
    exponential time (mean 30 days), won with 0.4; half the lost deals are never closed
    (zombies) until ``cleanup``, a day that closes every zombie opened 60 days before it as
    lost (none without): a stage-changes export as of 2021-09-30."""
    rng = np.random.default_rng(seed)
    end, opened = _opened(rng, 300)
    n = len(opened)
    decided = opened + pd.to_timedelta(rng.exponential(30.0, n), unit="D")
    won = rng.random(n) < 0.4
    zombie = ~won & (rng.random(n) < 0.5)
    closed = pd.Series(decided).where(~zombie)
    if cleanup is not None:
        day = pd.Timestamp(cleanup) + pd.Timedelta(hours=10)
        closed[zombie & (opened < day - pd.Timedelta(days=60))] = day
    ids = np.array([f"d{i}" for i in range(n)])
    done = (closed.notna() & (closed <= end)).to_numpy()
    parts = [(ids, "open", opened), (ids[done], np.where(won, "Won", "Lost")[done], closed[done])]
    rows = pd.concat(pd.DataFrame({"id": i, "stage": st, "entered_at": t}) for i, st, t in parts)
    rows = rows.sort_values("entered_at", kind="stable")
    rows["entered_at"] = pd.to_datetime(rows["entered_at"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    rows.to_csv(path, index=False)
    return path


def test_a_clean_up_day_is_no_decision_in_the_test_of_a_lasting_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean-up closing the zombies at once (2021-05-12): exactly that day's losses are
    reported as closed at once (`bulk_close`) and taken as open until then by the test, so
    the month of the clean-up counts only the deals lost on its other days; no change is
    found. Without a clean-up (the zombies stay open), no day is one."""
    path = _cleanup_history(tmp_path / "h.csv", 5, "2021-05-12")
    rows = pd.read_csv(path)
    lost = rows[rows["stage"] == "Lost"]["entered_at"]
    swept = int(lost.str.startswith("2021-05-12").sum())  # with the day's own few decided
    seen: list[WonMonths | None] = []
    test = calibration._won_shift
    monkeypatch.setattr(calibration, "_won_shift", lambda w: seen.append(w) or test(w))
    c = calibrate(read_history(path, preset="stage-changes", exported="2021-09-30"), "2021-09-30")
    assert c.history.report.count("bulk_close") == swept > 500
    assert c.win_shift is None
    (w,) = seen
    may = int(lost.str.startswith("2021-05").sum())
    assert w is not None and w.lost is not None and w.lost.observed[-5] == may - swept
    calm = _cleanup_history(tmp_path / "calm.csv", 5, None)
    c = calibrate(read_history(calm, preset="stage-changes", exported="2021-09-30"), "2021-09-30")
    assert c.history.report.count("bulk_close") == 0


def _upstream_history(
    path: Path, seed: int, change: str, worse: float, per_month: float = 300
) -> Path:
    """Deals opened at 300 a month over 2020-2021 through 'qualify' (45% lost there) and
    'propose' (won or lost after it), each stage an exponential time (mean 20 days); from
    ``change`` on, a deal leaving 'qualify' is lost with ``worse`` instead of 0.45 (a new
    competitor turns deals away early): a stage-changes export as of 2021-09-30. The
    second stage's won share stays at 0.6."""
    rng = np.random.default_rng(seed)
    end, opened = _opened(rng, per_month)
    n = len(opened)
    left = opened + pd.to_timedelta(rng.exponential(20.0, n), unit="D")
    p_lost = np.where(left >= pd.Timestamp(change), worse, 0.45)
    on = rng.random(n) >= p_lost
    decided = left + pd.to_timedelta(rng.exponential(20.0, n), unit="D")
    outcome = np.where(rng.random(n) < 0.6, "Won", "Lost")
    ids = np.array([f"d{i}" for i in range(n)])
    parts = [
        (ids, "qualify", opened),
        (ids[~on], "Lost", left[~on]),
        (ids[on], "propose", left[on]),
        (ids[on], outcome[on], decided[on]),
    ]
    rows = pd.concat(pd.DataFrame({"id": i, "stage": st, "entered_at": t}) for i, st, t in parts)
    rows = rows[rows["entered_at"] <= end].sort_values("entered_at", kind="stable")
    rows["entered_at"] = rows["entered_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    rows.to_csv(path, index=False)
    return path


def test_a_change_decided_upstream_is_found_and_set_at_its_stage(tmp_path: Path) -> None:
    """Lost at 'qualify' with 0.6 instead of 0.45 from 2020-12-01 (ten months before the
    as-of date): the last stage's own won share did not move, but fewer deals reach it, so
    the chance to win fell from 0.55 x 0.6 to 0.4 x 0.6. Both stages' exits are age-based
    here (no calendar hazards), as the test needs. The change is found (within two months:
    the decisions of the months at its edge mix both), 'qualify' is set near its new forward
    share 0.4 (the binomial SE over its ~1,000 recent decisions is about 0.015; tolerance
    three of them and a little for the edge), and 'propose' keeps about its 0.6 (shrunk a
    little towards the stages' mean change: within 0.06). Before, only the wins of the stage
    that wins were tested, and the change was not found. None without the change."""
    path = _upstream_history(tmp_path / "h.csv", 41, "2020-12-01", 0.6, per_month=100)
    c = calibrate(read_history(path, preset="stage-changes", exported="2021-09-30"), "2021-09-30")
    assert not any(st.hazards is not None and st.hazards.chosen for st in c.stages)
    assert c.win_shift is not None and c.win_shift.z < 0
    assert abs((c.win_shift.since - date(2020, 12, 1)).days) <= 62
    qualify, propose = ({e.to: e.p for e in st.exits} for st in c.stages)
    assert abs(qualify["propose"] / (qualify["propose"] + qualify["lost"]) - 0.4) < 0.05
    assert abs(propose["won"] / (propose["won"] + propose["lost"]) - 0.6) < 0.06
    calm = _upstream_history(tmp_path / "calm.csv", 42, "2020-12-01", 0.45, per_month=100)
    c = calibrate(read_history(calm, preset="stage-changes", exported="2021-09-30"), "2021-09-30")
    assert c.win_shift is None


def test_arrivals_that_halve_and_stay_so_are_fitted_from_the_break(tmp_path: Path) -> None:
    """New deals at 400 a month until 2021-03-01, 200 since (a team left): the arrivals are
    counted from the break (within a month: the months at its edges mix both rates) and the
    scenario's rate is near 200 (the recent months' Poisson SE is about 5; tolerance four
    of them plus a sixth of the gap for a split a month off); none at a constant rate."""
    path = _changed_history(tmp_path / "h.csv", 9, 400, (0.4, 0.4))
    rows = pd.read_csv(path)
    first = rows.groupby("id")["entered_at"].transform("min") == rows["entered_at"]
    opened = rows["id"].map(pd.to_datetime(rows.loc[first].set_index("id")["entered_at"]))
    rng = np.random.default_rng(4)
    late = opened >= pd.Timestamp("2021-03-01")
    gone = set(rows.loc[late & first, "id"].sample(frac=0.5, random_state=rng).tolist())
    rows[~rows["id"].isin(gone)].to_csv(path, index=False)
    c = calibrate(read_history(path, preset="stage-changes", exported="2021-09-30"), "2021-09-30")
    assert abs((c.arrivals_from - date(2021, 3, 1)).days) <= 31
    assert "arrivals_break" in {i.rule for i in c.history.report.issues}
    (g,) = c.groups
    rate = g.arrivals.per_month * c.arrival_factor
    assert abs(rate - 200) < 4 * 5 + 200 / 6, rate
    flat = _changed_history(tmp_path / "flat.csv", 10, 400, (0.4, 0.4))
    calm = calibrate(read_history(flat, preset="stage-changes", exported="2021-09-30"),
                     "2021-09-30")  # fmt: skip
    assert "arrivals_break" not in {i.rule for i in calm.history.report.issues}


def test_a_stationary_history_seldom_shows_a_shift(tmp_path: Path) -> None:
    """At the 1% level, ten stationary histories should show at most one (P(2 or more) is
    about 0.004 when the test holds its level)."""
    shifts = 0
    for seed in range(10):
        path = _changed_history(tmp_path / f"h{seed}.csv", 100 + seed, 100, (0.4, 0.4))
        shifts += calibrate(read_history(path, preset="stage-changes")).win_shift is not None
    assert shifts <= 1


def test_the_arrival_trends_interval_holds_the_true_trend_at_its_level() -> None:
    """Monthly Poisson counts growing 3% a month from 30: where the trend is chosen, its 95%
    interval holds 0.03 in about 95% of series (tolerance four binomial standard errors)."""
    rng = np.random.default_rng(8)
    months = np.arange(24)
    held = []
    for _ in range(200):
        counts = rng.poisson(30 * 1.03**months)
        p = arrival_pattern(counts, np.ones(24), months % 12 + 1)
        if p.trend:
            held.append(p.trend_interval[0] <= 0.03 <= p.trend_interval[1])
    assert len(held) > 150
    share = float(np.mean(held))
    assert abs(share - 0.95) < 4 * math.sqrt(0.95 * 0.05 / len(held))
