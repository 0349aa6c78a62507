"""Every user-visible word and number in the user's language: one place for the CLI, the HTML
pages, the notebook tables and the plots.

- Words come from gettext catalogs, ``locales/<lang>/LC_MESSAGES/simsales.po`` beside this file.
  A message id is a stable key (``"expected_revenue"``); both catalogs (``en`` and ``zh_CN``)
  translate every key, placeholders are ``str.format`` fields (``{period}``). The ``.po`` files
  are the source and the only copy in the repository: on first use each is compiled in memory
  (Babel's ``write_mo``) and loaded as a ``gettext`` catalog, so no compiled ``.mo`` can go stale.
  ``tests/i18n`` extracts every key the code and templates use (Babel's extractors, see
  ``babel.cfg``) and fails when a catalog lacks one or its placeholders differ.
- Numbers, money, percentages and dates are formatted by Babel from CLDR data: money is compact,
  2683万 / 2.68亿 in Chinese and 26.8M / 950K in English, with about three significant digits.
- Names from the scenario (deals, stages, pools) are shown as written.

``translator(locale)`` gives a :class:`Translator` bound to one locale; the module functions take
the locale as an argument.
"""

from __future__ import annotations

import functools
import gettext
import io
import math
import re
from collections.abc import Iterable
from datetime import date
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_skeleton
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_compact_decimal, format_decimal
from babel.numbers import format_percent as _babel_percent
from babel.support import Translations

__all__ = [
    "LOCALES",
    "N_",
    "MoneyUnit",
    "Translator",
    "catalog",
    "format_date",
    "format_days",
    "format_money",
    "format_number",
    "format_percent",
    "format_pp",
    "keys",
    "normalize_locale",
    "period_label",
    "period_sort_key",
    "translator",
    "weekday_names",
]

LOCALES = ("en", "zh-CN")
_BABEL = {"en": "en", "zh-CN": "zh_CN"}  # our locale tags -> Babel / gettext names
_ALIASES = {"en": "en", "en-us": "en", "en-gb": "en", "zh": "zh-CN", "zh-cn": "zh-CN",
            "zh-hans": "zh-CN", "zh-hans-cn": "zh-CN", "cn": "zh-CN"}  # fmt: skip
DASH = "–"  # shown for a missing or undefined number
_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2})|Q([1-4])|H([12]))?$")


def N_(key: str) -> str:  # noqa: N802 (gettext's name for it)
    """Marks a key for extraction where the code picks it at run time (``t(SCOPES[scope])``)."""
    return key


def normalize_locale(locale: str | None) -> str:
    """``"en"`` or ``"zh-CN"`` for any common spelling (``zh_CN``, ``zh-Hans``, ``en-US``...).

    Raises ValueError naming the supported locales for anything else; None means English.
    """
    if locale is None:
        return "en"
    key = locale.strip().replace("_", "-").lower()
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown locale {locale!r}: use one of {', '.join(LOCALES)}")


@functools.cache
def _po(locale: str) -> Catalog:
    name = _BABEL[normalize_locale(locale)]
    po = resources.files("simsales.i18n").joinpath("locales", name, "LC_MESSAGES", "simsales.po")
    with po.open("rb") as f:
        return read_po(f, locale=name)


@functools.cache
def catalog(locale: str) -> gettext.NullTranslations:
    """The gettext catalog of ``locale``, compiled in memory from its ``.po`` once."""
    mo = io.BytesIO()
    write_mo(mo, _po(locale))
    mo.seek(0)
    return Translations(mo, domain="simsales")


@functools.cache
def keys(locale: str) -> frozenset[str]:
    """Every key the catalog of ``locale`` translates (a non-empty ``msgstr``)."""
    return frozenset(str(m.id) for m in _po(locale) if m.id and m.string)


class Translator:
    """The words and number formats of one locale: ``t("key", **values)``, ``t.money(x)``..."""

    def __init__(self, locale: str | None = None) -> None:
        self.locale = normalize_locale(locale)
        self.babel = Locale.parse(_BABEL[self.locale])
        self._catalog = catalog(self.locale)
        self.missing: set[str] = set()  # keys asked for that the catalog lacks (tests check it)

    @property
    def zh(self) -> bool:
        return self.locale == "zh-CN"

    def __call__(self, key: str, **values: Any) -> str:
        """The label ``key``, its ``{fields}`` filled from ``values``. A key the catalog lacks
        shows as itself and is noted in :attr:`missing` (tests fail on it)."""
        template = self._catalog.gettext(key)
        if template == key and key not in self._keys:
            self.missing.add(key)
        return template.format(**values) if values else template

    @functools.cached_property
    def _keys(self) -> frozenset[str]:
        return keys(self.locale)

    def __repr__(self) -> str:
        return f"Translator({self.locale!r})"

    def money(self, value: float | None, currency: str | None = None, symbol: bool = False) -> str:
        return format_money(value, currency, self.locale, symbol=symbol)

    def number(self, value: float | None, digits: int = 0) -> str:
        return format_number(value, self.locale, digits)

    def percent(self, value: float | None, digits: int = 0) -> str:
        return format_percent(value, self.locale, digits)

    def pp(self, value: float | None, digits: int = 1) -> str:
        return format_pp(value, self.locale, digits)

    def days(self, value: float | None, digits: int = 0, signed: bool = False) -> str:
        return format_days(value, self.locale, digits, signed)

    def date(self, value: date | None, width: str = "medium") -> str:
        return format_date(value, self.locale, width)

    def period(self, label: str) -> str:
        return period_label(label, self.locale)


@functools.cache
def translator(locale: str | None = None) -> Translator:
    """The (shared, immutable) translator of ``locale``; None means English."""
    return Translator(locale)


def format_money(
    value: float | None, currency: str | None = None, locale: str = "en", *, symbol: bool = False
) -> str:
    """Compact money with about three significant digits, from CLDR's compact decimal formats:
    ``2683万``, ``2.68亿`` in Chinese, ``26.8M``, ``950K`` in English; ``symbol`` prefixes the
    currency symbol (``¥``, ``$``). Missing values give ``–``."""
    if value is None or not math.isfinite(value):
        return DASH
    loc = _BABEL[normalize_locale(locale)]
    if abs(value) < 1000:  # no compact form (CLDR would print every decimal)
        digits = max(0, 3 - len(str(int(abs(value)))))
        text = format_decimal(value, format="#,##0." + "#" * digits, locale=loc)
    else:  # the integer digits the compact form keeps decide the decimals that give three
        whole = format_compact_decimal(abs(value), locale=loc, fraction_digits=0)
        digits = max(0, 3 - sum(c.isdigit() for c in whole))
        text = format_compact_decimal(value, locale=loc, fraction_digits=digits)
    text = _unsigned_zero(text)
    if symbol and currency:
        from babel.numbers import get_currency_symbol

        sign, body = ("-", text[1:]) if text.startswith("-") else ("", text)
        text = f"{sign}{get_currency_symbol(currency, locale=loc)}{body}"
    return text


def format_number(value: float | None, locale: str = "en", digits: int = 0) -> str:
    """A number with the locale's thousands separators and ``digits`` decimals."""
    if value is None or not math.isfinite(value):
        return DASH
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    text = format_decimal(value, format=pattern, locale=_BABEL[normalize_locale(locale)])
    return _unsigned_zero(text)


def _unsigned_zero(text: str) -> str:
    """``-0.0`` (a tiny negative rounded away) is shown as ``0.0``."""
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


def format_percent(value: float | None, locale: str = "en", digits: int = 0) -> str:
    """A share (0.734) as a percentage (``73%``, or ``73.4%`` with ``digits=1``)."""
    if value is None or not math.isfinite(value):
        return DASH
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    return _babel_percent(value, format=pattern, locale=_BABEL[normalize_locale(locale)])


def _signed(text: str, value: float) -> str:
    return "+" + text if value > 0 and not text.startswith("+") else text


def format_pp(value: float | None, locale: str = "en", digits: int = 1) -> str:
    """A difference of two probabilities in percentage points, signed: ``+4.2 pp``."""
    if value is None or not math.isfinite(value):
        return DASH
    number = _signed(format_number(100 * value, locale, digits), value)
    return translator(locale)("unit_pp", x=number)


def format_days(
    value: float | None, locale: str = "en", digits: int = 0, signed: bool = False
) -> str:
    """A number of days: ``12 d`` / ``12 天`` (signed for differences; ∞ when never)."""
    if value is None or math.isnan(value):
        return DASH
    if math.isinf(value):
        number = "+∞" if value > 0 else "−∞"
    else:
        number = format_number(value, locale, digits)
        number = _signed(number, value) if signed else number
    return translator(locale)("unit_days", x=number)


def format_date(value: date | None, locale: str = "en", width: str = "medium") -> str:
    """A date in the locale's words (``Jun 30, 2027`` / ``2027年6月30日``); ``width="iso"``
    gives ``2027-06-30``. None is a percentile beyond the horizon: "after the horizon"."""
    if value is None:
        return translator(locale)("after_horizon")
    if width == "iso":
        return value.isoformat()
    return _babel_date(value, format=width, locale=_BABEL[normalize_locale(locale)])


def _period_parts(label: str) -> tuple[int, int, int]:
    """(year, first month, months) of a period label: 2027, 2027H1, 2027Q3, 2027-03."""
    match = _PERIOD.match(label.strip().upper())
    if match is None:
        raise ValueError(f"not a period label: {label!r} (use 2027, 2027H1, 2027Q3 or 2027-03)")
    year = int(match[1])
    if match[2]:
        return year, int(match[2]), 1
    if match[3]:
        return year, 3 * int(match[3]) - 2, 3
    if match[4]:
        return year, 6 * int(match[4]) - 5, 6
    return year, 1, 12


def period_sort_key(label: str) -> tuple[int, int]:
    """Calendar order: by the month a period ends, a shorter period before the longer one that
    ends with it (Q1, Q2, H1, Q3, Q4, H2, the year)."""
    year, first, months = _period_parts(label)
    return 12 * year + first + months, months


def period_label(label: str, locale: str = "en") -> str:
    """A period in words: ``Q1 2027`` / ``2027年第1季度``, ``H1 2027`` / ``2027年上半年``,
    ``Jun 2027`` / ``2027年6月``, the year as it is (``2027`` / ``2027年``)."""
    year, first, months = _period_parts(label)
    t = translator(locale)
    loc = _BABEL[t.locale]
    start = date(year, first, 1)
    if months == 1:
        return format_skeleton("yMMM", start, locale=loc)
    if months == 3:
        return format_skeleton("yQQQ", start, locale=loc)
    if months == 6:
        return t("period_half", year=year, half=t((N_("half_1"), N_("half_2"))[first // 6]))
    return t("period_year", year=year)


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def weekday_names(days: Iterable[str], locale: str = "en") -> list[str]:
    """Abbreviated weekday names (``Mon`` -> ``周一``) in the locale, from CLDR."""
    names = Locale.parse(_BABEL[normalize_locale(locale)]).days["format"]["abbreviated"]
    return [names[_WEEKDAYS.index(d)] if d in _WEEKDAYS else d for d in days]


class MoneyUnit:
    """The unit money axes are drawn in: millions in English, 万 (10k) in Chinese."""

    def __init__(self, locale: str, currency: str) -> None:
        t = translator(locale)
        self.zh = t.zh
        self.scale = 1e4 if self.zh else 1e6
        self.name = (
            t("unit_wan_cny")
            if self.zh and currency == "CNY"
            else t("unit_axis", currency=currency)
        )
