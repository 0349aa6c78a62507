"""The infeasibility diagnosis repairs in whole people and budget together, and it works."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from optimize_instances import demand

from simsales.optimize.assignment import AssignmentInput, build_assignment
from simsales.optimize.capacity import CapacityInput, PoolSpec, build_capacity
from simsales.optimize.diagnose import describe
from simsales.optimize.people import Person
from simsales.optimize.repair import repaired
from simsales.optimize.solve import solve

RATE, DAYS = 100.0, [20.0, 20.0, 20.0]


def _instance(budget: float, floor: float | None = None) -> CapacityInput:
    # Deal D0 needs 3.5 presales in February (70 person-days); the pool may hold at most 2.
    effort = np.zeros((2, 1, 3))
    effort[0, 0, 1] = 70.0
    effort[1, 0, 2] = 10.0
    ones = np.ones(3, np.int64)
    pools = [PoolSpec("presales", RATE, False, 2 * ones, ones, np.full(3, 2.0))]
    floors = {} if floor is None else {"2027Q1": floor}
    revenue = {"2027Q1": [4e5, 1e5]}
    dem = demand(effort, [3e5, 5e4], DAYS, ("presales",), revenue_in=revenue)
    return CapacityInput(
        dem,
        pools,
        utilization=1.0,
        slip_months=0,
        budget=budget,
        revenue_floors=floors,
        require_all=True,
    )


@pytest.mark.parametrize("budget", [3_000.0, 9_000.0])
def test_repair_in_whole_people_and_budget_makes_it_feasible(solver: str, budget: float) -> None:
    inp = _instance(budget)
    assert solve(build_capacity(inp).prob, solver).status == "infeasible"
    elastic = build_capacity(inp, elastic=True)
    assert solve(elastic.prob, solver).status == "optimal"
    violations = elastic.soft.violations()
    lines = describe(violations, "CNY")
    # Truth: February needs ceil(3.5) = 4 people, 2 allowed: 2 whole people more.
    assert "presales in 2027-02 short by 2 people" in lines
    # Truth: the cheapest feasible plan: at least one person each month (min 1), 4 in February
    # (2 + the 2 repaired), and 1 in March: (1 + 4 + 1) x 20 days x 100 = 12,000.
    need = (1 + 4 + 1) * 20 * RATE
    money = [ln for ln in lines if ln.startswith("budget short by")]
    if budget >= need:
        assert money == []
    else:
        match = re.fullmatch(r"budget short by ([\d,]+) CNY", money[0])
        assert match is not None
        amount = float(match.group(1).replace(",", ""))
        assert amount == pytest.approx(need - budget, abs=1.0)
    fixed = repaired(inp, violations)
    assert solve(build_capacity(fixed).prob, solver).status == "optimal"


def test_applying_only_part_of_the_repair_is_not_enough(solver: str) -> None:
    inp = _instance(3_000.0)
    elastic = build_capacity(inp, elastic=True)
    solve(elastic.prob, solver)
    people_only = [(i, a) for i, a in elastic.soft.violations() if i.kind == "capacity"]
    assert solve(build_capacity(repaired(inp, people_only)).prob, solver).status == "infeasible"


def test_lowering_a_floor_by_the_stated_amount_makes_it_feasible(solver: str) -> None:
    inp = _instance(1e9, floor=1e6)  # at most 5e5 of expected revenue in Q1
    elastic = build_capacity(inp, elastic=True)
    solve(elastic.prob, solver)
    violations = elastic.soft.violations()
    lines = describe(violations, "CNY")
    floor_line = next(ln for ln in lines if ln.startswith("expected revenue in 2027Q1"))
    amount = float(re.search(r"short by ([\d,]+)", floor_line).group(1).replace(",", ""))
    assert amount == math.ceil(1e6 - 5e5)
    assert solve(build_capacity(repaired(inp, violations)).prob, solver).status == "optimal"


def test_assignment_repair_in_whole_hours(solver: str) -> None:
    effort = np.zeros((1, 1, 3))
    effort[0, 0, 0] = 12.3  # 98.4 hours in January; Ann has 10 h/week
    inp = AssignmentInput(
        demand(effort, [1e5], DAYS, ("presales",)),
        [Person("Ann", "presales", 10.0)],
        require_all=True,
    )
    elastic = build_assignment(inp, elastic=True)
    solve(elastic.prob, solver)
    violations = elastic.soft.violations()
    assert describe(violations, "CNY") == ["Ann in 2027-01 short by 59 hours"]  # 98.4 - 40
    assert solve(build_assignment(repaired(inp, violations)).prob, solver).status == "optimal"


def test_the_repair_pays_for_hiring_costs_and_tenure(solver: str) -> None:
    # Extra people must be hired (500 each) and kept three months: the budget slack includes it.
    inp = _instance(3_000.0)
    pool = dataclasses.replace(inp.pools[0], hire_cost=500.0, min_tenure=3)
    inp = dataclasses.replace(inp, pools=[pool])
    assert solve(build_capacity(inp).prob, solver).status == "infeasible"
    elastic = build_capacity(inp, elastic=True)
    assert solve(elastic.prob, solver).status == "optimal"
    violations = elastic.soft.violations()
    assert {info.kind for info, _ in violations} == {"capacity", "budget"}
    assert solve(build_capacity(repaired(inp, violations)).prob, solver).status == "optimal"
