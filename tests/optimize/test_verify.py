"""Verification by simulation: the default scenario's plan, and the over-capacity check itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simsales import load, simulate, with_overlay
from simsales.api import optimize
from simsales.engine.model import compile_model
from simsales.optimize.capacity import base_capacity
from simsales.optimize.demand import held_per_visit, month_grid
from simsales.optimize.verify import over_capacity, verify

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plan():  # type: ignore[no-untyped-def]
    scenario = load(ROOT / "scenarios" / "enterprise-it.yaml")
    return scenario, optimize(scenario, replications=40, seed=11)


def test_default_plan_is_verified(plan) -> None:  # type: ignore[no-untyped-def]
    scenario, p = plan
    assert p.status in ("optimal", "feasible")
    v = p.verification
    assert v is not None and v.replications == 40 and v.seed == 11
    # no stage of the re-simulated plan started above its pool's capacity
    assert v.over_capacity == {pool: 0 for pool in scenario.resources}
    margin = v.delta("plan_margin")
    assert (margin["difference"] >= 0) == v.margin_not_worse
    if not v.margin_not_worse:  # then the output must say why
        assert v.explanation and "margin" in v.explanation
    # the comparison module's metrics are there, paired
    for metric in ("revenue", "won_deals", "mean_wait_days:presales", "utilization:legal"):
        row = v.delta(metric)
        assert row["ci_low"] <= row["difference"] <= row["ci_high"]


def test_overlay_carries_the_plan(plan) -> None:  # type: ignore[no-untyped-def]
    scenario, p = plan
    planned = with_overlay(scenario, p.overlay)
    model = compile_model(planned)
    heads = base_capacity(model, month_grid(model))
    for i, pool in enumerate(model.pool_ids):
        assert heads[i].tolist() == p.headcount[pool]
    kept = {d.id for d in planned.deals()}
    assert kept == {d["id"] for d in p.deals if d["pursue"]}
    for m in p.mitigations:
        risk = next(r for r in planned.risks if r.id == m["risk"])
        assert risk.mitigated == m["fund"]


def test_headcount_respects_bounds_and_lead_times(plan) -> None:  # type: ignore[no-untyped-def]
    scenario, p = plan
    for pool_id, pool in scenario.resources.items():
        row, base = p.headcount[pool_id], p.base_headcount[pool_id]
        assert min(row) >= min(pool.min or 0, min(base))
        assert pool.max is None or max(row) <= max(pool.max, max(base))
        for m in range(pool.hire_lead_months):
            assert row[m] <= base[m]  # nobody new before the lead time


def brute_over_capacity(forecast, capacity_of) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """O(n^2) count of stage starts with more people held than ``capacity_of(rep, pool, t)``.

    Held at a start: visits running then (started before, ending after) and visits starting at
    the same instant that come earlier in the table (simultaneous starts happen in turn)."""
    model = forecast.model
    held, _ = held_per_visit(forecast, model)
    v = forecast.visits
    rep = v["replication"].to_numpy()
    start = v["start_t"].to_numpy()
    stop = np.nan_to_num(v["exit_t"].to_numpy(), nan=np.inf)
    index = np.arange(len(v))
    out = {}
    for p, pool in enumerate(model.pool_ids):
        count = 0
        for i in np.flatnonzero(held[:, p] > 0):
            before = (start < start[i]) | ((start == start[i]) & (index <= i))
            same = (rep == rep[i]) & before & (stop > start[i])
            if held[same, p].sum() > capacity_of(rep[i], pool, start[i]) + 1e-9:
                count += 1
        out[pool] = count
    return out


def test_over_capacity_counts_what_a_brute_force_sweep_counts() -> None:
    forecast = simulate(ROOT / "scenarios" / "minimal.yaml", 30, 2, progress=False)

    def logged(rep: int, pool: str, t: float) -> float:
        c = forecast.capacity
        rows = c[(c["replication"] == rep) & (c["pool"] == pool) & (c["t"] <= t)]
        return float(rows["capacity"].iloc[-1])

    assert over_capacity(forecast) == brute_over_capacity(forecast, logged) == {"sales": 0}
    # Pretend the pool had one person fewer: now starts exceed it, and both counts agree.
    forecast.capacity = forecast.capacity.assign(capacity=forecast.capacity["capacity"] - 1)
    counted = over_capacity(forecast)
    assert counted == brute_over_capacity(forecast, logged)
    assert counted["sales"] > 0


def test_a_worse_plan_is_explained() -> None:
    scenario = load(ROOT / "scenarios" / "minimal.yaml")
    # Dropping the 800k deal loses its margin and saves nothing: the margin must fall.
    v = verify(scenario, {"pipeline": {"D-2": None}}, 30, 1)
    row = v.delta("plan_margin")
    assert row["difference"] < 0 and not v.margin_not_worse
    assert v.explanation is not None
    assert v.explanation.startswith("The simulated expected margin of the plan is below")
    assert v.delta("p80_close:D-1")["unit"] == "date"


def test_revenue_floors_are_checked_on_the_simulated_plan() -> None:
    scenario = load(ROOT / "scenarios" / "minimal.yaml")
    forecast = simulate(scenario, 30, 2, progress=False, precision=None)
    periods = forecast.summary().periods
    label = str(periods["period"].iloc[0])
    v = verify(scenario, {}, 30, 2, floors={label: 1.0})
    (row,) = v.floors
    # recomputed from the raw records: revenue won inside the period, per replication
    t0, t1 = forecast.model.calendar.period_bounds(label)
    d = forecast.deals
    inside = (d["outcome"] == "won") & (d["decision_t"] >= t0) & (d["decision_t"] < t1)
    per_rep = d["revenue"].where(inside, 0.0).groupby(d["replication"]).sum()
    per_rep = per_rep.reindex(range(30), fill_value=0.0)
    assert row["plan"] == pytest.approx(per_rep.mean())
    assert row["plan_low"] <= row["plan"] <= row["plan_high"]
    assert row["met"] == (row["plan"] >= 1.0)
    assert row["probability"] == pytest.approx(float((per_rep >= 1.0).mean()))
    far = verify(scenario, {}, 30, 2, floors={label: 1e12}).floors[0]
    assert not far["met"] and not far["sure"]
