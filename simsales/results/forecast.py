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

import pandas as pd

from simsales.engine.model import Model
from simsales.engine.replication import RepRecords
from simsales.errors import SimsalesError
from simsales.results.build import OUTCOMES, ForecastBuilder

__all__ = ["OUTCOMES", "Forecast"]

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
        """Tables from per-replication records (see :class:`ForecastBuilder` for chunks)."""
        builder = ForecastBuilder(model, provenance.get("first_replication", 0))
        builder.add(records)
        return cls.from_builder(builder, provenance)

    @classmethod
    def from_builder(cls, builder: ForecastBuilder, provenance: dict[str, Any]) -> Forecast:
        return cls(**builder.build(), provenance=provenance, model=builder.model)

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
