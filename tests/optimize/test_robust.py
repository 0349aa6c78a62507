"""Robust plans (SAA over simulated futures): the chance constraint holds on fresh futures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from simsales import simulate, with_overlay
from simsales.api import optimize
from simsales.commands.optimize import register
from simsales.errors import OptimizationError
from simsales.optimize.demand import demand_from_forecast, forecast_demand
from simsales.optimize.plan import write_overlay
from simsales.optimize.robust import futures_from_forecast
from simsales.optimize.verify import period_revenue
from simsales.scenario.load import load_dict

TARGET = 1.4e6  # 14 of the 20 deals won in January
N_OUT = 300


def budget_decision() -> dict[str, Any]:
    """20 deals that all go or all die together (a customer's budget decision, p = 0.3).

    The mean demand is 70% of the full load, so a plan for the mean cannot finish 14 deals in
    January when the budget comes through; a plan for the futures can, in most of them.
    """
    return {
        "name": "budget decision in January",
        "start": "2027-01-01",
        "horizon": "2027-03-31",
        "calendar": {"continuous": True},
        "resources": {"presales": {"capacity": 2, "cost_per_day": 800, "min": 1, "max": 12}},
        "stages": [
            {"id": "qualify", "duration": {"fixed": 2}},
            {
                "id": "work",
                "duration": {"lognormal": {"p50": 6, "p90": 12}},
                "needs": {"presales": 1},
            },
        ],
        "deal_types": {"std": {"value": {"fixed": 1e5}, "margin": 0.5}},
        "pipeline": [{"id": f"D-{i:02d}", "type": "std", "stage": "qualify"} for i in range(20)],
        "risks": [
            {
                "id": "budget_cut",
                "scope": "global",
                "p": 0.3,
                "window": ["2027-01-01", "2027-01-01"],
                "applies_to": {"stage": "qualify"},
                "impact": {"lost": True},
            }
        ],
        "targets": {"revenue": {"2027-01": TARGET}},
    }


def p_out(scenario: Any, overlay: dict[str, Any], seed: int) -> float:
    planned = with_overlay(scenario, overlay) if overlay else scenario
    forecast = simulate(planned, N_OUT, seed, progress=False, precision=None)
    return float(np.mean(period_revenue(forecast, "2027-01") >= TARGET))


def test_robust_plan_meets_the_target_probability_out_of_sample() -> None:
    scenario = load_dict(budget_decision())
    alpha = 0.5
    se = math.sqrt(alpha * (1 - alpha) / N_OUT)  # binomial standard error at alpha
    deterministic = optimize(scenario, replications=100, seed=1, check=False, mitigations=False)
    assert deterministic.status == "optimal"
    # the scenario is built so that the plan for the mean demand fails the target
    assert p_out(scenario, deterministic.overlay, 7) < alpha - 3 * se
    robust = optimize(
        scenario, robust=40, target_probability=alpha, replications=N_OUT, seed=1, solver="highs"
    )
    assert robust.status == "optimal"
    row = next(r for r in robust.robust if r["metric"] == "P(target 2027-01)")
    assert row["model"] >= alpha  # the chance constraint holds on the fitted futures
    # Out of sample (fresh futures, seed 2): within 3 standard errors of alpha or above.
    assert row["out_of_sample"] >= alpha - 3 * se
    assert p_out(scenario, robust.overlay, 7) >= alpha - 3 * se  # and on yet other futures
    margin = robust.robust[0]
    assert margin["metric"] == "plan_margin"
    assert margin["out_of_sample_low"] <= margin["out_of_sample"] <= margin["out_of_sample_high"]


def test_futures_average_to_the_mean_demand() -> None:
    scenario = load_dict(budget_decision())
    forecast = forecast_demand(scenario, 30, 4)
    futures = futures_from_forecast(forecast, ("2027-01",))
    mean = demand_from_forecast(forecast, ("2027-01",))
    assert np.allclose(futures.effort.mean(axis=0), mean.effort)
    assert np.allclose(futures.value.mean(axis=0), mean.value)
    assert np.allclose(futures.revenue_in["2027-01"].mean(axis=0), mean.revenue_in["2027-01"])
    # all 20 deals go or die together: each future's January work is all or nothing-like
    jan = futures.effort[:, :, 0, 0].sum(axis=1)
    assert (jan == 0).any() and (jan > 0).any()


def test_robust_refuses_what_does_not_apply() -> None:
    scenario = load_dict(budget_decision())
    with pytest.raises(OptimizationError, match="--target-probability needs --robust"):
        optimize(scenario, target_probability=0.8, check=False)
    with pytest.raises(OptimizationError, match="do not apply to --robust"):
        optimize(scenario, robust=5, slip_months=2, check=False)


def test_cli_prints_the_in_and_out_of_sample_table(tmp_path: Path) -> None:
    path = write_overlay(budget_decision(), tmp_path / "budget.yaml")
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    args = ["optimize", str(path), "--robust", "6", "-n", "30", "--solver", "highs"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Robust plan: in-sample (6 futures" in text and "out-of-sample (30 fresh futures" in text
    assert "plan_margin" in text and "P(target 2027-01)" in text
    result = CliRunner().invoke(app, [*args, "--mode", "assignment", "--people", str(path)])
    assert result.exit_code == 2  # --robust belongs to the capacity plan
