"""Every source reader against exports generated from a known truth (tests/data/generate.py).

The as-of cut test: an export written as the CRM held it at the end of day D must calibrate
exactly like the full export with ``--as-of D`` (nothing known later may leak in)."""

from __future__ import annotations

import math
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import simsales
from simsales.calibrate.calibrate import calibrate
from simsales.calibrate.history import FORWARD_EXITS
from simsales.calibrate.importer import read_history
from simsales.errors import ScenarioError

DATA = Path(__file__).resolve().parents[1] / "data"
sys.path.insert(0, str(DATA))
import generate  # noqa: E402

SOURCES = ("salesforce", "hubspot", "pingcode", "worktile")
ZONE = {"salesforce": "UTC", "hubspot": "UTC", "pingcode": "Asia/Shanghai",
        "worktile": "Asia/Shanghai"}  # fmt: skip  # the zone each writer cuts its days in
CUT = date(2023, 4, 30)


def _scenario(path: Path, source: str, as_of: date) -> dict[str, Any]:
    h = read_history(path, preset=source, timezone=ZONE[source])
    s = calibrate(h, as_of).scenario()
    # the name and description cite the source folder and its size: not calibration
    return {k: v for k, v in s.items() if k not in ("name", "description")}


@pytest.mark.parametrize("source", SOURCES)
def test_an_export_cut_at_d_calibrates_like_the_full_export_as_of_d(
    source: str, tmp_path: Path
) -> None:
    cut = generate.write(source, tmp_path / source, as_of=CUT)
    full = DATA / source
    from_cut, from_full = _scenario(cut, source, CUT), _scenario(full, source, CUT)
    # A rep's close date that changed after D is unknown in an export without field history
    # (HubSpot): the full export may know less than the cut, never something else.
    for then, now in zip(from_cut["pipeline"], from_full["pipeline"], strict=True):
        assert now.get("target_close") in (None, then.get("target_close")), then["id"]
        then.pop("target_close", None), now.pop("target_close", None)
    assert from_cut == from_full
    # ...and the full export knows more: as of its end the calibration differs
    assert _scenario(full, source, generate.END) != _scenario(full, source, CUT)


def test_the_cut_test_would_catch_a_wrong_time_zone(tmp_path: Path) -> None:
    """PingCode's days are Shanghai days (UTC+8): read as UTC, a change made between 16:00
    and midnight UTC belongs to the next Shanghai day, so the cut and the full export part."""
    full = read_history(DATA / "pingcode", timezone="UTC")
    at = full.path["at"]
    late = at[(at.dt.hour >= 16) & (at >= "2023-04-01")].min()  # first such change in April
    day = late.date()
    cut = generate.write("pingcode", tmp_path / "p", as_of=day)
    drop = ("name", "description")
    a = calibrate(read_history(cut, preset="pingcode", timezone="UTC"), day).scenario()
    b = calibrate(full, day).scenario()
    assert {k: v for k, v in a.items() if k not in drop} != {
        k: v for k, v in b.items() if k not in drop
    }
    a = calibrate(read_history(cut, preset="pingcode", timezone="Asia/Shanghai"), day).scenario()
    b = calibrate(read_history(DATA / "pingcode", timezone="Asia/Shanghai"), day).scenario()
    assert {k: v for k, v in a.items() if k not in drop} == {
        k: v for k, v in b.items() if k not in drop
    }


@pytest.mark.parametrize("source", SOURCES)
def test_committed_exports_are_what_the_generator_writes(source: str, tmp_path: Path) -> None:
    from simsales.calibrate.sources.files import read_table

    out = generate.write(source, tmp_path / source)
    for f in sorted(out.iterdir()):
        if f.suffix == ".xlsx":  # a workbook's bytes carry its write time: compare the cells
            pd.testing.assert_frame_equal(read_table(f)[0], read_table(DATA / source / f.name)[0])
        else:
            assert f.read_bytes() == (DATA / source / f.name).read_bytes(), f.name


def test_salesforce_recovers_the_truth_in_one_currency() -> None:
    h = read_history(DATA / "salesforce")  # recognised as a Salesforce folder
    assert h.currency == "USD"
    assert h.stages == ("qualification", "needs-analysis", "proposal", "negotiation")
    assert "cp1252" in h.report.lines()[1]  # Latin-1 text: Société Générale
    assert "Société Générale" in set(h.deals["account"])
    assert set(h.deals["currency"]) == set(generate.CURRENCIES)
    won = h.deals[h.deals["outcome"] == "won"]
    for kind, truth in generate.TYPES.items():
        v = won.loc[won["product"] == kind, "value"].dropna()
        # log-median error: 3 standard errors of a lognormal median (1.25 sdlog / sqrt n),
        # sdlog = the value's 0.5 and the amount changes along the stages (~0.17), plus 0.05
        # for the rate drift between the day a deal was priced and the day it closed
        sd = math.hypot(generate.VALUE_SDLOG, 0.17)
        tol = 3 * 1.25 * sd / math.sqrt(len(v)) + 0.05
        assert abs(math.log(v.median() / truth)) < tol, (kind, v.median(), tol)
    # converted, the currencies agree with each other (raw JPY amounts are 135x USD)
    by_cur = won.assign(lv=np.log(won["value"])).groupby("currency")["lv"]
    spread = by_cur.median().max() - by_cur.median().min()
    assert spread < 3 * 1.25 * 0.75 / math.sqrt(by_cur.size().min()) * math.sqrt(2)
    # time order, not file order: each deal's last snapshot is its current state
    assert h.snapshots["at"].is_monotonic_increasing
    last = h.snapshots.sort_values("at").groupby("deal").last()
    assert (last["stage"].reindex(won["deal"]) == "won").all()


def test_exits_and_quirks_are_counted_as_the_truth_has_them() -> None:
    h = read_history(DATA / "salesforce")
    v = h.visits
    assert {"advance", "skip", "rework", "won", "lost", "open"} == set(v["exit"])
    assert set(v.loc[v["exit"] == "skip", ["stage", "to"]].itertuples(index=False)) == {
        ("qualification", "proposal")
    }  # the only skip in the truth
    assert set(v.loc[v["exit"] == "won", "stage"]) == {"proposal", "negotiation"}
    done = v[v["exit"] != "open"]
    # click-throughs: CLICK of the finished visits; 3 binomial standard errors
    expect = generate.CLICK * len(done)
    assert abs(h.report.count("click_through") - expect) < 3 * math.sqrt(expect)
    assert h.report.count("reopened") > 0  # reopened losses: the deal went on
    # forward shares per stage against the truth's exits (reopened losses, REOPEN of them,
    # turn into continuations: + REOPEN * lost share); 3 binomial standard errors
    for i, stage in enumerate(h.stages):
        exits = dict(generate.EXITS[i])
        fwd = sum(p for to, p in exits.items() if to == "won" or (isinstance(to, int) and to > i))
        lost = exits["lost"]
        truth = (fwd + generate.REOPEN * lost * fwd / (fwd + lost)) / (fwd + lost)
        mine = v[(v["stage"] == stage) & v["exit"].isin([*FORWARD_EXITS, "lost"])]
        share = mine["exit"].isin(FORWARD_EXITS).mean()
        tol = 3 * math.sqrt(truth * (1 - truth) / len(mine))
        assert abs(share - truth) < tol, (stage, share, truth, tol)


def test_hubspot_without_pipelines_file_infers_the_order(tmp_path: Path) -> None:
    shutil.copy(DATA / "hubspot" / "deals.csv", tmp_path / "deals.csv")
    h = read_history(tmp_path / "deals.csv")  # recognised from hs_v2_date_entered_*
    assert h.stages == generate.HS_IDS  # internal ids, in the order of the data
    assert "reach first" in str(h.report.issues)
    named = read_history(DATA / "hubspot" / "deals.csv")
    assert named.stage_names["proposal"] == "Proposal"
    assert named.stage_probability["negotiation"] == 0.75
    assert (named.deals["outcome"] == "won").sum() == (h.deals["outcome"] == "won").sum()


def test_salesforce_stage_file_orders_and_names_the_closed_stages(tmp_path: Path) -> None:
    folder = shutil.copytree(DATA / "salesforce", tmp_path / "sf")
    pd.DataFrame(
        {"MasterLabel": ["Negotiation", "Proposal", "Closed Won", "Needs Analysis",
                         "Qualification", "Closed Lost"],
         "SortOrder": [4, 3, 5, 2, 1, 6], "IsClosed": ["false"] * 2 + ["true", "false", "false",
                                                                      "true"],
         "IsWon": ["false", "false", "true", "false", "false", "false"],
         "DefaultProbability": [75, 50, 100, 20, 10, 0],
         "ForecastCategoryName": ["Commit", "Best Case", "Closed", "Pipeline", "Pipeline",
                                  "Omitted"]}
    ).to_csv(folder / "OpportunityStage.csv", index=False)  # fmt: skip
    h = read_history(folder, preset="salesforce")
    assert h.stages == ("qualification", "needs-analysis", "proposal", "negotiation")
    assert "SortOrder" in str(h.report.issues)
    assert h.stage_forecast["proposal"] == "best_case"


def test_pingcode_workloads_give_hours_per_stage() -> None:
    h = read_history(DATA / "pingcode", timezone="Asia/Shanghai")
    assert h.currency == "CNY" and len(h.efforts) > 0
    assert set(h.efforts["stage"]) <= set(h.stages)
    assert h.efforts["hours"].between(1, 6).all()
    # a report falls inside the visit of the stage it is counted in
    v = h.visits.merge(h.efforts, on=["deal", "stage"])
    inside = (v["at"] >= v["entered"]) & ((v["at"] < v["left"]) | v["left"].isna())
    assert inside.groupby([v["deal"], v["at"]]).any().all()


def test_worktile_and_pingcode_of_one_truth_calibrate_alike() -> None:
    a = calibrate(read_history(DATA / "worktile", timezone="Asia/Shanghai"), CUT)
    b = calibrate(read_history(DATA / "pingcode", timezone="Asia/Shanghai"), CUT)
    assert [s.duration.median for s in a.stages] == pytest.approx(
        [s.duration.median for s in b.stages], rel=1e-9
    )
    # 合同金额 is written in 万 (10^4): the values agree with PingCode's plain numbers
    assert [g.value.median for g in a.groups if g.value] == pytest.approx(
        [g.value.median for g in b.groups if g.value], rel=1e-3
    )


def test_a_mapping_file_renames_states_and_orders_stages(tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    m.write_text(
        "states: {需求分析: 方案报价}\nstage_order: [线索, 方案报价, 商务谈判]\n", encoding="utf-8"
    )
    h = read_history(DATA / "pingcode", mapping_file=m, timezone="Asia/Shanghai")
    assert h.stages == ("线索", "方案报价", "商务谈判")
    assert h.report.count("states") == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage_ordre: [a]\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="unknown key 'stage_ordre'"):
        read_history(DATA / "pingcode", mapping_file=bad)


@pytest.mark.parametrize("source", SOURCES)
def test_cli_writes_a_scenario_that_validates(cli, source: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "x.yaml"
    args = ["calibrate", str(DATA / source), "--preset", source, "--as-of", "2023-04-30",
            "--timezone", ZONE[source], "-o", str(out)]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    s = simsales.load(out)
    assert len(s.stages) == 4 and s.deals()


def test_cli_prints_a_scenario_only_if_it_loads(cli, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    args = ["calibrate", str(DATA / "hubspot"), "--as-of", "2023-04-30"]
    ok = CliRunner().invoke(cli, args)
    assert ok.exit_code == 0 and "stages:" in ok.stdout
    from simsales.calibrate.calibrate import Calibration

    monkeypatch.setattr(Calibration, "to_yaml", lambda self: "name: x\nstages: []\nbogus: 1\n")
    bad = CliRunner().invoke(cli, args)
    assert bad.exit_code == 2 and "bogus" in bad.output and "stages: []" not in bad.stdout


def test_cli_input_errors_exit_2_with_a_hint(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = CliRunner().invoke
    res = run(cli, ["calibrate", str(DATA / "salesforce"), "--preset", "salesfroce"])
    assert res.exit_code == 2 and "did you mean 'salesforce'" in res.output
    res = run(cli, ["calibrate", str(DATA / "pingcode"), "--timezone", "Asia/Shangai"])
    assert res.exit_code == 2 and "IANA" in res.output
    res = run(cli, ["calibrate", str(tmp_path)])
    assert res.exit_code == 2 and "folder" in res.output
    res = run(cli, ["calibrate", str(DATA / "worktile" / "workloads.csv"), "--encoding", "utf-8"])
    assert res.exit_code == 2 and "--encoding" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("shape", ["maven", "stage-changes"])
def test_the_generic_shapes_pass_the_cut_test_too(shape: str, tmp_path: Path) -> None:
    from calib_helpers import truth

    from simsales.calibrate.synthetic import opportunity_rows, stage_change_rows

    s = truth(
        stages=[
            {"id": "qualify", "duration": {"lognormal": {"p50": 8, "p90": 20}}, "advance": 0.7},
            {"id": "propose", "duration": {"lognormal": {"p50": 15, "p90": 40}}, "advance": 0.8},
        ],
        deal_types={"alpha": {"value": {"lognormal": {"p50": 100, "p90": 200}}}},
        arrivals=[{"type": "alpha", "per_month": 20}],
    ) if shape == "stage-changes" else truth()  # fmt: skip
    rows = stage_change_rows if shape == "stage-changes" else opportunity_rows
    cols = {"product": "product", "value": "value"} if shape == "stage-changes" else None
    got = []
    for snapshot in ("2021-03-31", "2021-09-30"):  # one replication, cut at two dates
        p = tmp_path / f"{snapshot}.csv"
        rows(s, snapshot, seed=4).to_csv(p, index=False)
        h = read_history(p, preset=shape, columns=cols)
        sc = calibrate(h, "2021-03-31").scenario()
        if shape == "maven":  # opportunity_rows draws ids, owners, accounts per export
            keys = ("type", "stage", "days_in_stage", "value")
            sc["pipeline"] = sorted(tuple(str(d.get(k)) for k in keys) for d in sc["pipeline"])
        got.append({k: v for k, v in sc.items() if k not in ("name", "description")})
    assert got[0] == got[1]


def test_hubspot_view_export_labels_and_legacy_columns(tmp_path: Path) -> None:
    """The deals view's own export: column labels, ``Date entered "<Stage> (<Pipeline>)"``."""
    frame = pd.read_csv(DATA / "hubspot" / "deals.csv", dtype=str, keep_default_na=False)
    names = dict(zip(generate.HS_IDS, generate.STAGES, strict=True)) | {
        "closedwon": "Closed Won", "closedlost": "Closed Lost"
    }  # fmt: skip
    ui = {
        "hs_object_id": "Record ID",
        "dealstage": "Deal Stage",
        "createdate": "Create Date",
        "closedate": "Close Date",
        "amount_in_home_currency": "Amount in company currency",
        "hubspot_owner_id": "Deal owner",
        "dealtype": "Deal Type",
        "pipeline": "Pipeline",
    }
    for sid, label in names.items():
        ui[f"hs_v2_date_entered_{sid}"] = f'Date entered "{label} (Sales Pipeline)"'
    view = frame[[c for c in frame.columns if c in ui]].rename(columns=ui)
    view["Deal Stage"] = view["Deal Stage"].map(names)
    view.to_csv(tmp_path / "view.csv", index=False)
    a = read_history(tmp_path / "view.csv")  # recognised, no pipelines file
    b = read_history(DATA / "hubspot" / "deals.csv")
    assert a.stages == b.stages
    pd.testing.assert_frame_equal(a.visits, b.visits)
    # the legacy property alone gives the same path
    legacy = frame.rename(columns=lambda c: c.replace("hs_v2_date_entered_", "hs_date_entered_"))
    legacy.to_csv(tmp_path / "deals.csv", index=False)
    shutil.copy(DATA / "hubspot" / "pipelines.json", tmp_path / "pipelines.json")
    pd.testing.assert_frame_equal(read_history(tmp_path / "deals.csv").visits, b.visits)


def test_hubspot_api_objects_read_like_the_property_export(tmp_path: Path) -> None:
    """The CRM API's deals (``{"results": [{"id", "properties": {...}}], "paging"}``), as
    saved from a search or list call: its properties are the export's columns, the
    ``hs_v2_date_entered_*`` history included."""
    import json

    frame = pd.read_csv(DATA / "hubspot" / "deals.csv", dtype=str, keep_default_na=False)
    results = [{"id": r["hs_object_id"], "archived": False,
                "properties": {k: v or None for k, v in r.items()}}
               for r in frame.to_dict("records")]  # fmt: skip
    page = {"results": results, "paging": {"next": {"after": "100"}}}
    (tmp_path / "deals.json").write_text(json.dumps(page), encoding="utf-8")
    shutil.copy(DATA / "hubspot" / "pipelines.json", tmp_path / "pipelines.json")
    a = read_history(tmp_path / "deals.json")
    b = read_history(DATA / "hubspot" / "deals.csv")
    assert a.stages == b.stages
    pd.testing.assert_frame_equal(a.visits, b.visits)


def test_backtest_runs_on_a_salesforce_folder(cli) -> None:  # type: ignore[no-untyped-def]
    args = ["backtest", str(DATA / "salesforce"), "--preset", "salesforce", "--as-of",
            "2023-03-31", "--until", "2023-06-30", "-n", "20", "--json"]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    import json

    out = json.loads(res.stdout)
    assert out["origins"][0]["actual"]["won"] > 0  # the JSON shape of issue 12


def test_salesforce_dated_rate_is_the_close_day_rate() -> None:
    usd = read_history(DATA / "salesforce")
    eur = read_history(DATA / "salesforce", currency="EUR")
    assert eur.currency == "EUR"
    won = usd.deals["outcome"] == "won"
    ratio = (eur.deals["value"] / usd.deals["value"])[won]
    # the generator's EUR rate of the month the deal closed (DatedConversionRate: 6 decimals)
    expect = usd.deals.loc[won, "closed"].map(lambda t: generate.rate("EUR", t.date()))
    assert np.allclose(ratio, expect, rtol=1e-5)


def test_pingcode_as_csv_reads_like_its_json(tmp_path: Path) -> None:
    from simsales.calibrate.sources.pingcode import read_any

    for name in ("work_items", "transition_histories", "workloads"):
        read_any(DATA / "pingcode" / f"{name}.json", None).to_csv(
            tmp_path / f"{name}.csv", index=False, encoding="gb18030"
        )
    a = read_history(tmp_path, preset="pingcode", timezone="Asia/Shanghai")
    b = read_history(DATA / "pingcode", timezone="Asia/Shanghai")
    pd.testing.assert_frame_equal(a.visits, b.visits)
    pd.testing.assert_frame_equal(a.efforts, b.efforts)


@pytest.mark.parametrize("source", SOURCES)
def test_known_at_is_the_history_of_the_export_cut_that_day(source: str, tmp_path: Path) -> None:
    """Contract: ``known_at(D)`` of the full export is the history of the export cut at D: deals
    (probability, category, value, stage, outcome), visits, snapshots and workloads alike."""
    cut = read_history(generate.write(source, tmp_path / source, as_of=CUT), preset=source,
                       timezone=ZONE[source])  # fmt: skip
    full = read_history(DATA / source, preset=source, timezone=ZONE[source]).known_at(CUT)
    # `line` is a row's position in its file; a deals export without field history (HubSpot)
    # cannot know a moved deal's close date of the day: unknown, where the cut export has it
    drop = ["line"] + (["expected_close"] if full.snapshots.empty else [])
    deals = [h.deals.drop(columns=drop).sort_values("deal").reset_index(drop=True)
             for h in (cut, full)]  # fmt: skip
    pd.testing.assert_frame_equal(*deals)
    for table in ("visits", "snapshots", "efforts"):
        pd.testing.assert_frame_equal(getattr(cut, table), getattr(full, table), obj=table)
    if source != "hubspot":
        assert full.snapshots.empty == (source != "salesforce")
    if source in ("pingcode", "worktile"):
        assert len(full.efforts) > 0


def _work_item_exports(folder: Path) -> dict[str, Path]:
    """Three deals as a PingCode export (open API field names, CSV, unix seconds) and as a
    Worktile one (its Chinese headers): 线索 -> 需求分析 -> 商务谈判 -> 赢单 / 输单."""
    day = 86400
    start = 1672531200  # 2023-01-01 UTC
    moves = [("CRM-1", "线索", "需求分析", 3), ("CRM-1", "需求分析", "商务谈判", 9),
             ("CRM-1", "商务谈判", "赢单", 20), ("CRM-2", "线索", "需求分析", 4),
             ("CRM-2", "需求分析", "输单", 12), ("CRM-3", "线索", "需求分析", 6)]  # fmt: skip
    items = [("CRM-1", "赢单", 1), ("CRM-2", "输单", 2), ("CRM-3", "需求分析", 5)]
    ping, tile = folder / "pingcode", folder / "worktile"
    ping.mkdir()
    tile.mkdir()
    pd.DataFrame({"identifier": [i for i, _, _ in items], "state.name": [s for _, s, _ in items],
                  "created_at": [start + d * day for *_, d in items],
                  "properties.amount": [1000, 2000, 3000]}).to_csv(
        ping / "work_items.csv", index=False)  # fmt: skip
    pd.DataFrame({"work_item.identifier": [m[0] for m in moves],
                  "from_state.name": [m[1] for m in moves], "to_state.name": [m[2] for m in moves],
                  "created_at": [start + m[3] * day for m in moves]}).to_csv(
        ping / "transition_histories.csv", index=False)  # fmt: skip
    when = pd.to_datetime([start + d * day for *_, d in items], unit="s").strftime("%Y-%m-%d")
    pd.DataFrame({"任务编号": [i for i, _, _ in items], "任务状态": [s for _, s, _ in items],
                  "创建时间": when, "合同金额": [1000, 2000, 3000]}).to_csv(
        tile / "tasks.csv", index=False)  # fmt: skip
    moved = pd.to_datetime([start + m[3] * day for m in moves], unit="s").strftime("%Y-%m-%d")
    pd.DataFrame({"任务编号": [m[0] for m in moves], "原状态": [m[1] for m in moves],
                  "新状态": [m[2] for m in moves], "变更时间": moved}).to_csv(
        tile / "state_changes.csv", index=False)  # fmt: skip
    return {"pingcode": ping, "worktile": tile}


@pytest.mark.parametrize("source", ["pingcode", "worktile"])
def test_a_state_rename_no_row_has_is_said_with_the_nearest_state(
    source: str, tmp_path: Path
) -> None:
    """A mapping file's ``states`` rename for PingCode and Worktile: a state no item or
    transition has (a typo) is a warning with the nearest one, the report counts only the
    renames that matched, and ``columns`` is refused (named fields: ``--column``)."""
    folder = _work_item_exports(tmp_path)[source]
    m = tmp_path / "m.yaml"
    m.write_text("states: {需求分析: 方案报价, 商务谈盘: 谈判}\n", encoding="utf-8")
    h = read_history(folder, mapping_file=m, timezone="Asia/Shanghai")
    assert "方案报价" in h.stages
    typo = [i for i in h.report.issues if i.rule == "unmatched_label"]
    assert len(typo) == 1 and "'商务谈盘'" in typo[0].message and "'商务谈判'" in typo[0].message
    renamed = next(i for i in h.report.issues if i.rule == "states")
    assert renamed.message.startswith("1 states renamed") and renamed.examples == (
        "需求分析 -> 方案报价",
    )
    # a key these exports' own field names make meaningless is refused, not ignored
    m.write_text("columns: {owner: 负责人}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"'columns'.*--column FIELD=COLUMN"):
        read_history(folder, mapping_file=m, timezone="Asia/Shanghai")


@pytest.mark.parametrize(
    ("source", "file"), [("salesforce", "OpportunityHistory.csv"), ("hubspot", "deals.csv")]
)
def test_a_mapping_file_applies_to_a_salesforce_or_hubspot_export(
    source: str, file: str, tmp_path: Path
) -> None:
    """A Salesforce or HubSpot export read with a mapping file takes its state renames and
    time zone (a renamed stage keeps its place in the order, a closed one its verdict), says a
    misspelt state with the nearest, and refuses a key its own field names make meaningless."""
    folder = shutil.copytree(DATA / source, tmp_path / source)
    m = tmp_path / "m.yaml"
    m.write_text("states: {Proposal: Quote, Negotation: Deal, Closed Won: Signed}\n"
                 "timezone: Asia/Tokyo\n", encoding="utf-8")  # fmt: skip
    h = read_history(folder, mapping_file=m)
    assert h.stages == ("qualification", "needs-analysis", "quote", "negotiation")
    tokyo = read_history(folder, timezone="Asia/Tokyo")
    assert (h.deals["outcome"] == "won").sum() == (tokyo.deals["outcome"] == "won").sum() > 0
    assert h.visits["entered"].tolist() == tokyo.visits["entered"].tolist()
    assert h.visits["entered"].tolist() != read_history(folder).visits["entered"].tolist()
    # the export's file given on its own, with the mapping, is still read as the source's
    assert read_history(folder / file, mapping_file=m).stages == h.stages
    typo = [i for i in h.report.issues if i.rule == "unmatched_label"]
    assert len(typo) == 1 and "'Negotation'" in typo[0].message and "'Negotiation'" in str(typo)
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: {team: Region}\n", encoding="utf-8")
    name = {"salesforce": "Salesforce", "hubspot": "HubSpot"}[source]
    with pytest.raises(ScenarioError, match=rf"'columns'.*{name}"):
        read_history(folder, mapping_file=bad)


def _stage_changes_with_offsets(folder: Path) -> Path:
    folder.mkdir()
    pd.DataFrame(
        {"id": ["a", "a", "b", "b"], "stage": ["Qualify", "Won", "Qualify", "Lost"],
         "entered_at": ["2023-01-05T10:00:00+00:00", "2023-01-09T20:00:00+00:00",
                        "2023-01-06T01:00:00+00:00", "2023-01-07T22:00:00+00:00"]}
    ).to_csv(folder / "changes.csv", index=False)  # fmt: skip
    return folder / "changes.csv"


@pytest.mark.parametrize("source", ["salesforce", "hubspot", "pingcode", "worktile", "generic"])
def test_the_timezone_flag_wins_over_the_mapping_files_and_says_so(
    source: str, tmp_path: Path
) -> None:
    """``--timezone`` is given for this run, a mapping file is kept for many: the flag wins
    for every source, and a mapping file's other zone is said; the file's zone applies alone."""
    path = (
        _stage_changes_with_offsets(tmp_path / source)
        if source == "generic"
        else shutil.copytree(DATA / source, tmp_path / source)
    )
    preset = "stage-changes" if source == "generic" else None
    m = tmp_path / "m.yaml"
    m.write_text("timezone: Asia/Tokyo\n", encoding="utf-8")
    flag = "America/New_York"
    both = read_history(path, preset=preset, mapping_file=m, timezone=flag)
    by_flag = read_history(path, preset=preset, timezone=flag)
    entered = both.visits["entered"].tolist()
    assert entered == by_flag.visits["entered"].tolist()
    said = [i for i in both.report.issues if i.rule == "timezone"]
    assert len(said) == 1 and flag in said[0].message and "Asia/Tokyo" in said[0].message
    tokyo = read_history(path, preset=preset, timezone="Asia/Tokyo")
    alone = read_history(path, preset=preset, mapping_file=m)
    assert alone.visits["entered"].tolist() == tokyo.visits["entered"].tolist()
    assert not [i for i in alone.report.issues if i.rule == "timezone"]
    if source != "worktile":  # Worktile's times are its own wall clock's: no zone moves them
        assert entered != tokyo.visits["entered"].tolist()
