"""Randomly corrupted scenarios: the loader either accepts them or raises ScenarioError whose
every problem is located (a file, and a line wherever the file has one) — never any other
exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simsales.errors import ScenarioError
from simsales.scenario.load import load
from simsales.scenario.yaml_source import parse_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "scenarios"
TEXTS = {p.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.yaml"))}
JUNK = [
    "-1",
    "1e999",
    "nan",
    "'x'",
    "[]",
    "{}",
    "null",
    "true",
    "{a: 1}",
    "\t",
    ":",
    "- ",
    "&a",
    "*a",
    "!!python/object:os.system",
    "0.5",
    "2027-02-30",
    "价值",
    '"',
    "'",
    "#",
    "?",
    "|",
    ">",
]


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(TEXTS)))
    lines = TEXTS[name].splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "duplicate", "junk_value", "junk_insert", "indent"]))
        line = lines[i]
        if action == "drop":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, line)
        elif action == "junk_value" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: {draw(st.sampled_from(JUNK))}"
        elif action == "junk_insert":
            pos = draw(st.integers(0, len(line)))
            lines[i] = line[:pos] + draw(st.sampled_from(JUNK)) + line[pos:]
        else:
            lines[i] = "  " + line
        if not lines:
            lines = ["name: x"]
    return name, "\n".join(lines) + "\n"


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=corrupted())
def test_corrupted_scenarios_fail_only_with_located_scenario_errors(
    case: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    name, text = case
    path = tmp_path_factory.mktemp("corrupt") / name
    path.write_text(text, encoding="utf-8")
    try:
        load(path)
    except ScenarioError as exc:
        assert exc.problems, "a ScenarioError must carry at least one problem"
        for problem in exc.problems:
            assert problem.file is not None, f"unlocated problem: {problem}"
            assert problem.message
            if problem.file == str(path) and "YAML tag" not in problem.message:
                # Structural problems in the file itself always have a line.
                assert problem.line is not None or "empty" in problem.message, str(problem)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_reader(raw: bytes) -> None:
    try:
        parse_yaml(raw, "random.yaml")
    except ScenarioError as exc:
        assert all(p.file == "random.yaml" for p in exc.problems)
