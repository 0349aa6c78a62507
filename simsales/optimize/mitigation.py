"""What funding each mitigation is worth: paired simulation of mitigated vs not.

For every risk that has a mitigation, the scenario is simulated with the mitigation switched to
the other state, with the same seed as the demand run, so both runs meet the same luck (common
random numbers) and the difference is the mitigation's effect, not noise. The benefit is the
paired difference in expected gross margin from revenue (revenue x margin share); the cost is
the expected mitigation spend the engine charges (per exposed deal, or once).

Why not ``simsales.results.risk_contribution``? It answers a wider question (what every risk
costs, with a "never occurs" run per risk and a "mitigation free" run per deal-scope mitigation:
three runs where this needs one), and its margin charges people by the days they are busy, while
the plan pays employees by headcount. The paired difference itself is the same
(``simsales.results.paired.paired_mean``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simsales.engine.options import RunOptions
from simsales.optimize.accounting import per_replication
from simsales.results.forecast import Forecast
from simsales.results.paired import paired_mean
from simsales.results.simulation import simulate_scenario
from simsales.scenario.load import with_overlay
from simsales.scenario.schema import Scenario

__all__ = ["MitigationOption", "mitigation_options"]


@dataclass(frozen=True)
class MitigationOption:
    """One mitigation the plan may fund. Money in the scenario's currency, per run (horizon)."""

    risk: str
    funded_now: bool  # the scenario's current state
    benefit: float  # expected gross margin gained by funding it (paired difference)
    benefit_low: float  # 95% interval of the paired difference
    benefit_high: float
    cost: float  # expected spend when funded


def mitigation_options(
    scenario: Scenario, base: Forecast, replications: int, seed: int
) -> list[MitigationOption]:
    """Benefit and cost of each mitigation, against ``base`` (a run of ``scenario``)."""
    external = [p.external for p in scenario.resources.values()]
    base_reps = per_replication(base, external)
    out = []
    for risk in scenario.risks:
        if risk.mitigation is None:
            continue
        other = with_overlay(
            scenario,
            {"risks": {risk.id: {"mitigated": not risk.mitigated}}},
            name=f"optimizer: mitigation of {risk.id}",
        )
        run = simulate_scenario(other, RunOptions(replications, seed), precision=None)
        reps = per_replication(run, external)
        on, off = (base_reps, reps) if risk.mitigated else (reps, base_reps)
        gain = paired_mean(off["gross"].to_numpy(), on["gross"].to_numpy())
        mean, lo, hi = gain.difference, gain.ci_low, gain.ci_high
        cost = float(np.mean(on["mitigation"].to_numpy() - off["mitigation"].to_numpy()))
        out.append(
            MitigationOption(
                risk=risk.id,
                funded_now=risk.mitigated,
                benefit=mean,
                benefit_low=lo if not math.isnan(lo) else mean,
                benefit_high=hi if not math.isnan(hi) else mean,
                cost=max(cost, 0.0),
            )
        )
    return out
