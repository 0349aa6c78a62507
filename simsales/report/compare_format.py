"""Text for a comparison's numbers, shared by the CLI table, the HTML page and notebooks, in the
base scenario's language (see :mod:`simsales.i18n`).

Money is compact (26.8M, or 2683万 in Chinese), probabilities and shares are percentages and
their differences percentage points, dates are the locale's dates ("after the horizon" when a
percentile falls beyond it) and their differences calendar days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

from simsales.i18n import N_, Translator, translator
from simsales.results.compare import Comparison
from simsales.results.metrics import DATE

__all__ = [
    "format_difference",
    "format_row",
    "format_value",
    "is_key_metric",
    "locale_of",
    "metric_label",
]


_KINDS = {
    "utilization": N_("m_utilization"),
    "mean_wait_days": N_("m_mean_wait_days"),
    "won_deals": N_("m_won_deals"),
    "cost": N_("m_cost"),
    "margin": N_("m_margin"),
}


def is_key_metric(metric: str) -> bool:
    """Everything but the per-deal P80 dates (shown in full views only)."""
    return not metric.startswith("p80_close:") or metric == "p80_close:portfolio"


def locale_of(comparison: Comparison) -> str:
    base = comparison.scenarios.get("")
    return base.locale if base is not None else "en"


def metric_label(metric: str, comparison: Comparison, t: Translator) -> str:
    """A metric's name in words: ``revenue:2027Q1`` -> "Revenue Q1 2027" / "2027年第1季度收入"."""
    kind, _, arg = metric.partition(":")
    base = comparison.scenarios.get("")
    if kind == "revenue":
        return t("m_revenue_period", period=t.period(arg)) if arg else t("m_revenue")
    if kind == "target_probability":
        return t("m_target_probability", period=t.period(arg))
    if kind == "p80_close":
        return t("m_p80_portfolio") if arg == "portfolio" else t("m_p80_deal", deal=arg)
    if kind in ("utilization", "mean_wait_days"):
        pool = base.resources.get(arg) if base is not None else None
        return t(_KINDS[kind], pool=(pool.name if pool is not None else None) or arg)
    if kind in ("won_deals", "cost", "margin"):
        return t(_KINDS[kind])
    return metric


def format_value(unit: str, x: float, comparison: Comparison, t: Translator) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if unit == DATE:
        day = comparison.as_date(x)
        return t.date(date.fromisoformat(day)) if day is not None else t("after_horizon")
    if unit in ("probability", "share"):
        return t.percent(x, 1)
    if unit == "deals":
        return t.number(x, 2)
    if unit in ("days", "working days"):
        return t.days(x, 1)
    return t.money(x)


def format_difference(unit: str, x: float, t: Translator) -> str:
    if x is None or math.isnan(x):
        return "–"
    if unit in ("probability", "share"):
        return t.pp(x)
    if unit == "deals":
        return "+∞" if x == math.inf else _signed(t.number(x, 2), x)
    if unit == DATE:
        return t.days(x, 0, signed=True)
    if unit in ("days", "working days"):
        return t.days(x, 1, signed=True)
    if math.isinf(x):
        return "+∞" if x > 0 else "−∞"
    return _signed(t.money(x), x)


def _signed(text: str, x: float) -> str:
    return "+" + text if x > 0 and not text.startswith("+") else text


def format_row(
    row: Mapping[str, Any], comparison: Comparison, t: Translator | None = None
) -> dict[str, str]:
    """Display strings for one row of ``comparison.deltas`` (as a dict), in ``t``'s language
    (the base scenario's by default)."""
    t = t or translator(locale_of(comparison))
    unit = str(row["unit"])
    half_unit = "days" if unit == DATE else unit

    def half(x: float) -> str:
        return "±" + format_difference(half_unit, abs(x), t).lstrip("+")

    return {
        "name": str(row["name"]),
        "metric": str(row["metric"]),
        "label": metric_label(str(row["metric"]), comparison, t),
        "base": format_value(unit, row["base"], comparison, t),
        "variant": format_value(unit, row["variant"], comparison, t),
        "difference": format_difference(unit, row["difference"], t),
        "ci": f"[{format_difference(unit, row['ci_low'], t)}, "
        f"{format_difference(unit, row['ci_high'], t)}]",
        "significant": t("yes") if row["significant"] else t("no"),
        "sig": "yes" if row["significant"] else "no",  # a CSS class, the same in every language
        "half_width": half(row["half_width"]),
        "unpaired_half_width": half(row["unpaired_half_width"]),
    }
