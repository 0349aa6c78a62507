"""The column-mapping shapes: Maven's ``sales_pipeline.csv``, a generic one-row-per-opportunity
export and a generic stage-changes file (see :mod:`simsales.calibrate.mapping`): the mapping is
the declared variable map from the export's columns to the canonical fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simsales.calibrate.headers import name_ids, recognise
from simsales.calibrate.mapping import (
    Catalog,
    ColumnMapping,
    Labels,
    Teams,
    load_mapping,
    resolve_mapping,
)
from simsales.calibrate.sources.files import read_table
from simsales.calibrate.sources.parse import parse_numbers
from simsales.calibrate.sources.records import Records
from simsales.errors import Problem, ScenarioError

__all__ = ["canonical", "mapping_options", "read"]


def canonical(
    frame: pd.DataFrame, variables: Mapping[str, str | tuple[str, ...]], file: str = ""
) -> pd.DataFrame:
    """The rows under canonical field names (``variables``: field -> column, or columns whose
    first non-blank value is taken), with their line numbers (the header is line 1)."""
    out = pd.DataFrame(index=frame.index)
    for f, c in variables.items():
        cols = [c] if isinstance(c, str) else [x for x in c if x in frame.columns]
        if not cols or cols[0] not in frame.columns:
            continue
        value = frame[cols[0]]
        for other in cols[1:]:
            value = value.where(value.astype(str).str.strip() != "", frame[other])
        out[f] = value
    out["_line"] = np.arange(len(frame)) + 2
    out["_file"] = file
    return out


def read(
    path: Path,
    frame: pd.DataFrame,
    encoding_note: str | None,
    mapping: ColumnMapping | dict[str, Any] | None,
    preset: str | None,
    mapping_file: str | Path | None,
    columns: dict[str, str] | None,
    timezone: str | None,
    currency: str | None,
    encoding: str | None,
) -> Records:
    header = list(frame.columns)
    found = None
    if isinstance(mapping, ColumnMapping):
        m = mapping
    else:
        found = recognise(header) if preset is None else None
        fallback = {"shape": found.shape, "columns": found.columns} if found else None
        try:
            m = resolve_mapping(preset, mapping if mapping is not None else mapping_file,
                                columns, header=header, fallback=fallback)  # fmt: skip
        except ScenarioError as exc:  # a header problem is the export's: name its file
            raise ScenarioError(
                [replace(p, file=p.file or str(path)) for p in exc.problems]
            ) from None
    notes = [("encoding", encoding_note)] if encoding_note else []
    rows = canonical(frame, m.columns)
    if m.recognised and found is not None:
        notes.append(("columns", found.describe()))
        if found.id_is_name and m.columns.get("id") == found.columns["id"]:
            rows["id"] = name_ids(frame, str(found.columns["id"]))
    teams = _teams(path, m, encoding)
    if teams and "owner" in rows and "team" not in rows:
        rows["team"] = rows["owner"].map(teams).fillna("")
    return Records(
        source=str(path),
        shape=m.shape,
        rows=rows,
        names=m.names(),
        labels=m.labels,
        stage_order=m.stage_order,
        currency=currency or (m.currency if "currency" in m.model_fields_set else None),
        date_format=m.date_format,
        timezone=timezone or m.timezone,
        catalog=_catalog(path, m, encoding),
        notes=notes,
        states=dict(m.states or {}),
    )


_SOURCE_KEYS = ("labels", "stage_order", "timezone", "currency", "states", "date_format")


def mapping_options(rec: Records, mapping_file: str | Path | None) -> Records:
    """A source's records with a ``--mapping`` file's labels, stage order, state renames,
    time zone, currency and date format (its ``columns`` apply to generic exports only)."""
    if mapping_file is None:
        return rec
    raw = load_mapping(mapping_file)
    unknown = [k for k in raw if k not in (*_SOURCE_KEYS, "columns", "shape", "catalog")]
    if unknown:
        raise ScenarioError(
            [Problem(f"unknown key {unknown[0]!r}", unknown[0], str(mapping_file),
                     hint=f"a source mapping takes {', '.join(_SOURCE_KEYS)}")]
        )  # fmt: skip
    try:
        m = ColumnMapping.model_validate(
            {"shape": "stage_changes", "columns": {"id": "id", "stage": "stage",
                                                   "entered": "entered"},
             **{k: v for k, v in raw.items() if k in _SOURCE_KEYS}}
        )  # fmt: skip
    except ValueError as exc:
        raise ScenarioError([Problem(str(exc), file=str(mapping_file))]) from None
    changes: dict[str, Any] = {}
    if "labels" in raw:
        changes["labels"] = Labels(
            won=(*m.labels.won, *rec.labels.won), lost=(*m.labels.lost, *rec.labels.lost),
            open=m.labels.open,
        )  # fmt: skip
    if m.stage_order is not None:
        changes |= {"stage_order": m.stage_order, "order_reason": f"given by {mapping_file}"}
    for key in ("timezone", "date_format"):
        if raw.get(key) is not None:
            changes[key] = getattr(m, key)
    if "currency" in raw:
        changes["currency"] = m.currency
    if m.states:
        changes["states"] = dict(m.states)
    return replace(rec, **changes)


def _side_table(
    path: Path,
    spec: Catalog | Teams,
    what: str,
    key: str,
    columns: tuple[str | None, ...],
    encoding: str | None,
) -> pd.DataFrame | None:
    """A side file the mapping names (``teams``, ``catalog``), beside the export; None when it
    is optional and absent. A missing file or column is an error at the mapping's key."""
    file = path.parent / spec.file
    if not file.exists():
        if spec.optional:
            return None
        raise ScenarioError([Problem(f"{what} file not found", f"{key}.file", str(file))])
    table, _ = read_table(file, encoding)
    for col in columns:
        if col is not None and col not in table.columns:
            raise ScenarioError([Problem(f"no column {col!r} in the {what} file", key,
                                         str(file))])  # fmt: skip
    return table


def _teams(path: Path, m: ColumnMapping, encoding: str | None) -> dict[str, str]:
    spec = m.teams
    if spec is None:
        return {}
    table = _side_table(path, spec, "teams", "teams", (spec.owner, spec.team), encoding)
    if table is None:
        return {}
    return {o: t for o, t in zip(table[spec.owner], table[spec.team], strict=True) if o and t}


def _catalog(path: Path, m: ColumnMapping, encoding: str | None) -> dict[str, float]:
    spec = m.catalog
    if spec is None:
        return {}
    cat = _side_table(path, spec, "catalog", "catalog", (spec.product, spec.price), encoding)
    if cat is None:
        return {}
    prices = parse_numbers(cat[spec.price]) if spec.price else pd.Series(np.nan, index=cat.index)
    return {str(n): float(p) for n, p in zip(cat[spec.product], prices, strict=True) if n}
