"""Text for a comparison's numbers, shared by the CLI table, the HTML page and notebooks.

Money is compact (26.8M, or 2,683万 in Chinese), probabilities and shares are percentages and
their differences percentage points, dates are ISO dates ("after horizon" when a percentile
falls beyond it) and their differences calendar days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from simsales.i18n import format_money
from simsales.results.compare import Comparison
from simsales.results.metrics import DATE

__all__ = ["format_difference", "format_row", "format_value", "is_key_metric", "locale_of"]

_AFTER = "after horizon"


def is_key_metric(metric: str) -> bool:
    """Everything but the per-deal P80 dates (shown in full views only)."""
    return not metric.startswith("p80_close:") or metric == "p80_close:portfolio"


def locale_of(comparison: Comparison) -> str:
    base = comparison.scenarios.get("")
    return base.locale if base is not None else "en"


def _signed(text: str, x: float) -> str:
    return text if text.startswith(("-", "−", "+")) or x == 0 else ("+" + text if x > 0 else text)


def format_value(unit: str, x: float, comparison: Comparison, locale: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if unit == DATE:
        return comparison.as_date(x) or _AFTER
    if unit in ("probability", "share"):
        return f"{100 * x:.1f}%"
    if unit == "deals":
        return f"{x:,.2f}"
    if unit in ("days", "working days"):
        return f"{x:,.1f} d"
    return format_money(x, locale=locale)


def format_difference(unit: str, x: float, locale: str) -> str:
    if x is None or math.isnan(x):
        return "–"
    if math.isinf(x):
        return "+∞" if x > 0 else "−∞"
    if unit in ("probability", "share"):
        return _signed(f"{100 * x:.1f} pp", x)
    if unit == "deals":
        return _signed(f"{x:,.2f}", x)
    if unit == DATE:
        return _signed(f"{x:,.0f} d", x)
    if unit in ("days", "working days"):
        return _signed(f"{x:,.1f} d", x)
    return _signed(format_money(x, locale=locale), x)


def format_row(row: Mapping[str, Any], comparison: Comparison) -> dict[str, str]:
    """Display strings for one row of ``comparison.deltas`` (as a dict)."""
    locale = locale_of(comparison)
    unit = str(row["unit"])
    half_unit = "days" if unit == DATE else unit

    def half(x: float) -> str:
        return "±" + format_difference(half_unit, abs(x), locale).lstrip("+")

    return {
        "name": str(row["name"]),
        "metric": str(row["metric"]),
        "label": str(row["label"]),
        "base": format_value(unit, row["base"], comparison, locale),
        "variant": format_value(unit, row["variant"], comparison, locale),
        "difference": format_difference(unit, row["difference"], locale),
        "ci": f"[{format_difference(unit, row['ci_low'], locale)}, "
        f"{format_difference(unit, row['ci_high'], locale)}]",
        "significant": "yes" if row["significant"] else "no",
        "half_width": half(row["half_width"]),
        "unpaired_half_width": half(row["unpaired_half_width"]),
    }
