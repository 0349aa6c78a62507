"""The capacity plan: headcount per pool and month, which deals to pursue, which risks to mitigate.

Decisions (D live deals, P pools, M months of the horizon, R mitigations):

- ``h[p, m]`` integer headcount, within the pool's ``[min, max]``; until ``hire_lead_months``
  have passed it stays at the scenario's planned capacity: a decision made now, to hire or to
  release people, takes effect after the lead time (so the plan cannot release people for the
  first months and hire them back later).
- ``y[d]`` pursue (1) or drop (0) a live deal; arrivals are a fixed background (a scenario
  cannot drop future deals one by one).
- ``x[d, p, m]`` person-days of deal d's demand for pool p worked in month m, when work may slip
  (``slip_months`` = k > 0): the demand of month m is done in months m..m+k, never earlier, and
  all of it inside the horizon. With k = 0 the work is done when demanded (x = y * demand).
- ``z[r]`` fund mitigation r.

A deal's value in the solver's objective carries one Monte Carlo standard error of its estimate
as a tie-break toward pursuing it (see build_capacity): deals are dropped only when that clearly
pays, so the selection is stable across seeds. Reported margins leave it out.

Constraints: per pool and month, work (pursued deals + background) <= utilization x headcount x
working days; optional budget on staff + external + mitigation spend; optional expected-revenue
floors per period; optionally every deal pursued. Objective, expected margin:

    sum_d y_d value_d - sum_{employees} h rate days - sum_{external} rate x work
    + sum_r z_r (benefit_r - cost_r) + constants (background value, external background work)

Utilization < 1 leaves room for the variability the averages hide; the simulation that verifies
the plan shows what queueing remains.

Stable plans. Per employee pool (paid by headcount), the month-to-month changes of ``h`` are
hires ``a[p, m]`` and releases ``r[p, m]`` (``a - r = h[m] - h[m-1]``, from the pool's capacity at
the start), and each costs:

- money when the scenario gives it (``hire_cost``, ``release_cost`` per person): part of the
  expected margin;
- otherwise a **churn penalty** of ``churn`` person-months of the pool's cost per person hired or
  released (default 1): not money, a preference that the plan moves only when a change pays
  for itself; it is in the solver's objective, never in the reported margin.

``min_tenure_months`` T: nobody hired in the last T - 1 months is released
(``r[m] <= h[m-1] - sum_{k=m-T+1}^{m-1} a[k]``). ``change_every`` N: after the lead time L,
headcount changes only in months L, L + N, L + 2N, ... Pools paid by the day (external) or with
no day rate have a headcount that costs nothing idle, set after the solve (see read_capacity),
so these rules do not apply to them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pulp

from simsales.engine.model import Model
from simsales.optimize.demand import Demand, MonthGrid
from simsales.optimize.diagnose import CAPACITY_WEIGHT, REQUIRE_WEIGHT, Soft, SoftInfo
from simsales.optimize.mitigation import MitigationOption
from simsales.scenario.schema import Scenario

__all__ = [
    "CapacityInput",
    "CapacityModel",
    "CapacitySolution",
    "PoolSpec",
    "build_capacity",
    "capacity_objective",
    "change_money",
    "change_variables",
    "changes",
    "churn_penalty",
    "pool_specs",
    "read_capacity",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_EPS = 1e-9


@dataclass(frozen=True)
class PoolSpec:
    """A pool as the optimizer sees it; arrays are per month."""

    id: str
    cost_per_day: float
    external: bool
    base: IntArray  # the scenario's planned capacity at each month's start
    lower: IntArray  # headcount bounds per month (lead time already applied)
    upper: FloatArray  # inf: no maximum
    hire_cost: float = 0.0  # money per person hired
    release_cost: float = 0.0  # money per person released
    hire_penalty: float = 0.0  # churn preference per person hired (not money)
    release_penalty: float = 0.0
    min_tenure: int = 0  # months
    lead: int = 0  # months before the first decision takes effect

    @property
    def by_headcount(self) -> bool:
        """Paid for its headcount (an employee pool with a day rate): its changes are costed."""
        return not self.external and self.cost_per_day > 0


def base_capacity(model: Model, grid: MonthGrid) -> IntArray:
    """(P, M) planned capacity in effect at each month's start."""
    out = np.repeat(model.capacity[:, None], grid.n, axis=1).astype(np.int64)
    for t, pool, cap in model.capacity_changes:
        out[pool, grid.bounds[:-1] >= t - _EPS] = cap
    return out


DEFAULT_CHURN = 1.0  # person-months of a pool's cost per person hired or released


def pool_specs(
    scenario: Scenario, model: Model, grid: MonthGrid, churn: float = DEFAULT_CHURN
) -> list[PoolSpec]:
    """Pool bounds per month from the scenario: min/max, lead times, planned capacity, and the
    cost of changing headcount (money when the scenario gives it, else ``churn`` person-months
    of the pool's cost as a preference; see the module docstring)."""
    base = base_capacity(model, grid)
    month_cost_days = float(np.mean(grid.days)) if grid.n else 0.0
    specs = []
    for p, (pid, pool) in enumerate(scenario.resources.items()):
        upper = np.full(grid.n, np.inf if pool.max is None else float(pool.max))
        lower = np.minimum(float(pool.min or 0), upper)
        months = np.arange(grid.n)
        release_lead = (
            pool.hire_lead_months if pool.release_lead_months is None else pool.release_lead_months
        )
        # A decision made now takes effect after the lead time: until then nobody joins
        # (hiring) or leaves (releasing) beyond the scenario's planned capacity.
        fixed = np.clip(base[p].astype(float), lower, upper)
        no_hire, no_release = months < pool.hire_lead_months, months < release_lead
        upper[no_hire] = fixed[no_hire]
        lower[no_release] = fixed[no_release]
        penalty = churn * pool.cost_per_day * month_cost_days
        specs.append(
            PoolSpec(
                id=pid,
                cost_per_day=pool.cost_per_day,
                external=pool.external,
                base=base[p],
                lower=lower.astype(np.int64),
                upper=upper,
                hire_cost=pool.hire_cost or 0.0,
                release_cost=pool.release_cost or 0.0,
                hire_penalty=penalty if pool.hire_cost is None else 0.0,
                release_penalty=penalty if pool.release_cost is None else 0.0,
                min_tenure=pool.min_tenure_months,
                lead=max(pool.hire_lead_months, release_lead),
            )
        )
    return specs


@dataclass(frozen=True)
class CapacityInput:
    demand: Demand
    pools: Sequence[PoolSpec]
    mitigations: Sequence[MitigationOption] = ()
    utilization: float = 0.9
    slip_months: int = 1
    budget: float | None = None
    revenue_floors: dict[str, float] = field(default_factory=dict)
    require_all: bool = False
    exempt: frozenset[str] = frozenset()  # deals "require_all" lets go (a diagnosis repair)
    keep: frozenset[str] = frozenset()  # deals that must be pursued
    change_every: int = 1  # months between headcount changes (after the lead time)

    def __post_init__(self) -> None:
        if not 0 < self.utilization <= 1:
            raise ValueError(f"utilization must be in (0, 1], got {self.utilization}")
        if self.slip_months < 0:
            raise ValueError(f"slip_months must be >= 0, got {self.slip_months}")
        if self.change_every < 1:
            raise ValueError(f"change_every must be >= 1 month, got {self.change_every}")
        unknown = self.keep - set(self.demand.deals)
        if unknown:
            raise ValueError(f"keep names deals that are not live: {sorted(unknown)}")
        if [p.id for p in self.pools] != list(self.demand.pools):
            raise ValueError("pools must be the demand's pools, in the same order")
        for label in self.revenue_floors:
            if label not in self.demand.revenue_in:
                raise ValueError(f"no expected revenue for period {label!r} in the demand")


@dataclass
class CapacityModel:
    prob: pulp.LpProblem
    inp: CapacityInput
    y: list[pulp.LpVariable]
    h: dict[tuple[int, int], pulp.LpVariable]
    x: dict[tuple[int, int, int], pulp.LpVariable]
    z: list[pulp.LpVariable]
    soft: Soft
    constant: float  # added to the solver's objective to get the expected margin
    hires: dict[tuple[int, int], pulp.LpVariable] = field(default_factory=dict)
    releases: dict[tuple[int, int], pulp.LpVariable] = field(default_factory=dict)


def _money_unit(inp: CapacityInput) -> float:
    """Cost of one person-month (the elastic weight of money), at least 1."""
    rates = [p.cost_per_day for p in inp.pools if p.cost_per_day > 0]
    days = float(np.mean(inp.demand.grid.days)) if inp.demand.grid.n else 20.0
    return max(1.0, float(np.mean(rates)) * days) if rates else 1.0


def build_capacity(inp: CapacityInput, elastic: bool = False) -> CapacityModel:
    """The capacity MILP (or, with ``elastic``, its elastic relaxation for diagnosis)."""
    dem, grid = inp.demand, inp.demand.grid
    n_d, n_p, n_m = len(dem.deals), len(inp.pools), grid.n
    k, u = inp.slip_months, inp.utilization
    prob = pulp.LpProblem("capacity_plan", pulp.LpMinimize if elastic else pulp.LpMaximize)
    soft = Soft(prob, elastic)
    y = [prob.add_variable(f"y{d}", cat=pulp.LpBinary) for d in range(n_d)]
    z = [prob.add_variable(f"z{r}", cat=pulp.LpBinary) for r in range(len(inp.mitigations))]
    h: dict[tuple[int, int], pulp.LpVariable] = {}
    for p, pool in enumerate(inp.pools):
        for m in range(n_m):
            hi = int(pool.upper[m]) if np.isfinite(pool.upper[m]) else None
            # elastic: the pool's limit is a soft constraint below, so people beyond it are
            # real headcount (paid, hired, kept for their tenure) and the repair is exact
            top = None if elastic else hi
            h[p, m] = prob.add_variable(f"h{p}_{m}", int(pool.lower[m]), top, cat=pulp.LpInteger)
            if elastic and hi is not None:
                soft.add(
                    [(h[p, m], 1.0)],
                    "<=",
                    float(hi),
                    SoftInfo(
                        "capacity",
                        pool.id,
                        grid.labels[m],
                        weight=CAPACITY_WEIGHT,
                        whole=True,
                    ),
                )

    total = dem.effort.sum(axis=2)  # (D, P)
    rate = np.array([pl.cost_per_day for pl in inp.pools])
    external = np.array([pl.external for pl in inp.pools], bool)
    ext_cost = total[:, external] @ rate[external] if n_d else np.zeros(0)  # (D,)
    bg_ext_cost = float(dem.background[external].sum(axis=1) @ rate[external])

    # Work per pool and month: pairs on y (no slip) or on x (slip).
    work: dict[tuple[int, int], list[tuple[pulp.LpVariable, float]]] = {
        (p, m): [] for p in range(n_p) for m in range(n_m)
    }
    x: dict[tuple[int, int, int], pulp.LpVariable] = {}
    nz_d, nz_p = np.nonzero(total > _EPS)
    for d, p in zip(nz_d.tolist(), nz_p.tolist(), strict=True):
        row = dem.effort[d, p]
        if k == 0:
            for m in np.flatnonzero(row > _EPS).tolist():
                work[p, m].append((y[d], float(row[m])))
            continue
        months = np.flatnonzero(row > _EPS)
        first, last = int(months[0]), int(months[-1])
        end = min(n_m - 1, last + k)
        xs = []
        for m in range(first, end + 1):
            v = prob.add_variable(f"x{d}_{p}_{m}", 0)
            x[d, p, m] = v
            xs.append(v)
            work[p, m].append((v, 1.0))
        cum = np.cumsum(row)
        # All of the deal's demand is worked inside the horizon.
        prob.addConstraint(_eq([(v, 1.0) for v in xs] + [(y[d], -float(cum[-1]))], 0.0))
        for m in range(first, end):
            done = [(xs[i], 1.0) for i in range(m - first + 1)]
            if m < last:  # never ahead of demand: worked by m <= demanded by m
                prob.addConstraint(_le([*done, (y[d], -float(cum[m]))], 0.0))
            if m - k >= first:  # at most k months late: demanded by m-k is worked by m
                prob.addConstraint(_ge([*done, (y[d], -float(cum[m - k]))], 0.0))

    for p in range(n_p):
        for m in range(n_m):
            pairs = [*work[p, m], (h[p, m], -u * float(grid.days[m]))]
            prob.addConstraint(_le(pairs, -float(dem.background[p, m])))

    hires, releases, change_terms = change_variables(prob, inp.pools, h, n_m, inp.change_every)
    money = _money_unit(inp)
    spend: list[tuple[pulp.LpVariable, float]] = []
    for (p, m), a in hires.items():  # change money is spend too (penalties are not)
        if inp.pools[p].hire_cost:
            spend.append((a, inp.pools[p].hire_cost))
        if inp.pools[p].release_cost:
            spend.append((releases[p, m], inp.pools[p].release_cost))
    for p, pool in enumerate(inp.pools):
        if not pool.external and pool.cost_per_day > 0:
            spend += [(h[p, m], pool.cost_per_day * float(grid.days[m])) for m in range(n_m)]
    spend += [(y[d], float(ext_cost[d])) for d in range(n_d) if ext_cost[d] > 0]
    spend += [(z[r], mit.cost) for r, mit in enumerate(inp.mitigations) if mit.cost > 0]
    if inp.budget is not None:
        soft.add(
            spend,
            "<=",
            inp.budget - bg_ext_cost,
            SoftInfo("budget", "budget", per_unit=1.0, weight=1.0 / money),
        )
    for label, floor in inp.revenue_floors.items():
        rev = dem.revenue_in[label]
        soft.add(
            [(y[d], float(rev[d])) for d in range(n_d) if rev[d] > 0],
            ">=",
            floor - dem.background_revenue_in.get(label, 0.0),
            SoftInfo("revenue", label, per_unit=1.0, weight=1.0 / money),
        )
    if inp.require_all:
        for d in range(n_d):
            if dem.deals[d] in inp.exempt:
                continue
            soft.add(
                [(y[d], 1.0)],
                ">=",
                1.0,
                SoftInfo("require", dem.deals[d], weight=REQUIRE_WEIGHT),
                slack_max=1.0,
            )

    for d in range(n_d):
        if dem.deals[d] in inp.keep:
            soft.add(
                [(y[d], 1.0)],
                ">=",
                1.0,
                SoftInfo("require", dem.deals[d], weight=REQUIRE_WEIGHT),
                slack_max=1.0,
            )

    # Keep when in doubt: a deal is dropped only when that gains more than one Monte Carlo
    # standard error of its estimated value, so the selection does not follow the noise of
    # the demand simulation (reported margins never include this preference).
    doubt = dem.value_se if len(dem.value_se) == n_d else np.zeros(n_d)
    objective = [(y[d], float(dem.value[d] - ext_cost[d] + doubt[d])) for d in range(n_d)]
    objective += change_terms
    for p, pool in enumerate(inp.pools):
        if not pool.external and pool.cost_per_day > 0:
            objective += [(h[p, m], -pool.cost_per_day * float(grid.days[m])) for m in range(n_m)]
    objective += [(z[r], mit.benefit - mit.cost) for r, mit in enumerate(inp.mitigations)]
    constant = dem.background_value - bg_ext_cost
    constant -= sum(m.benefit for m in inp.mitigations if m.funded_now)
    prob.setObjective(soft.slack_objective() if elastic else pulp.LpAffineExpression(objective))
    return CapacityModel(prob, inp, y, h, x, z, soft, constant, hires, releases)


def change_variables(
    prob: pulp.LpProblem,
    pools: Sequence[PoolSpec],
    h: dict[tuple[int, int], pulp.LpVariable],
    n_m: int,
    change_every: int = 1,
) -> tuple[
    dict[tuple[int, int], pulp.LpVariable],
    dict[tuple[int, int], pulp.LpVariable],
    list[tuple[pulp.LpVariable, float]],
]:
    """Hires and releases of the headcount-paid pools, their costs, tenure and change rhythm
    (see the module docstring); returns the variables and their objective terms."""
    hires: dict[tuple[int, int], pulp.LpVariable] = {}
    releases: dict[tuple[int, int], pulp.LpVariable] = {}
    terms: list[tuple[pulp.LpVariable, float]] = []
    for p, pool in enumerate(pools):
        if not pool.by_headcount:
            continue
        start = int(pool.base[0]) if n_m else 0
        for m in range(n_m):
            a = hires[p, m] = prob.add_variable(f"hire{p}_{m}", 0)
            r = releases[p, m] = prob.add_variable(f"release{p}_{m}", 0)
            prev = [(h[p, m - 1], 1.0)] if m > 0 else []
            # a - r = h[m] - h[m-1] (h[-1]: the pool's capacity at the start)
            prob.addConstraint(
                _eq([(a, 1.0), (r, -1.0), (h[p, m], -1.0), *prev], -start if m == 0 else 0.0)
            )
            cost_a = pool.hire_cost + pool.hire_penalty
            cost_r = pool.release_cost + pool.release_penalty
            if cost_a:
                terms.append((a, -cost_a))
            if cost_r:
                terms.append((r, -cost_r))
            if pool.min_tenure > 1 and m > 0:
                recent = [(hires[p, k], 1.0) for k in range(max(0, m - pool.min_tenure + 1), m)]
                if recent:  # r[m] + hires of the last T - 1 months <= h[m-1]
                    prob.addConstraint(_le([(r, 1.0), *recent, (h[p, m - 1], -1.0)], 0.0))
            if change_every > 1 and m > pool.lead and (m - pool.lead) % change_every:
                prob.addConstraint(_eq([(h[p, m], 1.0), (h[p, m - 1], -1.0)], 0.0))
    return hires, releases, terms


def _le(pairs: list[tuple[pulp.LpVariable, float]], rhs: float) -> pulp.LpConstraint:
    return pulp.LpConstraint(pulp.LpAffineExpression(pairs), pulp.LpConstraintLE, rhs=rhs)


def _ge(pairs: list[tuple[pulp.LpVariable, float]], rhs: float) -> pulp.LpConstraint:
    return pulp.LpConstraint(pulp.LpAffineExpression(pairs), pulp.LpConstraintGE, rhs=rhs)


def _eq(pairs: list[tuple[pulp.LpVariable, float]], rhs: float) -> pulp.LpConstraint:
    return pulp.LpConstraint(pulp.LpAffineExpression(pairs), pulp.LpConstraintEQ, rhs=rhs)


@dataclass(frozen=True)
class CapacitySolution:
    pursue: npt.NDArray[np.bool_]  # (D,)
    headcount: IntArray  # (P, M)
    funded: npt.NDArray[np.bool_]  # (R,)
    work: FloatArray  # (P, M) planned person-days, background included
    objective: float  # expected margin of this plan (model's formula)


def read_capacity(cm: CapacityModel) -> CapacitySolution:
    """The solution in plain arrays, with a definite headcount for pools that cost nothing idle.

    External pools are paid by the day worked, and a pool may have no day rate: their headcount
    does not enter the objective, so the solver may leave it anywhere that carries the planned
    work. The plan writes down the scenario's own capacity, raised where the planned work needs
    more (within the bounds): idle capacity of such a pool costs nothing, and taking it away
    would only make deals wait.
    """
    inp, grid = cm.inp, cm.inp.demand.grid
    pursue = np.array([_on(v) for v in cm.y], bool)
    funded = np.array([_on(v) for v in cm.z], bool)
    head = np.zeros((len(inp.pools), grid.n), np.int64)
    for (p, m), v in cm.h.items():
        head[p, m] = round(v.value() or 0.0)
    work = inp.demand.background.copy()
    if cm.x:
        for (_, p, m), v in cm.x.items():
            work[p, m] += max(0.0, float(v.value() or 0.0))
    else:
        work += np.einsum("d,dpm->pm", pursue.astype(float), inp.demand.effort)
    for p, pool in enumerate(inp.pools):
        if pool.external or pool.cost_per_day == 0:
            need = np.ceil(work[p] / np.maximum(inp.utilization * grid.days, _EPS) - 1e-7)
            wanted = np.maximum.reduce([need.astype(np.int64), pool.base, pool.lower])
            head[p] = np.minimum(wanted, pool.upper).astype(np.int64)
    objective = capacity_objective(inp, pursue, head, funded)
    return CapacitySolution(pursue, head, funded, work, objective)


def _on(v: pulp.LpVariable) -> bool:
    return (v.value() or 0.0) > 0.5


def capacity_objective(
    inp: CapacityInput,
    pursue: npt.NDArray[np.bool_],
    headcount: IntArray,
    funded: npt.NDArray[np.bool_],
) -> float:
    """Expected margin of a plan, straight from the formula in the module docstring."""
    dem, grid = inp.demand, inp.demand.grid
    value = float(dem.value[pursue].sum()) + dem.background_value
    total_work = np.einsum("d,dpm->p", pursue.astype(float), dem.effort) + dem.background.sum(1)
    for p, pool in enumerate(inp.pools):
        if pool.external:
            value -= pool.cost_per_day * float(total_work[p])
        else:
            value -= pool.cost_per_day * float(headcount[p] @ grid.days)
    for r, mit in enumerate(inp.mitigations):
        value += (float(funded[r]) - float(mit.funded_now)) * mit.benefit
        value -= float(funded[r]) * mit.cost
    value -= change_money(inp.pools, headcount)
    return value if math.isfinite(value) else math.nan


def changes(pool: PoolSpec, row: npt.ArrayLike) -> tuple[IntArray, IntArray]:
    """(hires, releases) per month of a headcount path, from the pool's capacity at the start."""
    path = np.asarray(row, dtype=np.int64)
    if len(path) == 0:
        return path, path
    step = np.diff(path, prepend=int(pool.base[0]))
    return np.maximum(step, 0), np.maximum(-step, 0)


def change_money(pools: Sequence[PoolSpec], headcount: npt.ArrayLike) -> float:
    """Hiring and release money of a plan (the scenario's hire_cost / release_cost)."""
    heads = np.asarray(headcount)
    total = 0.0
    for p, pool in enumerate(pools):
        if pool.by_headcount and (pool.hire_cost or pool.release_cost):
            a, r = changes(pool, heads[p])
            total += pool.hire_cost * float(a.sum()) + pool.release_cost * float(r.sum())
    return total


def churn_penalty(pools: Sequence[PoolSpec], headcount: npt.ArrayLike) -> float:
    """The churn preference a plan pays in the solver's objective (not money)."""
    heads = np.asarray(headcount)
    total = 0.0
    for p, pool in enumerate(pools):
        if pool.by_headcount:
            a, r = changes(pool, heads[p])
            total += pool.hire_penalty * float(a.sum()) + pool.release_penalty * float(r.sum())
    return total
