"""Salesforce: a data-export folder (Setup > Data Export, or Data Loader), or its files.

Files (documented object and field API names; a CSV per object, Latin-1 or UTF-8):

- ``Opportunity.csv`` (required): one row per deal, its current state. Variables:
  :data:`OPPORTUNITY`.
- ``OpportunityHistory.csv`` (required): one row per change of Amount, CloseDate, Probability,
  ForecastCategory or StageName, each holding the deal's state after the change, stamped with
  ``CreatedDate``; the export's own order is no order (rows are sorted by time). Variables:
  :data:`HISTORY`; ``IsDeleted = true`` rows are left out.
- ``OpportunityStage.csv`` (optional): the stage picklist: ``SortOrder`` gives the stage order,
  ``IsWon`` / ``IsClosed`` the won and lost stages, ``DefaultProbability`` and
  ``ForecastCategoryName`` each stage's probability and category.
- ``CurrencyType.csv`` / ``DatedConversionRate.csv`` (optional): conversion to the scenario
  currency (default the corporate one), see :mod:`simsales.calibrate.sources.currency`.
- ``OpportunityFieldHistory.csv`` is not needed beside OpportunityHistory (the changes of the
  fields above are in it); without OpportunityHistory, its ``StageName`` rows are the history
  (``NewValue`` entered at ``CreatedDate``; a deal's first stage, the ``OldValue`` of its first
  change, entered at its creation), with each deal's current Amount and CloseDate. The
  columns ``FromOpportunityStageName``, ``PrevAmount``, ``PrevCloseDate`` and
  ``ValidThroughDate`` (newer API versions) are not needed either: the previous state is the
  previous row in time order.

Rules: without OpportunityStage.csv, ``Closed Won`` / ``Closed Lost`` (and the mapping's
labels) close a deal, and so do the stages Opportunity.csv's ``IsWon`` / ``IsClosed`` mark
(``IsWon`` true: won; ``IsClosed`` true and ``IsWon`` false: lost; each stage by the commonest
verdict of its rows); the open stages are ordered by the median Probability the history
recorded in them (Salesforce's stage probabilities rise along the process), ties by their mean
position. A checkbox (``IsDeleted``, ``IsWon``, ...) is ``true`` / ``false`` as Salesforce
writes it, or ``1`` / ``0``, ``yes`` / ``no`` as other tools do (any case); a Probability is
0-100, possibly written ``50%``. A deal with no history row (created before history was
kept) gets one row from Opportunity.csv: its current stage, entered on ``LastStageChangeDate``
(else ``CreatedDate``).
``--column FIELD=COLUMN`` renames an Opportunity.csv column (custom fields such as a team).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from simsales.calibrate.mapping import Labels, label_key
from simsales.calibrate.sources.currency import read_rates
from simsales.calibrate.sources.files import find_file, read_table
from simsales.calibrate.sources.generic import canonical, mapping_options
from simsales.calibrate.sources.parse import (
    parse_flags,
    parse_numbers,
    parse_probabilities,
    parse_times,
)
from simsales.calibrate.sources.records import Note, Records
from simsales.errors import Problem, ScenarioError

__all__ = ["HISTORY", "OPPORTUNITY", "detect", "detect_folder", "read"]

OPPORTUNITY = {
    "id": "Id",
    "created": "CreatedDate",
    "owner": "OwnerId",
    "account": "AccountId",
    "product": "Type",
    "currency": "CurrencyIsoCode",
    "stage": "StageName",
}
HISTORY = {
    "id": "OpportunityId",
    "stage": "StageName",
    "entered": "CreatedDate",
    "value": "Amount",
    "expected_close": "CloseDate",
    "probability": "Probability",
    "forecast_category": "ForecastCategory",
}
FILES = ("Opportunity", "OpportunityHistory")
FIELD_HISTORY = "OpportunityFieldHistory"
# the mapping keys a Salesforce export has no use for, and why (refused, not ignored)
_NAMES = (
    "a Salesforce export is read by its API field names (Opportunity.csv, OpportunityHistory.csv)"
)
REFUSED = {
    "columns": f"{_NAMES}; rename an Opportunity.csv column with --column FIELD=COLUMN",
    "shape": f"{_NAMES}: always a stage history",
    "catalog": "a Salesforce opportunity's value is its own Amount",
}


def detect(header: list[str]) -> bool:
    """An Opportunity or OpportunityHistory file given on its own (the other is found beside
    it; a Data Loader export may have any name, ``extract.csv``)."""
    return (_is_history(header) or _is_field_history(header)
            or {"Id", "StageName", "CloseDate", "IsClosed"} <= set(header))  # fmt: skip


def _is_history(header: list[str]) -> bool:
    return {"OpportunityId", "StageName", "CreatedDate"} <= set(header)


def _is_field_history(header: list[str]) -> bool:
    return {"OpportunityId", "Field", "NewValue", "CreatedDate"} <= set(header)


def has_history(path: Path, header: list[str]) -> bool:
    """Whether a file's export is complete: a history, or an Opportunity file with an
    OpportunityHistory (or OpportunityFieldHistory) beside it (alone, it is one row per deal,
    read as any such export)."""
    beside = any(find_file(path.parent, n) is not None for n in (FILES[1], FIELD_HISTORY))
    return _is_history(header) or _is_field_history(header) or beside


def detect_folder(path: Path) -> bool:
    return find_file(path, "Opportunity") is not None


def read(
    path: Path,
    *,
    frame: pd.DataFrame | None = None,
    encoding: str | None = None,
    timezone: str | None = None,
    currency: str | None = None,
    columns: dict[str, str] | None = None,
    mapping_file: str | Path | None = None,
    **options: Any,
) -> Records:
    folder = path if path.is_dir() else path.parent
    files = {n: find_file(folder, n) for n in (*FILES, FIELD_HISTORY)}
    given = None
    if not path.is_dir():  # the file named is its object's, whatever its name; the other beside it
        header = list(frame.columns) if frame is not None else list(read_table(path, encoding)[0])
        given = (FILES[1] if _is_history(header) else
                 FIELD_HISTORY if _is_field_history(header) else FILES[0])  # fmt: skip
        files[given] = path
    field_history = files.pop(FIELD_HISTORY)
    if files[FILES[1]] is None and field_history is not None:
        files[FILES[1]] = field_history  # its stage changes are the history (module docstring)
    else:
        field_history = None
    missing = [n for n, p in files.items() if p is None]
    if missing:
        what = f"{path.name} is a Salesforce {given} export: it" if given else "a Salesforce export"
        raise ScenarioError(
            [
                Problem(
                    f"{what} needs {missing[0]}.csv beside it",
                    file=str(path),
                    hint=f"export the {missing[0]} object too, into {folder}",
                )
            ]
        )
    opp_file, hist_file = files["Opportunity"], files["OpportunityHistory"]
    assert opp_file is not None and hist_file is not None
    opp, enc = read_table(opp_file, encoding)
    hist = read_table(hist_file, encoding)[0]
    notes: list[tuple[str, str] | Note] = []
    if field_history is not None:
        _require(hist, ("OpportunityId", "Field", "NewValue", "CreatedDate"), hist_file)
        hist, said = _stage_changes(hist, opp)
        notes.append(("field_history", said))
    if enc not in ("utf-8-sig", "xlsx"):
        notes.append(("encoding", f"read as {enc}"))
    _require(opp, ("Id", "StageName"), opp_file)
    _require(hist, ("OpportunityId", "StageName", "CreatedDate"), hist_file)
    if "IsDeleted" in hist:
        flag = parse_flags(hist["IsDeleted"])
        deleted = flag.fillna(False).astype(bool)
        if deleted.any():
            notes.append(("deleted", f"{int(deleted.sum())} deleted history rows left out"))
        odd = flag.isna() & (hist["IsDeleted"].str.strip() != "")
        if odd.any():  # neither true nor false: keep the row, but say so
            shown = ", ".join(
                f"line {i + 2} ({v!r})" for i, v in hist.loc[odd, "IsDeleted"].head(5).items()
            )
            notes.append(Note("deleted", f"IsDeleted is not true / false (1 / 0, yes / no) in "
                              f"{hist_file.name}: the row is kept (taken as not deleted)",
                              "kept", int(odd.sum()), tuple(shown.split(", "))))  # fmt: skip
        hist = hist.assign(_keep=~deleted)
    variables = {**OPPORTUNITY, **(columns or {})}
    attributes = canonical(opp, variables, opp_file.name)
    rows = canonical(hist, HISTORY, hist_file.name)
    if "_keep" in hist:
        rows = rows[hist["_keep"].to_numpy()]
    if rows.empty and len(opp):  # only current stages: no deal's path, nothing to learn from
        raise ScenarioError([Problem(
            f"{hist_file.name} has no rows: simsales learns from each opportunity's stage "
            "history, and Opportunity.csv alone gives only the current stage",
            file=str(hist_file), hint="export OpportunityHistory together with Opportunity",
        )])  # fmt: skip
    lone, lone_notes = _without_history(opp, rows, opp_file.name, hist_file.name)
    rows = pd.concat([rows, lone], ignore_index=True)
    notes += lone_notes
    labels, order, probability, forecast, why = _stages(folder, hist, opp, encoding, notes)
    rates, target = None, currency
    ct = find_file(folder, "CurrencyType")
    if ct is not None:
        rates = read_rates(ct, find_file(folder, "DatedConversionRate"), encoding)
        target = target or rates.corporate
        notes.append(("currency", rates.describe(target)))
    elif target is None:
        codes = attributes.get("currency", pd.Series(dtype=str))
        codes = codes[codes != ""]
        target = str(codes.mode().iloc[0]).upper() if len(codes) else "USD"
    rec = Records(
        source=str(folder),
        shape="stage_changes",
        rows=rows,
        names={**{f: f"OpportunityHistory.{c}" for f, c in HISTORY.items()},
               **{f: f"Opportunity.{c}" for f, c in variables.items() if f not in HISTORY}},
        labels=labels,
        stage_order=order,
        order_reason=why,
        attributes=attributes,
        currency=target,
        rates=rates,
        timezone=timezone,
        stage_probability=probability,
        stage_forecast=forecast,
        open_values=True,
        notes=notes,
    )  # fmt: skip
    # the mapping file's labels, state renames, stage order, time zone... as for any export
    return mapping_options(rec, mapping_file, REFUSED)


def _require(frame: pd.DataFrame, cols: tuple[str, ...], file: Path) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ScenarioError(
            [
                Problem(
                    f"no column {missing[0]!r}: not a Salesforce {file.stem} export",
                    file=str(file),
                    hint="export with API field names (Data Export / Data Loader)",
                )
            ]
        )


def _stage_changes(fields: pd.DataFrame, opp: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """OpportunityHistory's rows from OpportunityFieldHistory (module docstring): its
    StageName changes, each deal's first stage at its creation, the deal's current Amount and
    CloseDate on every row; and the note that says so."""
    blank = pd.Series("", index=fields.index)
    field = fields["Field"].astype(str).str.strip().str.casefold()
    moves = fields[field == "stagename"]
    old = moves.get("OldValue", blank[moves.index]).astype(str)
    at = parse_times(moves["CreatedDate"].astype(str))
    first = moves.assign(_at=at).sort_values("_at", kind="stable").groupby("OpportunityId").head(1)
    created = opp.set_index("Id")["CreatedDate"] if "CreatedDate" in opp else None
    began = pd.DataFrame({
        "OpportunityId": first["OpportunityId"], "StageName": old[first.index],
        "CreatedDate": (first["OpportunityId"].map(created) if created is not None
                        else first["CreatedDate"]),
    })  # fmt: skip
    began = began[began["StageName"].str.strip() != ""]
    entered = moves[["OpportunityId", "CreatedDate"]].assign(StageName=moves["NewValue"])
    out = pd.concat([began, entered])  # a deal's first stage keeps its first change's index
    if "IsDeleted" in fields:  # the change's own flag, for the common rule below
        out["IsDeleted"] = fields["IsDeleted"].reindex(out.index).fillna("false")
    current = opp.drop_duplicates("Id").set_index("Id")
    for column in ("Amount", "CloseDate"):
        if column in current:
            out[column] = out["OpportunityId"].map(current[column]).fillna("")
    out = out.sort_index(kind="stable").reset_index(drop=True)
    return out, (f"no OpportunityHistory: the history is OpportunityFieldHistory's "
                 f"{len(moves):,} StageName changes (each deal's first stage, the old value "
                 "of its first change, from its creation), with each deal's current Amount "
                 "and CloseDate")  # fmt: skip


def _without_history(
    opp: pd.DataFrame, rows: pd.DataFrame, opp_name: str, hist_name: str
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Rows for each deal that has no history row (module rules), and the note that says so:
    an open one is in its current stage since its last stage change (or creation); a closed
    one (an older history export beside a newer Opportunity file, or a deal made closed)
    began in the stage most deals' histories begin in, at its creation, and closed at its
    close date, so it is no deal "closed from its first row"."""
    lone = opp[~opp["Id"].isin(set(rows["id"])) & (opp["Id"] != "")]
    if lone.empty:
        return rows.iloc[:0], []
    blank = pd.Series("", index=lone.index)
    when = lone.get("LastStageChangeDate", blank)
    when = when.where(when != "", lone.get("CreatedDate", blank))
    carried = {f: lone[c] for f, c in HISTORY.items() if f not in ("id", "stage", "entered")
               and c in lone}  # fmt: skip
    current = pd.DataFrame({"id": lone["Id"], "stage": lone["StageName"], "entered": when,
                            **carried})  # fmt: skip
    current["_line"] = lone.index.to_numpy() + 2
    firsts = rows.sort_values("entered", kind="stable").groupby("id")["stage"].first()
    closed = parse_flags(lone.get("IsClosed", blank)).fillna(False).astype(bool)
    closed &= lone.get("CreatedDate", blank) != ""
    if firsts.empty or not closed.any():
        current["_file"] = opp_name
        return current, []
    first = str(firsts.mode().iloc[0])
    at_close = lone.get("CloseDate", blank).where(lambda d: d != "", when)
    current.loc[closed, "entered"] = at_close[closed]
    began = current[closed].assign(stage=first, entered=lone.loc[closed, "CreatedDate"])
    out = pd.concat([began, current], ignore_index=True)
    out["_file"] = opp_name
    note = (f"{int(closed.sum()):,} closed opportunities have no row in {hist_name} (exported "
            f"before {opp_name}, or made closed): each begins in {first!r}, the stage most "
            "histories begin in, when it was created, and closes at its CloseDate")  # fmt: skip
    return out, [("began_in", note)]


def _closed_from_opportunities(opp: pd.DataFrame, notes: list[tuple[str, str] | Note]) -> Labels:
    """The default won / lost labels plus the stages Opportunity.csv's IsWon / IsClosed mark
    (a custom closed stage, e.g. Disqualified, must not pass for an open one)."""
    base = Labels()
    if "IsWon" not in opp or "IsClosed" not in opp:
        return base
    won, closed = parse_flags(opp["IsWon"]), parse_flags(opp["IsClosed"])
    verdict = pd.Series(None, index=opp.index, dtype=object)
    verdict[(~closed).fillna(False).astype(bool)] = "open"
    verdict[(closed & ~won).fillna(False).astype(bool)] = "lost"
    verdict[won.fillna(False).astype(bool)] = "won"  # IsWon implies closed
    named = verdict.notna() & (opp["StageName"].str.strip() != "")
    if not named.any():
        return base
    # one verdict per stage: the commonest of its rows (IsWon / IsClosed follow the stage)
    by_stage = (
        verdict[named].groupby(opp.loc[named, "StageName"]).agg(lambda v: v.value_counts().index[0])
    )
    found = {kind: [str(k) for k, v in by_stage.items() if v == kind] for kind in ("won", "lost")}
    if found["won"] or found["lost"]:
        told = "; ".join(f"{k}: {', '.join(found[k])}" for k in ("won", "lost") if found[k])
        notes.append(("closed_stages", "no OpportunityStage.csv: won / lost stages taken from "
                      f"Opportunity.csv's IsWon / IsClosed: {told}"))  # fmt: skip
    # a default label stays unless the data says what its stage is
    seen = {label_key(k) for k in by_stage.index}
    won = (*found["won"], *(x for x in base.won if label_key(x) not in seen))
    lost = (*found["lost"], *(x for x in base.lost if label_key(x) not in seen))
    return Labels(won=won, lost=lost)


def _stages(
    folder: Path,
    hist: pd.DataFrame,
    opp: pd.DataFrame,
    encoding: str | None,
    notes: list[tuple[str, str] | Note],
) -> tuple[Labels, tuple[str, ...] | None, dict[str, float], dict[str, str], str]:
    file = find_file(folder, "OpportunityStage")
    if file is None:
        prob = parse_probabilities(hist.get("Probability", pd.Series("", index=hist.index)))
        med = prob.groupby(hist["StageName"]).median().dropna()
        labels = _closed_from_opportunities(opp, notes)
        return labels, None, {str(k): float(v) for k, v in med.items()}, {}, ""
    st, _ = read_table(file, encoding)
    label = st["MasterLabel"] if "MasterLabel" in st else st["ApiName"]
    true = {c: parse_flags(st.get(c, pd.Series("", index=st.index))).fillna(False).astype(bool)
            for c in ("IsWon", "IsClosed")}  # fmt: skip
    active = parse_flags(st.get("IsActive", pd.Series("true", index=st.index))).fillna(True)
    active = active.astype(bool)
    won = tuple(label[true["IsWon"]])
    lost = tuple(label[true["IsClosed"] & ~true["IsWon"]])
    sort = parse_numbers(st.get("SortOrder", pd.Series("", index=st.index)))
    open_ = st[~true["IsClosed"] & active].assign(_sort=sort, _label=label)
    order = tuple(open_.sort_values("_sort", kind="stable")["_label"])
    prob = parse_probabilities(st.get("DefaultProbability", pd.Series("", index=st.index)))
    probability = {str(k): float(p) for k, p in zip(label, prob, strict=True) if p == p}
    cat = st.get("ForecastCategoryName", pd.Series("", index=st.index))
    forecast = {str(k): label_key(c) for k, c in zip(label, cat, strict=True) if c}
    forecast = {k: {"bestcase": "best_case"}.get(v, v) for k, v in forecast.items()}
    labels = Labels(won=won or Labels().won, lost=lost or Labels().lost)
    return labels, order, probability, forecast, f"by SortOrder in {file.name}"
