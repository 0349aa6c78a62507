"""Closed stages whose names no label knows, read from the CRM's own fields of their rows
(:mod:`simsales.calibrate.sources.closed`), PingCode's state types and Dynamics' state codes;
and the exports where such evidence must not close a stage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from simsales.calibrate.importer import read_history
from simsales.calibrate.mapping import Labels
from simsales.calibrate.sources.closed import stage_verdicts

# six deals: their outcome, creation, close (blank while open) and value
TRUTH = pd.DataFrame({
    "id": ["D1", "D2", "D3", "D4", "D5", "D6"],
    "outcome": ["won", "lost", "won", "open", "lost", "open"],
    "created": ["2023-01-02", "2023-01-05", "2023-01-09", "2023-02-01", "2023-02-03", "2023-02-06"],
    "closed": ["2023-02-01", "2023-02-10", "2023-03-01", "", "2023-03-06", ""],
    "value": [1200.0, 800.0, 3000.0, 500.0, 700.0, 900.0],
})  # fmt: skip
WON, LOST = TRUTH["outcome"] == "won", TRUTH["outcome"] == "lost"


def _outcomes(path: Path, **read: object) -> tuple[pd.DataFrame, list[str]]:
    """The deals read from ``path`` (by id) and the rules the report warned of."""
    h = read_history(path, **read)  # type: ignore[arg-type]
    warned = [i.rule for i in h.report.issues if i.action != "info"]
    return h.deals.set_index("deal").sort_index(), warned


def _report(stages: dict[str, str], **columns: object) -> pd.DataFrame:
    """TRUTH as a Salesforce opportunities report whose stages are ``stages`` by outcome."""
    return pd.DataFrame({
        "Opportunity ID": TRUTH["id"], "Stage": TRUTH["outcome"].map(stages),
        "Amount": TRUTH["value"], "Created Date": TRUTH["created"],
        "Close Date": TRUTH["closed"].where(TRUTH["closed"] != "", "2023-06-30"), **columns,
    })  # fmt: skip


def test_renamed_closed_stages_by_probability_and_forecast_category(tmp_path: Path) -> None:
    """``Signed`` at 100% in the category Closed and ``Not Selected`` at 0% Omitted are won
    and lost (no default label names them): the deals' outcomes and close dates are right,
    and the stages decided are a warning on the deals they closed."""
    export = _report(
        {"won": "Signed", "lost": "Not Selected", "open": "Proposal"},
        **{"Probability (%)": TRUTH["outcome"].map({"won": "100%", "lost": "0%", "open": "50%"}),
           "Forecast Category": TRUTH["outcome"].map(
               {"won": "Closed", "lost": "Omitted", "open": "Pipeline"})},
    )  # fmt: skip
    path = tmp_path / "report.csv"
    export.to_csv(path, index=False)
    deals, _ = _outcomes(path)
    assert list(deals["outcome"]) == list(TRUTH["outcome"])
    closed = deals["closed"].dt.strftime("%Y-%m-%d").fillna("")
    assert list(closed) == list(TRUTH["closed"])
    note = next(i for i in read_history(path).report.issues if i.rule == "closed_stages")
    assert note.action == "kept" and note.rows == 4
    assert "'Signed'" in note.message and "'Not Selected'" in note.message
    # without the category the probability alone decides them, as no other stage is won / lost
    export.drop(columns="Forecast Category").to_csv(path, index=False)
    assert list(_outcomes(path)[0]["outcome"]) == list(TRUTH["outcome"])


def test_a_probability_alone_closes_no_stage_beside_a_named_one(tmp_path: Path) -> None:
    """With a ``Closed Lost`` stage in the export, another stage at 0% (``On Hold``) stays
    open unless its category says Omitted: an open stage may be at 0%; and an export whose
    outcome has its own column (Odoo's ``Active``) closes nothing by its probability."""
    stages = TRUTH["outcome"].map({"won": "Closed Won", "lost": "Closed Lost", "open": "On Hold"})
    export = _report({}, **{"Probability (%)": TRUTH["outcome"].map(
        {"won": "100", "lost": "0", "open": "0"})})  # fmt: skip
    export["Stage"] = stages
    path = tmp_path / "report.csv"
    export.to_csv(path, index=False)
    deals, _ = _outcomes(path)
    assert list(deals["outcome"]) == list(TRUTH["outcome"])
    # a stage every deal of which is Omitted at 0% is a second lost stage
    export["Stage"] = stages.where(TRUTH["id"] != "D5", "Disqualified")
    export["Forecast Category"] = TRUTH["outcome"].map(
        {"won": "Closed", "lost": "Omitted", "open": "Pipeline"}
    )
    export.to_csv(path, index=False)
    assert list(_outcomes(path)[0]["outcome"]) == list(TRUTH["outcome"])
    # Odoo: lost deals archived in their stage ("New", 0%); the open ones are active
    odoo = pd.DataFrame({
        "ID": TRUTH["id"], "Stage": TRUTH["outcome"].map({"won": "Won", "lost": "New",
                                                          "open": "New"}),
        "Probability": TRUTH["outcome"].map({"won": "100", "lost": "0", "open": "0"}),
        "Active": (TRUTH["outcome"] != "lost").map({True: "True", False: "False"}),
        "Created on": TRUTH["created"], "Closed Date": TRUTH["closed"],
        "Expected Revenue": TRUTH["value"],
    })  # fmt: skip
    odoo.to_csv(path, index=False)
    deals, warned = _outcomes(path)
    assert list(deals["outcome"]) == list(TRUTH["outcome"]) and "closed_stages" not in warned


def test_verdicts_are_those_of_every_row_of_a_stage() -> None:
    """The rule itself: one row that disagrees keeps a stage unnamed; blank cells are no
    evidence; a stage skipped (left by its deals) is never closed."""
    stage = pd.Series(["Signed", "Signed", "Lost It", "Lost It", "Hold", "Signed"])
    p = pd.Series([1.0, 1.0, 0.0, float("nan"), 0.0, float("nan")])
    got = stage_verdicts(stage, p, None, Labels(), skip={"hold"})
    assert got == {"Signed": "won", "Lost It": "lost"}
    p[1] = 0.9
    assert stage_verdicts(stage, p, None, Labels(), skip={"hold"}) == {"Lost It": "lost"}


def test_a_history_report_closes_its_renamed_stages_but_not_one_deals_leave(
    tmp_path: Path,
) -> None:
    """A Salesforce 'Opportunity History' report (a row per stage change, with the change's
    probability and category): ``Signed`` / ``Disqualified`` close; ``Paused`` at 0%, which
    a deal left again, does not."""
    rows = []
    for d in TRUTH.itertuples():
        rows.append((d.id, "", "Qualification", d.created + " 09:00", "10%", "Pipeline"))
        if d.id == "D4":  # paused, then back to work
            rows.append((d.id, "Qualification", "Paused", "2023-02-10 09:00", "0%", "Omitted"))
            rows.append((d.id, "Paused", "Proposal", "2023-02-20 09:00", "50%", "Pipeline"))
        if d.outcome != "open":
            to, p, c = ("Signed", "100%", "Closed") if d.outcome == "won" else (
                "Disqualified", "0%", "Omitted")  # fmt: skip
            rows.append((d.id, "Qualification", to, d.closed + " 17:00", p, c))
    export = pd.DataFrame(rows, columns=["Opportunity ID", "From Stage", "To Stage", "Edit Date",
                                         "Probability (%)", "Forecast Category"])  # fmt: skip
    path = tmp_path / "history.csv"
    export.to_csv(path, index=False)
    deals, _ = _outcomes(path)
    assert list(deals["outcome"]) == list(TRUTH["outcome"])
    # D4 was paused at 0% and so is D6 now: Paused is no loss, as D4 left it
    export.loc[len(export)] = ("D6", "Qualification", "Paused", "2023-03-01 09:00", "0%", "Omitted")
    export.to_csv(path, index=False)
    assert list(_outcomes(path)[0]["outcome"]) == list(TRUTH["outcome"])


def test_pingcode_states_closed_by_their_type(tmp_path: Path) -> None:
    """PingCode's states carry a type beside their name: ``completed`` (已回款) is won and
    ``closed`` (已放弃) lost, whatever the name; said."""
    kind = {"won": ("已回款", "completed"), "lost": ("已放弃", "closed"),
            "open": ("方案报价", "in_progress")}  # fmt: skip
    unix = [int(pd.Timestamp(c, tz="UTC").timestamp()) for c in TRUTH["created"]]
    items = [{"identifier": d.id, "state": {"name": kind[d.outcome][0], "type": kind[d.outcome][1]},
              "created_at": int(t), "properties": {"amount": d.value}}
             for d, t in zip(TRUTH.itertuples(), unix, strict=True)]  # fmt: skip
    moves = []
    for d, t in zip(TRUTH.itertuples(), unix, strict=True):
        at = int(t) + 86400
        moves.append(
            {
                "work_item": {"identifier": d.id},
                "from_state": {"name": "初步接洽", "type": "pending"},
                "to_state": {"name": "方案报价", "type": "in_progress"},
                "created_at": at,
            }
        )
        if d.outcome != "open":
            end = int(pd.Timestamp(d.closed, tz="UTC").timestamp()) + 3600
            moves.append({"work_item": {"identifier": d.id},
                          "from_state": {"name": "方案报价", "type": "in_progress"},
                          "to_state": {"name": kind[d.outcome][0], "type": kind[d.outcome][1]},
                          "created_at": end})  # fmt: skip
    folder = tmp_path / "pingcode"
    folder.mkdir()
    (folder / "work_items.json").write_text(json.dumps({"values": items}), encoding="utf-8")
    (folder / "transition_histories.json").write_text(json.dumps({"values": moves}),
                                                      encoding="utf-8")  # fmt: skip
    h = read_history(folder, timezone="UTC")
    deals = h.deals.set_index("deal").sort_index()
    assert list(deals["outcome"]) == list(TRUTH["outcome"])
    said = next(i.message for i in h.report.issues if i.rule == "closed_stages")
    assert "已回款" in said and "已放弃" in said


def test_dynamics_web_api_state_codes_and_actual_values(tmp_path: Path) -> None:
    """Dynamics 365's Web API names: ``statecode`` 0 / 1 / 2 is open / won / lost, the stage
    is ``stepname``, a won deal's value its ``actualvalue`` and a lost one's (written 0) its
    ``estimatedvalue``."""
    won = WON.to_numpy()
    export = pd.DataFrame({
        "opportunityid": TRUTH["id"], "name": "deal " + TRUTH["id"],
        "statecode": TRUTH["outcome"].map({"open": "0", "won": "1", "lost": "2"}),
        "statuscode": TRUTH["outcome"].map({"open": "1", "won": "3", "lost": "4"}),
        "estimatedvalue": TRUTH["value"].where(~WON, TRUTH["value"] * 0.9),
        "actualvalue": TRUTH["value"].where(won, 0.0).where(TRUTH["outcome"] != "open", None),
        "actualclosedate": TRUTH["closed"].map(lambda d: f"{d}T00:00:00Z" if d else ""),
        "createdon": TRUTH["created"] + "T10:00:00Z", "stepname": "2-Develop",
    })  # fmt: skip
    path = tmp_path / "opportunities.csv"
    export.to_csv(path, index=False)
    deals, _ = _outcomes(path)
    assert list(deals["outcome"]) == list(TRUTH["outcome"])
    assert list(deals["value"]) == list(TRUTH["value"])
    h = read_history(path)
    assert any(i.rule == "state_codes" for i in h.report.issues)
