"""Exports of CRMs without a reader of their own, recognised by their column names: one
synthetic history written as each CRM writes it reads to the same deals as its plain form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from calib_helpers import truth

from simsales.calibrate.headers import recognise
from simsales.calibrate.importer import read_history
from simsales.calibrate.mapping import label_key, resolve_mapping
from simsales.calibrate.synthetic import opportunity_rows, synthetic_history, synthetic_mapping
from simsales.errors import ScenarioError

STAGES = ["Qualified", "Demo Scheduled", "Proposal Made", "Negotiations Started"]
CN_STAGES = ["初步接洽", "需求确认", "方案报价", "商务谈判"]


@pytest.fixture(scope="module")
def plain() -> pd.DataFrame:
    """The Maven-shaped export (one row per deal), its open deals spread over open stages."""
    rows = opportunity_rows(truth(), "2021-03-31", seed=5)
    rng = np.random.default_rng(5)
    rows["pipeline_stage"] = np.array(STAGES)[rng.integers(0, len(STAGES), len(rows))]
    return rows


def _deals(path: Path, **options: object) -> pd.DataFrame:
    h = read_history(path, **options)  # type: ignore[arg-type]
    return h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index()


def _reference(plain: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "plain.csv"
    plain.drop(columns="pipeline_stage").to_csv(path, index=False)
    return _deals(path)


def _outcome(plain: pd.DataFrame) -> pd.Series:
    return plain["deal_stage"].map({"Won": "won", "Lost": "lost"}).fillna("open")


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(got) == len(want) > 100
    assert list(got.index) == list(want.index)
    pd.testing.assert_series_equal(got["outcome"], want["outcome"])
    for col in ("opened", "closed"):  # dates the same day (one export writes times)
        a, b = got[col].dt.normalize(), want[col].dt.normalize()
        assert ((a == b) | (a.isna() & b.isna())).all(), col
    np.testing.assert_allclose(got["value"].fillna(-1), want["value"].fillna(-1))


def test_a_pipedrive_export_reads_like_its_plain_form(plain: pd.DataFrame, tmp_path: Path) -> None:
    outcome = _outcome(plain)
    when = plain["close_date"] + " 15:04:05"
    export = pd.DataFrame({
        "Deal - ID": plain["opportunity_id"],
        "Deal - Title": "Deal " + plain["opportunity_id"],
        "Deal - Value": plain["close_value"],
        "Deal - Currency": "EUR",
        "Deal - Status": outcome,  # Pipedrive's status: open / won / lost
        "Deal - Stage": plain["pipeline_stage"],  # the stage it was in, even when closed
        "Deal - Owner": plain["sales_agent"],
        "Deal - Organization": plain["account"],
        "Deal - Deal created": plain["engage_date"] + " 09:00:00",
        "Deal - Won time": when.where(outcome == "won", ""),
        "Deal - Lost time": when.where(outcome == "lost", ""),
        "Deal - Expected close date": "",
    })  # fmt: skip
    path = tmp_path / "pipedrive.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    note = next(i for i in h.report.issues if i.rule == "columns")
    assert "status ← 'Deal - Status'" in note.message
    assert "closed ← 'Deal - Won time' / 'Deal - Lost time'" in note.message
    # one currency written and none named: the scenario's is the export's own, values kept
    assert h.currency == "EUR" and h.report.count("unknown_currency") == 0
    got = h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index()
    _same(got, _reference(plain, tmp_path))


def test_a_row_of_group_captions_above_the_header_is_left_out(
    plain: pd.DataFrame, tmp_path: Path
) -> None:
    """Excel reports put merged captions over groups of columns ("Deal", "Dates"): that row
    has two cells, so it is no title, but the row under it names the deal fields."""
    export = pd.DataFrame({
        "Deal Name": plain["opportunity_id"], "Stage": plain["deal_stage"],
        "Amount": plain["close_value"], "Created": plain["engage_date"],
        "Close Date": plain["close_date"],
    })  # fmt: skip
    captions = ["Deal", "", "", "Dates", ""]
    csv_path = tmp_path / "grouped.csv"
    csv_path.write_text(",".join(captions) + "\n" + export.to_csv(index=False))
    xlsx_path = tmp_path / "grouped.xlsx"
    with pd.ExcelWriter(xlsx_path) as book:
        pd.DataFrame([["Pipeline report"], captions]).to_excel(book, index=False, header=False)
        export.to_excel(book, index=False, startrow=2)
    want = _deals_of(tmp_path / "flat.csv", export)
    for path, line in ((csv_path, 2), (xlsx_path, 3)):
        h = read_history(path)
        note = next(i for i in h.report.issues if i.rule == "title_rows").message
        assert f"header is on line {line}" in note, note
        got = h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index()
        pd.testing.assert_frame_equal(got, want)


def _deals_of(path: Path, export: pd.DataFrame) -> pd.DataFrame:
    export.to_csv(path, index=False)
    return _deals(path)


def test_a_zoho_export_reads_like_its_plain_form(plain: pd.DataFrame, tmp_path: Path) -> None:
    outcome = _outcome(plain)
    stage = plain["pipeline_stage"].where(outcome == "open", plain["deal_stage"])
    lost = outcome == "lost"
    stage = stage.where(~lost | (np.arange(len(plain)) % 2 == 0), "Closed Lost to Competition")
    stage = stage.replace({"Won": "Closed Won", "Lost": "Closed Lost"})
    export = pd.DataFrame({
        "Record Id": "zcrm_" + plain["opportunity_id"],
        "Deal Name": "Deal " + plain["opportunity_id"],
        "Deal Owner": plain["sales_agent"],
        "Amount": plain["close_value"],
        "Expected Revenue": "1",  # Amount x probability: not the value
        "Stage": stage,
        "Closing Date": plain["close_date"],
        "Created Time": plain["engage_date"] + " 10:11:12",
        "Modified Time": "2021-03-31 18:00:00",
    })  # fmt: skip
    path = tmp_path / "zoho.csv"
    export.to_csv(path, index=False)
    got = _deals(path)
    want = _reference(plain, tmp_path)
    want.index = "zcrm_" + want.index
    _same(got, want)


def test_a_chinese_crm_export_with_a_status_and_names_for_ids(
    plain: pd.DataFrame, tmp_path: Path
) -> None:
    """纷享销客 / 销售易 style, saved on Chinese Windows: no id column, so the deal's name is its
    id, and two different deals that share a name stay two deals."""
    names = "项目" + plain["opportunity_id"]
    names.iloc[1] = names.iloc[0]  # two deals, one name
    heads = ("商机名称", "客户名称", "商机金额", "销售阶段", "商机状态", "结单日期", "创建时间",
             "负责人")  # fmt: skip
    export = _chinese_crm(plain, names, heads, CN_STAGES, ("进行中", "赢单", "输单"))
    path = tmp_path / "商机.csv"
    export.to_csv(path, index=False, encoding="gb18030")
    h = read_history(path)
    assert h.report.count("duplicate_id") == 0
    got = h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]]
    want = _reference(plain, tmp_path)
    want.index = want.index.map(dict(zip(plain["opportunity_id"], names, strict=True)))
    want.index = pd.Index(
        [f"{n} (line 3)" if i == 1 else n for i, n in enumerate(want.index)], name="deal"
    )
    _same(got.sort_index(), want.sort_index())


def test_a_traditional_chinese_export_saved_on_a_taiwan_windows_reads_alike(
    plain: pd.DataFrame, tmp_path: Path
) -> None:
    """Big5 (code page 950), Traditional characters and Taiwan's words: the headers, the stage
    and status labels match the Simplified defaults."""
    heads = ("商機編號", "客戶名稱", "商機金額", "銷售階段", "商機狀態", "結案日期", "建立日期",
             "業務員")  # fmt: skip
    stages = ["初步接洽", "需求確認", "方案報價", "商務談判"]
    export = _chinese_crm(plain, plain["opportunity_id"], heads, stages, ("進行中", "贏單", "輸單"))
    path = tmp_path / "商機.csv"
    export.to_csv(path, index=False, encoding="cp950")
    h = read_history(path)
    assert "cp950" in next(i for i in h.report.issues if i.rule == "encoding").message
    assert h.currency == "TWD"  # a Traditional header: Taiwan dollars, said in the report
    note = next(i for i in h.report.issues if i.rule == "columns")
    assert "owner ← '業務員'" in note.message and "engaged ← '建立日期'" in note.message
    got = h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index()
    _same(got, _reference(plain, tmp_path))


def _chinese_crm(
    plain: pd.DataFrame,
    ids: pd.Series,
    heads: tuple[str, ...],
    stages: list[str],
    status: tuple[str, str, str],
) -> pd.DataFrame:
    """The plain export as a Chinese CRM writes it, in the given column names (id, account,
    amount, stage, status, close, created, owner), stage names and open / won / lost words."""
    columns = (
        ids, plain["account"], plain["close_value"],
        plain["pipeline_stage"].map(dict(zip(STAGES, stages, strict=True))),
        _outcome(plain).map(dict(zip(("open", "won", "lost"), status, strict=True))),
        plain["close_date"].str.replace("-", "/"), plain["engage_date"], plain["sales_agent"],
    )  # fmt: skip
    return pd.DataFrame(dict(zip(heads, columns, strict=True)))


def test_a_dynamics_export_takes_the_actual_close_and_revenue() -> None:
    r = recognise(["Topic", "Potential Customer", "Status", "Status Reason", "Pipeline Phase",
                   "Est. Close Date", "Actual Close Date", "Est. Revenue", "Actual Revenue",
                   "Probability", "Owner", "Created On"])  # fmt: skip
    assert r is not None and r.shape == "opportunities" and r.id_is_name
    assert r.columns == {
        "id": "Topic", "status": "Status", "stage": "Pipeline Phase",
        "closed": "Actual Close Date", "expected_close": "Est. Close Date",
        "value": ("Actual Revenue", "Est. Revenue"), "probability": "Probability",
        "owner": "Owner", "account": "Potential Customer", "engaged": "Created On",
    }  # fmt: skip


def test_one_row_per_stage_change_is_recognised() -> None:
    r = recognise(["Deal ID", "Stage", "Date Entered", "Amount", "Owner"])
    assert r is not None and r.shape == "stage_changes"
    assert r.columns == {"id": "Deal ID", "stage": "Stage", "entered": "Date Entered",
                         "value": "Amount", "owner": "Owner"}  # fmt: skip


def test_a_header_short_of_a_field_says_what_was_found_and_what_to_name(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    pd.DataFrame({"Deal ID": ["1"], "Stage": ["Won"], "Created": ["2023-01-02"],
                  "Amount": ["5"]}).to_csv(path, index=False)  # fmt: skip
    with pytest.raises(ScenarioError) as err:
        read_history(path)
    (problem,) = err.value.problems
    assert "no column recognised as closed" in problem.message
    assert "id ← 'Deal ID'" in problem.message and "--column closed=" in (problem.hint or "")
    # a flag names the missing one; the rest stays recognised
    pd.DataFrame(
        {
            "Deal ID": ["1", "2"],
            "Stage": ["Won", "Open"],
            "Created": ["2023-01-02"] * 2,
            "Amount": ["5", ""],
            "Signed": ["2023-02-01", ""],
        }
    ).to_csv(path, index=False)
    h = read_history(path, columns={"closed": "Signed"})
    d = h.deals.set_index("deal")
    assert list(d["outcome"]) == ["won", "open"] and d.loc["1", "value"] == 5


def test_an_odoo_export_reads_its_archived_losses(plain: pd.DataFrame, tmp_path: Path) -> None:
    """Odoo keeps a lost deal's stage and archives it with a lost reason and a closed date."""
    outcome = _outcome(plain)
    stage = plain["pipeline_stage"].where(outcome != "won", "Won")
    export = pd.DataFrame({
        "Opportunity": plain["opportunity_id"],
        "Customer": plain["account"],
        "Expected Revenue": plain["close_value"],
        "Stage": stage,
        "Probability": np.where(outcome == "won", 100.0, np.where(outcome == "lost", 0.0, 30.0)),
        "Created on": plain["engage_date"] + " 08:30:00",
        "Closed Date": plain["close_date"],
        "Salesperson": plain["sales_agent"],
        "Lost Reason": np.where(outcome == "lost", "Too expensive", ""),
        "Active": np.where(outcome == "lost", "False", "True"),
    })  # fmt: skip
    path = tmp_path / "odoo.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.report.count("lost_by_reason") == int((outcome == "lost").sum())
    got = h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index()
    _same(got, _reference(plain, tmp_path))


def test_a_dynamics_export_with_status_reasons_currency_names_and_a_twelve_hour_clock(
    plain: pd.DataFrame, tmp_path: Path
) -> None:
    outcome = _outcome(plain)
    reason = outcome.map({"open": "In Progress", "won": "Won"})
    reason = reason.where(outcome != "lost", np.where(np.arange(len(plain)) % 2, "Out-Sold",
                                                       "Canceled"))  # fmt: skip

    def us(iso: pd.Series) -> pd.Series:  # 1/5/2021, as a US Dynamics writes it
        d = pd.to_datetime(iso.where(iso != ""))
        return (d.dt.month.astype("Int64").astype(str) + "/" + d.dt.day.astype("Int64").astype(str)
                + "/" + d.dt.year.astype("Int64").astype(str)).where(d.notna(), "")  # fmt: skip

    export = pd.DataFrame({
        "(Do Not Modify) Opportunity": plain["opportunity_id"],
        "Topic": "Deal",  # every one the same: the GUID is the id
        "Potential Customer": plain["account"],
        "Status Reason": reason,
        "Pipeline Phase": plain["pipeline_stage"],
        "Actual Close Date": us(plain["close_date"]),
        "Actual Revenue": plain["close_value"],
        "Currency": "US Dollar",  # as Dynamics shows the currency
        "Owner": plain["sales_agent"],
        "Created On": us(plain["engage_date"]) + " 4:09 PM",
    })  # fmt: skip
    path = tmp_path / "dynamics.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.currency == "USD" and h.report.count("bad_currency") == 0
    got = h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index()
    _same(got, _reference(plain, tmp_path))
    assert (got["opened"].dt.hour == 16).all()  # 4:09 PM


def test_a_currency_that_is_no_currency_is_reported_and_not_converted(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    pd.DataFrame({
        "Deal ID": ["1", "2", "3"], "Stage": ["Won", "Won", "Open"],
        "Created": ["2023-01-02", "2023-01-03", "2023-01-04"],
        "Close Date": ["2023-02-01", "2023-02-02", ""], "Amount": ["5", "7", "9"],
        "Currency": ["Euro", "Gold coins", "EUR"],
    }).to_csv(path, index=False)  # fmt: skip
    h = read_history(path)
    d = h.deals.set_index("deal")
    assert h.currency == "EUR" and h.report.count("bad_currency") == 1
    assert d.loc["1", "value"] == 5 and np.isnan(d.loc["2", "value"])


def test_a_chinese_export_without_currency_is_in_yuan_and_says_so(
    plain: pd.DataFrame, tmp_path: Path
) -> None:
    export = pd.DataFrame({"商机编号": plain["opportunity_id"], "销售阶段": plain["deal_stage"]
                           .replace({"Won": "赢单", "Lost": "输单", "Engaging": "方案报价"}),
                           "创建时间": plain["engage_date"], "结单日期": plain["close_date"],
                           "商机金额": plain["close_value"]})  # fmt: skip
    path = tmp_path / "cn.xlsx"
    export.to_excel(path, index=False)
    h = read_history(path)
    note = next(i for i in h.report.issues if i.rule == "currency")
    assert h.currency == "CNY" and "its header Chinese" in note.message
    english = tmp_path / "en.csv"
    plain.drop(columns="pipeline_stage").rename(columns={"opportunity_id": "id"}).to_csv(
        english, index=False
    )
    assert read_history(english).currency == "USD"


def test_a_report_footer_is_not_a_deal(plain: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    body = plain.drop(columns="pipeline_stage").rename(columns={"opportunity_id": "Deal ID"})
    body.to_csv(path, index=False)
    with path.open("a") as f:
        f.write(
            '\n"Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved."\n'
            '"Confidential Information - Do Not Distribute"\n"Generated By:  A. Martin"\n'
        )
    h = read_history(path, strict=True)  # nothing dropped: --strict takes it
    assert "salesforce.com" in next(i for i in h.report.issues if i.rule == "footer").message
    assert len(h.deals) == len(plain)


def test_a_formatted_salesforce_report_grouped_by_stage_with_subtotals(
    plain: pd.DataFrame, tmp_path: Path
) -> None:
    """Grouped by stage, the stage on each group's first row only, Subtotal rows between the
    groups and a Grand Totals row: the same deals as the plain form, and nothing a problem."""
    outcome = _outcome(plain)
    rows = pd.DataFrame({
        "Stage": plain["deal_stage"].replace({"Won": "Closed Won", "Lost": "Closed Lost",
                                              "Engaging": "Proposal"}),
        "Opportunity ID": plain["opportunity_id"],
        "Amount (converted) Currency": "USD",
        "Amount (converted)": plain["close_value"],
        "Amount Currency": np.where(np.arange(len(plain)) % 3 == 0, "EUR", "USD"),
        "Amount": "1",  # the local amount: not the value when a converted one is there
        "Close Date": plain["close_date"],
        "Created Date": plain["engage_date"],
    }).sort_values(["Stage", "Opportunity ID"], kind="stable")  # fmt: skip
    parts = []
    for _, group in rows.groupby("Stage", sort=False):
        g = group.copy()
        g.iloc[1:, 0] = ""  # the stage only on the group's first row
        total = pd.DataFrame([["Subtotal", "", "", "", "", "", "", ""]], columns=g.columns)
        parts += [g, total]
    grand = pd.DataFrame([[f"Grand Totals ({len(rows)} records)", "", "", "", "", "", "", ""]],
                         columns=rows.columns)  # fmt: skip
    path = tmp_path / "report.csv"
    pd.concat([*parts, grand]).to_csv(path, index=False)
    h = read_history(path, strict=True)
    rules = {i.rule for i in h.report.issues}
    assert {"grouped_report", "summary_rows"} <= rules and h.currency == "USD"
    assert outcome.eq("won").sum() == (h.deals["outcome"] == "won").sum()
    got = h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index()
    _same(got, _reference(plain, tmp_path))


def test_the_report_names_the_columns_given_by_flags_and_the_header_line(tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_text("Pipeline 2023\n\nDeal ID,Status,Created,Signed,Amount\n"
                    "1,Won,2023-01-02,2023-02-01,5\n2,Open,2023-01-03,,7\n")  # fmt: skip
    with pytest.raises(ScenarioError, match=r"header \(line 3\)"):
        read_history(path)
    h = read_history(path, columns={"closed": "Signed"})
    note = next(i for i in h.report.issues if i.rule == "columns").message
    assert "named by --column: closed ← 'Signed'" in note


def test_a_close_days_before_the_creation_was_entered_after_it(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    pd.DataFrame({"Deal ID": ["A", "B", "C"], "Stage": ["Won", "Won", "Open"],
                  "Created": ["2023-01-10", "2023-03-01", "2023-01-04"],
                  "Close Date": ["2023-01-07", "2023-01-05", ""],
                  "Amount": ["5", "6", ""]}).to_csv(path, index=False)  # fmt: skip
    h = read_history(path)
    d = h.deals.set_index("deal")
    assert d.loc["A", "opened"] == d.loc["A", "closed"] == pd.Timestamp("2023-01-07")
    assert "B" not in d.index and h.report.count("close_before_open") == 1  # 55 days: wrong
    assert h.report.count("entered_after_close") == 1


def test_yuan_written_in_a_dollar_sheet_is_not_read_as_dollars(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    pd.DataFrame({"Deal ID": ["A", "B", "C", "D"], "Stage": ["Won"] * 4,
                  "Created": ["2023-01-02"] * 4, "Close Date": ["2023-02-01"] * 4,
                  "Amount": ["$12K", "$1.2M", "¥35万", "USD 900"]}).to_csv(
        path, index=False
    )  # fmt: skip
    h = read_history(path)
    d = h.deals.set_index("deal")
    assert h.currency == "USD" and np.isnan(d.loc["C", "value"])
    assert list(d.loc[["A", "B", "D"], "value"]) == [12e3, 1.2e6, 900.0]
    assert h.report.count("unknown_currency") == 1
    # a sheet of ¥ amounts alone is in yuan, and says so
    pd.DataFrame({"Deal ID": ["A", "B"], "Stage": ["Won"] * 2, "Created": ["2023-01-02"] * 2,
                  "Close Date": ["2023-02-01"] * 2, "Amount": ["¥35万", "￥12,500.00"]}).to_csv(
        path, index=False
    )  # fmt: skip
    h = read_history(path)
    assert h.currency == "CNY" and list(h.deals["value"]) == [350_000.0, 12_500.0]
    assert "JPY" in next(i for i in h.report.issues if i.rule == "currency").message


def test_which_labels_were_read_as_won_and_lost_is_said(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    pd.DataFrame({"商机编号": ["1", "2", "3"], "销售阶段": ["赢单", "无效", "方案报价"],
                  "创建时间": ["2023-01-02"] * 3, "结单日期": ["2023-02-01", "2023-02-02", ""],
                  "商机金额": ["5", "", ""]}).to_csv(path, index=False)  # fmt: skip
    h = read_history(path)
    note = next(i for i in h.report.issues if i.rule == "closed_labels").message
    assert "read as lost: 无效" in note and "read as won: 赢单" in note


def test_a_deal_of_a_company_called_total_is_not_a_summary_row(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    pd.DataFrame({"Account": ["Total", "Total Solutions", "Acme", "Total"],
                  "Deal ID": ["1", "2", "3", ""], "Stage": ["Won", "Won", "Lost", ""],
                  "Created": ["2023-01-02", "2023-01-03", "2023-01-04", ""],
                  "Close Date": ["2023-02-01", "2023-02-02", "2023-02-03", ""],
                  "Amount": ["5", "6", "", "11"]}).to_csv(path, index=False)  # fmt: skip
    h = read_history(path, strict=True)
    assert sorted(h.deals["deal"]) == ["1", "2", "3"] and h.report.count("summary_rows") == 1


def test_a_date_field_takes_a_column_of_dates_only(tmp_path: Path) -> None:
    """A Salesforce report's `Closed` checkbox (true / false) is not a close date; a hand-kept
    sheet's `Closed` of dates is."""
    r = recognise(["Deal ID", "Stage", "Created", "Closed"], lambda f, c: c != "Closed")
    assert r is not None and "closed" not in r.columns
    path = tmp_path / "deals.csv"
    pd.DataFrame({"Deal ID": ["1", "2"], "Status": ["Won", "Open"],
                  "Created": ["2023-01-02", "2023-01-03"], "Closed": ["2023-02-01", ""],
                  "Amount": ["5", "7"]}).to_csv(path, index=False)  # fmt: skip
    assert list(read_history(path).deals["outcome"]) == ["won", "open"]
    checkbox = tmp_path / "report.csv"  # a checkbox named before the dates in NAMES' order
    pd.DataFrame({"Opportunity ID": ["1", "2"], "Stage": ["Closed Won", "Proposal"],
                  "Created Date": ["2023-01-02", "2023-01-03"], "Closed": ["true", "false"],
                  "结单日期": ["2023-02-01", ""]}).to_csv(checkbox, index=False)  # fmt: skip
    h = read_history(checkbox)
    note = next(i for i in h.report.issues if i.rule == "columns").message
    assert "closed ← '结单日期'" in note and list(h.deals["outcome"]) == ["won", "open"]


def test_a_date_column_takes_the_day_order_its_files_other_dates_show(tmp_path: Path) -> None:
    """Created dates all 12 or less in day and month (1/2/2023) are read in the order the
    file's close dates show (3/15/2023: month first), not passed over as no dates."""
    path = tmp_path / "report.csv"
    pd.DataFrame({"Opportunity ID": ["1", "2", "3"],
                  "Stage": ["Closed Won", "Closed Lost", "Proposal"],
                  "Created Date": ["1/2/2023", "1/5/2023", "2/9/2023"],
                  "Close Date": ["2/1/2023", "3/15/2023", "6/30/2023"],
                  "Amount": ["5", "7", "9"]}).to_csv(path, index=False)  # fmt: skip
    got = read_history(path).deals.set_index("deal")
    assert list(got["opened"]) == list(pd.to_datetime(["2023-01-02", "2023-01-05", "2023-02-09"]))
    assert list(got["closed"].dropna()) == list(pd.to_datetime(["2023-02-01", "2023-03-15"]))


def test_a_mapping_giving_only_the_date_format_still_recognises_the_columns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deals.csv"
    pd.DataFrame({"Deal ID": ["1", "2"], "Stage": ["Won", "Open"],
                  "Created": ["02.Jan.2023", "03.Jan.2023"], "Close Date": ["01.Feb.2023", ""],
                  "Amount": ["5", "7"]}).to_csv(path, index=False)  # fmt: skip
    mapping = tmp_path / "m.yaml"
    mapping.write_text("date_format: '%d.%b.%Y'\n", encoding="utf-8")
    h = read_history(path, mapping_file=mapping)
    d = h.deals.set_index("deal")
    assert d.loc["1", "closed"] == pd.Timestamp("2023-02-01") and d.loc["2", "outcome"] == "open"


def test_blank_stages_that_are_not_a_grouped_report_are_not_filled(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    stages = ["Won", "", "Lost", "", "", "Won", "", ""]  # labels repeat: not one per group
    pd.DataFrame({"Deal ID": [str(i) for i in range(8)], "Stage": stages,
                  "Created": ["2023-01-02"] * 8, "Close Date": ["2023-02-01"] * 8,
                  "Amount": ["5"] * 8}).to_csv(path, index=False)  # fmt: skip
    h = read_history(path)
    assert h.report.count("grouped_report") == 0 and len(h.deals) == 3


def test_a_traditional_label_shares_the_key_of_its_simplified_form() -> None:
    assert label_key("贏單") == label_key("赢单")
    assert label_key("商機 名稱") == label_key("商机名称")
    assert label_key("Closed Won") == "closedwon" and label_key(12) == "12"
    assert label_key("贏單") != label_key("輸單")


@pytest.mark.parametrize("form", ["amount", "line totals only", "grouped"])
def test_a_report_with_one_row_per_product_line_reads_each_deal_once(
    plain: pd.DataFrame, tmp_path: Path, form: str
) -> None:
    """Salesforce's "Opportunities with Products": a deal on as many rows as it has products;
    its value the deal's Amount, or the sum of its lines' Total Price when there is none."""
    rng = np.random.default_rng(3)
    lines = []
    for _, deal in plain.iterrows():
        k = int(rng.integers(1, 4))
        value = float(deal["close_value"]) if deal["close_value"] != "" else np.nan
        shares = rng.dirichlet(np.ones(k)) if k > 1 else np.ones(1)
        for j in range(k):
            lines.append({
                "Opportunity Name": deal["opportunity_id"],
                "Stage": deal["deal_stage"],
                "Close Date": deal["close_date"],
                "Created Date": deal["engage_date"],
                "Opportunity Owner": deal["sales_agent"],
                "Amount": deal["close_value"],
                "Product Name": f"P{j}",
                "Quantity": str(j + 1),
                "Total Price": "" if np.isnan(value) else f"{value * shares[j]:.6f}",
            })  # fmt: skip
    export = pd.DataFrame(lines)
    several = int((export.groupby("Opportunity Name").size() > 1).sum())
    if form == "line totals only":
        export = export.drop(columns="Amount")
    if form == "grouped":  # the deal's fields on its first line only
        later = export["Opportunity Name"].duplicated()
        deal_cols = ["Opportunity Name", "Stage", "Close Date", "Created Date",
                     "Opportunity Owner", "Amount"]  # fmt: skip
        export.loc[later, deal_cols] = ""
    path = tmp_path / "lines.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    note = next(i for i in h.report.issues if i.rule == "line_items")
    assert f"product lines of {several:,} deals" in note.message
    got = h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index()
    want = _reference(plain, tmp_path)
    if form == "line totals only":  # sums of lines written to six decimals
        np.testing.assert_allclose(got["value"].fillna(-1), want["value"].fillna(-1), rtol=1e-6)
        got["value"] = want["value"]
    _same(got, want)


@pytest.fixture(scope="module")
def changes() -> pd.DataFrame:
    """A stage-change history (several stages, deals entering at any, timestamps)."""
    return synthetic_history("2021-01-01", "2021-12-31", seed=3)


def _history_reference(changes: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "plain_changes.csv"
    changes.to_csv(path, index=False)
    h = read_history(path, resolve_mapping(mapping=synthetic_mapping()))
    return h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index()


def _crm_stage(stage: pd.Series) -> pd.Series:
    return stage.replace({"Won": "Closed Won", "Lost": "Closed Lost"})


def test_a_stage_history_with_close_dates_is_read_as_one(
    changes: pd.DataFrame, tmp_path: Path
) -> None:
    """Salesforce's and Zoho's stage histories write each deal's close date on every row: the
    repeated ids through several stages make it a history, the close date its expected close;
    newest first as Salesforce lists it, changes of one day still in their order."""
    want = _history_reference(changes, tmp_path)
    last = changes.groupby("id")["entered_at"].transform("max").str[:10]
    export = pd.DataFrame({
        "Opportunity ID": changes["id"],
        "Stage": _crm_stage(changes["stage"]),
        "Amount": changes["value"].map(lambda v: "" if pd.isna(v) else v),
        "Close Date": last,
        "Edit Date": changes["entered_at"],
    })  # fmt: skip
    path = tmp_path / "history.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    note = next(i for i in h.report.issues if i.rule == "columns")
    assert (
        "entered ← 'Edit Date'" in note.message and "expected_close ← 'Close Date'" in note.message
    )
    got = h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index()
    _same(got, want)
    # dates only, newest first: changes of one day taken in the reverse of the file's order
    days = export.assign(**{"Edit Date": export["Edit Date"].str[:10]})
    days.to_csv(tmp_path / "oldest_first.csv", index=False)
    days.iloc[::-1].to_csv(tmp_path / "newest_first.csv", index=False)
    a, b = (read_history(tmp_path / f"{n}.csv") for n in ("oldest_first", "newest_first"))
    assert b.report.count("newest_first") > 0 and a.report.count("newest_first") == 0
    first, last = (x.deals.set_index("deal").sort_index()[["outcome", "closed"]] for x in (a, b))
    pd.testing.assert_frame_equal(first, last)


def _transitions(changes: pd.DataFrame) -> pd.DataFrame:
    """Each change as from -> to, a deal's first stage only as the from of its first change."""
    prev = changes.groupby("id")["stage"].shift()
    log = changes.assign(previous=prev)
    return log[log["previous"].notna()]


def test_a_stage_historys_creation_dates_take_the_day_order_of_its_change_dates(
    tmp_path: Path,
) -> None:
    """A Salesforce Opportunity History report (From Stage, To Stage, Stage Duration, Last
    Modified, Created Date on every row): created dates that do not show their day-month
    order (1/2/2023) are read in the order its change dates show (1/17/2023), each deal
    opening when it was created."""
    report = pd.DataFrame({
        "Opportunity Owner": ["Ann"] * 5 + ["Bob"] * 3,
        "Opportunity Name": ["Acme"] * 3 + ["Beta"] * 2 + ["Gamma"] * 3,
        "From Stage": ["Prospecting", "Qualification", "Proposal", "Prospecting",
                       "Qualification", "Prospecting", "Qualification", "Proposal"],
        "To Stage": ["Qualification", "Proposal", "Closed Won", "Qualification", "Closed Lost",
                     "Qualification", "Proposal", "Negotiation"],
        "Stage Duration": ["5", "10", "0", "3", "7", "2", "8", "4"],
        "Last Modified": ["1/7/2023", "1/17/2023", "2/1/2023", "1/8/2023", "2/10/2023",
                          "1/11/2023", "1/19/2023", "1/23/2023"],
        "Amount": ["1,200.00"] * 3 + ["800.00"] * 2 + ["500.00"] * 3,
        "Close Date": ["2/1/2023"] * 3 + ["2/10/2023"] * 2 + ["6/30/2023"] * 3,
        "Created Date": ["1/2/2023"] * 3 + ["1/5/2023"] * 2 + ["1/9/2023"] * 3,
    })  # fmt: skip
    path = tmp_path / "history.csv"
    report.to_csv(path, index=False)
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["outcome"]) == ["won", "lost", "open"]
    assert list(got["opened"]) == list(pd.to_datetime(["2023-01-02", "2023-01-05", "2023-01-09"]))


def test_a_log_of_changes_from_one_stage_to_another_keeps_the_first_stage(
    changes: pd.DataFrame, tmp_path: Path
) -> None:
    want = _history_reference(changes, tmp_path)
    log = _transitions(changes)
    export = pd.DataFrame({
        "编号": log["id"], "原状态": log["previous"], "新状态": log["stage"],
        "变更时间": log["entered_at"],
    })  # fmt: skip
    _same_outcomes(export, tmp_path / "log.csv", "began_in", want.loc[log["id"].unique()])


def test_a_history_of_every_fields_changes_reads_its_stage_and_status_changes(
    changes: pd.DataFrame, tmp_path: Path
) -> None:
    """Salesforce's Opportunity Field History (Field / Event, Old Value, New Value) and
    Pipedrive's changelog, where a win or a loss is a change of the status."""
    want = _history_reference(changes, tmp_path)
    log = _transitions(changes)
    closing = log["stage"].isin(["Won", "Lost"])
    stage_rows = pd.DataFrame({
        "Deal ID": log["id"],
        "Field key": np.where(closing, "status", "stage_id"),
        "Old value": np.where(closing, "open", log["previous"]),
        "New value": log["stage"].str.lower().where(closing, log["stage"]),
        "Time": log["entered_at"],
    })  # fmt: skip
    other = stage_rows.assign(**{"Field key": "probability", "Old value": "1", "New value": "2"})
    value = log["value"].notna()  # the deal's value, set when it closes
    amounts = log.loc[value, "value"].astype(str)
    values = stage_rows[value].assign(
        **{"Field key": "value", "Old value": "", "New value": amounts}
    )
    export = pd.concat([stage_rows, other, values]).sort_values("Time", kind="stable")
    got = _same_outcomes(
        export, tmp_path / "changelog.csv", "field_history", want.loc[log["id"].unique()]
    )
    won = got["outcome"] == "won"
    np.testing.assert_allclose(got.loc[won, "value"], want.loc[got.index[won], "value"])


def test_a_deal_created_and_never_moved_is_open_in_the_stage_deals_start_in(
    changes: pd.DataFrame, tmp_path: Path
) -> None:
    """Salesforce's field history writes a deal's creation ("Created.") and then its changes:
    a deal created and not yet moved has no stage change, and was left out."""
    want = _history_reference(changes, tmp_path)
    log = _transitions(changes)
    first = changes.groupby("id", sort=False).first().reset_index()
    export = pd.concat([
        pd.DataFrame({"Opportunity ID": first["id"], "Field / Event": "Created.",
                      "Old Value": "", "New Value": "", "Edit Date": first["entered_at"]}),
        pd.DataFrame({"Opportunity ID": log["id"], "Field / Event": "Stage",
                      "Old Value": _crm_stage(log["previous"]),
                      "New Value": _crm_stage(log["stage"]), "Edit Date": log["entered_at"]}),
    ]).sort_values("Edit Date", kind="stable")  # fmt: skip
    path = tmp_path / "field_history.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    got = h.deals.set_index("deal").sort_index()
    assert list(got.index) == list(want.index)  # every deal, the unmoved ones too
    unmoved = sorted(set(first["id"]) - set(log["id"]))
    assert len(unmoved) > 20 and (want.loc[unmoved, "outcome"] == "open").all()
    # most deals' first change leaves the first stage: that is where an unmoved deal is
    starts = log.groupby("id")["previous"].first().value_counts()
    assert (got.loc[unmoved, "stage"] == starts.index[0]).all()
    assert f"{len(unmoved)} deal(s) created and never moved" in next(
        i.message for i in h.report.issues if i.rule == "field_history"
    )
    pd.testing.assert_series_equal(got["outcome"], want["outcome"])
    pd.testing.assert_series_equal(got["closed"], want["closed"])
    pd.testing.assert_series_equal(got["opened"], want["opened"])  # from the creation rows


def _same_outcomes(export: pd.DataFrame, path: Path, rule: str, want: pd.DataFrame) -> pd.DataFrame:
    """``export`` written to ``path`` reads, with a ``rule`` note, to ``want``'s deals (those
    the log has a change of), outcomes and close times (a log without the first stage's entry
    cannot give when a deal opened)."""
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.report.count(rule) > 0
    got = h.deals.set_index("deal")[["outcome", "closed", "value"]].sort_index()
    want = want.sort_index()
    assert list(got.index) == list(want.index) and len(got) > 100
    pd.testing.assert_series_equal(got["outcome"], want["outcome"])
    pd.testing.assert_series_equal(got["closed"], want["closed"])
    return got


def test_deleted_deals_are_left_out_and_said(plain: pd.DataFrame, tmp_path: Path) -> None:
    outcome = _outcome(plain)
    status = outcome.where(np.arange(len(plain)) % 10 != 0, "deleted")
    export = pd.DataFrame({
        "Deal - ID": plain["opportunity_id"], "Deal - Value": plain["close_value"],
        "Deal - Status": status, "Deal - Stage": plain["pipeline_stage"],
        "Deal - Deal created": plain["engage_date"],
        "Deal - Won time": plain["close_date"].where(outcome == "won", ""),
        "Deal - Lost time": plain["close_date"].where(outcome == "lost", ""),
    })  # fmt: skip
    path = tmp_path / "pipedrive.csv"
    export.to_csv(path, index=False)
    h = read_history(path, strict=True)  # a deleted deal is no data problem
    assert h.report.count("deleted") == int((status == "deleted").sum())
    assert set(h.deals["deal"]) == set(plain["opportunity_id"][status != "deleted"])


def test_closed_and_won_flags_decide_where_the_stage_names_do_not(
    plain: pd.DataFrame, tmp_path: Path
) -> None:
    """A renewals pipeline's own closed stages (Renewed, Churned) are no won or lost labels:
    HubSpot's Is closed / Is Closed Won say which deals are closed, and how."""
    outcome = _outcome(plain)
    closed_as = outcome.map({"won": "Renewed", "lost": "Churned"})
    stage = plain["pipeline_stage"].where(outcome == "open", closed_as)
    export = pd.DataFrame({
        "Record ID": plain["opportunity_id"], "Deal Stage": stage,
        "Amount": plain["close_value"], "Close Date": plain["close_date"],
        "Create Date": plain["engage_date"],
        "Is closed": (outcome != "open").map({True: "true", False: "false"}),
        "Is Closed Won": (outcome == "won").map({True: "true", False: "false"}),
    })  # fmt: skip
    path = tmp_path / "renewals.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.report.count("closed_flags") > 0
    _same(h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index(),
          _reference(plain, tmp_path))  # fmt: skip


@pytest.mark.parametrize("preset", [None, "stage-changes"])
def test_a_preset_takes_the_columns_it_lacks_by_their_names(
    changes: pd.DataFrame, tmp_path: Path, preset: str | None
) -> None:
    """The stage-changes preset names id, stage, entered_at and outcome: a file that also has
    product and value columns keeps them (they were dropped, revenue then forecast as 0)."""
    want = _history_reference(changes, tmp_path)
    h = read_history(tmp_path / "plain_changes.csv", preset=preset)
    assert "value ← 'value', product ← 'product'" in next(
        i.message for i in h.report.issues if i.rule == "columns"
    )
    _same(h.deals.set_index("deal")[["outcome", "opened", "closed", "value"]].sort_index(), want)
    assert set(h.deals["product"]) == set(changes["product"])


def test_deals_created_in_a_later_stage_do_not_pull_it_forward(tmp_path: Path) -> None:
    """Most deals enter at Negotiation (by its mean position in the paths it would come before
    Proposal); the deals that visit both reach Proposal first, so the order stays."""
    rows = []
    t0 = pd.Timestamp("2023-01-02")
    for i in range(200):
        for k, stage in enumerate(["Lead", "Proposal", "Negotiation", "Closed Won"]):
            rows.append((f"a{i}", stage, t0 + pd.Timedelta(days=i % 50 + 7 * k)))
    for i in range(300):
        for k, stage in enumerate(["Negotiation", "Closed Lost"]):
            rows.append((f"b{i}", stage, t0 + pd.Timedelta(days=i % 50 + 7 * k)))
    frame = pd.DataFrame(rows, columns=["id", "stage", "entered_at"])
    frame["entered_at"] = frame["entered_at"].dt.strftime("%Y-%m-%d")
    frame.to_csv(tmp_path / "h.csv", index=False)
    h = read_history(tmp_path / "h.csv", preset="stage-changes")
    assert h.stages == ("lead", "proposal", "negotiation")


def test_deals_that_share_a_name_are_no_stage_history(plain: pd.DataFrame, tmp_path: Path) -> None:
    """A one-row-per-deal export with a Modified Time where a customer's yearly renewals share
    one name (through different stages): created apart, so deals, not a deal's changes."""
    outcome = _outcome(plain)
    export = pd.DataFrame({
        "Deal Name": "Renewal " + (pd.Series(np.arange(len(plain))) // 3).astype(str),
        "Stage": plain["pipeline_stage"].where(outcome == "open", plain["deal_stage"]),
        "Amount": plain["close_value"],
        "Closing Date": plain["close_date"],
        "Created Time": plain["engage_date"],
        "Modified Time": "2021-03-31 18:00:00",
    })  # fmt: skip
    path = tmp_path / "renewals.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    copies = h.report.count("duplicate_row") + h.report.count("duplicate_id")  # alike rows
    assert len(h.deals) == len(export) - copies and copies < 10
    assert "entered" not in next(i for i in h.report.issues if i.rule == "columns").message
