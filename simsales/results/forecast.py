"""The Forecast: tidy tables of a Monte Carlo run, keyed by replication, with provenance.

Tables (pandas DataFrames, one row per replication x thing; times are model time in the
scenario's days, dates are calendar dates):

- ``deals``: replication, deal, type, live, arrival_t, outcome (won/lost/open), decision_t,
  decision_date, value, revenue, cost, stage, wait_days, win_factor
- ``visits``: replication, deal, stage, visit, entry_t, ready_t, start_t, exit_t
- ``pools``: replication, pool, busy_days, capacity_days, utilization, requests, wait_days
- ``capacity``: replication, pool, t, capacity (the capacity log: planned changes and risks)
- ``risks``: replication, risk, deal, t, delay_days (one row per occurrence)
- ``inputs``: replication plus one column per sampled input that sensitivity analysis uses

``save(dir)`` writes Parquet files and ``provenance.json`` into a temporary directory and renames
it into place, so an interrupted save never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simsales.engine.model import SCOPE_DEAL, Model
from simsales.engine.replication import LOST, OPEN, WON, RepRecords
from simsales.errors import SimsalesError

__all__ = ["OUTCOMES", "Forecast"]

OUTCOMES = pd.CategoricalDtype(["open", "won", "lost"])
_OUTCOME_CODES = {OPEN: 0, WON: 1, LOST: 2}
_TABLES = ("deals", "visits", "pools", "capacity", "risks", "inputs")


@dataclass
class Forecast:
    """What :func:`simsales.simulate` returns (see the module docstring for the tables)."""

    deals: pd.DataFrame
    visits: pd.DataFrame
    pools: pd.DataFrame
    capacity: pd.DataFrame
    risks: pd.DataFrame
    inputs: pd.DataFrame
    provenance: dict[str, Any]
    model: Model | None = field(default=None, repr=False, compare=False)

    @property
    def replications(self) -> int:
        return int(self.provenance["replications"])

    @property
    def live_deals(self) -> list[str]:
        return list(self.provenance["live_deals"])

    def summary(self) -> Any:
        """Per-deal and portfolio figures with 95% intervals (see simsales.results.summary)."""
        from simsales.results.summary import summarize

        return summarize(self)

    @property
    def plot(self) -> Any:
        """Matplotlib figures of this forecast, e.g. ``forecast.plot.revenue_fan()`` (see
        simsales.report.plots.ForecastPlots); they share one set of computations."""
        plots = self.__dict__.get("_plots")
        if plots is None:
            from simsales.report.plots import ForecastPlots

            plots = self.__dict__["_plots"] = ForecastPlots(self)
        return plots

    def _repr_html_(self) -> str:
        return str(self.summary()._repr_html_())

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def from_records(
        cls, model: Model, records: Sequence[RepRecords], provenance: dict[str, Any]
    ) -> Forecast:
        reps = np.arange(len(records), dtype=np.int32)
        first = provenance.get("first_replication", 0)

        def rep_col(sizes: list[int]) -> np.ndarray:
            return np.repeat(reps + first, sizes)

        n_deals = [len(r.deal_id) for r in records]
        ids = np.concatenate([np.asarray(r.deal_id, dtype=object) for r in records])
        outcome = np.concatenate([r.outcome for r in records])
        decision_t = np.concatenate([r.decision_t for r in records])
        deals = pd.DataFrame(
            {
                "replication": rep_col(n_deals),
                "deal": pd.Categorical(ids),
                "type": pd.Categorical.from_codes(
                    np.concatenate([r.deal_type for r in records]),
                    categories=[t.name for t in model.types],
                ),
                "live": np.concatenate([r.deal_live for r in records]),
                "arrival_t": np.concatenate([r.arrival_t for r in records]),
                "outcome": pd.Categorical.from_codes(
                    np.vectorize(_OUTCOME_CODES.get, otypes=[np.int8])(outcome)
                    if len(outcome)
                    else np.zeros(0, np.int8),
                    dtype=OUTCOMES,
                ),
                "decision_t": decision_t,
                # millisecond resolution: what Parquet stores, so save/load round-trips exactly
                "decision_date": (
                    model.calendar.end_date(decision_t)
                    if len(decision_t)
                    else np.zeros(0, "datetime64[D]")
                ).astype("datetime64[ms]"),
                "value": np.concatenate([r.value for r in records]),
                "revenue": np.concatenate([r.revenue for r in records]),
                "cost": np.concatenate([r.cost for r in records]),
                "stage": pd.Categorical.from_codes(
                    np.concatenate([r.stage for r in records]), categories=list(model.stage_ids)
                ),
                "wait_days": np.concatenate([r.wait for r in records]),
                "win_factor": np.concatenate([r.win_factor for r in records]),
            }
        )
        n_visits = [len(r.visit_deal) for r in records]
        offsets = np.repeat(np.cumsum([0, *n_deals[:-1]]), n_visits)
        visit_deal = np.concatenate([r.visit_deal for r in records]) + offsets
        visits = pd.DataFrame(
            {
                "replication": rep_col(n_visits),
                "deal": pd.Categorical.from_codes(
                    deals["deal"].cat.codes.to_numpy()[visit_deal],
                    categories=deals["deal"].cat.categories,
                ),
                "stage": pd.Categorical.from_codes(
                    np.concatenate([r.visit_stage for r in records]),
                    categories=list(model.stage_ids),
                ),
                "visit": np.concatenate([r.visit_number for r in records]).astype(np.int16),
                "entry_t": np.concatenate([r.visit_entry for r in records]),
                "ready_t": np.concatenate([r.visit_ready for r in records]),
                "start_t": np.concatenate([r.visit_start for r in records]),
                "exit_t": np.concatenate([r.visit_exit for r in records]),
            }
        )
        n_pools = len(model.pool_ids)
        busy = np.concatenate([r.pool_busy for r in records])
        capacity_days = np.concatenate([r.pool_capacity_days for r in records])
        pools = pd.DataFrame(
            {
                "replication": rep_col([n_pools] * len(records)),
                "pool": pd.Categorical(
                    np.tile(np.array(model.pool_ids, dtype=object), len(records)),
                    categories=list(model.pool_ids),
                ),
                "busy_days": busy,
                "capacity_days": capacity_days,
                "utilization": np.divide(
                    busy, capacity_days, out=np.full_like(busy, np.nan), where=capacity_days > 0
                ),
                "requests": np.concatenate([r.pool_requests for r in records]),
                "wait_days": np.concatenate([r.pool_wait for r in records]),
            }
        )
        n_caps = [len(r.capacity_t) for r in records]
        capacity = pd.DataFrame(
            {
                "replication": rep_col(n_caps),
                "pool": pd.Categorical.from_codes(
                    np.concatenate([r.capacity_pool for r in records]),
                    categories=list(model.pool_ids),
                ),
                "t": np.concatenate([r.capacity_t for r in records]),
                "capacity": np.concatenate([r.capacity_value for r in records]),
            }
        )
        n_risks = [len(r.risk_t) for r in records]
        risk_deal = np.concatenate([r.risk_deal for r in records])
        risk_offsets = np.repeat(np.cumsum([0, *n_deals[:-1]]), n_risks)
        deal_names = np.where(
            risk_deal >= 0,
            ids[np.where(risk_deal >= 0, risk_deal + risk_offsets, 0)] if len(ids) else "",
            "",
        )
        risks = pd.DataFrame(
            {
                "replication": rep_col(n_risks),
                "risk": pd.Categorical.from_codes(
                    np.concatenate([r.risk_index for r in records]),
                    categories=[r.id for r in model.risks],
                ),
                "deal": deal_names.astype(object),
                "t": np.concatenate([r.risk_t for r in records]),
                "delay_days": np.concatenate([r.risk_delay for r in records]),
            }
        )
        return cls(
            deals=deals,
            visits=visits,
            pools=pools,
            capacity=capacity,
            risks=risks,
            inputs=_inputs(model, records, deals, visits, first),
            provenance=provenance,
            model=model,
        )

    # --- saving -----------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write the tables (Parquet) and provenance (JSON) atomically into ``directory``."""
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for name in _TABLES:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
            text = json.dumps(self.provenance, indent=2, ensure_ascii=False, default=str)
            (tmp / "provenance.json").write_text(text, encoding="utf-8")
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.old-{os.getpid()}")
                target.rename(old)
            tmp.rename(target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | Path) -> Forecast:
        """Read a forecast written by :meth:`save`; its scenario is re-validated from provenance."""
        path = Path(directory)
        if not (path / "provenance.json").is_file():
            raise SimsalesError(f"{path}: not a saved forecast (no provenance.json)")
        provenance = json.loads((path / "provenance.json").read_text(encoding="utf-8"))
        tables = {name: pd.read_parquet(path / f"{name}.parquet") for name in _TABLES}
        model = None
        if "scenario" in provenance:
            from simsales.engine.model import compile_model
            from simsales.scenario.load import load_dict

            model = compile_model(load_dict(provenance["scenario"], name=f"{path}/provenance.json"))
        return cls(**tables, provenance=provenance, model=model)


def _inputs(
    model: Model,
    records: Sequence[RepRecords],
    deals: pd.DataFrame,
    visits: pd.DataFrame,
    first: int,
) -> pd.DataFrame:
    """Per replication: the sampled inputs that drive the outputs (for sensitivity analysis)."""
    out: dict[str, Any] = {"replication": np.arange(len(records), dtype=np.int32) + first}
    if len(visits):
        span = (visits["exit_t"] - visits["start_t"]).rename("duration")
        first_visits = visits.assign(duration=span)[visits["visit"] == 0]
        mean_duration = first_visits.pivot_table(
            index="replication", columns="stage", values="duration", aggfunc="mean", observed=False
        ).reindex(out["replication"])
        for stage in model.stage_ids:
            if stage in mean_duration:
                out[f"duration:{stage}"] = mean_duration[stage].to_numpy()
    for r in model.risks:
        if r.scope == SCOPE_DEAL:
            out[f"risk:{r.id}"] = [int(np.sum(rec.risk_index == r.index)) for rec in records]
        else:
            out[f"risk:{r.id}"] = [int(rec.global_risk_occurred[r.index]) for rec in records]
    for i, a in enumerate(model.arrivals):
        out[f"arrivals:{model.types[a.type_index].name}#{i}"] = [
            int(rec.arrivals_by_source[i]) for rec in records
        ]
    live_value = deals[deals["live"]].groupby("replication")["value"].sum()
    out["value:live_pipeline"] = live_value.reindex(out["replication"]).to_numpy()
    return pd.DataFrame(out)
