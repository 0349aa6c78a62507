"""The column-mapping shapes: Maven's ``sales_pipeline.csv``, a generic one-row-per-opportunity
export and a generic stage-changes file (see :mod:`simsales.calibrate.mapping`): the mapping is
the declared variable map from the export's columns to the canonical fields."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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
from simsales.calibrate.sources.parse import parse_numbers, parse_times, year_last_order
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
    out["_line"] = frame.index.to_numpy() + 2  # the index is the file's line - 2 (read_table)
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
    frame, report_rows = _without_report_rows(frame)
    found = None
    if isinstance(mapping, ColumnMapping):
        m = mapping
    else:
        fmt = (
            mapping
            if isinstance(mapping, dict)
            else load_mapping(mapping_file)
            if mapping_file is not None
            else {}
        ).get("date_format")
        found = recognise(header, _fits_field(frame, fmt)) if preset is None else None
        fallback = {"shape": found.shape, "columns": found.columns} if found else None
        try:
            m = resolve_mapping(preset, mapping if mapping is not None else mapping_file,
                                columns, header=header, fallback=fallback)  # fmt: skip
        except ScenarioError as exc:  # a header problem is the export's: name its file
            above = frame.attrs.get("title_rows")
            where = f"(line {above + 1})" if above else "(its first row)"
            raise ScenarioError(
                [replace(p, file=p.file or str(path),
                         message=p.message.replace("(its first row)", where))
                 for p in exc.problems]
            ) from None  # fmt: skip
    notes = [("encoding", encoding_note)] if encoding_note else []
    notes += report_rows
    if above := frame.attrs.get("title_rows"):
        notes.append(("title_rows", f"the header is on line {above + 1}: the {above} line(s) "
                      "above it (a report's title) are left out"))  # fmt: skip
    rows = canonical(frame, m.columns)
    if m.recognised and found is not None:
        given = {f for f in (columns or {}) if f in m.columns}
        notes.append(("columns", found.describe(m.columns, given)))
        if found.id_is_name and m.columns.get("id") == found.columns["id"]:
            rows["id"] = name_ids(frame, str(found.columns["id"]))
    notes += _fill_groups(rows, m)
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


# the first cell of a report's summary row, whole: Subtotal, Total, Grand Totals (480 records),
# 合计 (a company called "Total Solutions" is not one); such a row has no date in it
_SUMMARY = re.compile(
    r"^(?:(?:grand\s+|sub-?)?totals?|合计|总计|小计)\s*(?:\(.*\))?\s*[:：]?$", re.IGNORECASE
)
_DATE_LIKE = re.compile(r"\d{4}[-/.年]\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}")


def _without_report_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The table without a report's own rows, and a note for each kind left out: its summary
    rows (the first filled cell ``Subtotal``, ``Total``, ``Grand Totals (480 records)``, 合计)
    and its footer (the rows after its last row of two or more cells that have one cell at
    most: Salesforce's "Copyright (c) ...", "Generated By: ...")."""
    text = frame.astype(str).apply(lambda c: c.str.strip())
    filled = (text != "").to_numpy()
    notes: list[tuple[str, str]] = []
    first = text.to_numpy()[np.arange(len(frame)), filled.argmax(axis=1)] if len(frame) else []
    summary = np.array([bool(_SUMMARY.match(str(v))) for v in first], dtype=bool)
    for i in np.flatnonzero(summary):  # a row with a date is a deal, whatever it is called
        summary[i] = not any(_DATE_LIKE.search(v) for v in text.iloc[i])
    if summary.any():
        notes.append(("summary_rows", f"{int(summary.sum())} report summary rows "
                      f"({str(first[summary][0])[:40]!r} ...): not deals, left out"))  # fmt: skip
    rows = np.flatnonzero(filled.sum(axis=1) >= 2)
    end = rows[-1] + 1 if len(rows) else len(frame)
    if end < len(frame):
        tail = text.iloc[end:].to_numpy().ravel()
        shown = next((str(v) for v in tail if v), "")
        notes.append(("footer", f"{len(frame) - end} rows after the table with one cell at most "
                      f"(a report's footer{': ' + repr(shown[:60]) if shown else ''}): not "
                      "deals, left out"))  # fmt: skip
    keep = ~summary & (np.arange(len(frame)) < end)
    return (frame[keep] if not keep.all() else frame), notes


_DATE_FIELDS = ("closed", "created", "engaged", "entered", "expected_close")


def _fits_field(frame: pd.DataFrame, fmt: str | None = None) -> Callable[[str, str], bool]:
    """Whether a column's cells look like a field's: for a date field, most of the first 200
    filled cells read as dates (in ISO, year-last or a spreadsheet's form, or the mapping's
    ``date_format``); any other, yes."""

    def fits(field: str, column: str) -> bool:
        if field not in _DATE_FIELDS:
            return True
        cells = frame[column].astype(str).str.strip()
        cells = cells[cells != ""].head(200)
        if cells.empty:
            return True  # an empty column says nothing against it
        read = parse_times(cells, None, None, year_last_order(cells)).notna()
        if fmt is not None:
            read |= parse_times(cells, str(fmt)).notna()
        return bool(read.mean() > 0.5)

    return fits


def _fill_groups(rows: pd.DataFrame, m: ColumnMapping) -> list[tuple[str, str]]:
    """A report grouped by stage (Salesforce's formatted export) writes the stage on its
    group's first row only: where most rows have no stage, the first row has one and no stage
    is written twice, the blanks take the stage above them (said in the note)."""
    if "stage" not in rows or m.shape != "opportunities" or rows.empty:
        return []
    stage = rows["stage"].astype(str).str.strip()
    blank = stage == ""
    # a group's label once, at its head: most rows blank, the first not, no label twice
    if not (blank.mean() > 0.5 and stage.iloc[0] != "" and stage[~blank].is_unique):
        return []
    rows["stage"] = stage.where(~blank).ffill()
    return [("grouped_report", f"{int(blank.sum()):,} rows with no {m.names()['stage']} in a "
             "report grouped by it: each takes the stage of its group's first row")]  # fmt: skip


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
