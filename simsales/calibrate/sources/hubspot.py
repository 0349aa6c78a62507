"""HubSpot: a deals export (CSV / .xlsx), or the CRM API's deals saved as JSON (``{"results":
[{"id", "properties": {...}}]}``: its properties are the columns), with an optional
``pipelines.json`` beside it.

Variables (deal property internal names, as the CRM API and property exports write them;
:data:`VARIABLES`, and :data:`UI_VARIABLES` for the column labels of an export from the deals
view): ``hs_object_id``, ``dealstage`` (a stage id), ``pipeline``, ``amount``,
``amount_in_home_currency``, ``deal_currency_code``, ``closedate``, ``createdate``,
``hubspot_owner_id``, ``dealtype``, ``hs_deal_stage_probability``. Stage history comes from
``hs_v2_date_entered_<stage id>`` (and the older ``hs_date_entered_<stage id>``, or the view
export's ``Date entered "<Stage> (<Pipeline>)"``): one stage change per filled column.

``pipelines.json`` is the pipelines API answer (``{"results": [{"id", "label", "stages":
[{"id", "label", "displayOrder", "metadata": {"isClosed", "probability"}}]}]}``): it names the
stages, orders them (``displayOrder``), and gives their probabilities; a closed stage with
probability 1 is won, other closed stages lost. Without it, ``closedwon`` / ``closedlost`` (and
the mapping's labels) close a deal, the deals' own closed flags decide renamed closed stages
(over a stage's name), a probability of 1 or 0 the kind no name gives (``_closed_by_export``),
and the order is inferred from the data. A stage needs its
``id``; one without a ``label`` is named by its id, a probability that is not a number is
unknown (a closed stage's then taken from its id: ``closedwon`` is won), and a stage without a
numeric ``displayOrder`` puts every stage in file order (the API lists them in display order;
each said in the report).

Rules: the value is ``amount_in_home_currency`` (HubSpot's own conversion to the company
currency) when the export has it, else ``amount`` in ``deal_currency_code``; deals of other
pipelines than the commonest are left out (reported). A deal whose ``dealstage`` is won or
lost but whose date entered into that stage is blank is closed at its ``closedate`` (HubSpot
sets it on close), or left out if that is blank too (both reported). Limits of the format,
stated: HubSpot keeps only the latest entry into each stage, so a stage visited twice shows
only its last visit, and it keeps no history of amounts or close dates (the deal's current
amount is used as of any date).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from simsales.calibrate.mapping import Labels, label_key
from simsales.calibrate.sources.closed import said, stage_verdicts, with_verdicts
from simsales.calibrate.sources.files import read_table
from simsales.calibrate.sources.generic import canonical, closed_flags, mapping_options
from simsales.calibrate.sources.parse import parse_probabilities
from simsales.calibrate.sources.records import Note, Records
from simsales.errors import Problem, ScenarioError, format_path

__all__ = ["UI_VARIABLES", "VARIABLES", "detect", "detect_folder", "read"]

VARIABLES = {
    "id": "hs_object_id",
    "stage": "dealstage",
    "created": "createdate",
    "expected_close": "closedate",
    "value": "amount",
    "currency": "deal_currency_code",
    "owner": "hubspot_owner_id",
    "product": "dealtype",
    "probability": "hs_deal_stage_probability",
}
UI_VARIABLES = {
    "id": "Record ID",
    "stage": "Deal Stage",
    "created": "Create Date",
    "expected_close": "Close Date",
    "value": "Amount",
    "currency": "Currency",
    "owner": "Deal owner",
    "product": "Deal Type",
    "probability": "Deal probability",
}
HOME = ("amount_in_home_currency", "Amount in company currency")
PIPELINE = ("pipeline", "Pipeline")
# the mapping keys a HubSpot export has no use for, and why (refused, not ignored)
_NAMES = "a HubSpot deals export is read by its property names (dealstage, hs_v2_date_entered_*)"
REFUSED = {
    "columns": f"{_NAMES}; rename a column with --column FIELD=COLUMN",
    "shape": f"{_NAMES}: always a stage history",
    "catalog": "a HubSpot deal's value is its own amount",
}
_ENTERED = re.compile(r"^(?:hs_v2_date_entered_|hs_date_entered_)(.+)$")
_UI_ENTERED = re.compile(r'^Date entered ["\'](.+?)(?: \(([^()]*)\))?["\']$')


# the CRM API's deals ({"results": [{"id", "properties": {...}}]}) flattened: properties.<name>
_API_PROPERTY = re.compile(r"^properties\.(?P<name>[^.]+)$")


def _as_properties(header: list[str]) -> dict[str, str]:
    """The API's flattened ``properties.<name>`` columns renamed to the export's ``<name>``
    (where the header has no such column already)."""
    names = {c: m["name"] for c in header if (m := _API_PROPERTY.match(c))}
    return {c: n for c, n in names.items() if n not in header}


def detect(header: list[str]) -> bool:
    header = [_as_properties(header).get(c, c) for c in header]
    cols = set(header)
    return ("dealstage" in cols or "Deal Stage" in cols) and any(
        _ENTERED.match(c) or _UI_ENTERED.match(c) for c in header
    )


def detect_folder(path: Path) -> bool:
    return _deals_file(path) is not None


def _deals_file(folder: Path) -> Path | None:
    """The first CSV / .xlsx in ``folder`` whose header is a HubSpot deals export."""
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in (".csv", ".xlsx") and detect(list(read_table(p, nrows=0)[0])):
            return p
    return None


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
    notes: list[tuple[str, str] | Note] = []
    if path.is_dir():
        found = _deals_file(path)
        if found is None:
            raise ScenarioError(
                [Problem("no HubSpot deals export (dealstage, hs_v2_date_entered_*) in the folder",
                         file=str(path))]
            )  # fmt: skip
        path = found
    if frame is None:
        frame, used = read_table(path, encoding)
        if used not in ("utf-8-sig", "xlsx"):
            notes.append(("encoding", f"read as {used}"))
    frame = frame.rename(columns=_as_properties(list(frame.columns)))
    header = list(frame.columns)
    base = VARIABLES if "dealstage" in header else UI_VARIABLES
    variables = {f: c for f, c in base.items() if c in header}
    home = next((c for c in HOME if c in header), None)
    if home is not None:
        variables["value"] = home
        variables.pop("currency", None)
    variables.update(columns or {})
    if "id" not in variables or "stage" not in variables:
        raise ScenarioError(
            [Problem("not a HubSpot deals export: no hs_object_id / dealstage", file=str(path))]
        )
    pipelines_file = path.parent / "pipelines.json"
    pipelines = _pipelines(pipelines_file)
    pipe_col = next((c for c in PIPELINE if c in header), None)
    if pipe_col is not None and frame[pipe_col].nunique() > 1:
        main = frame[pipe_col].mode().iloc[0]
        other = frame[pipe_col] != main
        notes.append(Note("other_pipeline", f"deals of other pipelines than {main!r} left out "
                          "(each pipeline is its own process: export one at a time to "
                          "calibrate each)", "dropped", int(other.sum())))  # fmt: skip
        frame = frame[~other]
    else:
        main = frame[pipe_col].iloc[0] if pipe_col is not None and len(frame) else None
    stages = _pipeline_stages(pipelines, main, frame[variables["stage"]], pipelines_file, path)
    notes += [("pipelines", f"{pipelines_file.name}: {n}") for s in stages for n in s.notes]
    label_of = {s.id: s.label for s in stages}
    attributes = canonical(frame, variables, path.name)
    attributes["_line"] = frame.index.to_numpy() + 2  # lines of the file, other pipelines out
    attributes["stage"] = attributes["stage"].map(lambda s: label_of.get(s, s))
    rows = _stage_rows(frame, variables, label_of, path.name)
    lone = attributes[~attributes["id"].isin(set(rows["id"]))]
    lone = lone.assign(entered=lone.get("created", ""))[["id", "stage", "entered", "_line",
                                                         "_file"]]  # fmt: skip
    rows = pd.concat([rows, lone], ignore_index=True)
    labels, order, probability = _labels(stages)
    rec = Records(
        source=str(path),
        shape="stage_changes",
        rows=rows,
        names=dict(variables),
        labels=labels,
        stage_order=order,
        order_reason="by displayOrder in pipelines.json",
        attributes=attributes,
        currency=currency,  # None: the deals' commonest code
        timezone=timezone,
        stage_probability=probability,
        open_values=True,
        notes=list(notes),
    )
    # the mapping file's labels, state renames, stage order, time zone... as for any export;
    # before the closes below, which its labels decide too
    rec = mapping_options(rec, mapping_file, REFUSED)
    labels = rec.labels
    later: list[tuple[str, str] | Note] = []  # what the closes below say
    if not stages:  # no pipelines.json: the export's own closed-ness names its closed stages
        labels = _closed_by_export(frame, attributes, rows, variables, labels, later)
    rows, attributes = _undated_closes(rows, attributes, labels, variables, later)
    return replace(rec, rows=rows, attributes=attributes, labels=labels,
                   notes=[*rec.notes, *later])  # fmt: skip


def _stage_rows(
    frame: pd.DataFrame, variables: dict[str, str], label_of: dict[str, str], file: str
) -> pd.DataFrame:
    parts = []
    for col in frame.columns:
        m = _ENTERED.match(col)
        ui = _UI_ENTERED.match(col)
        if m is None and ui is None:
            continue
        if col.startswith("hs_date_entered_") and f"hs_v2_{col[3:]}" in frame.columns:
            continue  # the v2 property supersedes the legacy one
        label = label_of.get(m.group(1), m.group(1)) if m else ui.group(1)  # type: ignore[union-attr]
        filled = frame[col] != ""
        parts.append(
            pd.DataFrame(
                {
                    "id": frame.loc[filled, variables["id"]],
                    "stage": label,
                    "entered": frame.loc[filled, col],
                    "_line": frame.index[filled].to_numpy() + 2,
                    "_file": file,
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["id", "stage", "entered", "_line", "_file"])
    return pd.concat(parts, ignore_index=True)


def _closed_by_export(
    frame: pd.DataFrame,
    attributes: pd.DataFrame,
    rows: pd.DataFrame,
    variables: dict[str, str],
    labels: Labels,
    notes: list[tuple[str, str] | Note],
) -> Labels:
    """Without pipelines.json, a renamed closed stage (``Contract Signed``, a custom pipeline's
    numeric id) is known from the deals in it: their closed / closed-won flags (``Is Deal
    Closed?`` / ``Is Closed Won``, ``hs_is_closed`` / ``hs_is_closed_won``), each stage
    taking its deals' commonest verdict; without flags, where the export names no won (no
    lost) stage otherwise, a stage whose every deal has a probability of exactly 1 (0), as
    HubSpot's closed stages have, and that no deal has left (a closed stage ends a deal; an
    open one at 0%, "On hold", is left again). Either way said, with the stages it decided;
    deals whose flags differ from the rest of their stage's are said too (read as the
    stage's: a deal's outcome is its stage's). The probability rule is
    :func:`~simsales.calibrate.sources.closed.stage_verdicts`'s."""
    kind_of = {label_key(x): "won" for x in labels.won} | {
        label_key(x): "lost" for x in labels.lost
    }
    stage = attributes["stage"].reset_index(drop=True)
    flags = closed_flags(frame.reset_index(drop=True))
    verdict: dict[str, str] = {}
    if flags is not None:
        status, where = flags
        # the deals' own flags over a stage's name (a portal may relabel closedwon as a loss)
        odd: dict[str, int] = {}  # deals flagged otherwise than the rest of their stage
        for label, group in status.groupby(stage):
            commonest = group.value_counts().idxmax()
            if label != "" and (group != commonest).any():
                odd[str(label)] = int((group != commonest).sum())
            if (
                commonest != "open"
                and label != ""
                and kind_of.get(label_key(str(label))) != commonest
            ):
                verdict[str(label)] = commonest
        if odd:  # HubSpot flags a deal by its stage: that stage was edited since
            notes.append(Note("mixed_flags", (
                f"deals flagged otherwise than the rest of their stage ({where}): "
                + ", ".join(f"{n} in {label!r}" for label, n in sorted(odd.items()))
                + "; read as their stage's other deals (a deal's outcome is its stage's: "
                "give labels: {won: [...], lost: [...]} in a --mapping file, or a "
                "pipelines.json beside the export, to decide the stage)"
            ), "kept", sum(odd.values())))  # fmt: skip
    elif "probability" in variables:
        where = f"{variables['probability']} (1: won, 0: lost)"
        current = dict(zip(attributes["id"], attributes["stage"].map(label_key), strict=False))
        left = {label_key(s) for i, s in zip(rows["id"], rows["stage"], strict=True)
                if current.get(i, label_key(s)) != label_key(s)}  # fmt: skip
        p = parse_probabilities(attributes["probability"].reset_index(drop=True))
        verdict = stage_verdicts(stage, p, None, labels, left)
    if not verdict:
        return labels
    message = (f"closed stages from {where} of the deals in them ({said(verdict)}); a "
               "pipelines.json beside the export names them for certain")  # fmt: skip
    if flags is not None:
        notes.append(("closed_stages", message))
    else:  # a probability alone is weaker evidence (an open stage may be at 0%): a warning
        n = int(stage.isin(list(verdict)).sum())
        notes.append(Note("closed_stages", message, "kept", n))
    decided = {label_key(x) for x in verdict}
    kept = {k: tuple(x for x in getattr(labels, k) if label_key(x) not in decided)
            for k in ("won", "lost")}  # fmt: skip
    return with_verdicts(labels.model_copy(update=kept), verdict)


def _undated_closes(
    rows: pd.DataFrame,
    attributes: pd.DataFrame,
    labels: Labels,
    variables: dict[str, str],
    notes: list[tuple[str, str] | Note],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Close at its ``closedate`` a deal whose ``dealstage`` is won / lost but whose date
    entered into that stage is blank (else its path would end open); with no ``closedate``
    either, leave the deal out rather than let it look open."""
    closed = {label_key(x) for x in (*labels.won, *labels.lost)}
    stage = attributes["stage"].map(label_key)
    have = set(zip(rows["id"], rows["stage"].map(label_key), strict=True))
    undated = stage.isin(closed) & (attributes["id"] != "")
    undated &= pd.Series(
        [(i, k) not in have for i, k in zip(attributes["id"], stage, strict=True)],
        index=attributes.index,
    )
    if not undated.any():
        return rows, attributes
    when = attributes.get("expected_close", pd.Series("", index=attributes.index))
    dated, blank = undated & (when != ""), undated & (when == "")
    api = variables.get("stage") == "dealstage"  # else the deals view's column labels
    entered = "hs_v2_date_entered_<stage>" if api else 'Date entered "<stage>"'
    closedate = variables.get("expected_close", "closedate")
    if dated.any():
        close = attributes.loc[dated, ["id", "stage", "_line", "_file"]].assign(entered=when[dated])
        rows = pd.concat([rows, close], ignore_index=True)
        notes.append(("closed_at_closedate", f"{int(dated.sum())} won / lost deals with a blank "
                      f"{entered} closed at their {closedate}; "
                      f"e.g. {', '.join(_examples(attributes[dated]))}"))  # fmt: skip
    if blank.any():
        gone = set(attributes.loc[blank, "id"])
        rows = rows[~rows["id"].isin(gone)]
        hit = attributes[blank]
        notes.append(Note("closed_without_date", f"won or lost with a blank {entered} and a "
                          f"blank {closedate}: the deal is left out (no close date)", "dropped",
                          int(blank.sum()), _examples(hit)))  # fmt: skip
        attributes = attributes[~attributes["id"].isin(gone)]
    return rows, attributes


def _examples(hit: pd.DataFrame) -> tuple[str, ...]:
    return tuple(f"line {a} (id {b})" for a, b in zip(hit["_line"].head(5), hit["id"].head(5),
                                                      strict=True))  # fmt: skip


@dataclass
class _Stage:
    """A stage of pipelines.json, checked (``notes``: what was assumed, for the report)."""

    id: str
    label: str
    order: float  # displayOrder; inf if it has none
    probability: float  # 0-1; NaN if unknown
    closed: bool
    notes: list[str] = field(default_factory=list)


def _pipeline_stages(
    pipelines: dict[str, tuple[str, list[_Stage]]],
    main: Any,
    deal_stages: pd.Series,
    file: Path,
    export: Path,
) -> list[_Stage]:
    """The stages of the export's pipeline in pipelines.json, found by its id (the API's
    ``pipeline``) or its label (the deals view's ``Pipeline``); where the export names none,
    the pipeline holding most of the deals' stages. A pipeline the file does not hold is an
    error, not another pipeline's stages."""
    if not pipelines:
        return []
    if main is None or main == "":
        held = deal_stages.astype(str).map(label_key)

        def holds(stages: list[_Stage]) -> int:
            names = {label_key(x) for st in stages for x in (st.id, st.label)}
            return int(held.isin(names).sum())

        return max(pipelines.values(), key=lambda p: holds(p[1]))[1]  # the first on a tie
    key = str(main)
    for pid, (label, stages) in pipelines.items():
        if key == pid or label_key(key) == label_key(label):
            return stages
    names = ", ".join(f"{label!r} (id {pid})" for pid, (label, _) in pipelines.items())
    raise ScenarioError([Problem(
        f"the deals' pipeline {key!r} is not in {file.name}, which has {names}",
        file=str(export), hint=f"export {file.name} again from the same portal as the deals",
    )])  # fmt: skip


def _pipelines(file: Path) -> dict[str, tuple[str, list[_Stage]]]:
    if not file.exists():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScenarioError(
            [Problem(f"not a pipelines JSON file: {exc}", file=str(file))]
        ) from None
    # the pipelines API answer {"results": [...]}, a bare list, or one pipeline object
    where: list[str | int]
    if isinstance(data, dict) and "results" in data:
        results, where = data["results"], ["results"]
    elif isinstance(data, dict) and "stages" in data:
        results, where = [data], []
    else:
        results, where = data, []
    if not isinstance(results, list):
        _bad(file, where, 'is not a list of pipelines (expected {"results": [{"id", "stages"}]})')
    out: dict[str, tuple[str, list[_Stage]]] = {}
    for i, pipe in enumerate(results):
        if not isinstance(pipe, dict):
            _bad(file, [*where, i], "is not a pipeline object (with an id and stages)")
        stages = pipe.get("stages") or []
        if not isinstance(stages, list):
            _bad(file, [*where, i, "stages"], "is not a list of stages")
        out[str(pipe.get("id"))] = (
            str(pipe.get("label") or ""),
            [_stage(file, [*where, i, "stages", j], s) for j, s in enumerate(stages)],
        )
    return out


def _bad(file: Path, where: list[str | int], what: str) -> NoReturn:
    path = format_path(where) or "the top level"
    raise ScenarioError(
        [Problem(what, path=path, file=str(file), hint="export it again from the pipelines API")]
    )


def _stage(file: Path, where: list[str | int], s: Any) -> _Stage:
    path = format_path(where)
    if not isinstance(s, dict):
        _bad(file, where, "is not a stage object")
    if s.get("id") in (None, ""):
        _bad(file, where, 'has no "id" (the stage id dealstage and hs_v2_date_entered_* use)')
    meta = s.get("metadata") or {}
    if not isinstance(meta, dict):
        _bad(file, [*where, "metadata"], "is not an object (isClosed, probability)")
    sid, notes = str(s["id"]), []
    label = s.get("label")
    if label in (None, ""):
        label = sid
        notes.append(f"{path} has no label: named by its id {sid!r}")
    order = _number(s.get("displayOrder"))
    if math.isnan(order):  # unknown: after the ordered stages, in file order (sort is stable)
        order = math.inf
        notes.append(f"{path} ({label}) has no numeric displayOrder: stages in file order")
    probability = _number(meta.get("probability"))
    closed = str(meta.get("isClosed", "false")).lower() == "true"
    if "probability" in meta and math.isnan(probability):
        kind = "won" if _won_by_name(sid, str(label)) else "lost"
        also = f"; a closed stage, taken as {kind} by its id / label" if closed else ""
        notes.append(f"{path} ({label}) probability {meta['probability']!r} is not a number: "
                     f"unknown{also}")  # fmt: skip
    return _Stage(sid, str(label), order, probability, closed, notes)


def _number(value: Any) -> float:
    """A JSON number or numeric string as a float; NaN for anything else (null, "n/a")."""
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _won_by_name(sid: str, label: str) -> bool:
    """A closed stage whose probability is unknown: won if named as HubSpot's own won stage."""
    return label_key(sid) == "closedwon" or label_key(label) in {label_key(x) for x in Labels().won}


def _labels(
    stages: list[_Stage],
) -> tuple[Labels, tuple[str, ...] | None, dict[str, float]]:
    if not stages:
        base = Labels()
        return Labels(won=(*base.won, "closedwon"), lost=(*base.lost, "closedlost")), None, {}
    # the API lists stages in display order: when some lack one, the file's order is the
    # better guess for all of them than putting those last
    unordered = any(math.isinf(s.order) for s in stages)
    ordered = list(stages) if unordered else sorted(stages, key=lambda s: s.order)
    won: list[str] = []
    lost: list[str] = []
    order: list[str] = []
    probability: dict[str, float] = {}
    for s in ordered:
        p = s.probability
        if s.closed:
            is_won = p == 1.0 if not math.isnan(p) else _won_by_name(s.id, s.label)
            (won if is_won else lost).append(s.label)
        else:
            order.append(s.label)
            if not math.isnan(p):
                probability[s.label] = p
    return Labels(won=tuple(won), lost=tuple(lost)), tuple(order), probability
