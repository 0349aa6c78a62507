"""The example scenarios users copy: each loads, each variant applies, each fits the JSON Schema."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from typer.testing import CliRunner

from simsales.cli import app
from simsales.scenario.load import load, with_overlay
from simsales.scenario.yaml_source import read_yaml

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
EXAMPLES = sorted(SCENARIOS.glob("*.yaml"))
VARIANTS = [(path, name) for path in EXAMPLES for name in load(path).variants]


def _iso(data: Any) -> Any:
    """YAML gives dates; JSON (and so the JSON Schema) writes them as ISO strings."""
    if isinstance(data, dict):
        return {k: _iso(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_iso(v) for v in data]
    if isinstance(data, dt.date):
        return data.isoformat()
    return data


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(out)
    return out


def test_the_bundled_examples_exist() -> None:
    names = {p.name for p in EXAMPLES}
    assert {
        "enterprise-it.yaml",
        "zh-system-integration.yaml",
        "minimal.yaml",
        "benchmark-200.yaml",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_loads(path: Path) -> None:
    scenario = load(path)
    assert scenario.stages and scenario.deal_types


@pytest.mark.parametrize(("path", "variant"), VARIANTS, ids=lambda v: getattr(v, "name", v))
def test_example_variant_applies(path: Path, variant: str) -> None:
    base = load(path)
    changed = with_overlay(base, variant)
    assert changed != base, f"variant {variant} changes nothing"
    assert load(path, variant=variant) == changed


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_fits_json_schema(path: Path, schema: dict[str, Any]) -> None:
    data, _ = read_yaml(path)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_iso(data))]
    assert not errors


def test_default_example_uses_every_concept() -> None:
    s = load(SCENARIOS / "enterprise-it.yaml")
    assert not s.calendar.continuous and s.calendar.extra_holidays and s.calendar.extra_workdays
    assert s.simulation.precision is not None
    assert any(p.external and p.capacity_changes for p in s.resources.values())
    assert s.queue_discipline.priority == "expected_value"
    assert any(st.rework for st in s.stages) and all(st.exit_criteria for st in s.stages)
    assert any(st.exits and st.stale != "lost" for st in s.stages)
    assert any(dt_.skip for dt_ in s.deal_types.values())
    assert any(dt_.stages for dt_ in s.deal_types.values())
    deals = s.deals()
    assert len(deals) >= 15 and any(d.target_close for d in deals)
    assert any(a.seasonality for a in s.arrivals) and any(a.window for a in s.arrivals)
    assert {r.scope for r in s.risks} == {"deal", "global", "resource"}
    assert any(r.applies_to and r.applies_to.when for r in s.risks)
    assert any(r.mitigation for r in s.risks)
    effects = {k for r in s.rules for k, v in r.then if v not in (None, ())}
    assert {"win_factor", "delay", "skip", "priority"} <= effects
    assert {"2027Q1", "2027Q4", "2027H1", "2027H2", "2027"} <= set(s.targets.revenue)
    assert len(s.variants) >= 3


def test_benchmark_matches_the_floor() -> None:
    s = load(SCENARIOS / "benchmark-200.yaml")
    deals = s.deals()
    assert [d.id for d in deals] == [f"B-{i:03d}" for i in range(1, 201)]
    assert {(d.stage, d.days_in_stage) for d in deals} == {("s1_sales", 0.0)}
    capacities = {k: p.capacity for k, p in s.resources.items()}
    assert capacities == {"sales": 8, "presales": 4, "legal": 2}
    assert s.calendar.continuous and not s.risks and not s.rules and not s.arrivals
    assert (s.simulation.replications, s.simulation.seed) == (200, 1)


def test_validate_all_examples_with_the_app() -> None:
    result = CliRunner().invoke(app, ["validate", *map(str, EXAMPLES)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(EXAMPLES)
    assert all(line.startswith("OK ") for line in lines)
    assert "(6 stages, 15 live deals, 4 variants)" in result.stdout


def _console_script() -> str:
    here = Path(sys.executable).parent / "simsales"
    found = str(here) if here.exists() else shutil.which("simsales")
    if found is None:
        pytest.skip("the simsales console script is not installed")
    return found


def test_validate_with_the_console_script() -> None:
    done = subprocess.run(
        [_console_script(), "validate", *map(str, EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("OK ") == len(EXAMPLES)
    assert done.stderr == ""


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("simsales ")
