"""Synthetic CRM histories from a known scenario: the ground truth that calibration and
backtests are tested against.

One replication of a scenario with arrivals (and usually an empty pipeline) is turned into the
export a CRM would give on ``snapshot``: deals engaged by then, with close dates and outcomes for
those decided by then and blank ones for the rest (right-censoring).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from simsales.engine.runner import simulate
from simsales.results.forecast import Forecast
from simsales.scenario.calendar import WorkCalendar
from simsales.scenario.schema import Scenario

__all__ = ["opportunity_rows", "stage_change_rows"]


def opportunity_rows(
    scenario: Scenario, snapshot: date | str, *, seed: int = 0, owners: int = 8
) -> pd.DataFrame:
    """A Maven-shaped export (opportunity_id, sales_agent, product, account, deal_stage,
    engage_date, close_date, close_value) of one replication, as known on ``snapshot``."""
    forecast, cal = _run(scenario, snapshot, seed)
    d = forecast.deals
    snap = np.datetime64(pd.Timestamp(snapshot).date(), "D")
    engaged = cal.to_date(d["arrival_t"].to_numpy())
    closed = cal.end_date(d["decision_t"].to_numpy())
    keep = engaged <= snap
    decided = keep & ~np.isnat(closed) & (closed <= snap)
    outcome = d["outcome"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    n = int(keep.sum())
    stage = np.where(decided, np.where(outcome == "won", "Won", "Lost"), "Engaging")[keep]
    value = np.where(decided & (outcome == "won"), np.round(d["value"].to_numpy()), 0.0)[keep]
    close = np.where(decided, closed.astype(str), "")[keep]
    return pd.DataFrame(
        {
            "opportunity_id": [f"S{i:06d}" for i in range(n)],
            "sales_agent": [f"Agent {k}" for k in rng.integers(1, owners + 1, n)],
            "product": d["type"].astype(str).to_numpy()[keep],
            "account": [f"Account {k}" for k in rng.integers(1, 60, n)],
            "deal_stage": stage,
            "engage_date": engaged[keep].astype(str),
            "close_date": close,
            "close_value": [
                f"{v:.0f}" if s != "Engaging" else "" for v, s in zip(value, stage, strict=True)
            ],
        }
    )


def stage_change_rows(scenario: Scenario, snapshot: date | str, *, seed: int = 0) -> pd.DataFrame:
    """A stage-change export (id, stage, entered_at, outcome, product, value) of one replication:
    a row per stage entered by ``snapshot`` and a Won / Lost row per deal decided by then."""
    forecast, cal = _run(scenario, snapshot, seed)
    snap = np.datetime64(pd.Timestamp(snapshot).date(), "D")
    v = forecast.visits
    entered = cal.to_date(v["entry_t"].to_numpy())
    rows = pd.DataFrame(
        {
            "id": v["deal"].astype(str).to_numpy(),
            "stage": v["stage"].astype(str).to_numpy(),
            "entered_at": entered,
            "outcome": "",
        }
    )[entered <= snap]
    d = forecast.deals
    closed = cal.end_date(d["decision_t"].to_numpy())
    done = ~np.isnat(closed) & (closed <= snap)
    ends = pd.DataFrame(
        {
            "id": d["deal"].astype(str).to_numpy()[done],
            "stage": np.where(d["outcome"].astype(str).to_numpy() == "won", "Won", "Lost")[done],
            "entered_at": closed[done],
            "outcome": np.where(d["outcome"].astype(str).to_numpy() == "won", "Won", "Lost")[done],
        }
    )
    out = pd.concat([rows, ends], ignore_index=True)
    info = d.assign(deal=d["deal"].astype(str)).set_index("deal")
    out["product"] = out["id"].map(info["type"].astype(str))
    won_value = info["value"].where(info["outcome"].astype(str) == "won")
    out["value"] = np.where(out["outcome"] == "Won", out["id"].map(won_value).round(), np.nan)
    out["entered_at"] = pd.to_datetime(out["entered_at"]).dt.strftime("%Y-%m-%d")
    return out.sort_values(["entered_at", "id"], kind="stable").reset_index(drop=True)


def _run(scenario: Scenario, snapshot: date | str, seed: int) -> tuple[Forecast, WorkCalendar]:
    if scenario.deals():
        raise ValueError("a synthetic history starts empty: give a scenario without a pipeline")
    if pd.Timestamp(snapshot).date() > scenario.horizon:
        raise ValueError(f"snapshot {snapshot} is after the scenario's horizon {scenario.horizon}")
    forecast = simulate(scenario, replications=1, seed=seed, progress=False, precision=None)
    assert forecast.model is not None
    return forecast, forecast.model.calendar
