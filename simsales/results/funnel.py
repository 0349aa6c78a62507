"""The stage funnel: what the simulation made of each stage, against the scenario's input.

After a completed stage visit a deal either *advances* (its next visit is a later stage, or it
is won), is *reworked* (its next visit is an earlier stage), or is *lost*. The simulated
conversion ``advanced / (advanced + lost)`` differs from the scenario's ``advance`` probability
through everything else the scenario says: risks that lose deals or cut their chance to win,
rules, win factors. The input column is the ``advance`` of each deal's type, averaged over the
same visits, so a mix of types compares like with like.

Visits still running at the horizon, and deals still held up after a visit at the horizon,
are *undecided* and left out of the rates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simsales.results.forecast import Forecast
from simsales.results.records import codes, model_of, stays
from simsales.results.stats import ratio_interval

__all__ = ["ADVANCED", "LOST", "REWORKED", "UNDECIDED", "funnel", "visit_outcomes"]

UNDECIDED, ADVANCED, REWORKED, LOST = 0, 1, 2, 3


def visit_outcomes(forecast: Forecast) -> pd.DataFrame:
    """One row per stage visit: replication index, deal row, type, stage and what followed."""
    model = model_of(forecast)
    st = stays(forecast)
    real = np.flatnonzero(st.visit >= 0)  # visits, not deals queued at the horizon
    rep, row, stage = st.rep[real], st.deal_row[real], st.stage[real]
    ran = ~np.isnan(st.exit[real])
    deals = forecast.deals
    reached = codes(deals["stage"], list(model.stage_ids))[row]
    outcome = deals["outcome"].astype(str).to_numpy()[row]
    # a deal's visits are recorded in the order it made them: within a deal, time order
    order = np.lexsort((np.arange(len(real)), row))
    nxt_stage = np.full(len(real), -1)
    same = row[order][1:] == row[order][:-1]
    nxt_stage[order[:-1][same]] = stage[order][1:][same]
    has_next = nxt_stage >= 0
    # the deal's last visit: compare the stage it reached (queued for, or lost on entering)
    last_next = np.where(reached != stage, reached, -1)
    follow = np.where(has_next, nxt_stage, last_next)
    result = np.full(len(real), UNDECIDED)
    result[follow > stage] = ADVANCED
    result[(follow >= 0) & (follow <= stage)] = REWORKED
    at_end = ~has_next & (reached == stage)
    result[at_end & (outcome == "won")] = ADVANCED
    result[at_end & (outcome == "lost")] = LOST
    result[~ran] = UNDECIDED
    return pd.DataFrame(
        {"rep": rep, "deal_row": row, "type": st.type[real], "stage": stage, "result": result}
    )


def funnel(forecast: Forecast) -> pd.DataFrame:
    """One row per stage: deals worked, outcomes of visits, simulated vs input conversion."""
    model = model_of(forecast)
    n_reps = forecast.replications
    v = visit_outcomes(forecast)
    advance = np.stack([t.advance for t in model.types])  # (type, stage)
    rework_p = np.stack([t.rework_p for t in model.types])
    rows = []
    for s, stage in enumerate(model.stage_ids):
        g = v[v["stage"] == s]
        rep, result = g["rep"].to_numpy(), g["result"].to_numpy()

        def per_rep(mask: np.ndarray, rep: np.ndarray = rep) -> np.ndarray:
            return np.bincount(rep[mask], minlength=n_reps).astype(np.float64)

        adv, lost, rew = (
            per_rep(result == ADVANCED),
            per_rep(result == LOST),
            per_rep(result == REWORKED),
        )
        conv, lo, hi = ratio_interval(adv, adv + lost)
        rework, rw_lo, rw_hi = ratio_interval(rew, adv + lost + rew)
        decided = (result == ADVANCED) | (result == LOST)
        types = g["type"].to_numpy()
        deals_worked = g.drop_duplicates(["rep", "deal_row"])
        rows.append(
            {
                "stage": stage,
                "name": model.stage_labels[s],
                "deals": len(deals_worked) / n_reps,
                "visits": len(g) / n_reps,
                "advanced": adv.sum(),
                "reworked": rew.sum(),
                "lost": lost.sum(),
                "undecided": int(np.sum(result == UNDECIDED)),
                "conversion": conv,
                "conversion_low": lo,
                "conversion_high": hi,
                "input_advance": float(advance[types[decided], s].mean())
                if decided.any()
                else float(advance[:, s].mean()),
                "rework_rate": rework,
                "rework_rate_low": rw_lo,
                "rework_rate_high": rw_hi,
                "input_rework": float(rework_p[types, s].mean()) if len(types) else np.nan,
            }
        )
    return pd.DataFrame(rows)
