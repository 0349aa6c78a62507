"""Forecast categories from the simulation, beside the rep's own call.

Each live deal's category for a period comes from its simulated probability of being *won
inside the period* (won, with its close date in it): at least ``commit`` is commit, at least
``best_case`` best case, at least ``pipeline`` pipeline, below that omitted (thresholds from the
scenario's ``forecast_categories``). The roll-up per category is the revenue those deals bring
in the period, per replication, with its 95% interval, alone and cumulated in the order commit,
best case, pipeline, omitted (the usual "commit", "commit + best case", ... lines of a forecast
call), and a last line for the new deals (arrivals) won in the period, so that the cumulated
total is the period's expected revenue.

Pipeline coverage is the value of the open pipeline (every live deal: nothing is decided at
the start) over the period's target; the simulation knows nothing booked before its start, so
the whole target is still to be made.

Where a deal carries the rep's own ``probability``, ``forecast_category`` and ``target_close``,
they are shown beside the simulated ones; ``slip_probability`` is P(decided after the rep's
close date), counting a deal still open at the horizon as decided after it. ``disagrees`` flags
a rep category other than the simulated one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.results.deal_view import (
    deal_attributes,
    live_blocks,
    period_bounds,
    replication_sums,
    scenario_of,
)
from simsales.results.records import model_of, won_rows
from simsales.results.stats import mean_interval, wilson
from simsales.scenario.schema import CATEGORIES, ForecastCategories, Scenario

if TYPE_CHECKING:  # only in annotations: forecast.py calls this module
    from simsales.results.forecast import Forecast

__all__ = ["NEW", "Categories", "categorize", "forecast_categories"]

NEW = "new deals"  # the roll-up's last line: deals arriving after the start, won in the period


@dataclass
class Categories:
    """``deals``: one row per live deal; ``rollup``: one row per category (see module doc)."""

    period: str
    target: float  # nan without a target for the period
    thresholds: ForecastCategories
    deals: pd.DataFrame
    rollup: pd.DataFrame
    open_value: float
    currency: str

    @property
    def coverage(self) -> float:
        """Open pipeline value over the period's target (nan without a target)."""
        return self.open_value / self.target if self.target > 0 else math.nan

    def to_json(self) -> dict[str, Any]:
        def num(v: Any) -> float | None:
            return None if v is None or not math.isfinite(float(v)) else float(v)

        return {
            "period": self.period,
            "target": num(self.target),
            "coverage": num(self.coverage),
            "open_value": num(self.open_value),
            "thresholds": self.thresholds.model_dump(),
            "categories": [
                {
                    "category": r.category,
                    "deals": int(r.deals),
                    "value": num(r.value),
                    "revenue": {k: num(getattr(r, k)) for k in ("mean", "low", "high")},
                    "cumulative": {
                        k: num(getattr(r, f"cumulative_{k}")) for k in ("mean", "low", "high")
                    },
                }
                for r in self.rollup.itertuples()
            ],
            "deals": [
                {
                    "id": r.deal,
                    "category": r.category,
                    "win_in_period_probability": num(r.win_in_period),
                    "rep_probability": num(r.rep_probability),
                    "rep_category": _given(r.rep_category),  # a str column holds NaN for None
                    "rep_close_date": None if r.rep_close is None else r.rep_close.isoformat(),
                    "slip_probability": num(r.slip_probability),
                    "disagrees": bool(r.disagrees),
                }
                for r in self.deals.itertuples()
            ],
        }


# the roll-up's lines in sorted order: grouping by their codes sums as grouping by the names
_NAMES = sorted((*CATEGORIES, NEW))


def _codes(
    d: pd.DataFrame, of_deal: dict[str, str], rows: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """The roll-up line of each of ``rows`` as a code into ``_NAMES``: its deal's category if
    the deal is live, else :data:`NEW`; one lookup per distinct deal, not one string per row."""
    deal = d["deal"].astype("category") if d["deal"].dtype != "category" else d["deal"]
    code = {name: i for i, name in enumerate(_NAMES)}
    per_deal = np.array(
        [code[of_deal[str(c)]] if str(c) in of_deal else code[NEW] for c in deal.cat.categories]
        + [code[NEW]],  # code -1: a missing deal
        dtype=np.int64,
    )
    mine = per_deal[deal.cat.codes.to_numpy()[rows]]
    return np.where(d["live"].to_numpy()[rows], mine, code[NEW])


def _given(value: Any) -> Any:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def categorize(p: float, thresholds: ForecastCategories) -> str:
    """The category of a deal with simulated probability ``p`` of winning inside the period."""
    for name in ("commit", "best_case", "pipeline"):
        if p >= getattr(thresholds, name):
            return name
    return "omitted"


def forecast_categories(
    forecast: Forecast, period: str, scenario: Scenario | None = None
) -> Categories:
    """Categories, roll-up and coverage of the live deals for ``period`` (module docstring)."""
    scenario = scenario_of(forecast) if scenario is None else scenario
    model = model_of(forecast)
    thresholds = scenario.forecast_categories
    t0, t1 = period_bounds(forecast, period)
    rep_of = deal_attributes(scenario).to_dict("index")  # each deal's, as plain dicts
    d = forecast.deals
    # the rows won in the period (won_in), found among the table's won rows
    won = won_rows(forecast)
    won_here = won.rows[won.decided.between(t0, t1)]
    inside = np.zeros(len(d), bool)
    inside[won_here] = True
    n = forecast.replications
    # each live deal's rows, as a groupby would give, and those of as many rows stacked
    segments, names, blocks = live_blocks(forecast)
    values = d["value"].to_numpy(dtype=np.float64)
    open_ = (d["outcome"] == "open").to_numpy()
    dates: npt.NDArray[np.datetime64] | None = None  # converted once, if a rep gave a close
    rows: list[dict[str, Any]] = [{} for _ in segments]
    for where, block in blocks:  # deals with as many rows, a matrix at once
        count = block.shape[1]
        wins = np.count_nonzero(inside[block], axis=1)
        value = values[block].sum(axis=1) / count  # each row reduced as alone: the same bits
        for j, k in enumerate(where.tolist()):
            deal_id = str(names[k])
            p, lo, hi = wilson(float(wins[j]), count)
            rep = rep_of.get(deal_id, {})
            close = _given(rep.get("target_close"))
            slip = math.nan
            if close is not None:
                # decided after the rep's close date: a later close date, or not decided at all
                mine_rows = block[j]
                if dates is None:
                    dates = d["decision_date"].to_numpy(dtype="datetime64[D]")
                late = open_[mine_rows] | (dates[mine_rows] > np.datetime64(close, "D"))
                slip = np.count_nonzero(late) / count
            category = categorize(p, thresholds)
            rep_category = _given(rep.get("forecast_category"))
            rep_p = _given(rep.get("probability"))
            rows[k] = {
                "deal": deal_id,
                "value": float(value[j]),
                "win_in_period": p,
                "win_in_period_low": lo,
                "win_in_period_high": hi,
                "category": category,
                "rep_probability": math.nan if rep_p is None else float(rep_p),
                "rep_category": rep_category,
                "rep_close": close,
                "slip_probability": slip,
                "disagrees": rep_category is not None and rep_category != category,
            }
    deals = pd.DataFrame(rows)
    of_deal = dict(zip(deals["deal"], deals["category"], strict=True)) if rows else {}
    # the revenue of the rows won in the period alone (Sparse): the same sums as zeros elsewhere
    # grouped on those rows alone: every line a group, zeros where none of its rows won
    won_revenue = d["revenue"].to_numpy(dtype=np.float64)[won_here]
    lines = (_codes(d, of_deal, won_here), pd.RangeIndex(len(_NAMES)))
    every = np.arange(len(won_here))
    revenue = replication_sums(forecast, {0: (every, won_revenue)}, lines, won_here)[0]
    rollup_rows = []
    cumulative = np.zeros(n)
    for name in (*CATEGORIES, NEW):
        x = revenue[_NAMES.index(name)]
        mine = deals[deals["category"] == name] if rows else deals
        cumulative = cumulative + x
        mean, lo, hi = mean_interval(x)
        c_mean, c_lo, c_hi = mean_interval(cumulative)
        rollup_rows.append(
            {
                "category": name,
                "deals": len(mine),
                "value": float(mine["value"].sum()) if rows else 0.0,
                "mean": mean,
                "low": lo,
                "high": hi,
                "cumulative_mean": c_mean,
                "cumulative_low": c_lo,
                "cumulative_high": c_hi,
            }
        )
    target = next((t for label, _, _, t in model.targets if label == period), math.nan)
    return Categories(
        period=period,
        target=target,
        thresholds=thresholds,
        deals=deals,
        rollup=pd.DataFrame(rollup_rows),
        open_value=float(deals["value"].sum()) if rows else 0.0,
        currency=model.currency,
    )
