"""Competing exits, age-conditioned live deals, per-replication uncertainty and arrival trends,
against analytic truth.

As in test_truths.py: a fixed seed makes a failure reproducible, but nothing pins a simulated
number. Every Monte Carlo estimate is compared with its analytic value within ``K = 4.5``
standard errors (a correct engine fails one check with probability ~7e-6); KS tests at a fixed
seed must give p > 1e-3 against the truth, and p < 1e-6 against the wrong law they guard
against (their power). The calendar is continuous (model time = days) and nothing needs people,
so deals are independent and the analytic chains hold exactly.
"""

from __future__ import annotations

import math
from typing import Any

import analytic
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import simsales
from simsales.engine.model import compile_model


def _scenario(**parts: Any) -> simsales.Scenario:
    return analytic.scenario("exits case", parts.pop("horizon", "2029-12-31"), **parts)


def _live(n: int, stage: str, days: float = 0.0, **extra: Any) -> list[dict[str, Any]]:
    return analytic.live(n, stage, days, digits=5, **extra)


_run, _assert_close, _assert_proportion, K = (
    analytic.run,
    analytic.assert_close,
    analytic.assert_proportion,
    analytic.K,
)


# --- 1. an absorbing chain of competing exits -------------------------------------------------

# Every way out: rework to several earlier stages, a skip, won from a middle stage, a
# click-through (a point mass at 0). Exit means are written out beside each `after`.
CHAIN = [
    {
        "id": "a",
        "duration": {"uniform": [2, 6]},  # mean 4, for the exits without `after`
        "exits": [
            {"to": "b", "p": 0.5},
            {"to": "c", "p": 0.15, "after": {"fixed": 3}},  # a skip
            {"to": "won", "p": 0.05, "after": {"fixed": 0}},  # click-through
            {"to": "lost", "p": 0.3, "after": {"exponential": {"mean": 10}}},
        ],
    },
    {
        "id": "b",
        "duration": {"triangular": [1, 4, 10]},  # mean 5
        "exits": [
            {"to": "c", "p": 0.5},
            {"to": "a", "p": 0.1, "after": {"uniform": [0, 2]}},  # rework, mean 1
            {"to": "won", "p": 0.1, "after": {"fixed": 2}},  # won from a middle stage
            {"to": "lost", "p": 0.3, "after": {"uniform": [5, 15]}},  # mean 10
        ],
    },
    {
        "id": "c",
        "duration": {"fixed": 6},
        "exits": [
            {"to": "d", "p": 0.6},
            {"to": "a", "p": 0.05, "after": {"fixed": 1}},  # rework to two targets
            {"to": "b", "p": 0.1, "after": {"fixed": 2}},
            {"to": "lost", "p": 0.25, "after": {"exponential": {"mean": 4}}},
        ],
    },
    {
        "id": "d",
        "duration": {"uniform": [1, 3]},  # mean 2
        "exits": [
            {"to": "won", "p": 0.8},
            {"to": "lost", "p": 0.2, "after": {"fixed": 5}},
        ],
    },
]
# (from, to, p, mean time of that exit); "won"/"lost" absorb
CHAIN_EXITS = [
    ("a", "b", 0.5, 4.0),
    ("a", "c", 0.15, 3.0),
    ("a", "won", 0.05, 0.0),
    ("a", "lost", 0.3, 10.0),
    ("b", "c", 0.5, 5.0),
    ("b", "a", 0.1, 1.0),
    ("b", "won", 0.1, 2.0),
    ("b", "lost", 0.3, 10.0),
    ("c", "d", 0.6, 6.0),
    ("c", "a", 0.05, 1.0),
    ("c", "b", 0.1, 2.0),
    ("c", "lost", 0.25, 4.0),
    ("d", "won", 0.8, 2.0),
    ("d", "lost", 0.2, 5.0),
]


def _chain_truth(
    exits: list[tuple[str, str, float, float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Win probability, mean time to decision and expected visits per stage, from the
    fundamental matrix N = (I - Q)^-1: w = N r, T = N b (b_s = sum_k p_k m_k), visits = N[0]."""
    ids = ["a", "b", "c", "d"]
    q, r, b = np.zeros((4, 4)), np.zeros(4), np.zeros(4)
    for frm, to, p, mean in exits:
        i = ids.index(frm)
        b[i] += p * mean
        if to == "won":
            r[i] += p
        elif to != "lost":
            q[i, ids.index(to)] += p
    n = np.linalg.inv(np.eye(4) - q)
    return n @ r, n @ b, n[0]


def test_competing_exits_chain_matches_fundamental_matrix() -> None:
    win, mean_t, visits_per_deal = _chain_truth(CHAIN_EXITS)
    scenario = _scenario(stages=CHAIN, pipeline=_live(2000, "a"))
    # The compiled chain (used for the `win_probability` attribute) agrees with the analytic one.
    np.testing.assert_allclose(compile_model(scenario).types[0].win_from, win)
    f = _run(scenario, 2, seed=12)
    d = f.deals
    assert (d["outcome"] != "open").all(), "every deal decides long before the horizon"
    n = len(d)
    _assert_proportion(int((d["outcome"] == "won").sum()), n, float(win[0]), "P(win)")
    t = d["decision_t"].to_numpy()
    _assert_close(float(t.mean()), float(mean_t[0]), float(t.std(ddof=1) / math.sqrt(n)), "E[T]")
    # Visits per stage and deal: N[0, s]. SE from the per-deal counts.
    per_deal = f.visits.groupby(["replication", "deal", "stage"], observed=False).size()
    for s, stage in enumerate("abcd"):
        counts = per_deal.xs(stage, level="stage").to_numpy()
        _assert_close(
            float(counts.mean()),
            float(visits_per_deal[s]),
            float(counts.std(ddof=1) / math.sqrt(len(counts))),
            f"visits of {stage}",
        )


def test_visit_exit_kinds_follow_the_shares() -> None:
    """The visit table says which exit each visit took: won/lost/advance/skip/rework."""
    scenario = _scenario(stages=CHAIN, pipeline=_live(2000, "a"))
    v = _run(scenario, 2, seed=13).visits
    assert set(v["exit"].cat.categories) == {"open", "won", "lost", "advance", "skip", "rework"}
    expected = {
        "a": {"advance": 0.5, "skip": 0.15, "won": 0.05, "lost": 0.3},
        "b": {"advance": 0.5, "rework": 0.1, "won": 0.1, "lost": 0.3},
        "c": {"advance": 0.6, "rework": 0.15, "lost": 0.25},
        "d": {"won": 0.8, "lost": 0.2},
    }
    for stage, shares in expected.items():
        kinds = v.loc[v["stage"] == stage, "exit"].astype(str)
        assert set(kinds) <= set(shares), f"{stage}: unexpected exit kinds {set(kinds)}"
        for kind, p in shares.items():
            _assert_proportion(int((kinds == kind).sum()), len(kinds), p, f"{stage} -> {kind}")


def test_win_factor_scales_the_chance_to_win_exactly_with_exits() -> None:
    """A rule's win factor f turns wins into losses (f < 1) or losses into wins (f > 1) on the
    exits to won/lost: the chance to win is f times the chain's, wherever the wins come from."""
    win, _, _ = _chain_truth(CHAIN_EXITS)
    for factor in (0.5, 1.2):  # 1.2: f p_won <= p_won + p_lost at a, b and d, so no cap
        scenario = _scenario(
            stages=CHAIN,
            pipeline=_live(2000, "a"),
            rules=[{"id": "r", "when": "value > 0", "then": {"win_factor": factor}}],
        )
        d = _run(scenario, 2, seed=14).deals
        won = int((d["outcome"] == "won").sum())
        _assert_proportion(won, len(d), factor * float(win[0]), f"P(win) with f = {factor}")


def test_win_odds_multiplier_reweights_the_ways_towards_a_win() -> None:
    """A fixed win_odds multiplier M: at every stage the exits to won or forward weigh M times
    more, then the shares are renormalised; the chain with those shares is the truth."""
    m = 2.0
    reweighted: list[tuple[str, str, float, float]] = []
    for stage in "abcd":
        rows = [e for e in CHAIN_EXITS if e[0] == stage]
        w = [
            p * (m if to == "won" or (to != "lost" and to > stage) else 1.0) for _, to, p, _ in rows
        ]
        reweighted += [(f, to, wi / sum(w), mt) for (f, to, _, mt), wi in zip(rows, w, strict=True)]
    win, mean_t, _ = _chain_truth(reweighted)
    scenario = _scenario(
        stages=CHAIN, pipeline=_live(2000, "a"), uncertainty={"win_odds": {"fixed": m}}
    )
    d = _run(scenario, 2, seed=15).deals
    _assert_proportion(int((d["outcome"] == "won").sum()), len(d), float(win[0]), "P(win), M=2")
    t = d["decision_t"].to_numpy()
    _assert_close(float(t.mean()), float(mean_t[0]), t.std(ddof=1) / math.sqrt(len(t)), "E[T]")


def test_simple_form_and_its_exits_form_agree() -> None:
    """advance/rework is the simple case of exits: the same chain written both ways gives the
    same win rate (each against the same analytic value; rework is drawn first)."""
    simple = [
        {"id": "s1", "duration": {"fixed": 2}, "advance": 0.7},
        {"id": "s2", "duration": {"fixed": 3}, "advance": 0.6, "rework": {"to": "s1", "p": 0.2}},
    ]
    as_exits = [
        {
            "id": "s1",
            "duration": {"fixed": 2},
            "exits": [{"to": "s2", "p": 0.7}, {"to": "lost", "p": 0.3}],
        },
        {
            "id": "s2",
            "duration": {"fixed": 3},
            "exits": [{"to": "s1", "p": 0.2}, {"to": "won", "p": 0.48}, {"to": "lost", "p": 0.32}],
        },
    ]
    # w1 = 0.7 w2, w2 = 0.2 w1 + 0.48  =>  w1 = 0.336 / 0.86
    truth = 0.7 * 0.48 / (1 - 0.7 * 0.2)
    for stages in (simple, as_exits):
        d = _run(_scenario(stages=stages, pipeline=_live(3000, "s1")), 1, seed=16).deals
        _assert_proportion(int((d["outcome"] == "won").sum()), len(d), truth, "P(win)")


def test_deal_type_overrides_replace_the_way_out() -> None:
    """A type's `exits` replace the stage's exits; a type's `advance` replaces them by the
    simple form. Each type's win rate is binomial around its own stage's share."""
    stage = {
        "id": "s",
        "duration": {"fixed": 1},
        "exits": [{"to": "won", "p": 0.2}, {"to": "lost", "p": 0.8}],
    }
    types = {
        "t": {"value": {"fixed": 1.0}},
        "fast": {
            "value": {"fixed": 1.0},
            "stages": {"s": {"exits": [{"to": "won", "p": 0.9}, {"to": "lost", "p": 0.1}]}},
        },
        "simple": {"value": {"fixed": 1.0}, "stages": {"s": {"advance": 0.5}}},
    }
    pipeline = [{"id": f"{t}{i}", "type": t, "stage": "s"} for t in types for i in range(1500)]
    d = _run(_scenario(stages=[stage], deal_types=types, pipeline=pipeline), 1, seed=17).deals
    for name, p in (("t", 0.2), ("fast", 0.9), ("simple", 0.5)):
        mine = d[d["type"] == name]
        _assert_proportion(int((mine["outcome"] == "won").sum()), len(mine), p, name)


# --- 2. cumulative incidence of each exit ------------------------------------------------------

CIF_EXITS = {
    "won": (0.3, stats.lognorm(s=math.log(30 / 12) / stats.norm.ppf(0.9), scale=12)),
    "lost": (0.5, stats.uniform(5, 35)),
    "advance": (0.2, stats.expon(scale=10)),
}


def test_cumulative_incidence_of_each_exit() -> None:
    """Uncontended, the cumulative incidence of exit k by time t is p_k F_k(t). 4,000 first
    visits; at each t the fraction that left by exit k is binomial: SE = sqrt(c (1 - c) / n)."""
    stages = [
        {
            "id": "one",
            "duration": {"fixed": 1},
            "exits": [
                {"to": "won", "p": 0.3, "after": {"lognormal": {"p50": 12, "p90": 30}}},
                {"to": "lost", "p": 0.5, "after": {"uniform": [5, 40]}},
                {"to": "two", "p": 0.2, "after": {"exponential": {"mean": 10}}},
            ],
        },
        {"id": "two", "duration": {"fixed": 1}, "advance": 1.0},
    ]
    v = _run(_scenario(stages=stages, pipeline=_live(2000, "one")), 2, seed=21).visits
    first = v[(v["stage"] == "one") & (v["visit"] == 0)]
    n = len(first)
    assert n == 4000
    left = (first["exit_t"] - first["start_t"]).to_numpy()
    kind = first["exit"].astype(str).to_numpy()
    for name, (p, dist) in CIF_EXITS.items():
        for t in (5.0, 10.0, 20.0, 40.0):
            truth = p * float(dist.cdf(t))
            hits = int(np.sum((kind == name) & (left <= t)))
            se = math.sqrt(max(truth * (1 - truth), 1e-4) / n)
            _assert_close(hits / n, truth, se, f"CIF of {name} at t={t:g}")


# --- 3. live deals conditioned on their age in the stage ----------------------------------------

AGE = 8.0
WON_T = stats.uniform(0, 20)  # S(8) = 0.6
LOST_T = stats.lognorm(s=math.log(60 / 20) / stats.norm.ppf(0.9), scale=20)
AGE_STAGE = {
    "id": "late",
    "duration": {"fixed": 1},
    "exits": [
        {"to": "won", "p": 0.5, "after": {"uniform": [0, 20]}},
        {"to": "lost", "p": 0.4, "after": {"lognormal": {"p50": 20, "p90": 60}}},
        {"to": "won", "p": 0.1, "after": {"fixed": 0}},  # click-throughs: never survive a day
    ],
}


def test_live_deals_draw_exits_in_proportion_to_p_times_survival() -> None:
    """A deal AGE days into the stage: P(exit k) ∝ p_k S_k(AGE); its remaining time is exit k's
    time conditioned on exceeding AGE (KS against the truncated law, and power against the
    unconditioned law)."""
    scenario = _scenario(
        horizon="2037-12-31", stages=[AGE_STAGE], pipeline=_live(2000, "late", AGE)
    )
    f = _run(scenario, 2, seed=31)
    v, d = f.visits, f.deals
    assert len(v) == 4000 and (v["visit"] == 0).all()
    w_won, w_lost = 0.5 * WON_T.sf(AGE), 0.4 * LOST_T.sf(AGE)  # the click-through has S = 0
    p_won = w_won / (w_won + w_lost)
    _assert_proportion(int((d["outcome"] == "won").sum()), len(d), p_won, "P(won | age)")
    remaining = (v["exit_t"] - v["start_t"]).to_numpy()
    kind = v["exit"].astype(str).to_numpy()
    for name, dist in (("won", WON_T), ("lost", LOST_T)):
        r = remaining[kind == name]
        sf = dist.sf(AGE)

        def truncated(x: np.ndarray, dist: Any = dist, sf: float = sf) -> np.ndarray:
            return (dist.cdf(AGE + x) - dist.cdf(AGE)) / sf

        assert stats.kstest(r, truncated).pvalue > 1e-3, name
        assert stats.kstest(r, dist.cdf).pvalue < 1e-6, f"{name}: the test has no power"
        tail, _ = integrate.quad(dist.sf, AGE, np.inf)
        _assert_close(float(r.mean()), tail / sf, r.std(ddof=1) / math.sqrt(len(r)), name)


def test_duration_multiplier_conditions_live_deals_on_scaled_time() -> None:
    """With a duration multiplier D every time is D X, so a deal AGE days in has X > AGE / D."""
    scale = 2.0
    scenario = _scenario(
        horizon="2037-12-31",
        stages=[AGE_STAGE],
        pipeline=_live(2000, "late", AGE),
        uncertainty={"duration": {"fixed": scale}},
    )
    d = _run(scenario, 2, seed=32).deals
    a = AGE / scale
    w_won, w_lost = 0.5 * WON_T.sf(a), 0.4 * LOST_T.sf(a)
    _assert_proportion(
        int((d["outcome"] == "won").sum()), len(d), w_won / (w_won + w_lost), "P(won | age, D)"
    )


@pytest.mark.parametrize(("stale", "lost_at"), [("lost", 0.0), ({"lost_after": 7}, 7.0)])
def test_stale_deals_follow_the_stale_rule(stale: Any, lost_at: float) -> None:
    """Older than every exit's longest time: lost at once, or after lost_after more days; they
    queue for no one (no visit row). A deal young enough is not stale."""
    stage = {
        "id": "s",
        "duration": {"fixed": 1},
        "needs": {"team": 1},
        "stale": stale,
        "exits": [
            {"to": "won", "p": 0.5, "after": {"uniform": [0, 20]}},
            {"to": "lost", "p": 0.5, "after": {"empirical": [3, 5, 30]}},
        ],
    }
    scenario = _scenario(
        resources={"team": {"capacity": 1}},
        stages=[stage],
        pipeline=_live(50, "s", 30.0),
    )
    f = _run(scenario, 3, seed=33)
    assert (f.deals["outcome"] == "lost").all()
    np.testing.assert_array_equal(f.deals["decision_t"].to_numpy(), lost_at)
    assert f.visits.empty
    young = _scenario(stages=[{**stage, "needs": {}}], pipeline=_live(200, "s", 29.0))
    fy = _run(young, 1, seed=33)
    # Only the lost exit's 30-day value survives 29 days: every deal leaves by it after 1 day.
    assert (fy.deals["outcome"] == "lost").all() and len(fy.visits) == 200
    np.testing.assert_allclose(fy.deals["decision_t"].to_numpy(), 1.0)


def test_stale_from_makes_a_deal_stale_where_a_fitted_tail_goes_on() -> None:
    """``stale_from``: a live deal at least that old in the stage is stale (lost at once)
    though the lognormal lost exit's time goes on; one younger still draws its exit with
    P(won) ∝ p S(age), here the won exit's uniform time being over: lost, after the lost
    exit's conditioned time."""
    stage = {**AGE_STAGE, "stale_from": 25.0}
    old = _run(_scenario(stages=[stage], pipeline=_live(200, "late", 25.0)), 2, seed=34)
    assert (old.deals["outcome"] == "lost").all() and old.visits.empty
    np.testing.assert_array_equal(old.deals["decision_t"].to_numpy(), 0.0)
    young = _run(_scenario(stages=[stage], pipeline=_live(200, "late", 24.0)), 2, seed=34)
    assert (young.deals["outcome"] == "lost").all() and len(young.visits) == 400
    assert (young.deals["decision_t"] > 0).all()
    # without it, the lognormal keeps the 25-day-old deals in the stage, none stale
    tail = _run(_scenario(stages=[AGE_STAGE], pipeline=_live(200, "late", 25.0)), 2, seed=34)
    assert len(tail.visits) == 400


# --- 4. per-replication uncertainty ----------------------------------------------------------


def _lognormal_mean_sd(mean: float, sd: float) -> Any:
    sigma2 = math.log(1 + (sd / mean) ** 2)
    return stats.lognorm(s=math.sqrt(sigma2), scale=mean * math.exp(-sigma2 / 2))


def test_win_odds_uncertainty_adds_its_variance_to_the_binomial() -> None:
    """n deals, one stage won with p0. Given the replication's multiplier M the wins are
    Binomial(n, p(M)), p(M) = M p0 / (M p0 + 1 - p0); so
    Var(wins) = n E[p(M)(1 - p(M))] + n^2 Var(p(M)). The sample variance's SE is
    sqrt((m4 - s^4) / R) from the sample's fourth central moment."""
    n, p0, reps = 200, 0.4, 400
    law = _lognormal_mean_sd(1.0, 0.3)
    scenario = _scenario(
        stages=[
            {
                "id": "s",
                "duration": {"fixed": 1},
                "exits": [{"to": "won", "p": p0}, {"to": "lost", "p": 1 - p0}],
            }
        ],
        pipeline=_live(n, "s"),
        uncertainty={"win_odds": {"lognormal": {"mean": 1, "sd": 0.3}}},
    )
    f = _run(scenario, reps, seed=41)
    wins = f.deals.groupby("replication")["outcome"].apply(lambda o: int((o == "won").sum()))
    x = wins.to_numpy(dtype=float)

    def p_of(m: float) -> float:
        return m * p0 / (m * p0 + 1 - p0)

    e_p = integrate.quad(lambda m: p_of(m) * law.pdf(m), 0, np.inf)[0]
    e_p2 = integrate.quad(lambda m: p_of(m) ** 2 * law.pdf(m), 0, np.inf)[0]
    var_truth = n * (e_p - e_p2) + n**2 * (e_p2 - e_p**2)
    binomial_only = n * e_p * (1 - e_p)
    assert var_truth > 3 * binomial_only  # the multiplier's share is what is tested
    _assert_close(float(x.mean()), n * e_p, math.sqrt(var_truth / reps), "E[wins]")
    s2 = float(x.var(ddof=1))
    m4 = float(np.mean((x - x.mean()) ** 4))
    _assert_close(s2, var_truth, math.sqrt((m4 - s2**2) / reps), "Var(wins)")
    # The drawn multipliers are in the inputs table and follow their law.
    drawn = f.inputs["uncertainty:win_odds"].to_numpy()
    assert stats.kstest(drawn, law.cdf).pvalue > 1e-3
    # Given M, the wins are binomial around n p(M): standardised residuals have mean 0, var 1.
    expected = n * np.array([p_of(m) for m in drawn])
    z = (x - expected) / np.sqrt(expected * (1 - expected / n))
    _assert_close(float(z.mean()), 0.0, 1 / math.sqrt(reps), "residual mean")


def test_value_duration_and_arrival_multipliers() -> None:
    """value and duration multipliers act exactly (fixed inputs); the arrivals multiplier makes
    monthly counts overdispersed: Var = lam + lam^2 Var(M). A deal type's own multiplier
    multiplies the global one."""
    scenario = _scenario(
        horizon="2027-01-31",
        stages=[{"id": "s", "duration": {"fixed": 10}, "exits": [{"to": "won", "p": 1.0}]}],
        pipeline=_live(5, "s"),
        arrivals=[{"type": "t", "per_month": 40}],
        uncertainty={
            "value": {"lognormal": {"mean": 1, "sd": 0.1}},
            "duration": {"uniform": [0.5, 1.5]},
            "arrivals": {"lognormal": {"mean": 1, "sd": 0.25}},
        },
        deal_types={"t": {"value": {"fixed": 1.0}, "uncertainty": {"duration": {"fixed": 2}}}},
    )
    reps = 400
    f = _run(scenario, reps, seed=42)
    inputs = f.inputs.set_index("replication")
    live = f.deals[f.deals["live"]]
    m_value = inputs.loc[live["replication"], "uncertainty:value"].to_numpy()
    np.testing.assert_allclose(live["value"].to_numpy(), m_value)
    m_dur = inputs.loc[live["replication"], "uncertainty:duration"].to_numpy()
    np.testing.assert_allclose(inputs["uncertainty:duration:t"].to_numpy(), 2.0)
    np.testing.assert_allclose(live["decision_t"].to_numpy(), 10 * m_dur * 2.0)
    counts = f.deals[~f.deals["live"]].groupby("replication").size()
    x = counts.reindex(inputs.index, fill_value=0).to_numpy(dtype=float)
    law = _lognormal_mean_sd(1.0, 0.25)
    lam = 40.0
    var_truth = lam + lam**2 * law.var()
    _assert_close(float(x.mean()), lam, math.sqrt(var_truth / reps), "E[arrivals]")
    s2 = float(x.var(ddof=1))
    m4 = float(np.mean((x - x.mean()) ** 4))
    _assert_close(s2, var_truth, math.sqrt((m4 - s2**2) / reps), "Var(arrivals)")


# --- 5. arrival trend --------------------------------------------------------------------------


def test_arrival_trend_compounds_monthly() -> None:
    """Month m (0 = the start's month) has mean per_month (1 + trend)^m. 300 replications x 12
    months; each month's mean count has SE sqrt(lam_m / 300)."""
    reps, per_month, trend = 300, 12.0, 0.06
    scenario = _scenario(
        horizon="2027-12-31",
        stages=[{"id": "s", "duration": {"fixed": 1}, "advance": 1.0}],
        arrivals=[{"type": "t", "per_month": per_month, "trend": trend}],
    )
    f = _run(scenario, reps, seed=51)
    # continuous calendar from 2027-01-01: model time t is t days after the start
    month = (pd.Timestamp("2027-01-01") + pd.to_timedelta(f.deals["arrival_t"], unit="D")).dt.month
    counts = pd.Series(month).value_counts().sort_index()
    for m in range(12):
        lam = per_month * (1 + trend) ** m
        _assert_close(counts.get(m + 1, 0) / reps, lam, math.sqrt(lam / reps), f"month {m + 1}")


# --- 6. reproducibility and common random numbers ----------------------------------------------


def _crn_scenario() -> dict[str, Any]:
    return {
        "name": "crn",
        "start": "2027-01-01",
        "horizon": "2027-12-31",
        "calendar": {"continuous": True},
        "stages": [
            {
                "id": "first",
                "duration": {"fixed": 1},
                "exits": [
                    {"to": "second", "p": 0.6, "after": {"uniform": [2, 8]}},
                    {"to": "lost", "p": 0.4, "after": {"exponential": {"mean": 5}}},
                ],
            },
            {
                "id": "second",
                "duration": {"pert": [3, 6, 15]},
                "exits": [
                    {"to": "won", "p": 0.5},
                    {"to": "first", "p": 0.2},
                    {"to": "lost", "p": 0.3},
                ],
            },
        ],
        "deal_types": {"t": {"value": {"triangular": [1, 2, 4]}}},
        "pipeline": [
            {"id": f"L{i}", "type": "t", "stage": "first", "days_in_stage": float(i % 7)}
            for i in range(40)
        ],
        "arrivals": [{"type": "t", "per_month": 5, "trend": 0.02}],
        "uncertainty": {
            "win_odds": {"lognormal": {"mean": 1, "sd": 0.3}},
            "value": {"lognormal": {"mean": 1, "sd": 0.1}},
        },
    }


def test_same_seed_same_tables_whatever_the_workers() -> None:
    scenario = simsales.load_dict(_crn_scenario())
    serial = _run(scenario, 16, seed=61)
    parallel = _run(scenario, 16, seed=61, workers=2, executor="process")
    for name in ("deals", "visits", "inputs"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(parallel, name), obj=name)


def test_changing_one_stages_exits_leaves_other_draws_alone() -> None:
    """A variant that changes the second stage's exits: every first-stage visit, the fate of
    every deal lost in the first stage, the arrivals and the multipliers stay as they were."""
    data = _crn_scenario()
    base = simsales.load_dict(data)
    data["stages"][1]["exits"] = [
        {"to": "won", "p": 0.7, "after": {"fixed": 2}},
        {"to": "lost", "p": 0.3},
    ]
    variant = simsales.load_dict(data)
    a, b = _run(base, 8, seed=62), _run(variant, 8, seed=62)
    drawn = [c for c in a.inputs if c.startswith(("uncertainty:", "arrivals:", "value:"))]
    assert len(drawn) == 4
    pd.testing.assert_frame_equal(a.inputs[drawn], b.inputs[drawn])
    key = ["replication", "deal"]

    def first_visits(f: simsales.Forecast) -> pd.DataFrame:
        v = f.visits[(f.visits["stage"] == "first") & (f.visits["visit"] == 0)]
        return v.assign(deal=v["deal"].astype(str)).set_index(key).sort_index()

    pd.testing.assert_frame_equal(first_visits(a), first_visits(b))
    # deals lost in the first stage without ever reaching the second
    reached = a.visits.loc[a.visits["stage"] == "second", key].astype({"deal": str})
    reached_key = pd.MultiIndex.from_frame(reached)
    lost = a.deals[(a.deals["outcome"] == "lost") & (a.deals["stage"] == "first")]
    lost_key = pd.MultiIndex.from_arrays([lost["replication"], lost["deal"].astype(str)])
    lost_first = lost[~lost_key.isin(reached_key)]
    assert len(lost_first) > 50
    da = a.deals.assign(deal=a.deals["deal"].astype(str)).set_index(key)
    db = b.deals.assign(deal=b.deals["deal"].astype(str)).set_index(key)
    rows = pd.MultiIndex.from_arrays([lost_first["replication"], lost_first["deal"].astype(str)])
    pd.testing.assert_frame_equal(da.loc[rows], db.loc[rows])
    assert not a.deals["outcome"].equals(b.deals["outcome"])  # the variant does change things


def test_multipliers_reach_sensitivity_with_readable_labels() -> None:
    """The win-odds multiplier drives revenue here (the only other input is each deal's own
    luck): its rank correlation with revenue is positive with a 95% interval above 0.3."""
    from simsales.report.data import ReportData
    from simsales.results.sensitivity import sensitivity

    scenario = _scenario(
        stages=[
            {
                "id": "s",
                "duration": {"fixed": 1},
                "exits": [{"to": "won", "p": 0.4}, {"to": "lost", "p": 0.6}],
            }
        ],
        pipeline=_live(100, "s"),
        uncertainty={"win_odds": {"lognormal": {"mean": 1, "sd": 0.5}}},
        deal_types={"t": {"value": 1.0, "uncertainty": {"value": {"uniform": [0.9, 1.1]}}}},
    )
    f = _run(scenario, 200, seed=71)
    table = sensitivity(f)
    row = table[(table["output"] == "revenue") & (table["input"] == "uncertainty:win_odds")]
    assert len(row) == 1 and float(row["rho_low"].iloc[0]) > 0.3
    assert ReportData(f).input_label("uncertainty:win_odds") == "uncertainty of win odds"
    zh = ReportData(f, locale="zh-CN").input_label("uncertainty:value:t")
    assert zh == "项目金额的不确定性 (t)"


def test_a_visit_held_up_at_the_horizon_is_kept_and_undecided() -> None:
    """A global risk hits every deal mid-stage with a long delay, served after the stage: at the
    horizon the finished visit is in the table, with its exit time and kind 'open'."""
    scenario = _scenario(
        horizon="2027-02-28",
        stages=[{"id": "s", "duration": {"fixed": 10}, "exits": [{"to": "won", "p": 1.0}]}],
        pipeline=_live(20, "s"),
        risks=[
            {
                "id": "freeze",
                "scope": "global",
                "p": 1.0,
                "window": ["2027-01-03", "2027-01-05"],
                "impact": {"delay": {"fixed": 100}},
            }
        ],
    )
    f = _run(scenario, 2, seed=81)
    assert (f.deals["outcome"] == "open").all()
    v = f.visits
    assert len(v) == 40 and (v["exit"] == "open").all()
    np.testing.assert_allclose(v["exit_t"].to_numpy(), 10.0)
