"""``optimize`` end to end on the bundled scenario: assignment mode, given forecasts, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simsales import load, simulate, with_overlay
from simsales.api import optimize
from simsales.errors import OptimizationError
from simsales.optimize import (
    Person,
    demand_from_forecast,
    forecast_demand,
    read_people,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="module")
def scenario():  # type: ignore[no-untyped-def]
    return load(SCENARIOS / "enterprise-it.yaml")


def test_named_assignment_of_the_default_scenario(scenario) -> None:  # type: ignore[no-untyped-def]
    plan = optimize(
        scenario,
        "assignment",
        people=SCENARIOS / "people.csv",
        fit=SCENARIOS / "fit.csv",
        replications=30,
        seed=4,
    )
    assert plan.status == "optimal"
    people = {p.name: p for p in read_people(SCENARIOS / "people.csv", scenario.resources)}
    staffed = {d["id"] for d in plan.deals if d["staffed"]}
    assert staffed and staffed != {d.id for d in scenario.deals()}  # hours bind somewhere
    for deal in plan.deals:
        owners = [a for a in plan.assignments if a["deal"] == deal["id"]]
        if deal["id"] in staffed:  # exactly one owner per needed role, of that role
            assert sorted(a["role"] for a in owners) == sorted(deal["roles"])
            assert all(people[a["person"]].role == a["role"] for a in owners)
        else:
            assert owners == []
    # the overlay drops exactly the unstaffed deals (staffed ones may get a per-deal type)
    dropped = {k for k, v in plan.overlay["pipeline"].items() if v is None}
    assert dropped == {d["id"] for d in plan.deals if not d["staffed"]}
    kept = {d.id for d in with_overlay(scenario, plan.overlay).deals()}
    assert kept == staffed
    v = plan.verification
    assert v is not None and v.over_capacity == {p: 0 for p in scenario.resources}


def test_plan_from_a_given_forecast(scenario) -> None:  # type: ignore[no-untyped-def]
    forecast = simulate(scenario, 20, 9, progress=False, precision=None)
    plan = optimize(scenario, forecast=forecast, mitigations=False, check=False, solver="highs")
    assert plan.status == "optimal"
    assert plan.assumptions["demand"] == "given forecast"
    assert plan.assumptions["replications"] == 20 and plan.assumptions["seed"] == 9
    assert plan.mitigations == []


def test_revenue_floor_out_of_reach(scenario) -> None:  # type: ignore[no-untyped-def]
    floor = 1e9
    plan = optimize(
        scenario,
        revenue_floors={"2027Q1": floor},
        replications=20,
        seed=2,
        mitigations=False,
        check=False,
    )
    assert plan.status == "infeasible"
    demand = demand_from_forecast(forecast_demand(scenario, 20, 2), ("2027Q1",))
    reachable = demand.revenue_in["2027Q1"].sum() + demand.background_revenue_in["2027Q1"]
    lines = [x for x in plan.diagnosis if x.startswith("expected revenue in 2027Q1 short by")]
    assert len(lines) == 1
    amount = float(re.search(r"short by ([\d,]+)", lines[0]).group(1).replace(",", ""))
    assert amount >= floor - reachable - 1.0  # even every deal cannot reach it
    assert amount <= floor


def test_bad_requests(scenario) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OptimizationError, match="unknown mode 'staffing'"):
        optimize(scenario, "staffing")  # type: ignore[arg-type]
    with pytest.raises(OptimizationError, match="budget must be a nonnegative amount"):
        optimize(scenario, budget=-1.0)
    with pytest.raises(OptimizationError, match=r"utilization must be in \(0, 1\]"):
        optimize(scenario, utilization=1.5)
    with pytest.raises(OptimizationError, match="assignment mode needs people"):
        optimize(scenario, "assignment", replications=5, check=False)
    with pytest.raises(OptimizationError, match="unknown solver 'gurobi'"):
        optimize(scenario, solver="gurobi")
    with pytest.raises(OptimizationError, match=r"roles \['lawyers'\] are not pools"):
        optimize(scenario, "assignment", people=[Person("Ann", "lawyers", 40.0)])
    with pytest.raises(OptimizationError, match="revenue floor: invalid period label"):
        optimize(scenario, revenue_floors={"2027Q7": 1.0}, replications=5, check=False)
