"""Tables streamed to disk beyond a size: a run whose per-deal and visit tables would hold more
than a stated memory bound writes them chunk by chunk instead of piling them up.

Design (rules you can check):

- The bound is :data:`ENV` (``SIMSALES_TABLE_MEMORY``, in bytes, e.g. ``2e9``) or the
  ``bound`` given to :func:`collector`; without either, tables are collected in memory as
  always (:class:`~simsales.results.build.ForecastBuilder`).
- Replications are collected in *segments*: a :class:`ForecastBuilder` for consecutive
  replications, in replication order. Once a segment's columns pass the bound, it is built and
  its ``deals`` and ``visits`` rows are appended to one Parquet file each
  (:class:`pyarrow.parquet.ParquetWriter`, with the declared schema of
  :mod:`simsales.results.tables`) in a temporary folder, and freed. The small per-replication
  tables (pools, capacity, risks, inputs) are kept in memory.
- Each segment carries the deal names seen so far, so every row has the code it would have had
  in one builder, and the inputs of a replication depend on that replication alone: the tables
  read back at the end are the very rows an in-memory run builds, and so every summary, report
  and target computed from them is exact (tests/results/test_stream.py checks this equality).
- What it saves: while the run goes, at most one segment (about the bound) of deal and visit
  columns is held, never the whole run's chunks plus their joined copy. The forecast returned
  still holds its tables (read back from the files, which are then removed): a run whose tables
  do not fit in memory at all is refused by the budget check (:mod:`simsales.results.budget`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simsales.engine.model import Model
from simsales.errors import SimsalesError
from simsales.results.build import ForecastBuilder, PackedChunk
from simsales.results.tables import TABLES, to_arrow

__all__ = ["ENV", "StreamingBuilder", "collector", "table_memory_bound"]

ENV = "SIMSALES_TABLE_MEMORY"
STREAMED = ("deals", "visits")  # the tables that grow with deals and visits
KEPT = ("pools", "capacity", "risks", "inputs")  # one or a few rows per replication


def table_memory_bound() -> float | None:
    """The bound from :data:`ENV` (bytes), or None when it is not set."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    try:
        bound = float(text)
    except ValueError:
        bound = -1.0
    if not bound > 0:
        raise SimsalesError(f"{ENV}={text!r}: give the table memory bound in bytes, e.g. 2e9")
    return bound


def collector(model: Model, bound: float | None = None) -> ForecastBuilder | StreamingBuilder:
    """Where a run collects its tables: in memory, or streamed beyond ``bound`` bytes (default:
    the :data:`ENV` setting)."""
    bound = table_memory_bound() if bound is None else bound
    return ForecastBuilder(model) if bound is None else StreamingBuilder(model, bound)


class StreamingBuilder:
    """A :class:`ForecastBuilder` that writes deals and visits to Parquet past ``bound`` bytes.

    Use it as a context manager or call :meth:`build` (which removes the temporary files).
    """

    def __init__(self, model: Model, bound: float) -> None:
        self.model, self.bound = model, bound
        self.count = 0
        self.segments = 0  # segments written to disk so far
        self._folder = tempfile.TemporaryDirectory(prefix="simsales-tables-")
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._kept: dict[str, list[pd.DataFrame]] = {name: [] for name in KEPT}
        self._segment = ForecastBuilder(model)

    def __enter__(self) -> StreamingBuilder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def add_packed(self, chunk: PackedChunk) -> None:
        self._segment.add_packed(chunk)
        self.count += chunk.replications
        if self._segment.held_bytes(STREAMED) > self.bound:
            self._flush()

    def _flush(self) -> None:
        segment = self._segment
        if segment.count == 0:
            return
        tables = segment.build()
        for name in STREAMED:
            data = to_arrow(name, tables.pop(name))
            if name not in self._writers:
                path = Path(self._folder.name) / f"{name}.parquet"
                self._writers[name] = pq.ParquetWriter(path, _schema(data.schema, name))
            self._writers[name].write_table(data.cast(self._writers[name].schema))
        for name in KEPT:
            self._kept[name].append(tables[name])
        self.segments += 1
        self._segment = segment.following()

    def build(self) -> dict[str, pd.DataFrame]:
        """Every table of the run, read back (the files are removed)."""
        try:
            self._flush()
            for writer in self._writers.values():
                writer.close()
            out: dict[str, pd.DataFrame] = {}
            for name in STREAMED:
                path = Path(self._folder.name) / f"{name}.parquet"
                out[name] = pq.read_table(path).to_pandas() if path.exists() else _empty(name)
            for name in KEPT:
                out[name] = _concat(self._kept.pop(name), self.model)
            return dict(sorted(out.items(), key=lambda item: list(TABLES).index(item[0])))
        finally:
            self.close()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        self._folder.cleanup()


def _schema(actual: pa.Schema, name: str) -> pa.Schema:
    """The file's schema: the declared types, with the pandas metadata of the first segment."""
    fields = [actual.field(f.name).with_type(f.type) for f in TABLES[name]]
    return pa.schema(fields, metadata=actual.metadata)


def _concat(frames: list[pd.DataFrame], model: Model) -> pd.DataFrame:
    """Segments' rows in order. An inputs column only some segments have (a stage none of their
    first visits finished) is missing (NaN) in the others, and in its place among the columns,
    as one builder would have it."""
    if len(frames) == 1:
        return frames[0]
    seen = {c for f in frames for c in f.columns}  # the columns some segment has
    durations = [f"duration:{stage}" for stage in model.stage_ids]
    columns = [c for c in frames[0].columns if not c.startswith("duration:")]
    columns[1:1] = [c for c in durations if c in seen]  # after replication, in stage order
    columns += [c for c in dict.fromkeys(c for f in frames for c in f.columns) if c not in columns]
    return pd.concat([f.reindex(columns=columns) for f in frames], ignore_index=True)


def _empty(name: str) -> pd.DataFrame:
    return TABLES[name].empty_table().to_pandas()
