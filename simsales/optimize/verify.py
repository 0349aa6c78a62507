"""Check a plan by simulating it: the plan's overlay against the base, paired (same seed).

The optimizer works with expected demand; the simulation puts back what averages hide (deals
bunching up and queueing, risks, rework). Base and plan run with the same seed, so each
replication meets the same luck in both and the per-replication differences are sharp (common
random numbers). The deltas are those of the what-if comparison (simsales.results.compare:
revenue per period, target probabilities, P80 dates, pool utilization and waits, ...) plus the
plan's own accounting, each with base, plan ("variant"), the paired difference and its 95%
interval, and whether the interval excludes zero.

Also checked from the plan run's records: no stage ever started with more people held in a pool
than the pool had at that moment (``over_capacity``), and the planned monthly utilization.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from simsales.engine.options import RunOptions
from simsales.optimize.accounting import per_replication
from simsales.optimize.capacity import base_capacity
from simsales.optimize.demand import held_per_visit, month_grid, visit_costs
from simsales.results.compare import deltas_between
from simsales.results.forecast import Forecast
from simsales.results.metrics import DATE
from simsales.results.paired import paired_mean
from simsales.results.simulation import simulate_scenario
from simsales.results.summary import period_revenue as revenue_in_period
from simsales.scenario.load import with_overlay
from simsales.scenario.schema import Scenario

__all__ = ["Verification", "over_capacity", "paired", "period_revenue", "robust_table", "verify"]

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
    floors: list[dict[str, Any]] = field(default_factory=list)  # revenue floors, simulated
    reconciliation: dict[str, Any] | None = None  # the optimizer's claim vs the simulation

    @property
    def best(self) -> str:
        """``plan`` or ``current``: the better of the two on the simulated plan margin."""
        return "plan" if self.margin_not_worse else "current"

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
            "best": self.best,
            "explanation": self.explanation,
            "floors": self.floors,
            "reconciliation": self.reconciliation,
            "notes": self.notes,
        }


def paired(
    metric: str, label: str, unit: str, base: npt.ArrayLike, plan: npt.ArrayLike
) -> dict[str, Any]:
    """A delta row (the comparison's columns) for a per-replication figure of our own."""
    d = paired_mean(base, plan)
    return {
        "metric": metric,
        "label": label,
        "unit": unit,
        "base": _f(d.base),
        "variant": _f(d.variant),
        "difference": _f(d.difference),
        "ci_low": _f(d.ci_low),
        "ci_high": _f(d.ci_high),
        "significant": d.significant,
        "half_width": _f(d.half_width),
        "unpaired_half_width": _f(d.unpaired_half_width),
    }


def _f(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else float(x)


def _compare_rows(base: Forecast, plan: Forecast, seed: int) -> list[dict[str, Any]]:
    """The comparison module's deltas (revenue per period, targets, P80 dates, pools, ...)."""
    assert base.model is not None
    origin = base.model.start
    table = deltas_between(base, {"plan": plan}, seed)
    rows = []
    for row in table.itertuples(index=False):
        as_value = (lambda v: _as_date(origin, v)) if row.unit == DATE else _f
        rows.append(
            {
                "metric": row.metric,
                "label": row.label,
                "unit": row.unit,
                "base": as_value(row.base),
                "variant": as_value(row.variant),
                "difference": _f(row.difference),
                "ci_low": _f(row.ci_low),
                "ci_high": _f(row.ci_high),
                "significant": bool(row.significant),
                "half_width": _f(row.half_width),
                "unpaired_half_width": _f(row.unpaired_half_width),
            }
        )
    return rows


def _as_date(origin: date, days: float) -> str | None:
    return None if not math.isfinite(days) else (origin + timedelta(days=int(days))).isoformat()


def verify(
    scenario: Scenario,
    overlay: dict[str, Any],
    replications: int,
    seed: int,
    base: Forecast | None = None,
    floors: Mapping[str, float] | None = None,
    mode: str = "capacity",
    change_cost: tuple[float, float] = (0.0, 0.0),
    claimed: float | None = None,
) -> Verification:
    """Simulate ``scenario`` with and without ``overlay`` (same seed) and compare them.

    The deltas are the comparison module's (simsales.results.compare) plus the plan's own
    accounting: ``plan_margin`` pays employees by headcount (the optimizer's objective), where
    the comparison's ``margin`` charges people by the days they are busy (see
    :data:`simsales.optimize.glossary.GLOSSARY`). Each revenue floor is checked on the simulated
    plan: ``met`` when the mean simulated revenue of the period reaches it, with its 95%
    interval (``sure`` when the whole interval does). ``change_cost``: the hiring and release
    money of (base, plan), taken off each side's plan margin. ``claimed``: the optimizer's
    objective, set beside the same figure simulated (``reconciliation``).
    """
    planned = with_overlay(scenario, overlay, name="optimizer plan") if overlay else scenario
    if base is None or base.replications != replications or int(base.provenance["seed"]) != seed:
        base = simulate_scenario(scenario, RunOptions(replications, seed), precision=None)
    plan = simulate_scenario(planned, RunOptions(replications, seed), precision=None)
    external = [p.external for p in scenario.resources.values()]
    b, v = per_replication(base, external), per_replication(plan, external)
    # hiring and release money (base: the scenario's own planned changes) is paid once
    b["margin"] -= change_cost[0]
    v["margin"] -= change_cost[1]
    cur = scenario.currency
    rows = [
        paired("plan_margin", "Margin, employees paid by headcount", cur, b["margin"], v["margin"]),
        paired("gross_margin", "Gross margin of won deals", cur, b["gross"], v["gross"]),
        paired("staff_cost", "Staff cost (headcount, external days)", cur, b["staff"], v["staff"]),
        paired("mitigation_cost", "Mitigation spend", cur, b["mitigation"], v["mitigation"]),
        paired(
            "wait_days_per_live_deal",
            "Mean wait per live deal",
            "days",
            b["live_wait_days"],
            v["live_wait_days"],
        ),
        *_compare_rows(base, plan, seed),
    ]
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
    verification.floors = floor_checks(base, plan, floors or {})
    if claimed is not None:
        verification.reconciliation = reconcile(plan, v, claimed, mode)
    if not not_worse:
        verification.explanation = _why_not(rows, cur, mode)
    return verification


def reconcile(plan: Forecast, per_rep: Any, claimed: float, mode: str) -> dict[str, Any]:
    """The optimizer's objective beside the same figure in the simulation of the plan.

    Capacity mode: the expected plan margin (the simulated one less hiring and release money,
    already in ``per_rep``). Assignment mode: the expected gross margin less direct stage costs
    of the live deals (the assignment's objective), from the plan run's deals and visits.
    """
    if mode == "assignment":
        model = plan.model
        assert model is not None
        deals = plan.deals
        live = deals["live"].to_numpy()
        share = np.array([t.margin for t in model.types])[deals["type"].cat.codes.to_numpy()]
        first = int(plan.provenance.get("first_replication", 0))
        n = plan.replications
        won = np.where(live, deals["revenue"].to_numpy() * share, 0.0)
        gross = np.bincount(deals["replication"].to_numpy() - first, won, minlength=n)
        _, direct = visit_costs(plan, model)
        visit_live = plan.visits["deal"].astype(str).isin(set(model.deal_ids)).to_numpy()
        vrep = plan.visits["replication"].to_numpy() - first
        gross -= np.bincount(vrep, np.where(visit_live, direct, 0.0), minlength=n)
        values, figure = gross, "value of the staffed live deals"
    else:
        values, figure = per_rep["margin"].to_numpy(), "plan margin"
    mean, low, high = _mean_interval(np.asarray(values, dtype=np.float64))
    return {
        "figure": figure,
        "claimed": float(claimed),
        "simulated": mean,
        "simulated_low": low,
        "simulated_high": high,
        "within_interval": bool(low is not None and high is not None and low <= claimed <= high),
    }


def floor_checks(
    base: Forecast, plan: Forecast, floors: Mapping[str, float]
) -> list[dict[str, Any]]:
    """Each revenue floor against the simulated revenue of its period, base and plan."""
    out = []
    for label, floor in floors.items():
        b, v = period_revenue(base, label), period_revenue(plan, label)
        d = paired_mean(b, v)
        half = 1.96 * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else math.nan
        out.append(
            {
                "period": label,
                "floor": float(floor),
                "base": _f(d.base),
                "plan": _f(d.variant),
                "plan_low": _f(d.variant - half),
                "plan_high": _f(d.variant + half),
                "met": bool(d.variant >= floor),
                "sure": bool(d.variant - half >= floor),
                "probability": float(np.mean(v >= floor)),
            }
        )
    return out


def period_revenue(forecast: Forecast, label: str) -> FloatArray:
    """Per replication: revenue won inside the period ``label`` (2027Q1, 2027-03, ...), by the
    summaries' own rule (a deal counts in the period of its close day)."""
    model = forecast.model
    assert model is not None
    t0, t1 = model.calendar.period_bounds(label)
    return np.asarray(revenue_in_period(forecast, t0, t1), dtype=np.float64)


def _pool_col(forecast: Forecast, pool: str, column: str) -> FloatArray:
    pools = forecast.pools
    return pools.loc[pools["pool"] == pool, column].to_numpy(dtype=np.float64)


def _why_not(rows: list[dict[str, Any]], currency: str, mode: str = "capacity") -> str:
    """Say where the margin went: staff cost the deals did not pay back, or lost revenue."""
    by = {r["metric"]: r for r in rows}
    m, w = by["plan_margin"], by["wait_days_per_live_deal"]
    staff = by["staff_cost"]["difference"] or 0.0
    gross = by["gross_margin"]["difference"] or 0.0
    parts = [
        f"The simulated expected margin of the plan is below the base's by "
        f"{-(m['difference'] or 0):,.0f} {currency} (95% interval of the paired difference "
        f"{_money(m['ci_low'])} to {_money(m['ci_high'])})"
        + ("" if m["significant"] else ", a difference not distinguishable from zero")
        + "."
    ]
    if mode == "assignment":
        parts.append(
            f"The gross margin of the won deals changes by {gross:,.0f} {currency} and staff "
            f"cost by {staff:,.0f}: the assignment leaves deals unstaffed (they are dropped) or "
            f"changes the role's pool to the named people's full-time equivalents, and the "
            f"hours it plans are expected hours, while in the simulation work bunches up and "
            f"deals queue (mean wait per live deal {w['base']:.1f} -> {w['variant']:.1f} days). "
            f"Add --allow-split, give people more hours, or keep the current staffing."
        )
    elif staff > 0 and gross < staff:
        parts.append(
            f"The plan adds {staff:,.0f} {currency} of staff cost, but the gross margin of the "
            f"won deals changes by only {gross:,.0f}: in the simulation, deals that wait for "
            f"people mostly still close (mean wait per live deal {w['base']:.1f} -> "
            f"{w['variant']:.1f} days), so working all pursued demand within the slip window "
            f"is worth less than the plan assumes. Allow more --slip-months, or keep the base "
            f"staffing."
        )
    else:
        parts.append(
            f"The gross margin of the won deals changes by {gross:,.0f} {currency} and staff "
            f"cost by {staff:,.0f}: the optimizer plans expected work per month, while in the "
            f"simulation work bunches up and deals queue (mean wait per live deal "
            f"{w['base']:.1f} -> {w['variant']:.1f} days). Plan with a lower --utilization, "
            f"or keep the deals the plan drops."
        )
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


def robust_table(
    scenario: Scenario,
    overlay: dict[str, Any],
    fitted: tuple[int, int],
    fresh: tuple[int, int],
    model_margin: float | None,
    targets: Mapping[str, float],
    model_probability: Mapping[str, float],
    change_cost: float = 0.0,
) -> list[dict[str, Any]]:
    """The optimizer's optimism, measured: what the model promised, what the engine gives on the
    ``fitted`` futures (replications, seed) the plan was fitted to, and on ``fresh`` ones.

    Rows: ``plan_margin`` (mean, 95% t interval) and ``P(target PERIOD)`` for each target (the
    share of futures that reach it, 95% Wilson interval).
    """
    planned = with_overlay(scenario, overlay, name="optimizer plan") if overlay else scenario
    external = [p.external for p in scenario.resources.values()]
    runs = {
        name: simulate_scenario(planned, RunOptions(reps, seed), precision=None)
        for name, (reps, seed) in (("in_sample", fitted), ("out_of_sample", fresh))
    }
    margin_row: dict[str, Any] = {"metric": "plan_margin", "model": _f(model_margin or math.nan)}
    for name, forecast in runs.items():
        values = per_replication(forecast, external)["margin"].to_numpy() - change_cost
        mean, low, high = _mean_interval(values)
        margin_row.update({name: mean, f"{name}_low": low, f"{name}_high": high})
    rows = [margin_row]
    for label, target in targets.items():
        row: dict[str, Any] = {
            "metric": f"P(target {label})",
            "target": float(target),
            "model": model_probability.get(label),
        }
        for name, forecast in runs.items():
            hits = period_revenue(forecast, label) >= target
            low, high = _wilson(int(hits.sum()), len(hits))
            row.update({name: float(hits.mean()), f"{name}_low": low, f"{name}_high": high})
        rows.append(row)
    return rows


def _mean_interval(values: FloatArray) -> tuple[float | None, float | None, float | None]:
    n = len(values)
    if n < 2:
        return _f(float(values.mean()) if n else math.nan), None, None
    mean = float(values.mean())
    half = 1.96 * float(values.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def _wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (sound near 0 and 1)."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
