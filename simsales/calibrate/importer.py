"""Read a CRM export into a clean :class:`History`, counting every data problem.

A source reader (:mod:`simsales.calibrate.sources`) maps its columns onto the canonical fields
(:data:`simsales.calibrate.mapping.FIELDS`) and hands over :class:`Records`; this module applies
ONE list of cleaning rules to them, whatever the source. Dirty rows are expected: each rule
counts the rows it hits and keeps a few examples; the import goes on with the clean rows unless
``strict`` (then :class:`DataError` with the report).

=======================  =========  ==========================================================
rule                     action     what
=======================  =========  ==========================================================
blank_id                 dropped    no opportunity id
duplicate_row            dropped    an exact copy of an earlier row
duplicate_id             dropped    one row per deal: the id was already used by another row
stale_row                dropped    one row per deal: an id repeated by a later edit (Last
                                    Modified Date) in another stage: the earlier row; with no
                                    edit time, its open row where another closes it
unknown_stage            dropped    a stage label the mapping does not know
stage_from_status        info       one row per deal: a blank stage with a status (won, lost,
                                    open): read by the status (Nutshell clears a closed deal's
                                    stage)
bad_date                 dropped    a date that cannot be parsed
blank_date               dropped    stage changes: a row with no timestamp
close_before_open        dropped    closed (or a stage entered) before the deal was engaged
closed_without_date      dropped    won or lost but no close date
open_with_close_date     info       one row per deal: an open stage with a close date: kept
                                    open, the date read as its expected close
missing_engage_date      dropped    won or lost but never engaged (no start date)
no_open_stage            dropped    stage changes: the deal's first row is already won or lost
unknown_deal             dropped    a history row of a deal the deals file does not have
bad_effort               dropped    a workload with no date, no valid hours or an unknown item
reopened                 info       stage changes: a close undone by a later row (reopened or
                                    re-closed): the deal went on from the stage it left
bad_value                kept       a value that is not an amount from 0 to 10^15: value blanked
bad_probability          kept       a probability outside 0-100 %: blanked
bad_expected_close       kept       one row per deal: an expected close that is not a date
bad_forecast_category    kept       not one of pipeline, best case, commit, closed, omitted
unknown_currency         kept       a currency with no conversion rate: value blanked
no_currency              info       no currency code where rates know several: the corporate one
won_without_value        kept       won with no (or zero) value: not used to fit values
blank_account            kept       no account
blank_product            kept       no product: grouped as "unspecified"
product_spelling         merged     one product written several ways (case, spaces, punctuation)
unknown_product          kept       a product not in the catalog
closed_label             info       a label that begins with a won / lost one (as a whole
                                    word: Deadline is no Dead) read as it
header_unit              info       the value column's header names a unit (万元, 亿, 千元),
                                    or a workbook shows whole amounts in it (#,##0,"K")
date_order               info       dates with the year last (1/15/2023): the day-month order read
open_labels              info       one row per deal, no open labels given: the labels taken
                                    as open stages
click_through            info       stage visits shorter than the export's clock resolution (a
                                    day for dates, an hour for timestamps): kept
undated_open             info       open deals with no date at all (e.g. Prospecting): left out
observation_start        info       no closes before a date: earlier deals are left-truncated
stage_order              info       the stage order used, and why
currency                 info       values converted to the scenario currency, and how
home_currency            info       values in other currencies read from the export's amount
                                    in the company's currency (HubSpot, Freshsales), or in
                                    Dynamics 365's base currency (Est. Revenue (Base))
utc_offsets              info       timestamps with UTC offsets and no --timezone: each read at
                                    its own wall-clock time
timezone                 info       --timezone and a mapping file's timezone differ: the
                                    flag's used (given for this run, the file kept for many)
encoding                 info       the encoding the file was read with
states                   info       source states renamed to stages by the mapping
deleted                  info       source rows left out by the source's own rules (a row
                                    flagged deleted: IsDeleted / Deleted true, 1 or yes; kept:
                                    Salesforce IsDeleted values that are not true / false)
other_pipeline           dropped    HubSpot: deals of other pipelines than the commonest;
                                    Bitrix24: than the mapping's pipeline or the one with
                                    most deals (CATEGORY_ID, stage ids' C1: prefix, the
                                    UI's Направление / Воронка / Pipeline)
closed_stages            info       Salesforce: won / lost stages read from IsWon / IsClosed;
                                    HubSpot: from the deals' closed flags; PingCode: from the
                                    states' types (kept: a warning, where the rows' probability
                                    or forecast category decided, sources.closed)
state_codes              info       Dynamics 365's statecode 0 / 1 / 2, Bitrix24's stage
                                    semantics P / S / F, read as open / won / lost
mixed_flags              kept       HubSpot: deals flagged otherwise than the rest of their
                                    stage, read as the stage's
sheets                   info       a workbook's sheets read and appended (dropped: a sheet of
                                    deals lacking the ids or a field; kept: one lacking fields
                                    but with the ids, appended with them blank; formulas with
                                    no saved result)
closed_at_closedate      info       HubSpot: a close with no date entered, dated by closedate
closed_without_date      dropped    HubSpot: a close with neither date: the deal left out
pipelines                info       HubSpot: a pipelines.json stage's label, order or
                                    probability missing or not a number, and what was assumed
catalog                  info       the product catalog used to name products
deleted                  info       one row per deal: a status that says deleted (Pipedrive):
                                    the row left out
closed_flags             info       won / lost / open from closed and won flag columns
lost_by_reason           info       a lost reason and a close date in an open stage: lost
lost_by_closed_flag      kept       a closed flag alone (Bitrix24's CLOSED Y / N) in a stage
                                    no label names: lost (a renamed success stage: labels)
lost_by_archive          info       not active (Odoo's archive), not won, an actual close: lost
line_items               info       a report with one row per product line: each deal once
summary_rows / footer    info       a report's subtotal, total and footer rows: left out
grouped_report           info       a grouped report's group column, on a group's first row
                                    only: filled down; or its group rows ("Stage : Closed Won
                                    (12)", Zoho) read as a column and left out
repeated_header          info       the header again below it (exports pasted together): left
                                    out, a deal in several parts read from the newest
sheets                   info       a workbook: the sheet read, and those appended to it
field_history            info       a history of every field's changes: its stage changes read
                                    (Salesforce's OpportunityFieldHistory, where no
                                    OpportunityHistory is beside it)
utc_times                info       Pipedrive API times (no offset) read as UTC
per_period_bids          info       bids priced per period (Insightly, Capsule): value = bid x
                                    periods
expected_as_closed       kept       the only close date is an expected one: read as the close
split_close              info       one column of a won / lost pair named as the close (Won
                                    Time where Lost Time is beside it): both read
no_losses                kept       (calibration) an export with wins and no lost deal
no_wins                  kept       (calibration) an export with losses and no won deal (a
                                    won label read as an open stage?)
began_in                 info       a from / to log: each deal's first stage from its first
                                    change's from
newest_first             info       stage changes listed newest first: ties in reverse order
name_as_id               info       stage changes identified by the deal's name: namesakes merge
unmatched_label          kept       a label the mapping file names (stage_order, labels, states)
                                    that no row has: the nearest one the rows have
=======================  =========  ==========================================================
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from pandas.api.types import is_string_dtype

from simsales.calibrate.headers import ACTUAL_CLOSE, NAMES, TITLES, header_unit
from simsales.calibrate.history import (
    DEAL_COLUMNS,
    EFFORT_COLUMNS,
    PATH_COLUMNS,
    SNAPSHOT_COLUMNS,
    TERMINAL,
    History,
    deal_state,
    empty,
    settle_path,
    stage_defaults,
    visits_from_path,
)
from simsales.calibrate.mapping import label_key, label_key_plain, label_keys
from simsales.calibrate.quality import MAX_EXAMPLES, DataError, DataReport
from simsales.calibrate.sources.closed import CATEGORIES
from simsales.calibrate.sources.parse import (
    THREE_DECIMALS,
    YEN_SIGN,
    amount_currency,
    currency_codes,
    has_own_scale,
    is_year_last,
    no_date,
    parse_numbers,
    parse_probabilities,
    parse_times,
    shown_by_dots,
    utc_offsets,
    year_last_order,
)
from simsales.calibrate.sources.records import Note, Records
from simsales.errors import Problem, ScenarioError

__all__ = ["Records", "build_history", "export_end", "read_csv_header", "read_history", "stage_id"]

MAX_VALUE = 1e15  # an amount at or above it is not one (see _values)
ENTERED_LATE_DAYS = 7  # a close this much before the creation is a deal entered after it closed
_CJK = re.compile("[\u4e00-\u9fff]")
_KANA = re.compile("[\u3040-\u30ff]")  # hiragana and katakana
_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
# a Cyrillic header's currency, by the letters only one of its languages writes (Kazakh, then
# Ukrainian, then Belarusian); other Cyrillic headers are Russian
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_CYRILLIC_CURRENCY = (("әғқңөұүһ", "KZT", "Kazakh"), ("іїєґ", "UAH", "Ukrainian"),
                      ("ў", "BYN", "Belarusian"), ("", "RUB", "Russian"))  # fmt: skip
# signs that name several currencies: the one assumed, and the others it could be
_SHARED_SIGNS = ((re.compile(r"(?<![A-Za-z])kr\b"), "kr", "SEK, NOK, DKK or ISK"),
                 (re.compile(r"(?<![A-Za-z])\$"), "$", "USD, CAD, AUD, MXN, ..."))  # fmt: skip
_INACTIVE = label_keys("false", "no", "n", "0", "否", "inactive", "archived")
_TITLE_KEYS = label_keys(*TITLES)  # a deal's name, not its id
# close columns that name when a deal did close, where an open deal has no date
_ACTUAL_CLOSE = label_keys(*ACTUAL_CLOSE)
_STAGE_SINCE = label_keys(*(n for n in NAMES["stage_since"] if isinstance(n, str)))
# Odoo's closing date in its other languages, beside an Active column (French: also HubSpot's
# expected close, so it names an actual close only there)
_ARCHIVE_CLOSE = _ACTUAL_CLOSE | label_keys(
    "Date de fermeture", "Fecha de cierre", "Abschlussdatum"
)
_DELETED = label_keys("Deleted", "Removed", "已删除", "删除")  # status words
# words of a label that closes a deal (as label keys): an open label with one is reported
_CLOSING = ("lost", "won", "closed", "cancel", "dead", "reject", "declin", "abandon", "disqualif",
            "unqualif", "churn", "fail", "失败", "丢单", "输单", "赢单", "关闭", "取消", "无效",
            "放弃", "终止", "已结束", "成立", "受注", "失注", "成約", "수주", "실주", "성사",
            "성공", "실패", "успеш", "провал", "реализ", "закрыт", "проигр",
            "выигр", "gewonn", "verlor", "geschlossen", "gagn", "perdu", "ferm", "ganad",
            "ganho", "ganha", "perdid", "cerrad", "fechad", "vendid", "chius", "wygran",
            "przegran", "kaybed", "förlor", "gesloten")  # fmt: skip
_ATTRS: tuple[str, ...] = ("product", "owner", "account", "segment", "team", "currency")
# a stage label's number in the process ("5 - Closed Won", "05. Won") or Bitrix24's pipeline
# prefix ("C1:WON"): the label without it is what names a close
_NUMBERED = re.compile(r"^\s*(?:\d{1,2}\s*[-.:)、]\s*|C\d+:)")


def read_history(
    path: str | Path,
    mapping: Any = None,
    *,
    preset: str | None = None,
    mapping_file: str | Path | None = None,
    columns: dict[str, str] | None = None,
    strict: bool = False,
    exported: date | str | None = None,
    encoding: str | None = None,
    timezone: str | None = None,
    currency: str | None = None,
) -> History:
    """Import ``path`` (a file, or a Salesforce export folder) with ``mapping`` or a preset /
    mapping file / column flags; the source is recognised by its headers unless ``preset``
    names it.

    ``exported`` is the date the export was taken (what it knows up to); by default its latest
    date, which can be a little earlier than the real export date. ``encoding`` overrides the
    detected one; ``timezone`` (IANA name) is the scenario's zone timestamps with an offset are
    converted to (None: each keeps its own wall-clock time); ``currency`` the scenario currency
    values are converted to.
    """
    from simsales.calibrate.sources import read_records

    path = Path(path)
    records = read_records(
        path,
        mapping,
        preset=preset,
        mapping_file=mapping_file,
        columns=columns,
        encoding=encoding,
        timezone=timezone,
        currency=currency,
    )
    history = build_history(records)
    if exported is not None:
        when = pd.Timestamp(exported)
        if when < history.snapshot.normalize():
            raise ScenarioError(
                [
                    Problem(
                        f"the export date {when.date()} is before its latest date "
                        f"{history.snapshot.date()}",
                        file=str(path),
                    )
                ]
            )
        history = replace(history, snapshot=when)
    if strict and history.report.problems:
        raise DataError(history.report)
    return history


def read_csv_header(path: str | Path) -> list[str]:
    from simsales.calibrate.sources.files import read_table

    return list(read_table(Path(path), nrows=0)[0].columns)


def stage_id(label: str) -> str:
    """A scenario id for a CRM stage label: lower case, words joined by '-'."""
    words = re.findall(r"\w+", str(label).casefold())
    return "-".join(words) or "stage"


def build_history(rec: Records) -> History:
    """Apply the cleaning rules to a source's records."""
    report = DataReport(rec.source, rows_read=len(rec.rows))
    if rec.states:
        keyed = {label_key(k): v for k, v in rec.states.items()}
        # only the renames some row's state matched count (a typo is said by the source)
        present = {label_key(v) for t in (rec.rows, rec.attributes) if t is not None
                   and "stage" in t for v in pd.unique(t["stage"].astype(str))}  # fmt: skip
        done = {k: v for k, v in rec.states.items() if label_key(k) in present}

        def rename(v: str) -> str:
            return keyed.get(label_key(v), v)

        rec = replace(rec, rows=rec.rows.assign(stage=rec.rows["stage"].map(rename)))
        if rec.attributes is not None and "stage" in rec.attributes:
            stage = rec.attributes["stage"].map(rename)
            rec = replace(rec, attributes=rec.attributes.assign(stage=stage))
        report.add("states", "info", f"{len(done)} states renamed by the mapping", rows=1,
                   examples=[f"{k} -> {v}" for k, v in list(done.items())[:5]])  # fmt: skip
    for note in (Note(*n) for n in rec.notes):
        report.add(note.rule, note.action, note.message, rows=note.rows,
                   examples=list(note.examples))  # fmt: skip
    if rec.catalog:
        report.add(
            "catalog", "info", f"{len(rec.catalog)} products in the catalog", rows=len(rec.catalog),
            examples=list(rec.catalog)[:5],
        )  # fmt: skip
    if rec.shape == "opportunities":
        return _opportunities(rec, report)
    return _stage_changes(rec, report)


# --- shared rules -----------------------------------------------------------------------------


class _Rows:
    """The rows still in play, with their line numbers, and the report they feed."""

    def __init__(self, frame: pd.DataFrame, rec: Records, report: DataReport) -> None:
        self.frame = frame.copy()
        for c in self.frame.columns:  # a cell a reader left missing is blank, as a CSV's is
            column = self.frame[c]
            if not c.startswith("_") and is_string_dtype(column) and column.isna().any():
                self.frame[c] = column.astype(object).where(column.notna(), "")
        if "_line" not in self.frame:
            self.frame["_line"] = np.arange(len(frame)) + 2  # header is line 1
        if "_file" not in self.frame:
            self.frame["_file"] = ""
        self.rec = rec
        self.report = report

    def has(self, name: str) -> bool:
        return name in self.frame.columns

    def col(self, name: str) -> pd.Series:
        if name not in self.frame.columns:
            return pd.Series("", index=self.frame.index, dtype=object)
        return self.frame[name]

    def name(self, field_name: str) -> str:
        return self.rec.names.get(field_name, field_name)

    def examples(self, hit: pd.DataFrame) -> list[str]:
        out = []
        for line, ident, file in (
            hit[["_line", "id", "_file"]].head(MAX_EXAMPLES).itertuples(index=False)
        ):
            where = f" of {file}" if file else ""
            who = f" (id {ident})" if str(ident) not in ("", "nan") else ""
            out.append(f"line {line}{where}{who}")
        return out

    def _hit(self, mask: pd.Series) -> pd.DataFrame:
        return self.frame[mask.reindex(self.frame.index).fillna(False).astype(bool)]

    def drop(self, mask: pd.Series, rule: str, message: str, action: Any = "dropped") -> None:
        hit = self._hit(mask)
        self.report.add(rule, action, message, rows=len(hit), examples=self.examples(hit))
        self.frame = self.frame.drop(index=hit.index)

    def keep(self, mask: pd.Series, rule: str, message: str, action: Any = "kept") -> None:
        hit = self._hit(mask)
        self.report.add(rule, action, message, rows=len(hit), examples=self.examples(hit))


def _each(series: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """``fn`` of each value, computed once per distinct value (exports repeat a few labels)."""
    table = {v: fn(v) for v in pd.unique(series)}
    return series.map(table).astype(object)


def _dates(rows: _Rows, fields: tuple[str, ...]) -> dict[str, pd.Series]:
    """Parse the date columns; rows with a non-blank, unparseable date are dropped."""
    bad = pd.Series(False, index=rows.frame.index)
    which: list[str] = []
    fmt, tz = rows.rec.date_format, rows.rec.timezone
    # the day-month order of dates written with the year last, from all the date columns
    for f in fields:  # a placeholder (-, N/A, null, 0000-00-00) is no date: blank
        if rows.has(f) and (empty := no_date(rows.col(f)) & (rows.col(f) != "")).any():
            rows.keep(empty, "placeholder_date", f"{rows.name(f)} written as a placeholder ("
                      f"{', '.join(sorted(set(rows.col(f)[empty]))[:4])}): read as no date",
                      action="info")  # fmt: skip
            rows.frame.loc[empty[empty].index, f] = ""
    order = year_last_order(pd.concat([rows.col(f) for f in fields])) if fmt is None else None
    offsets = sorted({o for f in fields if rows.has(f) for o in utc_offsets(rows.col(f))})
    if tz is None and offsets:
        rows.report.add("utc_offsets", "info", f"timestamps written with UTC offsets "
                        f"({', '.join(offsets[:4])}): each read at its own wall-clock time, the "
                        "day the CRM showed (--timezone ZONE converts them all to one zone)",
                        rows=1)  # fmt: skip
    for f in fields:
        raw = rows.col(f)
        wrong = (raw != "") & parse_times(raw, fmt, tz, order).isna()
        if wrong.any():
            which.append(rows.name(f))
        bad |= wrong
    shown = fmt or "ISO 8601 (YYYY-MM-DD)"
    message = f"unparseable date in {', '.join(which)} (expected {shown})"
    if fmt is None:
        message += "; another form: set date_format (e.g. '%m/%d/%y %I:%M %p') in a --mapping file"
    year_last = pd.concat([is_year_last(rows.col(f)) for f in fields], axis=1).any(axis=1)
    if order is None and (bad & year_last).any():
        message += (
            "; dates like 01/02/2023 where no number above 12 shows which is the day: set "
            "date_format ('%m/%d/%Y' or '%d/%m/%Y') in a --mapping file"
        )
    rows.drop(bad, "bad_date", message)
    if order is not None and not rows.report.count("date_order"):  # said once per export
        why = (
            "they are written with dots, as 02.01.2023 is, day first"
            if shown_by_dots(pd.concat([rows.col(f) for f in fields]))
            else "a number above 12 in the file's dates shows it"
        )
        rows.keep(year_last, "date_order", f"dates with the year last read {order} ({why})",
                  action="info")  # fmt: skip
    return {f: parse_times(rows.col(f), fmt, tz, order) for f in fields}


def _kinds(rows: _Rows, open_labels: list[str] | None, field: str = "stage") -> pd.Series:
    """Each row's stage as won / lost / an open label (canonical spelling) / None."""
    lab = rows.rec.labels
    table: dict[str, str] = {label_key(x): "won" for x in lab.won}
    table.update({label_key(x): "lost" for x in lab.lost})
    series = rows.col(field)
    if open_labels is not None:
        table.update({label_key(x): x for x in open_labels})
        return _each(series, lambda v: table.get(label_key(v)))
    # no open labels given: a label that begins with a won or lost one is that outcome
    # ("Closed Lost - No Decision"), when that one is distinctive (4+ letters, or CJK)
    stems = sorted(
        ((k, kind) for k, kind in table.items() if len(k) >= 4 or not k.isascii()),
        key=lambda kv: -len(kv[0]),
    )

    def kind(v: str) -> str | None:
        key = label_key(v)
        if key in table or not v:
            return table.get(key)
        if (bare := label_key(_NUMBERED.sub("", v))) in table:  # "5 - Closed Won", "C1:WON"
            return table[bare]
        return next((k_ for stem, k_ in stems if _begins_with(v, key, stem)), v)

    return _each(series, kind)


def _closed_by_flag(rows: _Rows, kind: pd.Series) -> pd.Series:
    """``kind`` with a closed flag alone (Bitrix24's CLOSED, Y / N: sources.generic) read as
    Bitrix24 means it: a deal closes in its pipeline's one success stage (won) or in a failure
    stage, whatever that is named (lost). A closed deal in a stage no label names is lost, and
    warned: a renamed success stage needs its name in ``labels``."""
    failed = (rows.col("closed_flag") == "true") & (kind != "won")
    unnamed = failed & (kind != "lost")
    stages = ", ".join(repr(s) for s in sorted(set(rows.col("stage")[unnamed].astype(str)))[:5])
    rows.keep(unnamed, "lost_by_closed_flag", (
        f"closed ({rows.name('closed_flag')}) in a stage no label names, read as lost (a "
        f"Bitrix24 deal closes in its one success stage or a failure one): {stages}; if one is "
        "a won stage, name it in labels: {won: [...]} in a --mapping file"))  # fmt: skip
    return kind.where(~failed, "lost")


def _begins_with(label: str, key: str, stem: str) -> bool:
    """Whether ``label`` (its label key ``key``) begins with the won or lost label key
    ``stem`` as a whole word: what follows it is no more letters of its last word ("Closed
    Lost - No Decision" begins with Closed Lost, "Deadline agreed" not with Dead); in a script
    without letter case (赢单关闭, 성사 완료) words are not spaced, and any continuation is."""
    if not key.startswith(stem):
        return False
    rest = key[len(stem) :]
    if not rest or rest[0].lower() == rest[0].upper():
        return True
    joined = ""
    for word in re.findall(r"[^\W_]+", label):
        joined += label_key(word)
        if len(joined) >= len(stem):
            return joined == stem
    return False


def _crm_fields(rows: _Rows) -> pd.DataFrame:
    """The CRM's probability, forecast category and expected close where the export maps them
    (blank where it does not), as the stage-changes shape reads them."""
    index = rows.frame.index
    out = pd.DataFrame(index=index)
    out["crm_probability"] = _probabilities(rows) if rows.has("probability") else np.nan
    out["forecast_category"] = (
        _categories(rows) if rows.has("forecast_category") else pd.Series(None, index, object)
    )
    out["expected_close"] = pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
    if rows.has("expected_close"):  # optional: a wrong one is blanked, the deal kept
        raw = rows.col("expected_close")
        when = parse_times(raw, rows.rec.date_format, rows.rec.timezone)
        rows.keep((raw != "") & when.isna(), "bad_expected_close",
                  f"{rows.name('expected_close')} is not a date: blanked")  # fmt: skip
        out["expected_close"] = when
    return out


def _same_day(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """``later``, moved to ``earlier`` where it is a bare date (midnight) on the same day as a
    time of day in ``earlier`` (a close dated the day a timestamped deal was created)."""
    bare = later.notna() & (later == later.dt.normalize())
    same = bare & (later < earlier) & (later.dt.normalize() == earlier.dt.normalize())
    return later.where(~same, earlier)


def _report_labels(rows: _Rows, kind: pd.Series, final: pd.Series | None = None) -> None:
    """Say how the stage labels were read when no open labels were given: those read as won or
    lost because they begin with such a label, and those taken as open stages (counting only
    the deals ``final``, the outcome a status column may have decided, leaves open)."""
    lab = rows.rec.labels
    exact = {label_key(x) for x in (*lab.won, *lab.lost)}
    label = rows.col("stage")
    by_stem = kind.isin(TERMINAL) & ~_each(label, lambda v: label_key(v) in exact).astype(bool)
    if by_stem.any():
        pairs = zip(label[by_stem], kind[by_stem], strict=True)
        names = sorted({f"{v!r} as {k}" for v, k in pairs})
        rows.keep(by_stem, "closed_label", "read as won or lost, as the label begins with a won "
                  f"or lost one: {', '.join(names[:5])}", action="info")  # fmt: skip
    closed = kind.isin(TERMINAL)
    if closed.any():
        used = label[closed].groupby(kind[closed]).unique()
        rows.report.add("closed_labels", "info", "; ".join(
            f"read as {k}: {', '.join(sorted(map(str, v))[:8])}" for k, v in used.items()
        ) + " (labels: in a --mapping file to change it)", rows=int(closed.sum()),
            examples=[])  # fmt: skip
    is_open = ~kind.isin(TERMINAL) & kind.notna()
    if final is not None:
        is_open &= ~final.isin(TERMINAL)
    closing = is_open & _each(label, lambda v: any(w in label_key(v) for w in _CLOSING)).astype(
        bool
    )
    if closing.any():
        rows.keep(closing, "closed_looking_label", "stage labels taken as open that read like a "
                  f"close: {', '.join(sorted(set(label[closing]))[:5])}; if they close a deal, "
                  "name them in labels: {won: [...], lost: [...]} in a --mapping file")  # fmt: skip
    if is_open.any():
        names = sorted(set(label[is_open]))
        rows.report.add(
            "open_labels", "info",
            f"stage labels taken as open (neither a won nor a lost label; give labels: in a "
            f"--mapping file to change it): {', '.join(names[:10])}",
            rows=int(is_open.sum()), examples=[],
        )  # fmt: skip


def _stage_from_status(rows: _Rows, open_labels: list[str] | None) -> None:
    """A deal whose stage is blank and whose status is not is read by its status: a CRM that
    keeps the status apart (Nutshell's Open / Won / Lost) clears the stage once a deal closes,
    its stages naming open stages only. The status takes the stage's place where it says won
    or lost, or, with no open labels given, where it says anything else (an open deal, in the
    stage its status names); said in the note."""
    stage = rows.col("stage").astype(str).str.strip()
    status = rows.col("status").astype(str).str.strip()
    blank = (stage == "") & (status != "")
    if open_labels is not None:
        blank &= _kinds(rows, None, "status").isin(TERMINAL)
    if not blank.any():
        return
    rows.frame.loc[blank[blank].index, "stage"] = status[blank]
    rows.keep(blank, "stage_from_status", f"{rows.name('stage')} is blank: read by "
              f"{rows.name('status')} ({', '.join(sorted(set(status[blank]))[:5])})",
              action="info")  # fmt: skip


def _drop_unknown_stages(rows: _Rows, open_labels: list[str] | None) -> None:
    lab = rows.rec.labels
    known = [*lab.won, *lab.lost, *(open_labels or [])]
    rows.drop(
        _kinds(rows, open_labels).isna(),
        "unknown_stage",
        f"{rows.name('stage')} is not one of {', '.join(known)}"
        if open_labels is not None
        else f"{rows.name('stage')} is blank",
    )


def _values(rows: _Rows) -> pd.Series:
    raw = rows.col("value")
    unit = header_unit(rows.name("value"))  # 金额（万元）, Amount (K): headers.header_unit
    scaled = unit is not None and unit.scale != 1
    german = unit is not None and unit.decimal_comma  # Betrag (Tsd. €): 12,5 and 1.250
    # a header's unit makes decimals expected: 31.893 (K) is no 31,893 grouped by a dot; so do
    # the currencies of three decimals (KWD 250.500), named by the currency column or header
    mills = _three_decimal_currency(rows, unit.currency if unit is not None else None)
    num = parse_numbers(raw, amounts=True, dot_groups=not (scaled or mills), decimal_comma=german)
    if unit is not None and scaled:
        # a workbook showing whole amounts in the header's unit (#,##0,"K"): cells as they are;
        # cells written without a unit of their own are in it
        whole = raw.index.isin(sorted(rows.rec.shown_scaled.get(rows.name("value"), ())))
        bare = num.notna() & ~has_own_scale(raw) & ~whole
        num = num.where(~bare, num * unit.scale)
        rows.keep(num.notna() & whole, "header_unit", f"{rows.name('value')}: the header's "
                  f"unit {unit.unit} is how the workbook shows these amounts (their number "
                  "format scales them): the cells hold whole amounts, taken as they are",
                  action="info")  # fmt: skip
        rows.keep(bare, "header_unit", f"{rows.name('value')}: the header's unit "
                  f"{unit.unit} taken: values × {unit.scale:,.0f}", action="info")  # fmt: skip
    # 10^15 is beyond any contract in any currency: a typo or an overflowed cell, and sums of
    # such values overflow to infinity
    # an accountant's negative, (1,234.00) or 1,234.00-, is no contract value either
    negative = (num < 0) | raw.str.fullmatch(r"\s*\(.*\d.*\)\s*|.*\d\s*-\s*")
    rows.keep(negative, "bad_value", f"{rows.name('value')} is negative (a credit or a refund?): "
              "no deal's value")  # fmt: skip
    wrong = ((raw != "") & num.isna() & ~negative) | (num >= MAX_VALUE)
    rows.keep(wrong, "bad_value", f"{rows.name('value')} is not an amount from 0 to 10^15")
    return num.where(~(wrong | negative))


def _three_decimal_currency(rows: _Rows, header: str | None) -> bool:
    """Whether most values are in a currency of three decimals by the currency column (or,
    without one, the value header's currency)."""
    if rows.has("currency"):
        codes = currency_codes(rows.col("currency")).dropna()
        return bool(len(codes)) and float(codes.isin(THREE_DECIMALS).mean()) > 0.5
    return header in THREE_DECIMALS


def _probabilities(rows: _Rows) -> pd.Series:
    """0-1; a column with any value above 1 is in percent (Salesforce writes 0-100)."""
    raw = rows.col("probability")
    num = parse_probabilities(raw)
    wrong = ((raw != "") & num.isna()) | (num < 0) | (num > 1)
    rows.keep(wrong, "bad_probability", f"{rows.name('probability')} is not 0-100 %")
    return num.where(~wrong)


def _categories(rows: _Rows) -> pd.Series:
    raw = rows.col("forecast_category")
    cat = _each(raw, lambda v: CATEGORIES.get(label_key(v)))
    rows.keep(
        (raw != "") & cat.isna(),
        "bad_forecast_category",
        f"{rows.name('forecast_category')} is not pipeline, best case, commit, closed or omitted",
    )
    return cat.astype(object).where(cat.notna(), None)


def _attributes(rows: _Rows) -> pd.DataFrame:
    """product / owner / account / segment / team / currency, blanks counted, product
    spellings merged."""
    out = pd.DataFrame(index=rows.frame.index)
    for f in _ATTRS:
        if f == "product":
            continue
        out[f] = _each(rows.col(f), lambda v: " ".join(v.split()) or None)
    if rows.has("currency"):  # codes, or names as CRMs show them (US Dollar, 人民币)
        code = currency_codes(rows.col("currency"))
        filled = out["currency"].notna()
        if filled.any() and code.isna().all():  # SugarCRM's ids (-99): no currency is named
            rows.keep(filled, "currency_ids", f"{rows.name('currency')} names no currency in any "
                      f"row ({', '.join(sorted(set(out['currency'].dropna()))[:3])}: a CRM's own "
                      "ids?): left out, the values read in the scenario's currency (--currency "
                      "names it)")  # fmt: skip
            out["currency"] = None
        else:
            bad = filled & code.isna()
            rows.keep(bad, "bad_currency", f"{rows.name('currency')} is neither a currency "
                      "code nor a currency's name: the value cannot be converted "
                      "(blanked)")  # fmt: skip
            out["currency"] = code.where(~bad, out["currency"].str.upper())
    if rows.has("account"):
        rows.keep(out["account"].isna(), "blank_account", "no account (the deal is kept)")
    if not rows.has("product"):
        out["product"] = None
        return out
    product = _each(rows.col("product"), lambda v: " ".join(v.split()))
    rows.keep(product == "", "blank_product", "no product: grouped as 'unspecified'")
    out["product"] = _merge_spellings(rows, product.where(product != "", "unspecified"))
    return out


def _merge_spellings(rows: _Rows, names: pd.Series) -> pd.Series:
    """One name per case/space/punctuation-insensitive key: the catalog's, else the commonest."""
    catalog = rows.rec.catalog
    counts = Counter(names)
    by_key: dict[str, list[str]] = {}
    for name in counts:
        by_key.setdefault(label_key(name), []).append(name)
    cat_by_key = {label_key(c): c for c in catalog}
    canon: dict[str, str] = {}
    for key, spellings in by_key.items():
        best = cat_by_key.get(key) or max(spellings, key=lambda s: (counts[s], s))
        for s in spellings:
            canon[s] = best
        changed = [s for s in spellings if s != best]
        if changed:
            where = " (the catalog's spelling)" if key in cat_by_key else ""
            rows.keep(
                names.isin(changed),
                "product_spelling",
                f"{' / '.join(repr(s) for s in changed)} merged into {best!r}{where}",
                action="merged",
            )
    merged = names.map(canon)
    if catalog:
        unknown = ~merged.isin(list(catalog)) & (merged != "unspecified")
        rows.keep(unknown, "unknown_product", "product not in the catalog")
    return merged


def _archived_lost(rows: _Rows, kind: pd.Series, d: dict[str, pd.Series]) -> pd.Series:
    """Odoo marks a deal lost by archiving it (``Active`` false) in the stage it was in, and
    dates its close (``Closed Date``): such a deal, not won, with a date in a column that names
    an actual close is lost (a ``Close Date`` may be an open deal's expected or overdue close).
    Only where the column is an archive flag: no won deal is inactive (an account's or a
    customer's ``Active`` says nothing of the deal)."""
    archived = _each(rows.col("active"), lambda v: label_key(v) in _INACTIVE).astype(bool)
    if (archived & (kind == "won")).any():
        return kind
    if label_key(rows.name("closed")) not in _ARCHIVE_CLOSE:  # an expected close, or overdue
        return kind
    gone = archived & d["closed"].notna() & ~kind.isin(TERMINAL)
    rows.keep(gone, "lost_by_archive", f"not active ({rows.name('active')}), not won and closed "
              "in the past: lost", action="info")  # fmt: skip
    return kind.where(~gone, "lost")


def _shared_sign(values: pd.Series | None) -> tuple[str, str] | None:
    """The sign most amounts are written with where it names several currencies (kr, $)."""
    if values is None or not (filled := values[values.str.strip() != ""]).size:
        return None
    return next(
        ((sign, several) for pattern, sign, several in _SHARED_SIGNS
         if filled.str.contains(pattern).sum() * 2 > len(filled)),
        None,
    )  # fmt: skip


def _convert(
    rows: _Rows, value: pd.Series, currency: pd.Series, when: pd.Series, report: DataReport
) -> pd.Series:
    """Values in the scenario currency (see :class:`Rates`); no rate: value blanked. A row
    with no currency code takes the one its amount is written with (``EUR 13,500.00``). With
    no currency named (``--currency``, the mapping's ``currency``), the scenario's is the
    export's commonest code (USD when it writes none)."""
    rates = rows.rec.rates
    if rows.has("value"):
        written = amount_currency(rows.col("value")).reindex(currency.index)
        currency = currency.where(currency.notna(), written)
        if (unit := header_unit(rows.name("value"))) is not None and unit.currency is not None:
            currency = currency.where(currency.notna(), unit.currency)  # Amount (USD), 金额(万元)
    if rows.rec.currency is None:
        codes = currency[value.notna()].dropna()
        yen = bool((codes == YEN_SIGN).sum() * 2 > value.notna().sum())  # most values
        codes = codes[codes.str.fullmatch("[A-Z]{3}")]
        names = list(rows.rec.names.values())
        # kana are written in Japanese only, hangul in Korean only: their kanji / hanja are no
        # Chinese (a Japanese header's 金額 is no Traditional Chinese)
        japanese = any(_KANA.search(c) for c in names)
        korean = not japanese and any(_HANGUL.search(c) for c in names)
        # the records' currency is the scenario's from here on (History takes it)
        if len(codes) and not yen:
            rows.rec.currency = str(codes.mode().iloc[0])
            why = "the export's commonest currency"
        elif yen and japanese:
            rows.rec.currency = "JPY"
            why = "most amounts written with ¥, its header Japanese"
        elif yen:  # most amounts written ¥: yuan, the users' commoner one
            rows.rec.currency = "CNY"
            why = "most amounts written with ¥; --currency JPY if they are yen"
        elif japanese or korean:
            rows.rec.currency, language = ("JPY", "Japanese") if japanese else ("KRW", "Korean")
            why = f"no currency code in the export, its header {language}"
        elif cyrillic := [c.casefold() for c in names if _CYRILLIC.search(c)]:
            rows.rec.currency, language = next(
                (code, lang) for letters, code, lang in _CYRILLIC_CURRENCY
                if not letters or any(ch in c for c in cyrillic for ch in letters)
            )  # fmt: skip
            why = f"no currency code in the export, its header {language}"
        elif shared := _shared_sign(rows.col("value") if rows.has("value") else None):
            sign, several = shared
            rows.rec.currency = "USD" if sign == "$" else "SEK"
            why = (f"most amounts written with {sign}, which is {several}: give --currency if "
                   f"they are not {rows.rec.currency}")  # fmt: skip
        else:  # a Chinese header: a Chinese CRM's export, in yuan (Traditional: Taiwan dollars)
            header = [c for c in names if _CJK.search(c)]
            traditional = any(label_key(c) != label_key_plain(c) for c in header)
            rows.rec.currency = "TWD" if traditional else "CNY" if header else "USD"
            why = "no currency code in the export" + (
                ", its header Traditional Chinese (give --currency HKD for Hong Kong dollars)"
                if traditional
                else ", its header Chinese"
                if header
                else ""
            )
        report.add("currency", "info", f"values read in {rows.rec.currency} ({why}; --currency "
                   "names the scenario's)", rows=int(value.notna().sum()),
                   examples=[])  # fmt: skip
    target = rows.rec.currency or "USD"
    # ¥ is the scenario's currency when that is yuan or yen, else another one (not converted)
    currency = currency.where(~((currency == YEN_SIGN) & (target in ("CNY", "JPY"))), target)
    if rates is None:
        foreign = (currency.fillna(target) != target) & value.notna()
        rows.keep(
            foreign,
            "unknown_currency",
            f"a value in another currency than {target} and no conversion rates given",
        )
        return value.where(~foreign)
    known = {rates.corporate, *rates.static}
    if len(rates.dated):
        known |= set(rates.dated["iso"])
    if target not in known:
        raise ScenarioError([Problem(
            f"currency {target}: the export's conversion rates know only "
            f"{', '.join(sorted(known))}; choose one of them (--currency)",
            file=rows.rec.source,
        )])  # fmt: skip
    # no currency code (a single-currency org has no CurrencyIsoCode): the corporate one
    if len(known) > 1:
        rows.keep(
            currency.isna() & value.notna(),
            "no_currency",
            f"no currency code: read as the export's corporate currency {rates.corporate}",
            action="info",
        )
    factor = rates.factors(currency.fillna(rates.corporate), when, target)
    missing = factor.isna() & value.notna()
    rows.keep(missing, "unknown_currency", f"no conversion rate to {target}: value blanked")
    return value * factor


def export_end(dates: pd.Series) -> pd.Timestamp | None:
    """The last day of the export's own dates when a few lie far beyond it (2033 typed for
    2023): the day before the first pause longer than a quarter and ten times the median
    pause between its distinct days after which fewer than 1% of its dates lie. None when no
    such pause (an export's dates run up to the day it was taken)."""
    day = dates.dropna().dt.normalize()
    days, counts = np.unique(day.to_numpy(), return_counts=True)
    if len(days) < 10:
        return None
    gaps = np.diff(days) / np.timedelta64(1, "D")
    limit = max(92.0, 10.0 * float(np.median(gaps)))
    after = len(day) - np.cumsum(counts)  # dates after each day
    for i in np.flatnonzero(gaps > limit):
        if after[i] < 0.01 * len(day):
            return pd.Timestamp(days[i])
    return None


def _drop_after_export(rows: _Rows, dates: list[pd.Series]) -> None:
    """Deals with a date beyond the export's own (see :func:`export_end`) are left out: such a
    date would move the export's date, and so every open deal's age and the arrival rate."""
    every = pd.concat(dates)
    end = export_end(every)
    if end is None:
        return
    beyond = every[every.dt.normalize() > end]
    ids = set(rows.frame.loc[rows.frame.index.intersection(beyond.index), "id"])
    first = beyond.min()
    rows.drop(
        rows.col("id").isin(ids),
        "after_export",
        f"a date after {end.date()}, the export's last before a pause of "
        f"{(first.normalize() - end).days:,} days (fewer than 1% of its dates lie beyond): a "
        "typing slip? the deal is left out",
    )


def _observation_start(
    report: DataReport, first_open: pd.Timestamp, first_exit: pd.Timestamp
) -> None:
    if pd.notna(first_exit) and pd.notna(first_open) and (first_exit - first_open).days > 0:
        report.add(
            "observation_start",
            "info",
            f"deals start {first_open.date()} but nothing closes or moves before "
            f"{first_exit.date()}: deals begun earlier are only seen if they lasted past it "
            "(fitted with left truncation; arrivals counted from then)",
            rows=1,
            examples=[],
        )


def _is_date_only(*series: pd.Series) -> bool:
    for s in series:
        v = s.dropna()
        if len(v) and (v != v.dt.normalize()).any():
            return False
    return True


def _finish(
    rec: Records,
    report: DataReport,
    deals: pd.DataFrame,
    path: pd.DataFrame,
    stages: list[str],
    names: dict[str, str],
    date_only: bool,
    snapshots: pd.DataFrame | None = None,
) -> History:
    settled, _ = settle_path(path)
    visits = visits_from_path(settled, tuple(stages))
    for col in DEAL_COLUMNS:
        if col not in deals:
            deals[col] = np.nan
    deals = deals.reset_index(drop=True)[list(DEAL_COLUMNS)]
    for col in ("opened", "closed", "created", "expected_close"):
        deals[col] = deals[col].astype("datetime64[ns]")
    report.deals_used = len(deals)
    if deals.empty:
        _no_usable_deals(report)
    span = (visits["left"] - visits["entered"]) / pd.Timedelta(days=1)
    clock = "a day" if date_only else "an hour"
    short = span < (1.0 if date_only else 1 / 24)
    hit = visits[short]
    report.add(
        "click_through",
        "info",
        f"{len(hit):,} stage visits shorter than {clock} (clicked through): kept, they are part "
        "of the process",
        rows=len(hit),
        examples=[f"deal {d}, stage {s}" for d, s in zip(hit["deal"], hit["stage"], strict=True)],
    )
    all_dates = pd.concat([deals["opened"], deals["closed"], visits["entered"], visits["left"]])
    exits = pd.concat([deals["closed"], visits["left"]]).dropna()
    first_exit = exits.min() if len(exits) else deals["opened"].max()
    _observation_start(report, deals["opened"].min(), first_exit)
    ids = {stage_id(k): v for k, v in rec.stage_probability.items()}
    forecasts = {stage_id(k): v for k, v in rec.stage_forecast.items()}
    stage_p = {s: p for s, p in ids.items() if s in stages}
    stage_f = {s: c for s, c in forecasts.items() if s in stages}
    # a deal without its own probability / category has its stage's (as the CRM shows it)
    probability, forecast = stage_defaults(deals, stage_p, stage_f)
    deals["crm_probability"] = deals["crm_probability"].fillna(probability)
    deals["forecast_category"] = deals["forecast_category"].where(
        deals["forecast_category"].notna(), forecast
    )
    efforts = _efforts(rec, report, deals, visits)
    return History(
        deals=deals,
        visits=visits,
        stages=tuple(stages),
        report=report,
        snapshot=all_dates.max(),
        observed_from=first_exit,
        stage_names=names,
        catalog=rec.catalog,
        currency=rec.currency or "USD",
        date_only=date_only,
        snapshots=snapshots if snapshots is not None else empty(SNAPSHOT_COLUMNS),
        path=path.reset_index(drop=True)[list(PATH_COLUMNS)],
        efforts=efforts,
        stage_probability=stage_p,
        stage_forecast=stage_f,
        open_values=rec.open_values,
    )


def _efforts(
    rec: Records, report: DataReport, deals: pd.DataFrame, visits: pd.DataFrame
) -> pd.DataFrame:
    """Reported hours, each put in the stage the deal was in when reported."""
    if rec.efforts is None or rec.efforts.empty:
        return empty(EFFORT_COLUMNS)
    e = rec.efforts
    at = parse_times(e["at"], rec.date_format, rec.timezone)
    hours = parse_numbers(e["hours"])
    ok = at.notna() & (hours >= 0) & e["deal"].isin(set(deals["deal"]))
    report.add(
        "bad_effort", "dropped", "a workload with no date, no valid hours or an unknown work item",
        rows=int((~ok).sum()), examples=[f"line {x}" for x in e.loc[~ok, "_line"].head(5)],
    )  # fmt: skip
    out = pd.DataFrame({"deal": e["deal"], "person": e["person"], "hours": hours, "at": at})[
        ok
    ].sort_values("at", kind="stable")
    v = visits.sort_values("entered", kind="stable")
    merged = pd.merge_asof(
        out, v[["deal", "entered", "stage"]], left_on="at", right_on="entered", by="deal"
    )
    merged["stage"] = merged["stage"].fillna(merged["deal"].map(deals.set_index("deal")["stage"]))
    return merged[list(EFFORT_COLUMNS)].reset_index(drop=True)


def _no_usable_deals(report: DataReport) -> NoReturn:
    """Stop: nothing is left to learn from; the report says what was dropped and why."""
    dropped = [f"{i.rows:,} {i.rule} ({i.message})" for i in report.issues if i.action == "dropped"]
    why = f": every row was dropped: {'; '.join(dropped)}" if dropped else ": it has no rows"
    raise ScenarioError([Problem(f"no usable deals in the export{why}", file=report.source)])


# --- one row per opportunity ------------------------------------------------------------------


def _opportunities(rec: Records, report: DataReport) -> History:
    rows = _Rows(rec.rows, rec, report)
    rows.drop(rows.col("id") == "", "blank_id", "no opportunity id")
    data_cols = [c for c in rows.frame.columns if not c.startswith("_")]
    rows.drop(
        rows.frame.duplicated(subset=data_cols), "duplicate_row", "exact copy of an earlier row"
    )
    repeated = rows.frame.duplicated(subset=["id"])
    if len(repeated) >= 10 and repeated.mean() > 0.5:  # not an id: most rows would be lost
        raise ScenarioError([Problem(
            f"{rows.name('id')} repeats in {int(repeated.sum()):,} of {len(repeated):,} rows: it "
            "is not the opportunity's id (one row per opportunity); map the id column "
            "(--column id=COLUMN)", file=rec.source,
        )])  # fmt: skip
    rows.drop(
        repeated,
        "duplicate_id",
        f"{rows.name('id')} already used by an earlier row (the first is kept)",
    )
    open_labels = list(rec.labels.open) if rec.labels.open is not None else None
    if rows.has("status") and rows.has("stage"):
        _stage_from_status(rows, open_labels)
    _drop_unknown_stages(rows, open_labels)
    if rows.has("status"):  # a deal deleted in the CRM (Pipedrive keeps them): not a deal
        deleted = _each(rows.col("status"), lambda v: label_key(v) in _DELETED).astype(bool)
        rows.drop(deleted, "deleted", f"deleted in the CRM ({rows.name('status')})", "info")
    has_created = rows.has("created")
    d = _dates(rows, ("created", "engaged", "closed") if has_created else ("engaged", "closed"))
    kind = by_stage = _kinds(rows, open_labels)
    if rows.has("status"):  # won or lost by the status decides; any other, the stage
        status = _kinds(rows, None, "status")
        kind = status.where(status.isin(TERMINAL), kind)
        said = rows.col("status")
        # said where the deal stays open: a "Closed" status beside a "Closed Won" stage is read
        closing = ~kind.isin(TERMINAL) & _each(
            said, lambda v: any(w in label_key(v) for w in _CLOSING)
        ).astype(bool)
        rows.keep(closing, "closed_looking_status", f"{rows.name('status')} values read as "
                  f"neither won nor lost that read like a close: "
                  f"{', '.join(sorted(set(said[closing]))[:5])}; if they close a deal, name "
                  "them in labels: {won: [...], lost: [...]} in a --mapping file")  # fmt: skip
    if rows.has("closed_flag"):
        kind = _closed_by_flag(rows, kind)
    if rows.has("lost_reason"):  # a reason why it was lost, and when: lost, unless won
        gave_up = (rows.col("lost_reason").str.strip() != "") & (rows.col("closed") != "")
        rows.keep(gave_up & ~kind.isin(TERMINAL), "lost_by_reason",
                  f"a {rows.name('lost_reason')} and a close date in an open stage: lost",
                  action="info")  # fmt: skip
        kind = kind.where(~gave_up | (kind == "won"), "lost")
    if rows.has("active"):
        kind = _archived_lost(rows, kind, d)
    if open_labels is None:
        _report_labels(rows, by_stage, kind)
    closed_kind = kind.isin(TERMINAL)
    created = d.get("created", pd.Series(pd.NaT, index=rows.frame.index, dtype="datetime64[ns]"))
    engaged, closed = d["engaged"], d["closed"]
    start = engaged.fillna(created)
    rows.drop(closed_kind & closed.isna(), "closed_without_date", "won or lost but no close date")
    # an open deal's close date is the date the CRM expects it to close (Salesforce requires
    # one on every opportunity): kept open, the date read as its expected close
    # (not where the column says when a deal entered its stage: an open deal's is no plan)
    since = label_key(rows.name("closed")) in _STAGE_SINCE
    expected = closed.where(~closed_kind & (not since))
    actual = label_key(rows.name("closed")) in _ACTUAL_CLOSE  # named a past close, not a plan
    rows.keep(
        expected.notna(),
        "open_with_close_date",
        "an open stage with a close date: kept open, the date read as its expected close"
        + (
            f"; but {rows.name('closed')} names when a deal did close: if these stages "
            f"({', '.join(sorted(set(rows.col('stage')[expected.notna()]))[:5])}) close a "
            "deal, name them in labels: {won: [...], lost: [...]} in a --mapping file"
            if actual
            else ""
        ),
        action="kept" if actual else "info",
    )
    closed = closed.where(closed_kind)
    rows.drop(
        ((kind == "won") & engaged.isna()) | (closed_kind & start.isna()),
        "missing_engage_date",
        f"won or lost but no {rows.name('engaged')}",
    )
    # a bare date is "during that day": not before a time of day on the same day
    closed, engaged = _same_day(closed, start), _same_day(engaged, created)
    start = engaged.fillna(created)
    # closed at most a week before it was created: entered after the fact, opened when it closed
    late = (closed < start) & (start - closed <= pd.Timedelta(days=ENTERED_LATE_DAYS))
    rows.keep(late, "entered_after_close", f"closed up to {ENTERED_LATE_DAYS} days before it was "
              "created (entered after the fact): opened at its close", action="info")  # fmt: skip
    created, engaged = created.where(~late, closed), engaged.where(~late, closed)
    start = engaged.fillna(created)
    rows.drop(
        (closed < start) | (engaged < created),
        "close_before_open",
        "closed (or engaged) before it was opened",
    )
    _drop_after_export(rows, [created, engaged, closed])
    value = _values(rows)
    rows.keep((kind == "won") & ~(value > 0), "won_without_value", "won with no positive value")
    attrs = _attributes(rows)
    crm = _crm_fields(rows)
    undated = start.reindex(rows.frame.index).isna()
    hit = rows.frame[undated]
    labels = sorted(set(rows.col("stage")[undated]))
    report.add(
        "undated_open",
        "info",
        f"{len(hit):,} open deals ({', '.join(labels)}) with no date: not placed in time, left "
        "out of the pipeline and the fits",
        rows=len(hit),
        examples=rows.examples(hit),
    )
    rows.frame = rows.frame[~undated]
    idx = rows.frame.index
    kind = kind.reindex(idx)
    created, engaged, closed = created.reindex(idx), engaged.reindex(idx), closed.reindex(idx)
    attrs = attrs.reindex(idx)
    value = _convert(rows, value.reindex(idx), attrs["currency"], closed.fillna(engaged), report)
    outcome = kind.where(kind.isin(TERMINAL), "open")
    ids = rows.col("id")
    parts = []
    if has_created:
        parts.append(pd.DataFrame({"deal": ids, "stage": "prospecting", "at": created}))
    parts.append(pd.DataFrame({"deal": ids, "stage": "engaging", "at": engaged}))
    parts.append(pd.DataFrame({"deal": ids, "stage": outcome, "at": closed}))
    path = pd.concat(parts)
    path = path[path["at"].notna() & (path["stage"] != "open")]
    if path.empty:
        _no_usable_deals(report)
    stages = ["prospecting", "engaging"] if has_created else ["engaging"]
    state = deal_state(settle_path(path)[0])
    deals = pd.DataFrame(
        {
            "deal": ids,
            "line": rows.frame["_line"],
            **{f: attrs[f] for f in _ATTRS},
            "opened": ids.map(state["opened"]),
            "closed": closed,
            "outcome": outcome,
            "value": value,
            "stage": ids.map(state["stage"]),
            "entry_stage": ids.map(state["entry_stage"]),
            "created": created if has_created else pd.NaT,
            # the CRM's view, where the export maps it; an open deal's close date otherwise
            "expected_close": crm["expected_close"].reindex(idx).fillna(expected.reindex(idx)),
            "crm_probability": crm["crm_probability"].reindex(idx),
            "forecast_category": crm["forecast_category"].reindex(idx),
        }
    )
    names = {"engaging": "Engaging", "prospecting": "Prospecting"}
    if open_labels:
        names = {stage_id(x): x for x in open_labels} | names
    return _finish(
        rec,
        report,
        deals,
        path,
        stages,
        {s: names.get(s, s) for s in stages},
        _is_date_only(engaged, closed, created),
    )


# --- one row per stage change -----------------------------------------------------------------


def _stage_changes(rec: Records, report: DataReport) -> History:
    rows = _Rows(rec.rows, rec, report)
    rows.drop(rows.col("id") == "", "blank_id", "no opportunity id")
    if label_key(rows.name("id")) in _TITLE_KEYS:  # a history of names: deals can merge
        report.add(
            "name_as_id", "info",
            f"each deal is known by its {rows.name('id')}: deals that share a name are read as "
            "one (a close and then more changes shows as reopened); the export's id column, if "
            "it has one, keeps them apart", rows=int(rows.col("id").nunique()), examples=[],
        )  # fmt: skip
    attributes = rec.attributes
    if attributes is not None:
        rows.drop(
            ~rows.col("id").isin(set(attributes["id"])),
            "unknown_deal",
            "a history row of a deal the deals file does not have",
        )
    order = list(rec.stage_order) if rec.stage_order is not None else None
    open_labels = (
        order if order is not None else (list(rec.labels.open) if rec.labels.open else None)
    )
    _drop_unknown_stages(rows, open_labels)
    # read together: the creation dates in the day-month order the change dates show
    times = _dates(rows, ("entered", "created") if rows.has("created") else ("entered",))
    entered = times["entered"]
    rows.drop(entered.isna(), "blank_date", f"no {rows.name('entered')}: the change has no time")
    entered = entered.reindex(rows.frame.index)
    _drop_after_export(rows, [entered])
    entered = entered.reindex(rows.frame.index)
    if rows.has("from_stage"):
        entered = _began_in(rows, entered, open_labels, times.get("created"))
    data_cols = [c for c in rows.frame.columns if not c.startswith("_")]
    rows.drop(
        rows.frame.duplicated(subset=data_cols), "duplicate_row", "exact copy of an earlier row"
    )
    f = rows.frame
    kind = _kinds(rows, open_labels)
    if rows.has("outcome"):
        won, lost = ({label_key(x) for x in xs} for xs in (rec.labels.won, rec.labels.lost))
        out_kind = rows.col("outcome").map(
            lambda v: "won" if label_key(v) in won else "lost" if label_key(v) in lost else None
        )
        kind = out_kind.fillna(kind)
    ev = pd.DataFrame(
        {"deal": f["id"], "kind": kind, "at": entered.reindex(f.index), "line": f["_line"]}
    )
    # changes at one instant (a day, in a file of dates) follow the file's order, or the
    # reverse where the file lists each deal's changes newest first (Salesforce's history)
    step = ev.sort_values("line").groupby("deal", sort=False)["at"].diff()
    newest_first = bool((step < pd.Timedelta(0)).sum() > (step > pd.Timedelta(0)).sum())
    if newest_first:
        ev["line"] = -ev["line"]
        report.add(
            "newest_first", "info",
            "the file lists each deal's changes newest first: changes at the same time are "
            "taken in the reverse of the file's order", rows=len(ev), examples=[],
        )  # fmt: skip
    ev = ev.sort_values(["deal", "at", "line"], kind="stable")
    first = ev.groupby("deal", sort=False).head(1)
    no_open = first[first["kind"].isin(TERMINAL)]["deal"]
    rows.drop(
        rows.col("id").isin(set(no_open)),
        "no_open_stage",
        "the deal's first row is already won or lost",
    )
    ev = ev[~ev["deal"].isin(set(no_open))]
    if order is None:
        order = _infer_order(ev, rec, report)
    else:
        report.add(
            "stage_order", "info", f"stage order {rec.order_reason}: " + " -> ".join(order),
            rows=len(order), examples=[],
        )  # fmt: skip
    ids = {label: stage_id(label) for label in order}
    if len(set(ids.values())) != len(ids):
        raise ScenarioError([Problem("two stage labels give the same stage id", "stage_order")])
    to_id = {**ids, "won": "won", "lost": "lost"}
    path = pd.DataFrame({"deal": ev["deal"], "stage": ev["kind"].map(to_id), "at": ev["at"]})
    settled, undone = settle_path(path)
    hit = rows.frame.loc[undone.index.intersection(rows.frame.index)]
    report.add(
        "reopened", "info",
        "a close undone by a later row (reopened, or closed again): the deal went on from the "
        "stage it was closed from", rows=len(hit), examples=rows.examples(hit),
    )  # fmt: skip
    state = deal_state(settled)
    if state.empty:
        _no_usable_deals(report)
    rows.frame = rows.frame[rows.frame["id"].isin(state.index)]
    if attributes is not None and "currency" in attributes and not rows.has("currency"):
        # history rows are in their deal's currency
        rows.frame["currency"] = rows.col("id").map(attributes.groupby("id")["currency"].first())
    snapshots, current = _snapshots(rows, entered, kind.map(to_id), report, newest_first)
    deals = state.rename_axis("deal").reset_index()
    deals["line"] = deals["deal"].map(rows.frame.groupby("id")["_line"].min())
    for col in current.columns:
        deals[col] = deals["deal"].map(current[col])
    if rows.has("created"):
        created = times["created"].reindex(rows.frame.index)
        deals["created"] = deals["deal"].map(created.groupby(rows.frame["id"]).min())
    if attributes is not None:
        deals = _deal_attributes(deals, attributes, rec, report)
    won = deals[deals["outcome"] == "won"]
    no_value = won[~(won["value"] > 0)]
    report.add(
        "won_without_value", "kept", "won with no positive value", rows=len(no_value),
        examples=[f"line {a} (id {b})" for a, b in zip(no_value["line"], no_value["deal"],
                                                       strict=True)][:MAX_EXAMPLES],
    )  # fmt: skip
    return _finish(
        rec,
        report,
        deals,
        path,
        [ids[x] for x in order],
        {ids[x]: x for x in order},
        _is_date_only(entered),
        snapshots,
    )


def _infer_order(ev: pd.DataFrame, rec: Records, report: DataReport) -> list[str]:
    """Open stages by the CRM's stage probability if it has one for each, else by precedence
    in the deals' paths: a stage comes before another when, of the deals that visited both,
    more reached it first (first visits; the stages ranked by how many others each comes
    before, ties by mean position, the first stage a deal is seen in being position 0). Deals
    created in a later stage do not pull it forward, as a mean position alone would."""
    opens = ev[~ev["kind"].isin(TERMINAL)].copy()
    opens["pos"] = opens.groupby("deal").cumcount()
    rank = opens.groupby("kind")["pos"].mean()
    prob = {label_key(k): v for k, v in rec.stage_probability.items()}
    by_prob = all(label_key(k) in prob for k in rank.index)
    if by_prob and rank.size:
        keys = {k: (prob[label_key(k)], rank[k]) for k in rank.index}
        order = sorted(rank.index, key=lambda k: keys[k])
        why = "by the CRM's stage probability (ties: mean position in the deals' paths)"
    else:
        beats = _precedence(opens)
        order = sorted(rank.index, key=lambda k: (-beats.get(k, 0), rank[k]))
        why = (
            "inferred from which stage the deals that visit two of them reach first (if wrong, "
            "give stage_order: [...] in a --mapping file)"
        )
    report.add(
        "stage_order", "info", f"stage order {why}: " + " -> ".join(order), rows=len(order),
        examples=[],
    )  # fmt: skip
    return order


def _precedence(opens: pd.DataFrame) -> dict[str, int]:
    """Per stage, how many others it comes before in more deals than after (first visits)."""
    first = opens.groupby(["deal", "kind"], sort=False)["pos"].min().unstack()
    pos = first.to_numpy(dtype=np.float64)
    seen = ~np.isnan(pos)
    k = pos.shape[1]
    ahead = np.zeros((k, k))
    for i in range(k):
        both = seen[:, i, None] & seen
        ahead[i] = (both & (pos[:, i, None] < pos)).sum(axis=0)
    wins = (ahead > ahead.T).sum(axis=1)
    return {str(c): int(w) for c, w in zip(first.columns, wins, strict=True)}


def _began_in(
    rows: _Rows, entered: pd.Series, open_labels: list[str] | None, created: pd.Series | None
) -> pd.Series:
    """A log of changes from one stage to another (a from and a to column) shows the stage each
    deal began in only as the from of its first change: that stage is added as the deal's first
    row, entered when the deal was created (its ``created`` date, parsed), else at the time of
    that first change (its time there unknown, so counted as none: said in the note)."""
    f = rows.frame
    at = entered.reindex(f.index)
    first = at.groupby(f["id"], sort=False).idxmin().dropna()
    head = f.loc[first.to_numpy()]
    began = head["from_stage"].astype(str).str.strip()
    new = head[(began != "") & (began != head["stage"].astype(str).str.strip())].copy()
    if open_labels is not None:
        known = {label_key(x) for x in open_labels}
        new = new[began[new.index].map(label_key).isin(known)]
    if new.empty:
        return at
    when = at[new.index]
    if created is not None:
        made = created.reindex(new.index)
        when = made.where(made.notna() & (made <= when), when)
    new["stage"] = began[new.index]
    for col in ("outcome", "value", "probability", "expected_close"):
        if col in new:
            new[col] = ""  # the change's own state belongs to the change, not to the start
    unknown = int(when.eq(at[new.index]).sum())
    rows.report.add(
        "began_in", "info",
        f"{len(new):,} deals' first stage taken from their first change's "
        f"{rows.name('from_stage')}: entered when the deal was created"
        + (f" ({unknown:,} without a creation date: at that change, no time in it)"
           if unknown else ""),
        rows=len(new), examples=rows.examples(new),
    )  # fmt: skip
    start = int(f.index.max()) + 1 if len(f) else 0
    new.index = pd.RangeIndex(start, start + len(new))
    rows.frame = pd.concat([new, f])
    return pd.concat([pd.Series(when.to_numpy(), index=new.index), at])


def _snapshots(
    rows: _Rows, entered: pd.Series, stage: pd.Series, report: DataReport, newest_first: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per row the deal's state after it (blanks carry the previous row's value), in time order
    (rows at one time in the file's order, or its reverse when the file is newest first); and
    per deal its attributes and state from its last row that has them."""
    f = rows.frame
    at = entered.reindex(f.index)
    has_state = any(rows.has(c) for c in ("value", "expected_close", "probability",
                                           "forecast_category"))  # fmt: skip
    value = _values(rows).reindex(f.index)
    attrs = _attributes(rows).reindex(f.index)
    table = pd.DataFrame(
        {
            "deal": f["id"],
            "at": at,
            "line": -f["_line"] if newest_first else f["_line"],
            "value": value,
            "expected_close": _dates(rows, ("expected_close",))["expected_close"].reindex(f.index)
            if rows.has("expected_close")
            else pd.Series(pd.NaT, index=f.index, dtype="datetime64[ns]"),
            "crm_probability": _probabilities(rows).reindex(f.index),
            "forecast_category": _categories(rows).reindex(f.index),
            "stage": stage.reindex(f.index),
            **{c: attrs[c] for c in _ATTRS},
        }
    ).sort_values(["deal", "at", "line"], kind="stable")
    table = table[table["deal"].isin(set(rows.frame["id"]))]
    filled = table.groupby("deal", sort=False).ffill()
    filled["deal"] = table["deal"]
    when = filled["expected_close"].where(filled["expected_close"] < filled["at"], filled["at"])
    filled["value"] = _convert(rows, filled["value"], filled["currency"], when, report)
    current = filled.groupby("deal", sort=False).last()
    current = current[[c for c in ("value", "expected_close", "crm_probability",
                                   "forecast_category", *_ATTRS) if c in current]]  # fmt: skip
    if not has_state:
        return empty(SNAPSHOT_COLUMNS), current
    snaps = filled[list(SNAPSHOT_COLUMNS)].sort_values("at", kind="stable").reset_index(drop=True)
    snaps["at"] = snaps["at"].astype("datetime64[ns]")
    snaps["expected_close"] = snaps["expected_close"].astype("datetime64[ns]")
    return snaps, current


def _deal_attributes(
    deals: pd.DataFrame, attributes: pd.DataFrame, rec: Records, report: DataReport
) -> pd.DataFrame:
    """Attributes of each deal from the deals file (one row per deal), and converted values."""
    rows = _Rows(attributes, rec, report)
    rows.drop(rows.col("id") == "", "blank_id", "no opportunity id")
    rows.drop(
        rows.frame.duplicated(subset=["id"]),
        "duplicate_id",
        f"{rows.name('id')} already used by an earlier row (the first is kept)",
    )
    attrs = _attributes(rows)
    attrs["id"] = rows.col("id")
    if rows.has("created"):
        attrs["created"] = _dates(rows, ("created",))["created"]
    if rows.has("expected_close"):
        attrs["expected_close"] = _dates(rows, ("expected_close",))["expected_close"]
    if rows.has("probability"):
        attrs["crm_probability"] = _probabilities(rows)
    if rows.has("forecast_category"):
        attrs["forecast_category"] = _categories(rows)
    if rows.has("value"):  # the current amount (no history of it)
        when = attrs.get("expected_close", pd.Series(pd.NaT, index=attrs.index))
        snap = parse_times(rows.col("created"), rec.date_format, rec.timezone).max()
        when = when.where(when < snap, snap) if pd.notna(snap) else when
        attrs["value"] = _convert(rows, _values(rows), attrs["currency"], when, report)
    attrs = attrs.set_index("id")
    for col in attrs.columns:
        deals[col] = deals["deal"].map(attrs[col])
    return deals
