"""The column-mapping shapes: Maven's ``sales_pipeline.csv``, a generic one-row-per-opportunity
export and a generic stage-changes file (see :mod:`simsales.calibrate.mapping`): the mapping is
the declared variable map from the export's columns to the canonical fields."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simsales.calibrate.headers import (
    ACTUAL_CLOSE,
    EDITED,
    NAMES,
    TITLES,
    Recognised,
    column_keys,
    name_ids,
    recognise,
)
from simsales.calibrate.mapping import (
    Catalog,
    ColumnMapping,
    Labels,
    Teams,
    columns_text,
    label_key,
    label_keys,
    load_mapping,
    resolve_mapping,
)
from simsales.calibrate.sources.files import read_table
from simsales.calibrate.sources.parse import (
    currency_codes,
    no_date,
    parse_flags,
    parse_numbers,
    parse_times,
    year_last_order,
)
from simsales.calibrate.sources.records import Note, Records
from simsales.errors import Problem, ScenarioError

__all__ = ["canonical", "closed_flags", "mapping_options", "read"]


def canonical(
    frame: pd.DataFrame, variables: Mapping[str, str | tuple[str, ...]], file: str = ""
) -> pd.DataFrame:
    """The rows under canonical field names (``variables``: field -> column, or columns whose
    first non-blank value is taken, a placeholder such as ``-`` counting as blank), with their
    line numbers (the header is line 1); a value of 0 counts as blank there (an actual
    revenue of 0, the estimate next). Of a win's and a loss's column (Pipedrive's ``Won
    time`` / ``Lost time``), a row whose status says won or lost takes its own, where filled:
    a deal won, reopened and lost keeps its stale win time."""
    out = pd.DataFrame(index=frame.index)
    for f, c in variables.items():
        cols = [c] if isinstance(c, str) else [x for x in c if x in frame.columns]
        if not cols or cols[0] not in frame.columns:
            continue
        value = frame[cols[0]]
        for other in cols[1:]:
            text = value.astype(str).str.strip()
            given = (text != "") & ~no_date(text)
            if f == "value":  # a lost deal's actual revenue of 0 (Dynamics): its estimate
                given &= parse_numbers(text) != 0
            value = value.where(given, frame[other])
        status = variables.get("status")
        if len(cols) > 1 and isinstance(status, str) and status in frame.columns:
            value = _by_status(frame, cols, frame[status], value)
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
    frame, captions = _group_captions(frame)
    frame, report_rows = _without_report_rows(frame)
    report_rows = captions + report_rows
    frame, deleted = _without_deleted(frame)
    frame, history_note = _field_history(frame)
    report_rows += history_note
    header = list(frame.columns)
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
        found = recognise(header, _fits_field(frame, fmt), _is_history(frame))
        fallback = {"shape": found.shape, "columns": found.columns} if found else None
        try:
            m = resolve_mapping(preset, mapping if mapping is not None else mapping_file,
                                columns, header=header, fallback=fallback)  # fmt: skip
        except ScenarioError as exc:  # a header problem is the export's: name its file
            above = frame.attrs.get("title_rows")
            where = f"(line {above + 1})" if above else "(its first row)"
            unread = _unread_dates(frame, found, _is_history(frame))
            summary = _summary_hint(frame)
            long = _long_hint(frame, found)
            raise ScenarioError(
                [replace(p, file=p.file or str(path),
                         message=p.message.replace("(its first row)", where),
                         hint="; ".join(h for h in (summary, unread.get(
                             p.path.removeprefix("columns."), p.hint),
                             long if p.path in ("columns.closed", "columns.engaged") else None)
                             if h))
                 for p in exc.problems]
            ) from None  # fmt: skip
    notes: list[tuple[str, str] | Note] = [("encoding", encoding_note)] if encoding_note else []
    m, pair_note = _with_split_partner(m, header)
    notes += pair_note
    frame, pipelines = _one_pipeline(frame, m, path)
    notes += pipelines
    notes += report_rows
    notes += deleted
    for action, note, n in frame.attrs.get("sheets", []):
        notes.append(("sheets", note) if action == "info" else Note("sheets", note, action, n))
    if above := frame.attrs.get("title_rows"):
        notes.append(("title_rows", f"the header is on line {above + 1}: the {above} line(s) "
                      "above it (a report's title, group captions) are left out"))  # fmt: skip
    if m.completed:
        notes.append(("columns", "the preset's or mapping file's columns, and by their names: "
                      + columns_text(dict(m.completed))))  # fmt: skip
    rows = _format_currency_off(canonical(frame, m.columns), frame.attrs.get("with_currency"), m)
    names = m.names()
    if mapping_file is not None or isinstance(mapping, dict):  # the user's own labels
        notes += _unmatched_labels(rows, m)
    if (said := _state_codes(rows, m.columns)) is not None:
        notes.append(("state_codes", said))
    if (said := _api_times_in_utc(frame, rows, m.columns)) is not None:
        notes.append(("utc_times", said))
    if (said := _per_period_bids(frame, rows)) is not None:
        notes.append(("per_period_bids", said))
    if m.shape == "opportunities" and "status" not in rows:
        flags = closed_flags(frame)
        if flags is not None:
            rows["status"], names["status"] = flags
            notes.append(("closed_flags", f"won, lost or open from {flags[1]} (true / false)"))
        elif (alone := closed_alone(frame)) is not None:
            rows["closed_flag"], names["closed_flag"] = alone
    if (
        m.shape == "opportunities"
        and (home := _in_home_currency(frame, rows, m.columns.get("value"))) is not None
    ):
        notes.append(("home_currency", home))
    parts = frame.attrs.get("parts") if m.shape == "opportunities" else None  # a history's
    closed = _closed_rows(rows, m.labels)
    # a deal known by its name is one per account: "Upsell Q2" of two customers is two deals
    by_name = found is not None and found.id_is_name and m.columns.get("id") == found.columns["id"]
    if "id" in rows:
        deal = rows["id"] + ("\x1f" + rows["account"] if by_name and "account" in rows else "")
    if parts is not None and "id" in rows:  # pasted exports (each part's changes all count)
        rows = _from_newest_part(rows, parts, m.date_format, closed, deal)
    if m.shape == "opportunities" and "id" in rows:  # joined without a header between
        before = len(rows)
        rows, stale = _latest_edits(frame, rows, m.date_format, closed, deal)
        if stale:
            notes.append(Note("stale_row", stale, "dropped", before - len(rows)))
    rows, lines = _line_items(frame, rows, m)
    notes += lines
    frame = frame.loc[rows.index]
    if m.recognised and found is not None:
        given = {f for f in (columns or {}) if f in m.columns}
        notes.append(("columns", found.describe(m.columns, given)))
        closed = m.columns.get("closed")
        if isinstance(closed, str) and "closed" not in given and label_key(closed) in _EXPECTED:
            notes.append(Note("expected_as_closed", (
                f"the only close date is {closed!r}, an expected one: the won and lost deals "
                "close on it (Bitrix24 and others set it to the day a deal closes); if the CRM "
                "keeps the real close in another field (Freshsales' Closed date, Keap's), "
                "export that column too"), "kept", len(rows)))  # fmt: skip
        one_row_each = m.shape == "opportunities"  # a history's rows share their deal's name
        if found.id_is_name and one_row_each and m.columns.get("id") == found.columns["id"]:
            rows["id"] = name_ids(frame, str(found.columns["id"]))
    notes += _fill_groups(rows, m)
    zone, zone_notes = run_zone(timezone, m.timezone, mapping_file or "the mapping")
    notes += zone_notes
    teams = _teams(path, m, encoding)
    if teams and "owner" in rows and "team" not in rows:
        rows["team"] = rows["owner"].map(teams).fillna("")
    return Records(
        source=str(path),
        shape=m.shape,
        rows=rows,
        names=names,
        labels=m.labels,
        stage_order=m.stage_order,
        currency=currency or (m.currency if "currency" in m.model_fields_set else None),
        date_format=m.date_format,
        timezone=zone,
        catalog=_catalog(path, m, encoding),
        notes=notes,
        states=dict(m.states or {}),
        shown_scaled=frame.attrs.get("shown_scaled", {}),
    )


# Bitrix24 writes a deal's pipeline as CATEGORY_ID beside its STAGE_ID (another CRM's
# "Category ID" may be a product's), and in the ids of its stages but the general
# pipeline's (0): C1:NEW, C2:WON
_PIPELINE_ID = ("categoryid", "stageid")
_PIPELINE_PREFIX = re.compile(r"^C(\d+):(?=\S)")
# ... and its UI export by the pipeline's name: Направление (its older Russian UI), Воронка, or
# Pipeline in English. An English "Pipeline" is Bitrix24's beside its "Responsible" (HubSpot's
# and Pipedrive's views name theirs so too, read there as the product), or where the mapping
# picks a pipeline
_PIPELINE_NAMES = label_keys("Направление", "Направление сделки", "Воронка", "Воронка сделки")
_PIPELINE_ENGLISH = label_keys("Pipeline", "Deal pipeline")
_BITRIX_UI = label_keys("Responsible", "Responsible person")


def _pipelines(frame: pd.DataFrame, m: ColumnMapping) -> tuple[pd.Series | None, str]:
    """Each row's pipeline (None: the export names none) and the column it is read from."""
    keys = {label_key(str(c)): c for c in frame.columns}
    if _PIPELINE_ID[0] in keys and _PIPELINE_ID[1] in keys:
        col = keys[_PIPELINE_ID[0]]
        return frame[col].astype(str).str.strip().replace({"": "0", "nan": "0"}), str(col)
    english = m.pipeline is not None or bool(_BITRIX_UI & set(keys))
    names = _PIPELINE_NAMES | (_PIPELINE_ENGLISH if english else frozenset())
    named = next((keys[k] for k in keys if k in names), None)
    if named is not None:
        return frame[named].astype(str).str.strip(), str(named)
    stage = m.columns.get("stage")
    if isinstance(stage, str) and stage in frame:
        prefix = frame[stage].astype(str).str.strip().str.extract(_PIPELINE_PREFIX)[0]
        if prefix.notna().any():
            return prefix.fillna("0"), f"{stage}'s C1: prefixes"
    return None, ""


def _one_pipeline(
    frame: pd.DataFrame, m: ColumnMapping, path: Path
) -> tuple[pd.DataFrame, list[tuple[str, str] | Note]]:
    """The rows of one pipeline where the export mixes several (each pipeline has its own
    stages: one process is fitted to one): the mapping's ``pipeline`` (its id or name), else
    the one with most deals; the others reported with their deals. A pipeline the export
    lacks is an error, and so is a ``pipeline`` where the export names none."""
    pipe, col = _pipelines(frame, m)
    if pipe is None:
        if m.pipeline is None:
            return frame, []
        raise ScenarioError([Problem(
            f"pipeline {m.pipeline!r} is given, but the export names no deal's pipeline",
            path="pipeline", file=str(path),
            hint="export the deals' pipeline column too (CATEGORY_ID, Pipeline, Воронка, "
            "Направление), or remove pipeline: from the mapping file",
        )])  # fmt: skip
    ident = m.columns.get("id")
    # a history's rows are changes: count its deals, once each
    deals = frame[ident] if isinstance(ident, str) and ident in frame else frame.index.to_series()
    counts = deals.groupby(pipe.to_numpy()).nunique().sort_index()
    known = sorted(counts.index, key=lambda p: (len(p), p))
    # by its id, or its name as spelt anyhow
    given = None if m.pipeline is None else label_key(m.pipeline)
    chosen = next((p for p in known if label_key(p) == given), m.pipeline)
    if m.pipeline is not None and chosen not in counts:
        near = difflib.get_close_matches(m.pipeline, known, n=1)
        listed = ", ".join(repr(p) for p in known)
        what = f"pipeline {m.pipeline!r} has no deals in the export; its pipelines are {listed}"
        raise ScenarioError([Problem(
            what + (f" (did you mean {near[0]!r}?)" if near else ""), path="pipeline",
            file=str(path), hint="set pipeline: in the mapping file to one of them",
        )])  # fmt: skip
    if len(counts) < 2:
        return frame, []
    main = chosen or max(known, key=lambda p: (counts[p], p == "0"))  # a tie: the general
    other = pipe != main
    said = ", ".join(
        f"{p!r} ({counts[p]} deal{'s' if counts[p] > 1 else ''})" for p in known if p != main
    )
    return frame[~other], [Note("other_pipeline", (
        f"only pipeline {main!r} ({counts[main]} deals; {col}) is read; other pipelines left out: "
        f"{said} (each pipeline is its own process: set pipeline: in a --mapping file to read "
        "another)"), "dropped", int(other.sum()))]  # fmt: skip


def _unmatched_labels(rows: pd.DataFrame, m: ColumnMapping) -> list[Note]:
    """A warning for each label the mapping names (stage_order, labels, states) that no row's
    stage, status or outcome has (nor begins with): likely a typo, with the nearest label the
    rows have."""
    seen = {label_key(v): v for f in ("stage", "status", "outcome", "from_stage") if f in rows
            for v in pd.unique(rows[f].astype(str).str.strip()) if v}  # fmt: skip
    named = [*(m.stage_order or ()), *(m.states or {})]
    for kind in ("won", "lost", "open"):
        if kind in m.labels.model_fields_set:
            named += getattr(m.labels, kind) or ()
    notes = []
    for name in dict.fromkeys(named):
        key = label_key(name)
        if not key or any(k.startswith(key) for k in seen):
            continue
        near = difflib.get_close_matches(name, list(seen.values()), n=1, cutoff=0.6)
        some = ", ".join(sorted(seen.values())[:8])
        hint = f"did you mean {near[0]!r}?" if near else f"the rows have {some}"
        notes.append(Note("unmatched_label", f"the mapping names the label {name!r}, which no "
                          f"row has: {hint}", "kept"))  # fmt: skip
    return notes


_EXPECTED = frozenset(label_key(n) for n in NAMES["expected_close"] if isinstance(n, str))
# the words a win's date column and a loss's share their names by (Won Time / Lost Time,
# 交易 - 赢单时间 / 交易 - 丢单时间, Gewonnen am / Verloren am)
_WON_LOST_WORDS = (("won", "lost"), ("win", "loss"), ("gewonnen", "verloren"),
                   ("ganado", "pérdida"), ("ganado", "perdido"), ("ganho", "perda"),
                   ("gain", "perte"), ("gagné", "perdu"), ("赢单", "输单"), ("赢单", "丢单"),
                   ("成交", "输单"), ("成交", "丢单"), ("赢", "输"), ("受注", "失注"),
                   ("成約", "失注"), ("수주", "실주"))  # fmt: skip


def _split_partner(column: str, header: Sequence[str]) -> tuple[str, str] | None:
    """The (won, lost) pair of date columns ``column`` is one half of, when the header has the
    other: its name with the won word for the lost one, or the other way round."""
    keys = {label_key(c): str(c) for c in header if str(c) != column}
    text = column.casefold()
    for won, lost in _WON_LOST_WORDS:
        for mine, other, won_first in ((won, lost, True), (lost, won, False)):
            if mine in text and (hit := keys.get(label_key(text.replace(mine, other)))):
                return (column, hit) if won_first else (hit, column)
    return None


def _with_split_partner(
    m: ColumnMapping, header: Sequence[str]
) -> tuple[ColumnMapping, list[Note]]:
    """A close named by one column of a won / lost pair (``--column closed='Won Time'`` where
    the export also has 'Lost Time'): both, the other half's deals would have no close date."""
    closed = m.columns.get("closed")
    taken = {c for v in m.columns.values() for c in ((v,) if isinstance(v, str) else v)}
    pair = _split_partner(closed, header) if isinstance(closed, str) else None
    if m.shape != "opportunities" or pair is None or (other := pair[pair[0] == closed]) in taken:
        return m, []
    columns = {**m.columns, "closed": pair}
    kept = m.model_copy(update={"columns": columns})  # recognised or not, as it was
    half, rest = ("won", "lost") if closed == pair[0] else ("lost", "won")
    note = (f"closed was named as {closed!r}, which only the {half} deals have a date in; the "
            f"{rest} deals' dates are in {other!r}, so both are read (to say so yourself, in a "
            f"--mapping file: columns: {{closed: [{pair[0]!r}, {pair[1]!r}]}})")  # fmt: skip
    return kept, [Note("split_close", note)]


# outcomes written as codes, by the column's name: Dynamics 365's opportunity states (the
# documented option set of its statecode) and Bitrix24's stage semantics (in progress,
# success, failure)
_DYNAMICS = ({"0": "Open", "1": "Won", "2": "Lost"}, "Dynamics 365's opportunity states")
_BITRIX = ({"P": "Open", "S": "Won", "F": "Lost"}, "Bitrix24's stage semantics")
_STATE_CODES = {"statecode": _DYNAMICS, "stagesemanticid": _BITRIX, "statussemanticid": _BITRIX}


def _state_codes(rows: pd.DataFrame, columns: Mapping[str, str | tuple[str, ...]]) -> str | None:
    """A status's or outcome's codes (Dynamics' ``statecode`` 0 / 1 / 2, Bitrix24's
    ``STAGE_SEMANTIC_ID`` P / S / F) as Open / Won / Lost in ``rows``, where the column is
    one of them and every cell one of its codes (a note saying so), else None."""
    for field in ("status", "outcome"):
        column = columns.get(field)
        if not isinstance(column, str) or label_key(column) not in _STATE_CODES:
            continue
        codes, whose = _STATE_CODES[label_key(column)]
        code = rows[field].astype(str).str.strip().str.upper()
        if code.isin([*codes, ""]).all() and (code != "").any():
            rows[field] = code.map(codes).fillna("")
            return f"{column} {' / '.join(codes)} read as open / won / lost ({whose})"
    return None


# Pipedrive's API writes a deal's times in UTC with no offset ("2022-01-08 11:54:00"); its
# deals are known by add_time and update_time side by side (the UI exports other names)
_PIPEDRIVE_API = ("add_time", "update_time")
_PIPEDRIVE_TIMES = frozenset({"add_time", "update_time", "stage_change_time", "won_time",
                              "lost_time", "close_time", "first_won_time"})  # fmt: skip
_TIME_OF_DAY = re.compile(r"\d[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")


def _api_times_in_utc(
    frame: pd.DataFrame, rows: pd.DataFrame, columns: Mapping[str, str | tuple[str, ...]]
) -> str | None:
    """Pipedrive API times (a time of day with no offset) marked as UTC in ``rows``, so that
    ``--timezone`` gives their local day, with the note that says so (None: not such an
    export)."""
    if not all(c in frame.columns for c in _PIPEDRIVE_API):
        return None
    marked = []
    for f, c in columns.items():
        cols = (c,) if isinstance(c, str) else c
        if f in rows and set(cols) <= _PIPEDRIVE_TIMES:
            text = rows[f].astype(str).str.strip()
            naive = text.str.contains(_TIME_OF_DAY, regex=True)
            rows[f] = rows[f].where(~naive, text + "Z")
            marked.append(" / ".join(cols))
    if not marked:
        return None
    return (f"{', '.join(marked)}: Pipedrive API times, in UTC (--timezone gives their local "
            "day)")  # fmt: skip


# a report's count of deals in a row: a summary (a pivot, Pipedrive's "Deal duration"), not deals
_COUNTS = label_keys("Count", "Deals", "Number of deals", "Deal count", "# of deals",
                     "Record Count", "Anzahl", "商机数", "个数", "计数", "件数")  # fmt: skip


def _long_hint(frame: pd.DataFrame, found: Recognised | None) -> str | None:
    """What to do with a history of stage changes read as one row per deal (its ids repeat,
    going through several stages, and no column names the time of each change), else None."""
    if found is None or found.shape != "opportunities":
        return None
    ident, stage = found.columns.get("id"), found.columns.get("stage")
    if not isinstance(ident, str) or not isinstance(stage, str):
        return None
    created = found.columns.get("created")
    if not _is_history(frame)(ident, stage, created if isinstance(created, str) else None):
        return None
    return (
        f"the ids in {ident!r} repeat on rows of different stages: if the file has a row per "
        "stage change, read it as a history with a --mapping file holding: shape: "
        f"stage_changes, columns: {{id: {ident!r}, stage: {stage!r}, entered: TIME_COLUMN}} "
        "(TIME_COLUMN: the column with the time of each change)"
    )


def _summary_hint(frame: pd.DataFrame) -> str | None:
    """What to do with a summary report (a column or cell counting deals), else None."""
    cells = [str(c) for c in frame.columns]
    cells += [str(v) for v in frame.head(3).to_numpy().ravel()]
    count = next((c for c in cells if label_key(c) in _COUNTS), None)
    if count is None:
        return None
    return (
        f"it looks like a summary (its {count!r} counts deals), not one row per deal: "
        "export the list of deals itself, each with its id, stage and dates"
    )


# a bid priced per period and the number of periods (Insightly's BID_TYPE / BID_DURATION,
# Capsule's durationBasis / duration): the deal's value is the bid times the periods
_BID_BASIS = label_keys("BID_TYPE", "Bid Type", "durationBasis", "Duration Basis")
_BID_PERIODS = label_keys("BID_DURATION", "Bid Duration", "duration")
_FIXED_BID = label_keys("Fixed Bid", "Fixed", "")


def _per_period_bids(frame: pd.DataFrame, rows: pd.DataFrame) -> str | None:
    """Values of bids priced per hour, day, month, ... multiplied by their number of periods
    in ``rows["value"]``, with the note that says so (None: no such bids)."""
    by_key = _by_key(frame)
    basis = next((by_key[k] for k in _BID_BASIS if k in by_key), None)
    periods = next((by_key[k] for k in _BID_PERIODS if k in by_key), None)
    if basis is None or periods is None or "value" not in rows:
        return None
    kind = frame.loc[rows.index, basis].astype(str).map(label_key)
    count = parse_numbers(frame.loc[rows.index, periods])
    per = ~kind.isin(_FIXED_BID) & (count > 0)
    if not per.any():
        return None
    value = parse_numbers(rows["value"].astype(str), amounts=True)
    rows["value"] = rows["value"].where(~per, (value * count).map(lambda v: f"{v:.10g}"))
    return (f"{int(per.sum()):,} bids priced per period ({basis}: "
            f"{', '.join(sorted(set(frame.loc[per[per].index, basis])))[:60]}): each value is the "
            f"bid times its {periods}")  # fmt: skip


# the first cell of a report's summary row, whole: Subtotal, Total, Grand Totals (480 records),
# 合计, Sum of Amount (a company called "Total Solutions" is not one); such a row has no date in it
_SUMMARY = re.compile(
    r"^(?:(?:grand\s+|sub-?)?totals?|合计|总计|小计|合計|總計|小計|総計|gesamtsumme|zwischensumme|"
    r"sous-total|total\s+général|合計額|총계|합계|소계"
    r"|(?:sum|average|count)\s+of\s+\D{1,40})\s*(?:\(.*\))?\s*[:：]?$",  # Zoho's Sum of Amount
    re.IGNORECASE,
)
# a date with the year first (19xx / 20xx, no digit before it, then a month and a day: the
# subtotals 175349.59 and 2000.00 are none), 2023年1月, 2023-01, or with the year last
_DATE_LIKE = re.compile(
    r"(?<!\d)(?:19|20)\d{2}([-/.])\d{1,2}\1\d{1,2}|\d{4}年\d{1,2}月|(?<!\d)(?:19|20)\d{2}-\d{2}"
    r"(?!\d)|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"
)


# a grouped report's group row, alone in its first cell: "Stage : Closed Won (12)" (Zoho),
# "Stage: Proposal (3 records)"; the field, the group's value, and its count
_CAPTION = re.compile(
    r"^(?P<field>[^\W\d_][^:：]{0,40}?)\s*[:：]\s*(?P<value>.*?)\s*"
    r"(?:[(（]\s*\d[\d,.]*(?:\s*[^\W\d_]+)?\s*[)）])?$"
)


def _group_captions(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """A report grouped by a field that writes it only in a row above each group ("Stage :
    Closed Won (12)", nothing in the other cells): the field as a column, each row with its
    group's value, the group rows left out; as it is where the first row is no group row, the
    groups name different fields, or the field is a column already."""
    if len(frame) < 2 or len(frame.columns) < 2:
        return frame, []
    text = frame.astype(str).apply(lambda c: c.str.strip())
    alone = (text.iloc[:, 1:] == "").all(axis=1) & (text.iloc[:, 0] != "")
    found = text.iloc[:, 0].where(alone, "").str.extract(_CAPTION)
    caption = found["field"].notna() & alone
    if not caption.any() or not caption.iloc[0]:
        return frame, []
    fields = found.loc[caption, "field"].str.strip()
    field = str(fields.iloc[0])
    if fields.map(label_key).nunique() > 1 or label_key(field) in {
        label_key(c) for c in frame.columns
    }:
        return frame, []
    groups = found["value"].where(caption).ffill().fillna("")
    out = frame[~caption].copy()
    out[field] = groups[~caption].to_numpy()
    example = str(text.iloc[0, 0])[:60]
    note = (f"a report grouped by {field}, written only in a row above each group "
            f"({example!r} ...): {field} read from them for the rows below each, the "
            f"{int(caption.sum())} group rows left out")  # fmt: skip
    return out, [("grouped_report", note)]


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
    # the header again below it: several exports pasted into one file
    header = np.array([str(c).strip() for c in frame.columns], dtype=object)
    again = (text.to_numpy() == header).mean(axis=1) >= 0.5 if len(frame) else np.zeros(0, bool)
    if again.any():
        lines = ", ".join(str(i + 2) for i in np.flatnonzero(again)[:3])
        notes.append(("repeated_header", f"the header repeats on line {lines} (exports pasted "
                      "together?): left out; one row per deal, a deal in more than one part is "
                      "read from the newest, the part whose latest creation date is latest (a "
                      "stage history keeps every part's changes)"))  # fmt: skip
    keep = ~summary & ~again & (np.arange(len(frame)) < end)
    out = frame[keep] if not keep.all() else frame
    if summary.any():  # a grouped report writes its leading group columns on a group's first row
        # nested groups (Owner > Stage) write each level's subtotal one column further right:
        # a summary row closes the groups of its level and those inside it, the levels ranked
        # by the column of the summary's word (one level: every summary closes every group)
        at = filled.argmax(axis=1)
        level = np.full(len(frame), len(frame.columns))
        level[summary] = np.unique(at[summary], return_inverse=True)[1]

        def groups(column: int) -> np.ndarray:
            return np.asarray(np.cumsum(summary & (level <= column))[keep])

        out, grouped = _filled_down(out, groups)
        if grouped:
            notes.append(("grouped_report", f"a grouped report: {', '.join(map(repr, grouped))}"
                          " on a group's first row only: filled down to its rows"))  # fmt: skip
    sheets = frame.attrs.get("parts")  # a workbook's appended sheets: parts of their own
    if again.any() or sheets is not None:
        part = np.cumsum(again)  # which pasted part each row is of, in which sheet
        if sheets is not None:
            part = np.asarray(sheets) * (len(frame) + 1) + part
        out = out.copy()
        out.attrs["parts"] = part[keep]
    return out, notes


# a record's deleted flag (Salesforce's IsDeleted in a Data Loader "Export All", SuiteCRM's
# deleted): a row flagged true is in the recycle bin, not a deal
_DELETED_FLAG = tuple(map(label_key, ("IsDeleted", "Is Deleted", "Deleted", "已删除", "是否删除")))


def _without_deleted(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Note]]:
    """The rows without those a deleted flag column marks (``IsDeleted``, ``Deleted``, ...:
    every filled cell true / false, 1 / 0 or yes / no, as Salesforce's reader reads its
    IsDeleted), and the note that says how many were left out (none without such a column)."""
    by_key = _by_key(frame)
    column = next((by_key[k] for k in _DELETED_FLAG if k in by_key), None)
    if column is None:
        return frame, []
    cells = frame[column].astype(str).str.strip()
    flag = parse_flags(cells)
    if flag[cells != ""].isna().any():  # not a flag (a deletion date, a reason): not read
        return frame, []
    deleted = flag.fillna(False).astype(bool)
    if not deleted.any():
        return frame, []
    lines = tuple(f"line {i + 2}" for i in frame.index[deleted.to_numpy()][:5])
    note = Note("deleted", f"{int(deleted.sum()):,} rows flagged deleted ({column} true, the "
                "CRM's recycle bin): not deals, left out", "info", int(deleted.sum()),
                lines)  # fmt: skip
    return frame[~deleted.to_numpy()], [note]


def _format_currency_off(
    rows: pd.DataFrame, tagged: Mapping[str, frozenset[int]] | None, m: ColumnMapping
) -> pd.DataFrame:
    """The fields other than the value without the currency a workbook's cell format added
    to their numbers (``tagged``: by column, the rows it was added to): a block of cells
    formatted in $, ids and all, does not make the id "10001 USD"."""
    if not tagged:
        return rows
    out = rows
    for f, c in m.columns.items():
        cells = tagged.get(c) if isinstance(c, str) and f != "value" and f in rows else None
        if cells:
            at = rows.index.isin(list(cells))
            out = out if out is not rows else rows.copy()
            out.loc[at, f] = rows.loc[at, f].str.rsplit(" ", n=1).str[0]
    return out


def _closed_rows(rows: pd.DataFrame, labels: Labels) -> pd.Series:
    """Whether each row's stage or status is a won or lost label (the defaults and the
    mapping's): the deal closed as of that row."""
    keys = label_keys(*labels.won, *labels.lost)
    closed = pd.Series(False, index=rows.index)
    for f in ("stage", "status"):
        if f in rows:
            closed |= rows[f].astype(str).map(label_key).isin(keys)
    return closed


def _latest_edits(
    frame: pd.DataFrame, rows: pd.DataFrame, fmt: str | None, closed: pd.Series, deal: pd.Series
) -> tuple[pd.DataFrame, str]:
    """A deal whose id repeats (two exports joined, the second without its header), written
    in another stage or status by an earlier edit than its last (the export's ``Last
    Modified Date``, ``Modified On``, ``Update time``, ...): only its last edit's rows, and the
    note that says so (empty when none is left out). Rows of one edit (a report's product
    lines) all stay. With no edit time, a deal written open and closed (``closed``: each
    row's) is read from its closed rows: a deal moves from open to closed, seldom back.
    ``deal``: each row's deal (its id; a name with its account)."""
    by_key = _by_key(frame)
    column = next((by_key[k] for k in label_keys(*EDITED) if k in by_key), None)
    ids = deal.reindex(rows.index)
    repeated = ids.duplicated(keep=False) & (ids.str.strip() != "")
    if not repeated.any():
        return rows, ""
    if column is None:
        closed = closed.reindex(rows.index, fill_value=False)
        ever = closed.where(repeated, False).groupby(ids).transform("any")
        stale = repeated & ever & ~closed
        if not stale.any():
            return rows, ""
        return rows[~stale], (
            "an open row of a deal whose id repeats and that another row closes (two exports "
            "joined, no edit time to tell the newer): the closed one kept, as a deal moves "
            "from open to closed"
        )
    when = parse_times(frame.loc[rows.index, column], fmt)
    latest = when.where(repeated).groupby(ids).transform("max")
    state = rows[[f for f in ("stage", "status") if f in rows]].astype(str).agg("|".join, axis=1)
    last_state = state.where(when == latest).groupby(ids).transform("first")
    stale = repeated & when.notna() & (when < latest) & (state != last_state)
    if not stale.any():
        return rows, ""
    return rows[~stale], (
        f"an earlier edit of a deal whose id repeats, in another stage than its last "
        f"({column!r} later): the last kept"
    )


def _from_newest_part(
    rows: pd.DataFrame, parts: np.ndarray, fmt: str | None, closed: pd.Series, deal: pd.Series
) -> pd.DataFrame:
    """Each deal of exports pasted together (``parts``: each row's part) from the newest
    export it is in. Parts are ranked first by their progress over one another: of the
    deals two parts share, those closed in one and open in the other (``closed``: each
    row's) count for the first, as deals move from open to closed (a "changed since" export
    under a master, snapshot sheets newest first); then by their latest creation (or start)
    date (an export holds every deal made before it was taken); the later part where they
    tie."""
    made = next((rows[f] for f in ("created", "engaged") if f in rows), None)
    part = pd.Series(parts, index=rows.index)
    latest = (
        parse_times(made, fmt).groupby(part).max()
        if made is not None
        else pd.Series(pd.NaT, index=np.unique(parts))
    )
    ids = deal.reindex(rows.index)
    shared = pd.DataFrame({"id": ids, "part": part,
                           "closed": closed.reindex(rows.index, fill_value=False)})  # fmt: skip
    shared = shared.groupby(["id", "part"], as_index=False)["closed"].any()
    pairs = shared.merge(shared, on="id", suffixes=("", "_other"))
    ahead = pairs[pairs["closed"] & ~pairs["closed_other"]]
    wins = ahead.groupby("part").size().reindex(latest.index, fill_value=0)
    progress = wins - ahead.groupby("part_other").size().reindex(latest.index, fill_value=0)
    newness = pd.DataFrame(
        {"progress": progress, "latest": latest, "part": latest.index}
    ).sort_values(["progress", "latest", "part"], na_position="first")
    rank = part.map(pd.Series(np.arange(len(newness)), index=newness["part"]))
    newest = rank.groupby(ids).transform("max")
    return rows[(rank == newest).to_numpy()]


# the fields a report is not grouped by, each written on its own row (a blank is blank), and
# those it may be grouped by that are also a deal's own (a Won/Lost blank while open)
_NOT_GROUPED = frozenset(
    label_key(name)
    for field in ("closed", "created", "engaged", "expected_close", "value", "probability", "id")
    for name in NAMES[field]
    if isinstance(name, str)
)
_OUTCOME_KEYS = frozenset(
    label_key(name)
    for field in ("status", "outcome", "lost_reason", "active")
    for name in NAMES[field]
    if isinstance(name, str)
)


_CLOSED_LABELS = frozenset(label_keys(*Labels().won, *Labels().lost))
_ACTUAL_KEYS = frozenset(label_keys(*ACTUAL_CLOSE, "Won Time", "Lost Time"))


def _closes_agree(
    frame: pd.DataFrame, cells: pd.Series, firsts: pd.Series, group: np.ndarray
) -> bool:
    """Whether a won / lost caption may be a deal's own status below it: every row it would
    close has a date in a column that names an actual close (a Won/Lost column blank while
    the deal is open is no caption)."""
    actual = [c for c in frame.columns if label_key(str(c).split(" - ")[-1]) in _ACTUAL_KEYS]
    caption = cells.where(firsts).groupby(group).transform("first")
    closing = caption.map(lambda v: label_key(v) in _CLOSED_LABELS).astype(bool) & ~firsts
    if not closing.any():
        return True
    if not actual:
        return False
    dated = (frame[actual].astype(str).apply(lambda c: c.str.strip()) != "").any(axis=1)
    return bool(dated[closing].all())


def _filled_down(
    frame: pd.DataFrame, groups: Callable[[int], np.ndarray]
) -> tuple[pd.DataFrame, list[str]]:
    """The leading columns of a grouped report filled down within each group, and their names
    (``groups(i)``: the number of column i's group per row, each group ending at a summary
    row). A column is a group's caption only where it is written on each of its groups' first
    rows and nowhere else, no two groups within one group of the column before share a
    caption (a report lists each value of what it is grouped by once per group above), and
    two groups or more end at a subtotal (a single total row under a sheet groups nothing);
    from the left, up to the first column that is not."""
    names: list[str] = []
    out = frame
    parent = np.zeros(len(frame), dtype=np.int64)  # the whole table, above the first column
    for i, column in enumerate(frame.columns):
        group = groups(i)
        firsts = ~pd.Series(group, index=frame.index).duplicated()
        if int(firsts.sum()) < 2:
            break
        key = label_key(column)
        # a deal's own date, value or id is never a caption; its own outcome or reason is one
        # only where every group has two rows or more below it blank (no accident of blanks)
        smallest = int(pd.Series(group).value_counts().min())
        if key in _NOT_GROUPED or (key in _OUTCOME_KEYS and smallest < 3):
            break
        cells = frame[column].astype(str).str.strip()
        filled = cells != ""
        heads = pd.DataFrame({"in": parent, "head": cells.to_numpy()})[firsts.to_numpy()]
        if not (filled == firsts).all() or heads.duplicated().any():  # each value's group once
            break
        if key in _OUTCOME_KEYS and not _closes_agree(frame, cells, firsts, group):
            break
        out = out.copy() if out is frame else out
        out[column] = frame[column].where(filled).groupby(group).ffill()
        names.append(str(column))
        parent = group
    return out, names


_DATE_FIELDS = ("closed", "created", "engaged", "entered", "expected_close", "stage_since")


# date formats a cell may be written in that ISO reading misses, most common first, each also
# with a time of day: the hint proposes the one that reads most of the column's cells (both day
# orders where a two-digit year hides it)
_DAYS = ("%m/%d/%y", "%d/%m/%y", "%d.%m.%y", "%m-%d-%y", "%d-%m-%y", "%m/%d/%Y", "%d/%m/%Y",
         "%d.%m.%Y", "%m-%d-%Y", "%d-%m-%Y", "%b %d, %Y", "%B %d, %Y",
         "%d %b %Y", "%d %B %Y", "%d-%b-%y", "%d-%b-%Y", "%Y. %m. %d.", "%Y. %m. %d",
         "%Y.%m.%d.", "%G-W%V-%u", "%Y%m%d", "%d%m%Y")  # fmt: skip
_FORMATS = tuple(
    d + t for d in _DAYS for t in ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
)


def _format_hint(cells: Sequence[str]) -> str:
    """How to set date_format for a column whose cells did not read as dates."""
    texts = list(dict.fromkeys(c.strip() for c in cells if c.strip()))[:50]
    text = texts[0] if texts else ""
    if re.fullmatch(r"\d{10}(\d{3})?(\.\d+)?", text):
        unit, per_day = (
            ("milliseconds", 86_400_000) if len(text.split(".")[0]) == 13 else ("seconds", 86_400)
        )
        return (f"they look like Unix time in {unit}, which no date_format reads: write them as "
                f"dates in the sheet (=A2/{per_day}+DATE(1970,1,1)) and export again")  # fmt: skip
    reads = {f: sum(_reads(t, f) for t in texts) for f in _FORMATS}
    best = max(reads.values(), default=0)
    fits = [f for f in _FORMATS if reads[f] == best and best > 0]
    if not fits:
        return ("set date_format in a --mapping file (Python's strftime codes, e.g. '%m/%d/%y' "
                "for 1/2/23)")  # fmt: skip
    where = " in a --mapping file"
    shown = next(t for t in texts if _reads(t, fits[0]))
    month_first = fits[0]
    day_first = re.sub(r"%m([/.-])%d", r"%d\1%m", month_first, count=1)
    if day_first != month_first and day_first in fits:
        return (f"every day and month in them is 12 or less, so which comes first cannot be "
                f"told: set date_format{where}: {month_first!r} reads {shown!r} month first, "
                f"{day_first!r} day first")  # fmt: skip
    return f"set date_format{where}: {fits[0]!r} reads {shown!r}"


def _reads(text: str, fmt: str) -> bool:
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def _unread_dates(
    frame: pd.DataFrame, found: Recognised | None, history: Callable[[str, str, str | None], bool]
) -> dict[str, str]:
    """For each date field whose column the header names but whose cells did not read as
    dates (so it was passed over), the hint that says so and how to read them."""
    named = recognise(list(frame.columns), None, history)
    out = {}
    for f in _DATE_FIELDS:
        column = named.columns.get(f) if named is not None else None
        if not isinstance(column, str) or (found is not None and found.columns.get(f) == column):
            continue
        cells = frame[column].astype(str).str.strip()
        dated = cells[(cells != "") & ~no_date(cells)]
        sample = next(iter(dated), "")
        out[f] = (
            f"the column {column!r} is named so, but most of its cells do not read as dates "
            f"(e.g. {sample!r}): {_format_hint(list(dated))}; or name another column with "
            f"--column {f}=COLUMN"
        )
    return out


def _fits_field(frame: pd.DataFrame, fmt: str | None = None) -> Callable[[str, str], bool]:
    """Whether a column's cells look like a field's: for a date field, most of the first 200
    filled cells read as dates (in ISO, year-last or a spreadsheet's form, or the mapping's
    ``date_format``); for the value, some read as numbers (a column of names is none); any
    other, yes. Dates with the year last that do not show their day-month order (1/2/2023)
    take the order the file's other dates show, as the importer reads them."""
    shown: list[str | None] = []  # the file's order, found once when a column needs it

    def order(cells: pd.Series) -> str | None:
        if (own := year_last_order(cells)) is not None:
            return own
        if not shown:
            cells = pd.Series(frame.iloc[:200].astype(str).to_numpy().ravel())
            shown.append(year_last_order(cells))
        return shown[0]

    def fits(field: str, column: str) -> bool:
        if field not in (*_DATE_FIELDS, "value"):
            return True
        cells = frame[column].astype(str).str.strip()
        cells = cells[(cells != "") & ~no_date(cells)].head(200)
        if cells.empty:
            return True  # an empty column says nothing against it
        if field == "value":
            return bool(parse_numbers(cells).notna().any())
        read = parse_times(cells, None, None, order(cells)).notna()
        if fmt is not None:
            read |= parse_times(cells, str(fmt)).notna()
        return bool(read.mean() > 0.5)

    return fits


# an amount converted to the company's own currency beside the deal's amount and currency
# (HubSpot, Freshsales, Creatio): each row's value in one currency, where a rate would be needed
_CONVERTED = label_keys("Amount in company currency", "Amount in home currency",
                        "Amount in base currency", "Deal value in base currency",
                        "Value in base currency")  # fmt: skip


def _in_home_currency(
    frame: pd.DataFrame, rows: pd.DataFrame, value_column: str | tuple[str, ...] | None = None
) -> str | None:
    """Values in another currency than the company's replaced by their converted amounts (in
    ``rows``), and the note that says so; None without a converted column: one of
    ``_CONVERTED``, or a value column's own ``(Base)`` twin (Dynamics 365 writes ``Est.
    Revenue (Base)`` beside ``Est. Revenue``). Where the value is read from a column whose
    twin the export lacks (``Actual Revenue`` without its ``(Base)``), it is converted at the
    deal's own rate, its other twin over its column (as Dynamics converts every amount of a
    record at the record's rate). The company's currency is the one whose amounts equal their
    converted ones (most such rows say it)."""
    by_key = _by_key(frame)
    if "value" not in rows or "currency" not in rows:
        return None
    named = next((by_key[k] for k in sorted(_CONVERTED) if k in by_key), None)
    values = (value_column,) if isinstance(value_column, str) else (value_column or ())
    twins = {c: by_key.get(label_key(f"{c} (Base)")) for c in values if c in frame.columns}
    own = parse_numbers(rows["value"], amounts=True)
    if named is not None:
        column = repr(named)
        home = parse_numbers(frame.loc[rows.index, named], amounts=True)
    elif any(twins.values()):
        column = " / ".join(repr(t) for t in twins.values() if t)
        home = pd.Series(np.nan, index=rows.index)
        rate = pd.Series(np.nan, index=rows.index)
        for c, t in twins.items():
            if t is None:
                continue
            theirs = parse_numbers(frame.loc[rows.index, c], amounts=True)
            base = parse_numbers(frame.loc[rows.index, t], amounts=True)
            # the value is this column's: its twin is its amount in the company's currency
            home = home.where(home.notna() | (theirs != own), base)
            rate = rate.where(rate.notna(), (base / theirs).where(theirs > 0))
        home = home.where(home.notna(), own * rate)
    else:
        return None
    code = currency_codes(rows["currency"])
    same = (own > 0) & ((own - home).abs() <= 0.005 * own)
    homes = code[same].dropna()
    if homes.empty or (homes == homes.mode().iloc[0]).mean() < 0.9:
        return None
    company = str(homes.mode().iloc[0])
    foreign = code.notna() & (code != company) & home.notna()
    if not foreign.any():
        return None
    rows.loc[foreign, "value"] = home[foreign].map(repr)
    rows.loc[foreign, "currency"] = company
    return (f"{int(foreign.sum()):,} values in other currencies than {company} read from "
            f"{column} (the company's currency, the one whose amounts equal their converted "
            "ones)")  # fmt: skip


def _by_key(frame: pd.DataFrame) -> dict[str, str]:
    """The frame's columns by their label keys (names compared as labels are), and by those of
    their names without an object prefix or a unit (``Deal - Update time``), as the header
    is recognised; a whole name first."""
    out = {label_key(c): c for c in frame.columns}
    for c in frame.columns:
        for key in column_keys(str(c)):
            out.setdefault(key, c)
    return out


# a field history (Salesforce's Opportunity Field History, Pipedrive's changelog): one row per
# change of any field, the field named in a column, its old and new values in two more
_FIELD = label_keys("Field / Event", "Field", "Field Name", "Field key", "Changed Field", "字段",
               "变更字段", "字段名称", "property", "Property Name")  # fmt: skip
# a property history (HubSpot's propertiesWithHistory: dealId, property, value, timestamp) has
# the value a property took and no old one
_NEW_VALUE = label_keys("New Value", "New", "新值", "变更后", "变更后的值", "value")
_OLD_VALUE = label_keys("Old Value", "Old", "旧值", "原值", "变更前", "变更前的值")
_STAGE_FIELD = label_keys("Stage", "Stage Name", "StageName", "stage_id", "Deal Stage", "dealstage",
                     "Pipeline Stage", "阶段", "销售阶段", "商机阶段",
                     # Dynamics 365's audit history: the opportunity's stepname, salesstage
                     "Pipeline Phase", "Sales Stage")  # fmt: skip
_STATUS_FIELD = label_keys("status", "Deal Status", "状态")
_CHANGE_TIME = label_keys(
    "Time",
    "Date",
    "Timestamp",
    "时间",
    "日期",
    "Edit Date",
    "Changed At",
    "Change Date",
    "Change Time",  # Pipedrive's changelog
    "Changed Date",  # Dynamics 365's audit history
    "Changed On",
    "Modified Time",
    "Last Modified",
    "变更时间",
    "修改时间",
)
_AMOUNT_FIELD = label_keys(
    "Amount", "value", "Deal Value", "Opportunity Amount", "金额", "商机金额"
)
_CLOSE_FIELD = label_keys(
    "Close Date",
    "close_time",
    "expected_close_date",
    "Expected Close Date",
    "预计成交日期",
    "结单日期",
)
_CREATED_EVENT = label_keys(
    "Created.",
    "Created",
    "Opportunity Created.",
    "Deal created",
    "Create",  # Dynamics 365's audit history: its Event, the field blank
    "add_time",
    "createdate",
    "创建",
    "新建",
)


def _field_history(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """A history of every field's changes: its stage changes only (the field column names
    the stage, or the status with a won or lost new value, or a status from won or lost back
    to open: a re-open, read as a return to the deal's stage, see :func:`_reopened`), their
    new value as the stage entered and the old as the one left (``To Stage``, ``From
    Stage``), its time column (``Time``, Pipedrive's ``Change time``, Dynamics 365's ``Changed
    Date``) as the time of the change; said in the note."""
    by_key = _by_key(frame)
    field = next((by_key[k] for k in by_key if k in _FIELD), None)
    new = next((by_key[k] for k in by_key if k in _NEW_VALUE), None)
    old = next((by_key[k] for k in by_key if k in _OLD_VALUE), None)
    if field is None or new is None:
        return frame, []
    stage = frame[field].map(label_key).isin(_STAGE_FIELD)
    if not stage.any():
        return frame, []
    # a win or a loss written as a change of the deal's status (Pipedrive), not of its stage
    closes = label_keys(*Labels().won, *Labels().lost)
    status = frame[field].map(label_key).isin(_STATUS_FIELD)
    moves = stage.copy()
    stage |= status & frame[new].map(label_key).isin(closes)
    time = next((by_key[k] for k in by_key if k in _CHANGE_TIME), None)
    at = None  # each row's time of change, parsed once for what follows
    if time is not None:
        text = frame[time].astype(str)
        at = parse_times(text, None, None, year_last_order(text))
    back = _reopened(frame, by_key, status, moves, new, old, closes, at)
    stage |= back.notna()
    names = {new: "To Stage", **({old: "From Stage"} if old is not None else {})}
    kept = frame[stage].drop(columns=field).rename(columns=names)
    if back.notna().any():
        kept.loc[back.dropna().index, "To Stage"] = back.dropna()
    carried = _carried(frame, by_key, field, new, time, at)
    for column, values in carried.items():
        kept[column] = values[stage]
    born, first = (
        _created_unstaged(frame, by_key, field, old, stage, at)
        if old is not None  # without old values, a deal's first stage is its first row's
        else (pd.Series(False, index=frame.index), "")
    )
    if born.any():  # a new deal not yet moved: in the stage deals start in, since its creation
        created = frame[born].drop(columns=field).rename(columns=names)
        for column, values in carried.items():
            created[column] = values[born]
        kept = pd.concat([kept, created.assign(**{"To Stage": first, "From Stage": ""})])
        kept = kept.sort_index()
    entered = label_keys(*(n for n in NAMES["entered"] if isinstance(n, str)))
    if time is not None and label_key(time) not in entered:  # Time, Change time, Changed Date
        kept = kept.rename(columns={time: "Changed At"})
    note = (
        f"a history of field changes ({field}): its {int(stage.sum()):,} stage changes read "
        + (
            f"({new} the stage entered, {old} the one left)"
            if old is not None
            else f"({new} the stage entered, at its {time})"
        )
        + (f", {' and '.join(carried)} as of each change from their own rows" if carried else "")
        + (
            f"; {int(born.sum()):,} deal(s) created and never moved taken as in {first!r} since"
            " their creation (the stage deals' first changes leave most often)"
            if born.any()
            else ""
        )
        + (
            f"; {int(back.notna().sum()):,} re-opening(s) (a status from won or lost back to "
            "open) read as a return to the stage the deal was in"
            if back.notna().any()
            else ""
        )
        + f"; {int((~stage & ~born).sum()):,} rows of other fields left out"
    )
    return kept, [("field_history", note)]


def _reopened(
    frame: pd.DataFrame,
    by_key: dict[str, str],
    status: pd.Series,
    moves: pd.Series,
    new: str,
    old: str | None,
    closes: frozenset[str],
    at: pd.Series | None,
) -> pd.Series:
    """A field history's re-openings (a status change from a won or lost label to another,
    Pipedrive's Lost -> Open) as the stage the deal returns to: the new value of its last stage
    change (``moves``) at or before it, else the old value of its first (the stage it was
    created in); NaN on every other row, and where there is no old value, no time or id."""
    out = pd.Series(np.nan, index=frame.index, dtype=object)
    ident = _ident(by_key)
    if old is None or at is None or ident is None:
        return out
    new_key, old_key = frame[new].map(label_key), frame[old].map(label_key)
    reopen = status & old_key.isin(closes) & ~new_key.isin(closes) & (new_key != "")
    reopen &= at.notna() & ~new_key.isin(label_keys("Deleted", "已删除"))
    if not reopen.any():
        return out
    deal = frame[ident].astype(str)
    changes = moves & at.notna()
    log = pd.DataFrame({"deal": deal[changes], "at": at[changes],
                        "to": frame.loc[changes, new].astype(str)}).sort_values("at")  # fmt: skip
    rows = pd.DataFrame({"deal": deal[reopen], "at": at[reopen], "i": frame.index[reopen]})
    joined = pd.merge_asof(rows.sort_values("at"), log, on="at", by="deal", direction="backward")
    first = log.groupby("deal")["at"].idxmin()
    created_in = frame.loc[first.to_numpy(), old].astype(str).set_axis(first.index)
    to = joined["to"].fillna(joined["deal"].map(created_in))
    to = to[to.fillna("").str.strip() != ""]
    out[joined.loc[to.index, "i"].to_numpy()] = to.to_numpy()
    return out


def _by_status(
    frame: pd.DataFrame, cols: list[str], status: pd.Series, value: pd.Series
) -> pd.Series:
    """``value``, but where the status is won (lost) the filled cell of the column whose name
    says won (lost), if one does."""
    said = status.map(label_key)
    for outcome, labels in (("won", Labels().won), ("lost", Labels().lost)):
        own = next((c for c in cols if outcome in label_key(c)), None)
        if own is None:
            continue
        text = frame[own].astype(str).str.strip()
        mine = said.isin(label_keys(*labels)) & (text != "") & ~no_date(text)
        value = value.where(~mine, frame[own])
    return value


def _ident(by_key: dict[str, str]) -> str | None:
    """The id column (else the name column) of a frame whose columns are ``by_key``."""
    return next((by_key[k] for n in (*NAMES["id"], *TITLES)
                 if isinstance(n, str) and (k := label_key(n)) in by_key), None)  # fmt: skip


def _created_unstaged(
    frame: pd.DataFrame,
    by_key: dict[str, str],
    field: str,
    old: str,
    stage: pd.Series,
    at: pd.Series | None,
) -> tuple[pd.Series, str]:
    """A field history's creation rows of deals with no stage change (each deal's first), and
    the stage the deals that did change were created in: the old value of their first stage
    change, the most common one (none without an id and the rows' times ``at``, or without
    any)."""
    none = pd.Series(False, index=frame.index)
    ident = _ident(by_key)
    if at is None or ident is None:
        return none, ""
    deal = frame[ident].astype(str)
    moves = pd.DataFrame({"deal": deal, "at": at, "old": frame[old].astype(str)})[stage]
    moves = moves[moves["at"].notna()].sort_values("at", kind="stable")
    starts = moves.groupby("deal")["old"].first()
    starts = starts[starts.map(label_key) != ""]
    if starts.empty:
        return none, ""
    first = str(starts.value_counts().index[0])
    kind = _change_kinds(frame, by_key, field)
    born = kind.isin(_CREATED_EVENT) & at.notna() & ~deal.isin(set(deal[stage]))
    born[born] = ~deal[born].duplicated().to_numpy()  # one creation row per deal
    return born, first


_EVENT = label_keys("Event", "Operation", "Action")


def _change_kinds(frame: pd.DataFrame, by_key: dict[str, str], field: str) -> pd.Series:
    """Each field-history row's field, as a label key; where it is blank, its event (Dynamics
    365's audit history writes a record's creation as the Event Create, no field changed)."""
    kind = frame[field].map(label_key)
    event = next((by_key[k] for k in by_key if k in _EVENT), None)
    return kind if event is None else kind.where(kind != "", frame[event].map(label_key))


def _carried(
    frame: pd.DataFrame,
    by_key: dict[str, str],
    field: str,
    new: str,
    time: str | None,
    at: pd.Series | None,
) -> dict[str, pd.Series]:
    """A field history's other fields a stage change needs, as of each row: the deal's amount
    and close date (the last change of each at or before it) and its creation time (its
    "Created." row), as columns named so the header recognises them; none without a time
    and an id column, or where the export already has such a column (``by_key``: the
    frame's columns by their label keys; ``at``: the rows' times of change, parsed)."""
    ident = _ident(by_key)
    if time is None or at is None or ident is None:
        return {}
    text = frame[time].astype(str)
    kind = _change_kinds(frame, by_key, field)
    deal = frame[ident].astype(str)
    out: dict[str, pd.Series] = {}
    for column, fields in (("Amount", _AMOUNT_FIELD), ("Close Date", _CLOSE_FIELD)):
        changes = kind.isin(fields) & at.notna()
        if not changes.any() or label_key(column) in by_key:
            continue
        log = pd.DataFrame({"deal": deal[changes], "at": at[changes], "v": frame.loc[changes, new]})
        rows = pd.DataFrame({"deal": deal, "at": at, "i": np.arange(len(frame))})[at.notna()]
        joined = pd.merge_asof(rows.sort_values("at"), log.sort_values("at"), on="at",
                               by="deal", direction="backward")  # fmt: skip
        values = pd.Series("", index=frame.index, dtype=object)
        values.iloc[joined["i"].to_numpy()] = joined["v"].fillna("").to_numpy()
        out[column] = values
    created = kind.isin(_CREATED_EVENT) & at.notna()
    if created.any() and not any(label_key(n) in by_key for n in NAMES["created"]
                                 if isinstance(n, str)):  # fmt: skip
        first = text[created].groupby(deal[created]).first()
        out["Created Date"] = deal.map(first).fillna("")
    return out


# a deal's closed and won flags (HubSpot's Is closed / Is Closed Won, Salesforce's Closed / Won
# checkboxes): won where both are true, lost where only the first is
_FLAGS = ((("Is closed", "Is Deal Closed?", "hs_is_closed"), ("Is Closed Won", "hs_is_closed_won")),
          (("Closed", "IsClosed", "Is Closed"), ("Won", "IsWon", "Is Won")))  # fmt: skip
_TRUE = label_keys("true", "yes", "y", "1", "是", "x", "checked", "да")
_FALSE = label_keys("false", "no", "n", "0", "否", "", "нет")
# a closed flag alone: Bitrix24's CLOSED (Y / N; its UI's Closed, Сделка закрыта, Завершена),
# which closes a deal in its pipeline's one success stage or in a failure stage
_CLOSED_ALONE = label_keys("Closed", "Сделка закрыта", "Закрыта", "Завершена")


def closed_flags(frame: pd.DataFrame) -> tuple[pd.Series, str] | None:
    """``won`` / ``lost`` / ``open`` from a pair of closed and won flag columns whose every
    cell is a true or false, and the columns' names (None without such a pair)."""
    by_key = _by_key(frame)
    for closed_names, won_names in _FLAGS:
        closed = next((by_key[k] for k in label_keys(*closed_names) if k in by_key), None)
        won = next((by_key[k] for k in label_keys(*won_names) if k in by_key), None)
        if closed is None or won is None:
            continue
        keys = {c: frame[c].astype(str).map(label_key) for c in (closed, won)}
        if not all(k.isin(_TRUE | _FALSE).all() for k in keys.values()):
            continue
        is_closed, is_won = keys[closed].isin(_TRUE), keys[won].isin(_TRUE)
        if not is_closed.any():  # blank columns say nothing
            continue
        status = pd.Series(np.where(is_closed, np.where(is_won, "won", "lost"), "open"),
                           index=frame.index)  # fmt: skip
        return status, f"{closed} / {won}"
    return None


def closed_alone(frame: pd.DataFrame) -> tuple[pd.Series, str] | None:
    """Each row's closed flag (``true`` / ``false``) from a closed column with no won one beside
    it (:data:`_CLOSED_ALONE`) whose every cell is a flag, some true, and the column's name
    (None without one): the importer reads a closed deal not in a won stage as lost."""
    by_key = _by_key(frame)
    col = next((by_key[k] for k in _CLOSED_ALONE if k in by_key), None)
    if col is None:
        return None
    keys = frame[col].astype(str).map(label_key)
    if not keys.isin(_TRUE | _FALSE).all() or not keys.isin(_TRUE).any():
        return None
    return keys.isin(_TRUE).map({True: "true", False: "false"}), str(col)


def _is_history(frame: pd.DataFrame) -> Callable[[str, str, str | None], bool]:
    """Whether rows are a stage history by an id and a stage column: at least 30% of the rows
    share their id with another, and most ids that repeat go through more than one stage (a
    report with a row per product line repeats an id in one stage) while keeping one creation
    date, where the export has one (deals that share a name were created apart: renewals)."""

    def history(id_col: str, stage_col: str, created: str | None) -> bool:
        if id_col not in frame or stage_col not in frame or frame.empty:
            return False
        ids = frame[id_col].astype(str).str.strip()
        repeated = ids.duplicated(keep=False) & (ids != "")
        if repeated.mean() < 0.3:
            return False
        group = frame.loc[repeated].groupby(ids[repeated])
        moves = bool((group[stage_col].nunique() > 1).mean() > 0.5)
        if created is None or created not in frame:
            return moves
        return moves and bool((group[created].nunique() == 1).mean() > 0.5)

    return history


def _fill_groups(rows: pd.DataFrame, m: ColumnMapping) -> list[tuple[str, str]]:
    """A report grouped by stage (Salesforce's formatted export) writes the stage on its
    group's first row only: where most rows have no stage, the first row has one and no stage
    is written twice, the blanks take the stage above them (said in the note). With subtotal
    rows between the groups, :func:`_filled_down` has filled them already."""
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


# a product line's own columns in a report with one row per product (Salesforce's
# "Opportunities with Products"); the first group are the line's total
_LINE_TOTALS = tuple(map(label_key, ("Total Price", "Line Total", "Line Amount", "Line Item Total",
                                     "Product Total", "产品金额", "小计金额")))  # fmt: skip
_LINE_COLUMNS = _LINE_TOTALS + tuple(
    map(label_key, ("Quantity", "Sales Price", "Unit Price", "List Price", "Product Quantity",
                    "数量", "单价"))
)  # fmt: skip


def _line_items(
    frame: pd.DataFrame, rows: pd.DataFrame, m: ColumnMapping
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """A report with one row per product line writes each deal on several rows: the rows that
    share the id and every other deal field (stage, dates, amount, owner...) while their line
    columns (quantity, total price) differ are one deal. Kept once: its value the deal's own
    amount when a column gives one, else the sum of its lines' totals; its product the line
    with the largest total (the first on a tie). A grouped report writes the deal on its first
    line only: a row whose deal fields are all blank but its line columns are not is a line of
    the deal above. Said in the note."""
    by_key = _by_key(frame)
    mapped = {c for v in m.columns.values() for c in ([v] if isinstance(v, str) else v)}
    line_cols = [by_key[k] for k in _LINE_COLUMNS if k in by_key and by_key[k] not in mapped]
    if m.shape != "opportunities" or "id" not in rows or not line_cols or rows.empty:
        return rows, []
    totals = next((by_key[k] for k in _LINE_TOTALS if k in by_key), None)
    line_value = "value" not in rows or m.columns.get("value") == totals
    deal = [f for f in rows.columns if f not in ("product", "value") and not f.startswith("_")]
    filled = frame[line_cols].astype(str).apply(lambda c: c.str.strip() != "").any(axis=1)
    cells = rows[deal].astype(str).apply(lambda c: c.str.strip())
    bare = (cells == "").all(axis=1) & filled & (np.arange(len(rows)) > 0)
    rows = rows.copy()
    if bare.any():  # a grouped report's later lines: the deal above
        rows.loc[bare, deal] = np.nan
        rows[deal] = rows[deal].ffill()
        cells = rows[deal].astype(str)
    group = cells.apply(tuple, axis=1)
    later = group.duplicated(keep="first") & (group.map(group.value_counts()) > 1)
    if not later.any():
        return rows, []
    line_total = (
        parse_numbers(frame[totals].astype(str), amounts=True)
        if totals is not None
        else pd.Series(np.nan, index=rows.index)
    )
    first = ~later
    if "product" in rows:
        rank = line_total.fillna(-np.inf)
        best = rank.groupby(group).transform("max") == rank
        pick = best & ~(best & best.groupby(group).cumsum().gt(1))  # the first best line
        product = rows["product"].where(pick).groupby(group).transform("first")
        rows["product"] = rows["product"].where(product.isna(), product)
    how = f"its {m.names().get('value', 'amount')}"
    if line_value and totals is not None:
        whole = line_total.groupby(group).transform(lambda x: x.sum(min_count=len(x)))
        rows["value"] = whole.map(lambda v: "" if pd.isna(v) else repr(float(v)))
        how = f"the sum of its lines' {totals}"
    deals = int(first[group.isin(set(group[later]))].sum())
    note = (
        f"{int(later.sum()) + deals:,} rows are the product lines of {deals:,} deals (a report "
        f"with one row per product, {', '.join(repr(c) for c in line_cols)}): each deal read "
        f"once, its value {how}, its product its largest line's"
    )
    return rows[first], [("line_items", note)]


_SOURCE_KEYS = ("labels", "stage_order", "timezone", "currency", "states", "date_format")


def mapping_options(
    rec: Records, mapping_file: str | Path | None, refused: Mapping[str, str] | None = None
) -> Records:
    """A source's records with a ``--mapping`` file's labels, stage order, state renames,
    time zone, currency and date format (its ``columns`` apply to generic exports only).
    ``refused``: the keys the source cannot honour, each with why and what to do instead (an
    error, never a setting silently ignored)."""
    if mapping_file is None:
        return rec
    raw = load_mapping(mapping_file)
    given = [k for k in (refused or {}) if k in raw]
    if given:
        raise ScenarioError([Problem(
            f"{given[0]!r} does not apply to this export: {(refused or {})[given[0]]}",
            given[0], str(mapping_file),
            hint=f"remove {given[0]}: from the mapping file; it takes {', '.join(_SOURCE_KEYS)}",
        )])  # fmt: skip
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
    if raw.get("date_format") is not None:
        changes["date_format"] = m.date_format
    changes["timezone"], notes = run_zone(rec.timezone, m.timezone, mapping_file)
    if "currency" in raw:
        changes["currency"] = m.currency
    if m.states:
        changes["states"] = dict(m.states)
        changes |= _renamed_stages(rec, changes.get("labels", rec.labels), m)
    # the labels the source's rows have, its transitions' from-states too: a name the mapping
    # gives that none has is likely a typo (said, with the nearest)
    labels = [t[c] for t in (rec.rows, rec.attributes) if t is not None
              for c in ("stage", "from", "from_stage", "outcome", "status") if c in t]  # fmt: skip
    if labels:
        seen = pd.DataFrame({"stage": pd.concat(labels, ignore_index=True)})
        notes += _unmatched_labels(seen, m)
    return replace(rec, **changes, notes=[*rec.notes, *notes])


def run_zone(
    flag: str | None, mapped: str | None, mapping_file: str | Path
) -> tuple[str | None, list[Note]]:
    """The time zone of a run: ``--timezone``'s, else the mapping file's. The flag is given
    for this run, the file kept for many: the more specific wins, and both, differing, are
    said (a zone the user may not know the file sets)."""
    if flag is None or mapped is None or flag == mapped:
        return flag or mapped, []
    return flag, [Note("timezone", f"--timezone {flag} used, not {mapping_file}'s timezone "
                       f"{mapped} (the flag wins over the mapping file)")]  # fmt: skip


def _renamed_stages(rec: Records, labels: Labels, m: ColumnMapping) -> dict[str, Any]:
    """The stage names the source itself gave (its order, closed labels, probabilities and
    forecast categories) under the mapping's ``states`` renames, as its rows will be: a
    renamed stage keeps its place and its verdict. A stage order the mapping gives is its own."""
    keyed = {label_key(k): v for k, v in (m.states or {}).items()}

    def renamed(v: str) -> str:
        return keyed.get(label_key(v), v)

    out: dict[str, Any] = {
        "labels": labels.model_copy(update={
            k: tuple(dict.fromkeys((*getattr(labels, k), *map(renamed, getattr(rec.labels, k)))))
            for k in ("won", "lost")}),
        "stage_probability": {renamed(k): p for k, p in rec.stage_probability.items()},
        "stage_forecast": {renamed(k): f for k, f in rec.stage_forecast.items()},
    }  # fmt: skip
    if m.stage_order is None and rec.stage_order is not None:
        out["stage_order"] = tuple(dict.fromkeys(map(renamed, rec.stage_order)))
    return out


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
