"""Named assignment against brute force: every staffing and owner choice enumerated."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from optimize_instances import demand

from simsales.optimize.assignment import (
    AssignmentInput,
    assignment_objective,
    build_assignment,
    read_assignment,
)
from simsales.optimize.diagnose import describe
from simsales.optimize.people import Fit, Person
from simsales.optimize.solve import solve

POOLS = ("presales", "legal", "partners")  # nobody named for partners: not assigned
DAYS = [20.0, 15.0]


def instance(
    seed: int, require_all: bool = False, split: bool = False, hours: float = 1.0
) -> AssignmentInput:
    rng = np.random.default_rng(seed)
    effort = rng.uniform(0.5, 6, (4, 3, 2)) * (rng.random((4, 3, 2)) < 0.75)
    value = rng.uniform(1000, 5000, 4)
    people = [
        Person("Ann", "presales", hours * float(rng.uniform(8, 20))),
        Person("Bo", "presales", hours * float(rng.uniform(8, 20))),
        Person("Cai", "legal", hours * float(rng.uniform(6, 16))),
    ]
    fit = {
        ("Ann", "D1"): Fit("Ann", "D1", effort_multiplier=0.6, value_uplift=0.1),
        ("Bo", "D2"): Fit("Bo", "D2", value_uplift=0.2),
        ("Cai", "D0"): Fit("Cai", "D0", effort_multiplier=1.5),
    }
    return AssignmentInput(
        demand(effort, list(value), DAYS, POOLS),
        people,
        fit,
        hours_per_day=8.0,
        workdays_per_week=5.0,
        allow_split=split,
        require_all=require_all,
    )


def brute_force(inp: AssignmentInput) -> float:
    """Best expected value over every deal's choice: unstaffed, or one owner per needed role."""
    dem = inp.demand
    pool = {p: i for i, p in enumerate(dem.pools)}
    hours = dem.effort * inp.hours_per_day
    cap = np.array([[p.hours_per_week * d / 5.0 for d in DAYS] for p in inp.people])
    choices = []
    for d in range(len(dem.deals)):
        roles = [r for r in ("presales", "legal") if dem.effort[d, pool[r]].sum() > 0]
        owners = [[i for i, p in enumerate(inp.people) if p.role == r] for r in roles]
        options: list[tuple[int, ...] | None] = [] if inp.require_all else [None]
        options += list(itertools.product(*owners))
        choices.append(options)
    best = -np.inf
    for pick in itertools.product(*choices):
        load = np.zeros_like(cap)
        value = 0.0
        for d, owners in enumerate(pick):
            if owners is None:
                continue
            value += dem.value[d]
            for i in owners:
                person = inp.people[i]
                f = inp.fit.get((person.name, dem.deals[d]))
                mult = f.effort_multiplier if f else 1.0
                value += (f.value_uplift if f else 0.0) * dem.value[d]
                load[i] += hours[d, pool[person.role]] * mult
        if np.all(load <= cap + 1e-9):
            best = max(best, value)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_matches_brute_force(seed: int, solver: str) -> None:
    inp = instance(seed)
    truth = brute_force(inp)
    am = build_assignment(inp)
    result = solve(am.prob, solver)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(truth, rel=1e-7)
    sol = read_assignment(am)
    assert sol.objective == pytest.approx(truth, rel=1e-7)
    # one owner per role needed by each staffed deal, nobody for the others
    for d in range(4):
        roles = sorted(inp.people[i].role for (i, dd) in sol.share if dd == d)
        assert roles == (sorted(inp.required(d)) if sol.staffed[d] else [])


@pytest.mark.parametrize(("seed", "hours"), [(5, 1.0), (6, 2.0), (7, 3.0)])
def test_require_all_matches_brute_force(seed: int, hours: float, solver: str) -> None:
    inp = instance(seed, require_all=True, hours=hours)
    truth = brute_force(inp)
    result = solve(build_assignment(inp).prob, solver)
    if truth == -np.inf:
        assert result.status == "infeasible"
    else:
        assert result.status == "optimal"
        assert result.objective == pytest.approx(truth, rel=1e-7)


@pytest.mark.parametrize("seed", [1, 2])
def test_split_is_at_least_as_good_and_keeps_hours(seed: int, solver: str) -> None:
    whole = brute_force(instance(seed))
    inp = instance(seed, split=True)
    am = build_assignment(inp)
    assert solve(am.prob, solver).status == "optimal"
    sol = read_assignment(am)
    assert sol.objective >= whole - 1e-6
    assert assignment_objective(inp, sol.staffed, sol.share) == pytest.approx(sol.objective)
    pool = {p: i for i, p in enumerate(inp.demand.pools)}
    load = np.zeros((3, 2))
    for (i, d), share in sol.share.items():
        person = inp.people[i]
        load[i] += (
            share
            * inp.demand.effort[d, pool[person.role]]
            * 8.0
            * inp.multiplier(person.name, inp.demand.deals[d])
        )
    assert np.all(load <= inp.capacity() + 1e-6)
    for d in np.flatnonzero(sol.staffed):
        for role in inp.required(int(d)):
            total = sum(
                s for (i, dd), s in sol.share.items() if dd == d and inp.people[i].role == role
            )
            assert total == pytest.approx(1.0)


def test_short_person_and_month_are_named(solver: str) -> None:
    effort = np.zeros((1, 3, 2))
    effort[0, 0, 0] = 12.5  # 100 hours of presales in January; Ann has 10 h/week: 40 h
    inp = AssignmentInput(
        demand(effort, [1e5], DAYS, POOLS), [Person("Ann", "presales", 10.0)], require_all=True
    )
    assert solve(build_assignment(inp).prob, solver).status == "infeasible"
    elastic = build_assignment(inp, elastic=True)
    assert solve(elastic.prob, solver).status == "optimal"
    assert describe(elastic.soft.violations(), "CNY") == ["Ann in 2027-01 short by 60 hours"]
