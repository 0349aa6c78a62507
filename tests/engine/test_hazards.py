"""Tests of truth for ``hazards:``: competing exits as piecewise-constant hazards by age band
and calendar month, against their closed forms.

With hazards λ_k constant on an age band, the time in the band is exponential with rate
Λ = Σ λ_k and the exit is k with chance λ_k / Λ; across bands the survival multiplies. Every
simulated estimate is compared with that truth within K standard errors of the estimate (a
fixed seed so that a failure can be reproduced; never a pinned simulated number).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import analytic
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simsales
from simsales.engine.hazards import REACHED_LAST_AGE, hazard_plan
from simsales.engine.model import TO_LOST, TO_WON, compile_model
from simsales.errors import ScenarioError
from simsales.scenario.calendar import CalendarSpec
from simsales.scenario.schema import Hazards


def _scenario(**parts: Any) -> simsales.Scenario:
    return analytic.scenario("hazards case", parts.pop("horizon", "2028-12-31"), **parts)


def _live(n: int, stage: str, days: float = 0.0, **extra: Any) -> list[dict[str, Any]]:
    return analytic.live(n, stage, days, digits=5, **extra)


_assert_close, _assert_proportion, K = analytic.assert_close, analytic.assert_proportion, analytic.K


def _plan(h: dict[str, Any], to: tuple[int, ...], start: str = "2027-01-01") -> Any:
    calendar = CalendarSpec(continuous=True).build(date.fromisoformat(start), date(2029, 12, 31))
    return hazard_plan(
        Hazards.model_validate(h), -1.0, to, 0, TO_WON, TO_LOST, calendar,
        date.fromisoformat(start), date(2029, 12, 31),
    )  # fmt: skip


def _won_lost(won: float, lost: float) -> dict[str, Any]:
    """One band to age 1000 with constant won and lost rates."""
    return {"ages": [0, 1000], "exits": [{"to": "won", "per_day": [won]},
                                         {"to": "lost", "per_day": [lost]}]}  # fmt: skip


def _draws(plan: Any, n: int, seed: int, start: float = 0.0, age: float = 0.0, **kw: Any) -> Any:
    rng = np.random.default_rng(seed)
    u = rng.random((n, 2)).tolist()
    out = [plan.draw(start, age, a, b, kw.get("scale", 1.0), kw.get("odds", 1.0)) for a, b in u]
    k = np.array([o[0] for o in out])
    t = np.array([o[1] for o in out])
    return k, t


# --- the sampler against closed forms ----------------------------------------------------------


def test_one_band_is_exponential_with_shares_in_proportion_to_the_rates() -> None:
    """One band of constant rates (0.03 won, 0.01 lost) up to age 1000: time ~ Exp(0.04)
    (mean 25, SE sd/sqrt(n)), exit won with chance 3/4; the last age is never reached."""
    plan = _plan(_won_lost(0.03, 0.01), (TO_WON, TO_LOST))
    k, t = _draws(plan, 20_000, seed=1)
    _assert_close(float(t.mean()), 25.0, 25.0 / math.sqrt(len(t)), "mean time in the stage")
    _assert_proportion(int((k == 0).sum()), len(k), 0.75, "share won")
    for q in (10.0, 25.0, 60.0):  # the exponential's distribution function
        _assert_proportion(int((t <= q).sum()), len(t), 1 - math.exp(-0.04 * q), f"P(T <= {q})")


def test_bands_give_the_cumulative_incidence_of_each_exit() -> None:
    """Bands [0, 5) with (won 0.1, lost 0.02) and [5, 60) with (won 0.005, lost 0.03); beyond 60
    the deal is lost at the last age. CIF_won(60) = 0.1/0.12 (1 - e^-0.6) + e^-0.6 0.005/0.035
    (1 - e^-1.925); the share reaching 60 is e^-0.6 e^-1.925."""
    plan = _plan({"ages": [0, 5, 60], "exits": [
        {"to": "won", "per_day": [0.1, 0.005]}, {"to": "lost", "per_day": [0.02, 0.03]}]},
        (TO_WON, TO_LOST))  # fmt: skip
    k, t = _draws(plan, 20_000, seed=2)
    s5 = math.exp(-0.12 * 5)
    s60 = math.exp(-0.035 * 55)
    won = 0.1 / 0.12 * (1 - s5) + s5 * 0.005 / 0.035 * (1 - s60)
    _assert_proportion(int((k == 0).sum()), len(k), won, "CIF of won at the last age")
    _assert_proportion(int((k == REACHED_LAST_AGE).sum()), len(k), s5 * s60, "reached 60 days")
    assert np.allclose(t[k == REACHED_LAST_AGE], 60.0)
    shares, last = Hazards.model_validate(TWO_BANDS["hazards"]).shares()
    assert shares[0] == pytest.approx(won, rel=1e-12)
    assert last == pytest.approx(s5 * s60, rel=1e-12)


def test_a_live_deal_starts_the_walk_at_its_age() -> None:
    """A deal 20 days in (second band): only the second band's rates act (memoryless within a
    band): time ~ Exp(0.035) truncated at 40 more days, won share 1/7 of the exits."""
    plan = _plan({"ages": [0, 5, 60], "exits": [
        {"to": "won", "per_day": [0.1, 0.005]}, {"to": "lost", "per_day": [0.02, 0.03]}]},
        (TO_WON, TO_LOST))  # fmt: skip
    k, t = _draws(plan, 20_000, seed=3, age=20.0)
    left = 1 - math.exp(-0.035 * 40)
    _assert_proportion(int((k == 0).sum()), len(k), left / 7, "won from age 20")
    _assert_proportion(int((t <= 10).sum()), len(t), 1 - math.exp(-0.35), "left within 10 days")


def test_the_calendar_row_gates_decisions() -> None:
    """By month of the quarter, no exit in the first month (rate 0) and rate 0.05 in the two
    others: from 1 January, nothing ends in January; the time is then 31 days plus Exp(0.05)
    within February-March (59 days), with the April gate next."""
    plan = _plan({"ages": [0, 400], "by": "month_of_quarter", "exits": [
        {"to": "won", "per_day": [[0.0], [0.05], [0.05]]}]}, (TO_WON,))  # fmt: skip
    _, t = _draws(plan, 20_000, seed=4)
    assert (t > 31.0).all(), "an exit in January, a month whose rate is 0"
    in_q1 = t <= 31 + 59
    _assert_proportion(int(in_q1.sum()), len(t), 1 - math.exp(-0.05 * 59), "decided in Feb-Mar")
    april = (t > 90) & (t <= 120)  # 2027: Jan 31 + Feb 28 + Mar 31 = 90 days, April 30
    assert not april.any(), "an exit in April, a first month of the quarter"


def test_duration_multiplier_stretches_ages_and_rates() -> None:
    """scale 2: rates halve and bands double: the time of one band is Exp(0.02), mean 50."""
    plan = _plan({"ages": [0, 1000], "exits": [{"to": "won", "per_day": [0.04]}]}, (TO_WON,))
    _, t = _draws(plan, 20_000, seed=5, scale=2.0)
    _assert_close(float(t.mean()), 50.0, 50.0 / math.sqrt(len(t)), "mean time, scale 2")


def test_win_odds_reweight_the_choice_not_the_time() -> None:
    """odds 3 on won vs lost rates (0.02, 0.02): won share 3/4, time still Exp(0.04)."""
    plan = _plan(_won_lost(0.02, 0.02), (TO_WON, TO_LOST))
    k, t = _draws(plan, 20_000, seed=6, odds=3.0)
    _assert_proportion(int((k == 0).sum()), len(k), 0.75, "won share with odds 3")
    _assert_close(float(t.mean()), 25.0, 25.0 / math.sqrt(len(t)), "mean time with odds 3")


# --- the walk over arrays against the walk per visit ---------------------------------------------

_TARGETS = (TO_WON, TO_LOST, 3, 1)  # won, lost, a later stage (towards a win), an earlier one
_BY = {1: None, 3: "month_of_quarter", 12: "month_of_year"}


@st.composite
def _random_plan(draw: Any) -> Any:
    """A plan of 1-4 exits, 1-4 age bands (some as long as months) and 1, 3 or 12 calendar
    rows, rates with zeros
    (whole bands or months without an exit), a start date mid-year (months of unequal length)
    and a lost_after or none."""
    rows = draw(st.sampled_from([1, 3, 12]))
    n_exits = draw(st.integers(1, 4))
    width = st.sampled_from([0.5, 3.0, 7.25, 28.0, 30.0, 31.0, 45.5, 61.0])
    widths = draw(st.lists(width, min_size=1, max_size=4))
    ages = [0.0, *np.cumsum(widths).tolist()]
    rate = st.one_of(st.just(0.0), st.floats(1e-4, 0.5))
    exits = []
    for j in range(n_exits):
        table = [[draw(rate) for _ in widths] for _ in range(rows)]
        exits.append({"to": ["won", "lost", "later", "earlier"][j],
                      "per_day": table if rows > 1 else table[0]})  # fmt: skip
    if not any(x > 0 for e in exits for r in np.atleast_2d(e["per_day"]) for x in r):
        exits[0]["per_day"] = [[0.1] * len(widths)] * rows if rows > 1 else [0.1] * len(widths)
    h = Hazards.model_validate(
        {"ages": ages, "exits": exits} | ({"by": _BY[rows]} if rows > 1 else {})
    )
    start = draw(st.sampled_from(["2027-01-01", "2027-02-14", "2027-06-30", "2028-02-29"]))
    calendar = CalendarSpec(continuous=True).build(date.fromisoformat(start), date(2029, 12, 31))
    lost_after = draw(st.sampled_from([-1.0, 0.0, 2.5]))
    return hazard_plan(h, lost_after, _TARGETS[:n_exits], 2, TO_WON, TO_LOST, calendar,
                       date.fromisoformat(start), date(2028, 12, 31))  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=_random_plan(), seed=st.integers(0, 2**32 - 1))
def test_draw_many_gives_the_floats_of_draw(plan: Any, seed: int) -> None:
    """draw_many over 400 visits equals draw per visit exactly (exit, time, ratio): starts
    anywhere, on a month boundary, a hair after one and past the plan's last month; ages 0,
    within the bands, on a band edge and beyond the last age; several scales and odds
    (including the engine's floor 1e-12), so segments end on age bands, months or both at
    once."""
    rng = np.random.default_rng(seed)
    n = 400
    bounds = np.array(plan.bounds)
    ages = np.array(plan.ages)
    start = rng.uniform(0.0, bounds[-1] + 40.0, n)
    on = rng.random(n) < 0.3
    start[on] = bounds[rng.integers(0, len(bounds), int(on.sum()))]
    start[:10] = bounds[:10] - 1e-10  # inside TIME_EPS of a month start: that month
    age = np.where(rng.random(n) < 0.4, 0.0, rng.uniform(0.0, 1.3 * ages[-1], n))
    age[10:20] = ages[rng.integers(0, len(ages), 10)]
    scale = rng.choice([1.0, 0.6, 1.7], n)
    # from a month start at age 0, unscaled: band ends (28, 30, 31, 61 days) meet month ends
    age[20:120], scale[20:120] = 0.0, 1.0
    start[20:120] = bounds[rng.integers(0, len(bounds) - 1, 100)]
    odds = rng.choice([1.0, 0.25, 3.0, 1e-12], n)
    u_time, u_exit = rng.random(n), rng.random(n)
    u_time[:5] = 0.0
    u_exit[5:10] = np.nextafter(1.0, 0.0)
    k, t, ratio = plan.draw_many(start, age, u_time, u_exit, scale, odds)
    visits = zip(start, age, u_time, u_exit, scale, odds, strict=True)
    one = [plan.draw(*map(float, x)) for x in visits]
    assert k.tolist() == [x[0] for x in one]
    assert np.array_equal(t, np.array([x[1] for x in one]))
    assert np.array_equal(ratio, np.array([x[2] for x in one]))


def test_draw_many_reuses_its_weights_across_calls_with_other_odds() -> None:
    """The exits' weights are kept per odds between calls: a second call with new odds and a
    third with old and new ones mixed still give draw's choices (and some visits take each
    way, so the comparison can fail)."""
    plan = _plan({"ages": [0, 10, 40], "by": "month_of_quarter", "exits": [
        {"to": "won", "per_day": [[0.05, 0.01], [0.02, 0.03], [0.0, 0.02]]},
        {"to": "lost", "per_day": [[0.02, 0.01], [0.02, 0.0], [0.03, 0.02]]}]},
        (TO_WON, TO_LOST))  # fmt: skip
    rng = np.random.default_rng(12)
    n = 2000
    for values in ([1.0, 2.0], [0.5, 4.0], [4.0, 1.0, 0.7]):
        odds = rng.choice(values, n)
        start, u_time, u_exit = rng.uniform(0, 300, n), rng.random(n), rng.random(n)
        k, _, _ = plan.draw_many(start, np.zeros(n), u_time, u_exit, np.ones(n), odds)
        one = [plan.draw(float(a), 0.0, float(b), float(c), 1.0, float(o))[0]
               for a, b, c, o in zip(start, u_time, u_exit, odds, strict=True)]  # fmt: skip
        assert k.tolist() == one
        assert {0, 1, REACHED_LAST_AGE} <= set(one)


# --- through the engine --------------------------------------------------------------------------

TWO_BANDS = {
    "id": "talk",
    "duration": {"fixed": 1},
    "hazards": {
        "ages": [0, 5, 60],
        "exits": [
            {"to": "won", "per_day": [0.1, 0.005]},
            {"to": "lost", "per_day": [0.02, 0.03]},
        ],
    },
}


def test_engine_win_chance_of_live_and_stale_deals() -> None:
    """2,000 deals at age 20 win with chance (1 - e^-1.4) / 7; 500 older than the last age (70
    days) are lost at once (stale), with no visit."""
    pipeline = _live(2000, "talk", 20.0) + [
        {"id": f"S{i:04d}", "type": "t", "stage": "talk", "days_in_stage": 70.0} for i in range(500)
    ]
    f = simsales.simulate(_scenario(stages=[TWO_BANDS], pipeline=pipeline), replications=2,
                          seed=7, progress=False)  # fmt: skip
    d = f.deals
    young = d[d["deal"].str.startswith("D")]
    stale = d[d["deal"].str.startswith("S")]
    truth = (1 - math.exp(-0.035 * 40)) / 7
    _assert_proportion(int((young["outcome"] == "won").sum()), len(young), truth, "won from 20")
    assert (stale["outcome"] == "lost").all() and (stale["decision_t"] == 0).all()
    assert not f.visits["deal"].str.startswith("S").any()
    reached = young["outcome"] == "lost"
    assert reached.sum() > 0


def test_engine_calendar_gate_and_arrivals() -> None:
    """Arrivals (20 a month) into a stage that decides only in the third month of each quarter:
    every decision date is in March, June, September or December."""
    stage = {
        "id": "talk",
        "duration": {"fixed": 1},
        "hazards": {
            "ages": [0, 300],
            "by": "month_of_quarter",
            "exits": [
                {"to": "won", "per_day": [[0], [0], [0.2]]},
                {"to": "lost", "per_day": [[0], [0], [0.1]]},
            ],
        },
    }
    s = _scenario(stages=[stage], pipeline=[], arrivals=[{"type": "t", "per_month": 20}])
    d = simsales.simulate(s, replications=3, seed=8, progress=False).deals
    decided = pd.to_datetime(d.loc[d["outcome"] != "open", "decision_date"])
    assert len(decided) > 100
    assert set(decided.dt.month.unique()) <= {3, 6, 9, 12}


@pytest.mark.parametrize("uncertain", [False, True])
def test_the_fast_path_gives_the_same_records_as_simpy(uncertain: bool) -> None:
    """Live deals (young and stale), arrivals, a calendar row, a later stage and (second case)
    win-odds and duration multipliers: every table equal, float for float."""
    hazards = {
        "ages": [0, 5, 60],
        "by": "month_of_quarter",
        "exits": [
            {"to": "won", "per_day": [[0.1, 0.0], [0.05, 0.01], [0.02, 0.04]]},
            {"to": "lost", "per_day": [[0.02, 0.01], [0.02, 0.03], [0.0, 0.02]]},
            {"to": "close", "per_day": [[0.01, 0.01], [0.0, 0.0], [0.01, 0.0]]},
        ],
    }
    stages = [
        {"id": "talk", "duration": {"fixed": 1}, "hazards": hazards, "stale": {"lost_after": 3}},
        {"id": "close", "duration": {"exponential": {"mean": 4}}, "advance": 0.7},
    ]
    parts: dict[str, Any] = {
        "stages": stages,
        "pipeline": _live(30, "talk", 3.0)
        + [{"id": f"S{i}", "type": "t", "stage": "talk", "days_in_stage": 61} for i in range(5)],
        "arrivals": [{"type": "t", "per_month": 15}],
        "horizon": "2027-09-30",
    }
    if uncertain:
        parts["uncertainty"] = {
            "win_odds": {"lognormal": {"mean": 1, "sd": 0.5}},
            "duration": {"lognormal": {"mean": 1, "sd": 0.3}},
        }
    s = _scenario(**parts)
    auto = simsales.simulate(s, replications=6, seed=9, progress=False, engine="auto")
    simpy = simsales.simulate(s, replications=6, seed=9, progress=False, engine="simpy")
    pd.testing.assert_frame_equal(auto.deals, simpy.deals)
    pd.testing.assert_frame_equal(auto.visits, simpy.visits)
    assert auto.provenance["engine_paths"] == {"vectorized": 6, "simpy": 0}


def test_win_probability_chain_uses_the_hazard_shares() -> None:
    m = compile_model(_scenario(stages=[TWO_BANDS], pipeline=[]))
    s5, s60 = math.exp(-0.6), math.exp(-0.035 * 55)
    won = 0.1 / 0.12 * (1 - s5) + s5 * 0.005 / 0.035 * (1 - s60)
    assert m.types[0].win_from[0] == pytest.approx(won, rel=1e-9)


# --- the language --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ages": [0, 5, 5]}, "must start at 0 and increase"),
        ({"ages": [1, 5, 60]}, "must start at 0 and increase"),
        ({"by": "month_of_quarter"}, "per_day must be 3 row(s) of 2 rate(s)"),
        ({"exits": [{"to": "wno", "per_day": [0.1, 0.1]}]}, "did you mean 'won'"),
        ({"exits": [{"to": "won", "per_day": [0, 0]}]}, "every rate is 0"),
    ],
)
def test_bad_hazards_are_clear_errors(change: dict[str, Any], message: str) -> None:
    stage = {**TWO_BANDS, "hazards": {**TWO_BANDS["hazards"], **change}}
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _scenario(stages=[stage], pipeline=[])


def test_one_form_per_stage() -> None:
    stage = {**TWO_BANDS, "exits": [{"to": "won", "p": 1.0}]}
    with pytest.raises(ScenarioError, match="gives both hazards and exits"):
        _scenario(stages=[stage], pipeline=[])


def test_a_type_override_with_hazards_replaces_the_stage_form() -> None:
    stages = [{"id": "talk", "duration": {"fixed": 1}, "exits": [{"to": "won", "p": 1.0}]}]
    s = _scenario(
        stages=stages,
        pipeline=_live(2000, "talk"),
        deal_types={"t": {"value": {"fixed": 1.0}, "stages": {"talk": {"hazards": {
            "ages": [0, 1000], "exits": [{"to": "won", "per_day": [0.01]},
                                         {"to": "lost", "per_day": [0.03]}]}}}}},
    )  # fmt: skip
    d = simsales.simulate(s, replications=1, seed=10, progress=False).deals
    _assert_proportion(int((d["outcome"] == "won").sum()), len(d), 0.25, "won share")
