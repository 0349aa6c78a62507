"""Numbers and timestamps as CRMs and spreadsheets write them.

Numbers (:func:`parse_number`): surrounding spaces, currency symbols, ISO codes and the words
Chinese and Korean sheets write currencies with (``人民币``, ``美元``, ``원``) are ignored;
``万`` multiplies by 10^4 and ``亿`` by 10^8; a thousands separator is a comma, an apostrophe,
a (narrow) no-break space, or dots when there are two or more (``1.234.567``; an apostrophe
may be straight or typographic, ``1’234.56`` as Swiss sheets write it). When both ``,``
and ``.`` occur the later one is the decimal mark (``1.234,5`` and ``1,234.5`` are both 1234.5);
a lone ``.`` is a decimal mark (``1.234`` is 1.234); a lone ``,`` is a decimal mark unless it is
followed by groups of exactly three digits (``12,5`` is 12.5, ``12,500`` is 12500); after groups
by a space or an apostrophe the other mark is the decimal one (``1 234,56`` is 1234.56); Indian
groups of two after the thousands (``12,50,000``) are lakhs. Anything else is not a number (NaN).

Timestamps (:func:`parse_times`): ISO 8601 (``2023-01-05``, ``2023-01-05T10:00:00.000+0000``,
``...Z``), also with ``/`` or ``.`` separators (Korean ``2023. 3. 5.``) or written
``2023年1月5日``, a 12-hour clock after it as ``2:05 PM`` or with the word before the hour (``오후
2:05``, ``午後 2:05``, ``下午 2:05``: afternoon; 12 in the morning is 0 h); or a ``date_format``
(strftime) if one is given. A timestamp that carries an offset is converted to the scenario's
time zone (``timezone``) and that zone's wall-clock time is kept, so the scenario's calendar
decides which day it fell on; with no zone given, each keeps its own wall-clock time (the
offset is the zone the CRM wrote it in, and its day the one the CRM showed; ``Z`` is UTC); one
without an offset is taken as already in the zone. A date with the year last (``1/15/2023``,
``15.01.2023``) is read in the day-month order the column shows (a number above 12 says which
is the day); where the column does not show it (and the other date columns of the file do not),
``date_format`` must, but for dates written with dots, which are day first. A five-digit number
(with or without a fraction) is a date a spreadsheet wrote as its day number (Excel's 1900
system: 45000 is 2023-03-15; the fraction is the time of day), as a CSV saved from a column
formatted "General" has it. A person's name before a date written with its month's name
(monday.com's Creation Log, ``Anna Schmidt Jan 5, 2023 10:12 AM``) is left out where most of
the column's filled cells have one (a log of who, then when); elsewhere words before a date
are a note (``Proposal sent Jan 5, 2023``), not a date. A year, or a year and its month
(``2023``, ``2023-02``), names no day: no date (ISO 8601 would read it as the first).
An English day may have its ordinal (``Jan 5th, 2023``, ``1st of March 2023``); the word for
"at" between a long date and its time is left out (``5 janv. 2023 à 15:05``, ``5. Jan. 2023
um 15:05``, ``5 ene. 2023 a las 15:05``); a JavaScript date as text (``Thu Jan 05 2023 15:05:00
GMT+0800 (China Standard Time)``) is read at its offset, the zone's name after it left out.
"""

from __future__ import annotations

import functools
import math
import re

import pandas as pd

__all__ = [
    "THREE_DECIMALS",
    "UNITS",
    "YEN_SIGN",
    "amount_currency",
    "currency_codes",
    "has_own_scale",
    "is_year_last",
    "no_date",
    "parse_flags",
    "parse_number",
    "parse_numbers",
    "parse_probabilities",
    "parse_times",
    "shown_by_dots",
    "unix_times",
    "utc_offsets",
    "year_last_order",
]

UNITS = {"万": 1e4, "萬": 1e4, "亿": 1e8, "億": 1e8}  # 万 / 亿 after a number
# currency signs, and the short words some currencies are written with (R$ 1.234,56, 1 234,56 ₽,
# 1.234,56 kr, 1 234,56 zł, US$1,234.56), before or after an amount
_SIGN = r"[$€£¥￥₩￦₹₽₺₴₪₫₱฿₦]"
_WORD = r"(?:US\$|HK\$|NT\$|NZ\$|R\$|S\$|A\$|C\$|kr\.?|zł|Kč|Ft|руб\.?|р\.|lei)"
_NOISE = re.compile(
    rf"^(?:\s|{_SIGN}|{_WORD})*(?:[A-Z]{{3}}\s*)?|\s*(?:[A-Z]{{3}}|元|円|{_SIGN}|{_WORD})?\s*$"
)
# currencies Chinese (Simplified and Traditional) and Korean sheets write as a word before or
# after the amount (人民币1.2亿元, 12.5万美元, 3,000,000원), the longer word first
_CJK_CURRENCIES = {"人民币": "CNY", "人民幣": "CNY", "新台币": "TWD", "新台幣": "TWD",
                   "新臺幣": "TWD", "美元": "USD", "美金": "USD", "欧元": "EUR", "歐元": "EUR",
                   "日元": "JPY", "日圆": "JPY", "日圓": "JPY", "英镑": "GBP", "英鎊": "GBP",
                   "港币": "HKD", "港幣": "HKD", "港元": "HKD", "韩元": "KRW", "韓元": "KRW",
                   "원": "KRW"}  # fmt: skip
_CJK_WORD = re.compile(
    rf"^(?:{'|'.join(_CJK_CURRENCIES)})\s*|\s*(?:{'|'.join((*_CJK_CURRENCIES, '元', '円'))})$"
)
_GROUPED = re.compile(
    r"^\d{1,3}(?P<sep>[,.'\u2019 \u00a0\u202f])\d{3}(?:(?P=sep)\d{3})*(?P<frac>[.,]\d+)?$"
)
# the Indian grouping: thousands, then groups of two (12,50,000 is twelve lakh fifty thousand)
_INDIAN = re.compile(r"^\d{1,2}(?:,\d{2})+,\d{3}(?:\.\d+)?$")
# an offset after a time of day: Z, +08:00, +0800 or +08 (a date's own -05 is not one)
_TRAILING_OFFSET = r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_OFFSET = re.compile(r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")
# a time's zone written as a word: 21:30:00 UTC, 09:30 GMT+8, 10:00 UTC+05:30
_UTC_WORD = re.compile(
    r"(?<=\d:\d\d)(?P<s>(?::\d\d(?:[.,]\d+)?)?)\s*(?:UTC|GMT)"
    r"(?:(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?)?$",
    re.IGNORECASE,
)
# a zone's abbreviation after the time (Salesforce's "09:40 PM PST", German "MEZ"): its UTC
# offset; the ambiguous ones (CST: China or US Central; IST; BST) are not read
_ZONES = {"PST": "-08:00", "PDT": "-07:00", "MST": "-07:00", "MDT": "-06:00", "EST": "-05:00",
          "EDT": "-04:00", "AKST": "-09:00", "AKDT": "-08:00", "HST": "-10:00", "WET": "+00:00",
          "WEST": "+01:00", "CET": "+01:00", "CEST": "+02:00", "MEZ": "+01:00", "MESZ": "+02:00",
          "EET": "+02:00", "EEST": "+03:00", "MSK": "+03:00", "JST": "+09:00", "KST": "+09:00",
          "HKT": "+08:00", "SGT": "+08:00", "AEST": "+10:00", "AEDT": "+11:00"}  # fmt: skip
_ZONE_WORD = re.compile(r"(?<=\d)\s*(?:[AaPp]\.?[Mm]\.?)?\s+(?P<z>" + "|".join(_ZONES) + r")$",
                        re.IGNORECASE)  # fmt: skip
_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")  # Excel's day number: 10000 is 1927-05-18
# Unix time in seconds or milliseconds from 2001-09 to 2033-05 (1,000,000,000 to 1,999,999,999 s)
_EPOCH = re.compile(r"^1\d{9}(?:\d{3})?$")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # day 0 of Excel's 1900 system (past its 1900 bug)
_CJK_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?")
# year first with slashes or dots: 2023/3/5, 2023.03.05, Korean 2023. 3. 5. (a dot after the day)
_SLASH_DATE = re.compile(r"^(\d{4})(?:/|\.\s*)(\d{1,2})(?:/|\.\s*)(\d{1,2})(?:\.(?!\d))?")
_NO_DAY = re.compile(r"\d{4}(?:[-/.]\d{1,2})?")  # 2023, 2023-02: ISO 8601 reads them as the 1st
# day and month before the year (1/15/2023 in the US, 15/01/2023 or 15.01.2023 elsewhere)
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?=$|[ T])")


# what exports write in an empty date cell: a dash, N/A, null, MySQL's zero date, 无 / 暂无,
# and a date still to be set: TBD / TBC / TBA, unknown, 待定 / 未定 (to be decided)
_NO_DATE = frozenset({"-", "--", "—", "–", "/", "n/a", "na", "#n/a", "null", "none", "nil",
                      "nan", "nat", "0000-00-00", "0000-00-00 00:00:00", "00/00/0000",
                      "00.00.0000", "无", "暂无", "なし", "없음", "tbd", "tbc", "tba",
                      "unknown", "待定", "未定", "未知"})  # fmt: skip


def no_date(text: pd.Series) -> pd.Series:
    """Whether each cell is a placeholder for no date (``-``, ``N/A``, ``null``, ``0000-00-00``,
    ``TBD``, ``待定``): read as blank, not as a date that does not parse."""
    return text.astype(str).str.strip().str.casefold().isin(_NO_DATE)


def parse_number(text: str) -> float:
    """A number written with thousands separators, a currency or 万/亿 (NaN if none)."""
    s = str(text).translate(_HALF_WIDTH).strip()
    if not s:
        return math.nan
    scale = 1.0
    s = _CJK_WORD.sub("", s).strip()  # 2.5万元, 80万円, 12.5万美元: the unit before it
    if s and s[-1] in UNITS:
        scale, s = UNITS[s[-1]], s[:-1]
    s = _NOISE.sub("", s)
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if not s or not s[0].isdigit():
        return math.nan
    if _INDIAN.match(s):  # 12,50,000.50: lakhs and crores grouped by twos
        s = s.replace(",", "")
    elif "," in s and "." in s:
        dec = "," if s.rfind(",") > s.rfind(".") else "."
        s = s.replace("." if dec == "," else ",", "").replace(dec, ".")
    elif (g := _GROUPED.match(s)) and s.count(".") != 1:
        frac = g["frac"] or ""
        if frac and frac[0] == g["sep"]:  # "1,234,56": a group of two, not a number
            return math.nan
        # groups by one mark, then the other mark (if any) is the decimal one: "1 234,56"
        s = s[: len(s) - len(frac)].replace(g["sep"], "") + frac.replace(",", ".")
    elif s.count(".") == 1:
        s = re.sub(r"['\u2019 \u00a0\u202f]", "", s)
    else:
        s = s.replace(",", ".")
    try:
        return sign * float(s) * scale
    except ValueError:
        return math.nan


_DOT_THOUSANDS = re.compile(r"^[-+]?\d{1,3}\.\d{3}$")  # 18.885: 18,885 or 18.885?
_DOT_DECIMAL = re.compile(r"^[-+]?\d*\.(?:\d{1,2}|\d{4,})$")  # 12.5, 0.1234: a decimal dot


# currencies of three decimals (ISO 4217's minor unit 3): Bahrain, Iraq, Jordan, Kuwait, Libya,
# Oman, Tunisia
THREE_DECIMALS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
# 12K, $1.2M, 3.5 MM, 2bn; German 20,5 Tsd. / 1,2 Mio. / 3 Mrd.; Indian 12.5 lakh, 2 crore
_ABBREVIATED = re.compile(
    r"^(.*\d)\s*(k|m|mm|b|bn|tsd|mio|mrd|lakhs?|lacs?|crores?|cr)\.?$", re.IGNORECASE
)
_DOT_GROUPS = re.compile(r"^[-+]?\d{1,3}(?:\.\d{3})+$")  # 1.250 or 12.400.000
_GERMAN_SCALES = frozenset({"tsd", "mio", "mrd"})  # their numbers are written the German way
_ABBREVIATIONS = {"k": 1e3, "m": 1e6, "mm": 1e6, "b": 1e9, "bn": 1e9, "tsd": 1e3, "mio": 1e6,
                  "mrd": 1e9, "lakh": 1e5, "lac": 1e5, "crore": 1e7, "cr": 1e7}  # fmt: skip


def _german(text: str) -> float:
    """A number beside a German scale word or unit: with a decimal comma and dots (or spaces,
    apostrophes) between the thousands where the cell writes only commas or dots in groups of
    three (``12,500`` is 12.5, ``1.250`` is 1250); a cell with a lone decimal point or both
    marks shows its own way (``1.25 Mio.`` in Switzerland, ``1,250.50``) and is read as any."""
    core = _NOISE.sub("", str(text).strip())
    if "." in core and ("," in core or not _DOT_GROUPS.match(core)):
        return parse_number(core)
    return parse_number(re.sub(r"[.'\u2019 \u00a0\u202f]", "", core).replace(",", "."))


def has_own_scale(values: pd.Series) -> pd.Series:
    """Whether each cell writes a scale of its own (``12.5万``, ``12K``, ``1,2 Mio.``)."""
    text = _text(values).str.strip()
    return text.str.contains("[万萬亿億]", regex=True) | text.map(
        lambda v: bool(_ABBREVIATED.match(_NOISE.sub("", v)))
    ).astype(bool)


# full-width forms (U+FF01-FF5E, an IME's full-width mode: １２，３００．００, ２０２３／３／５) and
# the ideographic space as their ASCII twins, for numbers and dates only (a name keeps its own)
_HALF_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}


def _text(values: pd.Series) -> pd.Series:
    """Cells as text, a missing one blank (pandas' ``str`` dtype keeps NaN through astype),
    full-width digits and marks as ASCII."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    wide = text.str.contains("[\uff01-\uff5e\u3000]", regex=True)
    return text.where(~wide, text[wide].str.translate(_HALF_WIDTH)) if wide.any() else text


def parse_numbers(
    values: pd.Series, amounts: bool = False, dot_groups: bool = True, decimal_comma: bool = False
) -> pd.Series:
    """:func:`parse_number` of each value (blank: NaN). With ``amounts`` (money), a column
    that writes at least three numbers as ``d.ddd`` and none with a dot before one, two or
    four or more digits groups thousands with its dots (``18.885 €`` is 18,885, as German and
    Dutch exports write whole amounts): money is not written to three decimals, but in the
    currencies of three (``KWD 250.500``, most cells written with one of their codes) and
    where ``dot_groups`` is false (a header in thousands: ``Amount (K)``); and ``12K``,
    ``$1.2M``, ``3.5 MM``, ``2bn`` are thousands, millions and billions, as are German
    ``20,5 Tsd. €``, ``1,2 Mio.``, ``3 Mrd.`` (numbers written the German way, a comma before
    the decimals and dots between thousands: ``1,250 Mio.`` is 1.25 million); ``12.5 lakh`` and
    ``2 crore`` are 10^5 and 10^7. With ``decimal_comma`` (a German unit in the header, ``Betrag
    (Tsd. €)``) every cell is written so."""
    text = _text(values)
    read = _german if decimal_comma else parse_number
    uniq = {v: read(v) for v in pd.unique(text)}
    if amounts:  # 12K, $1.2M, 3.5 MM, 2bn: thousands, millions, billions (hand-kept sheets)
        for v, x in uniq.items():
            if math.isnan(x) and (m := _ABBREVIATED.match(_NOISE.sub("", v.strip()))):
                unit = m[2].lower()
                unit = unit if unit in _ABBREVIATIONS else unit.removesuffix("s")  # lakhs
                german = decimal_comma or unit in _GERMAN_SCALES
                uniq[v] = (_german if german else parse_number)(m[1]) * _ABBREVIATIONS[unit]
        core = {v: _NOISE.sub("", v.strip()) for v in uniq}
        grouped = [v for v, c in core.items() if _DOT_THOUSANDS.match(c)]
        codes = [m.group(1) or m.group(2) for v in uniq if (m := _CODE.search(v))]
        mills = sum(c in THREE_DECIMALS for c in codes) * 2 > len(uniq)
        dot_groups = dot_groups and not mills and not decimal_comma
        if (
            dot_groups
            and len(grouped) >= 3
            and not any(_DOT_DECIMAL.match(c) for c in core.values())
        ):
            uniq.update({v: parse_number(core[v].replace(".", "")) for v in grouped})
    return text.map(uniq).astype("float64")


# the currency an amount is written in: an ISO code before or after the number, or a symbol
# that names one currency ($, ¥ and kr name several, so they name none)
_CODE = re.compile(r"^\s*([A-Z]{3})\s*[-+]?\d|\d\s*([A-Z]{3})\s*$")
_SYMBOLS = {"€": "EUR", "£": "GBP", "₩": "KRW", "￦": "KRW", "₹": "INR", "元": "CNY", "円": "JPY",
            "US$": "USD", "HK$": "HKD", "NT$": "TWD", "NZ$": "NZD", "R$": "BRL", "S$": "SGD",
            "A$": "AUD", "C$": "CAD", "₽": "RUB", "руб": "RUB", "₺": "TRY", "₴": "UAH",
            "₪": "ILS", "₫": "VND", "₱": "PHP", "฿": "THB", "₦": "NGN", "zł": "PLN",
            "Kč": "CZK", "Ft": "HUF", "lei": "RON", **_CJK_CURRENCIES}  # fmt: skip
# a symbol where it stands alone, not inside a word (US$ is no S$), the longest first
_SYMBOL = re.compile(
    r"(?<![A-Za-z])(" + "|".join(map(re.escape, sorted(_SYMBOLS, key=len, reverse=True))) + ")"
)
YEN_SIGN = "¥"  # ¥ / ￥: yuan or yen, which the scenario's currency decides (importer._convert)


def amount_currency(values: pd.Series) -> pd.Series:
    """The ISO code each amount is written with (``JPY 3,000,000``, ``18.885 €``), ``YEN_SIGN``
    for ``¥`` / ``￥`` (yuan or yen), else None (``$`` names several currencies, so none)."""

    def one(text: str) -> str | None:
        m = _CODE.search(text)
        if m:
            return m.group(1) or m.group(2)
        if s := _SYMBOL.search(text):
            return _SYMBOLS[s.group(1)]
        return YEN_SIGN if "¥" in text or "￥" in text else None

    table = {v: one(str(v)) for v in pd.unique(values.astype(str))}
    return values.astype(str).map(table).astype(object)


def currency_codes(values: pd.Series) -> pd.Series:
    """Each currency cell as an ISO 4217 code: a code (any case), a name as a CRM shows it
    (Dynamics writes ``US Dollar``, SugarCRM ``US Dollars``, Chinese CRMs ``人民币``, Bitrix24
    ``Российский рубль``; Babel's names in the CRMs' languages, and English plurals), the last
    word of a name where one currency in use has it (``Yen``, ``Euro``; not ``Dollar``) or a
    symbol of one currency; None where blank or none of these (the caller reports it)."""
    from babel.numbers import list_currencies  # only when an export has a currency column

    from simsales.calibrate.mapping import label_key  # names compared as labels are

    codes = list_currencies()
    names = _currency_names()

    def one(text: str) -> str | None:
        t = " ".join(text.split())
        if not t:
            return None
        if t.upper() in codes:
            return t.upper()
        return names.get(label_key(t)) or _SYMBOLS.get(t)

    table = {v: one(str(v)) for v in pd.unique(values.astype(str))}
    return values.astype(str).map(table).astype(object)


# the languages CRMs show currency names in (Bitrix24's Российский рубль, Salesforce's and
# Dynamics' translated UIs), Babel's names of each
_NAMED_IN = ("en", "zh", "zh_Hant", "ru", "de", "fr", "es", "pt", "it", "ja", "ko")


@functools.cache
def _currency_names() -> dict[str, str]:
    """label key of a currency's name -> its code (see :func:`currency_codes`)."""
    from babel import Locale
    from babel.core import get_global
    from babel.numbers import get_currency_name, get_territory_currencies, list_currencies

    from simsales.calibrate.mapping import label_key

    in_use = sorted(
        {c for t in get_global("territory_currencies") for c in get_territory_currencies(t)}
    )
    by_word: dict[str, set[str]] = {}
    for code in in_use:
        for count in (1, 2):
            by_word.setdefault(label_key(get_currency_name(code, count, "en").split()[-1]),
                               set()).add(code)  # fmt: skip
    names = {word: next(iter(cs)) for word, cs in by_word.items() if len(cs) == 1}
    codes = list_currencies()
    names.update({label_key(get_currency_name(c, 2, "en")): c for c in in_use})
    names.update(
        {
            label_key(name): code
            for loc in _NAMED_IN
            for code, name in Locale.parse(loc).currencies.items()
            if code in codes
        }
    )
    return names


def parse_probabilities(values: pd.Series) -> pd.Series:
    """0-1 probabilities from a column: a trailing ``%`` is allowed, and a column with a value
    above 1 or a ``%`` is in percent (Salesforce writes 0-100), else already 0-1."""
    text = _text(values).str.strip()
    num = parse_numbers(text.str.rstrip("%"))
    percent = bool(text.str.endswith("%").any() or (num > 1).any())
    return num / 100 if percent else num


def _zoned(s: str) -> str:
    """A time on the 24-hour clock (:func:`_clock24`), a zone's abbreviation after it as its
    ISO offset: ``09:40 PM PST`` is ``21:40-08:00``."""
    m = _ZONE_WORD.search(s)
    if m is None or not re.search(r"\d:\d\d", s):
        return _clock24(s)
    return _clock24(s[: m.start("z")].rstrip()) + _ZONES[m["z"].upper()]


def _offset(m: re.Match[str]) -> str:
    """A zone word as an ISO offset: UTC is Z, GMT+8 +08:00."""
    if m["sign"] is None:
        return f"{m['s']}Z"
    return f"{m['s']}{m['sign']}{int(m['h']):02d}:{m['m'] or '00'}"


# month names and their abbreviations (with or without a dot) in the languages Excel and
# the CRMs write dates in: English, Spanish, French, German, Portuguese, Italian; no word
# names two months
_MONTH_WORDS = (
    "jan january ene enero janv janvier januar janeiro gen gennaio",
    "feb february febrero fév févr février februar fev fevereiro febbraio",
    "mar march marzo mars mär märz março marco",
    "apr april abr abril avr avril aprile",
    "may mayo mai maio mag maggio",
    "jun june junio juin juni junho giu giugno",
    "jul july julio juil juillet juli julho lug luglio",
    "aug august ago agosto août aout",
    "sep sept september septiembre septembre setiembre set setembro settembre",
    "oct october octubre octobre okt oktober out outubro ott ottobre",
    "nov november noviembre novembre novembro",
    "dec december dic diciembre déc décembre dez dezember dezembro dicembre",
)
MONTHS = {w: i + 1 for i, words in enumerate(_MONTH_WORDS) for w in words.split()}
# 15-jun-2022, 4 févr. 2022, 5 de marzo de 2023, 15.März 2023; Mar 5, 2023; then a time
# (an English day may have its ordinal: 5th January 2023, 1st of March 2023, Jan 5th, 2023)
_DAY_WORD_YEAR = re.compile(
    r"^(\d{1,2})(?:st|nd|rd|th)?\.?[\s\-/]*(?:(?:de|of)\s+)?([^\W\d_]+)\.?[\s\-/,]*"
    r"(?:de\s+)?(\d{4}|\d{2})(?=$|[\sT,])",
    re.IGNORECASE,
)
_WORD_DAY_YEAR = re.compile(
    r"^([^\W\d_]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?=$|[\sT,])", re.IGNORECASE
)
# the word for "at" between a long date and its time: 5 janv. 2023 à 15:05, 5. Jan. 2023 um
# 15:05, 5 ene. 2023 a las 15:05, Jan 5, 2023 at 3:05 PM (Portuguese às, Italian alle / ore)
_AT = re.compile(r"^(?:at|à|a|às|as|um|a\s+las|a\s+la|alle|ore)\s+(?=\d)", re.IGNORECASE)
# a JavaScript Date as text names its zone after the offset: "... GMT+0800 (China Standard
# Time)", or a hand-written "GMT+8 (China Standard Time)"; the offset says it all
_ZONE_NAME = re.compile(r"((?:GMT|UTC)[+-]\d{1,2}(?::?\d{2})?)\s*\([^()\d]*\)$", re.IGNORECASE)


# a weekday written beside the date (Excel's Chinese long date "2023年3月5日星期日", 周日,
# Japanese "(日)", English "Sunday, "): says nothing the date does not
_WEEKDAY = re.compile(
    r"\s*[（(]?(?:星期|周|週|礼拜|禮拜)[一二三四五六日天][）)]?|\s*[（(][月火水木金土日][）)]"
    r"|^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+",
    re.IGNORECASE,
)
# Taiwan's Republic era (民國 112 is 2023: year + 1911), three digits, as 112/3/5 or 112年3月5日;
# Japan's eras (令和 5 = R5 is 2023, 平成 H, 昭和 S; 元年 is year 1)
_ROC_DATE = re.compile(r"^(?:民[國国]\s*)?(1\d{2})(?:年|([/.-]))(\d{1,2})(?:月|\2)(\d{1,2})日?")
_ERAS = {"令和": 2018, "R": 2018, "平成": 1988, "H": 1988, "昭和": 1925, "S": 1925}
_ERA_DATE = re.compile(
    r"^(令和|平成|昭和|[RHS])\s*(\d{1,2}|元)(?:年|\.)(\d{1,2})(?:月|\.)(\d{1,2})日?", re.IGNORECASE
)


# who made a record, before the date it was made (monday.com's Creation Log: "Anna Schmidt
# Jan 5, 2023 10:12 AM"): up to four words, then a month's name, its day and a year
_BY_WHOM = re.compile(r"^(?:[^\W\d_][\w.'’-]*\s+){1,4}(?=([^\W\d_]+)\.?\s+\d{1,2},\s*\d{4}\b)")


def _without_weekday(text: str) -> str:
    return _WEEKDAY.sub("", text.strip()).strip()


def _by_whom(s: str) -> int:
    """Where the date in ``s`` (without its weekday) begins after the words of who made the
    record (0: none before it)."""
    by = _BY_WHOM.match(s)
    return by.end() if by and by[1].casefold() in MONTHS else 0


def _normalise(text: str, log: bool = False) -> str:
    """``text`` in ISO form where its form is known; in a ``log``, after who made it."""
    s = _ZONE_NAME.sub(r"\1", _without_weekday(text))
    s = s[_by_whom(s) :] if log else s
    if m := _ROC_DATE.match(s):
        return f"{int(m[1]) + 1911}-{int(m[3]):02d}-{int(m[4]):02d}" + s[m.end() :]
    if m := _ERA_DATE.match(s):
        year = _ERAS[m[1].upper() if m[1].isascii() else m[1]] + (1 if m[2] == "元" else int(m[2]))
        return f"{year}-{int(m[3]):02d}-{int(m[4]):02d}" + s[m.end() :]
    m = _CJK_DATE.match(s) or _SLASH_DATE.match(s)
    if m:
        y, mo, d = m.groups()
        return f"{y}-{int(mo):02d}-{int(d):02d}" + s[m.end() :]
    if (m := _DAY_WORD_YEAR.match(s)) and (month := MONTHS.get(m[2].casefold())):
        d, y = m[1], m[3]
    elif (m := _WORD_DAY_YEAR.match(s)) and (month := MONTHS.get(m[1].casefold())):
        d, y = m[2], m[3]
    else:
        return s
    year = int(y) if len(y) == 4 else 2000 + int(y)  # 15-jun-22: this century's
    rest = _AT.sub("", s[m.end() :].lstrip(",").strip())
    return f"{year}-{month:02d}-{int(d):02d}" + (" " + rest.strip() if rest.strip() else "")


# a 12-hour clock after the date: 10:22 AM, 3:05:09 p.m., or the morning / afternoon word
# before the hour: Chinese 上午 / 下午 3:05, Japanese 午前 / 午後, Korean 오전 / 오후
_AFTERNOON = ("下午", "午後", "오후")
_CLOCK12 = re.compile(
    r"(?:(上午|下午|午前|午後|오전|오후)\s*)?(?<!\d)(\d{1,2}):(\d{2})(:\d{2}(?:[.,]\d+)?)?(?:\s*([AaPp])\.?\s*[Mm]\.?)?$"
)


def _clock24(s: str) -> str:
    """The 24-hour form of a time written on a 12-hour clock (12 AM is 00, 12 PM is 12); an
    hour above 12 there is left as written (not a time, so the date is reported)."""
    m = _CLOCK12.search(s)
    if m is None or not (m[1] or m[5]):
        return s
    hour, pm = int(m[2]), m[1] in _AFTERNOON or (m[5] or "").lower() == "p"
    if not 1 <= hour <= 12:
        return s
    hour = hour % 12 + (12 if pm else 0)
    return s[: m.start()].rstrip() + f" {hour:02d}:{m[3]}{m[4] or ''}"


def parse_times(
    values: pd.Series,
    fmt: str | None = None,
    timezone: str | None = None,
    day_order: str | None = None,
) -> pd.Series:
    """Naive ``datetime64[ns]`` wall-clock times in ``timezone`` (NaT where blank or wrong);
    ``day_order`` ("month first" / "day first") for dates with the year last, when the caller
    knows it from more columns than this one (else the column's own)."""
    text = _text(values)
    unique = pd.unique(text)
    normal = _normal_forms(text)
    if fmt is None:  # a format of the user's own may read the 12-hour clock (%I %p)
        normal = _with_offsets(normal)
    else:  # the user's format reads the cells as written; their ISO forms where it does not
        iso = text.map({v: _clock24(n) for v, n in normal.items()}).where(lambda t: t != "")
        text = text.str.strip()
        normal = {v: v.strip() for v in unique}
    text = text.map(normal)
    text = text.where(text != "")
    if fmt is None:
        text = _year_last(text, day_order or year_last_order(text))
        # a year, or a year and its month, names no day: not read as the first of it
        text = text.where(~text.str.fullmatch(_NO_DAY, na=False))
    none = pd.Series(False, text.index)
    aware = text.str.contains(_OFFSET, na=False) if fmt is None else none
    serial = text.str.fullmatch(_SERIAL, na=False) if fmt is None else none
    epoch = text.str.fullmatch(_EPOCH, na=False) if fmt is None else none
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if epoch.any():  # Unix time (an API's: HubSpot's milliseconds), an instant in UTC
        number = text[epoch].astype("int64")
        ms = number >= 10**12
        instant = pd.to_datetime(number.where(ms, number * 1000), unit="ms", utc=True)
        out[epoch] = instant.dt.tz_convert(timezone or "UTC").dt.tz_localize(None)
    if serial.any():
        days = pd.to_timedelta(text[serial].astype(float), unit="D")
        out[serial] = (_EXCEL_EPOCH + days).dt.round("s")
    naive = ~aware & ~serial & ~epoch & text.notna()
    if naive.any():
        parsed = pd.to_datetime(text[naive], format=fmt or "ISO8601", errors="coerce")
        day = fmt.split("%H")[0].split("%I")[0].rstrip(" T") if fmt else ""
        if day and day != fmt and parsed.isna().any():  # the format's date part, alone
            alone = parsed.isna()
            parsed[alone] = pd.to_datetime(text[naive][alone], format=day, errors="coerce")
        if fmt is not None and parsed.isna().any():  # 2023/3/5, 15-ene-2022 in their ISO form
            alone = parsed.isna()
            parsed[alone] = pd.to_datetime(iso[naive][alone], format="ISO8601", errors="coerce")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):  # an offset the pattern missed
            parsed = parsed.dt.tz_convert(timezone or "UTC").dt.tz_localize(None)
        out[naive] = _in_range(parsed).astype("datetime64[ns]")
    if aware.any() and timezone is None:  # each at its own wall clock: the day the CRM showed
        own = text[aware].str.replace(_TRAILING_OFFSET, "", regex=True)
        local = pd.to_datetime(own, format="ISO8601", errors="coerce")
        out[aware] = _in_range(local).astype("datetime64[ns]")
    elif aware.any():
        parsed = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
        local = parsed.dt.tz_convert(timezone).dt.tz_localize(None)
        out[aware] = _in_range(local).astype("datetime64[ns]")
    return out


def _normal_forms(text: pd.Series) -> dict[str, str]:
    """Each distinct cell's ISO form where its form is known (:func:`_normalise`)."""
    unique = pd.unique(text)
    # a log writes who made each record before most of its dates; a lone cell so is a note
    named = text[text.str.strip() != ""].map({v: _by_whom(_without_weekday(v)) > 0 for v in unique})
    log = bool(named.mean() > 0.5) if len(named) else False
    return {v: _normalise(v, log) for v in unique}


def _with_offsets(normal: dict[str, str]) -> dict[str, str]:
    """The ISO forms with a zone written as a word or an abbreviation (2023-01-02 21:30:00 UTC,
    Zendesk Sell's; GMT+0800, JavaScript's; 09:40 PM PST) as an ISO offset."""
    return {v: _UTC_WORD.sub(_offset, _zoned(n)) for v, n in normal.items()}


def utc_offsets(values: pd.Series) -> list[str]:
    """The UTC offsets other than zero that timestamps are written with (``-05:00``), however
    written: ``GMT+0800 (China Standard Time)`` and ``UTC+8`` are ``+08:00``."""
    text = _text(values).str.strip()
    text = text.map(_with_offsets(_normal_forms(text)))
    found = text[text.str.contains(_OFFSET, na=False)].str.extract(f"({_TRAILING_OFFSET})")[0]
    zero = found.str.fullmatch(r"\s*(?:Z|[+-]00(?::?00)?)")
    # one offset, one spelling: +0800 and +08 are +08:00
    spelt = found[~zero].str.strip().str.replace(r"^([+-]\d{2}):?(\d{2})?$", _hh_mm, regex=True)
    return sorted(set(spelt))


def _hh_mm(m: re.Match[str]) -> str:
    return f"{m[1]}:{m[2] or '00'}"


def _year_last(text: pd.Series, order: str | None) -> pd.Series:
    """Dates written day and month before the year, rewritten as ISO in the order the column
    shows: month first when some second number is above 12 and no first one is (1/15/2023),
    day first in the opposite case (15/01/2023); a column that shows neither (every number 12
    or less) or both is left as it is, so its dates are not read (see :func:`year_last_order`)."""
    if order is None:
        return text
    found = text.str.extract(_DAY_MONTH_YEAR)
    hit = found[0].notna()
    if not hit.any():
        return text
    a, b = found.loc[hit, 0].str.zfill(2), found.loc[hit, 2].str.zfill(2)
    month, day = (a, b) if order == "month first" else (b, a)
    iso = found.loc[hit, 3] + "-" + month + "-" + day
    rest = text[hit].str.replace(_DAY_MONTH_YEAR, "", n=1, regex=True)
    return text.where(~hit, iso + rest)


def is_year_last(text: pd.Series) -> pd.Series:
    """Which values are dates written with the year last (``1/15/2023``, ``15.01.2023``)."""
    return text.astype(str).str.match(_DAY_MONTH_YEAR, na=False)


def shown_by_dots(text: pd.Series) -> bool:
    """Whether the day-month order of the dates written with the year last comes only from
    their dots (no number above 12 shows it: see :func:`year_last_order`)."""
    found = text.dropna().astype(str).str.extract(_DAY_MONTH_YEAR)
    found = found[found[0].notna()]
    big = (found[0].astype(int) > 12).any() or (found[2].astype(int) > 12).any()
    return bool(len(found)) and not big and bool((found[1] == ".").all())


def year_last_order(text: pd.Series) -> str | None:
    """ "month first", "day first", or None when the column's dates written with the year last
    do not show which (or it has none); dates all written with dots that do not show it are
    day first (German, Russian, Polish ... write 02.01.2023 for January 2nd, and no country
    writes month.day.year)."""
    found = text.dropna().astype(str).str.extract(_DAY_MONTH_YEAR)
    found = found[found[0].notna()]
    if found.empty:
        return None
    first_big = bool((found[0].astype(int) > 12).any())
    second_big = bool((found[2].astype(int) > 12).any())
    if second_big and not first_big:
        return "month first"
    if first_big and not second_big:
        return "day first"
    if not first_big and not second_big and (found[1] == ".").all():
        return "day first"  # 02.01.2023: dotted dates are written day first where they are used
    return None


def _in_range(parsed: pd.Series) -> pd.Series:
    """Dates a nanosecond clock holds (years 1678-2261); others (e.g. 9999-12-31, "no end")
    are NaT for the caller to read as open-ended or wrong."""
    year = parsed.dt.year
    return parsed.where((year > 1677) & (year < 2262))


def unix_times(values: pd.Series) -> pd.Series:
    """Unix epoch numbers as ISO text in UTC: seconds from 10^9 to 10^10 (2001-09-09 to
    2286), milliseconds from 10^12 to 10^13; other values unchanged (a date written as a
    number, ``20230105`` or a spreadsheet's ``44927``, is not an epoch and is left to
    :func:`parse_times`)."""
    num = pd.to_numeric(values, errors="coerce")
    secs = num.where((num >= 1e9) & (num < 1e10), num.where((num >= 1e12) & (num < 1e13)) / 1000)
    iso = pd.to_datetime(secs, unit="s", errors="coerce").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return iso.where(secs.notna(), values.astype(str))


_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_flags(values: pd.Series) -> pd.Series:
    """A checkbox column as a nullable boolean: true/false (Salesforce), 1/0 or yes/no (other
    tools and spreadsheets), any case; NA for anything else (blank included)."""
    text = values.astype(str).str.strip().str.lower()
    return pd.Series(text.map(_FLAGS), index=values.index, dtype="boolean")
