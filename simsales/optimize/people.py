"""Named people and their fit to deals, read from CSV files (errors point at file:line).

``people.csv``: ``person, role, hours_per_week`` (role = a pool id of the scenario).
``fit.csv`` (optional): ``person, deal`` and ``effort_multiplier`` (1 = as planned, 0.8 = this
person needs 20% fewer hours on that deal) and/or ``value_uplift`` (0.05 = the deal's expected
value is 5% higher with this person on it, e.g. domain knowledge of that customer).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from simsales.errors import Problem, ScenarioError
from simsales.io.inputs import excerpt, read_user_table
from simsales.scenario.references import did_you_mean

__all__ = ["Fit", "Person", "read_fit", "read_people"]


@dataclass(frozen=True)
class Person:
    name: str
    role: str  # a pool id
    hours_per_week: float


@dataclass(frozen=True)
class Fit:
    person: str
    deal: str
    effort_multiplier: float = 1.0
    value_uplift: float = 0.0


def _rows(
    path: Path, required: Iterable[str], optional: Iterable[str] = ()
) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    """(line, row) pairs with lower-cased, stripped column names; problems with the header."""
    name = str(path)
    try:  # regular files only, at most the input limit, never blocking on a FIFO
        text = read_user_table(path, what="CSV file")
    except ScenarioError as exc:
        first = exc.problems[0]
        if first.message == "no such file":
            raise ScenarioError(
                [Problem("cannot be read (no such file)", file=name, hint="check the path")]
            ) from None
        raise
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ScenarioError([Problem("the file is empty", file=name, line=1)]) from None
    except csv.Error as exc:
        raise ScenarioError([Problem(f"not a CSV file: {exc}", file=name, line=1)]) from None
    columns = [c.strip().lower() for c in header]
    known = [*required, *optional]
    problems = [
        Problem(
            f"missing column {excerpt(col)}",
            file=name,
            line=1,
            hint=f"the header has {', '.join(repr(c) for c in columns)}",
        )
        for col in required
        if col not in columns
    ]
    problems += [
        Problem(f"unknown column {excerpt(col)}", file=name, line=1, hint=did_you_mean(col, known))
        for col in columns
        if col and col not in known
    ]
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            line = reader.line_num
            if len(values) != len(columns):
                problems.append(
                    Problem(
                        f"{len(values)} fields, the header has {len(columns)}", file=name, line=line
                    )
                )
                continue
            rows.append((line, {c: v.strip() for c, v in zip(columns, values, strict=True)}))
    except csv.Error as exc:
        problems.append(Problem(f"not a CSV file: {exc}", file=name, line=reader.line_num))
    return rows, problems


def _number(
    text: str, column: str, name: str, line: int, low: float, high: float, problems: list[Problem]
) -> float | None:
    try:
        value = float(text)
    except ValueError:
        problems.append(
            Problem(f"{column} must be a number, got {excerpt(text)}", file=name, line=line)
        )
        return None
    if not math.isfinite(value) or not low <= value <= high:
        problems.append(
            Problem(
                f"{column} must be between {low:g} and {high:g}, got {text}", file=name, line=line
            )
        )
        return None
    return value


def read_people(path: str | Path, pools: Iterable[str]) -> list[Person]:
    """People with their role (a pool id) and weekly hours; every problem reported at once."""
    path = Path(path)
    name, pools = str(path), list(pools)
    rows, problems = _rows(path, ("person", "role", "hours_per_week"))
    if problems and any(p.line == 1 for p in problems):
        raise ScenarioError(problems)
    people: list[Person] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        person, role = row["person"], row["role"]
        if not person:
            problems.append(Problem("person is empty", file=name, line=line))
        elif person in seen:
            problems.append(
                Problem(
                    f"person {excerpt(person)} is listed twice (first on line {seen[person]})",
                    file=name,
                    line=line,
                )
            )
        if role not in pools:
            problems.append(
                Problem(
                    f"unknown role {excerpt(role)}: roles are the scenario's pools",
                    file=name,
                    line=line,
                    hint=did_you_mean(role, pools),
                )
            )
        hours = _number(row["hours_per_week"], "hours_per_week", name, line, 0.0, 168.0, problems)
        if hours is not None and hours <= 0:
            problems.append(Problem("hours_per_week must be more than 0", file=name, line=line))
            hours = None
        if person and person not in seen:
            seen[person] = line
        if person and role in pools and hours is not None:
            people.append(Person(person, role, hours))
    if not rows and not problems:
        problems.append(Problem("no people listed", file=name, line=2))
    if problems:
        raise ScenarioError(problems)
    return people


def read_fit(
    path: str | Path, people: Iterable[str], deals: Iterable[str]
) -> dict[tuple[str, str], Fit]:
    """Person x deal fit; unknown people or deals and bad numbers are errors."""
    path = Path(path)
    name, people, deals = str(path), list(people), list(deals)
    rows, problems = _rows(path, ("person", "deal"), ("effort_multiplier", "value_uplift"))
    if problems and any(p.line == 1 for p in problems):
        raise ScenarioError(problems)
    if rows and not any(c in rows[0][1] for c in ("effort_multiplier", "value_uplift")):
        raise ScenarioError(
            [Problem("give effort_multiplier and/or value_uplift", file=name, line=1)]
        )
    out: dict[tuple[str, str], Fit] = {}
    for line, row in rows:
        person, deal = row["person"], row["deal"]
        ok = True
        if person not in people:
            problems.append(
                Problem(
                    f"unknown person {excerpt(person)}",
                    file=name,
                    line=line,
                    hint=did_you_mean(person, people),
                )
            )
            ok = False
        if deal not in deals:
            problems.append(
                Problem(
                    f"unknown deal {excerpt(deal)}: deals are the live pipeline's",
                    file=name,
                    line=line,
                    hint=did_you_mean(deal, deals),
                )
            )
            ok = False
        mult: float | None = 1.0
        uplift: float | None = 0.0
        if row.get("effort_multiplier", ""):
            mult = _number(
                row["effort_multiplier"], "effort_multiplier", name, line, 0.01, 100.0, problems
            )
        if row.get("value_uplift", ""):
            uplift = _number(row["value_uplift"], "value_uplift", name, line, -1.0, 10.0, problems)
        if (person, deal) in out:
            twice = f"{excerpt(person)} x {excerpt(deal)} is listed twice"
            problems.append(Problem(twice, file=name, line=line))
            ok = False
        if ok and mult is not None and uplift is not None:
            out[person, deal] = Fit(person, deal, mult, uplift)
    if problems:
        raise ScenarioError(problems)
    return out
