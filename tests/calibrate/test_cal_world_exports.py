"""Exports as CRMs write them beyond English and Chinese, and the cells they leave half-empty:
each read to the deals, outcomes, dates and values it was written from.

- Japanese and Korean Salesforce-style reports (Shift-JIS, code page 949: hangul lie inside
  GB2312's table, so the header read in words picks the encoding) and a Russian Bitrix24-style
  one (Windows-1251), each with its own won / lost labels and its currency;
- placeholders in a date cell (``-``, ``N/A``, ``null``, ``0000-00-00``) are no date;
- amounts written with the currency signs and words of other countries (``R$``, ``₽``, ``zł``,
  ``US$``, full-width ``￦``);
- a Salesforce report's ``Opportunity Currency``; Zendesk Sell's ``Unqualified``, Bitrix24's
  ``Deal won`` / ``Deal lost`` and closed stages in German, French, Spanish, Portuguese; a
  ``Closed`` stage whose ``Outcome`` (or ``Won/Lost``) column says won or lost;
- Close's cents and formatted values, SugarCRM's two amounts and currency names, a Cyrillic
  header's currency, ``kr`` (several currencies), accountants' negatives;
- Pipedrive's ``Currency of Value``, HubSpot's closed flags beside renamed closed stages, a
  Salesforce Data Loader file of any name, a unit or currency in the value header (万元, K,
  USD), three-decimal currencies, UTC offsets, Odoo's archived deals, exports pasted together,
  a grouped report, and HubSpot's amount in the company currency; and what must not be read
  so: a total row under a sheet, an account's ``Active``, German scale words (``1,250 Mio.``),
  three-decimal currencies named outside the cells, exports pasted newest first, zones written
  as words;
- a field only a stage history has, named for a row-per-deal export, date cells that do not
  parse (with a date_format that reads them), and a header naming no field are errors that say
  what to do."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simsales.calibrate.importer import read_history
from simsales.calibrate.sources.parse import (
    amount_currency,
    currency_codes,
    parse_number,
    parse_numbers,
)
from simsales.errors import ScenarioError

# five deals: their outcome, creation, close (blank while open) and value
TRUTH = pd.DataFrame({
    "id": ["D1", "D2", "D3", "D4", "D5"],
    "outcome": ["won", "lost", "won", "open", "open"],
    "created": ["2023-01-02", "2023-01-05", "2023-01-09", "2023-02-01", "2023-02-03"],
    "closed": ["2023-02-01", "2023-02-10", "2023-03-01", "", ""],
    "value": [1200.0, 800.0, 3000.0, 500.0, 700.0],
})  # fmt: skip


def _check(path: Path, **read: object) -> pd.DataFrame:
    """``path`` reads to TRUTH's deals, outcomes, dates and values; its deals returned."""
    h = read_history(path, **read)  # type: ignore[arg-type]
    got = h.deals.set_index("deal").sort_index()
    want = TRUTH.set_index("id").sort_index()
    assert list(got.index) == list(want.index)
    assert list(got["outcome"]) == list(want["outcome"])
    assert list(got["opened"].dt.strftime("%Y-%m-%d")) == list(want["created"])
    closed = got["closed"].dt.strftime("%Y-%m-%d").fillna("")
    assert list(closed) == list(want["closed"])
    assert list(got["value"]) == list(want["value"])
    return got


def _labels(won: str, lost: str, open_: str) -> list[str]:
    return [{"won": won, "lost": lost, "open": open_}[o] for o in TRUTH["outcome"]]


def _russian(v: float) -> str:
    """1 200,00: a space groups the thousands, a comma before the kopecks."""
    return f"{v:,.2f}".replace(",", " ").replace(".", ",")


def _japanese() -> pd.DataFrame:
    return pd.DataFrame({
        "商談 ID": TRUTH["id"], "商談名": "案件", "フェーズ": _labels("成立", "不成立", "提案"),
        "金額": [f"￥{v:,.0f}" for v in TRUTH["value"]], "作成日": TRUTH["created"],
        "完了予定日": TRUTH["closed"],
    })  # fmt: skip


def _korean() -> pd.DataFrame:
    return pd.DataFrame({
        "거래 ID": TRUTH["id"], "거래명": "거래", "단계": _labels("성사", "실패", "제안"),
        "금액": [f"￦{v:,.0f}" for v in TRUTH["value"]], "생성일": TRUTH["created"],
        "마감일": TRUTH["closed"], "담당자": "김",
    })  # fmt: skip


@pytest.mark.parametrize(
    ("export", "encoding", "currency"),
    [(_japanese, "cp932", "JPY"), (_korean, "cp949", "KRW")],  # Korean: not read as Chinese
)
def test_japanese_and_korean_reports_read_in_their_encoding_and_currency(
    tmp_path: Path, export: Callable[[], pd.DataFrame], encoding: str, currency: str
) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(export().to_csv(index=False).encode(encoding))
    _check(path)
    h = read_history(path)
    assert h.currency == currency
    assert encoding in next(i.message for i in h.report.issues if i.rule == "encoding")


def test_hubspots_korean_export_with_its_dates_on_the_korean_clock(tmp_path: Path) -> None:
    """HubSpot's Korean UI: 레코드 ID, 거래 단계, dates as 2023. 2. 1. 오후 3:00."""

    def korean(day: str) -> str:
        d = pd.Timestamp(day) + pd.Timedelta(hours=15)
        return f"{d.year}. {d.month}. {d.day}. 오후 3:00" if day else ""

    export = pd.DataFrame({
        "레코드 ID": TRUTH["id"], "거래 이름": "거래",
        "거래 단계": _labels("계약 성사", "계약 실패", "제안"),
        "금액": [f"₩{v:,.0f}" for v in TRUTH["value"]],
        "생성일": [korean(d) for d in TRUTH["created"]],
        "마감일": [korean(d) for d in TRUTH["closed"]],
    })  # fmt: skip
    path = tmp_path / "hubspot_ko.csv"
    export.to_csv(path, index=False, encoding="utf-8-sig")
    got = _check(path)
    assert (got["opened"].dt.hour == 15).all()
    assert read_history(path).currency == "KRW"


def test_a_chinese_report_in_gb18030_is_still_read_as_chinese(tmp_path: Path) -> None:
    export = pd.DataFrame({
        "商机编号": TRUTH["id"], "商机名称": "项目", "销售阶段": _labels("赢单", "输单", "方案"),
        "金额": TRUTH["value"], "创建时间": TRUTH["created"], "成交日期": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "cn.csv"
    path.write_bytes(export.to_csv(index=False).encode("gb18030"))
    _check(path)
    assert read_history(path).currency == "CNY"


def test_a_russian_report_in_windows_1251_reads_in_roubles(tmp_path: Path) -> None:
    export = pd.DataFrame({
        "ID": TRUTH["id"], "Название сделки": "Сделка",
        "Стадия сделки": _labels("Сделка успешна", "Сделка провалена", "Переговоры"),
        "Сумма": [_russian(v) + " руб." for v in TRUTH["value"]],
        "Дата создания": pd.to_datetime(TRUTH["created"]).dt.strftime("%d.%m.%Y"),
        "Дата закрытия": pd.to_datetime(TRUTH["closed"]).dt.strftime("%d.%m.%Y").fillna(""),
    })  # fmt: skip
    path = tmp_path / "ru.csv"
    path.write_bytes(export.to_csv(index=False, sep=";").encode("cp1251"))
    _check(path)
    assert read_history(path).currency == "RUB"


def test_a_placeholder_in_a_date_cell_is_no_date(tmp_path: Path) -> None:
    """An open deal's close date written ``-``, ``N/A`` or ``TBD`` (still to be set) was a bad
    date, and the deal lost."""
    for placeholder in ("-", "N/A", "null", "0000-00-00", "TBD", "TBC", "待定", "unknown"):
        export = pd.DataFrame({
            "Opportunity ID": TRUTH["id"],
            "Stage": _labels("Closed Won", "Closed Lost", "Proposal"),
            "Amount": TRUTH["value"], "Created Date": TRUTH["created"],
            "Close Date": TRUTH["closed"].replace("", placeholder),
        })  # fmt: skip
        path = tmp_path / "placeholder.csv"
        export.to_csv(path, index=False)
        _check(path)
        note = next(i for i in read_history(path).report.issues if i.rule == "placeholder_date")
        assert note.rows == 2 and placeholder in note.message


@pytest.mark.parametrize(
    ("text", "number", "code"),
    [
        ("R$ 1.234,56", 1234.56, "BRL"),
        ("1 234,56 ₽", 1234.56, "RUB"),
        ("1 234,56 zł", 1234.56, "PLN"),
        ("₺1.234,56", 1234.56, "TRY"),
        ("US$1,234.56", 1234.56, "USD"),  # no Singapore dollar inside it
        ("S$1,234.56", 1234.56, "SGD"),
        ("￦1,000,000", 1_000_000.0, "KRW"),
        ("1.234,56 kr", 1234.56, None),  # kronor or kroner: no one currency
        ("$1,234.56", 1234.56, None),
    ],
)
def test_amounts_with_the_currency_signs_of_other_countries(
    text: str, number: float, code: str | None
) -> None:
    assert parse_number(text) == pytest.approx(number)
    got = amount_currency(pd.Series([text])).iloc[0]
    assert (None if pd.isna(got) else got) == code


@pytest.mark.parametrize(
    ("name", "code"),
    [("Российский рубль", "RUB"), ("Доллар США", "USD"), ("US-Dollar", "USD"),
     ("Dollar des États-Unis", "USD"), ("Dólar americano", "USD"), ("Rublo ruso", "RUB"),
     ("米ドル", "USD"), ("日本円", "JPY"), ("미국 달러", "USD"), ("Dollaro statunitense", "USD")],
)  # fmt: skip
def test_a_currency_named_in_the_crms_language_is_its_code(name: str, code: str) -> None:
    """A currency column as a CRM's Russian, German, French, Spanish, Portuguese, Japanese,
    Korean or Italian UI names it (Bitrix24's Российский рубль): its ISO code."""
    assert currency_codes(pd.Series([name])).iloc[0] == code


@pytest.mark.parametrize(
    ("text", "number", "code"),
    [("人民币1.2亿元", 1.2e8, "CNY"), ("人民幣 1,200", 1200, "CNY"), ("12.5万美元", 125_000, "USD"),
     ("3,000港元", 3000, "HKD"), ("1,500 新台幣", 1500, "TWD"), ("3,000,000원", 3e6, "KRW"),
     ("1,200 원", 1200, "KRW"), ("80万日元", 800_000, "JPY")],
)  # fmt: skip
def test_amounts_with_a_currency_written_in_chinese_or_korean_words(
    text: str, number: float, code: str
) -> None:
    """A Chinese, Taiwanese or Korean sheet writes the currency as a word before or after the
    amount (人民币, 美元, 港元, 新台幣, 원), beside 万 / 亿: the number, in that currency."""
    assert parse_number(text) == pytest.approx(number)
    assert amount_currency(pd.Series([text])).iloc[0] == code


@pytest.mark.parametrize(
    ("text", "number", "code"),
    [("20,5 Tsd. €", 20_500, "EUR"), ("0,02 Mio. €", 20_000, "EUR"), ("3 Mrd.", 3e9, None),
     ("CHF 1’234.56", 1234.56, "CHF"), ("₹12.5 lakh", 1.25e6, "INR"), ("2 crores", 2e7, None),
     ("₹12,50,000", 1.25e6, "INR")],
)  # fmt: skip
def test_amounts_written_with_a_word_for_their_scale(
    text: str, number: float, code: str | None
) -> None:
    """Thousands, millions and billions in German words, lakh and crore (and the Indian
    grouping), a Swiss apostrophe."""
    assert parse_numbers(pd.Series([text]), amounts=True).iloc[0] == pytest.approx(number)
    got = amount_currency(pd.Series([text])).iloc[0]
    assert (None if pd.isna(got) else got) == code


def test_a_salesforce_opportunity_currency_column_is_the_amounts_currency(tmp_path: Path) -> None:
    export = pd.DataFrame({
        "Opportunity ID": TRUTH["id"], "Stage": _labels("Closed Won", "Closed Lost", "Proposal"),
        "Amount": TRUTH["value"], "Opportunity Currency": ["USD", "USD", "EUR", "USD", "USD"],
        "Created Date": TRUTH["created"], "Close Date": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "currency.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.currency == "USD"
    got = h.deals.set_index("deal")["value"]
    assert pd.isna(got["D3"]) and got.drop("D3").notna().all()  # euros are not read as dollars
    assert h.report.count("unknown_currency") == 1


@pytest.mark.parametrize(
    ("won", "lost"),
    [
        ("Won", "Unqualified"),  # Zendesk Sell
        ("Deal won", "Deal lost"),  # Bitrix24
        ("Geschlossen und gewonnen", "Geschlossen und verloren"),  # Salesforce, German
        ("Fermée gagnée", "Fermée perdue"),  # Salesforce, French
        ("Cierre ganado", "Cierre perdido"),  # HubSpot, Spanish
        ("Fechado ganho", "Negócio perdido"),  # HubSpot, Portuguese
    ],
)
def test_closing_stages_of_other_crms_and_languages(tmp_path: Path, won: str, lost: str) -> None:
    export = pd.DataFrame({
        "ID": TRUTH["id"], "Stage": _labels(won, lost, "Qualified"), "Value": TRUTH["value"],
        "Created At": TRUTH["created"], "Closed At": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "labels.csv"
    export.to_csv(path, index=False)
    _check(path)


@pytest.mark.parametrize("column", ["Outcome", "Won/Lost"])
def test_a_closed_stage_is_won_or_lost_by_its_outcome_column(tmp_path: Path, column: str) -> None:
    export = pd.DataFrame({
        "Opportunity ID": TRUTH["id"], "Stage": _labels("Closed", "Closed", "Proposal"),
        column: _labels("Won", "Lost", ""), "Amount": TRUTH["value"],
        "Created Date": TRUTH["created"], "Close Date": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "outcome.csv"
    export.to_csv(path, index=False)
    _check(path)
    # a stage history's outcome field named for a row per deal: said, not ignored
    with pytest.raises(ScenarioError, match="--column status=COLUMN"):
        read_history(path, columns={"outcome": column})
    # a value that reads like a close but is no won or lost label: a problem, not passed over
    export[column] = _labels("Won", "Closed (no decision)", "")
    export.to_csv(path, index=False)
    note = next(i for i in read_history(path).report.issues if i.rule == "closed_looking_status")
    assert note.action == "kept" and note.rows == 1 and "Closed (no decision)" in note.message


@pytest.mark.parametrize("written", ["%-m/%-d/%y", "%d.%m.%y", "%G-W%V-%u"])
def test_dates_that_do_not_parse_are_said_with_the_column_and_the_fix(
    tmp_path: Path, written: str
) -> None:
    """The error names the column, a cell, and a date_format that reads it: the one proposed
    reads the whole file right."""
    export = pd.DataFrame({
        "Opportunity ID": TRUTH["id"], "Stage": _labels("Closed Won", "Closed Lost", "Proposal"),
        "Amount": TRUTH["value"],
        "Created Date": pd.to_datetime(TRUTH["created"]).dt.strftime(written),
        "Close Date": pd.to_datetime(TRUTH["closed"]).dt.strftime(written).fillna(""),
    })  # fmt: skip
    path = tmp_path / "dates.csv"
    export.to_csv(path, index=False)
    with pytest.raises(ScenarioError) as err:
        read_history(path)
    text = str(err.value)
    assert "'Close Date' is named so, but most of its cells do not read as dates" in text
    proposed = re.search(r"date_format in a --mapping file: '([^']+)' reads", text)
    assert proposed is not None, text
    _check(path, mapping={"date_format": proposed[1]})


@pytest.mark.parametrize(
    "months",
    [("Jan", "Feb", "Mar"), ("ene", "feb", "mar"), ("janv.", "févr.", "mars"),
     ("Januar", "Februar", "März"), ("gennaio", "febbraio", "marzo")],
)  # fmt: skip
def test_month_names_in_other_languages_read_as_dates(tmp_path: Path, months: tuple) -> None:
    """A date written with its month's name (English, Spanish, French, German, Italian;
    day first or, in English, month first) reads with no date_format; with one of the
    user's own (``%d-%b-%Y``), the cells its English names miss still read."""
    created = pd.to_datetime(TRUTH["created"])

    def named(d: pd.Timestamp, first: bool = False) -> str:
        month = months[d.month - 1]
        return f"{month} {d.day}, {d.year}" if first else f"{d.day}-{month}-{d.year}"

    export = _sheet(Amount=TRUTH["value"])
    export["Created Date"] = [named(d, first=months[0] == "Jan" and i % 2 == 0)
                              for i, d in enumerate(created)]  # fmt: skip
    path = tmp_path / "months.csv"
    export.to_csv(path, index=False)
    _check(path)
    _check(path, mapping={"date_format": "%d-%b-%Y"})


def test_unix_times_in_a_date_column_read_as_utc_instants(tmp_path: Path) -> None:
    """An API's Unix times (HubSpot's milliseconds, others' seconds) are instants in UTC:
    read as their UTC day, or --timezone's; an id of ten digits is no date."""
    millis = (pd.to_datetime(TRUTH["closed"]) - pd.Timestamp("1970-01-01")) // pd.Timedelta("1ms")
    seconds = (pd.to_datetime(TRUTH["created"]) - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
    export = pd.DataFrame({
        "Opportunity ID": TRUTH["id"], "Stage": _labels("Closed Won", "Closed Lost", "Proposal"),
        "Amount": TRUTH["value"], "Created Date": seconds.astype(str),
        "Close Date": millis.astype("Int64").astype(str).where(TRUTH["closed"] != "", ""),
    })  # fmt: skip
    path = tmp_path / "epoch.csv"
    export.to_csv(path, index=False)
    _check(path)
    behind = read_history(path, timezone="America/New_York").deals  # 19:00 the day before
    assert set(behind["opened"].dt.strftime("%H:%M")) == {"19:00"}


def test_an_open_stage_with_a_date_in_an_actual_close_column_is_a_problem(tmp_path: Path) -> None:
    """``Closed At`` names when a deal did close: an open label with one there may be a closing
    stage nobody named (Zendesk Sell's ``Unqualified`` was one), so it is said as a problem;
    a ``Close Date`` on an open deal is the CRM's expected close, said as information."""
    for column, action in (("Closed At", "kept"), ("Close Date", "info")):
        export = pd.DataFrame({
            "ID": TRUTH["id"], "Stage": _labels("Won", "Junk", "Qualified"),
            "Value": TRUTH["value"], "Created At": TRUTH["created"], column: TRUTH["closed"],
        })  # fmt: skip
        path = tmp_path / "junk.csv"
        export.to_csv(path, index=False)
        note = next(i for i in read_history(path).report.issues if i.rule == "open_with_close_date")
        assert note.action == action and note.rows == 1
        assert ("Junk" in note.message) == (action == "kept")


def test_a_currency_column_of_a_crms_own_ids_is_left_out(tmp_path: Path) -> None:
    """SugarCRM writes its currency's id (-99, the system's own) where a code would be: with
    no row naming a currency the column is left out, with a problem said, not every value
    blanked; one row naming none among codes still is."""
    export = pd.DataFrame({
        "ID": TRUTH["id"], "Sales Stage": _labels("Closed Won", "Closed Lost", "Proposal"),
        "Amount": TRUTH["value"], "Currency": "-99", "Date Created": TRUTH["created"],
        "Date Closed": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "sugar.csv"
    export.to_csv(path, index=False)
    _check(path)
    note = next(i for i in read_history(path).report.issues if i.rule == "currency_ids")
    assert note.action == "kept" and note.rows == 5 and "-99" in note.message
    export["Currency"] = ["USD", "USD", "-99", "USD", "USD"]
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.report.count("bad_currency") == 1 and pd.isna(
        h.deals.set_index("deal").at["D3", "value"]
    )


def test_a_pipedrive_deal_won_reopened_and_lost_closes_at_its_loss(tmp_path: Path) -> None:
    """Pipedrive keeps a reopened deal's ``Won time``: the first filled of the two columns was
    the stale win; the status says which of them is the close."""
    stale = TRUTH["closed"].where(TRUTH["outcome"] != "lost", "2023-01-20")
    export = pd.DataFrame({
        "Deal - ID": TRUTH["id"], "Deal - Title": "A", "Deal - Value": TRUTH["value"],
        "Deal - Status": TRUTH["outcome"], "Deal - Stage": "Negotiation",
        "Deal - Deal created": TRUTH["created"],
        "Deal - Won time": TRUTH["closed"].where(TRUTH["outcome"] == "won", stale),
        "Deal - Lost time": TRUTH["closed"].where(TRUTH["outcome"] == "lost", ""),
    })  # fmt: skip
    path = tmp_path / "pipedrive.csv"
    export.to_csv(path, index=False)
    _check(path)


def test_a_close_export_is_read_in_its_formatted_values_not_its_cents(tmp_path: Path) -> None:
    """Close writes ``value`` in cents and ``value_formatted`` as the user sees it; its
    ``status_type`` (active / won / lost) is the outcome and ``date_won`` the close."""
    export = pd.DataFrame({
        "id": TRUTH["id"], "lead_name": "Acme", "status_label": _labels("Won", "Lost", "Demo"),
        "status_type": _labels("won", "lost", "active"),
        "value": (TRUTH["value"] * 100).astype(int), "value_period": "one_time",
        "value_formatted": [f"${v:,.0f}" for v in TRUTH["value"]], "value_currency": "USD",
        "confidence": 50, "date_created": TRUTH["created"] + "T09:00:00.000000+00:00",
        "date_won": TRUTH["closed"].where(TRUTH["outcome"] != "open", "2023-06-30"),
        "user_name": "P F",
    })  # fmt: skip
    path = tmp_path / "close.csv"
    export.to_csv(path, index=False)
    got = _check(path)
    assert set(got["currency"]) == {"USD"} and set(got["account"]) == {"Acme"}
    assert set(got["crm_probability"]) == {0.5}


def test_sugar_opportunity_amount_and_currency_names(tmp_path: Path) -> None:
    """SugarCRM: ``Opportunity Amount`` is the row's own amount where ``Amount`` may be the
    system-currency one; its currency names (``US Dollars``, ``Euros``, ``Yen``) are read."""
    export = pd.DataFrame({
        "ID": TRUTH["id"], "Sales Stage": _labels("Closed Won", "Closed Lost", "Prospecting"),
        "Opportunity Amount": TRUTH["value"], "Amount": TRUTH["value"] * 1.1,
        "Currency": "US Dollars", "Date Created": TRUTH["created"] + " 10:00:00",
        "Date Closed": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "sugar.csv"
    export.to_csv(path, index=False)
    assert set(_check(path)["currency"]) == {"USD"}
    for name, code in [("Euros", "EUR"), ("Yen", "JPY"), ("Japanese yen", "JPY")]:
        export["Currency"] = name
        export.to_csv(path, index=False)
        assert set(_check(path)["currency"]) == {code}, name


@pytest.mark.parametrize(
    ("stage", "amount", "currency"),
    [("Стадия сделки", "Сумма", "RUB"), ("Стадія угоди", "Сума", "UAH")],
)
def test_a_cyrillic_header_names_its_countrys_currency(
    tmp_path: Path, stage: str, amount: str, currency: str
) -> None:
    export = pd.DataFrame({
        "ID": TRUTH["id"], stage: _labels("Сделка успешна", "Сделка провалена", "Новая"),
        amount: TRUTH["value"], "Дата создания": TRUTH["created"],
        "Дата закрытия": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "cyrillic.csv"
    export.to_csv(path, index=False)
    columns = {"stage": stage, "value": amount}
    _check(path, columns=columns)
    assert read_history(path, columns=columns).currency == currency


def _sheet(**columns: object) -> pd.DataFrame:
    """TRUTH as a plain export: its ids, stages, creation and close, and ``columns``."""
    return pd.DataFrame({
        "Opportunity ID": TRUTH["id"], "Stage": _labels("Closed Won", "Closed Lost", "Proposal"),
        "Created Date": TRUTH["created"], "Close Date": TRUTH["closed"], **columns,
    })  # fmt: skip


def test_amounts_in_kronor_say_which_currencies_kr_can_be(tmp_path: Path) -> None:
    export = _sheet(Amount=[f"{_russian(v)} kr" for v in TRUTH["value"]])
    path = tmp_path / "kronor.csv"
    export.to_csv(path, index=False)
    _check(path)
    note = next(i for i in read_history(path).report.issues if i.rule == "currency")
    assert "SEK, NOK, DKK or ISK" in note.message and "--currency" in note.message


def test_negative_amounts_are_said_as_negative(tmp_path: Path) -> None:
    export = _sheet(Amount=["(1,200.00)", "800.00-", "-3000", "500", "700"])
    path = tmp_path / "negative.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.deals["value"].isna().sum() == 3
    note = next(i for i in h.report.issues if i.rule == "bad_value")
    assert note.rows == 3 and "negative" in note.message


def test_a_header_naming_no_field_says_the_fields_to_name(tmp_path: Path) -> None:
    export = pd.DataFrame({  # Finnish names: none known
        "Tunnus": TRUTH["id"], "Vaihe": _labels("Closed Won", "Closed Lost", "X"),
        "Luotu": TRUTH["created"], "Suljettu": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "finnish.csv"
    export.to_csv(path, index=False)
    with pytest.raises(ScenarioError) as err:
        read_history(path)
    text = str(err.value)
    assert "'Tunnus'" in text and "id, stage, engaged and closed" in text
    columns = {"id": "Tunnus", "stage": "Vaihe", "engaged": "Luotu", "closed": "Suljettu"}
    got = read_history(path, columns=columns).deals
    assert sorted(got["outcome"]) == sorted(TRUTH["outcome"])


def test_pipedrive_currency_of_value_is_the_amounts_currency(tmp_path: Path) -> None:
    currencies = ["EUR", "EUR", "EUR", "EUR", "USD"]
    export = _sheet(**{"Deal - Value": TRUTH["value"], "Deal - Currency of Value": currencies})
    path = tmp_path / "pipedrive.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.currency == "EUR" and h.report.count("unknown_currency") == 1
    assert pd.isna(h.deals.set_index("deal").at["D5", "value"])


def test_dynamics_base_currency_twins_convert_the_other_currencies(tmp_path: Path) -> None:
    """Dynamics 365 writes each money column's value in the organisation's base currency
    beside it (``Est. Revenue (Base)``): the deals in another currency take that one."""
    currencies = ["US Dollar", "Euro", "US Dollar", "US Dollar", "Euro"]
    rate = pd.Series([1.0 if c == "US Dollar" else 1.1 for c in currencies])
    export = _sheet(**{"Est. Revenue": (TRUTH["value"] / rate).round(2), "Currency": currencies,
                       "Est. Revenue (Base)": TRUTH["value"]})  # fmt: skip
    path = tmp_path / "dynamics.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.currency == "USD" and h.report.count("unknown_currency") == 0
    assert list(h.deals.set_index("deal").sort_index()["value"]) == list(TRUTH["value"])
    said = next(i.message for i in h.report.issues if i.rule == "home_currency")
    assert "'Est. Revenue (Base)'" in said


def test_dynamics_actual_revenue_without_its_twin_is_converted_at_the_deals_rate(
    tmp_path: Path,
) -> None:
    """A view with ``Actual Revenue`` (a won deal's) but only ``Est. Revenue (Base)``: each
    deal's amounts are converted at its own rate, its estimate's twin over its estimate, as
    Dynamics converts all of a record's amounts; a deal won at another amount than its
    estimate is converted too, not blanked."""
    currencies = ["US Dollar", "Euro", "US Dollar", "US Dollar", "Euro"]
    rate = pd.Series([1.0 if c == "US Dollar" else 1.25 for c in currencies])
    won = TRUTH["outcome"] == "won"
    estimate = TRUTH["value"] / rate * np.where(won, 0.8, 1.0)  # won at more than estimated
    export = _sheet(**{
        "Actual Revenue": (TRUTH["value"] / rate).where(won, np.nan),
        "Est. Revenue": estimate, "Currency": currencies, "Est. Revenue (Base)": estimate * rate,
    })  # fmt: skip
    path = tmp_path / "dynamics.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.currency == "USD" and h.report.count("unknown_currency") == 0
    got = h.deals.set_index("deal").sort_index()["value"]
    assert got.to_numpy() == pytest.approx(TRUTH["value"].to_numpy(), rel=1e-9)


def test_hubspot_closed_flags_decide_renamed_closed_stages(tmp_path: Path) -> None:
    """A renamed closed stage (``Renewed`` won, ``Churned`` lost) is no label the importer
    knows: HubSpot's ``Is Deal Closed?`` / ``Is Closed Won`` say what it is."""
    export = pd.DataFrame({
        "Record ID": TRUTH["id"], "Deal Stage": _labels("Renewed", "Churned", "Quote sent"),
        "Amount": TRUTH["value"], "Create Date": TRUTH["created"], "Close Date": TRUTH["closed"],
        "Is Deal Closed?": (TRUTH["outcome"] != "open").map(str).str.lower(),
        "Is Closed Won": (TRUTH["outcome"] == "won").map(str).str.lower(),
    })  # fmt: skip
    path = tmp_path / "hubspot.csv"
    export.to_csv(path, index=False)
    _check(path)


def _hubspot_history(
    stage: list[str], entered: Callable[[str], str], **extra: object
) -> pd.DataFrame:
    """A HubSpot deals export with stage history: every deal entered the open stage at its
    creation and its current stage at its close (open deals: only the first)."""
    open_ = stage[TRUTH.index[TRUTH["outcome"] == "open"][0]]
    closed = sorted({x for x in stage if x != open_})
    columns: dict[str, object] = {entered(open_): TRUTH["created"]}
    for name in closed:
        columns[entered(name)] = TRUTH["closed"].where(pd.Series(stage) == name, "")
    return pd.DataFrame(extra | columns)


def _hubspot_flagged() -> pd.DataFrame:
    """A HubSpot export with stage history, renamed closed stages and the deals' flags."""
    stage = _labels("Contract Signed", "Not a Fit", "Contract Sent")
    return _hubspot_history(
        stage, lambda x: f'Date entered "{x} (Sales Pipeline)"',
        **{"Record ID": TRUTH["id"], "Deal Stage": stage, "Amount": TRUTH["value"],
           "Create Date": TRUTH["created"], "Close Date": TRUTH["closed"],
           "Is Deal Closed?": (TRUTH["outcome"] != "open").map(str).str.lower(),
           "Is Closed Won": (TRUTH["outcome"] == "won").map(str).str.lower()},
    )  # fmt: skip


def test_hubspot_history_closed_stages_named_by_the_deals_flags(tmp_path: Path) -> None:
    """A HubSpot export with stage history and no pipelines.json: renamed closed stages
    (``Contract Signed`` / ``Not a Fit``) are decided by the flags of the deals in them."""
    export = _hubspot_flagged()
    path = tmp_path / "hubspot-deals.csv"
    export.to_csv(path, index=False)
    _check(path)
    said = next(i.message for i in read_history(path).report.issues if i.rule == "closed_stages")
    assert "'Contract Signed'" in said and "'Not a Fit'" in said


def test_hubspot_flags_that_differ_within_a_stage_are_said(tmp_path: Path) -> None:
    """HubSpot flags a deal by its stage, so one stage's deals flagged both ways (the stage
    edited since) cannot all be read right: each is read as its stage's, and said."""
    one = _hubspot_flagged()
    export = pd.concat([one, one.assign(**{"Record ID": one["Record ID"] + "b"})])
    export = export.reset_index(drop=True)
    path = tmp_path / "hubspot-deals.csv"
    export.to_csv(path, index=False)
    assert read_history(path).report.count("mixed_flags") == 0
    odd = export.index[export["Is Closed Won"] == "true"][0]  # 1 of 4 won deals
    export.loc[odd, "Is Closed Won"] = "false"
    export.to_csv(path, index=False)
    note = next(i for i in read_history(path).report.issues if i.rule == "mixed_flags")
    assert note.action == "kept" and note.rows == 1 and "'Contract Signed'" in note.message


def test_hubspot_custom_pipeline_ids_closed_by_probability(tmp_path: Path) -> None:
    """An API export of a custom pipeline (numeric stage ids) without flags or
    pipelines.json: a stage whose every deal has probability 1 is won, 0 lost."""
    ids = {"won": "31500006", "lost": "31500007", "open": "31500002"}
    stage = [ids[o] for o in TRUTH["outcome"]]
    probability = TRUTH["outcome"].map({"won": "1", "lost": "0", "open": "0.4"})
    export = _hubspot_history(
        stage, lambda x: f"hs_v2_date_entered_{x}",
        hs_object_id=TRUTH["id"], dealstage=stage, amount=TRUTH["value"],
        createdate=TRUTH["created"], closedate=TRUTH["closed"],
        hs_deal_stage_probability=probability,
    )  # fmt: skip
    path = tmp_path / "deals.csv"
    export.to_csv(path, index=False)
    _check(path)
    # weaker evidence than flags (an open stage may be at 0%): a warning, on the deals it closed
    note = next(i for i in read_history(path).report.issues if i.rule == "closed_stages")
    assert note.action == "kept" and note.rows == 3
    # an open stage at 0% ("On hold", left again by a deal) is no loss: D5 stays open
    hold = export.assign(dealstage=export["dealstage"].where(export.index != 4, "31500008"))
    hold.loc[4, "hs_deal_stage_probability"] = "0"
    hold["hs_v2_date_entered_31500008"] = ["", "", "", "2023-02-02", "2023-02-04"]
    hold.to_csv(path, index=False)
    assert read_history(path).deals.set_index("deal").at["D5", "outcome"] == "open"
    # a stage whose deals disagree (one at 0.4) is no closed stage: both left open
    export.loc[0, "hs_deal_stage_probability"] = "0.4"
    export.to_csv(path, index=False)
    assert read_history(path).deals.set_index("deal").at["D1", "outcome"] == "open"


def test_hubspot_flags_outrank_a_relabelled_default_stage(tmp_path: Path) -> None:
    """A portal that relabelled its default pipeline (the ``closedwon`` id now a loss, won
    deals in ``contractsent``): the deals' own flags decide, not the stage ids' names."""
    stage = _labels("contractsent", "closedwon", "qualifiedtobuy")
    export = _hubspot_history(
        stage, lambda x: f"hs_v2_date_entered_{x}",
        hs_object_id=TRUTH["id"], dealstage=stage, amount=TRUTH["value"],
        createdate=TRUTH["created"], closedate=TRUTH["closed"],
        hs_is_closed=(TRUTH["outcome"] != "open").map(str).str.lower(),
        hs_is_closed_won=(TRUTH["outcome"] == "won").map(str).str.lower(),
    )  # fmt: skip
    path = tmp_path / "deals.csv"
    export.to_csv(path, index=False)
    _check(path)


def test_a_salesforce_data_loader_file_is_read_whatever_its_name(tmp_path: Path) -> None:
    """The file named is read, not an ``Opportunity.csv`` beside it; alone (no history beside
    it) an Opportunity export is one row per deal; a lone history says what it needs."""
    api = pd.DataFrame({
        "Id": TRUTH["id"], "StageName": _labels("Closed Won", "Closed Lost", "Proposal"),
        "Amount": TRUTH["value"], "CloseDate": TRUTH["closed"],
        "CreatedDate": TRUTH["created"] + "T09:00:00.000+0000",
        "IsClosed": (TRUTH["outcome"] != "open").map(str).str.lower(),
        "IsWon": (TRUTH["outcome"] == "won").map(str).str.lower(),
    })  # fmt: skip
    path = tmp_path / "extract.csv"
    api.to_csv(path, index=False)
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["outcome"]) == list(TRUTH.sort_values("id")["outcome"])
    api.head(2).to_csv(tmp_path / "Opportunity.csv", index=False)  # an older export beside it
    opened = pd.DataFrame({"OpportunityId": TRUTH["id"], "StageName": "Proposal",
                           "CreatedDate": TRUTH["created"] + "T09:00:00.000+0000"})  # fmt: skip
    done = TRUTH[TRUTH["outcome"] != "open"]
    closed = pd.DataFrame({"OpportunityId": done["id"], "StageName": api["StageName"][done.index],
                           "CreatedDate": done["closed"] + "T17:00:00.000+0000"})  # fmt: skip
    history = pd.concat([opened, closed]).assign(Amount=1.0, CloseDate="2023-06-30")
    history.to_csv(tmp_path / "OpportunityHistory.csv", index=False)
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got.index) == sorted(TRUTH["id"])  # the file named, not Opportunity.csv
    assert list(got["outcome"]) == list(TRUTH.sort_values("id")["outcome"])
    # a history older than the Opportunity file (two deals of five): the others closed at
    # their CloseDate, from the stage most histories begin in
    history[history["OpportunityId"].isin(["D1", "D2"])].to_csv(
        tmp_path / "OpportunityHistory.csv", index=False
    )
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["outcome"]) == list(TRUTH.sort_values("id")["outcome"])
    assert list(got["closed"].dt.strftime("%Y-%m-%d").fillna("")) == list(
        TRUTH.sort_values("id")["closed"]
    )
    # a history of only the columns it needs: the cells the reader leaves missing are blank
    history[["OpportunityId", "StageName", "CreatedDate"]].to_csv(
        tmp_path / "OpportunityHistory.csv", index=False
    )
    assert list(read_history(path).deals["outcome"].sort_index()) == list(TRUTH["outcome"])
    (tmp_path / "Opportunity.csv").unlink()
    lone = tmp_path / "OpportunityHistory.csv"
    with pytest.raises(ScenarioError, match=r"OpportunityHistory\.csv is a Salesforce "
                       r"OpportunityHistory export: it needs Opportunity\.csv"):  # fmt: skip
        read_history(lone)


def test_a_salesforce_field_history_stands_for_the_opportunity_history(tmp_path: Path) -> None:
    """A Data Loader folder with OpportunityFieldHistory.csv and no OpportunityHistory.csv:
    its StageName changes are each deal's path (the first stage, its first change's old
    value, from the deal's creation; deleted rows left out); the file given alone reads the
    same with Opportunity.csv beside it; without its Opportunity.csv it says what it needs."""
    api = pd.DataFrame({
        "Id": TRUTH["id"], "StageName": _labels("Closed Won", "Closed Lost", "Proposal"),
        "Amount": TRUTH["value"], "CloseDate": TRUTH["closed"].where(TRUTH["closed"] != "",
                                                                     "2023-06-30"),
        "CreatedDate": TRUTH["created"] + "T09:00:00.000Z",
    })  # fmt: skip
    api.to_csv(tmp_path / "Opportunity.csv", index=False)
    rows = [("created", "", "", d.created + "T09:00:00.000Z", d.id, "false")
            for d in TRUTH.itertuples()]  # fmt: skip
    for d in TRUTH.itertuples():
        rows.append(("StageName", "Qualification", "Proposal", d.created + "T15:00:00.000Z", d.id,
                     "false"))  # fmt: skip
        if d.outcome != "open":
            stage = "Closed Won" if d.outcome == "won" else "Closed Lost"
            rows.append(("StageName", "Proposal", stage, d.closed + "T17:00:00.000Z", d.id,
                         "false"))  # fmt: skip
    rows.append(("StageName", "Proposal", "Closed Won", "2023-03-01T10:00:00.000Z", "D4", "true"))
    fields = pd.DataFrame(rows, columns=["Field", "OldValue", "NewValue", "CreatedDate",
                                         "OpportunityId", "IsDeleted"])  # fmt: skip
    fields.to_csv(tmp_path / "OpportunityFieldHistory.csv", index=False)
    for path in (tmp_path, tmp_path / "OpportunityFieldHistory.csv"):
        h = read_history(path)
        got = h.deals.set_index("deal").sort_index()
        assert list(got["outcome"]) == list(TRUTH["outcome"])
        assert list(got["value"]) == list(TRUTH["value"])
        assert list(got["closed"].dt.strftime("%Y-%m-%d").fillna("")) == list(TRUTH["closed"])
        assert any(i.rule == "field_history" for i in h.report.issues)
        first = h.visits.sort_values("entered").groupby("deal")["stage"].first()
        assert set(first) == {"qualification"}
    (tmp_path / "Opportunity.csv").unlink()
    with pytest.raises(ScenarioError, match=r"needs Opportunity\.csv"):
        read_history(tmp_path / "OpportunityFieldHistory.csv")


@pytest.mark.parametrize(
    ("header", "scale", "digits"),
    [("金额（单位：万元）", 1e4, 3), ("预计金额/万元", 1e4, 3), ("Amount (K)", 1e3, 3),
     ("Amount ($000s)", 1e3, 3), ("Revenue (in millions)", 1e6, 4), ("金額（千円）", 1e3, 3)],
)  # fmt: skip
def test_a_unit_in_the_value_header_scales_its_cells(
    tmp_path: Path, header: str, scale: float, digits: int
) -> None:
    """Cells in the header's unit, decimals and all (1.200 in thousands is 1,200, not a number
    grouped by a dot); the column is recognised by its name without the unit."""
    export = _sheet(**{header: [f"{v / scale:.{digits}f}" for v in TRUTH["value"]]})
    path = tmp_path / "units.csv"
    export.to_csv(path, index=False)
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["value"].round(6)) == list(TRUTH.sort_values("id")["value"])


@pytest.mark.parametrize(("header", "code"), [("Amount (USD)", "USD"), ("Amount (€)", "EUR"),
                                              ("金额(元)", "CNY")])  # fmt: skip
def test_a_currency_in_the_value_header_is_the_amounts(
    tmp_path: Path, header: str, code: str
) -> None:
    path = tmp_path / "currency.csv"
    _sheet(**{header: TRUTH["value"]}).to_csv(path, index=False)
    _check(path)
    assert read_history(path).currency == code


def test_amounts_in_a_currency_of_three_decimals(tmp_path: Path) -> None:
    """KWD 1.200 is one dinar and 200 fils: no thousands grouped by a dot."""
    path = tmp_path / "kwd.csv"
    _sheet(Amount=[f"KWD {v / 1000:.3f}" for v in TRUTH["value"]]).to_csv(path, index=False)
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["value"]) == list(TRUTH.sort_values("id")["value"] / 1000)


def test_timestamps_with_an_offset_keep_the_day_the_crm_showed(tmp_path: Path) -> None:
    """Evening in New York is the next morning in UTC: with no --timezone each timestamp keeps
    its own wall clock (and the report names the offsets); with one, it is converted."""
    export = _sheet(Amount=TRUTH["value"])
    export["Created Date"] = TRUTH["created"] + "T21:30:00-05:00"
    path = tmp_path / "offsets.csv"
    export.to_csv(path, index=False)
    got = _check(path)
    assert set(got["opened"].dt.strftime("%H:%M")) == {"21:30"}
    note = next(i for i in read_history(path).report.issues if i.rule == "utc_offsets")
    assert "-05:00" in note.message and "--timezone" in note.message
    utc = read_history(path, timezone="UTC").deals
    assert set(utc["opened"].dt.strftime("%H:%M")) == {"02:30"}


@pytest.mark.parametrize(
    "written",
    ["{d} 21:30:00 GMT+0800 (China Standard Time)", "{d} 21:30 UTC+8", "{d} 21:30 GMT+08:00",
     "{d}T21:30:00+0800", "{d} 21:30 GMT+8 (China Standard Time)"],
)  # fmt: skip
def test_offsets_written_as_gmt_or_utc_words_read_as_any_offset(
    written: str, tmp_path: Path
) -> None:
    """JavaScript's ``Date.toString()`` (``GMT+0800 (China Standard Time)``, its weekday
    first) and ``UTC+8`` / ``GMT+08:00`` are UTC offsets like ``+08:00``: with no --timezone
    each keeps its wall clock and the report names the offset, one spelling for all; with one,
    the instant is converted."""
    days = pd.to_datetime(TRUTH["created"])
    export = _sheet(Amount=TRUTH["value"])
    export["Created Date"] = [
        written.format(d=d.strftime("%a %b %d %Y") if "GMT+0800 (" in written else d.date())
        for d in days
    ]
    path = tmp_path / "offsets.csv"
    export.to_csv(path, index=False)
    got = _check(path)
    assert set(got["opened"].dt.strftime("%H:%M")) == {"21:30"}
    note = next(i for i in read_history(path).report.issues if i.rule == "utc_offsets")
    assert "(+08:00)" in note.message
    utc = read_history(path, timezone="UTC").deals
    assert set(utc["opened"].dt.strftime("%H:%M")) == {"13:30"}


def test_an_odoo_deal_archived_and_not_won_is_lost(tmp_path: Path) -> None:
    """Odoo marks a deal lost by archiving it in its stage (a lost reason is optional)."""
    export = pd.DataFrame({
        "Opportunity": TRUTH["id"], "Stage": _labels("Won", "Proposition", "Proposition"),
        "Expected Revenue": TRUTH["value"], "Created on": TRUTH["created"] + " 09:00:00",
        "Closed Date": TRUTH["closed"], "Lost Reason": "",
        "Active": (TRUTH["outcome"] != "lost").map(str),
    })  # fmt: skip
    path = tmp_path / "odoo.csv"
    export.to_csv(path, index=False)
    _check(path)


def test_an_odoo_export_in_chinese_with_true_false_cells(tmp_path: Path) -> None:
    """Odoo 17 in Chinese: 已赢得 is its won stage, 有效 (Active) FALSE archives a lost deal,
    预期收入 is the amount and 关闭日期 the close, from a workbook's bool and date cells."""
    export = pd.DataFrame({
        "商机": TRUTH["id"], "阶段": _labels("已赢得", "提议", "提议"),
        "预期收入": TRUTH["value"], "概率": TRUTH["outcome"].map({"won": 100, "lost": 0,
                                                                 "open": 30}),
        "有效": TRUTH["outcome"] != "lost",
        "关闭日期": pd.to_datetime(TRUTH["closed"]), "创建日期": pd.to_datetime(TRUTH["created"]),
        "流失原因": TRUTH["outcome"].map({"lost": "太贵"}).fillna(""),
    })  # fmt: skip
    path = tmp_path / "odoo.xlsx"
    export.to_excel(path, index=False)
    _check(path)


def test_tender_outcomes_and_full_width_digits(tmp_path: Path) -> None:
    """A project sheet kept by hand: 已中标 / 未中标 (a tender won / not won), 项目名称 as the
    deal, 立项日期 its creation, and amounts and dates typed in full width (an IME's
    full-width mode: １２，３００．００, ２０２３／１／２)."""
    wide = str.maketrans("0123456789,./-", "０１２３４５６７８９，．／－")
    names = ["华为技术", "上海浦东发展银行", "中国移动通信集团", "比亚迪股份", "海尔智家"]
    export = pd.DataFrame({
        "项目名称": [f"{n}-{i}" for n, i in zip(names, TRUTH["id"], strict=True)],
        "阶段": _labels("已中标", "未中标", "方案报价"),
        "金额": [f"{v:,.2f}".translate(wide) for v in TRUTH["value"]],
        "立项日期": [d.translate(wide) for d in TRUTH["created"]], "结单日期": TRUTH["closed"],
    })  # fmt: skip
    path = tmp_path / "projects.csv"
    export.to_csv(path, index=False, encoding="gb18030")
    h = read_history(path)
    got = h.deals.set_index("deal").loc[export["项目名称"]]
    assert list(got["outcome"]) == list(TRUTH["outcome"])
    assert list(got["value"]) == list(TRUTH["value"])
    assert list(got["opened"].dt.strftime("%Y-%m-%d")) == list(TRUTH["created"])


def test_pipedrive_api_times_are_utc(tmp_path: Path) -> None:
    """Pipedrive's API writes times in UTC without an offset: under --timezone their local
    day is taken (an evening in UTC is the next morning in Shanghai); a German UI export
    (``Deal - Wert``, ``Deal erstellt``, ``Gewonnen am`` / ``Verloren am``) is read too."""
    won, lost = TRUTH["outcome"] == "won", TRUTH["outcome"] == "lost"
    export = pd.DataFrame({
        "id": TRUTH["id"], "title": "deal " + TRUTH["id"], "value": TRUTH["value"],
        "status": TRUTH["outcome"], "add_time": TRUTH["created"] + " 18:30:00",
        "update_time": "2023-03-02 10:00:00",
        "won_time": (TRUTH["closed"] + " 20:00:00").where(won, ""),
        "lost_time": (TRUTH["closed"] + " 20:00:00").where(lost, ""),
    })  # fmt: skip
    path = tmp_path / "api.csv"
    export.to_csv(path, index=False)
    utc = _check(path, timezone="UTC")
    assert set(utc["opened"].dt.strftime("%H:%M")) == {"18:30"}
    local = read_history(path, timezone="Asia/Shanghai").deals.set_index("deal").sort_index()
    day = pd.Timedelta(days=1)
    assert list(local["opened"].dt.normalize()) == list(pd.to_datetime(TRUTH["created"]) + day)
    german = pd.DataFrame({
        "Deal - ID": TRUTH["id"], "Deal - Titel": "deal " + TRUTH["id"],
        "Deal - Phase": "Verhandlung",
        "Deal - Status": TRUTH["outcome"].map({"won": "Gewonnen", "lost": "Verloren",
                                               "open": "Offen"}),
        "Deal - Wert": [f"{v:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
                        for v in TRUTH["value"]],
        "Deal - Deal erstellt": TRUTH["created"],
        "Deal - Gewonnen am": TRUTH["closed"].where(won, ""),
        "Deal - Verloren am": TRUTH["closed"].where(lost, ""),
    })  # fmt: skip
    path = tmp_path / "pipedrive-de.csv"
    path.write_text("sep=;\n" + german.to_csv(index=False, sep=";"), encoding="utf-8-sig")
    _check(path)


def test_an_odoo_import_compatible_export_by_its_field_names(tmp_path: Path) -> None:
    """Odoo's "import-compatible" export names its columns by their fields (``stage_id``,
    ``expected_revenue``, ``date_closed``, ``create_date``, ``active``)."""
    export = pd.DataFrame({
        "id": "__export__.crm_lead_" + TRUTH["id"], "name": "deal " + TRUTH["id"],
        "stage_id": _labels("Won", "Proposition", "Proposition"),
        "expected_revenue": TRUTH["value"], "active": (TRUTH["outcome"] != "lost").map(str),
        "date_closed": TRUTH["closed"], "create_date": TRUTH["created"] + " 09:00:00",
    })  # fmt: skip
    path = tmp_path / "crm.lead.csv"
    export.to_csv(path, index=False)
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["outcome"]) == list(TRUTH["outcome"])
    assert list(got["value"]) == list(TRUTH["value"])


def test_a_two_row_header_with_names_merged_over_both_rows(tmp_path: Path) -> None:
    """A workbook whose header is two rows: group captions ("Dates" over Created | Closed)
    above the names they group, and the other names merged over both rows (written in the
    upper one): each column is named."""
    sheet = _sheet(Amount=TRUTH["value"])
    top = ["Opportunity ID", "Stage", "Dates", "", "Amount"]
    names = ["", "", "Created Date", "Close Date", ""]
    cells = sheet[["Opportunity ID", "Stage", "Created Date", "Close Date", "Amount"]]
    rows = [top, names, *cells.values.tolist()]
    path = tmp_path / "two-rows.xlsx"
    pd.DataFrame(rows).to_excel(path, index=False, header=False)
    _check(path)
    saved = tmp_path / "two-rows.csv"  # the same saved as CSV, under a title
    saved.write_text("Pipeline\n" + pd.DataFrame(rows).to_csv(index=False, header=False))
    _check(saved)
    assert read_history(saved).deals["line"].min() == 4  # the title and both header rows


def test_exports_pasted_together_read_each_deal_from_the_later(tmp_path: Path) -> None:
    old = _sheet(Amount=TRUTH["value"]).assign(Stage="Proposal", **{"Close Date": ""})
    new = _sheet(Amount=TRUTH["value"])
    text = old.to_csv(index=False) + new.to_csv(index=False)  # the second header between them
    path = tmp_path / "pasted.csv"
    path.write_text(text, encoding="utf-8")
    _check(path)
    assert read_history(path).report.count("repeated_header") == 1


def test_a_grouped_report_fills_its_group_column_down(tmp_path: Path) -> None:
    """A report grouped by stage writes the stage on a group's first row only, then a
    subtotal: each deal takes its group's stage."""
    lines = ["Stage,Opportunity ID,Amount,Created Date,Close Date"]
    for stage, group in _sheet(Amount=TRUTH["value"]).groupby("Stage", sort=False):
        for i, row in enumerate(group.itertuples(index=False)):
            cells = ["" if i else stage, row[0], f"{row[4]:.0f}", row[2], row[3]]
            lines.append(",".join(map(str, cells)))
        lines.append(f"Subtotal,,{group['Amount'].sum():.0f},,")
    lines.append(f"Total,,{TRUTH['value'].sum():.0f},,")
    path = tmp_path / "grouped.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _check(path)


def test_a_report_grouped_by_owner_then_stage_fills_both_down(tmp_path: Path) -> None:
    """Owner > Stage: each owner on their first row, each stage on its group's first row
    (the same stages again under the next owner), a stage's subtotal under Stage and an
    owner's under Owner: every deal takes both of its captions."""
    owner = pd.Series(["Ann", "Bob", "Ann", "Bob", "Ann"])
    sheet = _sheet(Amount=TRUTH["value"]).assign(Owner=owner)
    lines = ["Owner,Stage,Opportunity ID,Amount,Created Date,Close Date"]
    for who, mine in sheet.groupby("Owner", sort=False):
        for j, (stage, group) in enumerate(mine.groupby("Stage", sort=False)):
            for i, row in enumerate(group.itertuples(index=False)):
                cells = ["" if i or j else who, "" if i else stage, row[0], f"{row[4]:.0f}",
                         row[2], row[3]]  # fmt: skip
                lines.append(",".join(map(str, cells)))
            lines.append(f",Subtotal,,{group['Amount'].sum():.0f},,")
        lines.append(f"Subtotal,,,{mine['Amount'].sum():.0f},,")
    lines.append(f"Total,,,{TRUTH['value'].sum():.0f},,")
    path = tmp_path / "grouped.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = _check(path)
    assert list(read_history(path).deals.set_index("deal").sort_index()["owner"]) == list(owner)
    assert len(got) == len(TRUTH)


def test_an_amount_in_the_company_currency_converts_the_others(tmp_path: Path) -> None:
    """HubSpot's ``Amount in company currency`` beside each deal's own amount and currency:
    the company's currency is the one whose amounts equal their converted ones, and the
    others are read converted (no rate needed, none blanked)."""
    export = pd.DataFrame({
        "Record ID": TRUTH["id"], "Deal Stage": _labels("Closed won", "Closed lost", "Demo"),
        "Amount": TRUTH["value"] * [1.0, 0.92, 150.0, 1.0, 1.0],
        "Currency": ["USD", "EUR", "JPY", "USD", "USD"],
        "Amount in company currency": TRUTH["value"], "Close Date": TRUTH["closed"],
        "Create Date": TRUTH["created"],
    })  # fmt: skip
    path = tmp_path / "hubspot.csv"
    export.to_csv(path, index=False)
    got = _check(path)
    assert set(got["currency"]) == {"USD"}
    assert read_history(path).report.count("home_currency") == 1


def test_a_total_row_under_a_sheet_fills_nothing_down(tmp_path: Path) -> None:
    """One total row groups nothing: a first column blank for open deals stays blank (a
    ``Won/Lost`` column read as status); subtotals with cents end their groups."""
    export = _sheet(Amount=TRUTH["value"])
    export.insert(0, "Won/Lost", _labels("Won", "Lost", ""))
    text = export.to_csv(index=False) + f"Total,,,,,{TRUTH['value'].sum():.0f}\n"
    path = tmp_path / "total.csv"
    path.write_text(text, encoding="utf-8")
    _check(path)
    assert not read_history(path).report.count("grouped_report")
    lines = ["Stage,Opportunity ID,Amount,Created Date,Close Date"]
    for stage, group in _sheet(Amount=TRUTH["value"] + 0.25).groupby("Stage", sort=False):
        for i, row in enumerate(group.itertuples(index=False)):
            lines.append(",".join(["" if i else stage, row[0], f"{row[4]:.2f}", row[2], row[3]]))
        lines.append(f"Subtotal,,{group['Amount'].sum():.2f},,")  # 2000.50: no date
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["outcome"]) == list(TRUTH.sort_values("id")["outcome"])


def test_an_active_column_that_is_no_archive_flag_loses_no_deal(tmp_path: Path) -> None:
    """An account's ``Active`` (a won deal's account inactive) or a future expected close:
    no open deal is read lost by it."""
    export = _sheet(Amount=TRUTH["value"], Active=["No", "Yes", "Yes", "No", "No"])
    path = tmp_path / "accounts.csv"
    export.to_csv(path, index=False)
    _check(path)
    export["Active"] = ["Yes", "Yes", "Yes", "No", "No"]
    export["Close Date"] = TRUTH["closed"].where(TRUTH["outcome"] != "open", "2023-09-30")
    export.to_csv(path, index=False)
    assert list(read_history(path).deals["outcome"]) == list(TRUTH["outcome"])


@pytest.mark.parametrize(
    ("header", "cells", "values"),
    [("Amount", ["1,250 Mio. €", "2,5 Mio. €", "0,032 Mio. €"], [1.25e6, 2.5e6, 32_000]),
     ("Betrag (Tsd. €)", ["12,500", "2,5", "1.250,750"], [12_500, 2_500, 1_250_750])],
)  # fmt: skip
def test_german_scale_words_write_numbers_the_german_way(
    tmp_path: Path, header: str, cells: list[str], values: list[float]
) -> None:
    export = _sheet().head(3).assign(**{header: cells})
    path = tmp_path / "german.csv"
    export.to_csv(path, index=False, sep=";")
    got = read_history(path, columns={"value": header}).deals.set_index("deal").sort_index()
    assert list(got["value"]) == pytest.approx(values)
    assert read_history(path, columns={"value": header}).currency == "EUR"


@pytest.mark.parametrize("where", ["column", "header"])
def test_a_three_decimal_currency_named_outside_the_cells(tmp_path: Path, where: str) -> None:
    cells = [f"{v / 1000:.3f}" for v in TRUTH["value"]]
    export = (_sheet(Amount=cells).assign(Currency="KWD") if where == "column"
              else _sheet(**{"Amount (KWD)": cells}))  # fmt: skip
    path = tmp_path / "kwd.csv"
    export.to_csv(path, index=False)
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["value"]) == list(TRUTH.sort_values("id")["value"] / 1000)
    assert read_history(path).currency == "KWD"


@pytest.mark.parametrize("header", ["Deal currency code", "Währung"])
def test_currency_columns_by_other_names(tmp_path: Path, header: str) -> None:
    export = _sheet(Amount=TRUTH["value"], **{header: ["EUR", "EUR", "EUR", "EUR", "JPY"]})
    path = tmp_path / "currency.csv"
    export.to_csv(path, index=False)
    h = read_history(path)
    assert h.currency == "EUR" and h.report.count("unknown_currency") == 1


def test_exports_pasted_newest_first_read_each_deal_from_the_newest(tmp_path: Path) -> None:
    """The export whose deals were made latest is the newer, wherever it was pasted."""
    old = _sheet(Amount=TRUTH["value"]).head(3).assign(Stage="Proposal", **{"Close Date": ""})
    new = _sheet(Amount=TRUTH["value"])
    path = tmp_path / "pasted.csv"
    path.write_text(new.to_csv(index=False) + old.to_csv(index=False), encoding="utf-8")
    _check(path)


def test_time_zones_written_as_words_and_in_headers(tmp_path: Path) -> None:
    """``21:30:00 UTC`` and ``GMT+8`` are offsets; a header's ``(UTC)`` names no other field."""
    export = _sheet(Amount=TRUTH["value"]).rename(
        columns={"Created Date": "Created Date (UTC)", "Close Date": "Close Date (UTC)"}
    )
    zones = [" 21:30:00 UTC", " 09:30:00 GMT+8", " 21:30:00 UTC", " 09:30:00 GMT+8", " 10:00 UTC"]
    export["Created Date (UTC)"] = TRUTH["created"] + zones
    path = tmp_path / "zones.csv"
    export.to_csv(path, index=False)
    got = _check(path)
    assert list(got["opened"].dt.strftime("%H:%M")) == ["21:30", "09:30", "21:30", "09:30", "10:00"]


def test_the_date_format_hint_reads_the_whole_column(tmp_path: Path) -> None:
    """Notion writes ``January 4, 2022``: read as it is (a month's name names it), and with
    the format a user may give, May and January alike; dates with a two-digit year and
    their month's number, ``5/1/23 14:03``, get the format proposed that reads them all."""
    export = _sheet(Amount=TRUTH["value"])
    for col in ("Created Date", "Close Date"):
        export[col] = pd.to_datetime(export[col]).dt.strftime("%B %-d, %Y").fillna("")
    path = tmp_path / "notion.csv"
    export.to_csv(path, index=False)
    _check(path)
    _check(path, mapping={"date_format": "%B %d, %Y"})
    for col in ("Created Date", "Close Date"):
        day = pd.to_datetime(_sheet()[col])
        export[col] = (day.dt.strftime("%-m/%-d/%y") + " 14:03").fillna("")
    export.to_csv(path, index=False)
    with pytest.raises(ScenarioError) as err:
        read_history(path)
    proposed = re.search(r"date_format in a --mapping file: '([^']+)' reads", str(err.value))
    assert proposed is not None and proposed[1] == "%m/%d/%y %H:%M"
    _check(path, mapping={"date_format": proposed[1]})


def test_a_date_format_with_a_zone_word_reads_as_written(tmp_path: Path) -> None:
    """A user's own format that spells the zone (``%H:%M:%S UTC``) is taken as given."""
    export = _sheet(Amount=TRUTH["value"])
    export["Created Date"] = TRUTH["created"] + " 09:00:00 UTC"
    path = tmp_path / "zone.csv"
    export.to_csv(path, index=False)
    _check(path, mapping={"date_format": "%Y-%m-%d %H:%M:%S UTC"})


@pytest.mark.parametrize(
    ("header", "cells", "values"),
    [("Amount", ["CHF 1.25 Mio.", "0.8 Mio.", "1,250.50 Tsd."], [1.25e6, 8e5, 1_250_500]),
     ("Umsatz (Mio. CHF)", ["1.25", "0.8", "2.5"], [1.25e6, 8e5, 2.5e6]),
     ("Betrag (Tsd. €)", ["1,250.50", "12.5", "1,2 Mio."], [1_250_500, 12_500, 1.2e6])],
)  # fmt: skip
def test_scale_words_beside_decimal_points(
    tmp_path: Path, header: str, cells: list[str], values: list[float]
) -> None:
    """A cell that shows its own decimal point (Swiss ``1.25 Mio.``, English ``1,250.50``) is
    read so beside a German scale word; a cell's own scale under a header's is not taken twice."""
    path = tmp_path / "scales.csv"
    _sheet().head(3).assign(**{header: cells}).to_csv(path, index=False)
    got = read_history(path, columns={"value": header}).deals.set_index("deal").sort_index()
    assert list(got["value"]) == pytest.approx(values)


def test_stage_histories_pasted_together_keep_every_change(tmp_path: Path) -> None:
    """Two parts of a stage-change log: each part's changes count (no part is stale)."""
    first = "Opportunity ID,Stage,Changed At\nA1,Qualification,2023-01-02\nA1,Proposal,2023-02-10\n"
    second = (
        "Opportunity ID,Stage,Changed At\nA1,Closed Won,2023-04-02\nA2,Qualification,2023-03-01\n"
    )
    path = tmp_path / "history.csv"
    path.write_text(first + second + "A2,Closed Lost,2023-05-01\n", encoding="utf-8")
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["outcome"]) == ["won", "lost"]
    assert list(got["opened"].dt.strftime("%Y-%m-%d")) == ["2023-01-02", "2023-03-01"]


def test_a_won_lost_column_is_never_filled_down(tmp_path: Path) -> None:
    """Subtotals between groups, the first of each with a ``Won/Lost``: a deal's own outcome
    is no group's caption (the open deals stay open)."""
    lines = ["Won/Lost,Deal Name,Stage,Amount,Created Date,Close Date",
             "Won,Acme,Closed Won,1000,2023-01-02,2023-02-01",
             ",Globex,Negotiation,2000,2023-01-03,2023-09-30", "Subtotal Q1,,,3000,,",
             "Lost,Initech,Closed Lost,1000,2023-04-02,2023-05-01",
             ",Umbrella,Proposal,1500,2023-04-03,2023-10-30", "Subtotal Q2,,,2500,,"]  # fmt: skip
    path = tmp_path / "quarters.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = read_history(path).deals.set_index("deal")
    assert list(got["outcome"]) == ["won", "open", "lost", "open"]
    # groups of three: the deals below a caption have no actual close, so it is no caption
    lines[3:3] = [",Hooli,Proposal,1000,2023-01-04,2023-10-30"]
    lines[7:7] = [",Wayne,Qualification,700,2023-04-04,2023-12-20"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = read_history(path).deals.set_index("deal")
    assert list(got["outcome"]) == ["won", "open", "open", "lost", "open", "open"]


@pytest.mark.parametrize(("subtotal", "total"), [("Subtotal", "Total"),
                                                 ("Zwischensumme", "Gesamtsumme")])  # fmt: skip
def test_a_report_grouped_by_status_fills_it_down(
    tmp_path: Path, subtotal: str, total: str
) -> None:
    """Grouped by a status column (groups of three or more, each with a subtotal): every deal
    takes its group's status, whatever the summary rows are called."""
    n = 12
    outcome = ["won"] * 4 + ["lost"] * 5 + ["open"] * 3
    rows = pd.DataFrame({
        "Status": outcome, "Deal Name": [f"D{i:02d}" for i in range(n)],
        "Stage": ["Negotiation"] * n, "Value": 1000,
        "Created": pd.date_range("2023-01-02", periods=n, freq="D").strftime("%Y-%m-%d"),
        "Closed On": [f"2023-03-{i + 1:02d}" if o != "open" else "" for i, o in enumerate(outcome)],
    })  # fmt: skip
    lines = [",".join(rows.columns)]
    for _, group in rows.groupby("Status", sort=False):
        g = group.astype(str).copy()
        g.iloc[1:, 0] = ""
        lines += [",".join(r) for r in g.to_numpy()] + [f"{subtotal},,,{len(g) * 1000},,"]
    lines.append(f"{total},,,{n * 1000},,")
    path = tmp_path / "by_status.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = read_history(path).deals.set_index("deal").sort_index()
    assert list(got["outcome"]) == outcome


@pytest.mark.parametrize(
    ("number_format", "currency"),
    [("#,##0.00 [$€-407]", "EUR"), ('"¥"#,##0.00', None), ("[$¥-804]#,##0", "CNY"),
     ("[$$-409]#,##0.00", "USD"), ("#,##0.00\\ [$CHF]", "CHF"), ("\\€#,##0", "EUR"),
     ("[$R$-416] #,##0.00", "BRL"), ("#,##0.00 [$kr-41D]", "SEK"), ("#,##0.00 [$zł-415]", "PLN"),
     ("[$CA$]#,##0.00", "CAD"), ('"CHF" #,##0.00', "CHF"), ('#,##0.00 "EUR"', "EUR")],
)  # fmt: skip
def test_a_workbooks_amounts_are_in_the_currency_their_format_shows(
    tmp_path: Path, number_format: str, currency: str | None
) -> None:
    """Excel keeps a number and shows its currency through the cell's format only: an export
    with no currency column is in that currency (``¥`` alone: yuan or yen, decided as a
    written ``¥`` is); a number shown in another currency than the rest is no home amount."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Opportunity ID", "Stage", "Amount", "Created Date", "Close Date"])
    for i, row in TRUTH.iterrows():
        stage = {"won": "Closed Won", "lost": "Closed Lost", "open": "Proposal"}[row["outcome"]]
        sheet.append([row["id"], stage, row["value"], row["created"], row["closed"]])
        sheet.cell(int(i) + 2, 3).number_format = number_format
    path = tmp_path / "deals.xlsx"
    book.save(path)
    h = read_history(path)
    if currency is not None:
        assert h.currency == currency
    assert list(h.deals.set_index("deal").sort_index()["value"]) == list(TRUTH["value"])
    sheet.cell(2, 3).number_format = "[$£-809]#,##0.00"
    book.save(path)
    h = read_history(path)
    if currency is not None:
        assert pd.isna(h.deals.set_index("deal").at["D1", "value"])
        assert h.report.count("unknown_currency") == 1


def test_layout_characters_of_a_number_format_are_no_currency() -> None:
    """``_€`` pads by a €'s width and ``*-`` fills (German accounting without a symbol);
    quoted words that are no ISO code (``"pcs"``) name no currency either."""
    from simsales.io.inputs import _with_currency

    for number_format in ("_-* #,##0.00 _€_-;-* #,##0.00 _€_-", '#,##0 "pcs"', '0 "QTY"'):
        assert _with_currency(1234.5, number_format) == 1234.5


def test_formulas_without_saved_results_are_said_with_what_to_do(tmp_path: Path) -> None:
    """A workbook a program wrote (formulas Excel never calculated and saved) has no amounts
    to read: the report names the column and the fix instead of only missing values."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Opportunity ID", "Stage", "Qty", "Unit Price", "Amount", "Created Date",
                  "Close Date"])  # fmt: skip
    for i, row in TRUTH.iterrows():
        stage = {"won": "Closed Won", "lost": "Closed Lost", "open": "Proposal"}[row["outcome"]]
        line = int(i) + 2
        sheet.append([row["id"], stage, 1, row["value"], f"=C{line}*D{line}", row["created"],
                      row["closed"]])  # fmt: skip
    path = tmp_path / "generated.xlsx"
    book.save(path)
    note = next(i for i in read_history(path).report.issues if "formulas" in i.message)
    assert note.action == "kept" and "'Amount'" in note.message and "save it" in note.message
    assert note.rows == len(TRUTH)


@pytest.mark.parametrize(
    ("number_format", "scale"),
    [('#,##0,"K"', 1), ('0.0,,"M"', 1), ('0!.0,"万"', 1), ("#,##0", 1000), ("#,##0.00", 1000)],
)
def test_a_header_unit_over_numbers_a_workbook_shows_scaled(
    tmp_path: Path, number_format: str, scale: int
) -> None:
    """``Amount (K)`` over cells holding whole amounts that the format shows in thousands
    (``#,##0,"K"``: a comma after the last digit divides by 1,000) is how the sheet shows
    them: the cells are taken as they are; over plainly formatted numbers, in thousands."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Opportunity ID", "Stage", "Amount (K)", "Created Date", "Close Date"])
    for i, row in TRUTH.iterrows():
        stage = {"won": "Closed Won", "lost": "Closed Lost", "open": "Proposal"}[row["outcome"]]
        amount = row["value"] if scale == 1 else row["value"] / 1000
        sheet.append([row["id"], stage, amount, row["created"], row["closed"]])
        sheet.cell(int(i) + 2, 3).number_format = number_format
    path = tmp_path / "report.xlsx"
    book.save(path)
    got = read_history(path).deals.set_index("deal").sort_index()["value"]
    assert got.to_numpy() == pytest.approx(TRUTH["value"].to_numpy(), rel=1e-12)
    # a total above the header formatted in K is not the column's format
    sheet.insert_rows(1)
    sheet.cell(1, 3).value = 1.0
    sheet.cell(1, 3).number_format = '#,##0,"K"'
    book.save(path)
    got = read_history(path).deals.set_index("deal").sort_index()["value"]
    assert got.to_numpy() == pytest.approx(TRUTH["value"].to_numpy(), rel=1e-12)


def test_a_header_unit_over_sheets_of_two_layouts_reads_each_cell_as_its_format_shows(
    tmp_path: Path,
) -> None:
    """``Amount (K)`` over a sheet of numbers in thousands (General) and another of whole
    amounts shown in thousands (``#,##0.0,"K"``): each cell as its own format shows it,
    whichever layout most of the column has."""
    from openpyxl import Workbook

    book = Workbook()
    older, newer = book.active, book.create_sheet("2023")
    older.title = "2022"
    header = ["Opportunity ID", "Stage", "Amount (K)", "Created Date", "Close Date"]
    older.append(header)
    newer.append(header)
    for i, row in TRUTH.iterrows():
        stage = {"won": "Closed Won", "lost": "Closed Lost", "open": "Proposal"}[row["outcome"]]
        whole = int(i) % 3 == 0  # the minority sheet
        sheet = newer if whole else older
        amount = row["value"] if whole else row["value"] / 1000
        sheet.append([row["id"], stage, amount, row["created"], row["closed"]])
        if whole:
            sheet.cell(sheet.max_row, 3).number_format = '#,##0.0,"K"'
    path = tmp_path / "by_year.xlsx"
    book.save(path)
    h = read_history(path)
    got = h.deals.set_index("deal").sort_index()["value"]
    assert got.to_numpy() == pytest.approx(TRUTH["value"].to_numpy(), rel=1e-12)
    said = [i.rows for i in h.report.issues if i.rule == "header_unit"]
    assert sorted(said) == sorted([(TRUTH.index % 3 == 0).sum(), (TRUTH.index % 3 != 0).sum()])


def test_a_currency_format_over_the_id_column_leaves_the_ids_alone(tmp_path: Path) -> None:
    """A block of cells formatted in dollars, numeric ids and all: the amounts are in USD and
    the ids stay the numbers they are."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Deal ID", "Stage", "Amount", "Created Date", "Close Date"])
    for i, row in TRUTH.iterrows():
        stage = {"won": "Closed Won", "lost": "Closed Lost", "open": "Proposal"}[row["outcome"]]
        sheet.append([10_000 + int(i), stage, row["value"], row["created"], row["closed"]])
        for column in (1, 3):
            sheet.cell(sheet.max_row, column).number_format = "[$$-409]#,##0"
    path = tmp_path / "deals.xlsx"
    book.save(path)
    h = read_history(path)
    got = h.deals.set_index("deal").sort_index()
    assert h.currency == "USD"
    assert list(got.index) == sorted(str(10_000 + int(i)) for i in TRUTH.index)
    assert list(got["value"]) == list(TRUTH["value"])


def test_a_deal_repeated_by_a_later_export_is_read_from_its_last_edit(tmp_path: Path) -> None:
    """Two exports joined without the second's header: D3, open in the first (February) and
    won in the second, is read from its last edit (``Last Modified Date``), not from the
    first row; the deals both exports show alike are exact copies, as before."""
    later = _sheet(Amount=TRUTH["value"])
    later["Last Modified Date"] = TRUTH["closed"].where(TRUTH["closed"] != "", "2023-02-05")
    earlier = later.copy()
    earlier.loc[2, ["Stage", "Close Date", "Last Modified Date"]] = ["Proposal", "", "2023-02-05"]
    path = tmp_path / "joined.csv"
    pd.concat([earlier, later]).to_csv(path, index=False)
    _check(path)
    note = next(i for i in read_history(path).report.issues if i.rule == "stale_row")
    assert note.action == "dropped" and note.rows == 1


def test_a_changed_since_export_under_its_master_is_the_newer(tmp_path: Path) -> None:
    """A master export, then a "changed since" export of the deals that closed since (older
    deals, so the master's creation dates are later) pasted under it with its header: the
    part in which the deals both hold are closed where the other has them open is the newer,
    whatever their creation dates; in snapshot sheets that tie on creation, too."""
    master = _sheet(Amount=TRUTH["value"])
    master.loc[[0, 1], ["Stage", "Close Date"]] = [["Proposal", ""], ["Proposal", ""]]
    changed = _sheet(Amount=TRUTH["value"]).head(2)
    path = tmp_path / "pasted.csv"
    path.write_text(master.to_csv(index=False) + changed.to_csv(index=False), encoding="utf-8")
    _check(path)
    book = tmp_path / "snapshots.xlsx"
    with pd.ExcelWriter(book) as xl:  # newest first, no deal created between them
        _sheet(Amount=TRUTH["value"]).to_excel(xl, sheet_name="2023-06", index=False)
        master.to_excel(xl, sheet_name="2023-04", index=False)
    _check(book)


def test_a_deal_joined_open_and_closed_with_no_edit_time_is_read_closed(tmp_path: Path) -> None:
    """Two exports joined without the second's header and without an edit time: a deal open
    in one and closed in the other is read closed (deals move from open to closed), said; an
    ``Update Time`` (Pipedrive, 更新时间) is an edit time where one is given."""
    later = _sheet(Amount=TRUTH["value"])
    earlier = later.copy()
    earlier.loc[2, ["Stage", "Close Date"]] = ["Proposal", ""]
    path = tmp_path / "joined.csv"
    pd.concat([later, earlier]).to_csv(path, index=False)
    _check(path)
    note = next(i for i in read_history(path).report.issues if i.rule == "stale_row")
    assert note.action == "dropped" and note.rows == 1
    # with an edit time, it decides: the deal reopened after its win reads open
    later["Deal - Update time"] = "2023-02-05"
    earlier["Deal - Update time"] = "2023-02-05"
    earlier.loc[2, "Deal - Update time"] = "2023-03-10"
    pd.concat([later, earlier]).to_csv(path, index=False)
    assert read_history(path).deals.set_index("deal").at["D3", "outcome"] == "open"


def test_a_workbooks_sheets_are_parts_read_from_the_newest(tmp_path: Path) -> None:
    """An older snapshot sheet before the current one (the same deals, then still open; the
    first sheet of as many rows is the table) is a part like a pasted export's: each deal
    from the sheet whose latest creation is latest, the later on a tie;
    a sheet whose names differ only in case and spacing (``close date``, ``Amount ``) is
    the same columns."""
    current = _sheet(Amount=TRUTH["value"]).rename(columns={"Close Date": "close date"})
    snapshot = current.assign(Stage="Proposal", **{"close date": ""})  # all open then
    path = tmp_path / "deals.xlsx"
    with pd.ExcelWriter(path) as xl:
        snapshot.rename(columns={"Amount": "Amount "}).to_excel(
            xl, sheet_name="Snapshot", index=False
        )
        current.to_excel(xl, sheet_name="Deals", index=False)
    _check(path)


def test_javascript_date_strings_read_at_their_offset(tmp_path: Path) -> None:
    """A JavaScript ``Date`` as text (a script's or a Node export's ``String(date)``:
    ``Thu Jan 05 2023 15:05:00 GMT+0800 (China Standard Time)``) is read at its offset, as
    other stamps with one are: its own wall clock, or --timezone's."""
    created = pd.to_datetime(TRUTH["created"])
    export = _sheet(Amount=TRUTH["value"])
    export["Created Date"] = [
        d.strftime("%a %b %d %Y") + " 23:30:00 GMT+0800 (China Standard Time)" for d in created
    ]
    path = tmp_path / "script.csv"
    export.to_csv(path, index=False)
    got = _check(path)
    assert list(got["opened"].dt.strftime("%H:%M")) == ["23:30"] * 5
    berlin = read_history(path, timezone="Europe/Berlin").deals.set_index("deal").sort_index()
    assert berlin["opened"].iloc[0] == pd.Timestamp("2023-01-02 16:30")


@pytest.mark.parametrize(
    "written",
    ["{b} {d}{th}, {y}", "{d}{th} {B} {y}", "{B} {d}{th} {y} 10:00", "{d}{th} of {B} {y}"],
)
def test_english_ordinal_days_read_as_dates(tmp_path: Path, written: str) -> None:
    """``Jan 5th, 2023``, ``5th January 2023``, ``March 3rd 2023``, ``1st of March 2023``:
    the day's ordinal suffix is left out."""

    def th(day: int) -> str:
        return "th" if 10 < day % 100 < 14 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")

    def named(text: str) -> str:
        if not text:
            return ""
        d = pd.Timestamp(text)
        return written.format(b=d.strftime("%b"), B=d.strftime("%B"), d=d.day, th=th(d.day),
                              y=d.year)  # fmt: skip

    export = _sheet(Amount=TRUTH["value"])
    export["Created Date"] = TRUTH["created"].map(named)
    export["Close Date"] = TRUTH["closed"].map(named)
    path = tmp_path / "ordinals.csv"
    export.to_csv(path, index=False)
    _check(path)


@pytest.mark.parametrize(
    ("months", "written"),
    [(("janv.", "févr.", "mars"), "{d} {m} {y} à 15:05"),
     (("Jan.", "Feb.", "März"), "{d}. {m} {y} um 15:05"),
     (("ene.", "feb.", "mar."), "{d} {m} {y} a las 15:05"),
     (("Jan", "Feb", "Mar"), "{m} {d}, {y} at 3:05 PM")],
)  # fmt: skip
def test_a_time_after_the_word_for_at_reads_with_its_date(
    tmp_path: Path, months: tuple, written: str
) -> None:
    """Long dates as French, German, Spanish and English locales write them with a time:
    ``5 janv. 2023 à 15:05``, ``5. Jan. 2023 um 15:05``, ``5 ene. 2023 a las 15:05``."""

    def named(text: str) -> str:
        if not text:
            return ""
        d = pd.Timestamp(text)
        return written.format(d=d.day, m=months[d.month - 1], y=d.year)

    export = _sheet(Amount=TRUTH["value"])
    export["Created Date"] = TRUTH["created"].map(named)
    export["Close Date"] = TRUTH["closed"].map(named)
    path = tmp_path / "long.csv"
    export.to_csv(path, index=False)
    got = _check(path)
    assert list(got["opened"].dt.strftime("%H:%M")) == ["15:05"] * 5
