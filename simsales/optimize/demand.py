"""Demand for people, per deal, pool and month, measured from a Forecast (not guessed).

A stage visit holds ``held[stage, pool]`` people from its start until its exit (or the horizon),
so a deal's demand for a pool in a month is the overlap of its visits with the month times the
people held, summed and averaged over replications. The average already weighs each stage by the
chance of reaching it and places it at its simulated time.

Which forecast? The scenario's own run has queueing in it: people are never busier than the
pools allow, so its demand can never call for a hire. :func:`forecast_demand` therefore
simulates the scenario with every pool unconstrained (no waits): the work the deals would ask
for if nobody waited. The optimizer decides how much of it to staff; the verification run then
puts the real queueing back.

Units: person-days (working days of the calendar); money in the scenario's currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.engine.model import Model
from simsales.engine.options import RunOptions
from simsales.results.forecast import Forecast
from simsales.results.simulation import simulate_scenario
from simsales.scenario.load import with_overlay
from simsales.scenario.schema import Scenario

__all__ = [
    "UNCONSTRAINED_CAPACITY",
    "DealRows",
    "Demand",
    "MonthGrid",
    "deal_rows",
    "demand_from_forecast",
    "forecast_demand",
    "held_per_visit",
    "month_grid",
    "unconstrained",
    "visit_costs",
]

FloatArray = npt.NDArray[np.float64]
UNCONSTRAINED_CAPACITY = 10_000  # people per pool: more than any scenario can hold at once


@dataclass(frozen=True)
class MonthGrid:
    """Calendar months of the horizon in model time: month m is ``[bounds[m], bounds[m+1])``."""

    labels: tuple[str, ...]  # "2027-03"
    firsts: tuple[date, ...]  # first calendar day of each month
    bounds: FloatArray  # (M + 1,), clipped to [0, horizon]
    days: FloatArray  # (M,) working days of each month inside [start, horizon]

    @property
    def n(self) -> int:
        return len(self.labels)


def month_grid(model: Model) -> MonthGrid:
    start, horizon = model.start, model.horizon
    n = (horizon.year - start.year) * 12 + horizon.month - start.month + 1
    bounds = np.clip(model.calendar.month_starts(n + 1), 0.0, model.horizon_t)
    firsts = []
    year, month = start.year, start.month
    for _ in range(n):
        firsts.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return MonthGrid(
        labels=tuple(f"{d.year:04d}-{d.month:02d}" for d in firsts),
        firsts=tuple(firsts),
        bounds=bounds,
        days=np.diff(bounds),
    )


@dataclass(frozen=True)
class Demand:
    """Expected demand and value of the live deals, plus the arrivals as fixed background.

    Live deals are the decisions (pursue or drop); new arrivals cannot be dropped one by one in
    a scenario, so their demand and value are a fixed background.
    """

    grid: MonthGrid
    pools: tuple[str, ...]
    deals: tuple[str, ...]  # live deals, in scenario order
    effort: FloatArray  # (D, P, M) expected person-days
    background: FloatArray  # (P, M) expected person-days of arrivals
    value: FloatArray  # (D,) expected gross margin (revenue x margin share) - direct stage costs
    background_value: float
    revenue_in: dict[str, FloatArray] = field(default_factory=dict)  # period -> (D,)
    background_revenue_in: dict[str, float] = field(default_factory=dict)
    win_probability: FloatArray = field(default_factory=lambda: np.zeros(0))  # (D,)
    replications: int = 0
    value_se: FloatArray = field(default_factory=lambda: np.zeros(0))  # (D,) MC standard error

    def __post_init__(self) -> None:
        d, p, m = len(self.deals), len(self.pools), self.grid.n
        if self.effort.shape != (d, p, m):
            raise ValueError(f"effort must have shape {(d, p, m)}, got {self.effort.shape}")
        if self.background.shape != (p, m):
            raise ValueError(f"background must have shape {(p, m)}, got {self.background.shape}")
        if self.value.shape != (d,):
            raise ValueError(f"value must have shape {(d,)}, got {self.value.shape}")
        if np.any(self.effort < 0) or np.any(self.background < 0):
            raise ValueError("effort and background must be >= 0 person-days")


def unconstrained(scenario: Scenario) -> Scenario:
    """The scenario with every pool large enough that no deal ever waits."""
    overlay: dict[str, Any] = {
        "resources": {
            p: {"capacity": UNCONSTRAINED_CAPACITY, "capacity_changes": []}
            for p in scenario.resources
        }
    }
    return with_overlay(scenario, overlay, name="optimizer: unconstrained pools")


def forecast_demand(scenario: Scenario, replications: int, seed: int) -> Forecast:
    """Simulate the scenario with unconstrained pools (see the module docstring)."""
    return simulate_scenario(
        unconstrained(scenario), RunOptions(replications, seed), precision=None
    )


def held_per_visit(forecast: Forecast, model: Model) -> tuple[FloatArray, pd.Series]:
    """(visits x pools) people held by each visit, and each visit's deal type code."""
    types = forecast.deals.drop_duplicates("deal").set_index("deal")["type"].cat.codes
    visits = forecast.visits
    type_code = types.reindex(visits["deal"].astype(str)).to_numpy()
    held = np.stack([t.held for t in model.types])[type_code, visits["stage"].cat.codes.to_numpy()]
    return held, type_code


def visit_costs(forecast: Forecast, model: Model) -> tuple[FloatArray, FloatArray]:
    """Per visit: (people cost at the pools' day rates, direct stage cost), as the engine counts."""
    held, type_code = held_per_visit(forecast, model)
    v = forecast.visits
    exit_t = np.nan_to_num(v["exit_t"].to_numpy(), nan=model.horizon_t)
    people = (exit_t - v["start_t"].to_numpy()) * (held @ model.cost_per_day)
    stage_cost = np.stack([t.stage_cost for t in model.types])[
        type_code, v["stage"].cat.codes.to_numpy()
    ]
    direct = np.where(np.isnan(v["exit_t"].to_numpy()), 0.0, stage_cost)
    return people, direct


@dataclass(frozen=True)
class DealRows:
    """Where each visit and each deal row of a forecast goes: live deals by their index in the
    model, every arrival into one extra row (``n_live``); shared by the mean demand and the
    per-future demand of the robust plan, so both measure it alike."""

    visit: npt.NDArray[np.int64]  # row of each visit
    deal: npt.NDArray[np.int64]  # row of each deal record
    person_days: FloatArray  # (visit, pool, month): people held x days inside the month
    margin_share: FloatArray  # per deal record: the share of its value that is margin


def deal_rows(forecast: Forecast, model: Model, grid: MonthGrid) -> DealRows:
    index = {d: i for i, d in enumerate(model.deal_ids)}
    n_live = len(index)
    v = forecast.visits
    held, _ = held_per_visit(forecast, model)
    start = v["start_t"].to_numpy()
    stop = np.nan_to_num(v["exit_t"].to_numpy(), nan=model.horizon_t)
    lo, hi = grid.bounds[:-1], grid.bounds[1:]
    overlap = np.clip(np.minimum(stop[:, None], hi) - np.maximum(start[:, None], lo), 0.0, None)
    deals = forecast.deals
    return DealRows(
        visit=v["deal"].astype(str).map(index).fillna(n_live).to_numpy(np.int64),
        deal=deals["deal"].astype(str).map(index).fillna(n_live).to_numpy(np.int64),
        person_days=held[:, :, None] * overlap[:, None, :],
        margin_share=np.array([t.margin for t in model.types])[deals["type"].cat.codes.to_numpy()],
    )


def demand_from_forecast(forecast: Forecast, periods: tuple[str, ...] = ()) -> Demand:
    """Expected person-days per live deal, pool and month, and each deal's expected value.

    ``periods`` (labels such as "2027Q1") get each deal's expected revenue won inside them, for
    revenue floors.
    """
    model = forecast.model
    if model is None:
        raise ValueError("this forecast has no model; load it with Forecast.load")
    grid = month_grid(model)
    n_reps = forecast.replications
    live = list(model.deal_ids)
    n_live, n_pools = len(live), len(model.pool_ids)
    v = forecast.visits
    rows = deal_rows(forecast, model, grid)
    row, drow, share = rows.visit, rows.deal, rows.margin_share
    effort = np.zeros((n_live + 1, n_pools, grid.n))
    np.add.at(effort, row, rows.person_days)
    effort /= n_reps

    deals = forecast.deals
    _, direct = visit_costs(forecast, model)
    value = np.bincount(drow, deals["revenue"].to_numpy() * share, minlength=n_live + 1).astype(
        np.float64
    )
    value -= np.bincount(row, direct, minlength=n_live + 1)
    value /= n_reps
    # Monte Carlo standard error of each live deal's expected value (per-replication values)
    first = int(forecast.provenance.get("first_replication", 0))
    per_rep = np.zeros((n_reps, n_live + 1))
    np.add.at(
        per_rep,
        (deals["replication"].to_numpy(np.int64) - first, drow),
        deals["revenue"].to_numpy() * share,
    )
    np.add.at(per_rep, (v["replication"].to_numpy(np.int64) - first, row), -direct)
    value_se = per_rep[:, :n_live].std(axis=0, ddof=1) / np.sqrt(n_reps) if n_reps > 1 else None
    won = np.bincount(drow, (deals["outcome"] == "won").to_numpy(float), minlength=n_live + 1)
    revenue_in: dict[str, FloatArray] = {}
    background_in: dict[str, float] = {}
    decision = deals["decision_t"].to_numpy()
    for label in periods:
        t0, t1 = model.calendar.period_bounds(label)
        inside = (deals["outcome"] == "won").to_numpy() & model.calendar.decided_in(
            decision, t0, t1
        )
        per = (
            np.bincount(
                drow, np.where(inside, deals["revenue"].to_numpy(), 0.0), minlength=n_live + 1
            )
            / n_reps
        )
        revenue_in[label] = per[:n_live]
        background_in[label] = float(per[n_live])
    return Demand(
        grid=grid,
        pools=tuple(model.pool_ids),
        deals=tuple(live),
        effort=effort[:n_live],
        background=effort[n_live],
        value=value[:n_live],
        background_value=float(value[n_live]),
        revenue_in=revenue_in,
        background_revenue_in=background_in,
        win_probability=won[:n_live] / n_reps,
        replications=n_reps,
        value_se=np.zeros(n_live) if value_se is None else value_se,
    )
