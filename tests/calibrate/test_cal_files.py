"""Reading exports as they come: encodings, .xlsx, numbers with separators and 万/亿, time zones."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from calib_helpers import MAVEN, truth

from simsales.calibrate.calibrate import calibrate
from simsales.calibrate.importer import read_history
from simsales.calibrate.sources.files import detect_encoding, read_table
from simsales.calibrate.sources.parse import parse_number, parse_numbers, parse_times
from simsales.calibrate.synthetic import opportunity_rows, stage_change_rows
from simsales.errors import ScenarioError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.50", 1234.5), ("1.234,50", 1234.5), ("1 234", 1234.0), ("12,500", 12500.0),
        ("12,5", 12.5), ("0.125", 0.125), ("1.234.567", 1234567.0), ("¥1,200", 1200.0),
        ("USD 3,000", 3000.0), ("€ 1.000,00", 1000.0), ("1.2万", 12000.0), ("2,5万", 25000.0),
        ("3亿", 3e8), ("38.71万", 387100.0), ("-5", -5.0),
        # groups by a space or an apostrophe, then the decimal mark (French, Swiss writing)
        ("1 234,56", 1234.56), ("1\u00a0234\u00a0567,89", 1234567.89), ("1'234,5", 1234.5),
        ("-1 234,5", -1234.5), ("1 234.56", 1234.56), ("2.5万元", 25000.0), ("3亿元", 3e8),
    ],
)  # fmt: skip
def test_numbers_as_spreadsheets_write_them(text: str, value: float) -> None:
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "lots", "n/a", "1,2,3.4.5", "1,234,56"])
def test_what_is_not_a_number(text: str) -> None:
    assert math.isnan(parse_number(text))


def test_amounts_abbreviated_in_thousands_millions_and_billions() -> None:
    got = parse_numbers(pd.Series(["12K", "$1.2M", "3.5 MM", "2bn", "€ 7.5m", "12 km", "k"]),
                        amounts=True)  # fmt: skip
    np.testing.assert_allclose(got[:5], [12e3, 1.2e6, 3.5e6, 2e9, 7.5e6])
    assert got[5:].isna().all()
    assert parse_numbers(pd.Series(["12K"])).isna().all()  # money only


def test_timestamps_with_zones_take_the_scenario_zone_day() -> None:
    raw = pd.Series(["2023-01-05T23:30:00.000+0000", "2023-01-05T10:00:00Z", "2023/1/5",
                     "2023年1月6日", "2023-01-05 10:00", "9999-12-31", "soon"])  # fmt: skip
    utc = parse_times(raw)
    sh = parse_times(raw, timezone="Asia/Shanghai")
    assert sh[0] == pd.Timestamp("2023-01-06 07:30") and utc[0] == pd.Timestamp("2023-01-05 23:30")
    assert sh[1] == pd.Timestamp("2023-01-05 18:00")
    assert sh[2] == pd.Timestamp("2023-01-05") and sh[3] == pd.Timestamp("2023-01-06")
    assert sh[4] == pd.Timestamp("2023-01-05 10:00")  # no offset: already local
    assert pd.isna(sh[5]) and pd.isna(sh[6])


def test_short_offsets_and_spreadsheet_day_numbers() -> None:
    """``+08`` (PostgreSQL's text for timestamptz) is an offset, a date's ``-05`` is not;
    a five-digit number is Excel's day number (1900 system: 45000 is 2023-03-15), with the
    fraction as the time of day; an eight-digit one is an ISO basic date."""
    raw = pd.Series(["2023-01-05T10:00:00+08", "2023-01-05 02:00-05", "2023-01-05",
                     "45000", "45000.25", "20230105", None])  # fmt: skip
    got = parse_times(raw, timezone="Asia/Shanghai")
    assert got[0] == pd.Timestamp("2023-01-05 10:00")
    assert got[1] == pd.Timestamp("2023-01-05 15:00")
    assert got[2] == pd.Timestamp("2023-01-05")
    assert got[3] == pd.Timestamp("2023-03-15") and got[4] == pd.Timestamp("2023-03-15 06:00")
    assert got[5] == pd.Timestamp("2023-01-05") and pd.isna(got[6])


def test_dates_with_the_year_last_in_the_order_the_column_shows() -> None:
    us = parse_times(pd.Series(["1/15/2023", "2/3/2023 10:30", "12/31/2023"]))
    assert list(us) == [pd.Timestamp("2023-01-15"), pd.Timestamp("2023-02-03 10:30"),
                        pd.Timestamp("2023-12-31")]  # fmt: skip
    eu = parse_times(pd.Series(["15/01/2023", "03.02.2023 08:00", "31-12-2023"]))
    assert list(eu) == [pd.Timestamp("2023-01-15"), pd.Timestamp("2023-02-03 08:00"),
                        pd.Timestamp("2023-12-31")]  # fmt: skip
    # a column that does not show the order, or shows both, is not guessed
    assert parse_times(pd.Series(["01/02/2023", "03/04/2023"])).isna().all()
    assert parse_times(pd.Series(["13/01/2023", "01/13/2023"])).isna().all()
    # unless the caller knows it from the file's other columns
    known = parse_times(pd.Series(["01/02/2023"]), day_order="day first")
    assert known[0] == pd.Timestamp("2023-02-01")


def test_times_on_a_twelve_hour_clock() -> None:
    """Dynamics and Salesforce reports write 1/15/2023 10:22 AM, Chinese Windows 下午 3:05."""
    got = parse_times(pd.Series(["1/15/2023 10:22 AM", "1/16/2023 12:05 AM",
                                 "1/17/2023 12:05 PM", "1/18/2023 1:05:09 p.m.",
                                 "2023/1/5 下午3:22", "2023/1/6 上午 11:22",
                                 "1/19/2023 13:05 PM"]))  # fmt: skip
    assert list(got[:6]) == [pd.Timestamp(t) for t in (
        "2023-01-15 10:22", "2023-01-16 00:05", "2023-01-17 12:05", "2023-01-18 13:05:09",
        "2023-01-05 15:22", "2023-01-06 11:22")]  # fmt: skip
    assert pd.isna(got[6])  # hour 13 on a 12-hour clock is not a time
    # a format of the user's own reads the clock itself
    own = parse_times(pd.Series(["01/15/23 10:22 PM"]), "%m/%d/%y %I:%M %p")
    assert own[0] == pd.Timestamp("2023-01-15 22:22")


def test_korean_and_japanese_dates_with_the_afternoon_word_before_the_hour() -> None:
    """HubSpot's and Salesforce's Korean exports write 2023. 3. 5. 오후 2:05 (오전 morning,
    오후 afternoon), Japanese 午前 / 午後; 12 in the morning is 0 h, 12 in the afternoon 12 h."""
    got = parse_times(pd.Series(["2023. 3. 5. 오후 2:05", "2023. 3. 6. 오전 12:10",
                                 "2023. 3. 7. 오후 12:10", "2023. 12. 31. 오전 9:00:30",
                                 "2023. 3. 5.", "2023/3/8 午後 2:05", "2023/3/9 午前 12:05",
                                 "2023.03.10"]))  # fmt: skip
    assert list(got) == [pd.Timestamp(t) for t in (
        "2023-03-05 14:05", "2023-03-06 00:10", "2023-03-07 12:10", "2023-12-31 09:00:30",
        "2023-03-05", "2023-03-08 14:05", "2023-03-09 00:05", "2023-03-10")]  # fmt: skip


def test_an_export_with_us_dates_reads_like_the_iso_one(tmp_path: Path) -> None:
    rows = opportunity_rows(truth(), "2021-03-31", seed=2)
    iso = read_history(_save(rows, tmp_path / "iso.csv"))
    us = rows.copy()
    for col in ("engage_date", "close_date"):
        d = pd.to_datetime(us[col].where(us[col] != ""))
        us[col] = [f"{x.month}/{x.day}/{x.year}" if pd.notna(x) else "" for x in d]
    got = read_history(_save(us, tmp_path / "us.csv"))
    pd.testing.assert_frame_equal(iso.deals, got.deals)
    order = next(i for i in got.report.issues if i.rule == "date_order")
    assert "month first" in order.message and order.rows == len(us)
    # too few rows to show the order: not guessed, and the report says how to give it
    few = us.head(3).copy()
    few["engage_date"], few["close_date"] = "01/02/2021", ["", "03/04/2021", ""]
    few["deal_stage"] = ["Engaging", "Won", "Engaging"]
    with pytest.raises(ScenarioError, match=r"no usable deals.*set date_format"):
        read_history(_save(few, tmp_path / "few.csv"))


def _save(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_salesforce_style_timestamps_in_a_stage_changes_file(tmp_path: Path) -> None:
    """The issue's crash: ``2023-01-05T10:00:00.000+0000`` in a stage-changes export."""
    rows = pd.DataFrame(
        {"id": ["a", "a", "b", "b"], "stage": ["Qualify", "Won", "Qualify", "Lost"],
         "entered_at": ["2023-01-05T10:00:00.000+0000", "2023-01-09T20:00:00.000+0000",
                        "2023-01-06T01:00:00.000+0000", "2023-01-07T10:00:00.000+0000"]}
    )  # fmt: skip
    rows.to_csv(tmp_path / "c.csv", index=False)
    h = read_history(tmp_path / "c.csv", preset="stage-changes", timezone="Asia/Shanghai")
    closed = h.deals.set_index("deal")["closed"]
    assert closed["a"] == pd.Timestamp("2023-01-10 04:00")  # 20:00 UTC is the next day there
    assert not h.date_only


def test_encoding_detection() -> None:
    chinese = "产品,阶段\n云服务,赢单\n咨询,输单\n".encode("gb18030")
    western = "account,stage\nSociété Générale,Won\nMüller GmbH,Lost\n".encode("latin-1")
    assert detect_encoding(chinese) == "gb18030"
    # Ø is a four-byte unit in GB18030 (with ASCII digits inside): still Chinese text
    assert detect_encoding("客户,阶段\nØrsted A/S,线索\n".encode("gb18030")) == "gb18030"
    assert detect_encoding("Straße, Grüße, Ærø, naïve, señor\n".encode("latin-1")) == "cp1252"
    assert detect_encoding(western) == "cp1252"
    assert detect_encoding("\ufeffa,b\n1,2\n".encode()) == "utf-8-sig"
    # Portuguese in Windows-1252: "ção" is two high bytes side by side, not a hanzi
    portuguese = "produto,conta\nSoluções Básicas,Informação\nComunicações,Gestão\n"
    assert detect_encoding(portuguese.encode("cp1252")) == "cp1252"
    # an accented capital before a lower-case letter is a pair of bytes too, in no common block
    nordic = "konto,ort\nÅhléns,Älmhult\nÉlectricité de France,Örebro\nÜbersee,Ängelholm\n"
    assert detect_encoding(nordic.encode("cp1252")) == "cp1252"


def test_traditional_chinese_and_japanese_are_told_from_gb18030() -> None:
    """Big5 decodes as GB18030 too (into other characters): its trail bytes below A1 tell it,
    even when a few labels repeat on every row; Shift-JIS kana lead with 81-9F."""
    rows = "".join(f"台北{i}號,已成交,贏單\n高雄{i},談判中,輸單\n" for i in range(200))
    big5 = ("商機名稱,銷售階段,商機狀態\n" + rows).encode("cp950")
    assert detect_encoding(big5) == "cp950"
    assert detect_encoding("製品,段階\nクラウド,受注\nコンサル,失注\n".encode("cp932")) == "cp932"
    # Simplified text with a repeated label stays GB18030
    simplified = "".join(f"北京{i}号,已成交,赢单\n上海{i},谈判中,输单\n" for i in range(200))
    assert detect_encoding(("商机名称,销售阶段,商机状态\n" + simplified).encode("gb18030")) == (
        "gb18030"
    )


def _scenario(path: Path, **kw: Any) -> dict[str, Any]:
    s = calibrate(read_history(path, **kw), "2021-03-31").scenario()
    return {k: v for k, v in s.items() if k not in ("name", "description")}


def _chinese(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    rows["product"] = rows["product"].map({"alpha": "云服务", "beta": "咨询服务"})
    rows["account"] = rows["account"].str.replace("Account", "客户")
    return rows


def test_one_export_in_every_encoding_and_xlsx_calibrates_alike(tmp_path: Path) -> None:
    rows = _chinese(opportunity_rows(truth(), "2021-03-31", seed=1))
    rows["close_value"] = rows["close_value"].map(lambda v: f"{int(v):,}" if v else v)
    base = tmp_path / "utf8.csv"
    rows.to_csv(base, index=False)
    want = _scenario(base)
    assert {g["name"] for g in want["deal_types"].values()} == {"云服务", "咨询服务"}
    for enc in ("utf-8-sig", "gb18030", "gbk"):
        p = tmp_path / f"{enc}.csv"
        rows.to_csv(p, index=False, encoding=enc)
        assert _scenario(p) == want, enc
    xlsx = tmp_path / "pipeline.xlsx"
    rows.to_excel(xlsx, index=False)
    assert _scenario(xlsx) == want
    assert _scenario(tmp_path / "gbk.csv", encoding="gb18030") == want  # --encoding


def test_excel_unicode_text_and_workbooks_of_several_sheets(tmp_path: Path) -> None:
    """Excel's "Unicode Text" (UTF-16, tab-separated) reads like the CSV; a workbook's table is
    its visible sheet whose header names the most deal fields, then with the most rows (not a
    hidden list, a summary or a longer list of accounts), with the other sheets of the same
    header appended (one per year), each said."""
    rows = _chinese(opportunity_rows(truth(), "2021-03-31", seed=1))
    base = tmp_path / "utf8.csv"
    rows.to_csv(base, index=False)
    want = _scenario(base)
    text = tmp_path / "unicode.txt"
    rows.to_csv(text, index=False, sep="\t", encoding="utf-16")
    assert detect_encoding(text.read_bytes()) == "utf-16" and _scenario(text) == want
    half = len(rows) // 3
    book = tmp_path / "book.xlsx"
    with pd.ExcelWriter(book) as xl:
        pd.DataFrame({"Stage": ["Won", "Lost"], "Probability": [1, 0]}).to_excel(
            xl, sheet_name="Lists", index=False
        )
        pd.DataFrame({"summary": ["deals", "won"], "n": [1, 2]}).to_excel(
            xl, sheet_name="Summary", index=False
        )
        accounts = pd.DataFrame({"Account Name": [f"A{i}" for i in range(3 * len(rows))],
                                 "Industry": "Retail"})  # fmt: skip
        accounts.to_excel(xl, sheet_name="Accounts", index=False)  # more rows, not the deals
        rows.iloc[:half].to_excel(xl, sheet_name="2020", index=False)
        rows.iloc[half:].to_excel(xl, sheet_name="2021", index=False)
        xl.book["Lists"].sheet_state = "hidden"
    assert _scenario(book) == want
    notes = [i.message for i in read_history(book).report.issues if i.rule == "sheets"]
    assert notes[0] == (
        "sheet '2021' read (of the visible sheets, it names the most deal fields in its "
        "header, then has the most rows)"
    )
    assert notes[1].startswith("sheet '2020' has the same header: its rows appended as lines")
    # a year's sheet with its columns in another order and one more: aligned by name, said;
    # one that lacks a field is read with it blank, said; one without the ids is dropped
    with pd.ExcelWriter(book) as xl:
        rows.iloc[:half].to_excel(xl, sheet_name="2020", index=False)
        later = rows.iloc[half:].assign(Source="web")
        later[list(reversed(later.columns))].to_excel(xl, sheet_name="2021", index=False)
    assert _scenario(book) == want
    notes = [i.message for i in read_history(book).report.issues if i.rule == "sheets"]
    assert any("matched by name" in n and "no 'Source': blank" in n for n in notes)
    with pd.ExcelWriter(book) as xl:
        rows.iloc[:half].to_excel(xl, sheet_name="2020", index=False)
        rows.iloc[half:].drop(columns="close_value").to_excel(xl, sheet_name="2021", index=False)
    h = read_history(book)
    (kept,) = [i for i in h.report.issues if i.rule == "sheets" and i.action == "kept"]
    assert kept.rows == len(rows) - half and "no 'close_value': blank" in kept.message
    assert len(h.deals) == len(rows)
    with pd.ExcelWriter(book) as xl:
        rows.iloc[:half].to_excel(xl, sheet_name="2020", index=False)
        rows.iloc[half:].drop(columns="opportunity_id").to_excel(xl, sheet_name="2021", index=False)
    dropped = [
        i
        for i in read_history(book).report.issues
        if i.rule == "sheets" and "not read" in i.message
    ]
    assert len(dropped) == 1 and dropped[0].action == "dropped"
    assert dropped[0].rows == len(rows) - half and "'opportunity_id'" in dropped[0].message


def test_an_xls_workbook_or_web_page_is_refused_with_what_to_do(tmp_path: Path) -> None:
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)  # a compound file's signature
    page = b"<html><table><tr><td>Stage</td></tr></table></html>"
    for name, data in (("old.xls", ole2), ("page.xls", page), ("renamed.xlsx", ole2)):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ScenarioError, match=r"(\(\.xls\)|\(HTML.*\)) cannot be read") as err:
            read_table(path)
        assert "save it as .xlsx" in str(err.value) and str(path) in str(err.value)


def test_a_wrong_encoding_is_a_located_error(tmp_path: Path) -> None:
    p = tmp_path / "g.csv"
    p.write_bytes("产品,阶段\n云服务,赢单\n".encode("gb18030"))
    with pytest.raises(ScenarioError, match="cannot decode the file as utf-8") as err:
        read_table(p, "utf-8")
    assert "--encoding" in str(err.value) and str(p) in str(err.value)


def test_xlsx_dates_and_numbers_read_like_csv(tmp_path: Path) -> None:
    rows = stage_change_rows(truth(), "2020-09-30", seed=3).head(200)
    typed = rows.assign(entered_at=pd.to_datetime(rows["entered_at"]))
    typed.to_excel(tmp_path / "c.xlsx", index=False)  # real date cells, not text
    rows.to_csv(tmp_path / "c.csv", index=False)
    a = read_history(tmp_path / "c.xlsx", preset="stage-changes")
    b = read_history(tmp_path / "c.csv", preset="stage-changes")
    pd.testing.assert_frame_equal(a.visits, b.visits)


def test_a_workbook_cut_short_is_said_to_be_damaged(tmp_path: Path) -> None:
    """An .xlsx whose download stopped part way (its zip has no end): the error says the
    file looks damaged or incomplete and to download it again, not to save it as .xlsx."""
    rows = stage_change_rows(truth(), "2020-09-30", seed=3).head(50)
    rows.to_excel(tmp_path / "whole.xlsx", index=False)
    data = (tmp_path / "whole.xlsx").read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ScenarioError, match="damaged or incomplete") as err:
        read_history(tmp_path / "cut.xlsx")
    assert "download" in str(err.value)


@pytest.mark.data
@pytest.mark.skipif(not MAVEN.exists(), reason=f"real data not found at {MAVEN}")
def test_maven_as_gb18030_and_xlsx_calibrates_like_utf8(tmp_path: Path) -> None:
    # The Maven files are pure ASCII, so the GB18030 copy renames every account to a Chinese
    # name (one to one, in accounts.csv too): the calibration must not change, and the names
    # must read back intact.
    for f in MAVEN.parent.glob("*.csv"):
        shutil.copy(f, tmp_path / f.name)
    frame = pd.read_csv(MAVEN, dtype=str, keep_default_na=False)
    want = calibrate(read_history(tmp_path / MAVEN.name), "2017-06-30").scenario()
    names = {a: f"客户{i:03d}有限公司" for i, a in enumerate(sorted(set(frame["account"]) - {""}))}
    chinese = frame.assign(account=frame["account"].map(lambda a: names.get(a, a)))
    gb = tmp_path / "gb" / MAVEN.name
    xlsx = tmp_path / "x" / "sales_pipeline.xlsx"
    for path in (gb, xlsx):
        path.parent.mkdir()
        for f in MAVEN.parent.glob("*.csv"):
            if f.name != MAVEN.name:
                shutil.copy(f, path.parent / f.name)
    chinese.to_csv(gb, index=False, encoding="gb18030")
    accounts = pd.read_csv(MAVEN.parent / "accounts.csv", dtype=str, keep_default_na=False)
    accounts["account"] = accounts["account"].map(lambda a: names.get(a, a))
    accounts.to_csv(gb.parent / "accounts.csv", index=False, encoding="gb18030")
    frame.to_excel(xlsx, index=False)
    drop = ("name", "description")
    for path in (gb, xlsx):
        history = read_history(path)
        got = calibrate(history, "2017-06-30").scenario()
        if path == gb:
            assert set(names.values()) <= set(history.deals["account"].dropna())
            back = {v: k for k, v in names.items()}
            for deal in got["pipeline"]:  # live deals name their customer
                if "customer" in deal:
                    deal["customer"] = back[deal["customer"]]
        assert {k: v for k, v in got.items() if k not in drop} == {
            k: v for k, v in want.items() if k not in drop
        }, path
