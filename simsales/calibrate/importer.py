"""Read a CRM export (CSV) into a clean :class:`History`, counting every data problem.

Dirty rows are expected. Each rule below counts the rows it hits and keeps a few examples; the
import goes on with the clean rows unless ``strict`` (then :class:`DataError` with the report).

=======================  =========  ==========================================================
rule                     action     what
=======================  =========  ==========================================================
blank_id                 dropped    no opportunity id
duplicate_row            dropped    an exact copy of an earlier row
duplicate_id             dropped    the id was already used by an earlier, different row
unknown_stage            dropped    a stage label the mapping does not know
bad_date                 dropped    a date that cannot be parsed
close_before_open        dropped    closed (or a stage entered) before the deal was engaged
closed_without_date      dropped    won or lost but no close date
open_with_close_date     dropped    an open stage but a close date
missing_engage_date      dropped    won or lost but never engaged (no start date)
after_close              dropped    stage changes: a row after the deal was won or lost
no_open_stage            dropped    stage changes: the deal's first row is already won or lost
bad_value                kept       a value that is not a non-negative number: value blanked
won_without_value        kept       won with no (or zero) value: not used to fit values
blank_account            kept       no account
blank_product            kept       no product: grouped as "unspecified"
product_spelling         merged     one product written several ways (case, spaces, punctuation)
unknown_product          kept       a product not in the catalog
undated_open             info       open deals with no date at all (e.g. Prospecting): left out
observation_start        info       no closes before a date: earlier deals are left-truncated
stage_order              info       stage changes: the stage order inferred from the data
catalog                  info       the product catalog used to name products
=======================  =========  ==========================================================
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simsales.calibrate.history import DEAL_COLUMNS, VISIT_COLUMNS, History
from simsales.calibrate.mapping import ColumnMapping, label_key, resolve_mapping
from simsales.calibrate.quality import DataError, DataReport
from simsales.errors import Problem, ScenarioError

__all__ = ["read_csv_header", "read_history", "stage_id"]

MAX_BYTES = 200_000_000


def read_history(
    path: str | Path,
    mapping: ColumnMapping | None = None,
    *,
    preset: str | None = None,
    mapping_file: str | Path | None = None,
    columns: dict[str, str] | None = None,
    strict: bool = False,
    exported: date | str | None = None,
) -> History:
    """Import ``path`` with ``mapping`` (or a preset / mapping file / column flags).

    ``exported`` is the date the export was taken (what it knows up to); by default its latest
    date, which can be a little earlier than the real export date.
    """
    path = Path(path)
    frame = _read_csv(path)
    if mapping is None:
        mapping = resolve_mapping(preset, mapping_file, columns, header=list(frame.columns))
    report = DataReport(str(path), rows_read=len(frame))
    catalog = _read_catalog(path, mapping, report)
    if mapping.shape == "opportunities":
        history = _opportunities(frame, mapping, report, catalog)
    else:
        history = _stage_changes(frame, mapping, report, catalog)
    if exported is not None:
        when = pd.Timestamp(exported)
        if when < history.snapshot:
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
    if strict and report.problems:
        raise DataError(report)
    return history


def read_csv_header(path: str | Path) -> list[str]:
    return list(_read_csv(Path(path), nrows=0).columns)


def stage_id(label: str) -> str:
    """A scenario id for a CRM stage label: lower case, words joined by '-'."""
    words = re.findall(r"\w+", str(label).casefold())
    return "-".join(words) or "stage"


# --- reading ----------------------------------------------------------------------------------


def _read_csv(path: Path, nrows: int | None = None) -> pd.DataFrame:
    if not path.exists():
        raise ScenarioError([Problem("no such file", file=str(path), hint="check the path")])
    if path.is_dir() or path.stat().st_size > MAX_BYTES:
        raise ScenarioError([Problem(f"not a CSV file under {MAX_BYTES:,} bytes", file=str(path))])
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=nrows
        )
    except UnicodeDecodeError:
        raise ScenarioError(
            [Problem("not valid UTF-8", file=str(path), hint="save as UTF-8")]
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise ScenarioError([Problem(f"cannot read the CSV: {exc}", file=str(path))]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda s: s.str.strip()) if len(frame) else frame


def _read_catalog(path: Path, mapping: ColumnMapping, report: DataReport) -> dict[str, float]:
    spec = mapping.catalog
    if spec is None:
        return {}
    file = path.parent / spec.file
    if not file.exists():
        if spec.optional:
            return {}
        raise ScenarioError([Problem("catalog file not found", "catalog.file", str(file))])
    cat = _read_csv(file)
    for col in (spec.product, spec.price):
        if col is not None and col not in cat.columns:
            raise ScenarioError(
                [Problem(f"no column {col!r} in the catalog", "catalog", str(file))]
            )
    prices = (
        pd.to_numeric(cat[spec.price], errors="coerce")
        if spec.price
        else pd.Series(np.nan, index=cat.index)
    )
    out = {str(name): float(p) for name, p in zip(cat[spec.product], prices, strict=True) if name}
    report.add(
        "catalog", "info", f"{len(out)} products in the catalog {file.name}", rows=len(out),
        examples=list(out)[:5],
    )  # fmt: skip
    return out


# --- shared helpers ---------------------------------------------------------------------------


class _Rows:
    """The rows still in play, with their CSV line numbers, and the report they feed."""

    def __init__(self, frame: pd.DataFrame, mapping: ColumnMapping, report: DataReport) -> None:
        self.frame = frame.copy()
        self.frame["_line"] = np.arange(len(frame)) + 2  # header is line 1
        self.m = mapping
        self.report = report
        self.id_col = mapping.columns["id"]

    def col(self, field: str) -> pd.Series:
        name = self.m.column(field)
        if name is None:
            return pd.Series("", index=self.frame.index, dtype=object)
        return self.frame[name]

    def drop(self, mask: pd.Series, rule: str, message: str) -> None:
        mask = mask.reindex(self.frame.index).fillna(False).astype(bool)
        hit = self.frame[mask]
        self.report.add(rule, "dropped", message, hit["_line"].tolist(), hit[self.id_col].tolist())
        self.frame = self.frame[~mask]

    def keep(self, mask: pd.Series, rule: str, message: str) -> None:
        hit = self.frame[mask.reindex(self.frame.index).fillna(False).astype(bool)]
        self.report.add(rule, "kept", message, hit["_line"].tolist(), hit[self.id_col].tolist())


def _parse_dates(values: pd.Series, fmt: str | None) -> pd.Series:
    parsed = pd.to_datetime(values.where(values != ""), format=fmt or "ISO8601", errors="coerce")
    return parsed.astype("datetime64[ns]")


def _dates(rows: _Rows, fields: tuple[str, ...]) -> dict[str, pd.Series]:
    """Parse the date columns; rows with a non-blank, unparseable date are dropped."""
    bad = pd.Series(False, index=rows.frame.index)
    which: list[str] = []
    for f in fields:
        raw = rows.col(f)
        parsed = _parse_dates(raw, rows.m.date_format)
        wrong = (raw != "") & parsed.isna()
        if wrong.any():
            which.append(rows.m.columns[f])
        bad |= wrong
    fmt = rows.m.date_format or "ISO 8601 (YYYY-MM-DD)"
    rows.drop(bad, "bad_date", f"unparseable date in {', '.join(which)} (expected {fmt})")
    return {f: _parse_dates(rows.col(f), rows.m.date_format) for f in fields}


def _stage_kinds(rows: _Rows, open_labels: list[str] | None) -> pd.Series:
    """Each row's stage as won / lost / open; rows with an unknown stage are dropped."""
    m = rows.m
    kind = _labels(rows, rows.col("stage"), open_labels)
    known = [*m.labels.won, *m.labels.lost, *(open_labels or [])]
    rows.drop(
        kind.isna(),
        "unknown_stage",
        f"{m.columns['stage']} is not one of {', '.join(known)}"
        if open_labels is not None
        else f"{m.columns['stage']} is blank",
    )
    return kind


def _labels(rows: _Rows, series: pd.Series, open_labels: list[str] | None) -> pd.Series:
    """Kind of each label: 'won', 'lost', an open label (canonical spelling) or None."""
    lab = rows.m.labels
    table: dict[str, str] = {label_key(x): "won" for x in lab.won}
    table.update({label_key(x): "lost" for x in lab.lost})
    if open_labels is not None:
        table.update({label_key(x): x for x in open_labels})
        return series.map(lambda v: table.get(label_key(v)))
    return series.map(lambda v: table.get(label_key(v), v if v else None))


def _values(rows: _Rows) -> pd.Series:
    raw = rows.col("value")
    num = pd.to_numeric(raw.str.replace(",", "", regex=False), errors="coerce")
    wrong = ((raw != "") & num.isna()) | (num < 0)
    rows.keep(wrong, "bad_value", f"{rows.m.columns.get('value')} is not a non-negative number")
    return num.where(~wrong)


def _attributes(rows: _Rows, catalog: dict[str, float]) -> pd.DataFrame:
    """product / owner / account / segment, with blanks counted and product spellings merged."""
    out = pd.DataFrame(index=rows.frame.index)
    for f in ("owner", "account", "segment"):
        out[f] = rows.col(f).map(lambda v: " ".join(v.split()) or None)
    if "account" in rows.m.columns:
        rows.keep(out["account"].isna(), "blank_account", "no account (the deal is kept)")
    product = rows.col("product").map(lambda v: " ".join(v.split()))
    if "product" in rows.m.columns:
        rows.keep(product == "", "blank_product", "no product: grouped as 'unspecified'")
    if "product" not in rows.m.columns:
        out["product"] = None
        return out
    out["product"] = _merge_spellings(rows, product.where(product != "", "unspecified"), catalog)
    return out


def _merge_spellings(rows: _Rows, names: pd.Series, catalog: dict[str, float]) -> pd.Series:
    """One name per case/space/punctuation-insensitive key: the catalog's, else the commonest."""
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
            mask = names.isin(changed)
            hit = rows.frame[mask]
            where = " (the catalog's spelling)" if key in cat_by_key else ""
            rows.report.add(
                "product_spelling",
                "merged",
                f"{' / '.join(repr(s) for s in changed)} merged into {best!r}{where}",
                hit["_line"].tolist(),
                hit[rows.id_col].tolist(),
            )
    merged = names.map(canon)
    if catalog:
        unknown = ~merged.isin(list(catalog)) & (merged != "unspecified")
        rows.keep(unknown, "unknown_product", "product not in the catalog")
    return merged


def _duplicates(rows: _Rows, key_cols: list[str]) -> None:
    data_cols = [c for c in rows.frame.columns if c != "_line"]
    rows.drop(
        rows.frame.duplicated(subset=data_cols), "duplicate_row", "exact copy of an earlier row"
    )
    rows.drop(
        rows.frame.duplicated(subset=key_cols),
        "duplicate_id",
        f"{'/'.join(key_cols)} already used by an earlier row (the first is kept)",
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


def _finish(
    deals: pd.DataFrame,
    visits: pd.DataFrame,
    stages: list[str],
    names: dict[str, str],
    report: DataReport,
    mapping: ColumnMapping,
    catalog: dict[str, float],
    date_only: bool,
) -> History:
    deals = deals.reset_index(drop=True)[list(DEAL_COLUMNS)]
    visits = visits.reset_index(drop=True)[list(VISIT_COLUMNS)]
    report.deals_used = len(deals)
    if deals.empty:
        raise ScenarioError([Problem("no usable deals in the export", file=report.source)])
    all_dates = pd.concat([deals["opened"], deals["closed"], visits["entered"], visits["left"]])
    exits = pd.concat([deals["closed"], visits["left"]]).dropna()
    first_exit = exits.min() if len(exits) else deals["opened"].max()
    _observation_start(report, deals["opened"].min(), first_exit)
    return History(
        deals=deals,
        visits=visits,
        stages=tuple(stages),
        report=report,
        snapshot=all_dates.max(),
        observed_from=first_exit,
        stage_names=names,
        catalog=catalog,
        currency=mapping.currency,
        date_only=date_only,
    )


def _is_date_only(*series: pd.Series) -> bool:
    for s in series:
        v = s.dropna()
        if len(v) and (v != v.dt.normalize()).any():
            return False
    return True


# --- one row per opportunity ------------------------------------------------------------------


def _opportunities(
    frame: pd.DataFrame, m: ColumnMapping, report: DataReport, catalog: dict[str, float]
) -> History:
    rows = _Rows(frame, m, report)
    rows.drop(rows.col("id") == "", "blank_id", "no opportunity id")
    _duplicates(rows, [rows.id_col])
    open_labels = list(m.labels.open) if m.labels.open is not None else None
    kind = _stage_kinds(rows, open_labels)
    date_fields = (
        ("created", "engaged", "closed") if "created" in m.columns else ("engaged", "closed")
    )
    d = _dates(rows, date_fields)
    kind = _labels(rows, rows.col("stage"), open_labels)
    closed_kind = kind.isin(["won", "lost"])
    created = d.get("created", pd.Series(pd.NaT, index=rows.frame.index, dtype="datetime64[ns]"))
    engaged, closed = d["engaged"], d["closed"]
    start = engaged.fillna(created)
    rows.drop(closed_kind & closed.isna(), "closed_without_date", "won or lost but no close date")
    rows.drop(
        ~closed_kind & closed.notna(), "open_with_close_date", "an open stage but a close date"
    )
    rows.drop(
        ((kind == "won") & engaged.isna()) | (closed_kind & start.isna()),
        "missing_engage_date",
        f"won or lost but no {m.columns['engaged']}",
    )
    rows.drop(
        (closed < start) | (engaged < created),
        "close_before_open",
        "closed (or engaged) before it was opened",
    )
    value = _values(rows)
    rows.keep((kind == "won") & ~(value > 0), "won_without_value", "won with no positive value")
    attrs = _attributes(rows, catalog)
    undated = start.reindex(rows.frame.index).isna()
    hit = rows.frame[undated]
    labels = sorted(set(rows.col("stage")[undated]))
    report.add(
        "undated_open",
        "info",
        f"{len(hit):,} open deals ({', '.join(labels)}) with no date: not placed in time, left "
        "out of the pipeline and the fits",
        hit["_line"].tolist(),
        hit[rows.id_col].tolist(),
    )
    rows.frame = rows.frame[~undated]
    idx = rows.frame.index
    kind = kind.reindex(idx)
    created, engaged, closed = created.reindex(idx), engaged.reindex(idx), closed.reindex(idx)
    value, attrs = value.reindex(idx), attrs.reindex(idx)
    has_created = "created" in m.columns
    stages = ["prospecting", "engaging"] if has_created else ["engaging"]
    outcome = kind.where(kind.isin(["won", "lost"]), "open")
    in_engaging = engaged.notna()
    deals = pd.DataFrame(
        {
            "deal": rows.col("id"),
            "line": rows.frame["_line"],
            **{f: attrs[f] for f in ("product", "owner", "account", "segment")},
            "opened": created.fillna(engaged) if has_created else engaged,
            "closed": closed,
            "outcome": outcome,
            "value": value,
            "stage": np.where(in_engaging, "engaging", "prospecting"),
        }
    )
    visits = [
        pd.DataFrame(
            {
                "deal": deals["deal"][in_engaging],
                "stage": "engaging",
                "entered": engaged[in_engaging],
                "left": closed[in_engaging],
                "exit": outcome[in_engaging].map(
                    {"won": "advance", "lost": "lost", "open": "open"}
                ),
            }
        )
    ]
    if has_created:
        pro = created.notna()
        exit_kind = np.where(in_engaging, "advance", np.where(outcome == "lost", "lost", "open"))
        visits.insert(
            0,
            pd.DataFrame(
                {
                    "deal": deals["deal"][pro],
                    "stage": "prospecting",
                    "entered": created[pro],
                    "left": engaged.where(in_engaging, closed)[pro],
                    "exit": pd.Series(exit_kind, index=idx)[pro],
                }
            ),
        )
    names = {"engaging": "Engaging", "prospecting": "Prospecting"}
    if open_labels:
        names = {stage_id(x): x for x in open_labels} | names
    return _finish(
        deals,
        pd.concat(visits),
        stages,
        {s: names.get(s, s) for s in stages},
        report,
        m,
        catalog,
        _is_date_only(engaged, closed, created),
    )


# --- one row per stage change -----------------------------------------------------------------


def _stage_changes(
    frame: pd.DataFrame, m: ColumnMapping, report: DataReport, catalog: dict[str, float]
) -> History:
    rows = _Rows(frame, m, report)
    rows.drop(rows.col("id") == "", "blank_id", "no opportunity id")
    order = list(m.stage_order) if m.stage_order is not None else None
    open_labels = order if order is not None else (list(m.labels.open) if m.labels.open else None)
    kind = _stage_kinds(rows, open_labels)
    d = _dates(rows, ("entered",))
    entered = d["entered"]
    data_cols = [c for c in rows.frame.columns if c != "_line"]
    rows.drop(
        rows.frame.duplicated(subset=data_cols), "duplicate_row", "exact copy of an earlier row"
    )
    f = rows.frame
    kind = _labels(rows, rows.col("stage"), open_labels)
    if "outcome" in m.columns:
        out_kind = rows.col("outcome").map(
            lambda v: "won" if label_key(v) in {label_key(x) for x in m.labels.won}
            else "lost" if label_key(v) in {label_key(x) for x in m.labels.lost} else None
        )  # fmt: skip
        kind = out_kind.fillna(kind)
    ev = pd.DataFrame(
        {"deal": f[rows.id_col], "kind": kind, "t": entered.reindex(f.index), "line": f["_line"]}
    ).sort_values(["deal", "t", "line"], kind="stable")
    terminal = ev["kind"].isin(["won", "lost"])
    # Rows after a deal's first terminal row are dropped.
    first_end = ev["t"].where(terminal).groupby(ev["deal"]).transform("min")
    end_line = (
        ev["line"].where(terminal & (ev["t"] == first_end)).groupby(ev["deal"]).transform("min")
    )
    after = (ev["t"] > first_end) | ((ev["t"] == first_end) & (ev["line"] > end_line))
    rows.drop(
        after.reindex(f.index), "after_close", "a stage change after the deal was won or lost"
    )
    ev = ev[~after]
    if order is None:
        opens = ev[~ev["kind"].isin(["won", "lost"])].copy()
        opens["pos"] = opens.groupby("deal").cumcount()
        rank = opens.groupby("kind")["pos"].mean().sort_values(kind="stable")
        order = list(rank.index)
        report.add(
            "stage_order", "info", "inferred stage order: " + " -> ".join(order), rows=len(order),
            examples=[],
        )  # fmt: skip
    ids = {label: stage_id(label) for label in order}
    if len(set(ids.values())) != len(ids):
        raise ScenarioError([Problem("two stage labels give the same stage id", "stage_order")])
    pos = {label: i for i, label in enumerate(order)}
    visits: list[dict[str, Any]] = []
    deal_rows: list[dict[str, Any]] = []
    no_open: list[int] = []
    for deal, g in ev.groupby("deal", sort=False):
        kinds, times = g["kind"].tolist(), g["t"].tolist()
        if kinds[0] in ("won", "lost"):
            no_open.append(int(g["line"].iloc[0]))
            continue
        # The first row is an open stage (checked above), so `current` is set before use.
        current, entered_at = kinds[0], times[0]
        outcome, closed_at = "open", pd.NaT
        for k, t in zip(kinds[1:], times[1:], strict=True):
            if k in ("won", "lost"):
                exit_kind = "advance" if k == "won" else "lost"
                visits.append(_visit(deal, ids[current], entered_at, t, exit_kind))
                outcome, closed_at = k, t
                break
            if k == current:
                continue  # the same stage entered again: one visit
            exit_kind = "advance" if pos[k] > pos[current] else "rework"
            visits.append(_visit(deal, ids[current], entered_at, t, exit_kind))
            current, entered_at = k, t
        else:
            visits.append(_visit(deal, ids[current], entered_at, pd.NaT, "open"))
        deal_rows.append(
            {
                "deal": deal,
                "line": int(g["line"].min()),
                "opened": times[0],
                "closed": closed_at,
                "outcome": outcome,
                "stage": ids[current],
            }
        )
    report.add("no_open_stage", "dropped", "the deal's first row is already won or lost", no_open,
               rows=len(no_open))  # fmt: skip
    rows.frame = rows.frame[rows.frame[rows.id_col].isin([r["deal"] for r in deal_rows])]
    value = _values(rows)
    attrs = _attributes(rows, catalog)
    attrs["value"] = value
    attrs["deal"] = rows.col("id")
    # A deal's attributes come from its last row that has them.
    last = attrs.iloc[::-1].groupby("deal").first()
    deals = pd.DataFrame(deal_rows)
    for col in ("product", "owner", "account", "segment", "value"):
        deals[col] = deals["deal"].map(last[col])
    deals.loc[deals["outcome"] == "lost", "value"] = np.nan  # a lost deal's amount is no value
    won = deals[deals["outcome"] == "won"]
    no_value = won[~(won["value"] > 0)]
    report.add(
        "won_without_value", "kept", "won with no positive value",
        no_value["line"].tolist(), no_value["deal"].tolist(),
    )  # fmt: skip
    vis = pd.DataFrame(visits, columns=list(VISIT_COLUMNS))
    return _finish(
        deals,
        vis,
        [ids[x] for x in order],
        {ids[x]: x for x in order},
        report,
        m,
        catalog,
        _is_date_only(entered),
    )


def _visit(deal: Any, stage: str, entered: Any, left: Any, exit_kind: str) -> dict[str, Any]:
    return {"deal": deal, "stage": stage, "entered": entered, "left": left, "exit": exit_kind}
