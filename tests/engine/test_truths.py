"""Tests of truth: the engine against analytic results, with tolerances from the Monte Carlo SE.

Every test uses a fixed seed (so a failure can be reproduced) but never a pinned simulated
number: the simulated estimate is compared with the analytic value, within ``K`` standard
errors of the estimate. With K = 4.5 a correct engine fails a given check with probability
~7e-6 (two-sided normal tail), so the file is not flaky, while a real bias larger than a few SE
is caught. Unless stated otherwise the calendar is continuous, so model time is plain days.
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
from simsales.engine.model import win_probabilities


def _scenario(**parts: Any) -> simsales.Scenario:
    return analytic.scenario("analytic case", parts.pop("horizon", "2028-12-31"), **parts)


def _live(n: int, stage: str, days_in_stage: float = 0.0, **extra: Any) -> list[dict[str, Any]]:
    return analytic.live(n, stage, days_in_stage, digits=4, **extra)


_run, _assert_close, _assert_proportion, K = (
    analytic.run,
    analytic.assert_close,
    analytic.assert_proportion,
    analytic.K,
)


def _mean_se(x: Any) -> tuple[float, float]:
    a = np.asarray(x, dtype=float)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a)))


# Analytic means, written out independently of the engine's samplers.
def _tri_mean(a: float, c: float, b: float) -> float:
    return (a + c + b) / 3


def _pert_mean(a: float, c: float, b: float) -> float:
    return (a + 4 * c + b) / 6


# --- 1. uncontended serial chain ------------------------------------------------------------

CHAIN = [
    {"id": "s1", "duration": {"triangular": [2, 5, 11]}, "needs": {"team": 1}, "advance": 0.8},
    {"id": "s2", "duration": {"pert": [3, 6, 15]}, "advance": 0.7},
    {"id": "s3", "duration": {"uniform": [4, 10]}, "needs": {"team": 2}, "advance": 0.9},
    {"id": "s4", "duration": {"lognormal": {"mean": 5, "sd": 2}}, "advance": 0.95},
]
CHAIN_MEANS = np.array([_tri_mean(2, 5, 11), _pert_mean(3, 6, 15), (4 + 10) / 2, 5.0])
CHAIN_ADVANCE = np.array([0.8, 0.7, 0.9, 0.95])


def test_serial_chain_win_rate_and_times() -> None:
    # 500 deals x 20 replications = 10,000 independent deals (each deal has its own stream).
    # Win: p = 0.4788, SE = sqrt(p(1-p)/n) = 0.0050. Times: SE = sample sd / sqrt(n).
    scenario = _scenario(
        resources={"team": {"capacity": 100_000}},  # never binding: 500 deals x 2 people max
        stages=CHAIN,
        pipeline=_live(500, "s1"),
    )
    deals = _run(scenario, 20, seed=11).deals
    assert (deals["outcome"] != "open").all(), "every deal decides well before the horizon"
    assert (deals["wait_days"] == 0).all(), "uncontended: nobody waits"
    n = len(deals)
    won = deals["outcome"] == "won"
    _assert_proportion(int(won.sum()), n, float(np.prod(CHAIN_ADVANCE)), "win rate")

    # Time to decision: stage s is visited iff the deal advanced from every earlier stage.
    reach = np.concatenate([[1.0], np.cumprod(CHAIN_ADVANCE)[:-1]])
    mean, se = _mean_se(deals["decision_t"])
    _assert_close(mean, float(reach @ CHAIN_MEANS), se, "mean time to decision")

    # Won deals went through every stage once: their cycle time is the sum of the stage means.
    mean, se = _mean_se(deals.loc[won, "decision_t"])
    _assert_close(mean, float(CHAIN_MEANS.sum()), se, "mean cycle time of won deals")


# --- 2. absorbing Markov chain with rework loops ----------------------------------------------

REWORK = [
    # a self-loop: 20% of visits are redone, then advance 0.9
    {
        "id": "a",
        "duration": {"triangular": [1, 3, 8]},
        "advance": 0.9,
        "rework": {"to": "a", "p": 0.2},
    },
    {"id": "b", "duration": {"uniform": [2, 6]}, "advance": 0.8},
    # back to b with 0.3, else advance 0.85
    {"id": "c", "duration": {"pert": [2, 4, 12]}, "advance": 0.85, "rework": {"to": "b", "p": 0.3}},
    {"id": "d", "duration": {"fixed": 2}, "advance": 0.95},
]
REWORK_MEANS = np.array([_tri_mean(1, 3, 8), 4.0, _pert_mean(2, 4, 12), 2.0])


def _rework_chain() -> tuple[np.ndarray, np.ndarray]:
    """Q (transient -> transient) and r (one-step win) of the chain above, written by hand."""
    q = np.zeros((4, 4))
    q[0, 0] = 0.2
    q[0, 1] = 0.8 * 0.9
    q[1, 2] = 0.8
    q[2, 1] = 0.3
    q[2, 3] = 0.7 * 0.85
    r = np.array([0.0, 0.0, 0.0, 0.95])
    return q, r


def test_rework_chain_matches_fundamental_matrix() -> None:
    # 400 deals x 25 replications = 10,000 deals. Win from 'a': p ~ 0.48, SE ~ 0.005.
    q, r = _rework_chain()
    fundamental = np.linalg.inv(np.eye(4) - q)  # N[i, j]: expected visits to j from i
    win = fundamental @ r
    expected_time = fundamental @ REWORK_MEANS  # time to absorption (won or lost) from each stage

    model_win = win_probabilities(
        np.ones(4, bool),
        np.array([0.9, 0.8, 0.85, 0.95]),
        np.array([0, -1, 1, -1]),
        np.array([0.2, 0.0, 0.3, 0.0]),
    )
    np.testing.assert_allclose(model_win, win, rtol=1e-12)

    scenario = _scenario(stages=REWORK, pipeline=_live(400, "a"))
    forecast = _run(scenario, 25, seed=22)
    np.testing.assert_allclose(forecast.model.types[0].win_from, win, rtol=1e-12)
    deals = forecast.deals
    assert (deals["outcome"] != "open").all()
    _assert_proportion(int((deals["outcome"] == "won").sum()), len(deals), win[0], "win rate")
    mean, se = _mean_se(deals["decision_t"])
    _assert_close(mean, expected_time[0], se, "mean time to decision")
    # Expected visits per deal to each stage (row 0 of N), counted from the visits table.
    visits = forecast.visits.groupby("stage", observed=False).size().to_numpy() / len(deals)
    per_deal = (
        forecast.visits.groupby(["replication", "deal", "stage"], observed=False)
        .size()
        .unstack("stage")
        .reindex(pd.MultiIndex.from_frame(deals[["replication", "deal"]]), fill_value=0)
    )
    se_visits = per_deal.std(ddof=1).to_numpy() / math.sqrt(len(deals))
    for j in range(4):
        _assert_close(visits[j], fundamental[0, j], se_visits[j], f"visits to stage {j}")


# --- 3. M/M/c queue against Erlang C ------------------------------------------------------------


def _erlang_c(lam: float, mu: float, c: int) -> tuple[float, float]:
    """(P(wait), mean wait in queue) of M/M/c."""
    a = lam / mu
    rho = a / c
    tail = a**c / math.factorial(c) / (1 - rho)
    p_wait = tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)
    return p_wait, p_wait / (c * mu - lam)


def test_erlang_c_formula_matches_published_case() -> None:
    # 100 calls per 30 minutes, 3-minute calls, 14 agents: P(wait) 0.1741, wait 7.836 s.
    p_wait, wait_minutes = _erlang_c(100 / 30, 1 / 3, 14)
    assert p_wait == pytest.approx(0.1741, abs=5e-5)
    assert wait_minutes * 60 == pytest.approx(7.836, abs=5e-3)


@pytest.mark.parametrize(
    ("lam", "mean_service", "servers", "horizon"),
    [
        # 1 model day = 1 minute: the published call-centre case, rho = 0.714
        pytest.param(100 / 30, 3.0, 14, "2031-12-31", id="published-c14"),
        # a heavier load: rho = 0.85 with 3 servers
        pytest.param(2.55, 1.0, 3, "2031-12-31", id="rho085-c3"),
    ],
)
def test_mmc_waits_match_erlang_c(
    lam: float, mean_service: float, servers: int, horizon: str
) -> None:
    # Batch means: each replication (~1,600 days after the warm-up) gives one mean wait and one
    # share of waiting requests; across 16 replications these are i.i.d., so SE = sd / sqrt(16).
    # Measured: SE ~ 7% of the mean wait and ~ 0.006 on P(wait).
    scenario = _scenario(
        horizon=horizon,
        resources={"srv": {"capacity": servers}},
        stages=[
            {
                "id": "serve",
                "duration": {"exponential": {"mean": mean_service}},
                "needs": {"srv": 1},
                "advance": 1.0,
            }
        ],
        arrivals=[{"type": "t", "per_day": lam}],
    )
    forecast = _run(scenario, 16, seed=33, workers=2, executor="process")
    horizon_t = forecast.model.horizon_t
    v = forecast.visits
    # Warm-up: the queue starts empty. Cool-down: requests still queued at the horizon have no
    # visit row yet, so the last days would under-count long waits.
    v = v[(v["ready_t"] > 100.0) & (v["ready_t"] < horizon_t - 100.0)]
    wait = v["start_t"] - v["ready_t"]
    assert (wait >= 0).all()
    p_wait, mean_wait = _erlang_c(lam, 1 / mean_service, servers)
    per_rep_wait = wait.groupby(v["replication"]).mean()
    per_rep_pwait = (wait > 1e-12).groupby(v["replication"]).mean()
    assert len(per_rep_wait) == 16
    mean, se = _mean_se(per_rep_wait)
    _assert_close(mean, mean_wait, se, "mean wait (days)")
    mean, se = _mean_se(per_rep_pwait)
    _assert_close(mean, p_wait, se, "P(wait)")
    # The pools table agrees with the visits table over the whole run (no warm-up cut).
    pools = forecast.pools
    all_visits = forecast.visits
    assert pools["wait_days"].sum() == pytest.approx(
        (all_visits["start_t"] - all_visits["ready_t"]).sum(), rel=1e-9
    )


# --- 4. live deals: the remaining time of the current stage is truncated -----------------------

REMAINING_CASES = [
    # (duration spec, days already spent, scipy distribution of the full duration)
    pytest.param(
        {"triangular": [5, 10, 30]},
        12.0,
        stats.triang(c=(10 - 5) / (30 - 5), loc=5, scale=25),
        id="triangular",
    ),
    pytest.param(
        {"lognormal": {"p50": 12, "p90": 30}},
        20.0,
        stats.lognorm(s=math.log(30 / 12) / stats.norm.ppf(0.9), scale=12),
        id="lognormal",
    ),
]


@pytest.mark.parametrize(("duration", "elapsed", "dist"), REMAINING_CASES)
def test_live_deal_remaining_time_is_conditioned(
    duration: dict[str, Any], elapsed: float, dist: Any
) -> None:
    # 500 deals x 4 replications = 2,000 remaining times. KS at a fixed seed: p > 1e-3.
    # Mean: SE = sd / sqrt(2000).
    scenario = _scenario(
        horizon="2037-12-31",  # no lognormal remaining time reaches ten years
        stages=[{"id": "only", "duration": duration, "advance": 1.0}],
        pipeline=_live(500, "only", days_in_stage=elapsed),
    )
    v = _run(scenario, 4, seed=44).visits
    assert (v["visit"] == 0).all() and len(v) == 2000
    remaining = (v["exit_t"] - v["start_t"]).to_numpy()
    assert np.isfinite(remaining).all() and (remaining >= 0).all()
    survival = dist.sf(elapsed)

    def cdf_remaining(x: np.ndarray) -> np.ndarray:
        return (dist.cdf(elapsed + x) - dist.cdf(elapsed)) / survival

    assert stats.kstest(remaining, cdf_remaining).pvalue > 1e-3
    # Power: the same sample is far from the unconditioned duration (drawn from scratch) ...
    assert stats.kstest(remaining, dist.cdf).pvalue < 1e-6
    # ... and from the duration minus the days spent, floored at zero.
    assert stats.kstest(remaining, lambda x: dist.cdf(elapsed + x)).pvalue < 1e-6

    # E[X - e | X > e] = integral of the survival function beyond e, over P(X > e).
    tail, _ = integrate.quad(dist.sf, elapsed, np.inf)
    mean, se = _mean_se(remaining)
    _assert_close(mean, tail / survival, se, "mean remaining time")


# --- 5. arrivals: Poisson per calendar month, with seasonality --------------------------------


def test_monthly_arrivals_are_poisson_with_seasonality() -> None:
    # 400 replications x 12 months. For a month with mean m: SE(mean) = sqrt(m / 400);
    # the sample variance of a Poisson count has Var(s^2) ~ (m + 2 m^2) / n, so
    # SE(s^2) = sqrt((m + 2 m^2) / 400). Per month, each checked at K SE.
    per_month = 6.0
    seasonality = {"Mar": 2.0, "Aug": 0.5}
    scenario = _scenario(
        start="2027-01-01",
        horizon="2027-12-31",
        stages=[{"id": "only", "duration": {"fixed": 1}, "advance": 1.0}],
        arrivals=[{"type": "t", "per_month": per_month, "seasonality": seasonality}],
    )
    n_reps = 400
    deals = _run(scenario, n_reps, seed=55).deals
    arrivals = deals[~deals["live"]]
    assert (arrivals["arrival_t"] >= 0).all()
    assert (arrivals["arrival_t"] < 365).all()
    # Continuous calendar: model time t is day floor(t) after the start.
    day = np.datetime64("2027-01-01") + np.floor(arrivals["arrival_t"].to_numpy()).astype(
        "timedelta64[D]"
    )
    month = day.astype("datetime64[M]").astype(int) % 12  # 0 = Jan
    counts = (
        pd.crosstab(arrivals["replication"].to_numpy(), month)
        .reindex(index=range(n_reps), columns=range(12), fill_value=0)
        .to_numpy()
    )
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    for j, name in enumerate(names):
        m = per_month * seasonality.get(name, 1.0)
        x = counts[:, j]
        _assert_close(float(x.mean()), m, math.sqrt(m / n_reps), f"{name} mean arrivals")
        _assert_close(
            float(x.var(ddof=1)), m, math.sqrt((m + 2 * m * m) / n_reps), f"{name} variance"
        )
    # The yearly total is Poisson too: mean 6 * (10 + 2 + 0.5) = 75.
    total = counts.sum(axis=1)
    _assert_close(float(total.mean()), 75.0, math.sqrt(75.0 / n_reps), "yearly arrivals")


# --- 6. a global risk correlates the deals it hits ---------------------------------------------


def test_global_risk_correlates_delays() -> None:
    # One replication gives one pair (D1, D2). 3,000 replications; SE of the correlation by a
    # bootstrap over replications (the pair's distribution is a mixture with an atom at 0, so
    # Fisher's z is not trusted). Mean delay: SE = sd / sqrt(6000 deal-replications) (the
    # delays of a pair are correlated, so use the per-replication mean of the pair: n = 3000).
    p, lo, hi = 0.3, 10.0, 30.0
    scenario = _scenario(
        horizon="2027-12-31",
        stages=[{"id": "only", "duration": {"fixed": 100}, "advance": 1.0}],
        pipeline=_live(2, "only"),
        risks=[
            {
                "id": "freeze",
                "scope": "global",
                "p": p,
                "window": ["2027-01-01", "2027-02-19"],  # days 0..50 of the 100-day stage
                "impact": {"delay": {"uniform": [lo, hi]}},
            }
        ],
    )
    n_reps = 3000
    deals = _run(scenario, n_reps, seed=66).deals
    assert (deals["outcome"] == "won").all()
    delay = (deals["decision_t"].to_numpy() - 100.0).reshape(n_reps, 2)
    assert (delay > -1e-9).all()
    ex, ex2 = (lo + hi) / 2, (lo * lo + lo * hi + hi * hi) / 3
    truth = p * (1 - p) * ex**2 / (p * ex2 - p**2 * ex**2)  # = 0.8936

    r = float(np.corrcoef(delay[:, 0], delay[:, 1])[0, 1])
    rng = np.random.default_rng(0)  # local generator for the bootstrap
    boot = [np.corrcoef(*delay[rng.integers(0, n_reps, n_reps)].T)[0, 1] for _ in range(300)]
    _assert_close(r, truth, float(np.std(boot, ddof=1)), "correlation of the two delays")
    # The shared Bernoulli: both deals are delayed together or not at all.
    assert ((delay[:, 0] > 1e-9) == (delay[:, 1] > 1e-9)).all()
    mean, se = _mean_se(delay.mean(axis=1))
    _assert_close(mean, p * ex, se, "mean delay")
    # Given a hit, each deal's delay is its own uniform draw: not the same number twice.
    hit = delay[:, 0] > 1e-9
    assert not np.allclose(delay[hit, 0], delay[hit, 1])


# --- 7. win factor -------------------------------------------------------------------------


def test_win_factor_rule_halves_big_deals_chance() -> None:
    # 250 big + 250 small deals x 16 replications = 4,000 of each.
    # Small: p = 0.72, SE = 0.0071; big: p = 0.36, SE = 0.0076.
    stages = [
        {"id": "s1", "duration": {"uniform": [1, 3]}, "advance": 0.8},
        {"id": "s2", "duration": {"triangular": [1, 2, 5]}, "advance": 0.9},
    ]
    pipeline = [
        {"id": f"{kind}{i:03d}", "type": "t", "stage": "s1", "value": value}
        for kind, value in (("big", 1.0e6), ("small", 2.0e5))
        for i in range(250)
    ]
    scenario = _scenario(
        horizon="2027-12-31",
        stages=stages,
        pipeline=pipeline,
        rules=[{"id": "big_is_hard", "when": "value > 5e5", "then": {"win_factor": 0.5}}],
    )
    deals = _run(scenario, 16, seed=77).deals
    assert (deals["outcome"] != "open").all()
    big = deals["deal"].astype(str).str.startswith("big")
    np.testing.assert_array_equal(deals.loc[big, "win_factor"], 0.5)
    np.testing.assert_array_equal(deals.loc[~big, "win_factor"], 1.0)
    for mask, truth, what in ((big, 0.8 * 0.9 * 0.5, "big"), (~big, 0.8 * 0.9, "small")):
        won = int((deals.loc[mask, "outcome"] == "won").sum())
        _assert_proportion(won, int(mask.sum()), truth, f"win rate of {what} deals")
