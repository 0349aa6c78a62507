"""Per-replication values of the figures leadership compares (see simsales.results.compare).

Every metric is a column of one value per replication (in replication order), so two runs with
the same seed can be compared replication by replication. Names are ``kind[:what]``:

- ``revenue``, ``revenue:<period>``: won revenue in the horizon / in each report period (the
  quarters and target periods of :func:`simsales.results.summary.report_periods`);
- ``target_probability:<period>``: 1 if the period's won revenue reaches its target, else 0;
- ``won_deals``, ``cost``, ``margin``: as in the summary's portfolio table;
- ``p80_close:portfolio``: per replication, the day by which 80% of the live deals are decided
  (won or lost; a deal open at the horizon counts as deciding after it, +inf); the metric is
  the P80 of that day across replications: "with 80% probability, 80% of today's pipeline is
  decided by then";
- ``p80_close:<deal>``: the P80 across replications of each live deal's close day (as in the
  summary's ``close_p80``);
- ``utilization:<pool>``: mean busy share of the pool's capacity; ``mean_wait_days:<pool>``:
  total days waited / requests granted (a ratio of sums, as in the summary).

Dates are counted as calendar days after an ``origin`` date (the base scenario's start), so runs
whose calendars differ still compare in days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.engine.model import Model
from simsales.results.forecast import Forecast
from simsales.results.summary import per_replication, period_revenue, report_periods

__all__ = ["DATE", "PORTFOLIO_SHARE", "Metric", "replication_metrics"]

FloatArray = npt.NDArray[np.float64]
DATE = "date"  # unit of metrics whose values are calendar days after the origin
PORTFOLIO_SHARE = 0.8  # share of the live deals decided for the portfolio close day
Kind = Literal["mean", "ratio", "quantile"]


@dataclass(frozen=True)
class Metric:
    """One figure, per replication. ``kind`` says how it is aggregated across replications."""

    name: str
    label: str
    unit: str  # a currency code, "probability", "deals", "share", "days" or DATE
    kind: Kind  # mean of values | sum(values) / sum(denominator) | quantile q of values
    values: FloatArray
    denominator: FloatArray | None = None
    q: float = 0.8


def replication_metrics(
    forecast: Forecast,
    targets: Mapping[str, float] | None = None,
    origin: date | None = None,
) -> dict[str, Metric]:
    """Every comparison metric of ``forecast``, in display order.

    ``targets`` (period -> revenue) default to the forecast's own; a comparison passes the
    base's, so that every run is judged against the same plan.
    """
    model = forecast.model
    if model is None:
        raise ValueError("this forecast has no model; load it with Forecast.load")
    origin = origin or model.start
    periods = report_periods(model)
    if targets is None:
        targets = {label: target for label, _, _, target in periods if not math.isnan(target)}
    days = "days" if model.calendar.continuous else "working days"
    cur = model.currency
    reps = per_replication(forecast, model)
    out: list[Metric] = [_mean("revenue", "Revenue, total", cur, reps["revenue"])]
    revenue_of: dict[str, FloatArray] = {}
    for label, t0, t1, _ in periods:
        revenue_of[label] = period_revenue(forecast, t0, t1)
        out.append(_mean(f"revenue:{label}", f"Revenue {label}", cur, revenue_of[label]))
    for label, target in targets.items():
        if label in revenue_of:
            hit = (revenue_of[label] >= target).astype(np.float64)
            out.append(
                _mean(
                    f"target_probability:{label}",
                    f"P({label} revenue ≥ target)",
                    "probability",
                    hit,
                )
            )
    out.append(_mean("won_deals", "Won deals", "deals", reps["won_deals"]))
    out.append(_mean("cost", "Cost", cur, reps["cost"]))
    out.append(_mean("margin", "Margin", cur, reps["margin"]))
    close = _live_close_days(forecast, model, origin)
    if close.shape[1]:
        k = min(close.shape[1] - 1, max(0, math.ceil(PORTFOLIO_SHARE * close.shape[1]) - 1))
        portfolio = np.partition(close.to_numpy(), k, axis=1)[:, k]
        out.append(
            Metric(
                "p80_close:portfolio", "P80: 80% of live deals decided", DATE, "quantile", portfolio
            )
        )
    for deal in close.columns:
        out.append(
            Metric(
                f"p80_close:{deal}", f"P80 close {deal}", DATE, "quantile", close[deal].to_numpy()
            )
        )
    pools = forecast.pools
    first = int(forecast.provenance.get("first_replication", 0))
    index = range(first, first + forecast.replications)
    for pool in model.pool_ids:
        rows = pools[pools["pool"] == pool].set_index("replication").reindex(index)
        out.append(
            _mean(f"utilization:{pool}", f"Utilization {pool}", "share", rows["utilization"])
        )
        out.append(
            Metric(
                f"mean_wait_days:{pool}",
                f"Mean wait {pool}",
                days,
                "ratio",
                rows["wait_days"].to_numpy(np.float64),
                rows["requests"].to_numpy(np.float64),
            )
        )
    return {m.name: m for m in out}


def _mean(name: str, label: str, unit: str, values: pd.Series | FloatArray) -> Metric:
    return Metric(name, label, unit, "mean", np.asarray(values, dtype=np.float64))


def _live_close_days(forecast: Forecast, model: Model, origin: date) -> pd.DataFrame:
    """Replication x live deal: calendar days after ``origin`` of the decision (+inf if open)."""
    deals = forecast.deals
    live = deals[deals["live"]]
    offset = (live["decision_date"] - pd.Timestamp(origin)).dt.days.astype(np.float64)
    days = offset.where(live["outcome"] != "open", np.inf)
    table = pd.DataFrame(
        {
            "replication": live["replication"].to_numpy(),
            "deal": live["deal"].astype(str),
            "days": days.to_numpy(),
        }
    ).pivot(index="replication", columns="deal", values="days")
    first = int(forecast.provenance.get("first_replication", 0))
    order = [d for d in model.deal_ids if d in table.columns]
    return table.reindex(index=range(first, first + forecast.replications), columns=order)
