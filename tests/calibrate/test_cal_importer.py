"""Importing CRM exports: mappings, presets, and every dirty-data rule counted exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from calib_helpers import DIRTY_COUNTS, add_dirty_rows, truth
from typer.testing import CliRunner

from simsales.calibrate.importer import read_history
from simsales.calibrate.mapping import resolve_mapping
from simsales.calibrate.quality import DataError
from simsales.calibrate.synthetic import opportunity_rows, stage_change_rows
from simsales.errors import ScenarioError


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return opportunity_rows(truth(), "2021-03-31", seed=1)


def test_clean_synthetic_export_has_no_problems(clean: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    clean.to_csv(path, index=False)
    h = read_history(path)  # the Maven column names: the preset is recognised
    assert h.report.problems == []
    assert h.report.deals_used == len(clean)
    assert set(h.deals["outcome"]) == {"won", "lost", "open"}
    assert (h.deals["outcome"] == "open").sum() == (clean["deal_stage"] == "Engaging").sum()
    assert h.snapshot <= pd.Timestamp("2021-03-31")


def test_each_dirty_rule_counts_exactly_its_rows(clean: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "dirty.csv"
    add_dirty_rows(clean).to_csv(path, index=False)
    h = read_history(path)
    counts = {rule: h.report.count(rule) for rule in DIRTY_COUNTS}
    assert counts == DIRTY_COUNTS
    dropped = sum(i.rows for i in h.report.issues if i.action == "dropped")
    assert h.report.deals_used == h.report.rows_read - dropped
    # Every issue names examples that point at real lines.
    for issue in h.report.problems:
        assert issue.examples and all(e.startswith("line ") for e in issue.examples)
    spelling = next(i for i in h.report.issues if i.rule == "product_spelling")
    assert "'Alpha'" in spelling.message and "'ALPHA'" in spelling.message
    assert set(h.deals["product"]) == {"alpha", "beta"}
    assert h.deals["deal"].is_unique


def test_strict_refuses_a_dirty_export_with_the_report(clean: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "dirty.csv"
    add_dirty_rows(clean).to_csv(path, index=False)
    with pytest.raises(DataError, match="--strict: 11 data problems") as err:
        read_history(path, strict=True)
    assert err.value.report.count("bad_date") == 4
    read_history(path)  # without --strict it goes on


def test_strict_cli_exits_2_and_prints_the_report(cli, clean, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "dirty.csv"
    add_dirty_rows(clean).to_csv(path, index=False)
    out = tmp_path / "s.yaml"
    res = CliRunner().invoke(cli, ["calibrate", str(path), "--strict", "-o", str(out)])
    assert res.exit_code == 2
    assert "unknown_stage: 3 rows dropped" in res.output
    assert not out.exists()


def test_mapping_file_and_column_flags(clean: pd.DataFrame, tmp_path: Path) -> None:
    renamed = clean.rename(columns={"opportunity_id": "Opp ID", "engage_date": "Start"})
    path = tmp_path / "r.csv"
    renamed.to_csv(path, index=False)
    with pytest.raises(ScenarioError, match="matches no preset") as err:
        read_history(path)  # the other columns are recognised by their names; these two not
    assert [p.path for p in err.value.problems] == ["columns.id", "columns.engaged"]
    h = read_history(path, preset="maven", columns={"id": "Opp ID", "engaged": "Start"})
    assert h.report.deals_used == len(clean)
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "shape: opportunities\n"
        "columns: {id: Opp ID, stage: deal_stage, engaged: Start, closed: close_date,\n"
        "          value: close_value, product: product, owner: sales_agent}\n"
        "labels: {won: [won], lost: [LOST], open: [engaging]}\n",
        encoding="utf-8",
    )
    h2 = read_history(path, mapping_file=mapping)
    assert h2.report.problems == [] and len(h2.deals) == len(clean)
    with pytest.raises(
        ScenarioError, match=r"column 'Start ' \(for engaged, given by --column engaged=Start \)"
    ):
        read_history(path, preset="maven", columns={"id": "Opp ID", "engaged": "Start "})


def test_mapping_errors_are_clear() -> None:
    with pytest.raises(ScenarioError, match=r"unknown preset 'mavn'.*did you mean 'maven'"):
        resolve_mapping("mavn")
    with pytest.raises(ScenarioError, match=r"unknown field 'engage'.*did you mean 'engaged'"):
        resolve_mapping(
            mapping={"columns": {"id": "a", "stage": "b", "engage": "c", "closed": "d"}}
        )
    with pytest.raises(ScenarioError, match="needs a column for engaged"):
        resolve_mapping(mapping={"columns": {"id": "a", "stage": "b", "closed": "d"}})


def test_a_column_flag_naming_no_column_says_the_export_and_the_flag(tmp_path: Path) -> None:
    """--column closed=Close Dte: the export's file is named (not a mapping file: there is
    none), with the flag as given and the column it likely meant."""
    path = tmp_path / "deals.csv"
    pd.DataFrame({"Deal ID": ["1"], "Stage": ["Won"], "Created": ["2023-01-02"],
                  "Close Date": ["2023-02-01"]}).to_csv(path, index=False)  # fmt: skip
    with pytest.raises(ScenarioError) as caught:
        read_history(path, columns={"closed": "Close Dte"})
    text = str(caught.value)
    assert text.startswith(f"{path}: columns.closed:")
    assert "--column closed=Close Dte" in text and "did you mean 'Close Date'" in text


def test_a_label_the_mapping_names_that_no_row_has_gets_a_did_you_mean(tmp_path: Path) -> None:
    """A mapping file's stage_order, labels or states naming a label no row has (a typo:
    Proposl for Proposal, Closed Wn for Closed Won) is reported with the nearest label the
    rows have; the labels it does find say nothing."""
    path = tmp_path / "history.csv"
    pd.DataFrame({
        "Opportunity ID": ["1", "1", "1", "2", "2", "3", "3"],
        "Stage": ["Qualification", "Proposal", "Closed Won", "Qualification", "Closed Lost",
                  "Qualification", "Proposal"],
        "Edit Date": ["2023-01-07", "2023-01-17", "2023-02-01", "2023-01-08", "2023-02-10",
                      "2023-01-11", "2023-01-19"],
    }).to_csv(path, index=False)  # fmt: skip
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "shape: stage_changes\ncolumns: {id: Opportunity ID, stage: Stage, entered: Edit Date}\n"
        "stage_order: [Qualification, Proposl]\nlabels: {won: [Closed Wn], lost: [Closed Lost]}\n"
        "states: {Qualifcation: Qualification}\n",
        encoding="utf-8",
    )
    issues = [i for i in read_history(path, mapping_file=mapping).report.issues
              if i.rule == "unmatched_label"]  # fmt: skip
    said = " ".join(i.message for i in issues)
    assert len(issues) == 3 and "Closed Lost" not in said
    for typo, meant in (("Proposl", "Proposal"), ("Closed Wn", "Closed Won"),
                        ("Qualifcation", "Qualification")):  # fmt: skip
        assert f"{typo!r}" in said and f"did you mean {meant!r}" in said


def test_stage_change_export_gives_visits_per_stage(tmp_path: Path) -> None:
    s = truth(
        stages=[
            {"id": "qualify", "duration": {"lognormal": {"p50": 8, "p90": 20}}, "advance": 0.7},
            {"id": "propose", "duration": {"lognormal": {"p50": 15, "p90": 40}}, "advance": 0.8},
        ],
        deal_types={"alpha": {"value": {"fixed": 100}}},
        arrivals=[{"type": "alpha", "per_month": 20}],
        horizon="2020-12-31",
    )
    rows = stage_change_rows(s, "2020-09-30", seed=3)
    rows = pd.concat([rows, rows.iloc[[0]]], ignore_index=True)  # one exact duplicate
    path = tmp_path / "changes.csv"
    rows.to_csv(path, index=False)
    h = read_history(path, preset="stage-changes", columns={"product": "product", "value": "value"})
    assert h.stages == ("qualify", "propose")
    assert h.report.count("duplicate_row") == 1
    assert h.report.count("stage_order") == 2  # inferred, reported as info
    n_deals = rows["id"].nunique()
    assert len(h.deals) == n_deals
    finished = h.visits[h.visits["exit"] != "open"]
    # the contract's exits: won from the last stage, advance from the first (no skips here)
    assert set(finished["exit"]) == {"advance", "won", "lost"}
    assert set(finished.loc[finished["exit"] == "won", "stage"]) == {"propose"}
    assert (finished.loc[finished["exit"] == "advance", "to"] == "propose").all()
    won = h.deals[h.deals["outcome"] == "won"]
    assert (won["value"] == 100).all()


def test_an_open_deal_with_a_close_date_stays_open_with_it_as_its_expected_close(
    clean: pd.DataFrame, tmp_path: Path
) -> None:
    """Salesforce-like exports give every open opportunity a close date (when it is expected
    to close): the deal is open, not dropped, and the date is its expected close."""
    rows = clean.copy()
    open_rows = rows.index[rows["deal_stage"] == "Engaging"][:3]
    rows.loc[open_rows, "close_date"] = ["2021-05-15", "2021-02-01", "2021-06-30"]
    path = tmp_path / "expected.csv"
    rows.to_csv(path, index=False)
    h = read_history(path, exported="2021-03-31")
    ids = list(rows.loc[open_rows, "opportunity_id"])
    got = h.deals.set_index("deal").loc[ids]
    assert list(got["outcome"]) == ["open"] * 3 and got["closed"].isna().all()
    assert [str(d.date()) for d in got["expected_close"]] == ["2021-05-15", "2021-02-01",
                                                              "2021-06-30"]  # fmt: skip
    issue = next(i for i in h.report.issues if i.rule == "open_with_close_date")
    assert issue.action == "info" and issue.rows == 3
    assert set(ids) <= set(h.deals["deal"])
