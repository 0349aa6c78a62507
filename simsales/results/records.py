"""Plain arrays from a Forecast's tables, shared by the analyses (bottlenecks, funnel, ...).

Categorical columns are turned into the model's integer codes by name, so a forecast read back
from Parquet (whose categories may come back in another order) gives the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.engine.model import Model

if TYPE_CHECKING:  # only in annotations: forecast.py calls this module
    from simsales.results.forecast import Forecast

__all__ = [
    "Decided",
    "Stays",
    "Won",
    "codes",
    "decided_between",
    "decision_days",
    "model_of",
    "queued_at_horizon",
    "replication_index",
    "same_buffer",
    "seed_decision_days",
    "stays",
    "won_rows",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_EPS = 1e-9  # float sums of waits: a difference this small is no wait at all


def model_of(forecast: Forecast) -> Model:
    if forecast.model is None:
        raise ValueError("this forecast has no model; load it with Forecast.load")
    return forecast.model


def decided_between(
    forecast: Forecast, t0: float, t1: float, rows: IntArray | None = None
) -> npt.NDArray[np.bool_]:
    """Per row of ``forecast.deals`` (or per row of ``rows`` only): decided inside the period
    ``[t0, t1)`` by the calendar's one day convention
    (:meth:`~simsales.scenario.calendar.WorkCalendar.decided_in`).

    The rows' decision days are computed once per table, not once per period (a summary asks
    for every quarter of the horizon). The cache holds the ``decision_t`` column it was computed
    from: under pandas' copy-on-write, writing into the table then gives it a new buffer, so a
    changed table is computed afresh (and so is one given another model)."""
    day = decision_days(forecast)
    return _between(day if rows is None else day[rows], t0, t1)


def _between(day: FloatArray, t0: float, t1: float) -> npt.NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):  # NaN: not decided
        return np.asarray((day >= t0) & (day < t1), dtype=bool)


def decision_days(forecast: Forecast) -> FloatArray:
    """Each row's decision day (NaN: open), computed once per deals table (see
    :func:`decided_between`)."""
    column = forecast.deals["decision_t"]
    model = model_of(forecast)
    cached = forecast.__dict__.get("_decision_days")
    if cached is None or cached[1] is not model or not same_buffer(cached[0], column):
        cached = (column, model, model.calendar.end_day(column.to_numpy()))
        forecast.__dict__["_decision_days"] = cached
    days: FloatArray = cached[2]
    return days


def seed_decision_days(forecast: Forecast, days: FloatArray) -> None:
    """Hand :func:`decision_days` the days of ``forecast.deals`` already worked out (as
    ``end_day`` of its ``decision_t``) when the table was built."""
    forecast.__dict__["_decision_days"] = (forecast.deals["decision_t"], model_of(forecast), days)


class Decided:
    """Rows' decision days, asked about many periods: a period no row is decided in (most
    quarters after the pipeline is decided) is found by bisection, without a pass over them."""

    def __init__(self, days: FloatArray) -> None:
        self.days = days
        self._sorted = np.sort(days)  # NaN (open) last: never inside a period

    def count(self, t0: float, t1: float) -> int:
        """How many rows are decided inside ``[t0, t1)``."""
        lo, hi = np.searchsorted(self._sorted, [t0, t1], side="left").tolist()
        return max(0, hi - lo)

    def between(self, t0: float, t1: float) -> npt.NDArray[np.bool_]:
        """Per row: decided inside ``[t0, t1)``."""
        if self.count(t0, t1) == 0:
            return np.zeros(len(self.days), bool)
        return _between(self.days, t0, t1)


def _values(column: pd.Series) -> npt.NDArray[Any]:
    """A column's values without a copy (a categorical's codes)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.asarray(column.array.codes)
    return np.asarray(column.to_numpy())


def same_buffer(a: pd.Series, b: pd.Series) -> bool:
    """The same buffer (``a`` is held by a cache: its address is not reused meanwhile)."""
    x, y = _values(a), _values(b)
    return x.shape == y.shape and x.__array_interface__["data"] == y.__array_interface__["data"]


@dataclass
class Won:
    """The won rows of a deals table (ascending) and what the period sums read of them: their
    replication (0-based), revenue (NaN as 0, as a pandas sum skips it) and decision days;
    ``sums``: each period's (t0, t1) revenue per replication, kept once worked out."""

    rows: IntArray
    rep: IntArray
    revenue: FloatArray
    decided: Decided
    in_range: bool  # every rep in 0 .. replications - 1
    sums: dict[tuple[float, float], FloatArray]
    wins: FloatArray | None = None  # how many rows each replication wins, once counted


def won_rows(forecast: Forecast) -> Won:
    """:class:`Won` of ``forecast.deals``, once per table (the summary's periods and every
    roll-up ask), cached on the columns it reads as :func:`decision_days` is."""
    d = forecast.deals
    key = (d["outcome"], d["replication"], d["revenue"], d["decision_t"])
    first = int(forecast.provenance.get("first_replication", 0))
    sizes = (first, forecast.replications)
    model = model_of(forecast)
    cached = forecast.__dict__.get("_won_rows")
    if (
        cached is None
        or cached[1] is not model  # another model: its calendar may give other days
        or cached[2] != sizes
        or not all(same_buffer(a, b) for a, b in zip(cached[0], key, strict=True))
    ):
        rows = np.flatnonzero((d["outcome"] == "won").to_numpy())
        rep = d["replication"].to_numpy()[rows].astype(np.int64) - first
        revenue = d["revenue"].to_numpy(dtype=np.float64)[rows]
        won = Won(
            rows=rows,
            rep=rep,
            revenue=np.where(np.isnan(revenue), 0.0, revenue),
            decided=Decided(decision_days(forecast)[rows]),  # sorted once for every period
            in_range=not len(rep) or bool(rep.min() >= 0 and rep.max() < forecast.replications),
            sums={},
        )
        cached = (key, model, sizes, won)
        forecast.__dict__["_won_rows"] = cached
    out: Won = cached[3]
    return out


def codes(values: pd.Series, categories: tuple[str, ...] | list[str]) -> IntArray:
    """Integer code of each value in ``categories`` (-1 where it is not one of them)."""
    index = pd.Index(list(categories))
    return np.asarray(index.get_indexer(values.astype(str)), dtype=np.int64)


def replication_index(forecast: Forecast, replication: pd.Series) -> IntArray:
    """0-based position of each replication number in this forecast."""
    first = int(forecast.provenance.get("first_replication", 0))
    return replication.to_numpy(dtype=np.int64) - first


@dataclass(frozen=True)
class Stays:
    """One row per stage visit or wait, as arrays: who was where, from when to when.

    ``queue`` is [ready, start): waiting for people; ``held`` is [start, end): holding them
    (``end`` is the horizon for a visit still running). ``people`` is the (row, pool) matrix of
    people the stage holds. Deals still queued at the horizon are included with
    ``start = end = horizon`` and ``visit = -1``.
    """

    rep: IntArray
    deal_row: IntArray  # row in forecast.deals
    type: IntArray
    stage: IntArray
    visit: IntArray
    ready: FloatArray
    start: FloatArray
    end: FloatArray
    exit: FloatArray  # nan: still in the stage at the horizon (or still queued)
    people: FloatArray

    @property
    def wait(self) -> FloatArray:
        return self.start - self.ready

    def __len__(self) -> int:
        return len(self.rep)


def _deal_rows(forecast: Forecast, replication: pd.Series, deal: pd.Series) -> IntArray:
    deals = forecast.deals
    key = pd.MultiIndex.from_arrays([deals["replication"], deals["deal"].astype(str)])
    rows = pd.Series(np.arange(len(deals)), index=key)
    wanted = pd.MultiIndex.from_arrays([replication, deal.astype(str)])
    return rows.reindex(wanted).to_numpy(dtype=np.int64)


def queued_at_horizon(forecast: Forecast) -> pd.DataFrame:
    """Deals still queued for people at the horizon (they have no visit row for that stage).

    A deal's ``wait_days`` is the sum of its visits' waits plus, when it is queued at the
    horizon, the time since it joined the queue; what is left over is that last wait, and the
    deal queues for the stage it reached (``deals.stage``). Columns: deal_row, ready_t.
    """
    deals, visits = forecast.deals, forecast.visits
    model = model_of(forecast)
    waited = (
        (visits["start_t"] - visits["ready_t"])
        .groupby([visits["replication"], visits["deal"].astype(str)])
        .sum()
    )
    key = pd.MultiIndex.from_arrays([deals["replication"], deals["deal"].astype(str)])
    in_visits = waited.reindex(key).fillna(0.0).to_numpy()
    left = deals["wait_days"].to_numpy() - in_visits
    rows = np.flatnonzero((deals["outcome"] == "open").to_numpy() & (left > _EPS))
    return pd.DataFrame({"deal_row": rows, "ready_t": model.horizon_t - left[rows]})


def stays(forecast: Forecast) -> Stays:
    """Every visit of every replication, plus the deals queued at the horizon."""
    model = model_of(forecast)
    v, deals = forecast.visits, forecast.deals
    deal_type = codes(deals["type"], [t.name for t in model.types])
    deal_stage = codes(deals["stage"], list(model.stage_ids))
    rows = _deal_rows(forecast, v["replication"], v["deal"])
    queued = queued_at_horizon(forecast)
    q_rows = queued["deal_row"].to_numpy(dtype=np.int64)
    horizon = model.horizon_t
    exit_t = v["exit_t"].to_numpy(dtype=np.float64)
    all_rows = np.concatenate([rows, q_rows])
    stage = np.concatenate([codes(v["stage"], list(model.stage_ids)), deal_stage[q_rows]])
    types = deal_type[all_rows]
    held = np.stack([t.held for t in model.types])  # (type, stage, pool)
    start = np.concatenate([v["start_t"].to_numpy(dtype=np.float64), np.full(len(q_rows), horizon)])
    return Stays(
        rep=replication_index(forecast, deals["replication"])[all_rows],
        deal_row=all_rows,
        type=types,
        stage=stage,
        visit=np.concatenate([v["visit"].to_numpy(dtype=np.int64), np.full(len(q_rows), -1)]),
        ready=np.concatenate(
            [v["ready_t"].to_numpy(dtype=np.float64), queued["ready_t"].to_numpy()]
        ),
        start=start,
        end=np.concatenate(
            [np.where(np.isnan(exit_t), horizon, exit_t), np.full(len(q_rows), horizon)]
        ),
        exit=np.concatenate([exit_t, np.full(len(q_rows), np.nan)]),
        people=held[types, stage] if len(types) else np.zeros((0, len(model.pool_ids))),
    )
