"""The risk register: each risk's probability and impact before and after its mitigation,
what the mitigation costs and what it is worth, from :mod:`simsales.results.risk_contribution`.

``expected_cost``: the expected revenue the risk costs (probability x impact, measured by the
paired run without it); ``impact``: that cost divided by the risk's probability, the revenue an
occurrence costs on average (per exposed deal for a deal-scope risk, roughly: a deal's exposure
is itself uncertain). "Before" is the unmitigated risk and "after" the mitigated one, whichever
of them the base runs: the other comes from the paired mitigation run (its revenue gain).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from simsales.results.risk_contribution import RiskContribution
from simsales.scenario.schema import Scenario

__all__ = ["risk_register"]


def risk_register(contribution: RiskContribution, scenario: Scenario) -> pd.DataFrame:
    """One row per risk: risk, name, scope, p_before, p_after, expected_cost_before/_after,
    impact_before/_after, mitigation_cost, margin_gain (+ _low/_high), verdict."""
    risks = contribution.risks.set_index("risk") if len(contribution.risks) else None
    mitigations = (
        contribution.mitigations.set_index("risk") if len(contribution.mitigations) else None
    )
    rows = []
    for risk in scenario.risks:
        if risks is None or risk.id not in risks.index:
            continue
        cost = float(risks.loc[risk.id, "revenue_cost"])
        m = risk.mitigation
        row: dict[str, Any] = {
            "risk": risk.id,
            "name": risk.name or risk.id,
            "scope": risk.scope,
            "p_before": risk.p,
            "p_after": math.nan,
            "expected_cost_before": cost,
            "expected_cost_after": math.nan,
            "mitigation_cost": math.nan,
            "margin_gain": math.nan,
            "margin_gain_low": math.nan,
            "margin_gain_high": math.nan,
            "verdict": "no mitigation",
        }
        if m is not None and mitigations is not None and risk.id in mitigations.index:
            g = mitigations.loc[risk.id]
            gain = float(g["revenue_gain"])  # mitigated - unmitigated revenue
            before, after = (cost + gain, cost) if risk.mitigated else (cost, cost - gain)
            row.update(
                p_after=risk.p if m.p is None else m.p,
                expected_cost_before=before,
                expected_cost_after=after,
                mitigation_cost=float(g["mitigation_cost"]),
                margin_gain=float(g["margin_gain"]),
                margin_gain_low=float(g["margin_gain_low"]),
                margin_gain_high=float(g["margin_gain_high"]),
                verdict=str(g["verdict"]),
            )
        row["impact_before"] = _per(row["expected_cost_before"], row["p_before"])
        row["impact_after"] = _per(row["expected_cost_after"], row["p_after"])
        rows.append(row)
    return pd.DataFrame(rows)


def _per(cost: float, p: float) -> float:
    return cost / p if p > 0 and math.isfinite(cost) else math.nan
