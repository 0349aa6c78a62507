"""Robust capacity plans by sample average approximation (SAA) over simulated futures.

The deterministic plan (capacity.py) sees one mean demand, so queueing and variability enter
only when the plan is simulated. Here the plan is fitted to K futures instead: K replications of
the scenario with unconstrained pools, drawn by the engine with common random numbers (deal by
deal, the same streams as every other run of that seed), each with its own demand for people
per deal, pool and month, its own values and its own revenue per period. This is the
simulation-based staffing of call centres (Atlason, Epelman & Henderson 2004, "Call center
staffing with simulation and cutting plane methods", Annals of OR 127; Cezik & L'Ecuyer 2008,
"Staffing multiskill call centers via linear programming and simulation", Management Science
54(2)), with the simulation's service levels replaced by a fluid queue per future:

- First-stage decisions, shared by all futures: headcount ``h[p, m]`` (with every rule of the
  deterministic plan: bounds, lead times, hiring costs, churn, tenure, change rhythm) and which
  live deals to pursue ``y[d]``.
- Per future k and pool p, a **backlog** ``B[k, p, m] >= B[k, p, m-1] + work_k(y)[p, m] -
  utilization x h[p, m] x days[m]``: work not done in a month waits for the next one (the
  fluid approximation of the queue; arrivals are a fixed background per future).
- A person-day still in the backlog at the horizon loses the value it would have won:
  ``loss_k >= mu_p B[k, p, last]`` with ``mu_p`` = the futures' gross value per person-day of
  pool p's work (the largest over the pools: the bottleneck decides).
- **Objective**: the sample average of each future's margin, ``mean_k(value_k(y) - loss_k) -
  staff cost - external work - hiring/churn`` (with capacity.py's keep-when-in-doubt tie-break:
  one standard error of a deal's mean value).
- **Chance constraints** (``target_probability`` = alpha): for each revenue target (the
  scenario's ``targets``, and any ``revenue_floors``), a binary ``w[k]`` per future says the
  target is met in future k: ``revenue_k(y) - rho_p B[k, p, end] >= target - M (1 - w[k])``
  for every pool p (``rho_p`` = revenue per person-day of pool p's work due by the period's
  end; ``end`` = the period's last month; ``M`` a bound on the left side), and
  ``sum_k w[k] >= ceil(alpha K)``. Without alpha, revenue floors hold on the futures' average.

The plan is then simulated by the engine on the K futures it was fitted on (in-sample) and on
fresh futures it never saw (out-of-sample, another seed): the difference is the optimizer's
optimism, measured (see :func:`simsales.api.optimize` with ``robust=K``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pulp

from simsales.optimize.capacity import PoolSpec, change_variables
from simsales.optimize.demand import MonthGrid, deal_rows, month_grid, visit_costs
from simsales.results.forecast import Forecast

__all__ = ["Futures", "RobustInput", "RobustModel", "build_robust", "futures_from_forecast"]

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-9


@dataclass(frozen=True)
class Futures:
    """Per future (replication) k: demand, value and revenue per live deal, and background."""

    grid: MonthGrid
    pools: tuple[str, ...]
    deals: tuple[str, ...]
    effort: FloatArray  # (K, D, P, M) person-days
    background: FloatArray  # (K, P, M) person-days of arrivals
    value: FloatArray  # (K, D) gross margin - direct stage costs
    background_value: FloatArray  # (K,)
    revenue_in: dict[str, FloatArray] = field(default_factory=dict)  # period -> (K, D)
    background_revenue_in: dict[str, FloatArray] = field(default_factory=dict)  # -> (K,)
    end_month: dict[str, int] = field(default_factory=dict)  # period -> index of its last month
    won: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))  # (K, D) 1 when won

    @property
    def k(self) -> int:
        return int(self.value.shape[0])


def futures_from_forecast(forecast: Forecast, periods: Sequence[str] = ()) -> Futures:
    """The demand of each replication of an (unconstrained) forecast, as demand.py measures it."""
    model = forecast.model
    if model is None:
        raise ValueError("this forecast has no model; load it with Forecast.load")
    grid = month_grid(model)
    n_k = forecast.replications
    first = int(forecast.provenance.get("first_replication", 0))
    live = list(model.deal_ids)
    n_live, n_pools = len(live), len(model.pool_ids)
    v = forecast.visits
    rows = deal_rows(forecast, model, grid)
    row, drow, share = rows.visit, rows.deal, rows.margin_share
    rep = v["replication"].to_numpy(np.int64) - first
    effort = np.zeros((n_k, n_live + 1, n_pools, grid.n))
    np.add.at(effort, (rep, row), rows.person_days)
    deals = forecast.deals
    drep = deals["replication"].to_numpy(np.int64) - first
    value = np.zeros((n_k, n_live + 1))
    np.add.at(value, (drep, drow), deals["revenue"].to_numpy() * share)
    _, direct = visit_costs(forecast, model)
    np.add.at(value, (rep, row), -direct)
    revenue_in: dict[str, FloatArray] = {}
    background_in: dict[str, FloatArray] = {}
    end_month: dict[str, int] = {}
    decision = deals["decision_t"].to_numpy()
    won = (deals["outcome"] == "won").to_numpy()
    won_by = np.zeros((n_k, n_live + 1))
    np.add.at(won_by, (drep, drow), won.astype(float))
    for label in periods:
        t0, t1 = model.calendar.period_bounds(label)
        per = np.zeros((n_k, n_live + 1))
        inside = won & model.calendar.decided_in(decision, t0, t1)  # by the close day
        np.add.at(per, (drep, drow), np.where(inside, deals["revenue"].to_numpy(), 0.0))
        revenue_in[label], background_in[label] = per[:, :n_live], per[:, n_live]
        end_month[label] = int(np.clip(np.searchsorted(grid.bounds, t1, "left") - 1, 0, grid.n - 1))
    return Futures(
        grid=grid,
        pools=tuple(model.pool_ids),
        deals=tuple(live),
        effort=effort[:, :n_live],
        background=effort[:, n_live],
        value=value[:, :n_live],
        background_value=value[:, n_live],
        revenue_in=revenue_in,
        background_revenue_in=background_in,
        end_month=end_month,
        won=won_by[:, :n_live],
    )


@dataclass(frozen=True)
class RobustInput:
    futures: Futures
    pools: Sequence[PoolSpec]
    utilization: float = 0.9
    budget: float | None = None
    targets: dict[str, float] = field(default_factory=dict)  # period -> revenue to reach
    target_probability: float | None = None  # alpha; None: targets hold on average
    keep: frozenset[str] = frozenset()
    require_all: bool = False
    change_every: int = 1

    def __post_init__(self) -> None:
        if [p.id for p in self.pools] != list(self.futures.pools):
            raise ValueError("pools must be the futures' pools, in the same order")
        if self.target_probability is not None and not 0 < self.target_probability <= 1:
            raise ValueError(f"target probability must be in (0, 1], got {self.target_probability}")
        for label in self.targets:
            if label not in self.futures.revenue_in:
                raise ValueError(f"no revenue for period {label!r} in the futures")


@dataclass
class RobustModel:
    prob: pulp.LpProblem
    inp: RobustInput
    y: list[pulp.LpVariable]
    h: dict[tuple[int, int], pulp.LpVariable]
    backlog: dict[tuple[int, int, int], pulp.LpVariable]
    met: dict[tuple[str, int], pulp.LpVariable]  # (period, future) -> target met (binary)
    constant: float


def build_robust(inp: RobustInput) -> RobustModel:
    """The SAA model of the module docstring."""
    fut, grid = inp.futures, inp.futures.grid
    n_k, n_d, n_p, n_m = fut.k, len(fut.deals), len(inp.pools), grid.n
    u = inp.utilization
    prob = pulp.LpProblem("robust_capacity_plan", pulp.LpMaximize)
    y = [prob.add_variable(f"y{d}", cat=pulp.LpBinary) for d in range(n_d)]
    for d, deal in enumerate(fut.deals):
        if deal in inp.keep or inp.require_all:
            y[d].lowBound = 1
    h: dict[tuple[int, int], pulp.LpVariable] = {}
    for p, pool in enumerate(inp.pools):
        for m in range(n_m):
            hi = int(pool.upper[m]) if np.isfinite(pool.upper[m]) else None
            h[p, m] = prob.add_variable(f"h{p}_{m}", int(pool.lower[m]), hi, cat=pulp.LpInteger)
    _, _, change_terms = change_variables(prob, inp.pools, h, n_m, inp.change_every)

    rate = np.array([pl.cost_per_day for pl in inp.pools])
    external = np.array([pl.external for pl in inp.pools], bool)
    mean_effort = fut.effort.mean(axis=0)  # (D, P, M)
    ext_cost = mean_effort.sum(axis=2)[:, external] @ rate[external] if n_d else np.zeros(0)
    bg_ext = float(fut.background.mean(axis=0)[external].sum(axis=1) @ rate[external])
    total_work = fut.effort.sum(axis=(0, 1, 3)) + fut.background.sum(axis=(0, 2))  # (P,)
    total_value = float(fut.value.sum() + fut.background_value.sum())
    mu = np.where(total_work > _EPS, max(total_value, 0.0) / np.maximum(total_work, _EPS), 0.0)

    backlog: dict[tuple[int, int, int], pulp.LpVariable] = {}
    loss_terms: list[tuple[pulp.LpVariable, float]] = []
    for k in range(n_k):
        for p in range(n_p):
            for m in range(n_m):
                b = backlog[k, p, m] = prob.add_variable(f"b{k}_{p}_{m}", 0)
                pairs = [(b, 1.0), (h[p, m], u * float(grid.days[m]))]
                if m > 0:
                    pairs.append((backlog[k, p, m - 1], -1.0))
                rows = np.flatnonzero(fut.effort[k, :, p, m] > _EPS)
                pairs += [(y[d], -float(fut.effort[k, d, p, m])) for d in rows.tolist()]
                prob.addConstraint(_ge(pairs, float(fut.background[k, p, m])))
        if n_m and np.any(mu > 0):
            loss = prob.add_variable(f"loss{k}", 0)
            for p in np.flatnonzero(mu > 0).tolist():
                prob.addConstraint(_ge([(loss, 1.0), (backlog[k, p, n_m - 1], -mu[p])], 0.0))
            loss_terms.append((loss, -1.0 / n_k))

    met: dict[tuple[str, int], pulp.LpVariable] = {}
    for label, target in inp.targets.items():
        rev, bg = fut.revenue_in[label], fut.background_revenue_in[label]
        end = fut.end_month[label]
        due = fut.effort[:, :, :, : end + 1].sum(axis=(0, 1, 3))
        due += fut.background[:, :, : end + 1].sum(axis=(0, 2))
        rho = np.where(due > _EPS, float(rev.sum() + bg.sum()) / np.maximum(due, _EPS), 0.0)
        if inp.target_probability is None:  # on average over the futures
            pairs = [(y[d], float(rev[:, d].mean())) for d in range(n_d) if rev[:, d].any()]
            pairs += [
                (backlog[k, p, end], -float(rho[p]) / n_k)
                for k in range(n_k)
                for p in range(n_p)
                if rho[p] > 0
            ]
            prob.addConstraint(_ge(pairs, target - float(bg.mean())))
            continue
        for k in range(n_k):
            w = met[label, k] = prob.add_variable(f"w_{len(met)}", cat=pulp.LpBinary)
            work_due = fut.effort[k, :, :, : end + 1].sum(axis=(0, 2)) + fut.background[
                k, :, : end + 1
            ].sum(axis=1)
            for p in np.flatnonzero(rho > 0).tolist():
                big = target + float(rho[p] * work_due[p])
                pairs = [(y[d], float(rev[k, d])) for d in range(n_d) if rev[k, d] > 0]
                pairs += [(backlog[k, p, end], -float(rho[p])), (w, -big)]
                prob.addConstraint(_ge(pairs, target - big - float(bg[k])))
            if not np.any(rho > 0):  # no work: the target is met or not by the deals alone
                pairs = [(y[d], float(rev[k, d])) for d in range(n_d) if rev[k, d] > 0]
                prob.addConstraint(_ge([*pairs, (w, -target)], -float(bg[k])))
        need = math.ceil(inp.target_probability * n_k - 1e-9)
        prob.addConstraint(_ge([(met[label, k], 1.0) for k in range(n_k)], float(need)))

    # keep when in doubt (as capacity.py): one standard error of the futures' mean value
    doubt = fut.value.std(axis=0, ddof=1) / math.sqrt(n_k) if n_k > 1 else np.zeros(n_d)
    objective = [(y[d], float(fut.value[:, d].mean() - ext_cost[d] + doubt[d])) for d in range(n_d)]
    for p, pool in enumerate(inp.pools):
        if pool.by_headcount:
            objective += [(h[p, m], -pool.cost_per_day * float(grid.days[m])) for m in range(n_m)]
    objective += change_terms + loss_terms
    if inp.budget is not None:
        spend = [
            (h[p, m], pool.cost_per_day * float(grid.days[m]))
            for p, pool in enumerate(inp.pools)
            if pool.by_headcount
            for m in range(n_m)
        ]
        spend += [(y[d], float(ext_cost[d])) for d in range(n_d) if ext_cost[d] > 0]
        prob.addConstraint(_le(spend, inp.budget - bg_ext))
    prob.setObjective(pulp.LpAffineExpression(objective))
    constant = float(fut.background_value.mean()) - bg_ext
    return RobustModel(prob, inp, y, h, backlog, met, constant)


def _ge(pairs: list[tuple[pulp.LpVariable, float]], rhs: float) -> pulp.LpConstraint:
    return pulp.LpConstraint(pulp.LpAffineExpression(pairs), pulp.LpConstraintGE, rhs=rhs)


def _le(pairs: list[tuple[pulp.LpVariable, float]], rhs: float) -> pulp.LpConstraint:
    return pulp.LpConstraint(pulp.LpAffineExpression(pairs), pulp.LpConstraintLE, rhs=rhs)
