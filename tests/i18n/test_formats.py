"""Numbers, money, dates and periods formatted by Babel from CLDR data."""

from __future__ import annotations

import re
from datetime import date

import pytest

from simsales.i18n import (
    format_date,
    format_money,
    format_number,
    format_percent,
    normalize_locale,
    period_label,
    period_sort_key,
    weekday_names,
)

_SCALE = {"万": 1e4, "亿": 1e8, "K": 1e3, "M": 1e6, "B": 1e9, "": 1.0}


def _parse_compact(text: str) -> tuple[float, float]:
    """The value a compact number stands for, and half its last digit (the rounding bound)."""
    m = re.fullmatch(r"(-?)(\d+)(?:\.(\d+))?(万|亿|K|M|B|)", text)
    assert m, text
    decimals = len(m[3] or "")
    mantissa = float(f"{m[2]}.{m[3] or 0}") * (-1 if m[1] else 1)
    return mantissa * _SCALE[m[4]], 0.5 * 10**-decimals * _SCALE[m[4]]


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("value", [0, 950, 12_345, 99_999, 950_000, 26_830_000, 268_300_000,
                                   1_234_567_890, -5_600_000])  # fmt: skip
def test_compact_money_stands_for_the_value(locale: str, value: float) -> None:
    text = format_money(value, "CNY", locale)
    shown, half_step = _parse_compact(text)
    assert abs(shown - value) <= half_step * (1 + 1e-9), text
    digits = sum(c.isdigit() for c in text)
    assert digits >= min(3, len(str(abs(int(value))))) or text.endswith(("万", "亿", "K", "M"))


def test_chinese_money_uses_wan_and_yi_english_m_and_k() -> None:
    assert format_money(26_830_000, "CNY", "zh-CN") == "2683万"
    assert format_money(268_300_000, "CNY", "zh-CN") == "2.68亿"
    assert format_money(26_830_000, "CNY", "en") == "26.8M"
    assert format_money(950_000, "USD", "en") == "950K"
    assert format_money(26_830_000, "CNY", "zh-CN", symbol=True) == "¥2683万"
    assert format_money(float("nan"), "CNY", "en") == "–"


def test_numbers_percentages_and_dates() -> None:
    assert format_number(1234567.5, "zh-CN", 1) == "1,234,567.5"
    assert format_percent(0.734, "en", 1) == "73.4%"
    assert format_date(date(2027, 6, 30), "zh-CN") == "2027年6月30日"
    assert format_date(date(2027, 6, 30), "en") == "Jun 30, 2027"
    assert format_date(None, "zh-CN") == "预测期之后"
    assert weekday_names(["Mon", "Fri"], "zh-CN") == ["周一", "周五"]


def test_periods_in_calendar_order_and_words() -> None:
    labels = ["2027", "2027Q2", "2027H1", "2027Q1", "2027-06", "2027H2", "2027Q4", "2027Q3"]
    ordered = sorted(labels, key=period_sort_key)
    assert ordered == ["2027Q1", "2027-06", "2027Q2", "2027H1", "2027Q3", "2027Q4", "2027H2",
                       "2027"]  # fmt: skip
    assert [period_label(p, "zh-CN") for p in ("2027Q1", "2027H2", "2027", "2027-06")] == [
        "2027年第1季度", "2027年下半年", "2027年", "2027年6月"]  # fmt: skip
    assert [period_label(p, "en") for p in ("2027Q1", "2027H2", "2027", "2027-06")] == [
        "Q1 2027", "H2 2027", "2027", "Jun 2027"]  # fmt: skip


def test_locale_spellings() -> None:
    assert normalize_locale("zh_CN") == normalize_locale("zh-Hans") == "zh-CN"
    assert normalize_locale(None) == normalize_locale("en-US") == "en"
    with pytest.raises(ValueError, match="en, zh-CN"):
        normalize_locale("fr")


def test_small_money_keeps_three_digits() -> None:
    assert format_money(0.5543615297398712, "CNY", "en") == "0.55"
    assert format_money(845.4, "CNY", "zh-CN") == "845"
    assert format_money(-0.0001, "CNY", "en") == "0"
    assert format_number(-0.04, "en", 1) == "0.0"
