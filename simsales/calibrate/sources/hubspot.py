"""HubSpot: a deals export (CSV / .xlsx), with an optional ``pipelines.json`` beside it.

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
the mapping's labels) close a deal and the order is inferred from the data.

Rules: the value is ``amount_in_home_currency`` (HubSpot's own conversion to the company
currency) when the export has it, else ``amount`` in ``deal_currency_code``; deals of other
pipelines than the commonest are left out (reported). Limits of the format, stated: HubSpot
keeps only the latest entry into each stage, so a stage visited twice shows only its last
visit, and it keeps no history of amounts or close dates (the deal's current amount is used as
of any date).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from simsales.calibrate.mapping import Labels
from simsales.calibrate.sources.files import read_table
from simsales.calibrate.sources.generic import canonical
from simsales.calibrate.sources.records import Records
from simsales.errors import Problem, ScenarioError

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
_ENTERED = re.compile(r"^(?:hs_v2_date_entered_|hs_date_entered_)(.+)$")
_UI_ENTERED = re.compile(r'^Date entered ["\'](.+?)(?: \(([^()]*)\))?["\']$')


def detect(header: list[str]) -> bool:
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
    **options: Any,
) -> Records:
    notes: list[tuple[str, str]] = []
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
    pipelines = _pipelines(path.parent / "pipelines.json")
    pipe_col = next((c for c in PIPELINE if c in header), None)
    if pipe_col is not None and frame[pipe_col].nunique() > 1:
        main = frame[pipe_col].mode().iloc[0]
        other = frame[pipe_col] != main
        notes.append(("other_pipeline", f"{int(other.sum())} deals of other pipelines than "
                      f"{main!r} left out (each pipeline is its own process)"))  # fmt: skip
        frame = frame[~other]
    else:
        main = frame[pipe_col].iloc[0] if pipe_col is not None and len(frame) else None
    stages = pipelines.get(str(main)) or next(iter(pipelines.values()), [])
    label_of = {s["id"]: s["label"] for s in stages}
    attributes = canonical(frame, variables, path.name)
    attributes["stage"] = attributes["stage"].map(lambda s: label_of.get(s, s))
    rows = _stage_rows(frame, variables, label_of, path.name)
    lone = attributes[~attributes["id"].isin(set(rows["id"]))]
    lone = lone.assign(entered=lone.get("created", ""))[["id", "stage", "entered", "_line",
                                                         "_file"]]  # fmt: skip
    rows = pd.concat([rows, lone], ignore_index=True)
    labels, order, probability = _labels(stages)
    return Records(
        source=str(path),
        shape="stage_changes",
        rows=rows,
        names=dict(variables),
        labels=labels,
        stage_order=order,
        order_reason="by displayOrder in pipelines.json",
        attributes=attributes,
        currency=currency or "USD",
        timezone=timezone,
        stage_probability=probability,
        open_values=True,
        notes=notes,
    )


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


def _pipelines(file: Path) -> dict[str, list[dict[str, Any]]]:
    if not file.exists():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScenarioError(
            [Problem(f"not a pipelines JSON file: {exc}", file=str(file))]
        ) from None
    results = data.get("results", data) if isinstance(data, dict) else data
    return {str(p.get("id")): list(p.get("stages", [])) for p in results if isinstance(p, dict)}


def _labels(
    stages: list[dict[str, Any]],
) -> tuple[Labels, tuple[str, ...] | None, dict[str, float]]:
    if not stages:
        base = Labels()
        return Labels(won=(*base.won, "closedwon"), lost=(*base.lost, "closedlost")), None, {}
    ordered = sorted(stages, key=lambda s: float(s.get("displayOrder", 0)))
    won: list[str] = []
    lost: list[str] = []
    order: list[str] = []
    probability: dict[str, float] = {}
    for s in ordered:
        meta = s.get("metadata", {})
        p = float(meta.get("probability", "nan"))
        closed = str(meta.get("isClosed", "false")).lower() == "true"
        if closed:
            (won if p == 1.0 else lost).append(s["label"])
        else:
            order.append(s["label"])
            if p == p:
                probability[s["label"]] = p
    return Labels(won=tuple(won), lost=tuple(lost)), tuple(order), probability
