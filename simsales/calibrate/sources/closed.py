"""Closed stages known from the deals in them, where their names say nothing.

A team that renamed its closed stages (``Signed`` / ``Not Selected``, 已签约 / 已流失) exports
them under names no default label knows, and without this rule their deals would read as open
for ever. Their CRM's own fields still tell: Salesforce puts a won stage in the forecast
category ``Closed`` and a lost one in ``Omitted`` at 0%; Salesforce, Zoho, Dynamics and HubSpot
give a won stage a probability of 100% and a lost one 0%. Stated rules, for a stage no label
names (not a won, lost or listed open label, and not one of the source's ordered open stages):

- **won**: every row of it is in the forecast category Closed; or, where no row of the export
  is in a won stage otherwise, every row of it has a probability of exactly 100%;
- **lost**: every row of it has a probability of exactly 0%, and either every row is in the
  category Omitted or no row of the export is in a lost stage otherwise (an open stage at 0%,
  "On hold", is why a probability alone needs that);
- "otherwise" within the stage's pipeline, where the export has a pipeline column (HubSpot's
  Renewals pipeline closes at "Renewed" beside a Sales pipeline's "Closed won");
- a blank probability or category is no evidence either way (rows the history never gave it);
- none where the export keeps the outcome apart from the stage (a status, closed flags, an
  active column: Odoo leaves a lost deal in its stage at 0%);
- never a stage that deals leave: in a stage history, one that at least one in ten of the deals
  that entered it left again (a closed stage ends a deal; a reopened one is rare).

What it decided is said as a warning, with the rows it closed: a ``labels`` mapping or the
CRM's stage list (Salesforce's ``OpportunityStage.csv``, HubSpot's ``pipelines.json``) names
them for certain.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

import numpy as np
import pandas as pd

from simsales.calibrate.mapping import Labels, label_key
from simsales.calibrate.sources.parse import parse_probabilities, parse_times
from simsales.calibrate.sources.records import Note, Records

__all__ = ["CATEGORIES", "by_evidence", "said", "stage_verdicts", "with_verdicts"]

# forecast categories by their label keys, as Salesforce's UI and API (Forecast, BestCase) and
# other CRMs write them
CATEGORIES = {
    "pipeline": "pipeline", "bestcase": "best_case", "upside": "best_case",
    "commit": "commit", "committed": "commit", "closed": "closed", "won": "closed",
    "omitted": "omitted", "omit": "omitted", "lost": "omitted",
    "forecast": "commit", "mostlikely": "best_case",
}  # fmt: skip

LEFT_SHARE = 0.1  # a stage that this share of its deals left again is no closed stage


def stage_verdicts(
    stage: pd.Series,
    probability: pd.Series | None,
    category: pd.Series | None,
    labels: Labels,
    skip: Collection[str] = (),
    pipeline: pd.Series | None = None,
) -> dict[str, str]:
    """Each unnamed stage's verdict (``won`` / ``lost``) by the rules above, from its rows'
    ``probability`` (0-1, NaN unknown) and forecast ``category`` (CATEGORIES' values), aligned
    with ``stage``; ``skip``: label keys of stages known not to close (left, ordered open);
    ``pipeline``: each row's pipeline, if known."""
    keys = stage.astype(str).map(label_key).to_numpy()
    won_keys = {label_key(x) for x in labels.won}
    lost_keys = {label_key(x) for x in labels.lost}
    p = probability if probability is not None else pd.Series(np.nan, index=stage.index)
    c = category if category is not None else pd.Series(None, index=stage.index, dtype=object)
    line = pipeline.astype(str).to_numpy() if pipeline is not None else np.zeros(len(keys), str)
    frame = pd.DataFrame({"stage": stage.astype(str).to_numpy(), "key": keys,
                          "p": p.to_numpy(dtype=float), "c": c.to_numpy(),
                          "line": line})  # fmt: skip
    # the pipelines that have a won (a lost) stage named
    with_won = set(frame.loc[frame["key"].isin(won_keys), "line"])
    with_lost = set(frame.loc[frame["key"].isin(lost_keys), "line"])
    verdict: dict[str, str] = {}
    for key, group in frame.groupby("key", sort=False):
        if key == "" or key in won_keys or key in lost_keys or key in skip:
            continue
        has_won, has_lost = (
            bool(with_won & set(group["line"])),
            bool(with_lost & set(group["line"])),
        )
        # a blank cell is no evidence either way (a deal the history never recorded)
        p, c = group["p"].dropna(), group["c"].dropna()
        every_closed = len(c) > 0 and bool((c == "closed").all())
        every_omitted = len(c) > 0 and bool((c == "omitted").all())
        if every_closed or (len(p) > 0 and (p == 1).all() and not has_won):
            verdict[str(group["stage"].iloc[0])] = "won"
        elif len(p) > 0 and (p == 0).all() and (every_omitted or not has_lost):
            verdict[str(group["stage"].iloc[0])] = "lost"
    return verdict


def with_verdicts(labels: Labels, verdict: dict[str, str]) -> Labels:
    """``labels`` with the stages ``verdict`` decided added to their kind."""
    won = tuple(k for k, v in verdict.items() if v == "won")
    lost = tuple(k for k, v in verdict.items() if v == "lost")
    return labels.model_copy(update={"won": (*labels.won, *won), "lost": (*labels.lost, *lost)})


def said(verdict: dict[str, str]) -> str:
    """``won: 'Signed'; lost: 'Not Selected'``."""
    return "; ".join(
        f"{kind}: {', '.join(repr(k) for k, v in verdict.items() if v == kind)}"
        for kind in ("won", "lost")
        if kind in verdict.values()
    )


def by_evidence(rec: Records) -> Records:
    """``rec`` with the stages its rows' probability and forecast category close added to its
    labels (none where the mapping lists the open labels), said as a warning."""
    rows = rec.rows
    if rec.labels.open is not None or "stage" not in rows or rows.empty:
        return rec
    if "probability" not in rows and "forecast_category" not in rows:
        return rec
    if "status" in rows or "active" in rows:  # the outcome has its own column: not the stage's
        return rec
    skip = {label_key(x) for x in rec.stage_order or ()}
    if rec.shape == "stage_changes":
        skip |= _left(rows, rec)
    probability = parse_probabilities(rows["probability"]) if "probability" in rows else None
    category = (
        rows["forecast_category"].astype(str).map(lambda v: CATEGORIES.get(label_key(v)))
        if "forecast_category" in rows
        else None
    )
    by_pipeline = "product" in rows and _is_pipeline(rec.names.get("product"))
    pipeline = rows["product"] if by_pipeline else None
    verdict = stage_verdicts(rows["stage"], probability, category, rec.labels, skip, pipeline)
    if not verdict:
        return rec
    where = " and ".join(
        f"{rec.names.get(f, f)} ({what})"
        for f, what in (("forecast_category", "Closed: won, Omitted: lost"),
                        ("probability", "100%: won, 0%: lost"))
        if f in rows
    )  # fmt: skip
    closed = rows["stage"].astype(str).isin(list(verdict))
    note = Note(
        "closed_stages",
        f"closed stages from the {where} of their rows ({said(verdict)}); name them in "
        "labels: {won: [...], lost: [...]} in a --mapping file to be sure, or to read them "
        "otherwise",
        "kept",
        int(closed.sum()),
    )
    return replace(rec, labels=with_verdicts(rec.labels, verdict), notes=[*rec.notes, note])


def _is_pipeline(column: str | None) -> bool:
    """Whether the product column is the deal's pipeline (``Pipeline``, ``Deal - Pipeline``)."""
    return column is not None and "pipeline" in label_key(column)


def _left(rows: pd.DataFrame, rec: Records) -> set[str]:
    """Label keys of the stages a history's deals left again: the stage of a row that a later
    row of the same deal (by time, then file order) changes, for LEFT_SHARE of its deals."""
    if "entered" not in rows or "id" not in rows:
        return set()
    at = parse_times(rows["entered"].astype(str), rec.date_format, rec.timezone)
    ev = pd.DataFrame({"deal": rows["id"].astype(str).to_numpy(), "at": at.to_numpy(),
                       "key": rows["stage"].astype(str).map(label_key).to_numpy(),
                       "line": np.arange(len(rows))})  # fmt: skip
    ev = ev[ev["at"].notna()].sort_values(["deal", "at", "line"], kind="stable")
    after = ev.groupby("deal", sort=False)["key"].shift(-1)
    left = after.notna() & (after != ev["key"])
    share = ev[left].groupby("key")["deal"].nunique() / ev.groupby("key")["deal"].nunique()
    return {str(k) for k, s in share.items() if s >= LEFT_SHARE}
