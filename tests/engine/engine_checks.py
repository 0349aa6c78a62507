"""Invariants every run must satisfy, as reusable checks (used on fixed and on random scenarios).

- capacity: from the stage visits and each stage's needs, no start ever takes a pool over its
  capacity (capacity may drop under the busy count through a resource risk: no pre-emption);
- time order: entry <= ready <= start <= exit, decisions within the horizon;
- outcomes: every deal is won, lost or open; revenue only from won deals, equal to their value;
- exit kinds: a visit still running has kind open; a visit that ended won (lost) belongs to a
  deal that was won (lost), and it is the deal's last visit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simsales import Forecast


def check_all(forecast: Forecast) -> None:
    check_capacity(forecast)
    check_visit_order(forecast)
    check_outcomes(forecast)
    check_exit_kinds(forecast)


def check_exit_kinds(forecast: Forecast) -> None:
    v, d = forecast.visits, forecast.deals
    kind = v["exit"].astype(str)
    assert (kind[v["exit_t"].isna()] == "open").all(), "a running visit has no exit yet"
    outcome = d.assign(deal=d["deal"].astype(str)).set_index(["replication", "deal"])["outcome"]
    key = pd.MultiIndex.from_arrays([v["replication"], v["deal"].astype(str)])
    of_deal = outcome.reindex(key).astype(str).to_numpy()
    for end in ("won", "lost"):
        assert (of_deal[(kind == end).to_numpy()] == end).all(), (
            f"a visit {end} of a deal not {end}"
        )
    last = ~key.duplicated(keep="last")
    ended = kind.isin(["won", "lost"]).to_numpy()
    assert last[ended].all(), "a visit that ends a deal is its last"


def check_capacity(forecast: Forecast) -> int:
    """Sweep start/exit events and capacity changes; nobody starts while the pool is full.

    Capacity can drop under the number of people busy (a resource risk does not pre-empt
    anyone); then no new start may happen until enough people are released. Returns the number
    of starts checked.
    """
    model = forecast.model
    assert model is not None
    held = np.stack([t.held for t in model.types])  # (type, stage, pool)
    v = forecast.visits
    type_of = forecast.deals.set_index(["replication", "deal"])["type"]
    assert type_of.index.is_unique
    vtype = type_of.reindex(pd.MultiIndex.from_frame(v[["replication", "deal"]])).cat.codes
    vtype = vtype.to_numpy()
    assert (vtype >= 0).all(), "every visit belongs to a deal of the deals table"
    need = held[vtype, v["stage"].cat.codes.to_numpy()]  # (visit, pool)
    rep = v["replication"].to_numpy()
    caps = forecast.capacity
    checked = 0
    # A zero-length visit (a click-through exit) takes and frees its people at one instant: it
    # holds nobody over any time, and "releases before starts" cannot order it against itself.
    # It is left out of the sweep; it must still fit into the pool.
    zero = (v["exit_t"] == v["start_t"]).to_numpy()
    for p, pool in enumerate(model.pool_ids):
        most = max([int(model.capacity[p]), *(c for _, q, c in model.capacity_changes if q == p)])
        assert (need[zero, p] <= most).all(), f"{pool}: a zero-length visit needs too many"
        uses = (need[:, p] > 0) & ~zero
        n = need[uses, p]
        ends = v["exit_t"].to_numpy()[uses]
        done = ~np.isnan(ends)  # still in the stage at the horizon: never released
        c = caps[caps["pool"] == pool]
        # Same instant: releases first, then capacity changes, then starts (the engine serves
        # the queue when people are released or capacity changes).
        events = pd.DataFrame(
            {
                "replication": np.concatenate(
                    [rep[uses][done], c["replication"].to_numpy(), rep[uses]]
                ),
                "t": np.concatenate([ends[done], c["t"].to_numpy(), v["start_t"].to_numpy()[uses]]),
                "kind": np.concatenate(
                    [np.zeros(done.sum()), np.ones(len(c)), np.full(uses.sum(), 2)]
                ),
                "delta": np.concatenate([-n[done], np.zeros(len(c)), n]),
                "capacity": np.concatenate(
                    [
                        np.full(done.sum(), np.nan),
                        c["capacity"].to_numpy(float),
                        np.full(uses.sum(), np.nan),
                    ]
                ),
            }
        ).sort_values(["replication", "t", "kind"], kind="stable")
        g = events.groupby("replication")
        events["busy"] = g["delta"].cumsum()
        events["cap"] = g["capacity"].ffill()
        assert events["cap"].notna().all(), f"{pool}: capacity log must start at t=0"
        assert (events["busy"] >= -1e-9).all(), f"{pool}: released more than taken"
        starts = events[events["kind"] == 2]
        over = starts[starts["busy"] > starts["cap"]]
        assert over.empty, f"{pool}: a start took the pool over its capacity:\n{over.head()}"
        checked += len(starts)
    return checked  # the number of starts checked


def check_visit_order(forecast: Forecast) -> None:
    v = forecast.visits
    assert len(v) > 0
    assert (v["entry_t"] <= v["ready_t"]).all()
    assert (v["ready_t"] <= v["start_t"]).all()
    done = v["exit_t"].notna()
    assert (v.loc[done, "start_t"] <= v.loc[done, "exit_t"]).all()
    horizon = forecast.model.horizon_t if forecast.model else math.inf
    # Only a visit still running at the horizon has no exit.
    assert (v.loc[~done, "start_t"] <= horizon).all()
    assert (v.loc[done, "exit_t"] <= horizon + 1e-9).all()


def check_outcomes(forecast: Forecast) -> None:
    d = forecast.deals
    assert forecast.model is not None
    assert d["outcome"].notna().all()
    assert set(d["outcome"].unique()) <= {"won", "lost", "open"}
    open_ = d["outcome"] == "open"
    assert d.loc[open_, "decision_t"].isna().all(), "an open deal has no decision"
    assert d.loc[~open_, "decision_t"].notna().all(), "a decided deal has a decision time"
    assert (d.loc[~open_, "decision_t"] <= forecast.model.horizon_t + 1e-9).all()
    assert (d.loc[~open_, "decision_t"] >= d.loc[~open_, "arrival_t"]).all()
    won = d["outcome"] == "won"
    assert (d.loc[~won, "revenue"] == 0).all(), "only won deals bring revenue"
    np.testing.assert_array_equal(d.loc[won, "revenue"], d.loc[won, "value"])
    assert (d.loc[won, "value"] > 0).all()
    assert (d["cost"] >= 0).all() and (d["wait_days"] >= 0).all()
    assert (d["value"] >= 0).all()
    # one row per deal and replication, and the live deals in every replication
    assert not d.duplicated(["replication", "deal"]).any()
    live = d[d["live"]].groupby("replication").size()
    assert (live == len(forecast.live_deals)).all()
