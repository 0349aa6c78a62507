"""Salesforce and HubSpot exports written the ways the CRMs (and the tools around them) really
write them: custom closed stages, checkboxes as 1/0, probabilities as "50%", closes with no
date entered, a hand-edited pipelines.json. Each input is a few deals built in ``tmp_path``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from simsales.calibrate.history import History
from simsales.calibrate.importer import read_history
from simsales.errors import ScenarioError

DATA = Path(__file__).resolve().parents[1] / "data"

# --- Salesforce -------------------------------------------------------------------------------

PROB = {"Qualification": "10", "Proposal": "50", "Negotiation": "75", "Closed Won": "100"}


def _salesforce(
    folder: Path,
    paths: dict[str, list[tuple[str, str]]],
    opp: dict[str, dict[str, str]] | None = None,
    hist: dict[tuple[str, str], dict[str, str]] | None = None,
) -> Path:
    """An export folder: ``paths`` deal -> [(stage, day)]; ``opp`` extra Opportunity.csv cells
    per deal; ``hist`` extra OpportunityHistory.csv cells per (deal, stage)."""
    folder.mkdir()
    o, h = [], []
    for deal, path in paths.items():
        stage = path[-1][0]
        o.append({"Id": deal, "StageName": stage, "Amount": "1000", "CloseDate": "2023-06-30",
                  "CurrencyIsoCode": "USD", "CreatedDate": f"{path[0][1]}T09:00:00.000+0000",
                  **(opp or {}).get(deal, {})})  # fmt: skip
        for s, day in path:
            h.append({"OpportunityId": deal, "CreatedDate": f"{day}T10:00:00.000+0000",
                      "StageName": s, "Amount": "1000", "CloseDate": "2023-06-30",
                      "Probability": PROB.get(s, "0"), "IsDeleted": "false",
                      **(hist or {}).get((deal, s), {})})  # fmt: skip
    pd.DataFrame(o).to_csv(folder / "Opportunity.csv", index=False)
    pd.DataFrame(h).to_csv(folder / "OpportunityHistory.csv", index=False)
    return folder


def _outcome(h: History, deal: str) -> str:
    return str(h.deals.set_index("deal").loc[deal, "outcome"])


def _notes(h: History, rule: str) -> str:
    return " | ".join(i.message for i in h.report.issues if i.rule == rule)


SF_PATHS = {
    "006A": [("Qualification", "2023-01-02"), ("Proposal", "2023-01-10"),
             ("Closed Won", "2023-02-01")],
    "006B": [("Qualification", "2023-01-03"), ("Disqualified", "2023-01-20")],
    "006C": [("Qualification", "2023-01-04"), ("Rejected", "2023-01-25")],
    "006D": [("Qualification", "2023-01-05"), ("Proposal", "2023-02-10")],
    "006E": [("Qualification", "2023-01-06"), ("Signed", "2023-02-15")],
}  # fmt: skip


def test_salesforce_closed_stages_come_from_is_won_and_is_closed(tmp_path: Path) -> None:
    """No OpportunityStage.csv: Opportunity.csv's IsWon / IsClosed name the closed stages, as
    Salesforce writes them (true/false) or as other tools do (1/0, yes/no, any case)."""
    flags = {"006A": ("true", "true"), "006B": ("TRUE", "False"), "006C": ("1", "0"),
             "006D": ("false", "false"), "006E": ("Yes", "yes")}  # fmt: skip
    opp = {d: {"IsClosed": c, "IsWon": w} for d, (c, w) in flags.items()}
    h = read_history(_salesforce(tmp_path / "sf", SF_PATHS, opp), preset="salesforce")
    assert h.stages == ("qualification", "proposal")  # Disqualified etc. are no open stages
    assert [_outcome(h, d) for d in SF_PATHS] == ["won", "lost", "lost", "open", "won"]
    note = _notes(h, "closed_stages")
    assert "won: Closed Won, Signed" in note and "lost: Disqualified, Rejected" in note


def test_salesforce_is_deleted_as_one_zero_and_odd_values_reported(tmp_path: Path) -> None:
    paths = {
        "006A": [("Qualification", "2023-01-02"), ("Proposal", "2023-01-10"),
                 ("Closed Lost", "2023-02-01")],
        "006B": [("Qualification", "2023-01-03"), ("Proposal", "2023-01-12"),
                 ("Closed Won", "2023-02-05")],
        "006C": [("Qualification", "2023-01-04"), ("Proposal", "2023-01-14"),
                 ("Closed Won", "2023-02-06")],
    }  # fmt: skip
    hist = {
        ("006A", "Qualification"): {"IsDeleted": "0"},
        ("006A", "Closed Lost"): {"IsDeleted": "1"},  # deleted: 006A is still open
        ("006B", "Closed Won"): {"IsDeleted": "TRUE"},  # deleted too
        ("006C", "Proposal"): {"IsDeleted": "maybe"},  # neither: kept, and said so
        ("006C", "Closed Won"): {"IsDeleted": "No"},
    }
    h = read_history(_salesforce(tmp_path / "sf", paths, hist=hist), preset="salesforce")
    assert [_outcome(h, d) for d in paths] == ["open", "open", "won"]
    assert "2 deleted history rows left out" in _notes(h, "deleted")
    kept = next(i for i in h.report.issues if i.rule == "deleted" and i.action == "kept")
    assert kept.rows == 1 and "line 9 ('maybe')" in kept.examples
    assert h.report.count("duplicate_row") == 0 and h.report.count("no_open_stage") == 0


def test_salesforce_probability_written_with_percent_orders_the_stages(tmp_path: Path) -> None:
    """Two deals enter at Negotiation: by mean position it would come before Proposal; the
    history's probabilities ("50%") put it after."""
    paths = {
        "006A": [("Qualification", "2023-01-02"), ("Proposal", "2023-01-10"),
                 ("Negotiation", "2023-01-20"), ("Closed Won", "2023-02-01")],
        "006B": [("Negotiation", "2023-01-03"), ("Closed Won", "2023-01-30")],
        "006C": [("Negotiation", "2023-01-04"), ("Closed Lost", "2023-02-03")],
    }  # fmt: skip
    hist = {(d, s): {"Probability": f"{PROB.get(s, '0')}%"} for d, p in paths.items() for s, _ in p}
    h = read_history(_salesforce(tmp_path / "sf", paths, hist=hist), preset="salesforce")
    assert h.stages == ("qualification", "proposal", "negotiation")
    assert h.stage_probability["proposal"] == 0.5
    assert "by the CRM's stage probability" in _notes(h, "stage_order")


# --- HubSpot ----------------------------------------------------------------------------------

HS_STAGES = ("qualifiedtobuy", "contractsent", "closedwon", "closedlost")


def _hubspot(
    folder: Path,
    deals: list[dict[str, str]],
    pipelines: Any = None,
    prefix: str = "hs_v2_date_entered_",
) -> Path:
    """A deals export (one dict per deal: id, stage, closedate and the day entered into each
    stage, by stage id) and, if given, its pipelines.json."""
    folder.mkdir()
    rows = []
    for d in deals:
        row = {"hs_object_id": d["id"], "pipeline": "default", "dealstage": d["stage"],
               "amount": "1000", "closedate": d.get("closedate", ""),
               "createdate": d.get("qualifiedtobuy", ""), "dealtype": "newbusiness"}  # fmt: skip
        row.update({f"{prefix}{s}": d.get(s, "") for s in HS_STAGES})
        rows.append(row)
    pd.DataFrame(rows).to_csv(folder / "deals.csv", index=False)
    if pipelines is not None:
        (folder / "pipelines.json").write_text(json.dumps(pipelines), encoding="utf-8")
    return folder / "deals.csv"


HS_DEALS = [
    {"id": "1", "stage": "closedwon", "qualifiedtobuy": "2023-01-02", "contractsent": "2023-01-10",
     "closedwon": "2023-02-01", "closedate": "2023-02-01"},
    # won / lost, the date entered blank: closed at closedate
    {"id": "2", "stage": "closedwon", "qualifiedtobuy": "2023-01-03", "contractsent": "2023-01-12",
     "closedate": "2023-02-07"},
    {"id": "3", "stage": "closedlost", "qualifiedtobuy": "2023-01-04", "closedate": "2023-01-25"},
    # no closedate either: left out
    {"id": "4", "stage": "closedlost", "qualifiedtobuy": "2023-01-05",
     "contractsent": "2023-01-15"},
    {"id": "5", "stage": "contractsent", "qualifiedtobuy": "2023-01-06",
     "contractsent": "2023-01-20", "closedate": "2023-07-01"},
]  # fmt: skip


@pytest.mark.parametrize("with_pipelines", [False, True])
@pytest.mark.parametrize("prefix", ["hs_v2_date_entered_", "hs_date_entered_"])
def test_hubspot_close_with_no_date_entered_is_dated_by_closedate(
    tmp_path: Path, prefix: str, with_pipelines: bool
) -> None:
    pipes = (
        json.loads((DATA / "hubspot" / "pipelines.json").read_text()) if with_pipelines else None
    )
    h = read_history(_hubspot(tmp_path / "hs", HS_DEALS, pipes, prefix))
    deals = h.deals.set_index("deal")
    assert list(deals.index) == ["1", "2", "3", "5"]
    assert list(deals["outcome"]) == ["won", "won", "lost", "open"]
    assert deals.loc["2", "closed"] == pd.Timestamp("2023-02-07")
    assert deals.loc["3", "closed"] == pd.Timestamp("2023-01-25")
    assert _notes(h, "closed_at_closedate").startswith("2 won / lost deals")
    assert "line 3 (id 2), line 4 (id 3)" in _notes(h, "closed_at_closedate")
    gone = next(i for i in h.report.issues if i.rule == "closed_without_date")
    assert gone.action == "dropped" and gone.rows == 1 and "line 5 (id 4)" in gone.examples


DROP = object()  # a key removed from the stage


def _pipelines(**changes: Any) -> dict[str, Any]:
    """tests/data/hubspot/pipelines.json with changes: ``s<index>={"key.path": value}`` (value
    ``DROP``: the key removed; ``None`` is JSON null)."""
    data: dict[str, Any] = json.loads((DATA / "hubspot" / "pipelines.json").read_text())
    for i, keys in changes.items():
        stage = data["results"][0]["stages"][int(i[1:])]
        for path, value in keys.items():
            *head, last = path.split(".")
            target = stage
            for k in head:
                target = target[k]
            if value is DROP:
                target.pop(last)
            else:
                target[last] = value
    return data


def _hs_read(tmp_path: Path, pipelines: Any) -> History:
    ids = {"qualifiedtobuy": "2023-01-02", "contractsent": "2023-01-10"}
    deals = [{"id": "1", "stage": "closedwon", **ids, "closedwon": "2023-02-01"},
             {"id": "2", "stage": "closedlost", **ids, "closedlost": "2023-02-03"},
             {"id": "3", "stage": "contractsent", **ids}]  # fmt: skip
    return read_history(_hubspot(tmp_path / "hs", deals, pipelines))


def test_hubspot_stage_without_label_is_named_by_its_id(tmp_path: Path) -> None:
    h = _hs_read(tmp_path, _pipelines(s1={"label": DROP}, s3={"label": None}))
    assert h.stages == ("qualification", "presentationscheduled", "proposal", "contractsent")
    notes = _notes(h, "pipelines")
    assert "results[0].stages[1] has no label: named by its id 'presentationscheduled'" in notes
    assert "results[0].stages[3] has no label" in notes


@pytest.mark.parametrize("bad", ["n/a", None, [], True])
def test_hubspot_non_numeric_probability_is_unknown(tmp_path: Path, bad: Any) -> None:
    # an open stage's and a closed stage's: the closed one is won by its id (closedwon)
    h = _hs_read(tmp_path, _pipelines(s1={"metadata.probability": bad},
                                      s4={"metadata.probability": bad}))  # fmt: skip
    assert "needs-analysis" not in h.stage_probability
    assert h.stage_probability["negotiation"] == 0.75
    assert list(h.deals["outcome"]) == ["won", "lost", "open"]
    notes = _notes(h, "pipelines")
    assert f"results[0].stages[1] (Needs Analysis) probability {bad!r} is not a number" in notes
    assert "stages[4] (Closed Won) probability" in notes and "taken as won" in notes


@pytest.mark.parametrize("bad", [None, "first", {}])
def test_hubspot_stages_without_numeric_display_order_keep_the_file_order(
    tmp_path: Path, bad: Any
) -> None:
    pipes = _pipelines(
        s0={"displayOrder": bad}, s2={"displayOrder": None}, s3={"displayOrder": DROP}
    )
    h = _hs_read(tmp_path, pipes)
    # the API lists stages in display order: with some orders missing, the file's order
    assert h.stages == ("qualification", "needs-analysis", "proposal", "negotiation")
    assert "results[0].stages[0] (Qualification) has no numeric displayOrder" in _notes(
        h, "pipelines"
    )


@pytest.mark.parametrize(
    ("pipelines", "where", "what"),
    [
        (_pipelines(s3={"id": DROP}), "results[0].stages[3]", 'has no "id"'),
        (_pipelines(s0={"id": None}), "results[0].stages[0]", 'has no "id"'),
        (_pipelines(s2={"id": ""}), "results[0].stages[2]", 'has no "id"'),
        ({"results": ["default"]}, "results[0]", "is not a pipeline object"),
        ({"results": [{"id": "default", "stages": {"a": 1}}]}, "results[0].stages", "not a list"),
        ({"results": [{"id": "default", "stages": [1]}]}, "results[0].stages[0]", "not a stage"),
        ({"results": {"id": "default"}}, "results", "is not a list of pipelines"),
        (_pipelines(s1={"metadata": "closed"}), "results[0].stages[1].metadata", "not an object"),
    ],
)
def test_hubspot_broken_pipelines_json_names_the_key_path(
    tmp_path: Path, pipelines: Any, where: str, what: str
) -> None:
    with pytest.raises(ScenarioError) as err:
        _hs_read(tmp_path, pipelines)
    message = str(err.value)
    assert "pipelines.json" in message and f"{where}: " in message and what in message


def test_salesforce_with_an_empty_history_says_what_is_missing(tmp_path: Path) -> None:
    folder = tmp_path / "sf"
    shutil.copytree(DATA / "salesforce", folder)
    hist = folder / "OpportunityHistory.csv"
    hist.write_text(hist.read_text(encoding="latin-1").splitlines()[0] + "\n", encoding="latin-1")
    with pytest.raises(ScenarioError, match=r"OpportunityHistory\.csv has no rows"):
        read_history(folder)


def test_hubspot_pipeline_is_found_by_its_label_or_refused(tmp_path: Path) -> None:
    """The deals view writes the pipeline's label (``Sales Pipeline``), the API its id: both
    find their stages in pipelines.json, whatever other pipelines come first; a pipeline the
    file lacks is an error naming those it has, not the first pipeline's stages."""
    pipes = _pipelines()
    other = {"id": "777", "label": "Renewals", "stages": [
        {"id": "renewaldue", "label": "Renewal Due", "displayOrder": 0,
         "metadata": {"isClosed": "false", "probability": "0.5"}}]}  # fmt: skip
    pipes["results"].insert(0, other)
    ids = {"qualifiedtobuy": "2023-01-02", "contractsent": "2023-01-10"}
    deals = [{"id": "1", "stage": "closedwon", **ids, "closedwon": "2023-02-01"},
             {"id": "2", "stage": "closedlost", **ids, "closedlost": "2023-02-03"},
             {"id": "3", "stage": "contractsent", **ids}]  # fmt: skip
    path = _hubspot(tmp_path / "hs", deals, pipes)
    for pipeline in ("default", "Sales Pipeline", ""):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False).assign(pipeline=pipeline)
        frame.to_csv(path, index=False)
        h = read_history(path)
        assert list(h.deals.sort_values("deal")["outcome"]) == ["won", "lost", "open"], pipeline
    frame.assign(pipeline="Enterprise").to_csv(path, index=False)
    with pytest.raises(ScenarioError) as err:
        read_history(path)
    assert "'Enterprise' is not in pipelines.json" in str(err.value)
    assert "'Renewals' (id 777)" in str(err.value)
