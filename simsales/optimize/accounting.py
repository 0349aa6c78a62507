"""Money per replication, split the way the optimizer's objective splits it.

The engine charges a deal for the person-days it holds at the pool's day rate. A staffing plan
pays employees for their headcount whether busy or not, and external partners by the day they
work. So the plan's margin of a replication is

    revenue x margin share - direct stage costs - mitigation spend
    - employees' planned headcount-days x day rate - external busy person-days x day rate

The mitigation spend is what the engine charged beyond people and stage costs (deal-scope
mitigations per exposed deal, global and resource ones once per replication).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.engine.model import Model
from simsales.optimize.demand import visit_costs
from simsales.results.forecast import Forecast

__all__ = ["per_replication", "planned_headcount_days"]

FloatArray = npt.NDArray[np.float64]


def planned_headcount_days(model: Model) -> FloatArray:
    """Per pool: the integral of the planned capacity (start and changes) over the horizon."""
    out = np.zeros(len(model.pool_ids))
    for p in range(len(model.pool_ids)):
        times = [0.0]
        caps = [float(model.capacity[p])]
        for t, pool, cap in model.capacity_changes:
            if pool == p and t < model.horizon_t:
                times.append(max(0.0, t))
                caps.append(float(cap))
        edges = np.append(np.array(times), model.horizon_t)
        out[p] = float(np.sum(np.diff(edges) * np.array(caps)))
    return out


def per_replication(forecast: Forecast, external: npt.ArrayLike) -> pd.DataFrame:
    """One row per replication: revenue, gross, direct, mitigation, staff, margin, won, wait.

    ``external``: per pool, whether it is paid by the day worked (True) or by headcount.
    """
    model = forecast.model
    if model is None:
        raise ValueError("this forecast has no model; load it with Forecast.load")
    ext = np.asarray(external, dtype=bool)
    first = int(forecast.provenance.get("first_replication", 0))
    reps = np.arange(first, first + forecast.replications)
    deals = forecast.deals
    rep = deals["replication"].to_numpy() - first
    n = len(reps)
    share = np.array([t.margin for t in model.types])[deals["type"].cat.codes.to_numpy()]
    revenue = np.bincount(rep, deals["revenue"].to_numpy(), minlength=n)
    gross = np.bincount(rep, deals["revenue"].to_numpy() * share, minlength=n)
    charged = np.bincount(rep, deals["cost"].to_numpy(), minlength=n)
    people, direct_v = visit_costs(forecast, model)
    vrep = forecast.visits["replication"].to_numpy() - first
    people_cost = np.bincount(vrep, people, minlength=n)
    direct = np.bincount(vrep, direct_v, minlength=n)
    mitigation = charged - people_cost - direct + model.global_cost
    pools = forecast.pools
    prow = pools["replication"].to_numpy() - first
    pcode = pools["pool"].cat.codes.to_numpy()
    busy = np.zeros((n, len(model.pool_ids)))
    np.add.at(busy, (prow, pcode), pools["busy_days"].to_numpy())
    external_cost = busy[:, ext] @ model.cost_per_day[ext]
    internal_cost = float(planned_headcount_days(model)[~ext] @ model.cost_per_day[~ext])
    staff = external_cost + internal_cost
    live = deals["live"].to_numpy()
    won = np.bincount(rep, (deals["outcome"] == "won").to_numpy(float), minlength=n)
    live_n = np.maximum(np.bincount(rep, live.astype(float), minlength=n), 1.0)
    wait = np.bincount(rep, np.where(live, deals["wait_days"].to_numpy(), 0.0), minlength=n)
    return pd.DataFrame(
        {
            "revenue": revenue,
            "gross": gross,
            "direct": direct,
            "mitigation": np.round(mitigation, 2),  # cents: the rest is float noise
            "staff": staff,
            "margin": gross - direct - mitigation - staff,
            "won_deals": won,
            "live_wait_days": wait / live_n,
        },
        index=pd.Index(reps, name="replication"),
    )
