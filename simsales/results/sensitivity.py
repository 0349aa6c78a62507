"""Sensitivity: which sampled inputs drive the outputs (the data behind a tornado chart).

For every replication the engine records the inputs it drew (``forecast.inputs``: mean duration
of first stage visits per stage, risk occurrences, arrivals per source, live pipeline value).
Stage durations are measured here as the mean *percentile* of each visit's duration within its
own distribution (``F(duration)``, uniform whatever the deal type), not as mean days: the mean
in days moves with the mix of deal types and with how many deals reach a stage, which would
credit "duration" with what arrivals and win rates did. Live deals' visits to their starting
stage (a remaining time, conditioned on days already spent) and visits still running at the
horizon are left out.
Outputs per replication are the won revenue in each target period (and over the whole horizon)
and the portfolio P80 close time (when 80% of the live deals are decided; "after the horizon"
ranks last). Each (output, input) pair gets Spearman's rank correlation with a 95% interval
from Fisher's z with the Fieller-Hartley-Pearson variance ``1.06 / (n - 3)``.

Rank correlation measures association in this model, not causation: inputs that move together
(a budget freeze and the revenue of the deals it delays) share the credit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simsales.results.forecast import Forecast
from simsales.results.records import codes, model_of, stays
from simsales.results.stats import Z95
from simsales.results.summary import period_revenue, portfolio_close_times

__all__ = [
    "CLOSE_P80",
    "REVENUE",
    "duration_percentiles",
    "inputs",
    "outputs",
    "sensitivity",
    "spearman",
    "tornado",
]

REVENUE = "revenue"  # won revenue over the whole horizon; "revenue:<period>" per target period
CLOSE_P80 = "close_p80"


def outputs(forecast: Forecast) -> pd.DataFrame:
    """One row per replication: the outputs the tornado explains."""
    model = model_of(forecast)
    first = int(forecast.provenance.get("first_replication", 0))
    out = pd.DataFrame(
        index=pd.RangeIndex(first, first + forecast.replications, name="replication")
    )
    out[REVENUE] = period_revenue(forecast, -math.inf, math.inf)
    for label, t0, t1, _ in model.targets:
        out[f"{REVENUE}:{label}"] = period_revenue(forecast, t0, t1)
    out[CLOSE_P80] = portfolio_close_times(forecast)["p80"].to_numpy()
    return out


def duration_percentiles(forecast: Forecast) -> pd.DataFrame:
    """Per replication and stage: mean of ``F(duration)`` over the visits that drew a duration."""
    model = model_of(forecast)
    st = stays(forecast)
    first = int(forecast.provenance.get("first_replication", 0))
    live_start = np.full(len(forecast.deals), -1)
    live = forecast.deals["live"].to_numpy()
    initial = codes(forecast.deals["deal"], list(model.deal_ids))
    live_start[live] = model.deal_stage[initial[live]]
    keep = (st.visit >= 0) & ~np.isnan(st.exit)
    keep &= ~((st.visit == 0) & (live_start[st.deal_row] == st.stage))
    u = np.full(len(st), np.nan)
    for t, plan in enumerate(model.types):
        for s_i, sampler in enumerate(plan.duration):
            if sampler.is_fixed:  # nothing was drawn: no percentile to speak of
                continue
            sel = keep & (st.type == t) & (st.stage == s_i)
            if sel.any():
                u[sel] = sampler.cdf(st.exit[sel] - st.start[sel])
    frame = pd.DataFrame({"rep": st.rep[keep] + first, "stage": st.stage[keep], "u": u[keep]})
    table = frame.pivot_table(index="rep", columns="stage", values="u", aggfunc="mean")
    out = pd.DataFrame(
        index=pd.RangeIndex(first, first + forecast.replications, name="replication")
    )
    for s_i, stage in enumerate(model.stage_ids):
        column = table[s_i] if s_i in table else pd.Series(dtype=float)
        out[f"duration:{stage}"] = column.reindex(out.index).to_numpy()
    return out


def inputs(forecast: Forecast) -> pd.DataFrame:
    """The sampled inputs per replication (index), durations as mean percentiles (see above)."""
    given = forecast.inputs.set_index("replication")
    given = given[[c for c in given.columns if not c.startswith("duration:")]]
    return duration_percentiles(forecast).join(given)


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, int]:
    """(rho, low, high, n) over the pairs where both are known; nan when either is constant."""
    keep = ~(pd.isna(x) | pd.isna(y))
    n = int(keep.sum())
    if n < 4:
        return math.nan, math.nan, math.nan, n
    rx = pd.Series(x[keep]).rank().to_numpy()
    ry = pd.Series(y[keep]).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return math.nan, math.nan, math.nan, n
    rho = float(np.corrcoef(rx, ry)[0, 1])
    z = math.atanh(max(-0.999999, min(0.999999, rho)))
    half = Z95 * math.sqrt(1.06 / (n - 3))
    return rho, math.tanh(z - half), math.tanh(z + half), n


def sensitivity(forecast: Forecast) -> pd.DataFrame:
    """Long table: output, input, rho, rho_low, rho_high, n (inputs that never vary dropped)."""
    y = outputs(forecast)
    x = inputs(forecast).reindex(y.index)
    rows = []
    for out_name in y.columns:
        yv = y[out_name].to_numpy(dtype=np.float64)
        for in_name in x.columns:
            rho, lo, hi, n = spearman(x[in_name].to_numpy(dtype=np.float64), yv)
            if not math.isnan(rho):
                rows.append(
                    {
                        "output": out_name,
                        "input": in_name,
                        "rho": rho,
                        "rho_low": lo,
                        "rho_high": hi,
                        "n": n,
                    }
                )
    return pd.DataFrame(rows, columns=["output", "input", "rho", "rho_low", "rho_high", "n"])


def tornado(table: pd.DataFrame, output: str, top: int = 10) -> pd.DataFrame:
    """The ``top`` inputs of one output by |rho|, largest first."""
    t = table[table["output"] == output]
    order = t["rho"].abs().sort_values(ascending=False, kind="stable").index
    return t.loc[order].head(top).reset_index(drop=True)
