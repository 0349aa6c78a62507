"""``simsales optimize``: the JSON contract, exit codes 0 / 2 / 3, the plan overlay file."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from simsales import load
from simsales.commands.optimize import register
from simsales.commands.schema import output_json_schema
from simsales.errors import SimsalesError
from simsales.optimize.demand import demand_from_forecast, forecast_demand
from simsales.scenario.load import with_overlay
from simsales.scenario.yaml_source import read_yaml

N = 30
SEED = 5

MINIMAL = """\
name: Tight legal team
start: 2027-01-04
horizon: 2027-04-30
resources:
  sales: {capacity: 2, cost_per_day: 1000, max: 1, hire_lead_months: 0}
stages:
  - {id: qualify, duration: {triangular: [3, 5, 10]}, needs: {sales: 1}, advance: 0.6}
  - {id: propose, duration: {pert: [5, 10, 20]}, needs: {sales: 1}, advance: 0.7}
  - {id: close, duration: {uniform: [5, 15]}, needs: {sales: 1}, advance: 0.9}
deal_types:
  standard: {value: {triangular: [2.0e5, 5.0e5, 1.2e6]}, margin: 0.5}
pipeline:
  - {id: D-1, type: standard, stage: qualify}
  - {id: D-2, type: standard, stage: propose, days_in_stage: 4, value: 8.0e5}
  - {id: D-3, type: standard, stage: close, days_in_stage: 2, value: 3.0e5}
  - {id: D-4, type: standard, stage: qualify, value: 1.0e5}
"""


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")  # a second command keeps "optimize" a sub-command, as in the CLI
    def noop() -> None: ...

    return app


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "tight.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    return path


def run(app: typer.Typer, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, ["optimize", *args])
    return result.exit_code, result.stdout, result.exception


def test_infeasible_exits_3_and_names_the_short_role_and_month(
    app: typer.Typer, scenario_file: Path
) -> None:
    code, out, _ = run(
        app,
        str(scenario_file),
        "-n",
        str(N),
        "--seed",
        str(SEED),
        "--require-all",
        "--slip-months",
        "0",
        "--utilization",
        "1",
        "--json",
        "--out",
        str(scenario_file.parent / "plan.yaml"),
    )
    assert code == 3
    assert not (scenario_file.parent / "plan.yaml").exists()  # no plan, no file
    doc = json.loads(out)
    jsonschema.validate(doc, output_json_schema("optimize"))  # no plan is a valid document too
    assert doc["status"] == "infeasible"
    assert doc["objective"] is None and doc["verification"] is None
    # Truth: with every deal pursued and no slip, month m lacks max(0, demand - days) / days
    # people beyond the one allowed, i.e. the next whole number of people.
    demand = demand_from_forecast(forecast_demand(load(scenario_file), N, SEED))
    work = demand.effort.sum(axis=0)[0] + demand.background[0]
    short = np.maximum(0.0, work - demand.grid.days) / demand.grid.days
    expected = {
        m: math.ceil(s - 1e-6) for m, s in zip(demand.grid.labels, short, strict=True) if s > 1e-3
    }
    assert expected, "the instance must be short somewhere"
    *lines, confirmation = doc["diagnosis"]
    assert confirmation.startswith("applying all of the above together makes the plan feasible")
    found = {}
    for line in lines:
        match = re.fullmatch(r"sales in (\d{4}-\d\d) short by (\d+) (person|people)", line)
        assert match, line
        found[match.group(1)] = int(match.group(2))
    assert found == expected


def test_json_contract_and_plan_file(app: typer.Typer, scenario_file: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "plans" / "plan.yaml"
    code, out, exc = run(
        app,
        str(scenario_file),
        "-n",
        str(N),
        "--seed",
        str(SEED),
        "--solver",
        "highs",
        "--out",
        str(out_file),
        "--json",
    )
    assert code == 0, exc
    doc = json.loads(out)
    jsonschema.validate(doc, output_json_schema("optimize"))  # the contract, in full
    assert set(doc) == {
        "schema_version",
        "status",
        "objective",
        "gap",
        "best",
        "plan",
        "diagnosis",
        "verification",
        "robust",
        "glossary",
    }
    assert doc["best"] in ("plan", "current")
    assert doc["status"] == "optimal" and doc["gap"] is not None and doc["gap"] <= 1e-6
    assert isinstance(doc["objective"], float)
    assert doc["plan"]["mode"] == "capacity" and doc["plan"]["solver"] == "highs"
    row = doc["verification"]["deltas"][0]
    assert {"metric", "base", "variant", "difference", "ci_low", "ci_high", "significant"} <= set(
        row
    )
    # the overlay file is the plan's overlay and applies to the scenario
    overlay, _ = read_yaml(out_file)
    assert overlay == json.loads(json.dumps(doc["plan"]["overlay"]))
    with_overlay(load(scenario_file), overlay)
    assert not list(out_file.parent.glob(".plan.yaml.*"))  # no temporary left behind


def test_human_output(app: typer.Typer, scenario_file: Path) -> None:
    code, out, exc = run(app, str(scenario_file), "-n", "20", "--no-verify")
    assert code == 0, exc
    assert "capacity plan: optimal" in out
    assert "Headcount per month" in out and "D-4" in out


def test_human_output_of_an_assignment(app: typer.Typer, scenario_file: Path) -> None:
    people = scenario_file.parent / "people.csv"
    people.write_text("person,role,hours_per_week\nAnn,sales,40\nBo,sales,20\n", encoding="utf-8")
    code, out, exc = run(
        app, str(scenario_file), "--mode", "assignment", "--people", str(people), "-n", "10"
    )
    assert code == 0, exc
    assert "assignment plan: optimal" in out
    assert "Assignments" in out and "Verification: plan vs base" in out
    assert "no stage started above its pool's capacity" in out


def test_bad_input(app: typer.Typer, scenario_file: Path, tmp_path: Path) -> None:
    code, _, _ = run(app, str(scenario_file), "--solver", "gurobi")
    assert code == 2
    code, _, _ = run(app, str(scenario_file), "--mode", "assignment")
    assert code == 2
    code, _, _ = run(app, str(scenario_file), "--people", "x.csv")
    assert code == 2
    people = tmp_path / "people.csv"
    people.write_text("person,role,hours_per_week\nAnn,legal,40\n", encoding="utf-8")
    code, _, exc = run(app, str(scenario_file), "--mode", "assignment", "--people", str(people))
    # cli.main turns a SimsalesError into exit 2 with its message
    assert isinstance(exc, SimsalesError)
    assert f"{people}:2: unknown role 'legal'" in str(exc)
    code, _, exc = run(app, str(scenario_file), "--revenue-floor", "2027Q1")
    assert isinstance(exc, SimsalesError) and "expected PERIOD=AMOUNT" in str(exc)
    code, _, exc = run(app, str(scenario_file), "--revenue-floor", "2027Q9=5", "-n", "5")
    assert isinstance(exc, SimsalesError) and "revenue floor" in str(exc)
