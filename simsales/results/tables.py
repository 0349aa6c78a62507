"""The Forecast's tables, declared once: one pyarrow schema per table.

Each column names its type, what it means and, when it is copied straight from the engine's
per-replication records, the :class:`~simsales.engine.replication.RepRecords` field it comes
from (field metadata ``record``). The packer and the builder (:mod:`simsales.results.build`)
take their columns from here, ``Forecast.save``/``load`` write and check them, and every
machine-readable output carries :data:`SCHEMA_VERSION` (Parquet file metadata and the
``schema_version`` key of each ``--json`` document).

Times are model time in the scenario's days; dates are calendar dates (the day convention of
:class:`~simsales.scenario.calendar.WorkCalendar`). Categorical columns are Arrow dictionaries
of strings (pandas categoricals). The ``inputs`` table has one column per sampled input, so its
schema declares ``replication`` and the column families (by name prefix) instead.

Change a table here and raise :data:`SCHEMA_VERSION`: results saved under another version are
refused on load rather than misread.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

import pandas as pd
import pyarrow as pa

from simsales.results.schema_version import SCHEMA_VERSION

__all__ = [
    "INPUT_FAMILIES",
    "SCHEMA_VERSION",
    "TABLES",
    "describe",
    "problems",
    "record_fields",
    "schema_version_of",
    "to_arrow",
]


_CATEGORY = pa.dictionary(pa.int32(), pa.string())
_FLOAT = pa.float64()


def _col(name: str, kind: pa.DataType, doc: str, record: str | None = None) -> pa.Field:
    meta = {"doc": doc} | ({"record": record} if record else {})
    return pa.field(name, kind, metadata=meta)


def _table(name: str, doc: str, *columns: pa.Field) -> pa.Schema:
    meta = {"table": name, "doc": doc, "schema_version": str(SCHEMA_VERSION)}
    return pa.schema(columns, metadata=meta)


_REPLICATION = _col("replication", pa.int32(), "replication number (child i of the seed)")

TABLES: dict[str, pa.Schema] = {
    "deals": _table(
        "deals",
        "one row per replication x deal (live pipeline first, then arrivals)",
        _REPLICATION,
        _col("deal", _CATEGORY, "deal id (live deals by their id, arrivals by a generated id)"),
        _col("type", _CATEGORY, "deal type", "deal_type"),
        _col("live", pa.bool_(), "in the pipeline at the start (false: an arrival)", "deal_live"),
        _col("arrival_t", _FLOAT, "arrival time (0 for live deals)", "arrival_t"),
        _col("outcome", _CATEGORY, "open, won or lost at the horizon", "outcome"),
        _col("decision_t", _FLOAT, "time of the decision (NaN while open)", "decision_t"),
        _col("decision_date", pa.timestamp("ms"), "calendar day of the decision (its close date)"),
        _col("value", _FLOAT, "contract value after value factors", "value"),
        _col("revenue", _FLOAT, "value if won, else 0"),
        _col("cost", _FLOAT, "people, stage and mitigation costs", "cost"),
        _col("stage", _CATEGORY, "stage reached (where lost; the last stage if won)", "stage"),
        _col("wait_days", _FLOAT, "total days queued for people", "wait"),
        _col("win_factor", _FLOAT, "product of the win-probability factors applied", "win_factor"),
    ),
    "visits": _table(
        "visits",
        "one row per stage visit: a replication's deal by deal, each deal's in order",
        _REPLICATION,
        _col("deal", _CATEGORY, "deal id"),
        _col("stage", _CATEGORY, "stage visited", "visit_stage"),
        _col("visit", pa.int32(), "visit number of this deal (0, 1, ...)", "visit_number"),
        _col("entry_t", _FLOAT, "time the deal entered the stage", "visit_entry"),
        _col("ready_t", _FLOAT, "time it queued for people (after delays)", "visit_ready"),
        _col("start_t", _FLOAT, "time the people started", "visit_start"),
        _col("exit_t", _FLOAT, "time it left the stage (NaN: still in it)", "visit_exit"),
        _col("exit", _CATEGORY, "how the visit ended: open, won, lost, advance, ...", "visit_kind"),
    ),
    "pools": _table(
        "pools",
        "one row per replication x people pool",
        _REPLICATION,
        _col("pool", _CATEGORY, "pool id"),
        _col("busy_days", _FLOAT, "person-days busy within the horizon", "pool_busy"),
        _col("capacity_days", _FLOAT, "person-days available", "pool_capacity_days"),
        _col("utilization", _FLOAT, "busy_days / capacity_days (NaN without capacity)"),
        _col("requests", pa.int64(), "requests granted", "pool_requests"),
        _col("wait_days", _FLOAT, "total days waited by granted requests", "pool_wait"),
    ),
    "capacity": _table(
        "capacity",
        "the capacity log: planned changes and resource risks",
        _REPLICATION,
        _col("pool", _CATEGORY, "pool id", "capacity_pool"),
        _col("t", _FLOAT, "time of the change", "capacity_t"),
        _col("capacity", pa.int64(), "people in the pool from t", "capacity_value"),
    ),
    "risks": _table(
        "risks",
        "one row per risk occurrence",
        _REPLICATION,
        _col("risk", _CATEGORY, "risk id", "risk_index"),
        _col("deal", pa.string(), "deal hit ('' for a resource or global risk)"),
        _col("t", _FLOAT, "time it occurred", "risk_t"),
        _col("delay_days", _FLOAT, "days of delay it caused", "risk_delay"),
    ),
    "inputs": _table(
        "inputs",
        "one row per replication: the sampled inputs that drive the outputs (sensitivity)",
        _REPLICATION,
    ),
}

# the inputs table's other columns, by name prefix
INPUT_FAMILIES: dict[str, tuple[pa.DataType, str]] = {
    "duration:": (_FLOAT, "mean first-visit duration of the stage, days"),
    "risk:": (pa.int64(), "deals a deal risk hit, or 1 if a global risk occurred"),
    "arrivals:": (pa.int64(), "deals the arrival source brought"),
    "uncertainty:": (_FLOAT, "the multiplier drawn for the uncertain parameter"),
    "value:": (_FLOAT, "total value of the live pipeline"),
}


@functools.cache  # pyarrow's field metadata is slow to walk (~25 us a table); packing asks often
def record_fields(table: str) -> Mapping[str, str]:
    """RepRecords field -> column, for the columns copied straight from the records."""
    return MappingProxyType(
        {
            f.metadata[b"record"].decode(): f.name
            for f in TABLES[table]
            if f.metadata and b"record" in f.metadata
        }
    )


def describe(table: str) -> str:
    """One line per column: name, type, meaning."""
    return "\n".join(
        f"{f.name}: {f.type} - {f.metadata[b'doc'].decode()}"
        for f in TABLES[table]
        if f.metadata is not None
    )


def _declared(table: str, column: str) -> pa.DataType | None:
    schema = TABLES[table]
    if column in schema.names:
        return schema.field(column).type
    if table == "inputs":
        for prefix, (kind, _) in INPUT_FAMILIES.items():
            if column.startswith(prefix):
                return kind
    return None


def _same(actual: pa.DataType, declared: pa.DataType) -> bool:
    """Same type, where any dictionary of strings is a category and any string a string."""
    if pa.types.is_dictionary(declared):
        return pa.types.is_dictionary(actual) and _same(actual.value_type, declared.value_type)
    if pa.types.is_string(declared):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual)
    return bool(actual == declared)


def problems(table: str, schema: pa.Schema) -> list[str]:
    """What is not as declared in a table's columns (missing, unexpected, of another type)."""
    names = [f.name for f in schema]
    out = [f"missing column {n!r}" for n in TABLES[table].names if n not in names]
    for f in schema:
        kind = _declared(table, f.name)
        if kind is None:
            out.append(f"unexpected column {f.name!r}")
        elif not _same(f.type, kind):
            out.append(f"column {f.name!r} is {f.type}, not {kind}")
    return out


def schema_version_of(metadata: Mapping[bytes, bytes] | None) -> int | None:
    """The schema version a Parquet file was written with (None: before versions)."""
    raw = (metadata or {}).get(b"schema_version")
    try:
        return None if raw is None else int(raw)
    except ValueError:
        return -1


def to_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table checked against its schema, with the schema's metadata."""
    data = pa.Table.from_pandas(frame, preserve_index=False)
    # an empty column comes out as null (no values to tell the type): give it the declared one
    target = [
        f if kind is None or _same(f.type, kind) else f.with_type(kind)
        for f in data.schema
        for kind in [_declared(table, f.name)]
    ]
    data = data.cast(pa.schema(target, metadata=data.schema.metadata))
    wrong = problems(table, data.schema)
    if wrong:  # the builder makes every table: a mismatch is a bug here, not bad input
        raise RuntimeError(f"the {table} table does not match its schema: {'; '.join(wrong)}")
    meta = dict(data.schema.metadata or {}) | dict(TABLES[table].metadata or {})
    return data.replace_schema_metadata(meta)
