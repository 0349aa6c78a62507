"""The stage funnel against the raw visits, and against the input where nothing else interferes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import simsales
from simsales.results.forecast import Forecast
from simsales.results.funnel import funnel
from simsales.results.stats import Z95

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
K = 4.5  # standard errors: a correct estimate fails a check with probability ~7e-6


def _count_outcomes(forecast: Forecast) -> Counter[tuple[str, str]]:
    """(stage, outcome) counts by walking each deal's visits in the order they were recorded."""
    model = forecast.model
    assert model is not None
    order = {s: i for i, s in enumerate(model.stage_ids)}
    deals = forecast.deals.astype({"deal": str, "stage": str, "outcome": str})
    fate = {(r.replication, r.deal): (r.stage, r.outcome) for r in deals.itertuples()}
    counts: Counter[tuple[str, str]] = Counter()
    visits = forecast.visits.astype({"deal": str, "stage": str})
    for (rep, deal), g in visits.groupby(["replication", "deal"], sort=False):
        rows = list(g.itertuples())
        reached, outcome = fate[(rep, deal)]
        for i, v in enumerate(rows):
            if pd.isna(v.exit_t):
                result = "undecided"
            elif i + 1 < len(rows):
                result = "advanced" if order[rows[i + 1].stage] > order[v.stage] else "reworked"
            elif reached != v.stage:
                result = "advanced" if order[reached] > order[v.stage] else "reworked"
            else:
                result = {"won": "advanced", "lost": "lost"}.get(outcome, "undecided")
            counts[(v.stage, result)] += 1
    return counts


@pytest.mark.parametrize("name", ["enterprise-it.yaml", "zh-system-integration.yaml"])
def test_funnel_counts_equal_counts_from_the_visits(name: str) -> None:
    forecast = simsales.simulate(SCENARIOS / name, replications=15, seed=3, progress=False)
    table = funnel(forecast).set_index("stage")
    counts = _count_outcomes(forecast)
    for stage, row in table.iterrows():
        assert row["advanced"] == counts[(stage, "advanced")]
        assert row["lost"] == counts[(stage, "lost")]
        assert row["reworked"] == counts[(stage, "reworked")]
        assert row["undecided"] == counts[(stage, "undecided")]
        decided = counts[(stage, "advanced")] + counts[(stage, "lost")]
        if decided:
            assert row["conversion"] == pytest.approx(counts[(stage, "advanced")] / decided)
        visits = forecast.visits[forecast.visits["stage"] == stage]
        assert row["visits"] == pytest.approx(len(visits) / forecast.replications)


def test_without_risks_or_rules_the_simulated_conversion_is_the_input() -> None:
    """Advance and rework probabilities are all that decide a visit's fate here."""
    scenario = simsales.load_dict(
        {
            "name": "funnel truth",
            "start": "2027-01-01",
            "horizon": "2029-12-31",
            "calendar": {"continuous": True},
            "stages": [
                {"id": "a", "duration": {"uniform": [1, 3]}, "advance": 0.6},
                {"id": "b", "duration": {"uniform": [1, 3]}, "advance": 0.8},
                {
                    "id": "c",
                    "duration": {"uniform": [1, 3]},
                    "advance": 0.7,
                    "rework": {"to": "b", "p": 0.3},
                },
            ],
            "deal_types": {"t": {"value": {"fixed": 1.0}}},
            "pipeline": [{"id": f"D{i}", "type": "t", "stage": "a"} for i in range(40)],
        }
    )
    table = funnel(simsales.simulate(scenario, replications=100, seed=8, progress=False))
    table = table.set_index("stage")
    for stage, advance in (("a", 0.6), ("b", 0.8), ("c", 0.7)):
        row = table.loc[stage]
        assert row["input_advance"] == pytest.approx(advance)
        se = (row["conversion_high"] - row["conversion_low"]) / (2 * Z95)
        assert abs(row["conversion"] - advance) <= K * se
        assert row["undecided"] == 0  # a long horizon: every visit is decided
    c = table.loc["c"]
    se = (c["rework_rate_high"] - c["rework_rate_low"]) / (2 * Z95)
    assert abs(c["rework_rate"] - 0.3) <= K * se
    assert c["input_rework"] == pytest.approx(0.3)
