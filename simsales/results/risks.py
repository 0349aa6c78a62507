"""Risks as simulated: how often each one struck, whom it hit, and what became of those deals.

From ``forecast.risks`` (one row per occurrence: a deal hit by a deal-scope risk, every deal a
global risk hit, or a resource risk's capacity drop with its duration in ``delay_days``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simsales.engine.model import SCOPE_DEAL, SCOPE_GLOBAL
from simsales.results.forecast import Forecast
from simsales.results.records import codes, model_of, replication_index
from simsales.results.stats import mean_interval, wilson

__all__ = ["risk_summary"]

_SCOPES = {SCOPE_DEAL: "deal", SCOPE_GLOBAL: "global"}
_COLUMNS = [
    "risk", "scope", "input_p", "occurred", "occurred_low", "occurred_high", "hits", "hits_low",
    "hits_high", "mean_delay_days", "hit_win_rate", "hit_win_rate_low", "hit_win_rate_high",
    "hit_deals",
]  # fmt: skip


def risk_summary(forecast: Forecast) -> pd.DataFrame:
    """One row per risk: chance it strikes in a replication, hits per replication, the mean delay
    (or capacity loss duration) it caused, and the win rate of the deals it hit."""
    model = model_of(forecast)
    n = forecast.replications
    r = forecast.risks
    risk = codes(r["risk"], [x.id for x in model.risks])
    rep = replication_index(forecast, r["replication"])
    deals = forecast.deals
    outcome = deals.set_index([deals["replication"], deals["deal"].astype(str)])["outcome"]
    rows = []
    for plan in model.risks:
        sel = risk == plan.index
        hits = np.bincount(rep[sel], minlength=n).astype(np.float64)
        p, lo, hi = wilson(float(np.sum(hits > 0)), n)
        mean_hits, hits_lo, hits_hi = mean_interval(hits)
        delays = r["delay_days"].to_numpy(dtype=np.float64)[sel]
        row = {
            "risk": plan.id,
            "scope": _SCOPES.get(plan.scope, "resource"),
            "input_p": plan.p,
            "occurred": p,
            "occurred_low": lo,
            "occurred_high": hi,
            "hits": mean_hits,
            "hits_low": hits_lo,
            "hits_high": hits_hi,
            "mean_delay_days": float(delays.mean()) if len(delays) else np.nan,
            "hit_win_rate": np.nan,
            "hit_win_rate_low": np.nan,
            "hit_win_rate_high": np.nan,
            "hit_deals": 0,
        }
        hit = r[sel & (r["deal"].astype(str) != "")]
        if len(hit):
            key = pd.MultiIndex.from_arrays([hit["replication"], hit["deal"].astype(str)])
            fate = outcome.reindex(key.unique()).astype(str)
            decided = fate[fate != "open"]
            w, w_lo, w_hi = wilson(float((decided == "won").sum()), len(decided))
            row.update(
                hit_win_rate=w, hit_win_rate_low=w_lo, hit_win_rate_high=w_hi, hit_deals=len(fate)
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=_COLUMNS)
