"""The scenario language of competing exits, uncertainty and trends: what it accepts (also in
the JSON Schema) and the located errors it gives beyond the bad-file corpus."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from typer.testing import CliRunner

from simsales.cli import app
from simsales.errors import ScenarioError
from simsales.scenario.load import load_dict

FULL: dict[str, Any] = {
    "name": "every new key",
    "start": "2027-01-04",
    "horizon": "2027-12-31",
    "stages": [
        {
            "id": "discovery",
            "duration": {"pert": [3, 5, 10]},
            "exits": [
                {"to": "proposal", "p": 0.55, "after": {"empirical": [3, 5, 8, 13, 21]}},
                {"to": "won", "p": 0.05, "after": {"fixed": 0}},
                {"to": "lost", "p": 0.3, "after": {"lognormal": {"p50": 20, "p90": 60}}},
                {"to": "discovery", "p": 0.1},
            ],
            "stale": {"lost_after": 15},
        },
        {"id": "proposal", "duration": 5, "advance": 0.6, "rework": {"to": "discovery", "p": 0.1}},
    ],
    "deal_types": {
        "t": {
            "value": {"fixed": 100},
            "uncertainty": {"value": {"lognormal": {"mean": 1, "sd": 0.05}}},
            "stages": {
                "proposal": {"exits": [{"to": "won", "p": 0.5}, {"to": "lost", "p": 0.5}]},
                "discovery": {"stale": "lost"},
            },
        }
    },
    "arrivals": [{"type": "t", "per_month": 3, "trend": -0.02, "seasonality": {"Mar": 1.3}}],
    "uncertainty": {
        "arrivals": {"lognormal": {"mean": 1, "sd": 0.2}},
        "win_odds": {"lognormal": {"mean": 1, "sd": 0.3}},
        "duration": {"lognormal": {"mean": 1, "sd": 0.1}},
        "value": {"lognormal": {"mean": 1, "sd": 0.05}},
    },
}


def test_every_new_key_loads_and_fits_the_json_schema() -> None:
    scenario = load_dict(FULL)
    assert scenario.stages_of("t")[1].exits is not None  # the override's exits replace advance
    assert scenario.stages_of("t")[1].rework is None
    result = CliRunner().invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(FULL))
    assert not errors, [e.message for e in errors]


def _problems(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        load_dict(data)
    return str(info.value)


def test_an_override_giving_both_forms_is_an_error() -> None:
    data = copy.deepcopy(FULL)
    data["deal_types"]["t"]["stages"]["proposal"]["advance"] = 0.5
    assert "deal_types.t.stages.proposal: the override gives both exits and advance" in _problems(
        data
    )


def test_an_outcome_name_used_as_a_stage_id_is_ambiguous() -> None:
    data = copy.deepcopy(FULL)
    data["stages"][1]["id"] = "won"
    data["stages"][0]["exits"][0]["to"] = "won"
    data["deal_types"]["t"]["stages"] = {}
    assert "'won' names both a stage and the outcome of a deal" in _problems(data)


def test_a_loop_made_by_a_skip_is_found_for_its_deal_type() -> None:
    """b sends every deal back to a; a type that skips a lands on b again: no way out."""
    data = {
        "name": "loop",
        "start": "2027-01-04",
        "horizon": "2027-12-31",
        "stages": [
            {"id": "a", "duration": 1, "advance": 0.5},
            {"id": "b", "duration": 1, "exits": [{"to": "a", "p": 1.0}]},
            {"id": "c", "duration": 1},
        ],
        "deal_types": {"t": {"value": 1}},
    }
    ok = copy.deepcopy(data)
    load_dict(ok)  # from b, a's lost exit is reachable
    data["deal_types"]["t"]["skip"] = ["a"]
    text = _problems(data)
    assert "deal_types.t.skip: a loop no deal can leave for deal type 't': a deal in 'b'" in text


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("arrivals", 0, "trend"), -1.0, "arrivals[0].trend"),
        (("stages", 0, "stale"), "never", "stages[0].stale"),
        (("uncertainty", "win_odds"), {"lognormall": {"mean": 1}}, "uncertainty.win_odds"),
        (("stages", 0, "exits"), [], "stages[0].exits: exits must list at least one way out"),
    ],
)
def test_bad_values_are_located(path: tuple[Any, ...], value: Any, where: str) -> None:
    data = copy.deepcopy(FULL)
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert f"<dict>: {where}" in _problems(data)
