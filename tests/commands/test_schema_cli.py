"""``simsales schema --output``: the JSON Schema of each --json document, and real documents
validated against it (backtest and optimize: in their own CLI tests, which validate theirs)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from simsales.commands.schema import OUTPUTS, output_json_schema
from simsales.results.tables import SCHEMA_VERSION

Cli = Callable[..., tuple[int, str, str]]  # the simsales_cli fixture of conftest.py

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scenarios" / "enterprise-it.yaml"


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
    from simsales.results.summary import summarize

    return summarize(simulate(DEFAULT, 20, seed=3, progress=False)).to_json()


def test_run_json_follows_its_schema(simsales_cli: Cli) -> None:
    code, out, err = simsales_cli("run", str(DEFAULT), "-n", "20", "--json")
    assert code == 0, err
    doc = json.loads(out)
    _checker("run").validate(doc)
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["portfolio"]["targets"] and doc["deals"]  # the lists are checked with items


def test_compare_json_follows_its_schema(simsales_cli: Cli) -> None:
    code, out, err = simsales_cli("compare", str(DEFAULT), "-n", "20", "--json", "--no-risks")
    assert code == 0, err
    doc = json.loads(out)
    _checker("compare").validate(doc)
    assert len(doc["variants"]) > 1 and all(v["deltas"] for v in doc["variants"])
    dates = [d for v in doc["variants"] for d in v["deltas"] if isinstance(d["base"], str)]
    assert dates  # date metrics (ISO dates) are checked too


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.pop("schema_version"),
        lambda d: d.update(schema_version=SCHEMA_VERSION + 1),
        lambda d: d.update(extra=1),  # a key the contract does not know
        lambda d: d["deals"][0].pop("win_probability"),
        lambda d: d["deals"][0]["close_date"].update(p50="31 March"),
        lambda d: d["portfolio"]["revenue"].update(mean="a lot"),
    ],
)
def test_the_schema_catches_a_changed_document(run_doc: dict, change: Callable) -> None:  # type: ignore[type-arg]
    assert _checker("run").is_valid(run_doc)
    changed = copy.deepcopy(run_doc)
    change(changed)
    assert not _checker("run").is_valid(changed)
