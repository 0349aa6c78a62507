"""Risk contribution against analytic truth: what each risk costs, what a mitigation buys.

The scenario: 50 live deals worth 1000 each that all win after 5 days unless a risk strikes.
``big`` (p 0.3) and ``small`` (p 0.05) lose a deal outright; ``war`` (global, p 0.5, early in the
year) halves the value of every open deal. Mitigating ``big`` brings its p to 0.1 for 10 per
exposed deal (every deal is exposed); mitigating ``war`` makes it cost 10% instead of 50% for
7 once. Tolerances are K standard errors of the per-replication differences (K = 4.5).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import simsales
from simsales.api import risk_contribution
from simsales.results.risk_contribution import RiskContribution
from simsales.results.risk_register import risk_register

K = 4.5
N_DEALS, VALUE, MARGIN, REPS = 50, 1000.0, 0.4, 200
P_BIG, P_BIG_MITIGATED, P_SMALL, P_WAR = 0.3, 0.1, 0.05, 0.5
E_WAR_FACTOR = 1 - P_WAR * 0.5  # expected value factor of a deal open when the war may strike


def _scenario(big_mitigated: bool = False) -> simsales.Scenario:
    return simsales.load_dict(
        {
            "name": "risky",
            "start": "2027-01-01",
            "horizon": "2027-12-31",
            "calendar": {"continuous": True},
            "stages": [{"id": "a", "duration": {"fixed": 5}, "advance": 1.0}],
            "deal_types": {"t": {"value": {"fixed": VALUE}, "margin": MARGIN}},
            "pipeline": [
                {"id": f"D{i:02d}", "type": "t", "stage": "a", "value": VALUE}
                for i in range(N_DEALS)
            ],
            "risks": [
                {"id": "small", "scope": "deal", "p": P_SMALL, "impact": {"lost": True}},
                {
                    "id": "big",
                    "scope": "deal",
                    "p": P_BIG,
                    "impact": {"lost": True},
                    "mitigation": {"cost": 10, "p": P_BIG_MITIGATED},
                    "mitigated": big_mitigated,
                },
                {
                    "id": "war",
                    "scope": "global",
                    "p": P_WAR,
                    "window": ["2027-01-01", "2027-01-03"],
                    "impact": {"value_factor": 0.5},
                    "mitigation": {"cost": 7, "impact": {"value_factor": 0.9}},
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def rc() -> RiskContribution:
    return risk_contribution(_scenario(), replications=REPS, seed=3)


def _se(row: Any, prefix: str) -> float:
    """Standard error from the module's own paired t interval (checked in test_compare)."""
    from scipy import stats

    return (row[f"{prefix}_high"] - row[f"{prefix}_low"]) / 2 / stats.t.ppf(0.975, REPS - 1)


def _close(estimate: float, truth: float, se: float, what: str) -> None:
    assert se > 0, f"{what}: no standard error"
    assert abs(estimate - truth) <= K * se, f"{what}: {estimate:.6g} vs {truth:.6g} (SE {se:.3g})"


def test_each_risk_costs_what_the_analysis_says(rc: RiskContribution) -> None:
    r = rc.risks.set_index("risk")
    survive = {"big": 1 - P_SMALL, "small": 1 - P_BIG}  # the other lost-risk spares the deal
    truth = {
        "big": N_DEALS * VALUE * P_BIG * survive["big"] * E_WAR_FACTOR,
        "small": N_DEALS * VALUE * P_SMALL * survive["small"] * E_WAR_FACTOR,
        "war": N_DEALS * VALUE * (1 - P_BIG) * (1 - P_SMALL) * P_WAR * 0.5,
    }
    for risk, expected in truth.items():
        _close(r.loc[risk, "revenue_cost"], expected, _se(r.loc[risk], "revenue_cost"), risk)
        assert r.loc[risk, "revenue_cost_significant"]
    assert list(rc.risks["risk"]) == ["big", "war", "small"]  # ranked by revenue cost
    assert list(rc.risks["rank"]) == [1, 2, 3]


def test_the_run_without_a_risk_has_no_occurrence(rc: RiskContribution) -> None:
    for risk in ("big", "small", "war"):
        without = rc.comparison.variants[f"without {risk}"]
        assert (without.risks["risk"] == risk).sum() == 0
        assert (rc.comparison.base.risks["risk"] == risk).sum() > 0


def test_mitigations_weigh_benefit_against_spend(rc: RiskContribution) -> None:
    m = rc.mitigations.set_index("risk")
    # every deal is exposed to 'big' once, so its spend is exactly 10 per deal per replication
    assert m.loc["big", "mitigation_cost"] == pytest.approx(10 * N_DEALS, rel=1e-12)
    assert m.loc["war", "mitigation_cost"] == pytest.approx(7, rel=1e-12)
    gain_big = N_DEALS * VALUE * (P_BIG - P_BIG_MITIGATED) * (1 - P_SMALL) * E_WAR_FACTOR
    gain_war = N_DEALS * VALUE * (1 - P_BIG) * (1 - P_SMALL) * P_WAR * (0.9 - 0.5)
    _close(m.loc["big", "revenue_gain"], gain_big, _se(m.loc["big"], "revenue_gain"), "big")
    _close(m.loc["war", "revenue_gain"], gain_war, _se(m.loc["war"], "revenue_gain"), "war")
    for risk in ("big", "war"):
        row = m.loc[risk]
        # no people or stage costs here: margin = 0.4 revenue - spend, replication by replication
        assert row["margin_gain"] == pytest.approx(
            MARGIN * row["revenue_gain"] - row["mitigation_cost"], rel=1e-9
        )
        assert row["gross_margin_gain"] == pytest.approx(MARGIN * row["revenue_gain"], rel=1e-9)
        assert row["benefit_cost_ratio"] == pytest.approx(
            row["gross_margin_gain"] / row["mitigation_cost"]
        )
    assert m.loc["big", "verdict"] == "pays off"  # gains ~2850 of margin for 500


def test_a_mitigation_already_in_the_base_is_weighed_the_same_way() -> None:
    rc = risk_contribution(_scenario(big_mitigated=True), replications=REPS, seed=3)
    m = rc.mitigations.set_index("risk")
    assert m.loc["big", "mitigated_in_base"]
    assert m.loc["big", "mitigation_cost"] == pytest.approx(10 * N_DEALS, rel=1e-12)
    gain = N_DEALS * VALUE * (P_BIG - P_BIG_MITIGATED) * (1 - P_SMALL) * E_WAR_FACTOR
    _close(m.loc["big", "revenue_gain"], gain, _se(m.loc["big"], "revenue_gain"), "big")
    without = rc.comparison.variants["without big"]
    assert (without.risks["risk"] == "big").sum() == 0  # the mitigated p is set to 0 too
    r = rc.risks.set_index("risk")
    truth = N_DEALS * VALUE * P_BIG_MITIGATED * (1 - P_SMALL) * E_WAR_FACTOR
    _close(r.loc["big", "revenue_cost"], truth, _se(r.loc["big"], "revenue_cost"), "big")
    assert not math.isnan(r.loc["big", "p80_delay_days"])
    assert np.isfinite(rc.risks["revenue_cost"]).all()


def test_the_risk_register_shows_probability_and_impact_before_and_after(
    rc: RiskContribution,
) -> None:
    register = risk_register(rc, _scenario()).set_index("risk")
    big = register.loc["big"]
    assert (big["p_before"], big["p_after"]) == (P_BIG, P_BIG_MITIGATED)
    before = N_DEALS * VALUE * P_BIG * (1 - P_SMALL) * E_WAR_FACTOR
    after = N_DEALS * VALUE * P_BIG_MITIGATED * (1 - P_SMALL) * E_WAR_FACTOR
    r = rc.risks.set_index("risk").loc["big"]
    _close(big["expected_cost_before"], before, _se(r, "revenue_cost"), "big before")
    # after = cost - gain: both errors count (their paired intervals, added in quadrature)
    g = rc.mitigations.set_index("risk").loc["big"]
    se_after = math.hypot(_se(r, "revenue_cost"), _se(g, "revenue_gain"))
    _close(big["expected_cost_after"], after, se_after, "big after")
    # an occurrence costs a deal: its value, when the other risks spare it
    se_impact = _se(r, "revenue_cost") / P_BIG
    _close(big["impact_before"], before / P_BIG, se_impact, "impact")
    assert big["mitigation_cost"] == pytest.approx(10 * N_DEALS, rel=1e-12)
    assert register.loc["small", "verdict"] == "no mitigation"
    assert math.isnan(register.loc["small", "expected_cost_after"])
