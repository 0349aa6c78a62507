"""Sensitivity: the rank correlation itself, the outputs against the raw deals, and scenarios
where the driver of an output is known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

import simsales
from simsales.results.sensitivity import (
    CLOSE_P80,
    REVENUE,
    duration_percentiles,
    outputs,
    sensitivity,
    spearman,
    tornado,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_spearman_equals_scipy_with_ties_and_missing_values() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, 200).astype(float)  # many ties
    y = x + rng.normal(0, 2, 200)
    x[[3, 17]] = np.nan
    rho, lo, hi, n = spearman(x, y)
    keep = ~np.isnan(x)
    expected = stats.spearmanr(x[keep], y[keep]).statistic
    assert n == 198
    assert rho == pytest.approx(expected, abs=1e-12)
    assert lo < rho < hi
    assert np.isnan(spearman(np.ones(50), y[:50])[0])  # a constant input says nothing


def test_outputs_are_the_revenue_of_each_target_period_from_the_deals() -> None:
    forecast = simsales.simulate(
        SCENARIOS / "zh-system-integration.yaml", replications=20, seed=2, progress=False
    )
    model = forecast.model
    assert model is not None
    out = outputs(forecast)
    won = forecast.deals[forecast.deals["outcome"] == "won"]
    quarter = model.calendar.period_labels(won["decision_t"].to_numpy(), "Q")
    half = model.calendar.period_labels(won["decision_t"].to_numpy(), "H")
    for label, labels in (("2026Q2", quarter), ("2026H2", half)):
        by_rep = won["revenue"].where(labels == label, 0.0).groupby(won["replication"]).sum()
        np.testing.assert_allclose(
            out[f"{REVENUE}:{label}"], by_rep.reindex(out.index, fill_value=0)
        )
    total = forecast.deals.groupby("replication")["revenue"].sum()
    np.testing.assert_allclose(out[REVENUE], total.reindex(out.index))


def _one_stage(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "sensitivity truth",
        "start": "2027-01-01",
        "horizon": "2028-12-31",
        "calendar": {"continuous": True},
        "deal_types": {"t": {"value": {"uniform": [1.0e5, 2.0e6]}}},
    }
    data.update(extra)
    return data


def test_revenue_is_driven_by_the_pipeline_value_when_every_deal_is_won() -> None:
    scenario = simsales.load_dict(
        _one_stage(
            stages=[{"id": "sign", "duration": {"fixed": 1}}],
            pipeline=[{"id": f"D{i}", "type": "t", "stage": "sign"} for i in range(8)],
        )
    )
    table = sensitivity(simsales.simulate(scenario, replications=60, seed=1, progress=False))
    top = tornado(table, REVENUE, 1).iloc[0]
    assert top["input"] == "value:live_pipeline"
    assert top["rho"] == pytest.approx(1.0)
    assert CLOSE_P80 not in set(table["output"])  # every deal decided at t = 1: nothing varies


def test_the_close_date_is_driven_by_how_long_the_stage_took() -> None:
    """A fixed first stage, then a widely uncertain one: the P80 close time moves with the
    durations drawn in the second stage, and nothing else is random."""
    scenario = simsales.load_dict(
        _one_stage(
            stages=[
                {"id": "start", "duration": {"fixed": 1}},
                {"id": "work", "duration": {"uniform": [5, 60]}},
            ],
            pipeline=[{"id": f"D{i}", "type": "t", "stage": "start"} for i in range(20)],
        )
    )
    forecast = simsales.simulate(scenario, replications=150, seed=6, progress=False)
    table = sensitivity(forecast)
    top = tornado(table, CLOSE_P80, 1).iloc[0]
    assert top["input"] == "duration:work"
    assert top["rho_low"] > 0.3
    # the percentile of a uniform duration is (d - 5) / 55, averaged per replication
    v = forecast.visits[forecast.visits["stage"] == "work"]
    u = ((v["exit_t"] - v["start_t"]) - 5) / 55
    expected = u.groupby(v["replication"]).mean()
    np.testing.assert_allclose(duration_percentiles(forecast)["duration:work"], expected)


def test_live_deals_in_their_starting_stage_are_not_duration_draws() -> None:
    """Their time in that stage is a remaining time, conditioned on the days already spent."""
    scenario = simsales.load_dict(
        _one_stage(
            stages=[{"id": "work", "duration": {"uniform": [5, 60]}}],
            pipeline=[
                {"id": f"D{i}", "type": "t", "stage": "work", "days_in_stage": 10} for i in range(5)
            ],
        )
    )
    forecast = simsales.simulate(scenario, replications=5, seed=6, progress=False)
    assert duration_percentiles(forecast)["duration:work"].isna().all()
