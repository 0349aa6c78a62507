"""``simsales schema --output``: the JSON Schema of each --json document, and real documents
validated against it (backtest and optimize: in their own CLI tests, which validate theirs);
altered documents must fail, so the schemas are exact."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from simsales.commands.schema import OUTPUTS, output_json_schema
from simsales.results.tables import SCHEMA_VERSION

Cli = Callable[..., tuple[int, str, str]]  # the simsales_cli fixture of conftest.py

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scenarios" / "enterprise-it.yaml"


def _strict(text: str) -> dict[str, Any]:
    """The document, refusing NaN and Infinity (not JSON; a schema would take them as numbers)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in a --json document")

    document: dict[str, Any] = json.loads(text, parse_constant=refuse)
    return document


def _assert_exact(
    name: str, doc: dict[str, Any], changes: list[Callable[[dict[str, Any]], object]]
) -> None:
    """``doc`` follows the schema and each change of a copy of it breaks it."""
    _checker(name).validate(doc)
    for change in changes:
        changed = copy.deepcopy(doc)
        change(changed)
        assert not _checker(name).is_valid(changed), change


@pytest.fixture()
def small(tmp_path: Path) -> Path:
    """The minimal scenario with a Q1 target, a risk and a variant (a few quick runs)."""
    data = yaml.safe_load((ROOT / "scenarios" / "minimal.yaml").read_text(encoding="utf-8"))
    data["targets"] = {"revenue": {"2027Q1": 1.5e6}}
    data["risks"] = [
        {"id": "freeze", "scope": "global", "p": 0.3, "impact": {"delay": {"fixed": 20}}}
    ]
    data["variants"] = {"more_sales": {"resources": {"sales": {"capacity": 3}}}}
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _checker(name: str) -> jsonschema.Draft202012Validator:
    """A validator that also checks formats (ISO dates)."""
    return jsonschema.Draft202012Validator(
        output_json_schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.mark.parametrize("name", OUTPUTS)
def test_each_output_schema_is_printed_and_is_a_json_schema(simsales_cli: Cli, name: str) -> None:
    code, out, err = simsales_cli("schema", "--output", name)
    assert code == 0, err
    printed = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed == output_json_schema(name)
    assert printed["properties"]["schema_version"] == {"const": SCHEMA_VERSION}


def test_an_unknown_output_is_refused(simsales_cli: Cli) -> None:
    code, out, err = simsales_cli("schema", "--output", "runn")
    assert code == 2 and out == ""
    assert "'runn' is not one of run, compare," in err


def test_without_output_it_is_still_the_scenario_schema(simsales_cli: Cli) -> None:
    code, out, _ = simsales_cli("schema")
    assert code == 0 and "pipeline" in json.loads(out)["properties"]


@pytest.fixture(scope="module")
def run_doc() -> dict:  # type: ignore[type-arg]
    from simsales import simulate
    from simsales.results.rollups import portfolio_views
    from simsales.results.summary import summarize

    forecast = simulate(DEFAULT, 20, seed=3, progress=False)
    doc = summarize(forecast).to_json()
    doc["portfolio"].update(portfolio_views(forecast))  # as run --json does
    return doc


def test_run_json_follows_its_schema(simsales_cli: Cli) -> None:
    code, out, err = simsales_cli("run", str(DEFAULT), "-n", "20", "--json")
    assert code == 0, err
    doc = _strict(out)
    _checker("run").validate(doc)
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["portfolio"]["targets"] and doc["deals"]  # the lists are checked with items
    assert sum(doc["engine_paths"].values()) == doc["replications"]
    portfolio = doc["portfolio"]
    # a forecast call per target period
    assert {c["period"] for c in portfolio["categories"]} == {
        t["period"] for t in portfolio["targets"]
    }
    assert any(d["rep_category"] for c in portfolio["categories"] for d in c["deals"])
    assert any(g["quotas"] for g in portfolio["by"]["owner"])  # quotas are checked with items


def test_compare_json_follows_its_schema(simsales_cli: Cli) -> None:
    code, out, err = simsales_cli("compare", str(DEFAULT), "-n", "20", "--json", "--no-risks")
    assert code == 0, err
    doc = _strict(out)
    _checker("compare").validate(doc)
    assert len(doc["variants"]) > 1 and all(v["deltas"] for v in doc["variants"])
    dates = [d for v in doc["variants"] for d in v["deltas"] if isinstance(d["base"], str)]
    assert dates  # date metrics (ISO dates) are checked too


def test_compare_explain_json_follows_its_schema(simsales_cli: Cli, small: Path) -> None:
    code, out, err = simsales_cli(
        "compare", str(small), "-n", "20", "--json", "--no-risks", "--explain", "2027Q1"
    )
    assert code == 0, err
    doc = _strict(out)
    assert [v["name"] for v in doc["variants"]] == ["more_sales"]
    assert doc["variants"][0]["explanation"]["contributions"]
    _assert_exact(
        "compare",
        doc,
        [
            lambda d: d["variants"][0]["explanation"].update(extra=1),
            lambda d: d["variants"][0]["explanation"]["contributions"][0].update(kind="people"),
            lambda d: d["variants"][0]["explanation"].pop("total_gap"),
            lambda d: d["base"]["engine_paths"].pop("simpy"),
            lambda d: d["base"]["portfolio"].update(by={}),  # roll-ups are run --json's only
        ],
    )


def test_explain_json_follows_its_schema(simsales_cli: Cli, small: Path) -> None:
    code, out, err = simsales_cli("explain", str(small), "--period", "2027Q1", "-n", "20", "--json")
    assert code == 0, err
    doc = _strict(out)
    assert doc["schema_version"] == SCHEMA_VERSION
    kinds = {c["kind"] for c in doc["contributions"]}
    assert {"pool", "risk", "interaction", "coverage", "deal", "stage"} == kinds
    _assert_exact(
        "explain",
        doc,
        [
            lambda d: d.pop("schema_version"),
            lambda d: d.update(extra=1),
            lambda d: d.pop("expected_shortfall"),
            lambda d: d["contributions"][0].update(label="sales queue"),
            lambda d: d["contributions"][0].update(value="a lot"),
            lambda d: d["findings"].append(3),
        ],
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.pop("schema_version"),
        lambda d: d.update(schema_version=SCHEMA_VERSION + 1),
        lambda d: d.update(extra=1),  # a key the contract does not know
        lambda d: d["deals"][0].pop("win_probability"),
        lambda d: d["deals"][0]["close_date"].update(p50="31 March"),
        lambda d: d["portfolio"]["revenue"].update(mean="a lot"),
        lambda d: d.pop("engine_paths"),
        lambda d: d["engine_paths"].update(gpu=0),
        lambda d: d["portfolio"]["categories"][0]["deals"][0].update(category="maybe"),
        lambda d: d["portfolio"]["categories"][0]["thresholds"].update(commit=1.5),
        lambda d: d["portfolio"]["by"].pop("team"),
        lambda d: d["portfolio"]["by"]["owner"][0]["wins"].pop("low"),
    ],
)
def test_the_schema_catches_a_changed_document(run_doc: dict, change: Callable) -> None:  # type: ignore[type-arg]
    assert _checker("run").is_valid(run_doc)
    changed = copy.deepcopy(run_doc)
    change(changed)
    assert not _checker("run").is_valid(changed)
