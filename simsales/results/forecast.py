"""The Forecast: tidy tables of a Monte Carlo run, keyed by replication, with provenance.

Tables (pandas DataFrames, one row per replication x thing): ``deals``, ``visits``, ``pools``,
``capacity`` (the capacity log), ``risks`` (one row per occurrence) and ``inputs`` (the sampled
inputs sensitivity analysis uses). Their columns, types and meaning are declared once, in
:mod:`simsales.results.tables` (``simsales.results.tables.describe("deals")`` lists them).

``save(dir)`` writes Parquet files and ``provenance.json`` into a fresh sibling folder and swaps
it in for ``dir`` in one step (:mod:`simsales.io.outputs`): an interrupted save leaves the old
result or the new one, complete, never neither. It replaces only a folder simsales made.
"""

from __future__ import annotations

import functools
import json
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simsales.engine.model import Model
from simsales.engine.replication import RepRecords
from simsales.errors import InputOutputError, ScenarioError, SimsalesError
from simsales.io import outputs
from simsales.io.inputs import read_user_bytes
from simsales.results.build import OUTCOMES, Collector, ForecastBuilder
from simsales.results.records import seed_decision_days
from simsales.results.tables import SCHEMA_VERSION, problems, schema_version_of, to_arrow
from simsales.results.views import FORECAST_PLOTS, view

__all__ = ["OUTCOMES", "Forecast"]

_TABLES = ("deals", "visits", "pools", "capacity", "risks", "inputs")
_LATER = ("visits", "capacity", "risks", "inputs")  # built on first use (see from_builder)


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

    def to_excel(self, path: str | Path, locale: str | None = None) -> Path:
        """Write the forecast's summary as an .xlsx workbook, atomically (see Summary.to_excel).

        ``locale`` defaults to the scenario's. The per-replication tables stay in :meth:`save`
        (Parquet): 10,000 replications of 200 deals are more rows than a worksheet holds.
        """
        scenario = self.provenance.get("scenario")
        default = scenario.get("locale", "en") if isinstance(scenario, dict) else "en"
        return Path(self.summary().to_excel(path, locale or str(default)))

    def bottlenecks(self) -> Any:
        """Where deals wait for people: pools ranked, per week, per stage (see
        simsales.results.bottlenecks.Bottlenecks)."""
        from simsales.results.bottlenecks import analyze_bottlenecks

        return analyze_bottlenecks(self)

    def categories(self, period: str) -> Any:
        """The forecast call for ``period``: each live deal's category (commit, best case,
        pipeline, omitted) from its simulated chance of being won inside the period, beside the
        rep's own probability, category and close date; the revenue per category with 95%
        intervals, and the pipeline coverage (see simsales.results.categories.Categories)."""
        from simsales.results.categories import forecast_categories

        return forecast_categories(self, period)

    def rollup(self, by: str, periods: Sequence[str] | None = None) -> pd.DataFrame:
        """Deals, expected wins and revenue per ``by`` (owner, team, type, region, customer or
        stage) and period, with 95% intervals and P(quota) where the scenario gives quotas;
        ``periods`` default to the quarters and target periods (see simsales.results.rollups)."""
        from simsales.results.rollups import rollup

        return rollup(self, by, periods=None if periods is None else list(periods))

    def s_curves(self, deals: Iterable[str] | None = None) -> pd.DataFrame:
        """Per live deal (default: all) and week end: P(decided) and P(won) by that date
        (see simsales.results.scurves)."""
        from simsales.results.scurves import s_curves

        return s_curves(self, None if deals is None else list(deals))

    @property
    def plot(self) -> Any:
        """Matplotlib figures of this forecast, e.g. ``forecast.plot.revenue_fan()`` (see
        simsales.report.plots.ForecastPlots); they share one set of computations."""
        plots = self.__dict__.get("_plots")
        if plots is None:  # drawn by the report layer (simsales.results.views)
            plots = self.__dict__["_plots"] = view(FORECAST_PLOTS, self)
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
    def from_builder(cls, builder: Collector, provenance: dict[str, Any]) -> Forecast:
        """The forecast of ``builder``'s replications. From an in-memory builder, the tables a
        summary never reads (:data:`_LATER`) are built when first read: ``run --json`` then
        never assembles the visits, its largest table."""
        if not isinstance(builder, ForecastBuilder):
            return cls(**builder.build(), provenance=provenance, model=builder.model)
        first = builder.build_first()
        forecast = cls(**first, **dict.fromkeys(_LATER), provenance=provenance, model=builder.model)
        for name in _LATER:  # unset: __getattr__ builds them on first use
            del forecast.__dict__[name]
        forecast.__dict__["_later"] = functools.partial(builder.build_rest, first["deals"])
        if builder.decision_days is not None:  # worked out with the close dates
            seed_decision_days(forecast, builder.decision_days)
        return forecast

    def __getattr__(self, name: str) -> Any:
        """A table :meth:`from_builder` left to build (only called for unset attributes)."""
        later = self.__dict__.get("_later") if name in _LATER else None
        if later is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.__dict__.update(later())  # all of them at once: the builder is then emptied
        del self.__dict__["_later"]
        return self.__dict__[name]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (or copied) with every table built: the builder is not sent along."""
        for name in _LATER:
            getattr(self, name)
        return self.__dict__

    # --- saving -----------------------------------------------------------------------------

    def save(
        self,
        directory: str | Path | outputs.Output,
        *,
        force: bool = False,
        inputs: Iterable[str | Path | None] = (),
    ) -> Path:
        """Write the tables (Parquet) and provenance (JSON) into ``directory`` in one step.

        An existing folder is replaced only if simsales made it (or ``force``); ``directory``
        may also be an output claimed earlier with :func:`simsales.io.outputs.claim`.
        """
        if isinstance(directory, outputs.Output):
            return directory.replace_dir(self.write_into, "forecast")
        return outputs.replace_dir(
            directory, self.write_into, kind="forecast", force=force, inputs=inputs, legacy=FILES
        )

    def write_into(self, folder: Path) -> None:
        """The files of a saved forecast, written into the (fresh) ``folder``."""
        for name in _TABLES:
            pq.write_table(to_arrow(name, getattr(self, name)), folder / f"{name}.parquet")
            outputs.checkpoint(f"forecast: {name}.parquet written")
        provenance = {"schema_version": SCHEMA_VERSION, **self.provenance}
        text = json.dumps(provenance, indent=2, ensure_ascii=False, default=str)
        (folder / "provenance.json").write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> Forecast:
        """Read a forecast written by :meth:`save`; its scenario is re-validated from provenance.

        A folder that is not a saved forecast, or one whose files are damaged, is reported as
        such (exit 74 on the command line), naming the file at fault.
        """
        given = Path(directory)
        path = outputs.result_folder(given)
        if not (path / "provenance.json").is_file():
            raise SimsalesError(f"{given}: not a saved forecast (no provenance.json)")
        raw = read_user_bytes(path / "provenance.json", what="provenance file")
        try:
            provenance = json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise InputOutputError(
                f"{path / 'provenance.json'}: damaged results folder: not valid JSON ({exc})"
            ) from None
        if not isinstance(provenance, dict):
            raise InputOutputError(f"{path / 'provenance.json'}: damaged: not a JSON object")
        provenance.pop("schema_version", None)  # each table's file says its own (checked there)
        tables = {name: _read_table(path / f"{name}.parquet", name) for name in _TABLES}
        model = None
        if "scenario" in provenance:
            from simsales.engine.model import compile_model
            from simsales.scenario.load import load_dict

            scenario = provenance["scenario"]
            pipeline = scenario.get("pipeline") if isinstance(scenario, dict) else None
            if isinstance(pipeline, dict) and "csv" in pipeline:
                # a saved scenario holds its pipeline inline; a file reference here was not
                # written by simsales and would make us read (and quote) an arbitrary file
                raise InputOutputError(
                    f"{path / 'provenance.json'}: damaged results folder: its scenario refers "
                    "to a pipeline file, which a saved forecast never does"
                )
            try:
                model = compile_model(load_dict(scenario, name=f"{path}/provenance.json"))
            except ScenarioError as exc:
                raise InputOutputError(
                    f"{path / 'provenance.json'}: damaged results folder: its scenario does "
                    f"not validate:\n{exc}"
                ) from None
        return cls(**tables, provenance=provenance, model=model)


FILES = (*(f"{name}.parquet" for name in _TABLES), "provenance.json")


def _read_table(path: Path, name: str) -> pd.DataFrame:
    try:
        regular = stat.S_ISREG(path.stat().st_mode)  # stat, not open: a FIFO must not hang us
    except OSError:
        raise InputOutputError(f"{path}: damaged results folder: the file is missing") from None
    if not regular:
        raise InputOutputError(f"{path}: damaged results folder: not a regular file")
    try:
        table = pq.read_table(path)
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        raise InputOutputError(
            f"{path}: damaged results folder: cannot read the table ({_first_line(exc)}); "
            "simulate again to rebuild it"
        ) from None
    version = schema_version_of(table.schema.metadata)  # None: saved before versions
    if version is not None and version != SCHEMA_VERSION:
        raise InputOutputError(
            f"{path}: saved with table schema version {version}, but this simsales reads "
            f"version {SCHEMA_VERSION}: simulate again (or read it with the simsales that "
            "saved it)"
        )
    wrong = problems(name, table.schema)
    if wrong:
        raise InputOutputError(
            f"{path}: damaged results folder: not a {name} table ({'; '.join(wrong[:3])}); "
            "simulate again to rebuild it"
        )
    return table.to_pandas()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
