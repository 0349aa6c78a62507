"""A CRM history, cleaned: one row per deal, per stage visit and per recorded change.

Dates are ``datetime64`` (``NaT`` where unknown), naive, on the scenario's clock (a source's
time-zone-aware timestamps are converted to its time zone first); durations derived from them
are in calendar days. Every source reader (:mod:`simsales.calibrate.sources`) produces the same
tables:

- ``deals``: one row per deal (:data:`DEAL_COLUMNS`); ``value`` is in :attr:`History.currency`.
- ``path``: the deal's stage path as recorded, one row per stage entered (a stage id, or
  ``won`` / ``lost``), in time order; closes that were later undone are still in it.
- ``visits``: the stage visits :func:`visits_from_path` builds from the path.
- ``snapshots``: one row per recorded change of a deal's amount, close date, probability,
  forecast category or stage (:data:`SNAPSHOT_COLUMNS`), each row the deal's state after it.
- ``efforts``: people's reported hours per deal and stage (sources with workloads).

:meth:`History.known_at` cuts every table back to what was known at the end of a past day, by
the same rules the import used, so calibrating on ``known_at(D)`` equals calibrating an export
cut at ``D``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from simsales.calibrate.quality import DataReport

__all__ = [
    "DEAL_COLUMNS",
    "EFFORT_COLUMNS",
    "FORECAST_CATEGORIES",
    "FORWARD_EXITS",
    "PATH_COLUMNS",
    "SNAPSHOT_COLUMNS",
    "VISIT_COLUMNS",
    "History",
    "settle_path",
    "visits_from_path",
]

# deal: id; line: export line of its (first) row; opened: first dated stage entry; closed: date
# won or lost (NaT while open); outcome: won / lost / open; value: contract value in the history's
# currency (NaN if unknown); stage: current stage id (open) or the stage it was closed from.
# created: the CRM's creation date (may precede opened); currency: the deal's own currency;
# crm_probability (0-1), forecast_category, expected_close: the CRM's, as known at the snapshot;
# entry_stage: the first stage the deal was seen in.
DEAL_COLUMNS = (
    "deal", "line", "product", "owner", "account", "segment",
    "opened", "closed", "outcome", "value", "stage",
    "created", "team", "currency", "crm_probability", "forecast_category", "expected_close",
    "entry_stage",
)  # fmt: skip
# exit: advance (to the next stage), skip (past one or more stages), won (from any stage), lost,
# rework (back to an earlier stage), open; to: the stage id (or won / lost) it went to.
VISIT_COLUMNS = ("deal", "stage", "entered", "left", "exit", "to")
FORWARD_EXITS = ("advance", "skip", "won")  # exits that move a deal towards a win
SNAPSHOT_COLUMNS = (
    "deal", "at", "value", "expected_close", "crm_probability", "forecast_category", "stage",
)  # fmt: skip
PATH_COLUMNS = ("deal", "stage", "at")
EFFORT_COLUMNS = ("deal", "person", "hours", "at", "stage")
FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "closed", "omitted")
TERMINAL = ("won", "lost")
_STATE = ("value", "expected_close", "crm_probability", "forecast_category")


def empty(columns: tuple[str, ...]) -> pd.DataFrame:
    """An empty table with ``columns`` (dates as ``datetime64``)."""
    dates = {"at", "entered", "left", "opened", "closed", "created", "expected_close"}
    return pd.DataFrame(
        {c: pd.Series(dtype="datetime64[ns]" if c in dates else object) for c in columns}
    )


@dataclass(frozen=True)
class History:
    deals: pd.DataFrame
    visits: pd.DataFrame
    stages: tuple[str, ...]  # stage ids in process order
    report: DataReport
    snapshot: pd.Timestamp  # the latest date in the export: what it knows
    observed_from: pd.Timestamp  # the first close / stage exit: before it the export is blind
    stage_names: dict[str, str] = field(default_factory=dict)  # stage id -> label in the CRM
    catalog: dict[str, float] = field(default_factory=dict)  # product -> list price
    currency: str = "USD"
    date_only: bool = True  # timestamps are whole days: durations are known to +-0.5 day
    snapshots: pd.DataFrame = field(default_factory=lambda: empty(SNAPSHOT_COLUMNS))
    path: pd.DataFrame = field(default_factory=lambda: empty(PATH_COLUMNS))
    efforts: pd.DataFrame = field(default_factory=lambda: empty(EFFORT_COLUMNS))
    # The CRM's probability / forecast category of each stage (id -> value), where it has them.
    stage_probability: dict[str, float] = field(default_factory=dict)
    stage_forecast: dict[str, str] = field(default_factory=dict)
    # True when the export gives amounts of open deals (not only the value a deal closed at).
    open_values: bool = False

    def known_at(self, as_of: pd.Timestamp | str) -> History:
        """The history as it stood at the end of ``as_of``.

        Rules: the stage path is cut at the end of the day and visits, outcomes and current
        stages are rebuilt from the cut path (a close undone after ``as_of`` is still a close);
        snapshots, efforts and deals (by ``opened``) after it are removed. A deal's value,
        expected close, probability and forecast category are those of its last snapshot by
        then. A deal without snapshots keeps its fields unless something happened to it after
        ``as_of``: then its probability and category are its stage's (if the CRM has stage
        probabilities) and its expected close is unknown; its value is kept only if the export
        records amounts of open deals (``open_values``), else unknown.
        """
        t = pd.Timestamp(as_of)
        end = t + pd.Timedelta(days=1)
        path = self.path[self.path["at"] < end]
        changed = self.path.loc[self.path["at"] >= end, "deal"].unique()
        deals = self.deals[self.deals["opened"] < end].copy()
        settled, _ = settle_path(path)
        state = deal_state(settled)
        visits = visits_from_path(settled, self.stages)
        ids = deals["deal"]
        for col in ("outcome", "closed", "stage"):
            deals[col] = ids.map(state[col]).where(among(ids, state.index), deals[col])
        deals["closed"] = deals["closed"].astype("datetime64[ns]")
        snaps = self.snapshots[self.snapshots["at"] < end]
        has_snaps = among(ids, self.snapshots["deal"])
        last = snaps.sort_values("at", kind="stable").groupby("deal").last()
        moved = among(ids, changed) & ~has_snaps
        for col in _STATE:
            known = ids.map(last[col]) if len(last) else pd.Series(np.nan, index=deals.index)
            deals[col] = deals[col].where(~has_snaps, known)
        if not self.open_values:
            deals.loc[moved, "value"] = np.nan
        deals.loc[moved, "expected_close"] = pd.NaT
        probability, forecast = stage_defaults(deals, self.stage_probability, self.stage_forecast)
        # as the reader does: what the deal's own rows leave unknown is its stage's
        p = deals["crm_probability"].where(~moved, probability)
        deals["crm_probability"] = p.fillna(probability)
        category = deals["forecast_category"].where(~moved, forecast)
        deals["forecast_category"] = category.where(category.notna(), forecast)
        deals["expected_close"] = deals["expected_close"].astype("datetime64[ns]")
        return replace(
            self,
            deals=deals.reset_index(drop=True),
            visits=visits,
            snapshot=t,
            snapshots=snaps.reset_index(drop=True),
            path=path.reset_index(drop=True),
            efforts=self.efforts[self.efforts["at"] < end].reset_index(drop=True),
        )

    @property
    def open_deals(self) -> pd.DataFrame:
        return self.deals[self.deals["outcome"] == "open"]


def among(ids: pd.Series, values: Any) -> pd.Series:
    """``ids.isin(values)`` by a hash lookup: pandas' ``isin`` on Arrow strings builds one
    scalar per value, a fifth of a backtest origin's time on 10,000 deals."""
    found = pd.Index(values).unique().get_indexer(ids) >= 0
    return pd.Series(found, index=ids.index)


def stage_defaults(
    deals: pd.DataFrame, stage_probability: dict[str, float], stage_forecast: dict[str, str]
) -> tuple[pd.Series, pd.Series]:
    """The CRM's probability and forecast category a deal has by its stage alone.

    Rule: only for a CRM that gives stage probabilities (categories): the current stage's;
    closed deals won 1 / lost 0 (category ``closed`` / ``omitted``). Else unknown (NaN / None):
    nothing is invented for a source without them.
    """
    won = deals["outcome"] == "won"
    closed = deals["outcome"].isin(TERMINAL)
    probability = pd.Series(np.nan, index=deals.index, dtype=float)
    forecast = pd.Series(None, index=deals.index, dtype=object)
    if stage_probability:
        probability = deals["stage"].map(stage_probability).astype(float)
        probability = probability.where(~closed, won.astype(float))
    if stage_forecast:
        forecast = deals["stage"].map(stage_forecast).astype(object)
        forecast = forecast.where(~closed, np.where(won, "closed", "omitted"))
        forecast = forecast.where(forecast.notna(), None)
    return probability, forecast


def settle_path(path: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The path a deal's visits are built from, and the closes it undid.

    Rules, in order: rows sorted by time (ties keep their order in the export); a stage entered
    again while the deal is in it is one visit (the first entry counts); a close (won / lost)
    followed by any later row was undone (reopened, or re-closed the other way): it is dropped
    and the deal went on from the stage it was closed from; then repeats are merged again.
    """
    p = path.sort_values(["deal", "at"], kind="stable")
    p = _collapse(p)
    later = (
        p.groupby("deal", sort=False)["at"].transform("size") - 1
        > p.groupby("deal", sort=False).cumcount()
    )
    undone = p["stage"].isin(TERMINAL) & later
    return _collapse(p[~undone]).reset_index(drop=True), p[undone]


def _collapse(p: pd.DataFrame) -> pd.DataFrame:
    prev = p.groupby("deal", sort=False)["stage"].shift(1)
    return p[p["stage"] != prev]


def deal_state(settled: pd.DataFrame) -> pd.DataFrame:
    """Per deal of a settled path: opened, outcome, closed, stage (current or closed from),
    entry_stage."""
    g = settled.groupby("deal", sort=False)
    last = g["stage"].last()
    terminal = last.isin(TERMINAL)
    opens = settled[~settled["stage"].isin(TERMINAL)].groupby("deal", sort=False)["stage"]
    return pd.DataFrame(
        {
            "opened": g["at"].first(),
            "outcome": last.where(terminal, "open"),
            "closed": g["at"].last().where(terminal),
            "stage": opens.last(),
            "entry_stage": opens.first(),
        }
    )


def visits_from_path(settled: pd.DataFrame, stages: tuple[str, ...]) -> pd.DataFrame:
    """One row per stage visit (:data:`VISIT_COLUMNS`) of a settled path, in time order per
    deal. The exit is named by where the deal went: ``won`` / ``lost``; ``advance`` to the next
    stage of ``stages``; ``skip`` to a later one; ``rework`` to an earlier one; ``open``."""
    p = settled
    g = p.groupby("deal", sort=False)
    nxt, left = g["stage"].shift(-1), g["at"].shift(-1)
    v = pd.DataFrame(
        {"deal": p["deal"], "stage": p["stage"], "entered": p["at"], "left": left, "to": nxt}
    )
    keep = ~p["stage"].isin(TERMINAL)
    v = v[keep]
    pos = {s: i for i, s in enumerate(stages)}
    here = v["stage"].map(pos).to_numpy(dtype=np.float64)
    there = v["to"].map(pos).to_numpy(dtype=np.float64)
    to = v["to"]
    exit_kind = np.select(
        [to.isna(), to == "won", to == "lost", there == here + 1, there > here + 1],
        ["open", "won", "lost", "advance", "skip"],
        "rework",
    )
    v = v.assign(exit=exit_kind, left=v["left"].astype("datetime64[ns]"))
    v["to"] = v["to"].astype(object).where(v["to"].notna(), None)
    return v[list(VISIT_COLUMNS)].reset_index(drop=True)
