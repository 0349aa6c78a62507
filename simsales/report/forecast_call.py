"""The report's "forecast call" sections: forecast categories beside the rep's call, and the
roll-ups by owner and team (templates ``categories.html.j2`` and ``rollups.html.j2``)."""

from __future__ import annotations

import math
from typing import Any

from simsales.i18n import N_
from simsales.report.data import ReportData
from simsales.results.categories import forecast_categories
from simsales.results.rollups import rollup
from simsales.results.summary import report_periods

__all__ = ["forecast_call_context"]

_LABELS = {"commit": N_("fc_commit"), "best_case": N_("fc_best_case"),
           "pipeline": N_("fc_pipeline"), "omitted": N_("fc_omitted"),
           "new deals": N_("fc_new_deals")}  # fmt: skip
_BY = {"owner": N_("fc_by_owner"), "team": N_("fc_by_team")}
_UNASSIGNED = "(unassigned)"  # the group of deals nobody owns (simsales.results.rollups)


def forecast_call_context(data: ReportData) -> dict[str, Any]:
    """``call`` (categories of the first target period, or the first quarter) and ``rollups``
    (by owner and by team: revenue in that period with its interval and P(quota))."""
    if data.scenario is None:
        return {"call": None, "rollups": []}
    t = data.t

    def money(x: Any) -> str:
        return t.money(None if x is None else float(x))

    def percent(x: float) -> str:
        return "" if math.isnan(x) else t.percent(x)

    targets = [label for label, *_ in data.model.targets]
    period = targets[0] if targets else report_periods(data.model)[0][0]
    c = forecast_categories(data.forecast, period, data.scenario)
    call = {
        "period": t.period(period),
        "coverage": "–" if math.isnan(c.coverage) else t("fc_coverage", x=t.number(c.coverage, 1)),
        "target": money(c.target),
        "rows": [
            {
                "category": t(_LABELS[r.category]),
                "deals": t.number(r.deals),
                "revenue": money(r.mean),
                "ci": t("xp_range", low=money(r.low), high=money(r.high)),
                "cumulative": money(r.cumulative_mean),
            }
            for r in c.rollup.itertuples()
        ],
        "deals": [
            {
                "deal": r.deal,
                "p": t.percent(r.win_in_period),
                "category": t(_LABELS[r.category]),
                "rep_p": percent(r.rep_probability),
                "rep_category": t(_LABELS[r.rep_category]) if r.rep_category in _LABELS else "",
                "rep_close": t.date(r.rep_close) if r.rep_close else "",
                "slip": percent(r.slip_probability),
                "flag": bool(r.disagrees),
            }
            for r in c.deals.itertuples()
        ],
    }
    rollups = []
    for by in ("owner", "team"):
        table = rollup(data.forecast, by, data.scenario, [period])
        if set(table["group"]) <= {_UNASSIGNED}:
            continue  # nobody named: nothing to roll up
        rollups.append(
            {
                "by": t(_BY[by]),
                "rows": [
                    {
                        "group": t("fc_unassigned") if r.group == _UNASSIGNED else r.group,
                        "deals": t.number(r.deals),
                        "wins": t.number(r.wins, 1),
                        "revenue": money(r.revenue),
                        "ci": t("xp_range", low=money(r.revenue_low), high=money(r.revenue_high)),
                        "quota": "" if math.isnan(r.quota) else money(r.quota),
                        "p_quota": percent(r.quota_probability),
                    }
                    for r in table.itertuples()
                ],
            }
        )
    return {"call": call, "rollups": rollups}
