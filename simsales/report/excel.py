"""The sheets of each result's Excel workbook (written by :mod:`simsales.io.workbook`):
a comparison's differences, a plan's headcount and deals, a backtest's windows and scores."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from simsales.io.workbook import NUMBER, Sheet, write_workbook

if TYPE_CHECKING:
    from simsales.calibrate.backtest import BacktestResult
    from simsales.optimize.plan import Plan
    from simsales.results.compare import Comparison

__all__ = ["backtest_sheets", "comparison_sheets", "plan_sheets", "write_workbook"]


def comparison_sheets(comparison: Comparison) -> list[Sheet]:
    """The paired differences first, then the base forecast's summary."""
    from simsales.results.summary import summarize

    deltas = comparison.deltas.copy()
    for column in ("base", "variant"):  # date metrics hold days after the origin: show dates
        deltas[column] = [
            _iso_date(comparison.as_date(v)) if unit == "date" else v  # metrics.DATE
            for v, unit in zip(deltas[column], deltas["unit"], strict=True)
        ]
    numbers = {c: NUMBER for c in ("difference", "ci_low", "ci_high", "half_width")}
    return [Sheet("differences", deltas, numbers), *summarize(comparison.base).sheets()]


def plan_sheets(plan: Plan) -> list[Sheet]:
    """Headline figures, then headcount per pool and month, deals, mitigations, assignments."""
    head = pd.DataFrame(
        {
            "item": ["mode", "status", "objective", "bound", "gap", "solver", "currency"],
            "value": [
                plan.mode,
                plan.status,
                plan.objective,
                plan.bound,
                plan.gap,
                plan.solver,
                plan.currency,
            ],
        }
    )
    sheets = [Sheet("plan", head, {"value": "#,##0.####"})]
    if plan.headcount:
        rows = [
            {"pool": pool, "month": month, "headcount": n, "today": base[i] if base else None}
            for pool, counts in plan.headcount.items()
            for i, (month, n) in enumerate(zip(plan.months, counts, strict=False))
            for base in [plan.base_headcount.get(pool)]
        ]
        sheets.append(Sheet("headcount", pd.DataFrame(rows)))
    for key, rows in (
        ("plan_deals", plan.deals),
        ("mitigations", plan.mitigations),
        ("assignments", plan.assignments),
    ):
        if rows:
            sheets.append(Sheet(key, pd.DataFrame([_flat(r) for r in rows])))
    if plan.verification is not None and plan.verification.deltas:  # the plan, simulated
        deltas = pd.DataFrame([_flat(d) for d in plan.verification.deltas])
        sheets.append(Sheet("verification", deltas))
    return sheets


def backtest_sheets(result: BacktestResult) -> list[Sheet]:
    """One row per origin and forecast (truth beside the quantiles), then the scores."""
    rows = []
    for origin in result.origins:
        for name in origin.names:
            for metric in ("won", "revenue"):
                rows.append(
                    {
                        "as_of": origin.as_of,
                        "until": origin.until,
                        "forecast": name,
                        "metric": metric,
                        "actual": origin.actual[metric],
                        **origin.quantiles(name, metric),
                    }
                )
    scores = pd.DataFrame([{"forecast": n, **result.scores(n)} for n in result.names])
    return [Sheet("origins", pd.DataFrame(rows)), Sheet("scores", scores)]


def _iso_date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _flat(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``a.b`` columns; lists as text (one cell each)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = ", ".join(str(v) for v in value)
        else:
            out[name] = value
    return out
