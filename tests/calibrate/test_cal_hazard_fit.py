"""Calendar x age hazards chosen by held-out prediction (:mod:`simsales.calibrate.hazard_fit`):
picked on a history whose decisions follow the month of the quarter, with the rates recovered
within their standard errors; not picked on a stationary history beyond the rule's
false-positive rate; never without enough months to hold one out.

The histories are one stage whose exits (won, lost) have constant hazards per month of the
quarter, drawn exactly (exponential per calendar month, the memoryless walk). Tolerances:
K = 4 standard errors per cell (Poisson), around the shrunk estimator's own expectation;
false positives against a one-sided binomial bound at 1e-3."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from calib_helpers import MAVEN
from scipy import stats

import simsales
from simsales.calibrate.calibrate import calibrate
from simsales.calibrate.fit import count_drift
from simsales.calibrate.hazard_fit import ROWS, choose_hazards
from simsales.calibrate.importer import read_history
from simsales.calibrate.scenario_yaml import _hazards
from simsales.scenario.schema import Hazards

K = 4.0
FP_RATE = 0.01  # what the margin is meant to hold the false positives below
WON = (0.005, 0.01, 0.04)  # per day, by month of the quarter: a quarter-end push
LOST = (0.01, 0.01, 0.01)


def _history(
    won: tuple[float, ...], lost: tuple[float, ...], per_day: float, seed: int,
    start: str = "2021-01-01", as_of: str = "2022-06-30",
) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:  # fmt: skip
    """Visits (entered, left, to, days, entry) of deals entering uniformly from ``start``, as
    known at the end of ``as_of`` (later exits open)."""
    rng = np.random.default_rng(seed)
    t0, t1 = pd.Timestamp(start), pd.Timestamp(as_of) + pd.Timedelta(days=1)
    span = float((t1 - t0).days)
    entered = np.sort(rng.uniform(0.0, span, rng.poisson(per_day * span)))
    months = pd.period_range(t0.to_period("M"), (t1 + pd.Timedelta(days=4000)).to_period("M"))
    bounds = np.array([(m.start_time - t0).days for m in months], dtype=np.float64)
    row = np.array([(m.month - 1) % ROWS for m in months])
    left = np.empty(len(entered))
    to = np.empty(len(entered), dtype=object)
    for i, s in enumerate(entered):
        t, j, e = s, int(np.searchsorted(bounds, s, side="right") - 1), rng.exponential()
        while True:
            w, lo = won[row[j]], lost[row[j]]
            if t + e / (w + lo) <= bounds[j + 1]:
                t += e / (w + lo)
                to[i] = "won" if rng.uniform() * (w + lo) < w else "lost"
                break
            e -= (w + lo) * (bounds[j + 1] - t)
            t, j = bounds[j + 1], j + 1
        left[i] = t
    done = left < span
    visits = pd.DataFrame({
        "entered": t0 + pd.to_timedelta(entered, unit="D"),
        "left": t0 + pd.to_timedelta(np.where(done, left, np.nan), unit="D"),
        "to": np.where(done, to, ""),
        "days": np.where(done, left - entered, span - entered),
        "entry": -entered,  # observed from the start: no late entry
    })  # fmt: skip
    return visits, t0, pd.Timestamp(as_of)


def _loaded_history(
    gamma: float, seed: int, per_day: tuple[float, float] = (12.0, 36.0), total: float = 0.04,
    won_share: float = 0.6, start: str = "2021-01-01", as_of: str = "2022-06-30",
) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp, float, float]:  # fmt: skip
    """Visits of a stage whose exits keep pace with its load: each open visit leaves at rate
    ``total * (N / N0) ** -gamma`` per day, N the visits open at the day's start and N0 the
    load at which the rate is ``total`` (won with chance ``won_share``); arrivals ramp from
    ``per_day[0]`` to ``per_day[1]`` a day, so the load grows and gamma can be told. gamma 1:
    the team decides ``total * N0`` deals a day however many are open. Drawn day by day (the
    rate constant within a day), exits at a uniform time of their day. Also the load at the
    end of ``as_of`` and the truth's total rate then."""
    rng = np.random.default_rng(seed)
    t0, t1 = pd.Timestamp(start), pd.Timestamp(as_of) + pd.Timedelta(days=1)
    span = (t1 - t0).days
    n0 = per_day[0] / total  # the steady load of the first arrivals' rate at gamma 0
    ramp = per_day[0] + (per_day[1] - per_day[0]) * np.arange(span) / span
    counts = rng.poisson(ramp)
    ent = np.concatenate([np.sort(d + rng.uniform(size=c)) for d, c in enumerate(counts)])
    lft = np.full(len(ent), np.nan)
    won = rng.uniform(size=len(ent)) < won_share
    first = np.concatenate([[0], np.cumsum(counts)])  # visits entered before each day
    for day in range(span):
        now = np.flatnonzero(np.isnan(lft[: first[day]]))  # open at the day's start
        rate = total * (max(len(now), 1) / n0) ** -gamma
        leave = now[rng.uniform(size=len(now)) < -math.expm1(-rate)]
        lft[leave] = day + rng.uniform(size=len(leave))
    to = np.where(won, "won", "lost").astype(object)
    done = np.isfinite(lft)
    visits = pd.DataFrame({
        "entered": t0 + pd.to_timedelta(ent, unit="D"),
        "left": t0 + pd.to_timedelta(np.where(done, lft, np.nan), unit="D"),
        "to": np.where(done, to, ""),
        "days": np.where(done, lft - ent, span - ent),
        "entry": -ent,
    })  # fmt: skip
    n = int((~done).sum())
    return visits, t0, pd.Timestamp(as_of), n, total * (max(n, 1) / n0) ** -gamma


def _choose(visits: pd.DataFrame, t0: pd.Timestamp, as_of: pd.Timestamp):  # type: ignore[no-untyped-def]
    longest = float(visits.loc[visits["to"] != "", "days"].max())
    return choose_hazards(visits, as_of, t0, longest, date_only=False)


def test_a_quarter_end_push_is_chosen_and_its_rates_recovered() -> None:
    visits, t0, as_of = _history(WON, LOST, per_day=20.0, seed=3)
    fit = _choose(visits, t0, as_of)
    assert fit.chosen, fit.note
    assert fit.exits == ("lost", "won")
    assert fit.exposure is not None and fit.prior_rates is not None
    rates = np.array(fit.rates)
    truth = np.stack([np.array(LOST), np.array(WON)], axis=-1)  # [row][exit]
    checked = 0
    for r in range(ROWS):
        for b in range(len(fit.ages) - 1):
            e = fit.exposure[r, b]
            for k in range(2):
                lam, prior = truth[r, k], fit.prior_rates[r, b, k]
                if lam * e < 20:  # too few expected exits for a normal tolerance
                    continue
                # the shrunk estimator (D + m) / (E + m / prior): its mean and SD given the
                # truth (the SD bound holds for recency weights <= 1 too)
                denom = e + fit.pseudo / prior
                mean = (lam * e + fit.pseudo) / denom
                sd = math.sqrt(lam * e) / denom
                assert abs(rates[r, b, k] - mean) <= K * sd, (r, b, k, rates[r, b, k], lam)
                checked += 1
    assert checked >= ROWS * 2 * 2  # most cells were checked, not skipped


def test_the_chosen_hazards_expect_each_months_wins_so_the_calendar_is_not_drift() -> None:
    """The win-odds drift of a stage with calendar hazards is measured against the wins they
    expect month by month: on a history whose only calendar effect is the quarter-end push
    (no drift), those expectations match the observed wins (Pearson's chi-square on months -
    1 - 2 cycle levels does not reject at 1e-3), while a flat expectation (the same share of
    each month's days at risk, what age alone says) is rejected."""
    visits, t0, as_of = _history(WON, LOST, per_day=20.0, seed=3)
    fit = _choose(visits, t0, as_of)
    assert fit.chosen, fit.note
    months = pd.period_range(t0.to_period("M"), as_of.to_period("M"))
    won = visits[visits["to"] == "won"]
    observed = won["left"].dt.to_period("M").value_counts().reindex(months, fill_value=0)
    expected = np.array([fit.won_expected[m] for m in months])
    calendar = count_drift(observed.to_numpy(), np.ones(len(months)), expected, fitted=1 + 2)
    assert calendar.p_value > 1e-3, calendar.test_note
    flat = expected.sum() / len(months)  # each month's share of the days at risk, near equal
    age_only = count_drift(observed.to_numpy(), np.ones(len(months)), np.full(len(months), flat))
    assert age_only.p_value < 1e-3, age_only.test_note


@pytest.mark.slow
def test_a_stationary_history_keeps_age_only_at_the_false_positive_rate() -> None:
    datasets = 40
    chosen = 0
    for seed in range(datasets):
        visits, t0, as_of = _history((0.015,) * 3, (0.01,) * 3, per_day=3.0, seed=100 + seed)
        chosen += _choose(visits, t0, as_of).chosen
    # one-sided: more choices than a 1% false-positive rate allows at 1e-3
    assert chosen <= stats.binom.ppf(1 - 1e-3, datasets, FP_RATE), chosen


def test_too_few_months_to_hold_one_out_keep_age_only() -> None:
    visits, t0, as_of = _history(WON, LOST, per_day=20.0, seed=4, as_of="2021-03-31")
    fit = _choose(visits, t0, as_of)
    assert not fit.chosen
    assert "fewer than 3 months" in fit.note


@pytest.mark.data
@pytest.mark.skipif(not MAVEN.exists(), reason=f"real data not found at {MAVEN}")
def test_maven_gets_calendar_hazards_once_months_can_be_held_out() -> None:
    """Maven decides by the quarter: with four months of closes the rule picks calendar x age
    hazards; the scenario carries them (no won_season, no per-type exits on that stage, the
    evidence in its comment) and loads. With one month of closes it cannot test and keeps the
    age-based exits."""
    h = read_history(MAVEN)
    early = calibrate(h, "2017-03-31")
    assert all(s.hazards is not None and not s.hazards.chosen for s in early.stages)
    assert all("hazards" not in s for s in early.scenario()["stages"])
    cal = calibrate(h, "2017-06-30")
    st = {s.id: s for s in cal.stages}["engaging"]
    assert st.hazards is not None and st.hazards.chosen, st.hazards
    stage = {s["id"]: s for s in cal.scenario()["stages"]}["engaging"]
    assert stage["hazards"]["by"] == "month_of_quarter"
    assert "exits" not in stage and "won_season" not in stage
    assert all("engaging" not in t.get("stages", {}) for t in cal.scenario()["deal_types"].values())
    assert "held out 2017-06-01..2017-06-30" in cal.to_yaml()
    simsales.load_dict(cal.scenario())


def _total_rate(fit) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The fit's total exit rate (cells weighted by their days at risk) and a bound on its
    relative standard error (1 / sqrt of the weighted exits: recency weights are <= 1)."""
    assert fit.exposure is not None and fit.events is not None
    rates = np.array(fit.rates).sum(axis=2)  # [row][band]
    rate = float((fit.exposure * rates).sum() / fit.exposure.sum())
    return rate, 1.0 / math.sqrt(float(fit.events.sum()))


def test_exits_that_keep_pace_with_the_team_are_read_at_todays_load() -> None:
    """A stage that decides as many deals a day however many are open (gamma 1), while its
    arrivals triple: the rule picks a load elasticity near 1, and its rates at the as-of
    date's load are the truth's within K standard errors; held at today's load, not at the
    history's average one (which would forecast too many exits from a grown pipeline)."""
    visits, t0, as_of, now, truth = _loaded_history(1.0, seed=11)
    fit = _choose(visits, t0, as_of)
    assert fit.chosen, fit.note
    assert fit.load >= 0.75, fit.note
    assert 0.9 * now <= fit.open_at <= now  # the open visits but those outliving every exit
    rate, rel = _total_rate(fit)
    assert abs(rate / truth - 1) <= K * rel, (rate, truth, fit.note)
    if math.isinf(fit.pseudo):  # by age alone: written as one row, without `by`
        written = _hazards(fit)
        assert "by" not in written and all(len(e["per_day"]) == 1 for e in written["exits"])
        Hazards.model_validate(written)


def test_exits_of_their_own_under_a_growing_load_keep_elasticity_zero() -> None:
    """The same tripling arrivals with each visit's exits its own (gamma 0): no load
    elasticity is chosen above a quarter, whatever else the rule keeps."""
    for seed in (12, 13, 14):
        visits, t0, as_of, _, truth = _loaded_history(0.0, seed=seed)
        fit = _choose(visits, t0, as_of)
        assert not fit.chosen or fit.load <= 0.25, fit.note
        if fit.chosen:
            rate, rel = _total_rate(fit)
            assert abs(rate / truth - 1) <= K * rel, (rate, truth, fit.note)
