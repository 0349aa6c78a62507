"""Per-deal S-curves: the probability that a live deal is decided (won or lost), and that it
is won, by each date, across replications.

The curve steps at the close dates of the replications (``decision_date``, the calendar's one
day convention); a deal still open at the horizon is never decided, so the curves end below 1
by the deal's probability of being open then. Dates are the week ends (Sundays) from the start
to the horizon, plus the horizon itself.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simsales.errors import SimsalesError
from simsales.results.records import model_of
from simsales.scenario.references import did_you_mean

if TYPE_CHECKING:  # only in annotations: forecast.py calls this module
    from simsales.results.forecast import Forecast

__all__ = ["s_curves"]


def s_curves(forecast: Forecast, deals: list[str] | None = None) -> pd.DataFrame:
    """One row per live deal x date: ``deal``, ``date``, ``decided`` and ``won`` (P by then)."""
    model = model_of(forecast)
    first = model.start + timedelta(days=6 - model.start.weekday())
    dates = [first + timedelta(weeks=k) for k in range((model.horizon - first).days // 7 + 1)]
    if not dates or dates[-1] != model.horizon:
        dates.append(model.horizon)
    grid = np.array(dates, dtype="datetime64[D]")
    d = forecast.deals[forecast.deals["live"]]
    wanted = set(forecast.live_deals if deals is None else deals)
    for deal in sorted(wanted - set(forecast.live_deals)):
        raise SimsalesError(f"no live deal {deal!r}; {did_you_mean(deal, forecast.live_deals)}")
    rows = []
    for deal, g in d.groupby("deal", observed=True, sort=False):
        if str(deal) not in wanted:
            continue
        decided = (g["outcome"] != "open").to_numpy()
        when = g["decision_date"].to_numpy(dtype="datetime64[D]")
        won = (g["outcome"] == "won").to_numpy()
        n = len(g)
        t_decided = np.sort(when[decided])
        t_won = np.sort(when[won])
        rows.append(
            pd.DataFrame(
                {
                    "deal": str(deal),
                    "date": dates,
                    "decided": np.searchsorted(t_decided, grid, side="right") / n,
                    "won": np.searchsorted(t_won, grid, side="right") / n,
                }
            )
        )
    if not rows:
        return pd.DataFrame(columns=["deal", "date", "decided", "won"])
    return pd.concat(rows, ignore_index=True)
