"""Bottlenecks against the raw records: utilization and queues recomputed independently from the
visits and the capacity log, the engine's own pool totals, and scenarios whose waiting is known
exactly."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import simsales
from simsales.results.bottlenecks import Bottlenecks, analyze_bottlenecks, overlap_sums
from simsales.results.forecast import Forecast
from simsales.results.records import queued_at_horizon

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(scope="module")
def forecast() -> Forecast:
    return simsales.simulate(
        SCENARIOS / "enterprise-it.yaml", replications=40, seed=5, progress=False, precision=None
    )


@pytest.fixture(scope="module")
def bottlenecks(forecast: Forecast) -> Bottlenecks:
    return analyze_bottlenecks(forecast)


def _held(forecast: Forecast) -> pd.DataFrame:
    """Visits with their deal type and the people of each pool the stage holds (by name)."""
    model = forecast.model
    assert model is not None
    deals = forecast.deals[["replication", "deal", "type"]].astype({"deal": str, "type": str})
    v = forecast.visits.astype({"deal": str, "stage": str}).merge(deals, on=["replication", "deal"])
    types = {t.name: t for t in model.types}
    stage_index = {s: i for i, s in enumerate(model.stage_ids)}
    for p, pool in enumerate(model.pool_ids):
        v[pool] = [
            types[t].held[stage_index[s], p] for t, s in zip(v["type"], v["stage"], strict=True)
        ]
    v["end"] = v["exit_t"].fillna(model.horizon_t)
    return v


def test_overlap_sums_match_a_direct_loop() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 90, 300)
    b = a + rng.exponential(8, 300)
    w = rng.integers(1, 4, 300).astype(float)
    bounds = np.array([0.0, 3.0, 3.0, 10.5, 40.0, 41.0, 100.0])
    expected = [
        sum(wi * max(0.0, min(bi, hi) - max(ai, lo)) for ai, bi, wi in zip(a, b, w, strict=True))
        for lo, hi in itertools.pairwise(bounds)
    ]
    np.testing.assert_allclose(overlap_sums(a, b, w, bounds), expected, rtol=1e-9, atol=1e-9)


def test_weekly_busy_and_capacity_add_up_to_the_engine_pool_totals(
    forecast: Forecast, bottlenecks: Bottlenecks
) -> None:
    weekly = bottlenecks.weekly.groupby("pool")[["busy_days", "capacity_days"]].sum()
    engine = (
        forecast.pools.astype({"pool": str}).groupby("pool")[["busy_days", "capacity_days"]].mean()
    )
    np.testing.assert_allclose(weekly.loc[engine.index], engine, rtol=1e-9)


def test_week_utilization_equals_busy_over_capacity_recomputed_from_visits(
    forecast: Forecast, bottlenecks: Bottlenecks
) -> None:
    model = forecast.model
    assert model is not None
    v = _held(forecast)
    weekly = bottlenecks.weekly
    for k in (0, 6, 20, 45):  # the first week, the Spring Festival week, two ordinary ones
        week = weekly[weekly["week_start"] == sorted(weekly["week_start"].unique())[k]]
        t0, t1 = float(week["t0"].iloc[0]), float(week["t1"].iloc[0])
        overlap = (np.minimum(v["end"], t1) - np.maximum(v["start_t"], t0)).clip(lower=0)
        for pool in model.pool_ids:
            busy = float((overlap * v[pool]).sum()) / forecast.replications
            capacity = _capacity_in(forecast, pool, t0, t1)
            row = week[week["pool"] == pool].iloc[0]
            assert row["busy_days"] == pytest.approx(busy, rel=1e-9, abs=1e-9)
            assert row["capacity_days"] == pytest.approx(capacity, rel=1e-9, abs=1e-9)
            if capacity > 0:
                assert row["utilization"] == pytest.approx(busy / capacity, rel=1e-9)


def _capacity_in(forecast: Forecast, pool: str, t0: float, t1: float) -> float:
    """Mean person-days of ``pool`` in [t0, t1), stepping through each replication's log."""
    assert forecast.model is not None
    total = 0.0
    log = forecast.capacity.astype({"pool": str})
    for _, g in log[log["pool"] == pool].groupby("replication"):
        times = [*g["t"], forecast.model.horizon_t]
        for (a, cap), b in zip(zip(g["t"], g["capacity"], strict=True), times[1:], strict=True):
            total += cap * max(0.0, min(b, t1) - max(a, t0))
    return total / forecast.replications


def test_queue_of_granted_requests_equals_the_allocator_waits(
    forecast: Forecast, bottlenecks: Bottlenecks
) -> None:
    """Queue days minus the deals still queued at the horizon is what the engine's allocator
    counted for the requests it granted."""
    model = forecast.model
    assert model is not None
    queued = queued_at_horizon(forecast)
    deals = forecast.deals.iloc[queued["deal_row"]]
    types = {t.name: t for t in model.types}
    engine = forecast.pools.astype({"pool": str}).groupby("pool")["wait_days"].mean()
    pools = bottlenecks.pools.set_index("pool")
    for p, pool in enumerate(model.pool_ids):
        at_horizon = sum(
            (model.horizon_t - ready) * (types[str(t)].held[model.stage_ids.index(str(s)), p] > 0)
            for ready, t, s in zip(queued["ready_t"], deals["type"], deals["stage"], strict=True)
        )
        granted = pools.loc[pool, "queue_days"] - at_horizon / forecast.replications
        assert granted == pytest.approx(engine[pool], rel=1e-9, abs=1e-9)


def test_deals_queued_at_the_horizon_are_open_and_wait_for_people(forecast: Forecast) -> None:
    model = forecast.model
    assert model is not None
    queued = queued_at_horizon(forecast)
    assert len(queued) > 0  # the default scenario ends with a queue for legal
    deals = forecast.deals.iloc[queued["deal_row"]]
    assert (deals["outcome"] == "open").all()
    types = {t.name: t for t in model.types}
    for t, s in zip(deals["type"], deals["stage"], strict=True):
        assert types[str(t)].held[model.stage_ids.index(str(s))].sum() > 0
    last_exit = (
        forecast.visits.astype({"deal": str}).groupby(["replication", "deal"])["exit_t"].max()
    )
    for (_, d), ready in zip(deals.iterrows(), queued["ready_t"], strict=True):
        assert ready <= model.horizon_t
        key = (d["replication"], str(d["deal"]))
        if key in last_exit.index and np.isfinite(last_exit[key]):
            assert ready >= last_exit[key] - 1e-9


def test_blame_shares_out_every_day_of_waiting(
    forecast: Forecast, bottlenecks: Bottlenecks
) -> None:
    total_wait = forecast.deals["wait_days"].sum() / forecast.replications
    assert bottlenecks.weekly["wait_days"].sum() == pytest.approx(total_wait, rel=1e-9)
    assert bottlenecks.ranking["wait_days"].sum() == pytest.approx(total_wait, rel=1e-9)
    assert bottlenecks.ranking["share"].sum() == pytest.approx(1.0)
    assert list(bottlenecks.ranking["wait_days"]) == sorted(bottlenecks.ranking["wait_days"])[::-1]
    stages = bottlenecks.stages["wait_days"].sum()
    assert stages == pytest.approx(total_wait, rel=1e-9)


def _queue_scenario(**pools: Any) -> simsales.Scenario:
    """Ten deals that all need one stage of fixed 5 days at once (continuous calendar)."""
    return simsales.load_dict(
        {
            "name": "queue",
            "start": "2027-01-04",  # a Monday: weeks are whole
            "horizon": "2027-12-31",
            "calendar": {"continuous": True},
            "resources": pools,
            "stages": [{"id": "s", "duration": {"fixed": 5}, "needs": {p: 1 for p in pools}}],
            "deal_types": {"t": {"value": {"fixed": 1.0}}},
            "pipeline": [{"id": f"D{i}", "type": "t", "stage": "s"} for i in range(10)],
        }
    )


def test_the_only_short_pool_gets_all_the_blame() -> None:
    """Legal (one person) serves ten 5-day stages one after another: deal k waits 5k days,
    225 deal-days in all, and sales (fifty people) never makes anyone wait."""
    scenario = _queue_scenario(sales={"capacity": 50}, legal={"capacity": 1})
    b = analyze_bottlenecks(simsales.simulate(scenario, replications=2, progress=False))
    ranking = b.ranking.set_index("pool")
    assert ranking.loc["legal", "wait_days"] == pytest.approx(225.0)
    assert ranking.loc["sales", "wait_days"] == pytest.approx(0.0, abs=1e-9)
    assert b.ranking.iloc[0]["pool"] == "legal"
    legal = b.weekly[b.weekly["pool"] == "legal"].reset_index(drop=True)
    # busy without a break for 50 days: weeks 0-6 full, week 7 one day of seven
    np.testing.assert_allclose(legal["utilization"][:7], 1.0)
    assert legal["utilization"][7] == pytest.approx(1 / 7)
    # nine deals queue at first, one fewer every five days: 9, 8 | 7.6 ... as a weekly average
    assert legal["queue_length"][0] == pytest.approx((9 * 5 + 8 * 2) / 7)
    assert b.stages.set_index("stage").loc["s", "mean_wait_days"] == pytest.approx(22.5)


def test_two_full_pools_share_the_blame_in_proportion() -> None:
    """Both pools have one person and every stage needs both: both are short all the time, so
    each gets half of every wait."""
    scenario = _queue_scenario(sales={"capacity": 1}, legal={"capacity": 1})
    ranking = analyze_bottlenecks(
        simsales.simulate(scenario, replications=1, progress=False)
    ).ranking
    np.testing.assert_allclose(ranking["wait_days"], [112.5, 112.5])
