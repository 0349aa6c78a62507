"""People and fit CSVs: good files read, bad ones give every problem with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from simsales.errors import ScenarioError
from simsales.optimize.people import Fit, read_fit, read_people

POOLS = ("sales", "presales", "legal")
ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_files_match_the_default_scenario() -> None:
    from simsales import load

    scenario = load(ROOT / "scenarios" / "enterprise-it.yaml")
    people = read_people(ROOT / "scenarios" / "people.csv", scenario.resources)
    assert {p.role for p in people} <= set(scenario.resources)
    fit = read_fit(
        ROOT / "scenarios" / "fit.csv", [p.name for p in people], [d.id for d in scenario.deals()]
    )
    assert fit  # and every row names a listed person and a live deal (read_fit checks)


def test_reads_people_and_fit(tmp_path: Path) -> None:
    people = read_people(
        write(tmp_path, "Person, Role ,hours_per_week\nAnn,sales,40\n\nBo,legal,20.5\n"), POOLS
    )
    assert [(p.name, p.role, p.hours_per_week) for p in people] == [
        ("Ann", "sales", 40.0),
        ("Bo", "legal", 20.5),
    ]
    fit = read_fit(
        write(tmp_path, "person,deal,value_uplift\nAnn,D-1,0.1\n", "fit.csv"), ["Ann"], ["D-1"]
    )
    assert fit == {("Ann", "D-1"): Fit("Ann", "D-1", 1.0, 0.1)}


def test_bad_people_rows_are_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "person,role,hours_per_week\n"
        "Ann,sales,40\n"
        "Bo,presale,40\n"  # line 3: typo in the role
        "Ann,legal,30\n"  # line 4: listed twice
        "Cy,legal,lots\n"  # line 5: not a number
        "Di,legal,0\n"  # line 6: no hours
        "Ed,legal\n",  # line 7: a field short
    )
    with pytest.raises(ScenarioError) as err:
        read_people(path, POOLS)
    text = str(err.value)
    assert f"{path}:3: unknown role 'presale': roles are the scenario's pools " in text
    assert "did you mean 'presales'?" in text
    assert f"{path}:4: person 'Ann' is listed twice (first on line 2)" in text
    assert f"{path}:5: hours_per_week must be a number, got 'lots'" in text
    assert f"{path}:6: hours_per_week must be more than 0" in text
    assert f"{path}:7: 2 fields, the header has 3" in text
    assert len(err.value.problems) == 5


def test_bad_headers_and_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"people.csv:1: missing column 'hours_per_week'"):
        read_people(write(tmp_path, "person,role,hours\nAnn,sales,4\n"), POOLS)
    with pytest.raises(ScenarioError, match=r"people.csv:1: the file is empty"):
        read_people(write(tmp_path, ""), POOLS)
    with pytest.raises(ScenarioError, match=r"nope.csv: cannot be read"):
        read_people(tmp_path / "nope.csv", POOLS)
    with pytest.raises(ScenarioError, match=r"people.csv:2: no people listed"):
        read_people(write(tmp_path, "person,role,hours_per_week\n"), POOLS)
    path = tmp_path / "latin1.csv"
    path.write_bytes("person,role,hours_per_week\nJos\xe9,sales,4\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"latin1.csv: not valid UTF-8"):
        read_people(path, POOLS)


def test_bad_fit_rows_are_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "person,deal,effort_multiplier,value_uplift\n"
        "Ann,D-1,0.8,0.1\n"
        "Anne,D-1,1,0\n"  # line 3: unknown person
        "Ann,D-9,1,0\n"  # line 4: unknown deal
        "Ann,D-1,1,0\n"  # line 5: twice
        "Ann,D-2,0,0\n"  # line 6: multiplier out of range
        "Ann,D-3,1,x\n",  # line 7: not a number
        "fit.csv",
    )
    with pytest.raises(ScenarioError) as err:
        read_fit(path, ["Ann"], ["D-1", "D-2", "D-3"])
    text = str(err.value)
    assert f"{path}:3: unknown person 'Anne' (did you mean 'Ann'?)" in text
    assert f"{path}:4: unknown deal 'D-9': deals are the live pipeline's" in text
    assert f"{path}:5: 'Ann' x 'D-1' is listed twice" in text
    assert f"{path}:6: effort_multiplier must be between 0.01 and 100, got 0" in text
    assert f"{path}:7: value_uplift must be a number, got 'x'" in text
    with pytest.raises(ScenarioError, match="give effort_multiplier and/or value_uplift"):
        read_fit(write(tmp_path, "person,deal\nAnn,D-1\n", "f2.csv"), ["Ann"], ["D-1"])
    with pytest.raises(ScenarioError, match=r"f3.csv:1: unknown column 'uplift'"):
        read_fit(write(tmp_path, "person,deal,uplift\nAnn,D-1,1\n", "f3.csv"), ["Ann"], ["D-1"])
