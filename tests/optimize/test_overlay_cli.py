"""A plan applied from the CLI: run / compare / report with --overlay, compare --variant FILE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simsales.cli import app
from simsales.errors import ScenarioError
from simsales.scenario.yaml_source import read_yaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scenarios" / "enterprise-it.yaml"


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plan") / "plan.yaml"
    args = ["optimize", str(DEFAULT), "-n", "30", "--seed", "3", "--no-verify", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_run_with_the_plan_overlay_json(plan_file: Path) -> None:
    args = ["run", str(DEFAULT), "--overlay", str(plan_file), "--json", "-n", "40"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    overlay, _ = read_yaml(plan_file)
    dropped = {d for d, v in (overlay.get("pipeline") or {}).items() if v is None}
    assert {d["id"] for d in doc["deals"]}.isdisjoint(dropped)  # the plan's drops applied
    assert len(doc["deals"]) == 15 - len(dropped)


def test_compare_a_plan_file_as_a_variant(plan_file: Path) -> None:
    args = ["compare", str(DEFAULT), "--variant", str(plan_file), "--json", "-n", "30"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert "plan.yaml" in json.dumps(doc)


def test_report_and_several_overlays(plan_file: Path, tmp_path: Path) -> None:
    second = tmp_path / "legal.yaml"
    second.write_text("resources: {legal: {capacity: 4}}\n", encoding="utf-8")
    out = tmp_path / "r.html"
    args = ["report", str(DEFAULT), "--overlay", str(plan_file), "--overlay", str(second)]
    result = CliRunner().invoke(app, [*args, "-n", "20", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_a_bad_overlay_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline: {D-9999: null}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(DEFAULT), "--overlay", str(bad), "-n", "5"])
    assert isinstance(result.exception, ScenarioError)  # cli.main: exit 2, no traceback
    message = str(result.exception)
    assert str(bad) in message and "D-9999" in message and "D-1001" in message
