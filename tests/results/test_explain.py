"""The gap to target, explained: contributions add up, and the known bottleneck gets the most.

The scenario (continuous calendar, Q1 = days [0, 90)): 10 live deals worth 100k in one stage
that takes exactly 20 days, needs one counsel (``legal``, 1 person) and one account manager
(``sales``, 50 people), and wins with p = 0.5. Counsel serves the deals one after the other,
deciding them at days 20, 40, ..., so 4 of them are decided inside Q1; with unlimited counsel
all 10 are decided on day 20. Hence, with T = 1M:

- the gap is T - 4 * 0.5 * 100k = 800k;
- legal's contribution is (10 - 4) * 0.5 * 100k = 300k, sales' exactly 0 (never short);
- each deal's own term (lost in the ideal run) is 0.5 * 100k; stage terms are 0 (every deal is
  decided on day 20 with unlimited people); coverage is T - 10 * 100k = 0.

Pools get their Shapley values (each subset of pools relaxed): sales' marginal effect is 0 in
every coalition, so its value is exactly 0. A second scenario has two pools in series (presales
then legal, one person each, 20 days each): relaxing either alone decides no more deals in Q1
(the other still serves them one by one: 3 by day 90), relaxing both decides all 10 on day 40,
so the Shapley values split the 7 deals' worth evenly, where one-at-a-time runs would say 0.

Tolerances are K standard errors of each estimate (from its reported 95% interval).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pytest

import simsales
from simsales.api import explain, simulate
from simsales.results.explain import Explanation, explain_delta
from simsales.results.scurves import s_curves
from simsales.results.stats import Z95
from simsales.scenario.schema import Scenario

K = 4.5
N_DEALS, VALUE, P_WIN, TARGET, REPS = 10, 1e5, 0.5, 1e6, 300
IN_Q1 = 4  # decided at days 20, 40, 60, 80 < 90


def _scenario(legal: int = 1) -> Scenario:
    return simsales.load_dict(_data(legal))


def _data(legal: int = 1) -> dict[str, Any]:
    return {
        "name": "one bottleneck",
        "start": "2027-01-01",
        "horizon": "2027-12-31",
        "calendar": {"continuous": True},
        "resources": {"legal": {"capacity": legal}, "sales": {"capacity": 50}},
        "stages": [
            {
                "id": "review",
                "duration": {"fixed": 20},
                "needs": {"legal": 1, "sales": 1},
                "advance": P_WIN,
            }
        ],
        "deal_types": {"t": {"value": {"fixed": VALUE}}},
        "pipeline": [
            {"id": f"D{i:02d}", "type": "t", "stage": "review", "value": VALUE}
            for i in range(N_DEALS)
        ],
        "targets": {"revenue": {"2027Q1": TARGET}},
    }


def _explain(scenario: Scenario, reps: int = REPS, seed: int = 5) -> Explanation:
    return explain(scenario, "2027Q1", replications=reps, seed=seed)


@pytest.fixture(scope="module")
def explanation() -> Explanation:
    return _explain(_scenario())


def _se(row: Any) -> float:
    return float(row["high"] - row["low"]) / (2 * Z95)


def _row(e: Explanation, kind: str, ident: str) -> Any:
    c = e.contributions
    return c[(c["kind"] == kind) & (c["id"] == ident)].iloc[0]


def test_contributions_add_up_to_the_gap_within_its_error(explanation: Explanation) -> None:
    gap, low, high = explanation.total_gap
    total = explanation.contributions["value"].sum()
    assert abs(total - gap) <= (high - low) / 2
    # the identity holds replication by replication, not only on average
    per_rep = explanation.per_replication.sum(axis=1).to_numpy()
    assert np.allclose(per_rep.mean(), gap, rtol=1e-9)
    # and the gap is the analytic one
    truth = TARGET - IN_Q1 * P_WIN * VALUE
    assert abs(gap - truth) <= K * (high - low) / (2 * Z95)


def test_the_bottleneck_pool_gets_the_largest_contribution(explanation: Explanation) -> None:
    c = explanation.contributions
    legal = _row(explanation, "pool", "legal")
    assert c["value"].idxmax() == legal.name
    assert abs(legal["value"] - (N_DEALS - IN_Q1) * P_WIN * VALUE) <= K * _se(legal)
    assert _row(explanation, "pool", "sales")["value"] == 0.0  # never short: no effect at all
    assert not (explanation.contributions["kind"] == "interaction").any()  # no risks: no rest


def test_deal_stage_and_coverage_terms_match_the_analytic_split(explanation: Explanation) -> None:
    for i in range(N_DEALS):
        row = _row(explanation, "deal", f"D{i:02d}")
        assert abs(row["value"] - (1 - P_WIN) * VALUE) <= K * _se(row)
    assert _row(explanation, "stage", "review")["value"] == 0.0
    assert _row(explanation, "coverage", "pipeline")["value"] == pytest.approx(0.0, abs=1e-6)


def test_findings_name_the_bottleneck_in_plain_words(explanation: Explanation) -> None:
    text = " ".join(explanation.findings)
    assert "legal queue: costs" in text
    assert "decides after Q1 2027" in text  # the deals counsel serves last
    data = explanation.to_json()
    assert {"total_gap", "contributions", "findings"} <= set(data)
    assert {c["kind"] for c in data["contributions"]} >= {"deal", "stage", "pool"}


def test_a_variant_delta_says_which_pool_stops_being_the_bottleneck(
    explanation: Explanation,
) -> None:
    # a second counsel: 8 deals decided in Q1 (days 20, 20, 40, 40, ..., 80, 80)
    hired = _explain(_scenario(legal=2))
    delta = explain_delta(explanation, hired, "hire counsel")
    legal = _row(delta, "pool", "legal")
    assert abs(legal["value"] - (-(8 - IN_Q1) * P_WIN * VALUE)) <= K * _se(legal)
    assert delta.contributions["value"].sum() == pytest.approx(delta.total_gap[0], rel=1e-9)
    assert delta.findings[0].startswith("hire counsel raises expected Q1 2027 revenue")


def test_s_curves_step_when_counsel_decides_each_deal() -> None:
    forecast = simulate(_scenario(), 200, 9, precision=None, progress=False)
    curves = s_curves(forecast).set_index(["deal", "date"])
    first, last = curves.loc["D00"], curves.loc["D09"]
    # D00 is decided on day 20 (2027-01-20), D09 on day 200 (2027-07-19), in every replication
    assert first.loc[date(2027, 1, 17), "decided"] == 0.0
    assert first.loc[date(2027, 1, 24), "decided"] == 1.0
    assert last.loc[date(2027, 7, 18), "decided"] == 0.0
    assert last.loc[date(2027, 7, 25), "decided"] == 1.0
    won = first["won"].iloc[-1]
    assert abs(won - P_WIN) <= K * math.sqrt(P_WIN * (1 - P_WIN) / 200)
    assert (np.diff(first["won"].to_numpy()) >= 0).all()


def test_pools_in_series_share_what_only_relaxing_both_gains() -> None:
    data = _data()
    data["resources"] = {"presales": {"capacity": 1}, "legal": {"capacity": 1}}
    data["stages"] = [
        {"id": "design", "duration": {"fixed": 20}, "needs": {"presales": 1}},
        {"id": "review", "duration": {"fixed": 20}, "needs": {"legal": 1}, "advance": P_WIN},
    ]
    for deal in data["pipeline"]:
        deal["stage"] = "design"
    e = _explain(simsales.load_dict(data), reps=200)
    share = 0.5 * (N_DEALS - 3) * P_WIN * VALUE
    for pool in ("presales", "legal"):
        row = _row(e, "pool", pool)
        assert abs(row["value"] - share) <= K * _se(row), pool
    gap, low, high = e.total_gap
    assert abs(e.contributions["value"].sum() - gap) <= (high - low) / 2
