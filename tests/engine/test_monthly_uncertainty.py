"""``uncertainty.monthly``: a factor drawn for every calendar month, against analytic truth.

With a monthly factor F of mean 1 and variance v, a month's Poisson arrivals N of rate r have
E N = r and Var N = r + r^2 v, and two months are uncorrelated; a once-per-replication factor
of the same law would give them covariance r^2 v. Wins W of n deals decided in one month with
a chance q = min(p F, 1) have E W = n E q and Var W = n (E q - E q^2) + n^2 Var q, and again
months are uncorrelated. Tolerances are four standard errors of the estimates, from the
sample itself.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

import simsales
from simsales.errors import ScenarioError

SD = 0.5  # the factors' sd (lognormal, mean 1): v = SD^2
N_REPS = 600


def _scenario(monthly: dict[str, Any], once: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "monthly factors",
        "start": "2027-01-01",
        "horizon": "2027-04-30",
        "calendar": {"continuous": True},
        "stages": [{"id": "close", "duration": {"fixed": 10}, "advance": 0.5}],
        "deal_types": {
            "jan": {"value": {"fixed": 1}},
            "feb": {"value": {"fixed": 1}, "stages": {"close": {"duration": {"fixed": 40}}}},
        },
        "uncertainty": (once or {}) | {"monthly": monthly},
    }


def _moments(x: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, variance and their standard errors (the variance's from the fourth moment)."""
    n = len(x)
    mean, var = float(x.mean()), float(x.var(ddof=1))
    m4 = float(((x - mean) ** 4).mean())
    return mean, var, math.sqrt(var / n), math.sqrt(max(m4 - var * var, 0.0) / n)


def _cov_bound(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The sample covariance of a and b and four of its standard errors."""
    c = float(np.cov(a, b)[0, 1])
    se = float(np.std((a - a.mean()) * (b - b.mean()), ddof=1)) / math.sqrt(len(a))
    return c, 4 * se


@pytest.mark.parametrize("engine", ["auto", "simpy"])
def test_monthly_arrivals_vary_month_by_month_independently(engine: str) -> None:
    rate, v = 20.0, SD**2
    data = _scenario({"arrivals": {"lognormal": {"mean": 1, "sd": SD}}})
    data["arrivals"] = [{"type": "jan", "per_month": rate}]
    n = N_REPS if engine == "auto" else 150
    f = simsales.simulate(simsales.load_dict(data), n, seed=11, progress=False, engine=engine)
    deals = f.deals.assign(month=f.deals["deal"].str.extract(r"@(\d{4}-\d{2})#")[0])
    counts = deals.groupby(["replication", "month"]).size().unstack(fill_value=0)
    counts = counts.reindex(range(n), fill_value=0).to_numpy(dtype=np.float64)
    assert counts.shape[1] == 4  # January to April
    for month in range(4):
        mean, var, se_mean, se_var = _moments(counts[:, month])
        assert abs(mean - rate) < 4 * se_mean
        assert abs(var - (rate + rate * rate * v)) < 4 * se_var
    c, bound = _cov_bound(counts[:, 0], counts[:, 1])
    assert abs(c) < bound < rate * rate * v  # and not the once-per-run covariance


def test_monthly_win_factor_acts_on_each_months_decisions() -> None:
    n_deals, p, v = 100, 0.5, SD**2
    data = _scenario({"win": {"lognormal": {"mean": 1, "sd": SD}}})
    data["pipeline"] = [
        {"id": f"{t}{i:03d}", "type": t, "stage": "close"}
        for t in ("jan", "feb")
        for i in range(n_deals)
    ]
    f = simsales.simulate(simsales.load_dict(data), N_REPS, seed=12, progress=False)
    assert f.provenance["engine_paths"] == {"vectorized": N_REPS, "simpy": 0}
    won = f.deals["outcome"] == "won"
    wins = {
        t: won[f.deals["type"] == t].groupby(f.deals["replication"]).sum().to_numpy(np.float64)
        for t in ("jan", "feb")
    }
    # the chance q = min(p F, 1): its moments by quadrature of F's lognormal law
    sigma = math.sqrt(math.log1p(v))
    law = stats.lognorm(sigma, scale=math.exp(-sigma * sigma / 2))
    e_q = law.expect(lambda x: np.minimum(p * x, 1.0))
    e_q2 = law.expect(lambda x: np.minimum(p * x, 1.0) ** 2)
    for t in ("jan", "feb"):
        mean, var, se_mean, se_var = _moments(wins[t])
        assert abs(mean - n_deals * e_q) < 4 * se_mean
        truth = n_deals * (e_q - e_q2) + n_deals**2 * (e_q2 - e_q * e_q)
        assert abs(var - truth) < 4 * se_var
    c, bound = _cov_bound(wins["jan"], wins["feb"])
    assert abs(c) < bound < (n_deals * p) ** 2 * v


def test_monthly_factors_keep_common_random_numbers_across_start_months() -> None:
    """A month's factor is keyed by the month itself: a variant starting a month later draws
    the same factor for the months both runs share."""
    data = _scenario({"win": {"lognormal": {"mean": 1, "sd": SD}}})
    data["pipeline"] = [{"id": f"D{i:03d}", "type": "feb", "stage": "close"} for i in range(60)]
    later = copy.deepcopy(data)
    later["start"] = "2026-12-22"  # the same deals decide on 2027-01-31 (40 days on): January
    data["start"] = "2027-01-01"
    data["stages"][0]["duration"] = {"fixed": 10}  # ... and 10 days on here: January too
    data["deal_types"]["feb"]["stages"] = {}
    a = simsales.simulate(simsales.load_dict(data), 40, seed=3, progress=False)
    b = simsales.simulate(simsales.load_dict(later), 40, seed=3, progress=False)
    assert (a.deals["decision_date"].dt.month == 1).all()
    assert (b.deals["decision_date"].dt.month == 1).all()
    # same January factor in each replication (and the same deal streams): the same wins
    assert a.deals["outcome"].tolist() == b.deals["outcome"].tolist()


def test_a_deal_types_monthly_factor_is_refused_with_its_path() -> None:
    data = _scenario({})
    data["deal_types"]["jan"]["uncertainty"] = {"monthly": {"win": {"fixed": 1}}}
    with pytest.raises(ScenarioError) as err:
        simsales.load_dict(data)
    assert "monthly" in str(err.value)


def test_a_runs_mean_monthly_factor_is_a_sampled_input_and_explains_its_wins() -> None:
    """The sensitivity inputs hold each monthly factor's mean over the run's months (E = 1,
    its SE sd / sqrt(months x replications)), the same from both engines; and the wins of a
    run follow it (not vacuous: the factor does act)."""
    data = _scenario({"win": {"lognormal": {"mean": 1, "sd": SD}}})
    data["arrivals"] = [{"type": "jan", "per_month": 30.0}]
    scenario = simsales.load_dict(data)
    n = 400
    f = simsales.simulate(scenario, n, seed=4, progress=False)
    slow = simsales.simulate(scenario, 40, seed=4, progress=False, engine="simpy")
    mean = f.inputs["uncertainty:monthly.win"].to_numpy()
    assert np.array_equal(mean[:40], slow.inputs["uncertainty:monthly.win"].to_numpy())
    months = 4  # January to April: the horizon's month is the last of the run
    assert abs(mean.mean() - 1.0) < 4 * SD / math.sqrt(months * n)
    wins = (f.deals["outcome"] == "won").groupby(f.deals["replication"]).sum().to_numpy()
    assert np.corrcoef(mean, wins)[0, 1] > 0.5
