"""What each risk costs, and what each mitigation buys, from paired what-if runs.

For each risk, the base is compared with the run where the risk never occurs (its ``p`` set to
0, and the mitigation's ``p`` too when the base has it mitigated), with common random numbers:
the cost of the risk is base minus "without" for expected revenue and target probabilities, and
the P80 delay it causes. Risks are ranked by the expected revenue they cost.

For each risk with a mitigation, the mitigated and unmitigated runs are compared (whichever of
them the base is): the expected revenue and margin the mitigation gains, against what it costs.
The engine charges a deal-scope mitigation per exposed deal in deal costs and a global or
resource mitigation once per replication; the expected spend of a deal-scope one is measured
exactly by one more paired run with the mitigation free of charge (the same draws and the same
timeline, so the cost difference is only the charges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.engine.options import RunOptions
from simsales.results.compare import Comparison, compare_scenarios
from simsales.results.forecast import Forecast
from simsales.results.paired import paired_mean
from simsales.results.summary import per_replication
from simsales.scenario.load import with_overlay
from simsales.scenario.schema import Risk, Scenario

__all__ = ["RiskContribution", "contribution_of_risks", "without_risk"]

WITHOUT, MITIGATED, UNMITIGATED, FREE = "without", "mitigated", "unmitigated", "mitigated free"


@dataclass
class RiskContribution:
    """``risks``: one row per risk, ranked by the expected revenue it costs; ``mitigations``:
    one row per risk that has a mitigation; ``comparison``: the paired runs behind them.

    ``risks`` columns: rank, risk, name, scope, revenue_cost (+ _low/_high, 95%),
    revenue_cost_significant, p80_delay_days (+ _low/_high; calendar days the risk adds to the
    portfolio P80 date) and ``target_probability_cost:<period>`` for each target.
    ``mitigations`` columns: risk, name, scope, mitigated_in_base, mitigation_cost (expected
    spend per replication), revenue_gain, margin_gain (net of the spend), each with _low/_high,
    gross_margin_gain (before the spend), benefit_cost_ratio (gross gain per unit spent),
    p80_gain_days and verdict ("pays off", "does not pay off", "unclear").
    """

    risks: pd.DataFrame
    mitigations: pd.DataFrame
    comparison: Comparison
    currency: str


def contribution_of_risks(
    base: Scenario,
    options: RunOptions,
    *,
    base_forecast: Forecast | None = None,
) -> RiskContribution:
    """Rank the scenario's risks by what they cost, and weigh each mitigation against its cost.

    ``base_forecast``: the base already simulated with these replications and seed (e.g.
    ``comparison.base``), to save running it again.
    """
    runs: list[tuple[str, Scenario]] = []
    for risk in base.risks:
        runs.append(
            (f"{WITHOUT} {risk.id}", with_overlay(base, without_risk(risk), name=f"{risk.id}: p 0"))
        )
        if risk.mitigation is None:
            continue
        other = MITIGATED if not risk.mitigated else UNMITIGATED
        flip = {"risks": {risk.id: {"mitigated": not risk.mitigated}}}
        runs.append((f"{other} {risk.id}", with_overlay(base, flip, name=f"{risk.id}: {other}")))
        if risk.scope == "deal" and risk.mitigation.cost > 0:
            free = {"risks": {risk.id: {"mitigated": True, "mitigation": {"cost": 0}}}}
            runs.append(
                (f"{FREE} {risk.id}", with_overlay(base, free, name=f"{risk.id}: mitigation free"))
            )
    comparison = compare_scenarios(base, runs, options, base_forecast=base_forecast)
    return RiskContribution(
        risks=_risk_table(base, comparison),
        mitigations=_mitigation_table(base, comparison),
        comparison=comparison,
        currency=base.currency,
    )


def _rows(comparison: Comparison, name: str) -> pd.DataFrame:
    d = comparison.deltas
    return d[d["name"] == name].set_index("metric")


def without_risk(risk: Risk) -> dict[str, Any]:
    """The overlay under which ``risk`` never occurs (its mitigated ``p`` too, if mitigated)."""
    patch: dict[str, Any] = {"p": 0}
    if risk.mitigated and risk.mitigation is not None and risk.mitigation.p is not None:
        patch["mitigation"] = {"p": 0}
    return {"risks": {risk.id: patch}}


def _risk_table(base: Scenario, comparison: Comparison) -> pd.DataFrame:
    rows = []
    for risk in base.risks:
        d = _rows(comparison, f"{WITHOUT} {risk.id}")
        rev, p80 = d.loc["revenue"], d.loc["p80_close:portfolio"]
        # the risk costs what the run without it gains: the (without - base) difference;
        # the delay it causes is base - without, the negative of that difference
        row: dict[str, Any] = {
            "risk": risk.id,
            "name": risk.name or risk.id,
            "scope": risk.scope,
            "revenue_cost": rev["difference"],
            "revenue_cost_low": rev["ci_low"],
            "revenue_cost_high": rev["ci_high"],
            "revenue_cost_significant": bool(rev["significant"]),
            "p80_delay_days": 0.0 - p80["difference"],
            "p80_delay_days_low": 0.0 - p80["ci_high"],
            "p80_delay_days_high": 0.0 - p80["ci_low"],
        }
        for metric in d.index:
            if metric.startswith("target_probability:"):
                label = metric.removeprefix("target_probability:")
                row[f"target_probability_cost:{label}"] = d.loc[metric, "difference"]
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out = out.sort_values("revenue_cost", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def _mitigation_table(base: Scenario, comparison: Comparison) -> pd.DataFrame:
    rows = []
    runs = {"": comparison.base, **comparison.variants}
    for risk in base.risks:
        if risk.mitigation is None:
            continue
        other = f"{MITIGATED if not risk.mitigated else UNMITIGATED} {risk.id}"
        # sign: +1 when the other run is the mitigated one, so gains are mitigated - unmitigated
        sign = 1.0 if not risk.mitigated else -1.0
        d = _rows(comparison, other)
        mitigated = runs[other] if not risk.mitigated else runs[""]
        unmitigated = runs[""] if not risk.mitigated else runs[other]
        free = runs.get(f"{FREE} {risk.id}")
        margin = _signed(d.loc["margin"], sign)
        revenue = _signed(d.loc["revenue"], sign)
        if free is not None:
            # same draws, same timeline: the cost difference is the mitigation's charges only
            spend = _column(mitigated, "cost") - _column(free, "cost")
            gross = paired_mean(_column(unmitigated, "margin"), _column(free, "margin")).difference
        else:  # charged once per replication (or free of charge)
            spend = np.full(mitigated.replications, float(risk.mitigation.cost))
            gross = margin[0] + float(spend.mean())
        cost = float(spend.mean())
        p80 = _signed(d.loc["p80_close:portfolio"], sign)
        rows.append(
            {
                "risk": risk.id,
                "name": risk.name or risk.id,
                "scope": risk.scope,
                "mitigated_in_base": risk.mitigated,
                "mitigation_cost": cost,
                "revenue_gain": revenue[0],
                "revenue_gain_low": revenue[1],
                "revenue_gain_high": revenue[2],
                "margin_gain": margin[0],
                "margin_gain_low": margin[1],
                "margin_gain_high": margin[2],
                "gross_margin_gain": gross,
                "benefit_cost_ratio": gross / cost if cost > 0 else math.nan,
                "p80_gain_days": 0.0 - p80[0],  # days earlier with the mitigation
                "verdict": _verdict(margin[1], margin[2]),
            }
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out.sort_values("margin_gain", ascending=False, kind="stable").reset_index(drop=True)


def _column(forecast: Forecast, column: str) -> npt.NDArray[np.float64]:
    assert forecast.model is not None
    return per_replication(forecast, forecast.model)[column].to_numpy(np.float64)


def _signed(row: pd.Series, sign: float) -> tuple[float, float, float]:
    """(estimate, low, high) of mitigated - unmitigated from a (variant - base) row."""
    if sign > 0:
        return float(row["difference"]), float(row["ci_low"]), float(row["ci_high"])
    return 0.0 - float(row["difference"]), 0.0 - float(row["ci_high"]), 0.0 - float(row["ci_low"])


def _verdict(low: float, high: float) -> str:
    if low > 0:
        return "pays off"
    if high < 0:
        return "does not pay off"
    return "unclear"
