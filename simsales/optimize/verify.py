"""Check a plan by simulating it: the plan's overlay against the base, paired (same seed).

The optimizer works with expected demand; the simulation puts back what averages hide (deals
bunching up and queueing, risks, rework). Base and plan run with the same seed, so each
replication meets the same luck in both and the per-replication differences are sharp (common
random numbers). Each metric gets base, plan ("variant"), the paired difference and its 95%
interval, and whether the interval excludes zero.

Also checked from the plan run's records: no stage ever started with more people held in a pool
than the pool had at that moment (``over_capacity``), and the planned monthly utilization.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from simsales.engine.runner import simulate
from simsales.optimize.accounting import per_replication
from simsales.optimize.capacity import base_capacity
from simsales.optimize.demand import held_per_visit, month_grid
from simsales.results.forecast import Forecast
from simsales.results.stats import mean_interval
from simsales.results.summary import period_revenue
from simsales.scenario.load import with_overlay
from simsales.scenario.schema import Scenario

__all__ = ["Verification", "over_capacity", "paired", "verify"]

FloatArray = npt.NDArray[np.float64]


@dataclass
class Verification:
    replications: int
    seed: int
    deltas: list[dict[str, Any]]
    over_capacity: dict[str, int]  # pool -> stage starts above the pool's capacity (want 0)
    utilization: dict[str, list[float | None]]  # pool -> planned months' busy / capacity (plan)
    margin_not_worse: bool
    explanation: str | None = None
    notes: list[str] = field(default_factory=list)

    def delta(self, metric: str) -> dict[str, Any]:
        for row in self.deltas:
            if row["metric"] == metric:
                return row
        raise KeyError(metric)

    def to_json(self) -> dict[str, Any]:
        return {
            "replications": self.replications,
            "seed": self.seed,
            "deltas": self.deltas,
            "over_capacity": self.over_capacity,
            "utilization": self.utilization,
            "margin_not_worse": self.margin_not_worse,
            "explanation": self.explanation,
            "notes": self.notes,
        }


def paired(metric: str, base: npt.ArrayLike, plan: npt.ArrayLike) -> dict[str, Any]:
    """Base and plan means and their paired difference with a 95% interval."""
    b = np.asarray(base, dtype=np.float64)
    v = np.asarray(plan, dtype=np.float64)
    diff, lo, hi = mean_interval(v - b)
    significant = bool(not math.isnan(lo) and (lo > 0 or hi < 0))
    return {
        "metric": metric,
        "base": _f(float(b.mean())),
        "variant": _f(float(v.mean())),
        "difference": _f(diff),
        "ci_low": _f(lo),
        "ci_high": _f(hi),
        "significant": significant,
    }


def _f(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else x


def verify(
    scenario: Scenario,
    overlay: dict[str, Any],
    replications: int,
    seed: int,
    base: Forecast | None = None,
) -> Verification:
    """Simulate ``scenario`` with and without ``overlay`` (same seed) and compare them."""
    planned = with_overlay(scenario, overlay, name="optimizer plan") if overlay else scenario
    if base is None or base.replications != replications or int(base.provenance["seed"]) != seed:
        base = simulate(scenario, replications, seed, progress=False, precision=None)
    plan = simulate(planned, replications, seed, progress=False, precision=None)
    external = [p.external for p in scenario.resources.values()]
    b, v = per_replication(base, external), per_replication(plan, external)
    rows = [
        paired("margin", b["margin"], v["margin"]),
        paired("revenue", b["revenue"], v["revenue"]),
        paired("won_deals", b["won_deals"], v["won_deals"]),
        paired("staff_cost", b["staff"], v["staff"]),
        paired("mitigation_cost", b["mitigation"], v["mitigation"]),
        paired("wait_days_per_live_deal", b["live_wait_days"], v["live_wait_days"]),
    ]
    model = plan.model
    assert model is not None and base.model is not None
    for label, t0, t1, target in model.targets:
        rb, rv = period_revenue(base, t0, t1), period_revenue(plan, t0, t1)
        rows.append(paired(f"revenue:{label}", rb, rv))
        rows.append(paired(f"target_probability:{label}", rb >= target, rv >= target))
    for pool in model.pool_ids:
        rows.append(paired(f"wait_days:{pool}", _pool_col(base, pool, "wait_days"),
                           _pool_col(plan, pool, "wait_days")))
        rows.append(paired(f"utilization:{pool}", _pool_col(base, pool, "utilization"),
                           _pool_col(plan, pool, "utilization")))
    margin = rows[0]
    not_worse = margin["difference"] is not None and margin["difference"] >= 0
    verification = Verification(
        replications=replications,
        seed=seed,
        deltas=rows,
        over_capacity=over_capacity(plan),
        utilization=monthly_utilization(plan),
        margin_not_worse=not_worse,
    )
    if not not_worse:
        verification.explanation = _why_not(rows, scenario.currency)
    return verification


def _pool_col(forecast: Forecast, pool: str, column: str) -> FloatArray:
    pools = forecast.pools
    return pools.loc[pools["pool"] == pool, column].to_numpy(dtype=np.float64)


def _why_not(rows: list[dict[str, Any]], currency: str) -> str:
    by = {r["metric"]: r for r in rows}
    m, w, s, rev = by["margin"], by["wait_days_per_live_deal"], by["staff_cost"], by["revenue"]
    parts = [
        f"The simulated expected margin of the plan is below the base's by "
        f"{-(m['difference'] or 0):,.0f} {currency} (95% interval of the paired difference "
        f"{_money(m['ci_low'])} to {_money(m['ci_high'])})"
        + ("" if m["significant"] else ", a difference not distinguishable from zero")
        + "."
    ]
    parts.append(
        f"The optimizer plans expected work per month; in the simulation work bunches up and "
        f"deals queue: the mean wait per live deal goes from {w['base']:.1f} to "
        f"{w['variant']:.1f} days, revenue changes by {_money(rev['difference'])} and staff "
        f"cost by {_money(s['difference'])} {currency}."
    )
    parts.append("Plan with a lower --utilization or more slip, or keep the base staffing.")
    return " ".join(parts)


def _money(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.0f}"


def over_capacity(forecast: Forecast) -> dict[str, int]:
    """Per pool: how many stage starts found more people held than the pool had (want 0).

    Sweeps each replication's visits in time order (releases before starts at the same time)
    and compares the people held just after each start with the capacity in the capacity log
    at that moment (the larger of the values just before and at it, since a change and a start
    at the same instant may come in either order). A capacity drop under busy people (a
    resource risk) does not count: people finish their stage, only new starts must fit.
    """
    model = forecast.model
    assert model is not None
    held, _ = held_per_visit(forecast, model)
    v = forecast.visits
    rep = v["replication"].to_numpy(np.int64)
    start = v["start_t"].to_numpy()
    stop = np.nan_to_num(v["exit_t"].to_numpy(), nan=model.horizon_t + 1.0)
    span = model.horizon_t + 10.0
    cap = forecast.capacity
    out = {}
    for p, pool in enumerate(model.pool_ids):
        use = held[:, p] > 0
        n = int(use.sum())
        if n == 0:
            out[pool] = 0
            continue
        r = np.concatenate([rep[use], rep[use]]).astype(np.float64)
        t = np.concatenate([start[use], stop[use]])
        delta = np.concatenate([held[use, p], -held[use, p]])
        is_start = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
        order = np.lexsort((is_start, t, r))  # by replication, time, releases first
        level = np.cumsum(delta[order])
        starts = is_start[order]
        key = r[order][starts] * span + t[order][starts]
        c = cap[cap["pool"] == pool]
        ckey = c["replication"].to_numpy(np.float64) * span + c["t"].to_numpy()
        corder = np.argsort(ckey, kind="stable")
        ckey, cval = ckey[corder], c["capacity"].to_numpy()[corder]
        at = np.clip(np.searchsorted(ckey, key, side="right") - 1, 0, None)
        before = np.clip(np.searchsorted(ckey, key, side="left") - 1, 0, None)
        allowed = np.maximum(cval[at], cval[before])
        out[pool] = int(np.sum(level[starts] > allowed + 1e-9))
    return out


def monthly_utilization(forecast: Forecast) -> dict[str, list[float | None]]:
    """Per pool and month: mean busy person-days / planned capacity person-days."""
    model = forecast.model
    assert model is not None
    grid = month_grid(model)
    held, _ = held_per_visit(forecast, model)
    v = forecast.visits
    start = v["start_t"].to_numpy()
    stop = np.nan_to_num(v["exit_t"].to_numpy(), nan=model.horizon_t)
    lo, hi = grid.bounds[:-1], grid.bounds[1:]
    overlap = np.clip(np.minimum(stop[:, None], hi) - np.maximum(start[:, None], lo), 0.0, None)
    busy = held.T @ overlap / forecast.replications  # (P, M)
    capacity = base_capacity(model, grid) * grid.days
    out: dict[str, list[float | None]] = {}
    for p, pool in enumerate(model.pool_ids):
        out[pool] = [
            round(float(busy[p, m] / capacity[p, m]), 4) if capacity[p, m] > 0 else None
            for m in range(grid.n)
        ]
    return out
