"""The report's "forecast call" sections: forecast categories beside the rep's call, and the
roll-ups by owner and team (templates ``categories.html.j2`` and ``rollups.html.j2``)."""

from __future__ import annotations

import math
from typing import Any

from simsales.report.data import ReportData
from simsales.report.i18n import fmt_date, fmt_money, fmt_pct
from simsales.results.categories import forecast_categories
from simsales.results.rollups import rollup
from simsales.results.summary import report_periods

__all__ = ["forecast_call_context"]

_LABELS = {"commit": "commit", "best_case": "best case", "pipeline": "pipeline",
           "omitted": "omitted", "new deals": "new deals"}  # fmt: skip


def forecast_call_context(data: ReportData) -> dict[str, Any]:
    """``call`` (categories of the first target period, or the first quarter) and ``rollups``
    (by owner and by team: revenue in that period with its interval and P(quota))."""
    if data.scenario is None:
        return {"call": None, "rollups": []}
    loc = data.locale

    def money(x: Any) -> str:
        return fmt_money(None if x is None or not math.isfinite(float(x)) else float(x), loc)

    targets = [label for label, *_ in data.model.targets]
    period = targets[0] if targets else report_periods(data.model)[0][0]
    c = forecast_categories(data.forecast, period, data.scenario)
    call = {
        "period": period,
        "coverage": "" if math.isnan(c.coverage) else f"{c.coverage:.1f}x",
        "target": money(c.target),
        "rows": [
            {
                "category": _LABELS[r.category],
                "deals": r.deals,
                "revenue": money(r.mean),
                "ci": f"{money(r.low)} – {money(r.high)}",
                "cumulative": money(r.cumulative_mean),
            }
            for r in c.rollup.itertuples()
        ],
        "deals": [
            {
                "deal": r.deal,
                "p": fmt_pct(r.win_in_period),
                "category": _LABELS[r.category],
                "rep_p": "" if math.isnan(r.rep_probability) else fmt_pct(r.rep_probability),
                "rep_category": _LABELS.get(r.rep_category or "", ""),
                "rep_close": fmt_date(r.rep_close, loc) if r.rep_close else "",
                "slip": "" if math.isnan(r.slip_probability) else fmt_pct(r.slip_probability),
                "flag": bool(r.disagrees),
            }
            for r in c.deals.itertuples()
        ],
    }
    rollups = []
    for by in ("owner", "team"):
        table = rollup(data.forecast, by, data.scenario, [period])
        if set(table["group"]) <= {"(unassigned)"}:
            continue  # nobody named: nothing to roll up
        rollups.append(
            {
                "by": by,
                "rows": [
                    {
                        "group": r.group,
                        "deals": r.deals,
                        "wins": f"{r.wins:.1f}",
                        "revenue": money(r.revenue),
                        "ci": f"{money(r.revenue_low)} – {money(r.revenue_high)}",
                        "quota": "" if math.isnan(r.quota) else money(r.quota),
                        "p_quota": ""
                        if math.isnan(r.quota_probability)
                        else fmt_pct(r.quota_probability),
                    }
                    for r in table.itertuples()
                ],
            }
        )
    return {"call": call, "rollups": rollups}
