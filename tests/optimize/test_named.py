"""The named assignment reaches the engine: people as capacity, effort, value uplift; refusals."""

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
from simsales.engine.model import compile_model
from simsales.errors import OptimizationError
from simsales.optimize import Fit, Person
from simsales.optimize.named import assignment_overlay, scaled
from simsales.scenario.load import load_dict

N = 200


def small(rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "name": "one seller",
        "start": "2027-01-04",
        "horizon": "2027-12-31",
        "calendar": {"continuous": True},
        "resources": {"sales": {"capacity": 2, "cost_per_day": 100}},
        "stages": [
            {"id": "pitch", "duration": {"fixed": 10}, "needs": {"sales": 1}, "advance": 0.6},
            {"id": "close", "duration": {"uniform": [5, 15]}, "needs": {"sales": 1}},
        ],
        "deal_types": {"std": {"value": {"uniform": [1e5, 3e5]}, "margin": 0.5}},
        "pipeline": [
            {"id": "D-1", "type": "std", "stage": "pitch"},
            {"id": "D-2", "type": "std", "stage": "pitch", "value": 2e5},
        ],
        "rules": rules or [],
    }


def deal_revenue(forecast: Any, deal: str) -> np.ndarray:
    d = forecast.deals
    return d.loc[d["deal"] == deal].sort_values("replication")["revenue"].to_numpy(float)


def test_value_uplift_moves_that_deals_simulated_revenue_by_the_uplift() -> None:
    scenario = load_dict(small())
    people = [Person("Ann", "sales", 40.0), Person("Bo", "sales", 40.0)]
    uplift = 0.5
    fit = {("Ann", "D-1"): Fit("Ann", "D-1", 1.0, uplift)}
    plan = optimize(scenario, "assignment", people=people, fit=fit, replications=N, seed=3)
    assert plan.status == "optimal"
    assert any(a["person"] == "Ann" and a["deal"] == "D-1" for a in plan.assignments)
    base = simulate(scenario, N, 3, progress=False, precision=None)
    planned = simulate(with_overlay(scenario, plan.overlay), N, 3, progress=False, precision=None)
    b, v = deal_revenue(base, "D-1"), deal_revenue(planned, "D-1")
    # Truth: E[plan revenue] = (1 + uplift) E[base revenue]. Tolerance: 4 standard errors of the
    # per-replication residual v - (1 + u) b (0 under common random numbers, unless the pools
    # changed the deal's luck), plus float noise.
    resid = v - (1 + uplift) * b
    se = float(resid.std(ddof=1)) / math.sqrt(N)
    assert abs(float(resid.mean())) <= 4 * se + 1e-6
    assert v.mean() - b.mean() > 0.3 * b.mean()  # the uplift is visible, not a no-op
    # the optimizer's claim beside the same figure simulated: the live deals' gross margin
    rec = plan.verification.reconciliation
    assert rec["claimed"] == pytest.approx(plan.objective)
    live = planned.deals[planned.deals["live"]]
    simulated = (live["revenue"] * 0.5).sum() / N  # margin share 0.5, no stage costs
    assert rec["simulated"] == pytest.approx(simulated)
    # D-2 has no uplift: its revenue does not move
    resid2 = deal_revenue(planned, "D-2") - deal_revenue(base, "D-2")
    assert abs(float(resid2.mean())) <= 4 * float(resid2.std(ddof=1)) / math.sqrt(N) + 1e-6


def test_effort_multiplier_sets_the_owned_stages_pace() -> None:
    scenario = load_dict(small())
    people = [Person("Ann", "sales", 40.0), Person("Bo", "sales", 40.0)]
    owners = {"D-1": [people[0]], "D-2": [people[1]]}
    fit = {("Ann", "D-1"): Fit("Ann", "D-1", 0.5, 0.0)}
    overlay = assignment_overlay(scenario, people, fit, owners, [], 40.0)
    forecast = simulate(with_overlay(scenario, overlay), 50, 1, progress=False, precision=None)
    v = forecast.visits
    pitch = v[(v["stage"] == "pitch")]
    took = (pitch["exit_t"] - pitch["start_t"]).to_numpy()
    is_d1 = (pitch["deal"] == "D-1").to_numpy()
    assert np.allclose(took[is_d1], 5.0)  # fixed 10 days x 0.5
    assert np.allclose(took[~is_d1], 10.0)  # the other owner keeps the scenario's pace


def test_named_people_are_the_roles_capacity() -> None:
    scenario = load_dict(small())
    people = [Person("Ann", "sales", 40.0), Person("Bo", "sales", 40.0), Person("Cy", "sales", 20)]
    overlay = assignment_overlay(scenario, people, {}, {"D-1": [people[0]]}, ["D-2"], 40.0)
    model = compile_model(with_overlay(scenario, overlay))
    # 100 hours a week = 2.5 full-time people, half up: 3 (all of the pool's 2 are named)
    assert model.capacity.tolist() == [3]
    # naming one part-timer of the two leaves the other in place: 1 + round(0.5) = 2
    half = assignment_overlay(scenario, [Person("Cy", "sales", 20)], {}, {}, [], 40.0)
    assert compile_model(with_overlay(scenario, half)).capacity.tolist() == [2]
    quarter = assignment_overlay(scenario, [Person("Cy", "sales", 10)], {}, {}, [], 40.0)
    assert compile_model(with_overlay(scenario, quarter)).capacity.tolist() == [2]  # at least 1
    assert {d.id for d in with_overlay(scenario, overlay).deals()} == {"D-1"}


def test_rules_on_type_still_hit_a_retyped_deal() -> None:
    rule = {"id": "big", "when": "type == 'std' and stage == 'close'", "then": {"value_factor": 2}}
    scenario = load_dict(small([rule]))
    people = [Person("Ann", "sales", 40.0), Person("Bo", "sales", 40.0)]
    fit = {("Ann", "D-2"): Fit("Ann", "D-2", 0.8, 0.0)}
    overlay = assignment_overlay(scenario, people, fit, {"D-2": [people[0]]}, [], 40.0)
    assert overlay["pipeline"]["D-2"] == {"type": "std@D-2"}
    forecast = simulate(with_overlay(scenario, overlay), 40, 2, progress=False, precision=None)
    won = forecast.deals[(forecast.deals["deal"] == "D-2") & (forecast.deals["outcome"] == "won")]
    assert len(won) > 0 and np.allclose(won["revenue"], 4e5)  # 2e5 x the rule's 2


def test_scaled_keeps_probabilities() -> None:
    spec = {"discrete": {"values": [10, 20], "p": [0.3, 0.7]}}
    assert scaled(spec, 2.0) == {"discrete": {"values": [20.0, 40.0], "p": [0.3, 0.7]}}
    assert scaled({"lognormal": {"p50": 10, "p90": 30}}, 0.5) == {
        "lognormal": {"p50": 5.0, "p90": 15.0}
    }


@pytest.mark.parametrize(
    ("option", "value", "flag"),
    [
        ("budget", 1.0, "--budget"),
        ("revenue_floors", {"2027Q1": 1e9}, "--revenue-floor"),
        ("utilization", 0.5, "--utilization"),
        ("slip_months", 0, "--slip-months"),
    ],
)
def test_an_option_the_assignment_would_ignore_is_refused(
    option: str, value: Any, flag: str
) -> None:
    scenario = load_dict(small())
    people = [Person("Ann", "sales", 40.0)]
    with pytest.raises(OptimizationError, match=f"{flag} applies only to --mode capacity"):
        optimize(scenario, "assignment", people=people, check=False, **{option: value})


def test_assignment_options_are_refused_in_capacity_mode() -> None:
    scenario = load_dict(small())
    with pytest.raises(OptimizationError, match="--fit applies only to --mode assignment"):
        optimize(scenario, fit={}, check=False)


def test_cli_refuses_ignored_options_with_exit_2(tmp_path: Path) -> None:
    from simsales.optimize.plan import write_overlay

    path = write_overlay(small(), tmp_path / "s.yaml")
    people = tmp_path / "people.csv"
    people.write_text("person,role,hours_per_week\nAnn,sales,40\n", encoding="utf-8")
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(
        app,
        [
            "optimize",
            str(path),
            "--mode",
            "assignment",
            "--people",
            str(people),
            "--budget",
            "1",
            "--revenue-floor",
            "2027Q1=1e9",
        ],
    )
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())
    assert "--budget, --revenue-floor only apply to --mode capacity" in text
