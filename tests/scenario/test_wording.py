"""Errors in the user's words: YAML syntax and type mistakes say what to write, and where.

Each case goes through the real command line (``simsales validate``): exit 2, no traceback, one
line per problem that starts with ``file:line:column:`` and names the key path. The expected
line is the one the user has to change, which is not always where the parser gave up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

MINIMAL = """\
name: Minimal
start: 2027-01-04
horizon: 2027-06-30
resources:
  sales: {capacity: 2}
stages:
  - {id: qualify, duration: {fixed: 3}, needs: {sales: 1}, advance: 0.6}
  - {id: close, duration: {fixed: 5}, needs: {sales: 1}, advance: 0.9}
deal_types:
  standard: {value: {fixed: 1.0e5}}
pipeline:
  - {id: D-1, type: standard, stage: qualify}
"""

# name -> (scenario text, line:column the message points at, key path, fragments of the message)
YAML_CASES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "indented_more_than_the_line_above": (
        MINIMAL.replace("horizon:", "  horizon:"),
        "3:3",
        "start",
        ("this line is indented more than the one above (line 2)", "under 'start'"),
    ),
    "key_at_the_column_of_a_dash": (
        MINIMAL.replace(
            "  - {id: close, duration: {fixed: 5}, needs: {sales: 1}, advance: 0.9}",
            "  - id: close\n    duration: {fixed: 5}\n  needs: {sales: 1}",
        ),
        "10:3",
        "stages",
        ("at the column of the '- ' on line 8", "indent it 4 spaces"),
    ),
    "key_between_two_levels": (
        MINIMAL.replace("  sales: {capacity: 2}", "  sales:\n     capacity: 2\n    cost: 1"),
        "7:5",
        "resources",
        ("indented 4 spaces, which lines up with no line above it", "column 6"),
    ),
    "unclosed_bracket": (
        MINIMAL.replace("needs: {sales: 1}, advance: 0.6}", "needs: {sales: 1, advance: 0.6}"),
        "7:5",
        "stages",
        ("the mapping opened with '{' here is not closed", "end it with '}'"),
    ),
    "unclosed_quote": (
        MINIMAL.replace("name: Minimal", 'name: "Minimal'),
        "1:7",
        "name",
        ("this quote is never closed",),
    ),
    "value_holding_colon_space": (
        MINIMAL.replace("name: Minimal", "name: Plan: 2027"),
        "1:11",
        "name",
        ("a value holds ': '", 'name: "Plan: 2027"'),
    ),
    "value_starting_with_at": (
        MINIMAL.replace("name: Minimal", "name: @team"),
        "1:7",
        "name",
        ("cannot start with '@' unquoted", 'quote it: "@team"'),
    ),
    "key_without_colon": (
        MINIMAL.replace("horizon: 2027-06-30", "horizon"),
        "3:1",
        "horizon",
        ("'horizon' has no ':' after it",),
    ),
}

# name -> (replace this, with this, line:column, key path, fragment)
TYPE_CASES: dict[str, tuple[str, str, str, str, str]] = {
    "a_list_written_as_one_name": (
        "  standard: {value: {fixed: 1.0e5}}",
        "  standard: {value: {fixed: 1.0e5}, skip: close}",
        "10:43",
        "deal_types.standard.skip",
        "write a list: [close]",
    ),
    "a_percentage_for_a_probability": (
        "advance: 0.6}",
        "advance: 60}",
        "7:69",
        "stages[0].advance",
        "probabilities are 0–1: write 0.6 for 60%",
    ),
    "a_quoted_month_13": (
        "start: 2027-01-04",
        'start: "2027-13-04"',
        "2:8",
        "start",
        "2027-13-04 is not a valid date: month must be in 1..12",
    ),
    "an_unquoted_month_13": (
        "start: 2027-01-04",
        "start: 2027-13-04",
        "2:8",
        "start",
        "2027-13-04 is not a valid date: month must be in 1..12",
    ),
    "a_fraction_of_a_person": (
        "capacity: 2",
        "capacity: 2.5",
        "5:21",
        "resources.sales.capacity",
        "write a whole number (got 2.5)",
    ),
    "an_empty_value": (
        "capacity: 2",
        "capacity: ",
        "5:20",
        "resources.sales.capacity",
        "needs a value here",
    ),
    "a_choice_misspelt": (
        "name: Minimal",
        "name: Minimal\nlocale: zh-cn",
        "2:9",
        "locale",
        "must be 'en' or 'zh-CN' (got 'zh-cn') (did you mean 'zh-CN'?)",
    ),
}


def _assert_located(result: Any, path: Path, at: str, key: str, fragments: tuple[str, ...]) -> None:
    assert result.code == 2, result.err
    assert "Traceback" not in result.err and result.out == ""
    first = result.err.splitlines()[0]
    assert first.startswith(f"{path}:{at}: {key}: "), result.err
    for fragment in fragments:
        assert fragment in first, result.err
    for jargon in ("Input should", "<block end>", "expected ',' or", "tuple", "scalar"):
        assert jargon not in result.err


@pytest.mark.parametrize("name", YAML_CASES)
def test_yaml_syntax_error_in_plain_words(name: str, tmp_path: Path, main_cli) -> None:  # type: ignore[no-untyped-def]
    text, at, key, fragments = YAML_CASES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    _assert_located(main_cli("validate", path), path, at, key, fragments)


@pytest.mark.parametrize("name", TYPE_CASES)
def test_type_error_in_the_scenario_language(name: str, tmp_path: Path, main_cli) -> None:  # type: ignore[no-untyped-def]
    old, new, at, key, fragment = TYPE_CASES[name]
    assert old in MINIMAL
    path = tmp_path / f"{name}.yaml"
    path.write_text(MINIMAL.replace(old, new, 1), encoding="utf-8")
    _assert_located(main_cli("validate", path), path, at, key, (fragment,))


def test_the_starting_scenario_is_valid(tmp_path: Path, main_cli) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ok.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert main_cli("validate", path).code == 0


def test_a_set_value_names_its_key_not_the_wrapper(main_cli) -> None:  # type: ignore[no-untyped-def]
    scenario = Path(__file__).parents[2] / "scenarios" / "minimal.yaml"
    result = main_cli("run", scenario, "--set", "start=2027-13-01", "-n", "2")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.startswith("--set start=2027-13-01: start: 2027-13-01 is not a valid date")
