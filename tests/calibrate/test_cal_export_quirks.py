"""Quirks of exports as people save them, each read to the deals it was written from: a
summary table beside the data, a sheet that repeats a column name, Excel for Mac's CSV, a
win's and a loss's date in two columns, value columns by other names, numbered and prefixed
stage labels, an expected close as the only close date, the day a deal entered its closed
stage as its close, pipelines that close their own way,
and "Excel-safe" ``="..."`` cells; a blank stage beside a status, rows flagged deleted, won
and lost labels of more CRMs and languages, a re-open in a changelog, other CRMs' column
names, an actual close beside a planned one, Windows-1250, control characters, JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from simsales.calibrate.importer import read_history
from simsales.errors import ScenarioError

# five deals: their outcome, creation, close (blank while open) and value
TRUTH = pd.DataFrame({
    "id": ["D1", "D2", "D3", "D4", "D5"],
    "outcome": ["won", "lost", "won", "open", "lost"],
    "created": ["2023-01-02", "2023-01-05", "2023-01-09", "2023-02-01", "2023-02-03"],
    "closed": ["2023-02-01", "2023-02-10", "2023-03-01", "", "2023-03-06"],
    "value": [1200.0, 800.0, 3000.0, 500.0, 700.0],
})  # fmt: skip
WON, LOST = TRUTH["outcome"] == "won", TRUTH["outcome"] == "lost"


def _labels(won: str, lost: str, open_: str) -> list[str]:
    return [{"won": won, "lost": lost, "open": open_}[o] for o in TRUTH["outcome"]]


def _check(path: Path, **read: object) -> pd.DataFrame:
    """``path`` reads to TRUTH's deals, outcomes, close days and values; its deals returned."""
    got = read_history(path, **read).deals.set_index("deal").sort_index()  # type: ignore[arg-type]
    assert list(got.index) == list(TRUTH["id"])
    assert list(got["outcome"]) == list(TRUTH["outcome"])
    assert list(got["closed"].dt.strftime("%Y-%m-%d").fillna("")) == list(TRUTH["closed"])
    assert list(got["value"]) == list(TRUTH["value"])
    return got


def _sheet(
    stages: tuple[str, str, str] = ("Closed Won", "Closed Lost", "Proposal"),
) -> pd.DataFrame:
    return pd.DataFrame({
        "Opportunity ID": TRUTH["id"], "Stage": _labels(*stages), "Amount": TRUTH["value"],
        "Created Date": TRUTH["created"], "Close Date": TRUTH["closed"],
    })  # fmt: skip


def test_a_table_beside_the_data_is_left_out(tmp_path: Path) -> None:
    """A summary (Owner | Deals, or Stage | Count, repeating the data's names) two columns to
    the right of the deals, with fewer rows: not the deals' columns; said."""
    for side in (["Owner", "Deals"], ["Stage", "Count"]):
        book = openpyxl.Workbook()
        sheet = book.active
        data = _sheet()
        sheet.append([*data.columns, None, *side])
        for i, row in enumerate(data.itertuples(index=False)):
            beside = ["Ann", 3] if i < 2 else [None, None]
            sheet.append([*row, None, *beside])
        path = tmp_path / "beside.xlsx"
        book.save(path)
        got = _check(path)
        assert got["owner"].isna().all() or (got["owner"] == "").all()
        said = [i.message for i in read_history(path).report.issues if i.rule == "sheets"]
        assert any("first empty column" in m for m in said)


def test_a_sheet_that_repeats_a_column_name_is_read(tmp_path: Path) -> None:
    """A sheet whose header has one name twice: the first is the column, the second read
    as ``Amount.1`` (as a CSV reader names it), not an error."""
    book = openpyxl.Workbook()
    sheet = book.active
    data = _sheet()
    sheet.append([*data.columns, "Amount"])
    for row in data.itertuples(index=False):
        sheet.append([*row, 1])
    path = tmp_path / "twice.xlsx"
    book.save(path)
    _check(path)


@pytest.mark.parametrize("line_end", ["\r", "\n"])
def test_excel_for_macs_csv_in_mac_roman(tmp_path: Path, line_end: str) -> None:
    """Excel for Mac's "CSV (Macintosh)": Mac Roman bytes, lines ended by CR alone, or by LF
    (saved again by another tool): its é, ü and € read as themselves, not as cp1252's Ž, Ÿ and
    Û; the same text in Windows-1252 reads as Windows-1252."""
    data = _sheet()
    data["Account"] = ["Müller GmbH", "Société Générale", "Acme", "Zoë AG", "Ärzte eG"]
    data["Amount"] = [f"€{v:,.2f}" for v in TRUTH["value"]]
    windows = tmp_path / "windows.csv"
    windows.write_bytes(data.to_csv(index=False, lineterminator=line_end).encode("cp1252"))
    assert list(_check(windows)["account"]) == list(data["Account"])
    path = tmp_path / "mac.csv"
    path.write_bytes(data.to_csv(index=False, lineterminator=line_end).encode("mac_roman"))
    h = read_history(path)
    got = _check(path)
    assert h.currency == "EUR"
    assert list(got["account"]) == list(data["Account"])


@pytest.mark.parametrize(
    ("won", "lost"),
    [("Date Won", "Date Lost"), ("date_won", "date_lost"), ("成交时间", "输单时间"),
     ("赢单日期", "输单日期")],
)  # fmt: skip
def test_a_wins_and_a_losss_date_in_two_columns(tmp_path: Path, won: str, lost: str) -> None:
    """A win's date and a loss's in columns of their own: each closed deal closes at its
    own (a lost deal is not dropped for want of a win date)."""
    data = _sheet().drop(columns="Close Date")
    data[won] = TRUTH["closed"].where(WON, "")
    data[lost] = TRUTH["closed"].where(LOST, "")
    path = tmp_path / "two-dates.csv"
    data.to_csv(path, index=False)
    _check(path)


@pytest.mark.parametrize(
    ("won", "lost", "named"),
    [("Won Time", "Lost Time", "Won Time"),
     ("交易 - 赢单时间", "交易 - 丢单时间", "交易 - 赢单时间"),
     ("Deal - Won time", "Deal - Lost time", "Deal - Lost time")],
)  # fmt: skip
def test_one_column_of_a_won_lost_pair_named_as_the_close_takes_the_other(
    tmp_path: Path, won: str, lost: str, named: str
) -> None:
    """``--column closed='Won Time'`` where the export has 'Lost Time' beside it: the lost
    deals close on theirs (not dropped for want of a win date), and the note says so."""
    data = _sheet().drop(columns="Close Date").rename(columns={"Stage": "Status"})
    data[won] = TRUTH["closed"].where(WON, "")
    data[lost] = TRUTH["closed"].where(LOST, "")
    path = tmp_path / "two-dates.csv"
    data.to_csv(path, index=False)
    _check(path, columns={"closed": named})
    note = next(i for i in read_history(path, columns={"closed": named}).report.issues
                if i.rule == "split_close")  # fmt: skip
    assert won in note.message and lost in note.message


def test_mondays_creation_log_dates_the_deal_after_the_name_of_who_made_it(
    tmp_path: Path,
) -> None:
    """monday.com's Creation Log cell is 'Anna Schmidt Jan 5, 2023 10:12 AM': the deal was
    created at the date after the person's name; its Item ID is the id."""
    data = _sheet().drop(columns=["Created Date", "Opportunity ID"])
    data["Item ID"] = TRUTH["id"]
    data["Creation Log"] = [
        f"Anna Schmidt {pd.Timestamp(d):%b} {pd.Timestamp(d).day}, {d[:4]} 10:12 AM"
        for d in TRUTH["created"]
    ]
    path = tmp_path / "monday.csv"
    data.to_csv(path, index=False)
    got = _check(path)
    assert list(got["opened"]) == [pd.Timestamp(d + " 10:12") for d in TRUTH["created"]]


def test_a_note_before_a_date_in_a_date_column_is_no_date(tmp_path: Path) -> None:
    """A note typed into one close-date cell ("Proposal sent Feb 10, 2023") is not the date
    it mentions: words before a date are who made the record only in a column that writes
    them before most of its dates (a log); the note's row is reported by its line."""
    data = _sheet()
    data.loc[1, "Close Date"] = "Proposal sent Feb 10, 2023"
    path = tmp_path / "note.csv"
    data.to_csv(path, index=False)
    h = read_history(path)
    assert "D2" not in set(h.deals["deal"])
    bad = next(i for i in h.report.issues if i.rule == "bad_date")
    assert "Close Date" in bad.message and bad.rows == 1
    assert any("line 3" in e for e in bad.examples)


@pytest.mark.parametrize("cell", ["2023-02", "2023/02", "2023"])
def test_a_year_or_a_month_without_its_day_is_no_date(tmp_path: Path, cell: str) -> None:
    """A close date typed as its month ("2023-02") or year names no day: reported by its
    line, not read as the first of it."""
    data = _sheet()
    data.loc[1, "Close Date"] = cell
    path = tmp_path / "month.csv"
    data.to_csv(path, index=False)
    h = read_history(path)
    assert "D2" not in set(h.deals["deal"])
    bad = next(i for i in h.report.issues if i.rule == "bad_date")
    assert bad.rows == 1 and any("line 3" in e for e in bad.examples)


def test_a_losss_date_alone_is_no_close_date(tmp_path: Path) -> None:
    """Of a pair of columns, the loss's alone is not the close date: the export's own close
    date is (a lost date beside a Close Date adds nothing to mistake)."""
    data = _sheet()
    data["Lost Time"] = TRUTH["closed"].where(LOST, "")
    path = tmp_path / "lost-only.csv"
    data.to_csv(path, index=False)
    _check(path)


@pytest.mark.parametrize(
    ("value", "currency"),
    [("BID_AMOUNT", "BID_CURRENCY"), ("Bid Amount", "Bid Currency"),  # Insightly
     ("expected_revenue", "company_currency")],  # Odoo's crm.lead fields
)  # fmt: skip
def test_currency_columns_of_insightly_and_odoo(tmp_path: Path, value: str, currency: str) -> None:
    data = _sheet().rename(columns={"Amount": value})
    data[currency] = "GBP"
    path = tmp_path / "currency.csv"
    data.to_csv(path, index=False)
    _check(path)
    assert read_history(path).currency == "GBP"


@pytest.mark.parametrize("header", ["Budget", "Income", "Bid Amount", "合同金额（小写）"])
def test_value_columns_by_other_names(tmp_path: Path, header: str) -> None:
    data = _sheet().rename(columns={"Amount": header})
    path = tmp_path / "value.csv"
    data.to_csv(path, index=False)
    _check(path)


def test_an_opportunity_column_is_the_value_only_when_it_holds_numbers(tmp_path: Path) -> None:
    """Bitrix24's API calls the amount OPPORTUNITY; elsewhere ``Opportunity`` is the deal's
    name, which stays its id."""
    api = _sheet().rename(columns={"Amount": "OPPORTUNITY"})
    path = tmp_path / "bitrix.csv"
    api.to_csv(path, index=False)
    _check(path)
    named = _sheet().drop(columns=["Opportunity ID", "Amount"])
    named.insert(0, "Opportunity", TRUTH["id"])
    named["Expected Revenue"] = TRUTH["value"]
    named.to_csv(path, index=False)
    _check(path)


@pytest.mark.parametrize(
    "stages",
    [("5 - Closed Won", "6 - Closed Lost", "3 - Proposal"), ("C1:WON", "C1:LOSE", "C1:NEW"),
     ("WON", "APOLOGY", "PREPARATION"), ("Deal won", "Analyze failure", "In progress"),
     ("Сделка успешна", "Анализ причины провала", "Подготовка документов")],
)  # fmt: skip
def test_numbered_and_prefixed_stage_labels(tmp_path: Path, stages: tuple[str, str, str]) -> None:
    """A stage's number in the process ("5 - Closed Won") or Bitrix24's pipeline prefix
    ("C1:WON") does not hide a close; Bitrix24's LOSE and APOLOGY ("Analyze failure") are
    its lost stages, in English and Russian."""
    path = tmp_path / "stages.csv"
    _sheet(stages).to_csv(path, index=False)
    _check(path)


def test_a_bitrix24_deals_responsible_person_is_its_owner(tmp_path: Path) -> None:
    """Bitrix24's English UI names a deal's salesperson ``Responsible`` (``Responsible person``
    in some views): the owner."""
    for name in ("Responsible", "Responsible person"):
        path = tmp_path / "bitrix.csv"
        _sheet().assign(**{name: ["Ann", "Bob", "Ann", "Bob", "Cy"]}).to_csv(path, index=False)
        got = _check(path)
        assert list(got["owner"]) == ["Ann", "Bob", "Ann", "Bob", "Cy"]


def test_an_expected_close_as_the_only_close_date(tmp_path: Path) -> None:
    """Bitrix24's UI export has only an ``Expected close date``, which it sets to the day a
    deal closes: the closed deals close on it, the open ones keep it as expected."""
    data = _sheet().rename(columns={"Close Date": "Expected close date"})
    data["Expected close date"] = TRUTH["closed"].where(TRUTH["closed"] != "", "2023-06-30")
    path = tmp_path / "bitrix.csv"
    data.to_csv(path, index=False)
    got = _check(path)
    assert got.at["D4", "expected_close"] == pd.Timestamp("2023-06-30")


def test_a_pipeline_that_closes_its_own_way(tmp_path: Path) -> None:
    """Deals of two pipelines, no closed flags: the Renewals pipeline closes at "Renewed" /
    "Churned" (probability 1 / 0) beside the Sales pipeline's "Closed won": each pipeline's
    stage at 1 or 0 closes where that pipeline names no such stage otherwise."""
    pipeline = ["Sales", "Sales", "Renewals", "Renewals", "Renewals"]
    stage = ["Closed won", "Closed lost", "Renewed", "Renewal due", "Churned"]
    data = pd.DataFrame({
        "Record ID": TRUTH["id"], "Pipeline": pipeline, "Deal Stage": stage,
        "Deal probability": TRUTH["outcome"].map({"won": "1.0", "lost": "0.0", "open": "0.5"}),
        "Amount": TRUTH["value"], "Create Date": TRUTH["created"], "Close Date": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "hubspot.csv"
    data.to_csv(path, index=False)
    _check(path)


def test_excel_safe_cells_read_as_the_text_inside(tmp_path: Path) -> None:
    """Every cell written ``="..."`` (a formula that keeps an id's leading zeros): read as
    the text inside, ids with their zeros."""
    data = _sheet().assign(**{"Opportunity ID": ["0001", "0002", "0003", "0004", "0005"]})
    path = tmp_path / "safe.csv"
    text = data.map(lambda v: f'="{v}"' if v != "" else "").to_csv(index=False)
    path.write_text(text, encoding="utf-8")
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got.index) == ["0001", "0002", "0003", "0004", "0005"]
    assert list(got["outcome"]) == list(TRUTH["outcome"])
    assert list(got["value"]) == list(TRUTH["value"])


def test_a_report_with_its_groups_in_rows_of_their_own(tmp_path: Path) -> None:
    """Zoho's 'Deals by Stage' report writes the stage only in a row above each group
    ("Stage : Closed Won (2)") and a "Sum of Amount" row below it: the stage read from the
    group rows, neither kind of row a deal."""
    data = _sheet().drop(columns="Stage")
    lines = ["Deals by Stage", "", ",".join(data.columns)]
    for label, outcome in (("Closed Won", "won"), ("Closed Lost", "lost"), ("Proposal", "open")):
        group = data[TRUTH["outcome"] == outcome]
        lines.append(f"Stage : {label} ({len(group)})")
        lines += [",".join(map(str, r)) for r in group.itertuples(index=False)]
        lines.append(f"Sum of Amount,{group['Amount'].sum()},,")
    path = tmp_path / "grouped.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _check(path)
    h = read_history(path)
    assert any(i.rule == "grouped_report" and "Stage" in i.message for i in h.report.issues)
    assert not [i for i in h.report.issues if i.action == "dropped"]


def test_a_google_sheets_api_range_is_a_header_row_and_rows(tmp_path: Path) -> None:
    """The Google Sheets API's ``{"values": [[header...], [row...]]}``: read as the sheet,
    a row's cells left out at its end (an open deal's close date) blank."""
    rows = [[str(c) for c in r] for r in _sheet().itertuples(index=False)]
    rows = [r[:-1] if r[-1] == "" else r for r in rows]  # the API drops trailing blanks
    page = {"range": "Deals!A1:E6", "majorDimension": "ROWS",
            "values": [list(_sheet().columns), *rows]}  # fmt: skip
    path = tmp_path / "sheet.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    _check(path)


def test_an_api_page_with_its_records_one_level_down(tmp_path: Path) -> None:
    """Bitrix24's REST answers hold the records under result, or result.items."""
    records = [{str(k): str(v) for k, v in r.items()} for r in _sheet().to_dict("records")]
    for page in ({"result": records, "total": 5}, {"result": {"items": records}, "total": 5}):
        path = tmp_path / "page.json"
        path.write_text(json.dumps(page), encoding="utf-8")
        _check(path)


def test_an_api_page_saved_as_json(tmp_path: Path) -> None:
    """Pipedrive's ``GET /v1/deals`` saved as a file: its ``data`` list, nested fields
    flattened (``user_id.name`` the owner), nulls blank."""
    won, lost = WON.to_numpy(), LOST.to_numpy()
    deals = [
        {"id": d.id, "title": f"deal {d.id}", "value": d.value, "currency": "EUR",
         "status": d.outcome, "add_time": f"{d.created} 10:00:00",
         "won_time": f"{d.closed} 15:00:00" if w else None,
         "lost_time": f"{d.closed} 15:00:00" if lo else None,
         "update_time": "2023-03-10 09:00:00", "user_id": {"id": 1, "name": "Anna"}}
        for d, w, lo in zip(TRUTH.itertuples(), won, lost, strict=True)
    ]  # fmt: skip
    path = tmp_path / "deals.json"
    path.write_text(json.dumps({"success": True, "data": deals}), encoding="utf-8")
    got = _check(path)
    assert set(got["owner"]) == {"Anna"}


@pytest.mark.parametrize(
    ("written", "encoding"),
    [("{y}年{m}月{d}日星期日", "utf-8"), ("{y}-{m:02d}-{d:02d} 周一", "utf-8"),
     ("{roc}/{m:02d}/{d:02d}", "cp950"), ("民國{roc}年{m}月{d}日", "cp950"),
     ("R{era}.{m}.{d}", "cp932"), ("令和{era}年{m}月{d}日", "cp932")],
)  # fmt: skip
def test_dates_of_other_calendars_and_with_weekdays(
    tmp_path: Path, written: str, encoding: str
) -> None:
    """Excel's Chinese long date with its weekday, Taiwan's Republic years (民國 112 is 2023)
    and Japan's Reiwa years (令和 5, R5, is 2023) read as the dates they are, with no
    date_format."""
    created = pd.to_datetime(TRUTH["created"])
    data = _sheet()
    data["Created Date"] = [written.format(y=c.year, m=c.month, d=c.day, roc=c.year - 1911,
                                           era=c.year - 2018) for c in created]  # fmt: skip
    path = tmp_path / "dates.csv"
    path.write_bytes(data.to_csv(index=False).encode(encoding))
    got = _check(path)
    assert list(got["opened"].dt.normalize()) == list(created)


def test_a_zone_abbreviation_after_the_time_is_its_offset(tmp_path: Path) -> None:
    """Salesforce's "Jan 2, 2023, 09:40 PM PST": 21:40 at -08:00, so 05:40 the next day in
    UTC; with no --timezone, the wall clock the CRM showed."""
    data = _sheet()
    data["Created Date"] = [f"{pd.Timestamp(c):%b} {pd.Timestamp(c).day}, 2023, 09:40 PM PST"
                            for c in TRUTH["created"]]  # fmt: skip
    path = tmp_path / "pst.csv"
    data.to_csv(path, index=False)
    shown = read_history(path).deals.set_index("deal").sort_index()
    assert set(shown["opened"].dt.strftime("%H:%M")) == {"21:40"}
    utc = read_history(path, timezone="UTC").deals.set_index("deal").sort_index()
    day = pd.Timedelta(days=1)
    assert list(utc["opened"].dt.normalize()) == list(pd.to_datetime(TRUTH["created"]) + day)


def test_a_backslash_in_shift_jis_is_the_yen_sign(tmp_path: Path) -> None:
    """Shift-JIS's byte 0x5C shows as ¥ on a Japanese Windows: ``\\1,200`` is 1,200 yen."""
    data = _sheet(("受注", "失注", "提案"))
    data["Amount"] = [f"\\{v:,.0f}" for v in TRUTH["value"]]
    data = data.rename(columns={"Amount": "金額", "Opportunity ID": "商談 ID", "Stage": "フェーズ"})
    path = tmp_path / "jp.csv"
    path.write_bytes(data.to_csv(index=False).encode("cp932"))
    h = read_history(path)
    assert h.currency == "JPY"
    _check(path)


def test_dates_whose_order_cannot_be_told_say_so(tmp_path: Path) -> None:
    """Dates whose every day and month is 12 or less: the message says the order cannot be
    told and gives both formats; each reads the file."""
    data = _sheet()
    for col in ("Created Date", "Close Date"):
        data[col] = pd.to_datetime(data[col]).dt.strftime("%d/%m/%Y").fillna("")
    data["Created Date"] = "01/02/2023"
    data["Close Date"] = data["Close Date"].where(data["Close Date"] == "", "03/04/2023")
    path = tmp_path / "ambiguous.csv"
    data.to_csv(path, index=False)
    with pytest.raises(ScenarioError, match="which comes first cannot be told") as err:
        read_history(path)
    assert "'%m/%d/%Y'" in str(err.value) and "'%d/%m/%Y'" in str(err.value)
    got = read_history(path, mapping={"date_format": "%d/%m/%Y"}).deals
    assert set(got["opened"]) == {pd.Timestamp("2023-02-01")}


def test_a_mapping_file_naming_some_columns_keeps_the_others_by_name(tmp_path: Path) -> None:
    """A mapping file that names only the close (``closed: [date_won, date_lost]``): the
    required fields it does not name are taken by their names, and said."""
    data = _sheet().drop(columns="Close Date")
    data["date_won"] = TRUTH["closed"].where(WON, "")
    data["date_lost"] = TRUTH["closed"].where(LOST, "")
    path = tmp_path / "close.csv"
    data.to_csv(path, index=False)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns:\n  closed: [date_won, date_lost]\n", encoding="utf-8")
    _check(path, mapping_file=mapping)
    said = [i.message for i in read_history(path, mapping_file=mapping).report.issues]
    assert any("by their names" in m and "'Opportunity ID'" in m for m in said)


def test_a_bid_priced_per_period_is_its_total(tmp_path: Path) -> None:
    """Insightly's BID_TYPE / BID_DURATION: a bid of 100 per month for 12 months is worth
    1,200; a fixed bid is its amount; said."""
    per_month = TRUTH["id"].isin(["D1", "D3"])
    data = _sheet()
    data["Amount"] = TRUTH["value"].where(~per_month, TRUTH["value"] / 12)
    data["BID_TYPE"] = per_month.map({True: "Per Month", False: "Fixed Bid"})
    data["BID_DURATION"] = per_month.map({True: "12", False: ""})
    path = tmp_path / "insightly.csv"
    data.to_csv(path, index=False)
    got = read_history(path).deals.set_index("deal").sort_index()
    assert got["value"].to_numpy() == pytest.approx(TRUTH["value"].to_numpy(), rel=1e-9)
    assert "per_period_bids" in {i.rule for i in read_history(path).report.issues}


def test_a_property_history_dump(tmp_path: Path) -> None:
    """HubSpot's property history (``dealId, property, value, timestamp``: the value each
    property took, no old one): each deal's stage changes are its path, its amount its
    ``amount`` rows'; the other properties left out."""
    rows = []
    for d in TRUTH.itertuples():
        start = f"{d.created}T09:00:00.000Z"
        rows += [(d.id, "dealname", f"deal {d.id}", start), (d.id, "amount", d.value, start),
                 (d.id, "dealstage", "appointmentscheduled", start)]  # fmt: skip
        if d.outcome != "open":
            rows.append((d.id, "dealstage", f"closed{d.outcome}", f"{d.closed}T17:00:00.000Z"))
    dump = pd.DataFrame(rows, columns=["dealId", "property", "value", "timestamp"])
    path = tmp_path / "history.csv"
    dump.to_csv(path, index=False)
    _check(path)


def test_an_expected_close_taken_as_the_close_is_a_warning(tmp_path: Path) -> None:
    """Freshsales or Keap without their real close column: the expected close is all there
    is, read as the close of the decided deals, and said as a warning (it may be a plan)."""
    data = _sheet().rename(columns={"Close Date": "Expected close date"})
    path = tmp_path / "expected.csv"
    data.to_csv(path, index=False)
    note = next(i for i in read_history(path).report.issues if i.rule == "expected_as_closed")
    assert note.action == "kept" and "'Expected close date'" in note.message


@pytest.mark.parametrize(
    "since",
    ["Date Moved to Current Stage", "Deal stage updated at",
     "Last Stage Change At",  # Zendesk Sell
     "Date of Last Stage Change"],  # Streak
)  # fmt: skip
def test_the_day_a_deal_entered_its_closed_stage_is_its_close(tmp_path: Path, since: str) -> None:
    """Keap and Freshsales without their close column: a won or lost deal closed the day it
    entered its current stage, not on the plan in the expected close beside it (weeks off);
    an open deal keeps its plan as its expected close, not the day it entered its stage."""
    data = _sheet().rename(columns={"Close Date": since})
    data["Expected close date"] = ["2023-03-15", "2023-03-15", "2023-04-01", "2023-06-30", ""]
    data.loc[TRUTH["outcome"] == "open", since] = "2023-02-20"
    path = tmp_path / "keap.csv"
    data.to_csv(path, index=False)
    history = read_history(path)
    got = _check(path)
    assert got.at["D4", "expected_close"] == pd.Timestamp("2023-06-30")
    rules = {i.rule for i in history.report.issues}
    assert "expected_as_closed" not in rules and "open_with_close_date" not in rules


def test_a_date_format_that_is_no_format_is_an_error(tmp_path: Path) -> None:
    """``date_format: '%s'`` (no strftime code reads Unix time): an error on the mapping's
    key, not an internal one."""
    path = tmp_path / "deals.csv"
    _sheet().to_csv(path, index=False)
    mapping = tmp_path / "m.yaml"
    mapping.write_text('date_format: "%s"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="date_format") as err:
        read_history(path, mapping_file=mapping)
    assert err.value.problems[0].path == "date_format"


def test_tab_separated_text_named_xls_is_read_as_text(tmp_path: Path) -> None:
    """A CRM's "Excel" export that is tab-separated text named ``.xls`` (in GBK): read as the
    text it is, not refused as an Excel 97-2003 workbook."""
    data = _sheet(("赢单", "输单", "方案报价")).rename(
        columns={"Opportunity ID": "业务机会编号", "Stage": "销售阶段", "Amount": "金额",
                 "Created Date": "创建日期", "Close Date": "结单日期"})  # fmt: skip
    path = tmp_path / "export.xls"
    path.write_bytes(data.to_csv(index=False, sep="\t").encode("gb18030"))
    _check(path)


def test_hubspot_api_records_flattened(tmp_path: Path) -> None:
    """HubSpot's API records flattened (``properties.dealstage``, v1's
    ``properties.amount.value``) are named by their property."""
    data = pd.DataFrame({
        "id": TRUTH["id"],
        "properties.dealstage": _labels("closedwon", "closedlost", "qualifiedtobuy"),
        "properties.amount": TRUTH["value"], "properties.createdate": TRUTH["created"],
        "properties.closedate": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "v3.csv"
    data.to_csv(path, index=False)
    _check(path)
    data.columns = [c if c == "id" else f"{c}.value" for c in data.columns]
    data.to_csv(path, index=False)
    _check(path)


@pytest.mark.parametrize(("header", "code"), [("金额（美元）", "USD"), ("金额(欧元)", "EUR"),
                                              ("Amount in USD", "USD")])  # fmt: skip
def test_a_currency_word_in_the_amount_header(tmp_path: Path, header: str, code: str) -> None:
    data = _sheet().rename(columns={"Amount": header})
    path = tmp_path / "currency.csv"
    data.to_csv(path, index=False)
    _check(path)
    assert read_history(path).currency == code


def test_deals_named_alike_in_two_accounts_are_two_deals(tmp_path: Path) -> None:
    """No id column, and "Upsell Q2" for two customers, one won, one open: two deals (a name
    is an id within its account), not one deal's stale copy."""
    data = _sheet().drop(columns="Opportunity ID")
    data.insert(0, "Opportunity Name", ["Upsell Q2", "Renewal", "Expansion", "Upsell Q2", "Pilot"])
    data["Account Name"] = ["Acme", "Globex", "Initech", "Umbrella", "Stark"]
    path = tmp_path / "names.csv"
    data.to_csv(path, index=False)
    got = read_history(path).deals
    assert len(got) == len(TRUTH)
    assert sorted(got["outcome"]) == sorted(TRUTH["outcome"])


def test_an_odoo_export_in_french_with_archived_losses(tmp_path: Path) -> None:
    """Odoo in French: a lost deal archived (Actif faux) in its stage, dated in its Date de
    fermeture, with or without a Raison de la perte."""
    data = pd.DataFrame({
        "Opportunité": TRUTH["id"], "Étape": _labels("Gagné", "Proposition", "Proposition"),
        "Revenu espéré": TRUTH["value"], "Actif": (~LOST).map({True: "True", False: "False"}),
        "Créé le": TRUTH["created"], "Date de fermeture": TRUTH["closed"],
        "Raison de la perte": ["", "Trop cher", "", "", ""],
    })  # fmt: skip
    path = tmp_path / "odoo-fr.csv"
    data.to_csv(path, index=False)
    _check(path)


def test_a_summary_report_is_said_to_be_one(tmp_path: Path) -> None:
    """Pipedrive's "Deal duration" report (a row per stage: Deals, average time, value) has no
    deals: the refusal says it is a summary and to export the deals themselves."""
    summary = pd.DataFrame({"Stage": ["Qualification", "Proposal"], "Deals": [36, 14],
                            "Average time in stage": ["7 days", "28 days"],
                            "Total value": ["€530,859", "€692,770"]})  # fmt: skip
    path = tmp_path / "duration.csv"
    summary.to_csv(path, index=False)
    with pytest.raises(ScenarioError, match="looks like a summary") as err:
        read_history(path)
    assert "'Deals'" in str(err.value) and "export the list of deals" in str(err.value)


def test_a_blank_stage_is_read_by_the_status(tmp_path: Path) -> None:
    """Nutshell clears a deal's stage once it is won or lost, its Status saying which: the
    status decides where the stage is blank (said), not a dropped "unknown stage"."""
    export = pd.DataFrame({
        "Lead ID": TRUTH["id"], "Status": _labels("Won", "Lost", "Open"),
        "Stage": _labels("", "", "Propose"), "Value": TRUTH["value"],
        "Created": TRUTH["created"], "Closed": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "nutshell.csv"
    export.to_csv(path, index=False)
    _check(path)
    note = next(i for i in read_history(path).report.issues if i.rule == "stage_from_status")
    assert note.rows == 4 and note.action == "info"


@pytest.mark.parametrize(
    ("column", "yes", "no"),
    [("IsDeleted", "true", "false"), ("ISDELETED", "TRUE", "FALSE"), ("Deleted", "1", "0"),
     ("Is Deleted", "yes", "no")],
)  # fmt: skip
def test_rows_flagged_deleted_are_left_out(tmp_path: Path, column: str, yes: str, no: str) -> None:
    """A Data Loader "Export All" keeps the recycle bin's records, flagged IsDeleted: they are
    no deals (said); a flag column of anything but true / false is not read as one."""
    export = _sheet()
    gone = export.iloc[[0, 1]].assign(**{"Opportunity ID": ["X1", "X2"]})
    export = pd.concat([export, gone], ignore_index=True)
    export[column] = [no] * 5 + [yes] * 2
    path = tmp_path / "queryall.csv"
    export.to_csv(path, index=False)
    _check(path)
    note = next(i for i in read_history(path).report.issues if i.rule == "deleted")
    assert note.rows == 2 and column in note.message
    export[column] = [""] * 5 + ["2023-03-01"] * 2  # when deleted: not a flag, not read
    export.to_csv(path, index=False)
    assert len(read_history(path).deals) == 7


@pytest.mark.parametrize(
    ("won", "lost"),
    [("交易成功", "交易失败"), ("已成交", "失单"), ("赢得", "战败"), ("结束-赢单", "结束-丢单"),
     ("已签约", "关闭-输单"), ("계약 성사", "계약 실패"),  # HubSpot zh-CN / KO, Zoho zh
     ("Vendida", "Perdida"),  # RD Station
     ("Chiusa vinta", "Chiusa persa"), ("Vinta", "Persa"),  # HubSpot Italian
     ("Wygrana", "Przegrana"), ("Kazanıldı", "Kaybedildi"), ("Vunnen", "Förlorad"),
     ("Vundet", "Tabt"), ("Gesloten gewonnen", "Gesloten verloren"), ("Sold", "Dead")],
)  # fmt: skip
def test_won_and_lost_in_more_crms_and_languages(tmp_path: Path, won: str, lost: str) -> None:
    export = _sheet((won, lost, "Qualified"))
    path = tmp_path / "labels.csv"
    export.to_csv(path, index=False)
    _check(path)


def test_a_label_begins_with_a_lost_one_only_as_a_whole_word(tmp_path: Path) -> None:
    """A label "Dead - no budget" is lost as Dead is; "Deadline set" is an open stage."""
    for open_, outcome in (("Dead - no budget", "lost"), ("Deadline set", "open")):
        export = _sheet(("Closed Won", "Closed Lost", open_))
        export.loc[3, "Close Date"] = "2023-03-20" if outcome == "lost" else ""
        path = tmp_path / "dead.csv"
        export.to_csv(path, index=False)
        assert read_history(path).deals.set_index("deal")["outcome"]["D4"] == outcome


def test_a_deal_reopened_in_a_changelog_closes_at_its_last_close(tmp_path: Path) -> None:
    """Pipedrive's changelog writes a re-open as a Status change Lost -> Open: the first loss
    is undone (the deal back in its stage), the deal closes at its last close."""
    rows = []
    for deal, outcome, created, closed, value in TRUTH.itertuples(index=False):
        rows.append((deal, "Deal created", "", "", created, value))
        rows.append((deal, "Stage", "Qualified", "Proposal", created + " 12:00", value))
        if outcome == "open":
            continue
        final = "Won" if outcome == "won" else "Lost"
        if deal == "D2":  # lost, re-opened the next day, lost for good later
            rows.append((deal, "Status", "Open", "Lost", "2023-01-20", value))
            rows.append((deal, "Status", "Lost", "Open", "2023-01-21", value))
        rows.append((deal, "Status", "Open", final, closed, value))
    export = pd.DataFrame(rows, columns=["Deal ID", "Field", "Old value", "New value", "Time",
                                         "Value"])  # fmt: skip
    path = tmp_path / "changelog.csv"
    export.to_csv(path, index=False)
    got = _check(path)
    assert got.loc["D2", "opened"] == pd.Timestamp("2023-01-05")
    said = next(i for i in read_history(path).report.issues if i.rule == "field_history")
    assert "1 re-opening" in said.message


@pytest.mark.parametrize(
    ("time", "field", "stage"),
    [("Change time", "Field", "Stage"),  # Pipedrive's changelog
     ("Changed Date", "Changed Field", "Pipeline Phase")],  # Dynamics 365's audit history
)  # fmt: skip
def test_a_changelog_by_other_names_is_read_as_one(
    tmp_path: Path, time: str, field: str, stage: str
) -> None:
    """A field history whose time column is Pipedrive's 'Change time' or Dynamics 365's
    'Changed Date', and whose stage field is Dynamics' 'Pipeline Phase': its stage changes."""
    rows = []
    for deal, outcome, created, closed, value in TRUTH.itertuples(index=False):
        rows.append((deal, stage, "Qualify", "Develop", created + " 12:00", value))
        if outcome != "open":
            final = "Won" if outcome == "won" else "Lost"
            rows.append((deal, "Status", "Open", final, closed, value))
    export = pd.DataFrame(rows, columns=["Deal ID", field, "Old Value", "New Value", time,
                                         "Value"])  # fmt: skip
    path = tmp_path / "changelog.csv"
    export.to_csv(path, index=False)
    _check(path)
    assert any(i.rule == "field_history" for i in read_history(path).report.issues)


def test_an_audit_history_dates_each_deal_from_its_create_event(tmp_path: Path) -> None:
    """Dynamics 365's audit history writes a record's creation as the Event 'Create' with no
    field changed: the deal is in its first stage from then, not from its first change."""
    rows = []
    for deal, outcome, created, closed, value in TRUTH.itertuples(index=False):
        rows.append((deal, "Create", "", "", "", created + " 09:00", value))
        later = str((pd.Timestamp(created) + pd.Timedelta(days=1)).date())
        rows.append((deal, "Update", "Pipeline Phase", "1-Qualify", "2-Develop", later, value))
        if outcome != "open":
            final, event = ("Won", "Win") if outcome == "won" else ("Lost", "Lose")
            rows.append((deal, event, "Status", "Open", final, closed, value))
    export = pd.DataFrame(rows, columns=["Opportunity", "Event", "Changed Field", "Old Value",
                                         "New Value", "Changed Date", "Est. Revenue"])  # fmt: skip
    path = tmp_path / "audit.csv"
    export.to_csv(path, index=False)
    got = _check(path)
    assert list(got["opened"].dt.strftime("%Y-%m-%d")) == list(TRUTH["created"])


def test_a_history_with_an_unknown_time_column_is_refused_with_the_shape_to_give(
    tmp_path: Path,
) -> None:
    """A row per stage change whose time column has a name not known ('Moved On'): the
    refusal says the ids repeat and gives the mapping that reads it as a history, which
    then reads."""
    rows = []
    for deal, outcome, created, closed, value in TRUTH.itertuples(index=False):
        rows.append((deal, "Qualification", created, value))
        if outcome != "open":
            rows.append((deal, "Closed Won" if outcome == "won" else "Closed Lost", closed, value))
    export = pd.DataFrame(rows, columns=["Deal ID", "Deal Stage", "Moved On", "Amount"])
    path = tmp_path / "moves.csv"
    export.to_csv(path, index=False)
    with pytest.raises(ScenarioError) as err:
        read_history(path)
    assert "shape: stage_changes" in str(err.value) and "'Deal ID'" in str(err.value)
    columns = {"id": "Deal ID", "stage": "Deal Stage", "entered": "Moved On", "value": "Amount"}
    mapping = {"shape": "stage_changes", "columns": columns}
    _check(path, mapping=mapping)


def test_a_stage_history_with_the_dates_each_stage_was_entered_and_left(tmp_path: Path) -> None:
    """A row per stage visit: 'Date entered stage' / 'Date exited stage' (as stage-history
    reports write them) is a history of stage changes, each entered on its date."""
    rows = []
    for deal, outcome, created, closed, value in TRUTH.itertuples(index=False):
        final = {"won": "Closed Won", "lost": "Closed Lost"}.get(outcome)
        rows.append((deal, "Qualification", created, closed, value))
        if final:
            rows.append((deal, final, closed, "", value))
    export = pd.DataFrame(rows, columns=["Deal ID", "Deal Stage", "Date entered stage",
                                         "Date exited stage", "Amount"])  # fmt: skip
    path = tmp_path / "stage-history.csv"
    export.to_csv(path, index=False)
    _check(path)


def _comma(v: float) -> str:
    return f"{v:,.2f}".replace(",", " ").replace(".", ",")  # 1 200,00


@pytest.mark.parametrize(
    ("columns", "currency"),
    [
        ({"ID": TRUTH["id"], "Titel": "x", "Fase": _labels("Gewonnen", "Verloren", "Offerte"),
          "Geschatte waarde": [_comma(v).replace(" ", ".") for v in TRUTH["value"]],
          "Valuta": "EUR", "Aangemaakt op": TRUTH["created"], "Afgesloten op": TRUTH["closed"]},
         "EUR"),  # Teamleader, Dutch
        ({"ID record": TRUTH["id"], "Nome trattativa": "x",
          "Fase della trattativa": _labels("Chiusa vinta", "Chiusa persa", "Appuntamento"),
          "Importo": TRUTH["value"], "Valuta": "EUR", "Data di creazione": TRUTH["created"],
          "Data di chiusura": TRUTH["closed"]}, "EUR"),  # HubSpot, Italian
        ({"ID": TRUTH["id"], "Nazwa": "x", "Etap": "Negocjacje",
          "Status": _labels("Wygrana", "Przegrana", "Otwarta"),
          "Wartość": [_comma(v) + " zł" for v in TRUTH["value"]],
          "Data utworzenia": TRUTH["created"], "Data zamknięcia": TRUTH["closed"]},
         "PLN"),  # Livespace, Polish
        ({"Nome": TRUTH["id"], "Etapa": "Negociação",
          "Estado": _labels("Vendida", "Perdida", "Em andamento"),
          "Valor Único": ["R$ " + _comma(v).replace(" ", ".") for v in TRUTH["value"]],
          "Data de criação": TRUTH["created"], "Data de fechamento": TRUTH["closed"]},
         "BRL"),  # RD Station, Brazil
        ({"ID": TRUTH["id"], "Lead title": "x", "Sale": TRUTH["value"],
          "Lead status": _labels("Closed - won", "Closed - lost", "Negotiation"),
          "Created date": TRUTH["created"], "Closed at": TRUTH["closed"]}, "USD"),  # Kommo
    ],
)  # fmt: skip
def test_exports_read_by_their_own_column_names(
    tmp_path: Path, columns: dict[str, object], currency: str
) -> None:
    """Other CRMs' and languages' names for the amount (Geschatte waarde, Importo, Wartość,
    Valor Único, Kommo's Sale), its currency and the deal's other fields, and the currency of
    amounts written with zł or R$."""
    path = tmp_path / "export.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    _check(path)
    assert read_history(path).currency == currency


@pytest.mark.parametrize(
    ("actual", "planned"),
    [("实际成交时间", "预计成交时间"), ("实际结束时间", "预计结束时间"),
     ("实际签单日期", "预计签单日期"), ("Actual Closing Date", "Expected Closing Date")],
)  # fmt: skip
def test_an_actual_close_beside_a_planned_one_is_the_close(
    tmp_path: Path, actual: str, planned: str
) -> None:
    """企业微信's, 销帮帮's and 金蝶's deals keep the real close (实际: actual) beside the plan
    (预计: expected): a decided deal closes on the real one; an actual close column names when
    a deal did close, so no open deal has one."""
    data = _sheet().rename(columns={"Close Date": actual})
    data[planned] = ["2023-03-15", "2023-03-15", "2023-04-01", "2023-06-30", "2023-04-02"]
    path = tmp_path / "actual.csv"
    data.to_csv(path, index=False)
    _check(path)
    assert "expected_as_closed" not in {i.rule for i in read_history(path).report.issues}


def test_a_chinese_stage_status_column_decides_the_outcome(tmp_path: Path) -> None:
    """纷享销客 keeps 商机阶段 at the stage a deal closed from and says won or lost in 阶段状态
    (赢单 / 输单 / 进行中)."""
    data = pd.DataFrame({
        "商机编号": TRUTH["id"], "商机阶段": "谈判审核",
        "阶段状态": _labels("赢单", "输单", "进行中"), "商机金额": TRUTH["value"],
        "创建时间": TRUTH["created"], "结单日期": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "fxiaoke.csv"
    data.to_csv(path, index=False)
    _check(path)


def test_a_polish_or_czech_csv_in_windows_1250(tmp_path: Path) -> None:
    """Excel on a Polish or Czech Windows writes Windows-1250: its ł, ś, ć, ť and amounts in zł
    read as themselves, not as Windows-1252's ³, œ, æ (z³ is no currency); a Western file with
    the same bytes' signs (£12, a cubic metre's ³ after a digit) stays Windows-1252."""
    data = _sheet()
    data["Account"] = ["Michał Sp. z o.o.", "Łódź", "Śląsk", "Kopeć", "Šťastný s.r.o."]
    data["Amount"] = [f"{v:,.2f} zł".replace(",", " ").replace(".", ",") for v in TRUTH["value"]]
    path = tmp_path / "polish.csv"
    path.write_bytes(data.to_csv(index=False, sep=";").encode("cp1250"))
    h = read_history(path)
    assert list(_check(path)["account"]) == list(data["Account"])
    assert h.currency == "PLN"
    data["Account"] = ["Müller GmbH", "Société Générale", "Acme", "Tank 3³", "Ærø"]
    data["Amount"] = [f"£{v:,.2f}" for v in TRUTH["value"]]
    path.write_bytes(data.to_csv(index=False).encode("cp1252"))
    assert list(_check(path)["account"]) == list(data["Account"])


def test_control_characters_of_a_damaged_export_are_left_out(tmp_path: Path) -> None:
    """NUL bytes after labels (a damaged or padded export) and a vertical tab are no text, and
    a scenario's YAML cannot hold them: read without them."""
    data = _sheet(("Closed Won\x00\x00", "Closed Lost", "Proposal\x0b"))
    data["Account"] = ["Acme\x00", "Globex", "Initech", "Umbrella", "Stark\x1f"]
    path = tmp_path / "nul.csv"
    path.write_bytes(data.to_csv(index=False).encode("utf-8"))
    h = read_history(path)
    assert list(_check(path)["account"]) == ["Acme", "Globex", "Initech", "Umbrella", "Stark"]
    said = " ".join(i.message for i in h.report.issues)
    assert "\x00" not in said and "\x0b" not in said


@pytest.mark.parametrize("name", ["deals.jsonl", "deals.ndjson", "deals.json"])
def test_json_lines_are_records_and_an_empty_page_says_so(tmp_path: Path, name: str) -> None:
    """BigQuery's and Fivetran's export of a table: one JSON object per line (also under a
    .json name, as BigQuery writes it), read as records; an API page with no records is said
    to have none, not to lack columns."""
    lines = [
        json.dumps({"Id": d.id, "StageName": stage, "Amount": d.value, "CreatedDate": d.created,
                    "CloseDate": d.closed})
        for d, stage in zip(TRUTH.itertuples(), _labels("Closed Won", "Closed Lost", "Proposal"),
                            strict=True)
    ]  # fmt: skip
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _check(path)
    path.write_text(json.dumps({"data": [], "info": {"count": 0}}), encoding="utf-8")
    with pytest.raises(ScenarioError, match="no records"):
        read_history(path)


@pytest.mark.parametrize(
    ("number", "name", "stage", "value", "closed"),
    [
        ("单据编号", "商机名称", "商机阶段", "预计签单金额", "实际签单日期"),  # 金蝶云星空
        ("项目编号", "项目名称", "项目阶段", "合同金额", "结单日期"),  # 项目型销售
    ],
)
def test_a_bill_or_project_number_is_the_id(
    tmp_path: Path, number: str, name: str, stage: str, value: str, closed: str
) -> None:
    """金蝶云星空 numbers each 商机 as a document (单据编号 SJ000001), and where the deal is a
    project its number is 项目编号: that is its id, not its name (商机名称, 项目名称), which
    two deals may share."""
    data = pd.DataFrame({
        number: TRUTH["id"], name: "续约", stage: "商务谈判",
        "商机状态": _labels("赢单", "输单", "跟进中"), value: TRUTH["value"],
        "创建日期": TRUTH["created"], closed: TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "numbered.csv"
    data.to_csv(path, index=False)
    _check(path)


def test_api_pages_saved_one_after_another_are_one_table(tmp_path: Path) -> None:
    """A paged API's answers saved together, as a list or one a line (Bitrix24's
    ``{"result": [...], "next": 2}`` then the rest): their records in order."""
    records = [{str(k): str(v) for k, v in r.items()} for r in _sheet().to_dict("records")]
    pages = [{"result": records[:2], "next": 2, "total": 5}, {"result": records[2:], "total": 5}]
    for name, text in (("pages.json", json.dumps(pages)),
                       ("pages.jsonl", "\n".join(map(json.dumps, pages)))):  # fmt: skip
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        _check(path)


def test_a_lookups_name_in_an_api_record_is_the_field_it_looks_up(tmp_path: Path) -> None:
    """Zoho's API writes a deal's account and owner as lookups (``Account_Name: {name, id}``),
    Salesforce's as related records (``Account: {Name}``): flattened, ``Account_Name.name``
    and ``Account.Name`` are the account, ``Owner.name`` the owner."""
    accounts = ["Acme", "Beta", "Acme", "Gamma", "Beta"]
    for account, owner in (("Account_Name", "Owner"), ("Account", "Owner")):
        key = "name" if account == "Account_Name" else "Name"
        records = [
            {"id": r["Opportunity ID"], "Stage": r["Stage"], "Amount": r["Amount"],
             "Created_Time": r["Created Date"], "Closing_Date": r["Close Date"],
             account: {key: a, "id": f"A{n}"}, owner: {key: "Ann", "id": "U1"}}
            for n, (r, a) in enumerate(zip(_sheet().to_dict("records"), accounts, strict=True))
        ]  # fmt: skip
        path = tmp_path / "deals.json"
        path.write_text(json.dumps({"data": records}), encoding="utf-8")
        got = _check(path)
        assert list(got["account"]) == accounts and set(got["owner"]) == {"Ann"}


def test_odoos_api_records_read_their_links_by_name_and_false_as_blank(tmp_path: Path) -> None:
    """Odoo's external API (search_read on crm.lead) writes a link as ``[id, name]``
    (``stage_id: [4, "Won"]``) and an empty field as false (an open deal's ``date_closed``):
    the name, and a blank; a true / false column (``active``) stays one."""
    stage = {"won": [4, "Won"], "lost": [3, "Proposition"], "open": [2, "Qualified"]}
    records = [
        {"id": int(d[1:]), "name": f"Deal {d}", "stage_id": stage[o], "expected_revenue": v,
         "create_date": f"{c} 10:00:00", "date_closed": f"{x} 12:00:00" if x else False,
         "active": o != "lost", "lost_reason_id": [2, "Too expensive"] if o == "lost" else False,
         "user_id": [7, "Mitchell Admin"], "partner_id": [3, "Acme"]}
        for d, o, c, x, v in TRUTH[["id", "outcome", "created", "closed", "value"]].values
    ]  # fmt: skip
    path = tmp_path / "crm_lead.json"
    path.write_text(json.dumps({"jsonrpc": "2.0", "id": None, "result": records}), "utf-8")
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["outcome"]) == list(TRUTH["outcome"])
    assert list(got["closed"].dt.strftime("%Y-%m-%d").fillna("")) == list(TRUTH["closed"])
    assert set(got["owner"]) == {"Mitchell Admin"} and set(got["account"]) == {"Acme"}


def _bitrix_history() -> list[dict[str, str]]:
    """TRUTH's deals as Bitrix24's crm.stagehistory.list writes them: OWNER_ID the deal whose
    stage changed, TYPE_ID 1 its creation, STAGE_SEMANTIC_ID P / S / F; D5 lost in a custom
    failure stage that no lost label names."""
    rows, n = [], 0
    final = {"won": ("C1:WON", "S"), "lost": ("C1:LOSE", "F"), "open": None}
    for deal, outcome, created, closed in TRUTH[["id", "outcome", "created", "closed"]].values:
        path = [("1", created, "C1:NEW", "P")]
        if (end := final[outcome]) is not None:
            stage = "C1:UC_7F2K" if deal == "D5" else end[0]
            path.append(("3", closed, stage, end[1]))
        for type_id, day, stage, semantic in path:
            n += 1
            rows.append({"ID": str(n), "TYPE_ID": type_id, "OWNER_ID": str(deal),
                         "CREATED_TIME": f"{day}T10:00:00+03:00", "CATEGORY_ID": "1",
                         "STAGE_SEMANTIC_ID": semantic, "STAGE_ID": stage})  # fmt: skip
    return rows


def test_a_bitrix24_stage_history_is_keyed_by_its_owner_entity(tmp_path: Path) -> None:
    """Bitrix24's stage history (crm.stagehistory.list) names the deal OWNER_ID (its owner
    entity, not a salesperson) and says each stage's outcome in STAGE_SEMANTIC_ID: read as
    one row per stage change of that deal, S won and F lost (a custom failure stage too); as
    a CSV and as the REST answer; without the semantics, by its stage ids."""
    csv = tmp_path / "stagehistory.csv"
    pd.DataFrame(_bitrix_history()).to_csv(csv, index=False)
    page = tmp_path / "stagehistory.json"
    page.write_text(json.dumps({"result": {"items": _bitrix_history()}}), encoding="utf-8")
    # its fields selected without the semantics: the stage ids WON / LOSE still close
    bare = tmp_path / "bare.csv"
    pd.DataFrame(_bitrix_history()).drop(columns="STAGE_SEMANTIC_ID").replace(
        {"C1:UC_7F2K": "C1:LOSE"}
    ).to_csv(bare, index=False)
    for path in (csv, page, bare):
        got = read_history(path).deals.set_index("deal").sort_index()
        assert list(got.index) == list(TRUTH["id"])
        assert list(got["outcome"]) == list(TRUTH["outcome"])
        assert list(got["closed"].dt.strftime("%Y-%m-%d").fillna("")) == list(TRUTH["closed"])


def test_a_bitrix24_deal_list_closes_by_its_stage_semantics(tmp_path: Path) -> None:
    """Bitrix24's deal list (crm.deal.list) writes each deal's STAGE_SEMANTIC_ID beside its
    STAGE_ID: F closes a deal lost in a custom failure stage no lost label names; its
    CURRENCY_ID is the amount's currency, ASSIGNED_BY_ID the responsible salesperson."""
    data = pd.DataFrame({
        "ID": TRUTH["id"], "STAGE_ID": _labels("C1:WON", "C1:UC_7F2K", "C1:NEW"),
        "STAGE_SEMANTIC_ID": TRUTH["outcome"].map({"won": "S", "lost": "F", "open": "P"}),
        "OPPORTUNITY": TRUTH["value"], "DATE_CREATE": TRUTH["created"],
        "CLOSEDATE": TRUTH["closed"].where(TRUTH["closed"] != "", "2023-06-30"),
        "CURRENCY_ID": "EUR", "ASSIGNED_BY_ID": ["1", "7", "1", "7", "9"],
    })  # fmt: skip
    path = tmp_path / "deals.csv"
    data.to_csv(path, index=False)
    got = _check(path, currency="EUR")
    assert set(got["currency"]) == {"EUR"} and list(got["owner"]) == ["1", "7", "1", "7", "9"]


def _bitrix_pipelines() -> pd.DataFrame:
    """TRUTH's deals in Bitrix24's pipeline 1 (stage ids C1:...), beside two deals of the
    general pipeline 0 (its stage ids bare) and one of pipeline 2, as crm.deal.list writes
    them with their CATEGORY_ID."""
    main = pd.DataFrame({
        "ID": TRUTH["id"], "CATEGORY_ID": "1", "STAGE_ID": _labels("C1:WON", "C1:LOSE", "C1:NEW"),
        "OPPORTUNITY": TRUTH["value"], "DATE_CREATE": TRUTH["created"],
        "CLOSEDATE": TRUTH["closed"].where(TRUTH["closed"] != "", "2023-06-30"),
    })  # fmt: skip
    other = pd.DataFrame({
        "ID": ["G1", "G2", "S1"], "CATEGORY_ID": ["0", "0", "2"],
        "STAGE_ID": ["WON", "PREPARATION", "C2:LOSE"], "OPPORTUNITY": [90.0, 40.0, 10.0],
        "DATE_CREATE": ["2023-01-03", "2023-01-04", "2023-01-06"],
        "CLOSEDATE": ["2023-01-20", "2023-06-30", "2023-01-25"],
    })  # fmt: skip
    return pd.concat([main, other], ignore_index=True)


def test_a_bitrix24_export_of_several_pipelines_keeps_its_main_one(tmp_path: Path) -> None:
    """Each Bitrix24 pipeline (CATEGORY_ID; its stage ids prefixed C1:, C2:) is its own
    process: the one with most deals is read, the others reported with their deals and the
    mapping key that picks one (``pipeline``); the pipeline is also read from the stage ids'
    prefix where CATEGORY_ID was not exported."""
    path = tmp_path / "deals.csv"
    _bitrix_pipelines().to_csv(path, index=False)
    _check(path)
    note = next(i for i in read_history(path).report.issues if i.rule == "other_pipeline")
    assert note.rows == 3 and "'0' (2 deals)" in note.message and "'2' (1 deal)" in note.message
    assert "pipeline:" in note.message
    bare = tmp_path / "bare.csv"
    _bitrix_pipelines().drop(columns="CATEGORY_ID").to_csv(bare, index=False)
    _check(bare)
    _mapping_picks(path, "0", "3", r"'0', '1', '2'")


def _mapping_picks(path: Path, pick: str, lacking: str, listed: str) -> None:
    """``pipeline: pick`` in a mapping file reads the general pipeline (G1 won, G2 open); a
    pipeline it has not (``lacking``) is an error that lists those it has (``listed``)."""
    mapping = path.parent / "m.yaml"
    mapping.write_text(f"pipeline: {pick}\n", encoding="utf-8")
    general = read_history(path, mapping_file=mapping).deals.set_index("deal").sort_index()
    assert list(general.index) == ["G1", "G2"] and list(general["outcome"]) == ["won", "open"]
    mapping.write_text(f"pipeline: '{lacking}'\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=rf"pipeline '{lacking}'.*{listed}"):
        read_history(path, mapping_file=mapping)


def test_a_category_id_without_bitrix24_stage_ids_names_no_pipeline(tmp_path: Path) -> None:
    """Another CRM's ``Category ID`` (a product's category) beside a plain stage column splits
    no process: every deal is read."""
    path = tmp_path / "deals.csv"
    _sheet().assign(**{"Category ID": ["1", "2", "1", "2", "3"]}).to_csv(path, index=False)
    _check(path)
    assert not any(i.rule == "other_pipeline" for i in read_history(path).report.issues)


def _bitrix_ui(header: str, pipeline: str, other: str) -> pd.DataFrame:
    """TRUTH's deals in one pipeline of a Bitrix24 UI export (the pipeline by its name under
    ``header``, the salesperson as Responsible), beside two deals of ``other``."""
    main = _sheet(("Deal won", "Analyze failure", "In progress")).assign(
        **{header: pipeline, "Responsible": "Ann"}
    )
    more = pd.DataFrame({
        "Opportunity ID": ["G1", "G2"], "Stage": ["Deal won", "Negotiation"],
        "Amount": [90.0, 40.0], "Created Date": ["2023-01-03", "2023-01-04"],
        "Close Date": ["2023-01-20", ""], header: other, "Responsible": "Bob",
    })  # fmt: skip
    return pd.concat([main, more], ignore_index=True)


@pytest.mark.parametrize(
    ("header", "pipeline", "other"),
    [("Направление", "Продажи", "Общее"), ("Воронка", "Продажи", "Общая"),
     ("Pipeline", "Sales", "General")],
)  # fmt: skip
def test_a_bitrix24_ui_export_keeps_one_pipeline_by_its_name(
    header: str, pipeline: str, other: str, tmp_path: Path
) -> None:
    """Bitrix24's UI export names each deal's pipeline (Направление, Воронка; Pipeline in
    English, beside its Responsible): read as CATEGORY_ID is, the one with most deals kept and
    the others reported; ``pipeline:`` picks another by its name, however capitalised."""
    path = tmp_path / "deals.csv"
    _bitrix_ui(header, pipeline, other).to_csv(path, index=False)
    _check(path)
    note = next(i for i in read_history(path).report.issues if i.rule == "other_pipeline")
    assert note.rows == 2 and f"{other!r} (2 deals)" in note.message and header in note.message
    _mapping_picks(path, other.upper(), "Renewals", repr(other))


def test_a_pipeline_the_mapping_picks_is_read_from_any_pipeline_column(tmp_path: Path) -> None:
    """Another CRM's ``Pipeline`` column (no Bitrix24 Responsible beside it) mixes its
    pipelines as before, unless ``pipeline:`` picks one; a ``pipeline:`` the export has no
    column for is an error, not a setting silently ignored."""
    path = tmp_path / "deals.csv"
    _bitrix_ui("Pipeline", "Sales", "Renewals").drop(columns="Responsible").to_csv(
        path, index=False
    )
    assert len(read_history(path).deals) == 7
    mapping = tmp_path / "m.yaml"
    mapping.write_text("pipeline: sales\n", encoding="utf-8")
    _check(path, mapping_file=mapping)
    bare = tmp_path / "bare.csv"
    _sheet().to_csv(bare, index=False)
    with pytest.raises(ScenarioError, match=r"pipeline 'sales'.*no deal's pipeline"):
        read_history(bare, mapping_file=mapping)


@pytest.mark.parametrize(
    ("header", "yes", "no", "stages"),
    [("CLOSED", "Y", "N", ("C1:WON", "C1:UC_7F2K", "C1:NEW")),
     ("Closed", "Yes", "No", ("Deal won", "Not interested", "Negotiation")),
     ("Сделка закрыта", "Да", "Нет", ("Сделка успешна", "Отказ клиента", "Переговоры"))],
)  # fmt: skip
def test_a_bitrix24_closed_flag_alone_closes_a_deal(
    header: str, yes: str, no: str, stages: tuple[str, str, str], tmp_path: Path
) -> None:
    """Bitrix24's CLOSED (Y / N; Closed, Сделка закрыта in its UI) with no stage semantics
    beside it: a deal closes in its pipeline's one success stage or in a failure stage, so a
    closed deal in a stage no label names is lost (a warning that names the stage and the fix);
    an open one stays open."""
    won, failed, _ = stages
    data = _sheet(stages).rename(columns={"Close Date": "Expected close date"})
    data["Expected close date"] = TRUTH["closed"].where(TRUTH["closed"] != "", "2023-06-30")
    data[header] = TRUTH["outcome"].map({"won": yes, "lost": yes, "open": no})
    path = tmp_path / "bitrix.csv"
    data.to_csv(path, index=False)
    _check(path)
    warned = next(i for i in read_history(path).report.issues if i.rule == "lost_by_closed_flag")
    assert warned.rows == 2 and repr(failed) in warned.message and "labels:" in warned.message
    # a renamed success stage named in labels is won
    mapping = tmp_path / "m.yaml"
    mapping.write_text(f"labels: {{won: ['{won}', '{failed}']}}\n", encoding="utf-8")
    got = read_history(path, mapping_file=mapping).deals.set_index("deal").sort_index()
    assert list(got["outcome"]) == ["won", "won", "won", "open", "won"]
