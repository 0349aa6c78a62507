"""Turn per-replication records into the Forecast's tables, chunk by chunk.

The columns, their types and the record fields they come from are declared once, in
:mod:`simsales.results.tables`; what is computed here is only what no record holds as it is
(deal codes, replication numbers, dates, revenue, utilization, the inputs).

Records of a chunk are packed at once into compact column chunks (then dropped), and the chunks
are joined column by column at the end, each chunk freed as soon as it is copied. A large run
therefore needs about the memory of its final tables, not twice that.
"""

from __future__ import annotations

import functools
import mmap
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.internals import create_dataframe_from_blocks

from simsales.engine.model import SCOPE_DEAL, Model
from simsales.engine.replication import EXIT_KINDS, LOST, OPEN, WON, RepRecords
from simsales.engine.vectorized import BlockRecords
from simsales.results.tables import TABLES, record_fields

__all__ = ["EXITS", "OUTCOMES", "Collector", "ForecastBuilder", "PackedChunk", "pack_chunk"]

OUTCOMES = pd.CategoricalDtype(["open", "won", "lost"])
EXITS = pd.CategoricalDtype(list(EXIT_KINDS))  # how a visit ended
_OUTCOME_TO_CODE = np.zeros(3, np.int8)  # engine code -> position in OUTCOMES
_OUTCOME_TO_CODE[[OPEN, WON, LOST]] = [0, 1, 2]


ROW = "(row)"  # a visits column: each visit's row in the table (see _visits_as_made)
MAP_FROM = 64 * 2**20  # bytes held before chunks go to maps of their own (see _own_map)


def _own_map(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` in an anonymous memory map of its own.

    Freed chunks of the C heap are seldom given back to the OS, so joining heap chunks into the
    final columns would briefly hold the data twice; a map is returned the moment it is freed.
    A builder maps only what comes once it holds :data:`MAP_FROM` bytes: below that, holding
    them twice costs little, and copying every chunk would cost time.
    """
    if a.nbytes < mmap.PAGESIZE:
        return a
    buffer = mmap.mmap(-1, a.nbytes)
    out = np.frombuffer(buffer, dtype=a.dtype).reshape(a.shape)
    out[...] = a
    return out


@functools.lru_cache(maxsize=64)  # runs of one scenario share their categories (checked once)
def _dtype(names: tuple[str, ...]) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(list(names))


class Collector(Protocol):
    """What a run adds its chunks to and builds the tables from (a ForecastBuilder, or the
    one of simsales.results.stream that writes them to disk beyond a size)."""

    model: Model
    count: int

    def add_packed(self, chunk: PackedChunk) -> None: ...

    def build(self) -> dict[str, pd.DataFrame]: ...


@dataclass
class PackedChunk:
    """Consecutive replications as column pieces: small to send from a worker, quick to add."""

    replications: int
    columns: dict[tuple[str, str], np.ndarray]  # (table, column) -> values; replication local
    new_deals: list[str]  # names of the new deals; their local codes follow the live deals


def pack_chunk(model: Model, records: Sequence[RepRecords | BlockRecords]) -> PackedChunk:
    """Pack records into columns: deal codes local to the chunk, replications counted from 0.

    A :class:`BlockRecords` (replications the fast path computed together) is packed as the
    replications it joins, from its joined arrays."""
    blocks = [r if isinstance(r, BlockRecords) else _one(r) for r in records]
    if not blocks:
        return PackedChunk(0, {}, [])
    n_live = len(model.deal_ids)
    new_deals: list[str] = []
    local: dict[str, int] = {}
    codes = []
    live_codes = np.arange(n_live, dtype=np.int32)
    for block in blocks:
        for ids in block.deal_ids:
            codes.append(live_codes)
            if len(ids) > n_live:
                for name in ids[n_live:]:
                    if name not in local:
                        local[name] = n_live + len(new_deals)
                        new_deals.append(name)
                codes.append(np.array([local[n] for n in ids[n_live:]], np.int32))
    deal_codes = np.concatenate(codes)
    count = sum(block.count for block in blocks)
    reps = np.arange(count, dtype=np.int32)
    deal_rows = np.concatenate([block.rows["deals"] for block in blocks])
    offsets = np.cumsum(np.r_[0, deal_rows[:-1]])
    columns: dict[tuple[str, str], np.ndarray] = {}

    def join(field: str) -> np.ndarray:
        parts = [getattr(block.records, field) for block in blocks]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def pack(table: str) -> np.ndarray:
        sizes = np.concatenate([block.rows[table] for block in blocks])
        columns[table, "replication"] = np.repeat(reps, sizes)
        for field, column in record_fields(table).items():
            columns[table, column] = join(field)
        return sizes

    pack("deals")
    columns["deals", "deal"] = deal_codes
    visit_sizes = pack("visits")
    if any(block.visit_row is not None for block in blocks):
        _visits_as_made(blocks, columns, offsets)
    else:
        rows = join("visit_deal") + np.repeat(offsets, visit_sizes)
        columns["visits", "deal"] = deal_codes[rows]
    pack("pools")
    pack("capacity")
    risk_sizes = pack("risks")
    risk_deal = join("risk_deal")
    risk_rows = np.where(risk_deal >= 0, risk_deal + np.repeat(offsets, risk_sizes), 0)
    columns["risks", "deal"] = np.where(risk_deal >= 0, deal_codes[risk_rows], -1)
    columns["inputs", "global_risk"] = join("global_risk_occurred")
    columns["inputs", "arrivals"] = join("arrivals_by_source")
    columns["inputs", "uncertainty"] = join("uncertainty")
    return PackedChunk(count, columns, new_deals)


def _visits_as_made(
    blocks: list[BlockRecords], columns: dict[tuple[str, str], np.ndarray], offsets: np.ndarray
) -> None:
    """The visits' replication and deal columns of a chunk whose blocks hold some visits in
    another order than the table's (:class:`BlockRecords` ``visit_row``), and each visit's
    row in the chunk's table (column ``ROW``), which the builder puts them in."""
    deal_rep, deal_codes = columns["deals", "replication"], columns["deals", "deal"]
    one = blocks[0] if len(blocks) == 1 else None  # the common chunk: one block, as made
    if one is not None and one.visit_row is not None and one.visit_block_deal is not None:
        columns["visits", "replication"] = deal_rep[one.visit_block_deal]
        columns["visits", "deal"] = deal_codes[one.visit_block_deal]
        columns["visits", ROW] = one.visit_row
        return
    deal_rows, table_rows = [], []
    first_rep = first_visit = 0
    for block in blocks:
        sizes = block.rows["visits"]
        if block.visit_row is None or block.visit_block_deal is None:  # in table order
            local = block.records.visit_deal
            deal_rows.append(local + np.repeat(offsets[first_rep : first_rep + block.count], sizes))
            table_rows.append(np.arange(int(sizes.sum())) + first_visit)
        else:
            deal_rows.append(block.visit_block_deal + offsets[first_rep])
            table_rows.append(block.visit_row + first_visit)
        first_rep += block.count
        first_visit += int(sizes.sum())
    rows = np.concatenate(deal_rows)
    columns["visits", "replication"] = deal_rep[rows]
    columns["visits", "deal"] = deal_codes[rows]
    columns["visits", ROW] = np.concatenate(table_rows)


_TABLES = ("deals", "visits", "pools", "capacity", "risks")
_PER_REPLICATION = ("global_risk_occurred", "arrivals_by_source", "uncertainty")


def _one(r: RepRecords) -> BlockRecords:
    """One replication's records as a block of one (its per-replication vectors as rows)."""
    rows = {t: np.array([len(getattr(r, next(iter(record_fields(t)))))]) for t in _TABLES}
    joined = replace(r, **{f: getattr(r, f)[None, :] for f in _PER_REPLICATION})
    return BlockRecords(joined, [r.deal_id], rows)


class ForecastBuilder:
    """Collects replications in order (``add`` per chunk), then builds the tables once."""

    def __init__(self, model: Model, first: int = 0) -> None:
        self.model = model
        self.first = first
        self.count = 0
        self.names = list(model.deal_ids)  # deal categories: live deals, then new deals
        self._index = {name: i for i, name in enumerate(self.names)}
        self._chunks: dict[str, dict[str, list[np.ndarray]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._held = 0  # bytes of the chunks added
        # per chunk: its first visit's row, its visits, and where its visits go in its table
        # (None: in table order already; see _visits_as_made)
        self._visit_rows: list[tuple[int, int, np.ndarray | None]] = []
        self._visits = 0  # visit rows added so far
        self._in_table: np.ndarray | None = None  # of every visit, while the visits are built
        self.decision_days: np.ndarray | None = None  # of the deals' rows, once built

    def following(self) -> ForecastBuilder:
        """An empty builder for the replications after these, with the deal names seen so far
        (so a deal keeps its code from one builder to the next)."""
        after = ForecastBuilder(self.model, self.first + self.count)
        after.names, after._index = list(self.names), dict(self._index)
        return after

    def held_bytes(self, tables: Sequence[str]) -> int:
        """Bytes of the column chunks held for ``tables`` (not yet built)."""
        rows = sum(r.nbytes for *_, r in self._visit_rows if r is not None)
        held = sum(a.nbytes for t in tables for parts in self._chunks[t].values() for a in parts)
        return held + (rows if "visits" in tables else 0)

    def add(self, records: Sequence[RepRecords]) -> None:
        """Add a chunk of consecutive replications (the next ones in order)."""
        self.add_packed(pack_chunk(self.model, records))

    def add_packed(self, chunk: PackedChunk) -> None:
        """Add a chunk packed by :func:`pack_chunk` (possibly in a worker process)."""
        if chunk.replications == 0:
            return
        for name in chunk.new_deals:
            if name not in self._index:
                self._index[name] = len(self.names)
                self.names.append(name)
        # local deal codes (live deals, then the chunk's new deals) -> codes of the whole run
        n_live = len(self.model.deal_ids)
        to_global = np.concatenate(
            [
                np.arange(n_live, dtype=np.int32),
                np.array([self._index[n] for n in chunk.new_deals], np.int32),
            ]
        )
        offset = np.int32(self.first + self.count)
        self.count += chunk.replications
        visits = len(chunk.columns.get(("visits", "replication"), ()))
        self._visit_rows.append((self._visits, visits, chunk.columns.get(("visits", ROW))))
        self._visits += visits
        for (table, column), values in chunk.columns.items():
            if column == ROW:  # held apart (_visit_rows)
                continue
            if column == "replication":
                values = values + offset
            # without new deals, a chunk's codes (live deals 0..n_live-1, -1 for none) are the
            # run's already: to_global would map them to themselves (the same int32 values)
            elif column == "deal" and chunk.new_deals:
                values = np.where(values >= 0, to_global[np.maximum(values, 0)], -1)
            self._chunks[table][column].append(
                _own_map(values) if self._held > MAP_FROM else values
            )
            self._held += values.nbytes

    def _take(self, table: str, column: str, out: np.ndarray | None = None) -> np.ndarray:
        """Join a column's chunks, freeing each chunk once it is copied."""
        parts = self._chunks[table].pop(column, [])
        if not parts:
            return np.zeros(0) if out is None else out
        shape = (sum(len(p) for p in parts), *parts[0].shape[1:])
        in_table = self._in_table if table == "visits" else None
        if out is None:
            out = np.empty(shape, parts[0].dtype)
        joined = out if in_table is None else np.empty(shape, parts[0].dtype)
        start = 0
        while parts:
            part = parts.pop(0)
            joined[start : start + len(part)] = part
            start += len(part)
        if in_table is not None:  # each visit to its row in the table
            out[in_table] = joined
        return out

    def _table_rows(self) -> np.ndarray | None:
        """Each visit's row in the visits table (None: every chunk's visits in table order)."""
        if all(rows is None for *_, rows in self._visit_rows):
            return None
        parts = [
            np.arange(first, first + n) if rows is None else rows.astype(np.int64) + first
            for first, n, rows in self._visit_rows
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def build(self) -> dict[str, pd.DataFrame]:
        """The tables of every replication added so far (the builder is emptied)."""
        first = self.build_first()
        return {**first, **self.build_rest(first["deals"])}

    def build_first(self) -> dict[str, pd.DataFrame]:
        """The deals and pools tables (what a summary reads); :meth:`build_rest` builds the
        others from the chunks still held."""
        m = self.model
        deal_names, stage_names = _dtype(tuple(self.names)), _dtype(tuple(m.stage_ids))
        type_names = _dtype(tuple(t.name for t in m.types))
        outcome = self._take("deals", "outcome")
        decision_t = self._take("deals", "decision_t")
        value = self._take("deals", "value")
        # the close dates' working days, kept for the summary's periods (records.decision_days)
        self.decision_days, dates = m.calendar.end_days_and_dates(decision_t)
        deals = self._frame(
            "deals",
            {
                "deal": self._categories("deals", "deal", deal_names),
                "type": self._categories("deals", "type", type_names),
                "outcome": pd.Categorical.from_codes(_OUTCOME_TO_CODE[outcome], dtype=OUTCOMES),
                "decision_t": decision_t,
                # millisecond resolution: what Parquet stores, so save/load round-trips exactly
                "decision_date": dates.astype("datetime64[ms]"),
                "value": value,
                "revenue": np.where(outcome == WON, value, 0.0),
                "stage": self._categories("deals", "stage", stage_names),
            },
        )
        del outcome, value, decision_t
        return {"deals": deals, "pools": self._pools()}

    def _pools(self) -> pd.DataFrame:
        pools = list(self.model.pool_ids)
        pool_names = _dtype(tuple(pools))  # cached: the same dtype object as the capacity's
        busy = self._take("pools", "busy_days")
        capacity_days = self._take("pools", "capacity_days")
        return self._frame(
            "pools",
            {
                "pool": pd.Categorical.from_codes(
                    np.tile(np.arange(len(pools), dtype=np.int16), self.count), dtype=pool_names
                ),
                "busy_days": busy,
                "capacity_days": capacity_days,
                "utilization": np.divide(
                    busy, capacity_days, out=np.full_like(busy, np.nan), where=capacity_days > 0
                ),
            },
        )

    def build_rest(self, deals: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The visits, capacity, risks and inputs tables (after :meth:`build_first`, whose
        deals table the inputs are computed from)."""
        m = self.model
        deal_names = _dtype(tuple(self.names))
        stage_names, pool_names = _dtype(tuple(m.stage_ids)), _dtype(tuple(m.pool_ids))
        self._in_table, self._visit_rows, self._visits = self._table_rows(), [], 0
        visits = self._frame(
            "visits",
            {
                "deal": self._categories("visits", "deal", deal_names),
                "stage": self._categories("visits", "stage", stage_names),
                "exit": pd.Categorical.from_codes(self._take("visits", "exit"), dtype=EXITS),
            },
        )
        self._in_table = None
        capacity = self._frame(
            "capacity", {"pool": self._categories("capacity", "pool", pool_names)}
        )
        risk_deal = self._take("risks", "deal").astype(np.int64)
        names = np.asarray(self.names, dtype=object)
        risks = self._frame(
            "risks",
            {
                "risk": self._categories("risks", "risk", _dtype(tuple(r.id for r in m.risks))),
                "deal": np.where(risk_deal >= 0, names[np.maximum(risk_deal, 0)], "").astype(object)
                if len(names)
                else np.full(len(risk_deal), "", dtype=object),
            },
        )
        inputs = self._inputs(deals, visits, risks)
        return {"visits": visits, "capacity": capacity, "risks": risks, "inputs": inputs}

    def _categories(self, table: str, column: str, names: pd.CategoricalDtype) -> pd.Categorical:
        # a cached dtype (_dtype): its categories are checked once, not once per table and run
        return pd.Categorical.from_codes(self._take(table, column), dtype=names)

    def _frame(self, table: str, computed: dict[str, Any]) -> pd.DataFrame:
        """The table in its schema's column order: ``computed`` columns as given, the others
        taken from the chunks, the float ones filled straight into one block.

        pandas keeps same-dtype columns in one 2D block; building it first (column-major, so
        each column is contiguous) and filling it in place avoids a second copy of the table.
        The frame is assembled from its blocks as they are (each other column a block of its
        own, as inserting them one by one makes it), without pandas copying or re-indexing.
        """
        schema = TABLES[table]
        blocks: list[tuple[Any, np.ndarray]] = []
        floats: list[str] = []
        at: list[int] = []
        names: list[str] = []  # of the frame's columns as assembled
        strings: list[tuple[int, str, np.ndarray]] = []  # inserted after: pandas infers str
        rows = 0
        for position, f in enumerate(schema):
            if f.name in computed:
                values = computed[f.name]
            elif pa.types.is_float64(f.type):
                floats.append(f.name)
                at.append(len(names))
                names.append(f.name)
                continue
            else:
                values = self._take(table, f.name).astype(f.type.to_pandas_dtype(), copy=False)
            rows = len(values)  # every column's (the replication column's first)
            if isinstance(values, np.ndarray) and values.dtype == object:
                strings.append((position, f.name, values))
                continue
            if isinstance(values, np.ndarray):
                values = values.reshape(1, -1)  # a block's shape: (columns, rows)
            blocks.append((values, np.array([len(names)])))
            names.append(f.name)
        block = np.empty((rows, len(floats)), order="F")
        for j, name in enumerate(floats):
            self._take(table, name, out=block[:, j])
        if floats:
            blocks.insert(0, (block.T, np.array(at)))
        frame = create_dataframe_from_blocks(
            blocks, index=pd.RangeIndex(rows), columns=pd.Index(names)
        )
        for position, name, values in strings:  # in schema order: each lands in place
            frame.insert(position, name, values, allow_duplicates=True)
        return frame

    def _inputs(
        self, deals: pd.DataFrame, visits: pd.DataFrame, risks: pd.DataFrame
    ) -> pd.DataFrame:
        """Per replication: the sampled inputs that drive the outputs (for sensitivity)."""
        m, first, n_reps = self.model, self.first, self.count
        out: dict[str, Any] = {"replication": np.arange(n_reps, dtype=np.int32) + first}
        n_stages = len(m.stage_ids)
        # mean first-visit duration per replication and stage, in numpy (no table copies):
        # the finished first visits, in table order
        exit_t = visits["exit_t"].to_numpy()
        finished_first = (visits["visit"].to_numpy() == 0) & ~np.isnan(exit_t)
        # all of them (no revisits, none open): every row, without copies
        rows: Any = slice(None) if finished_first.all() else np.flatnonzero(finished_first)
        cell = (visits["replication"].to_numpy()[rows] - first) * n_stages
        cell += visits["stage"].cat.codes.to_numpy()[rows]
        span = exit_t[rows] - visits["start_t"].to_numpy()[rows]
        size = n_reps * n_stages
        total = np.bincount(cell, weights=span, minlength=size).reshape(n_reps, -1)
        count = np.bincount(cell, minlength=size).reshape(n_reps, -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
        for code, stage in enumerate(m.stage_ids):
            if count[:, code].any():
                out[f"duration:{stage}"] = mean[:, code]
        global_risk = self._take("inputs", "global_risk")
        if any(r.scope == SCOPE_DEAL for r in m.risks):
            hits = risks.groupby(["replication", "risk"], observed=False).size()
        for r in m.risks:
            if r.scope == SCOPE_DEAL:  # how many deals it hit
                per_rep = hits.xs(r.id, level="risk") if len(hits) else pd.Series(dtype=int)
                out[f"risk:{r.id}"] = per_rep.reindex(out["replication"], fill_value=0).to_numpy()
            else:  # whether it occurred
                out[f"risk:{r.id}"] = global_risk[:, r.index].astype(np.int64)
        arrivals = self._take("inputs", "arrivals")
        for i, a in enumerate(m.arrivals):
            out[f"arrivals:{a.key}"] = arrivals[:, i]
        uncertainty = self._take("inputs", "uncertainty")
        names = [u.name for u in m.uncertainty] + [mp.name for mp in m.monthly]
        for i, name in enumerate(names):
            out[f"uncertainty:{name}"] = uncertainty[:, i]
        live: Any = deals["live"].to_numpy()
        value = deals["value"].to_numpy()
        n_live = len(m.deal_ids)
        if live.all() and n_reps >= 2 and len(value) == n_reps * n_live:
            # every replication's rows its live deals (no arrivals): summed down the columns
            # of a C-ordered (deal, replication) array, which numpy adds row after row from
            # 0.0 as bincount does, without bincount's wait on each sum (with one column it
            # would sum pairwise: two replications or more)
            by_deal = np.ascontiguousarray(value.reshape(n_reps, n_live).T)
            out["value:live_pipeline"] = np.add.reduce(by_deal, axis=0, initial=0.0)
        else:
            if live.all():  # every row, without copies (the same rows in order)
                live = slice(None)
            out["value:live_pipeline"] = np.bincount(
                deals["replication"].to_numpy()[live] - first,
                weights=value[live],
                minlength=n_reps,
            )
        return pd.DataFrame(out)
