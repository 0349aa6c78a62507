"""Where the time goes: pool utilization and queues per week, waiting per stage and per pool,
and the bottleneck ranking (which pool, in which weeks, costs the most deal-days of waiting).

Everything is recomputed from the raw tables (see :mod:`simsales.results.records`): a stage
visit holds the people its stage needs from ``start_t`` to ``exit_t`` (the horizon if still
running) and queues for them from ``ready_t`` to ``start_t``; capacity comes from the capacity
log. Weeks are calendar weeks (Monday to Sunday) cut to [start, horizon]; a week's length is its
working days, so a week of holidays has no capacity and no utilization.

Attribution of waiting (the ranking): a deal queues until *all* the pools of its stage have
the people it needs. Each wait is shared among those pools in proportion to the time each of
them was short (free people fewer than needed) during the wait, and spread over the weeks it
spans in proportion to its days in each. A wait during which no pool was short (only possible
at a single instant) is shared equally. Deals lost while queued (a global risk that loses them
outright) leave no record of that wait and are not counted.

All per-week and per-pool figures are means per replication.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.engine.model import Model
from simsales.results.records import Stays, codes, model_of, replication_index, stays
from simsales.results.stats import mean_interval, ratio_interval

if TYPE_CHECKING:  # the Forecast asks for its bottlenecks: a type here, not an import
    from simsales.results.forecast import Forecast

__all__ = ["Bottlenecks", "analyze_bottlenecks", "overlap_sums", "week_bounds"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_WEEKLY = [
    "pool", "week", "week_start", "t0", "t1", "capacity_days", "busy_days", "utilization",
    "queue_length", "wait_days",
]  # fmt: skip
_RANKING = [
    "pool", "wait_days", "wait_days_low", "wait_days_high", "share", "worst_weeks",
    "worst_week_wait_days", "utilization", "peak_utilization",
]  # fmt: skip
_POOLS = [
    "pool", "requests", "mean_wait_days", "mean_wait_days_low", "mean_wait_days_high",
    "queue_days", "mean_queue_length", "wait_days", "wait_days_low", "wait_days_high",
]  # fmt: skip
_TOP_WEEKS = 3  # worst weeks named per pool in the ranking
_HOTSPOTS = 10  # (pool, week) pairs in the hotspot table


@dataclass
class Bottlenecks:
    """Tables of :func:`analyze_bottlenecks` (means per replication unless said otherwise)."""

    # pool x week: capacity_days, busy_days, utilization, queue_length, wait_days
    weekly: pd.DataFrame
    ranking: pd.DataFrame  # one row per pool, worst first: attributed wait_days and worst weeks
    hotspots: pd.DataFrame  # the (pool, week) pairs with the most attributed waiting
    stages: pd.DataFrame  # one row per stage: visits, waits, wait per visit
    pools: pd.DataFrame  # one row per pool: requests, wait per request, queue, attributed wait


def week_bounds(model: Model) -> tuple[list[date], FloatArray]:
    """Mondays of the calendar weeks touching [start, horizon] and their model-time bounds.

    Week ``k`` spans model time ``[bounds[k], bounds[k + 1])``; the first starts at 0 and the
    last ends at the horizon.
    """
    first = model.start - timedelta(days=model.start.weekday())
    mondays = [first + timedelta(weeks=k) for k in range((model.horizon - first).days // 7 + 1)]
    inner = model.calendar.to_model_time(np.array(mondays[1:], dtype="datetime64[D]"))
    bounds = np.clip(np.concatenate([[0.0], inner, [model.horizon_t]]), 0.0, model.horizon_t)
    return mondays, bounds


def overlap_sums(a: FloatArray, b: FloatArray, w: FloatArray, bounds: FloatArray) -> FloatArray:
    """For each bin ``[bounds[k], bounds[k+1])``: sum over i of ``w[i] * |[a[i], b[i]) ∩ bin|``.

    Exact, in O(n log n): with ``S(x; c) = sum w * min(x, c)``, the weighted length of the
    intervals left of ``x`` is ``S(x; b) - S(x; a)``; a bin's share is its difference.
    """
    b = np.maximum(a, b)

    def s(x: FloatArray, c: FloatArray) -> FloatArray:
        order = np.argsort(c, kind="stable")
        cs, ws = c[order], w[order]
        cum_wc = np.concatenate([[0.0], np.cumsum(ws * cs)])
        cum_w = np.concatenate([[0.0], np.cumsum(ws)])
        k = np.searchsorted(cs, x, side="left")  # how many c < x
        return np.asarray(cum_wc[k] + x * (cum_w[-1] - cum_w[k]), dtype=np.float64)

    return np.diff(s(bounds, b) - s(bounds, a))


def analyze_bottlenecks(forecast: Forecast) -> Bottlenecks:
    """Utilization, queues and waiting per pool, week and stage (see the module docstring)."""
    model = model_of(forecast)
    n_reps = forecast.replications
    st = stays(forecast)
    mondays, bounds = week_bounds(model)
    n_pools = len(model.pool_ids)
    span = model.horizon_t + 1.0  # replications laid end to end on one time line
    offset = st.rep * span

    waiting = st.wait > 1e-9
    w_idx = np.flatnonzero(waiting)
    short = _short_times(forecast, model, st, w_idx, span)  # (wait, pool)
    needed = st.people[w_idx] > 0
    totals = short.sum(axis=1, keepdims=True)
    share = np.where(
        totals > 1e-12,
        short / np.where(totals > 1e-12, totals, 1.0),
        needed / np.maximum(needed.sum(axis=1, keepdims=True), 1),
    )
    wait_len = st.wait[w_idx]

    # Per pool and week: everything spread over the weeks in one pass per quantity.
    n_weeks = len(bounds) - 1
    # each replication's week bounds, then one bin for the gap up to the next replication
    all_bounds = np.append(
        (bounds[None, :] + (np.arange(n_reps) * span)[:, None]).ravel(), n_reps * span
    )

    def weekly_sum(a: FloatArray, b: FloatArray, w: FloatArray) -> FloatArray:
        # bins of every replication's weeks; the gaps between replications are dropped
        per_bin = overlap_sums(a, b, w, all_bounds).reshape(n_reps, n_weeks + 1)[:, :n_weeks]
        return np.asarray(per_bin.sum(axis=0) / n_reps, dtype=np.float64)

    caps = _capacity_intervals(forecast, model, span)
    rows = []
    week_len = np.diff(bounds)
    for p, pool in enumerate(model.pool_ids):
        busy = weekly_sum(offset + st.start, offset + st.end, st.people[:, p])
        cap_a, cap_b, cap_w = caps[p]
        capacity = weekly_sum(cap_a, cap_b, cap_w)
        q_a, q_b = offset[w_idx] + st.ready[w_idx], offset[w_idx] + st.start[w_idx]
        queued = weekly_sum(q_a, q_b, needed[:, p].astype(np.float64))
        blamed = weekly_sum(q_a, q_b, share[:, p])
        for k in range(n_weeks):
            rows.append(
                {
                    "pool": pool,
                    "week": _iso_week(mondays[k]),
                    "week_start": mondays[k],
                    "t0": bounds[k],
                    "t1": bounds[k + 1],
                    "capacity_days": capacity[k],
                    "busy_days": busy[k],
                    "utilization": busy[k] / capacity[k] if capacity[k] > 1e-9 else np.nan,
                    "queue_length": queued[k] / week_len[k] if week_len[k] > 0 else np.nan,
                    "wait_days": blamed[k],
                }
            )
    weekly = pd.DataFrame(rows, columns=_WEEKLY).astype({c: float for c in _WEEKLY[3:]})

    per_rep_blame = np.zeros((n_reps, n_pools))
    np.add.at(per_rep_blame, st.rep[w_idx], share * wait_len[:, None])
    per_rep_queue = np.zeros((n_reps, n_pools))
    np.add.at(per_rep_queue, st.rep[w_idx], needed * wait_len[:, None])
    ranking = _ranking(model, weekly, per_rep_blame)
    hotspots = (
        weekly[weekly["wait_days"] > 0]
        .nlargest(_HOTSPOTS, "wait_days")[
            ["pool", "week", "week_start", "wait_days", "utilization", "queue_length"]
        ]
        .reset_index(drop=True)
    )
    return Bottlenecks(
        weekly=weekly,
        ranking=ranking,
        hotspots=hotspots,
        stages=_stages(model, st, n_reps),
        pools=_pools(forecast, model, weekly, per_rep_blame, per_rep_queue),
    )


def _iso_week(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _capacity_intervals(
    forecast: Forecast, model: Model, span: float
) -> list[tuple[FloatArray, FloatArray, FloatArray]]:
    """Per pool: the capacity log as intervals [a, b) of constant capacity w, on the joint line."""
    cap = forecast.capacity
    pool = codes(cap["pool"], list(model.pool_ids))
    rep = replication_index(forecast, cap["replication"])
    t = np.clip(cap["t"].to_numpy(dtype=np.float64), 0.0, model.horizon_t)
    value = cap["capacity"].to_numpy(dtype=np.float64)
    out = []
    for p in range(len(model.pool_ids)):
        sel = np.flatnonzero(pool == p)
        # the log is in time order within a replication: a stable sort by replication keeps it
        sel = sel[np.argsort(rep[sel], kind="stable")]
        r, a, w = rep[sel], t[sel], value[sel]
        nxt = np.append(a[1:], model.horizon_t)
        last = np.append(r[1:] != r[:-1], True)
        b = np.where(last, model.horizon_t, nxt)
        out.append((a + r * span, b + r * span, w))
    return out


def _short_times(
    forecast: Forecast, model: Model, st: Stays, w_idx: IntArray, span: float
) -> FloatArray:
    """For each wait and pool: days during the wait when the pool had fewer free people than
    the stage needs from it (0 for pools the stage does not need)."""
    out = np.zeros((len(w_idx), len(model.pool_ids)))
    if len(w_idx) == 0:
        return out
    offset = st.rep * span
    caps = _capacity_intervals(forecast, model, span)
    for p in range(len(model.pool_ids)):
        people = st.people[:, p]
        hold = np.flatnonzero(people > 0)
        cap_a, _, cap_w = caps[p]
        # capacity as steps: each log entry replaces the previous value (across replications
        # too, since every replication's log starts with its initial capacity at t = 0)
        cap_delta = np.diff(np.concatenate([[0.0], cap_w]))
        times = np.concatenate([cap_a, offset[hold] + st.start[hold], offset[hold] + st.end[hold]])
        delta = np.concatenate([cap_delta, -people[hold], people[hold]])
        order = np.argsort(times, kind="stable")
        times, free = times[order], np.cumsum(delta[order])
        lengths = np.diff(times, append=times[-1])
        needs = people[w_idx]
        for n in np.unique(needs[needs > 0]):
            is_short = (free < n).astype(np.float64)
            cum = np.concatenate([[0.0], np.cumsum(is_short * lengths)])[:-1]
            rows = np.flatnonzero(needs == n)
            a = offset[w_idx[rows]] + st.ready[w_idx[rows]]
            b = offset[w_idx[rows]] + st.start[w_idx[rows]]
            short = _step_integral(times, cum, is_short, b) - _step_integral(
                times, cum, is_short, a
            )
            out[rows, p] = np.maximum(short, 0.0)
    return out


def _step_integral(
    times: FloatArray, cum: FloatArray, value: FloatArray, x: FloatArray
) -> FloatArray:
    """Integral up to ``x`` of the step function that is ``value[k]`` from ``times[k]`` on
    (``cum[k]`` is its integral up to ``times[k]``; 0 before the first step)."""
    k = np.searchsorted(times, x, side="right") - 1
    k0 = np.maximum(k, 0)
    out = cum[k0] + value[k0] * (x - times[k0])
    return np.asarray(np.where(k >= 0, out, 0.0), dtype=np.float64)


def _ranking(model: Model, weekly: pd.DataFrame, per_rep_blame: FloatArray) -> pd.DataFrame:
    total = per_rep_blame.sum(axis=1).mean() if len(per_rep_blame) else 0.0
    rows = []
    for p, pool in enumerate(model.pool_ids):
        mean, lo, hi = mean_interval(per_rep_blame[:, p])
        w = weekly[weekly["pool"] == pool]
        worst = w[w["wait_days"] > 0].nlargest(_TOP_WEEKS, "wait_days")
        busy, capacity = w["busy_days"].sum(), w["capacity_days"].sum()
        rows.append(
            {
                "pool": pool,
                "wait_days": mean,
                "wait_days_low": lo,
                "wait_days_high": hi,
                "share": mean / total if total > 0 else np.nan,
                "worst_weeks": [str(x) for x in worst["week_start"]],
                "worst_week_wait_days": [float(x) for x in worst["wait_days"]],
                "utilization": busy / capacity if capacity > 0 else np.nan,
                "peak_utilization": float(w["utilization"].max()) if len(w) else np.nan,
            }
        )
    out = pd.DataFrame(rows, columns=_RANKING)
    out = out.sort_values("wait_days", ascending=False, kind="stable")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)


def _stages(model: Model, st: Stays, n_reps: int) -> pd.DataFrame:
    rows = []
    wait = st.wait
    for s, stage in enumerate(model.stage_ids):
        sel = st.stage == s
        visits = np.bincount(st.rep[sel], minlength=n_reps).astype(np.float64)
        waits = np.bincount(st.rep[sel], weights=wait[sel], minlength=n_reps)
        waited = np.bincount(st.rep[sel & (wait > 1e-9)], minlength=n_reps).astype(np.float64)
        per_visit, pv_lo, pv_hi = ratio_interval(waits, visits)
        total, lo, hi = mean_interval(waits)
        rows.append(
            {
                "stage": stage,
                "visits": visits.mean() if n_reps else np.nan,
                "waited_share": waited.sum() / visits.sum() if visits.sum() else np.nan,
                "mean_wait_days": per_visit,
                "mean_wait_days_low": pv_lo,
                "mean_wait_days_high": pv_hi,
                "wait_days": total,
                "wait_days_low": lo,
                "wait_days_high": hi,
                "queued_at_horizon": float(np.sum(sel & (st.visit < 0))) / n_reps,
            }
        )
    return pd.DataFrame(rows)


def _pools(
    forecast: Forecast,
    model: Model,
    weekly: pd.DataFrame,
    per_rep_blame: FloatArray,
    per_rep_queue: FloatArray,
) -> pd.DataFrame:
    pools = forecast.pools
    code = codes(pools["pool"], list(model.pool_ids))
    rep = replication_index(forecast, pools["replication"])
    n_reps = forecast.replications
    rows = []
    for p, pool in enumerate(model.pool_ids):
        sel = code == p
        requests = np.zeros(n_reps)
        waited = np.zeros(n_reps)
        requests[rep[sel]] = pools["requests"].to_numpy(dtype=np.float64)[sel]
        waited[rep[sel]] = pools["wait_days"].to_numpy(dtype=np.float64)[sel]
        per_request, pr_lo, pr_hi = ratio_interval(waited, requests)
        blame, lo, hi = mean_interval(per_rep_blame[:, p])
        w = weekly[weekly["pool"] == pool]
        length = (w["t1"] - w["t0"]).sum()
        rows.append(
            {
                "pool": pool,
                "requests": requests.mean(),
                "mean_wait_days": per_request,
                "mean_wait_days_low": pr_lo,
                "mean_wait_days_high": pr_hi,
                "queue_days": per_rep_queue[:, p].mean(),
                "mean_queue_length": (w["queue_length"] * (w["t1"] - w["t0"])).sum() / length
                if length > 0
                else np.nan,
                "wait_days": blame,
                "wait_days_low": lo,
                "wait_days_high": hi,
            }
        )
    return pd.DataFrame(rows, columns=_POOLS)
