"""The capacity MILP against brute force: every pursue/drop, fund/not and headcount enumerated."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from optimize_instances import demand

from simsales.optimize.capacity import (
    CapacityInput,
    PoolSpec,
    build_capacity,
    capacity_objective,
    read_capacity,
)
from simsales.optimize.diagnose import describe
from simsales.optimize.mitigation import MitigationOption
from simsales.optimize.solve import solve

POOLS = ("presales", "partners")
RATE = np.array([40.0, 150.0])
EXTERNAL = np.array([False, True])


def instance(seed: int, slip: int = 0, **options: object) -> CapacityInput:
    """Four deals, an employee pool and an external pool, two or three months."""
    rng = np.random.default_rng(seed)
    n_m = 3 if slip else 2
    days = [10.0, 12.0, 11.0][:n_m]
    effort = rng.uniform(0, 9, (4, 2, n_m)) * (rng.random((4, 2, n_m)) < 0.7)
    value = rng.uniform(500, 3000, 4)
    pools = [
        PoolSpec(
            "presales",
            40.0,
            False,
            np.full(n_m, 2),
            np.full(n_m, 1),
            np.array([2.0] + [3.0] * (n_m - 1)),
        ),  # lead time: no hire in month 0
        PoolSpec(
            "partners", 150.0, True, np.full(n_m, 1), np.zeros(n_m, np.int64), np.full(n_m, 2.0)
        ),
    ]
    mits = [MitigationOption("sponsor", False, 400.0, 300.0, 500.0, float(rng.uniform(100, 700)))]
    rev = {"2027Q1": list(rng.uniform(0, 2000, 4))}
    return CapacityInput(
        demand=demand(effort, list(value), days, POOLS, revenue_in=rev),
        pools=pools,
        mitigations=mits,
        utilization=0.8,
        slip_months=slip,
        **options,  # type: ignore[arg-type]
    )


def edf_feasible(work: np.ndarray, capacity: np.ndarray, slip: int) -> bool:
    """Can monthly demand ``work`` be done with ``capacity`` per month, at most ``slip`` months
    late, never early, all inside the horizon? Earliest deadline first is optimal for this."""
    n = len(work)
    outstanding: list[list[float]] = []  # [deadline, amount]
    for m in range(n):
        if work[m] > 0:
            outstanding.append([min(m + slip, n - 1), float(work[m])])
        room = float(capacity[m])
        outstanding.sort()
        for item in outstanding:
            take = min(room, item[1])
            item[1] -= take
            room -= take
        outstanding = [it for it in outstanding if it[1] > 1e-9]
        if any(it[0] <= m for it in outstanding):
            return False
    return not outstanding


def brute_force(inp: CapacityInput) -> float:
    """The best expected margin over every decision, from the formulation's definition."""
    dem, grid = inp.demand, inp.demand.grid
    n_d, n_m = len(dem.deals), grid.n
    ranges = [
        range(int(pool.lower[m]), int(pool.upper[m]) + 1) for pool in inp.pools for m in range(n_m)
    ]
    best = -np.inf
    for y in itertools.product([0, 1], repeat=n_d):
        ya = np.array(y, float)
        if inp.require_all and ya.sum() < n_d:
            continue
        work = np.einsum("d,dpm->pm", ya, dem.effort) + dem.background  # (P, M)
        if any(ya @ dem.revenue_in[k] < f for k, f in inp.revenue_floors.items()):
            continue
        value = float(ya @ dem.value) + dem.background_value
        ext_cost = float(RATE[EXTERNAL] @ work[EXTERNAL].sum(axis=1))
        for z in itertools.product([0, 1], repeat=len(inp.mitigations)):
            mit = sum(zi * (m.benefit - m.cost) for zi, m in zip(z, inp.mitigations, strict=True))
            mit_cost = sum(zi * m.cost for zi, m in zip(z, inp.mitigations, strict=True))
            for flat in itertools.product(*ranges):
                h = np.array(flat, float).reshape(len(inp.pools), n_m)
                cap = inp.utilization * h * grid.days
                if not all(
                    edf_feasible(work[p], cap[p], inp.slip_months) for p in range(len(inp.pools))
                ):
                    continue
                staff = float(RATE[~EXTERNAL] @ (h[~EXTERNAL] @ grid.days))
                if inp.budget is not None and staff + ext_cost + mit_cost > inp.budget + 1e-6:
                    continue
                best = max(best, value - staff - ext_cost + mit)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_brute_force(seed: int, solver: str) -> None:
    inp = instance(seed)
    truth = brute_force(inp)
    cm = build_capacity(inp)
    result = solve(cm.prob, solver)
    assert result.status == "optimal"
    assert result.objective is not None
    assert result.objective + cm.constant == pytest.approx(truth, rel=1e-7, abs=1e-6)
    sol = read_capacity(cm)
    # The decisions read back are themselves worth the optimum by the plain formula.
    assert capacity_objective(inp, sol.pursue, sol.headcount, sol.funded) == pytest.approx(
        truth, rel=1e-7, abs=1e-6
    )


@pytest.mark.parametrize("seed", [4, 5])
def test_budget_and_revenue_floor_match_brute_force(seed: int, solver: str) -> None:
    loose = instance(seed)
    free = brute_force(loose)
    inp = instance(seed, budget=4000.0, revenue_floors={"2027Q1": 1500.0})
    truth = brute_force(inp)
    cm = build_capacity(inp)
    result = solve(cm.prob, solver)
    if truth == -np.inf:
        assert result.status == "infeasible"
        return
    assert truth <= free + 1e-9
    assert result.status == "optimal"
    assert result.objective is not None
    assert result.objective + cm.constant == pytest.approx(truth, rel=1e-7, abs=1e-6)


@pytest.mark.parametrize("seed", [6, 7])
def test_slip_matches_brute_force(seed: int, solver: str) -> None:
    inp = instance(seed, slip=1)
    truth = brute_force(inp)
    cm = build_capacity(inp)
    result = solve(cm.prob, solver)
    assert result.status == "optimal"
    assert result.objective is not None
    assert result.objective + cm.constant == pytest.approx(truth, rel=1e-7, abs=1e-6)
    # The planned schedule of each pursued deal keeps the slip rules month by month.
    sol = read_capacity(cm)
    for (d, p), _ in np.ndenumerate(inp.demand.effort[:, :, 0]):
        if not sol.pursue[d]:
            continue
        row = inp.demand.effort[d, p]
        done = np.array(
            [cm.x[d, p, m].value() if (d, p, m) in cm.x else 0.0 for m in range(len(row))]
        )
        assert done.sum() == pytest.approx(row.sum(), abs=1e-6)
        assert np.all(np.cumsum(done) <= np.cumsum(row) + 1e-6)  # never early
        late = np.concatenate([[0.0], np.cumsum(row)[:-1]])  # demanded by m - 1
        assert np.all(np.cumsum(done) >= late - 1e-6)  # at most one month late


def test_slip_lets_a_peak_through() -> None:
    """A deal whose one-month peak exceeds the pool is dropped without slip, kept with it."""
    effort = np.zeros((1, 1, 2))
    effort[0, 0, 0] = 30.0  # 30 person-days in a 20-day month, one person at most
    pools = [
        PoolSpec("legal", 10.0, False, np.ones(2, np.int64), np.zeros(2, np.int64), np.ones(2))
    ]
    dem = demand(effort, [10_000.0], [20.0, 20.0], ("legal",))
    for slip, pursued in ((0, False), (1, True)):
        cm = build_capacity(CapacityInput(dem, pools, utilization=1.0, slip_months=slip))
        assert solve(cm.prob).status == "optimal"
        assert bool(read_capacity(cm).pursue[0]) is pursued


def test_short_role_and_month_are_named(solver: str) -> None:
    effort = np.zeros((2, 1, 2))
    effort[0, 0, 1] = 50.0  # needs 2.5 people in February, at most 2 allowed
    effort[1, 0, 0] = 10.0
    pools = [
        PoolSpec("presales", 100.0, False, np.full(2, 2), np.zeros(2, np.int64), np.full(2, 2.0))
    ]
    dem = demand(effort, [1e5, 1e4], [20.0, 20.0], ("presales",))
    inp = CapacityInput(dem, pools, utilization=1.0, slip_months=0, require_all=True)
    assert solve(build_capacity(inp).prob, solver).status == "infeasible"
    elastic = build_capacity(inp, elastic=True)
    assert solve(elastic.prob, solver).status == "optimal"
    lines = describe(elastic.soft.violations(), "CNY")
    assert lines == ["presales in 2027-02 short by 1 person"]  # whole people: 2.5 -> 3


def test_budget_shortfall_is_priced(solver: str) -> None:
    pools = [
        PoolSpec(
            "presales", 100.0, False, np.ones(2, np.int64), np.ones(2, np.int64), np.full(2, 3.0)
        )
    ]
    dem = demand(np.zeros((1, 1, 2)), [1.0], [20.0, 20.0], ("presales",))
    inp = CapacityInput(dem, pools, budget=2500.0)  # one person for 40 days costs 4,000
    assert solve(build_capacity(inp).prob, solver).status == "infeasible"
    elastic = build_capacity(inp, elastic=True)
    solve(elastic.prob, solver)
    lines = describe(elastic.soft.violations(), "CNY")
    assert len(lines) == 1
    match = re.fullmatch(r"budget short by ([\d,]+) CNY", lines[0])
    assert match and float(match.group(1).replace(",", "")) == pytest.approx(1500.0)
