"""Overlays (variants, --set, Python overlays, optimizer plans) must name objects that exist;
adding one takes its whole definition and, for pools and deal types, a use."""

from __future__ import annotations

from pathlib import Path

import pytest

import simsales
from simsales.errors import ScenarioError
from simsales.scenario.load import apply_overrides, with_overlay

MINIMAL = Path(__file__).resolve().parents[2] / "scenarios" / "minimal.yaml"


@pytest.fixture(scope="module")
def base() -> simsales.Scenario:
    return simsales.load(MINIMAL)


def _message(base: simsales.Scenario, overlay: dict) -> str:  # type: ignore[type-arg]
    with pytest.raises(ScenarioError) as info:
        with_overlay(base, overlay, name="plan")
    return str(info.value)


def test_a_plan_for_a_pool_that_is_not_there(base: simsales.Scenario) -> None:
    plan = {"resources": {"sale": {"capacity_changes": [{"from": "2027-03-01", "capacity": 4}]}}}
    text = _message(base, plan)
    assert text.startswith("plan: resources.sale: no pool 'sale' to change")
    assert "did you mean 'sales'?" in text and "whole definition: capacity" in text


def test_items_of_id_lists_by_mapping_and_by_list(base: simsales.Scenario) -> None:
    text = _message(base, {"stages": {"clos": {"advance": 1}}})
    assert "no stage 'clos' to change" in text and "did you mean 'close'?" in text
    text = _message(base, {"stages": [{"id": "clos", "advance": 1}]})
    assert "no stage 'clos' to change" in text and "did you mean 'close'?" in text
    text = _message(base, {"pipeline": [{"id": "D-4", "value": 5}]})
    assert "no deal 'D-4' to change" in text and "type, stage" in text


def test_new_objects_must_be_used(base: simsales.Scenario) -> None:
    text = _message(base, {"deal_types": {"standrd": {"margin": 0.5}}})
    assert "new deal type 'standrd' is used by no deal and no arrival" in text
    assert "did you mean 'standard'?" in text
    whole = {
        "resources": {"counsel": {"capacity": 1}},
        "stages": {"close": {"needs": {"counsel": 1}}},
        "pipeline": [{"id": "D-4", "type": "standard", "stage": "close", "value": 5.0e5}],
    }
    changed = with_overlay(base, whole)
    assert "counsel" in changed.resources and changed.deals()[-1].id == "D-4"


def test_set_paths_may_not_run_through_an_unknown_id(base: simsales.Scenario) -> None:
    with pytest.raises(ScenarioError, match="no deal type 'standrd' to change"):
        apply_overrides(base, ["deal_types.standrd.margin=0.5"])
    with pytest.raises(ScenarioError, match="unknown key 'capcity'"):
        apply_overrides(base, ["resources.sales.capcity=3"])
    assert apply_overrides(base, ["resources.sales.capacity=3"]).resources["sales"].capacity == 3
    # a field the file leaves out is fine: it is a key of an existing object, not a new object
    assert apply_overrides(base, ["calendar.holidays=CN"]).calendar.holidays == "CN"
