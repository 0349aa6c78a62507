"""Invariants every run must satisfy, and the randomness contract (docs/architecture.md).

Capacity, time order and accounting are checked on a realistic scenario (the example
``scenarios/enterprise-it.yaml``, or the design sketch kept as a fixture) and on a small, heavily
contended one with multi-pool needs, a planned capacity change and a resource risk.
Reproducibility: same seed, any worker count or executor -> identical tables; a what-if that
changes one deal leaves the others alone (common random numbers).
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from engine_checks import check_capacity, check_outcomes, check_visit_order

import simsales
from simsales import Forecast

HERE = Path(__file__).resolve().parent
ENTERPRISE = HERE.parents[1] / "scenarios" / "enterprise-it.yaml"
SKETCH = HERE / "fixtures" / "sketch.yaml"  # a copy of the design sketch, not read from shared/


def _run(scenario: Any, replications: int, seed: int, **kw: Any) -> Forecast:
    return simsales.simulate(scenario, replications=replications, seed=seed, progress=False, **kw)


def _contended() -> simsales.Scenario:
    """Few people, many deals, a stage needing two pools at once, capacity going down and up."""
    return simsales.load_dict(
        {
            "name": "contended",
            "start": "2027-01-04",
            "horizon": "2027-09-30",
            "resources": {
                "sales": {
                    "capacity": 2,
                    "cost_per_day": 100,
                    "capacity_changes": [{"from": "2027-05-03", "capacity": 3}],
                },
                "legal": {"capacity": 1, "cost_per_day": 300},
            },
            "queue_discipline": {"priority": "expected_value", "order": "desc"},
            "stages": [
                {
                    "id": "qualify",
                    "duration": {"triangular": [2, 4, 9]},
                    "needs": {"sales": 1},
                    "advance": 0.8,
                    "cost": 50,
                },
                {
                    "id": "propose",
                    "duration": {"pert": [3, 6, 12]},
                    "needs": {"sales": 2},
                    "advance": 0.8,
                },
                {
                    "id": "negotiate",
                    "duration": {"uniform": [3, 8]},
                    "needs": {"sales": 1, "legal": 1},
                    "advance": 0.85,
                    "rework": {"to": "propose", "p": 0.2},
                },
                {"id": "sign", "duration": {"fixed": 2}, "needs": {"legal": 1}, "advance": 0.95},
            ],
            "deal_types": {
                "std": {"value": {"triangular": [1e5, 3e5, 9e5]}},
                "big": {
                    "value": {"lognormal": {"p50": 1e6, "p90": 3e6}},
                    "stages": {"negotiate": {"needs": {"sales": 2, "legal": 1}}},
                },
            },
            "pipeline": [
                {
                    "id": f"P{i}",
                    "type": "big" if i % 3 == 0 else "std",
                    "stage": ["qualify", "propose", "negotiate"][i % 3],
                    "days_in_stage": i % 4,
                }
                for i in range(12)
            ],
            "arrivals": [{"type": "std", "per_month": 6}, {"type": "big", "per_month": 2}],
            "risks": [
                {
                    "id": "lawyer_out",
                    "scope": "resource",
                    "p": 0.7,
                    "resource": "legal",
                    "impact": {"capacity": -1, "duration": {"uniform": [10, 30]}},
                },
                {
                    "id": "sales_out",
                    "scope": "resource",
                    "p": 0.7,
                    "resource": "sales",
                    "window": ["2027-02-01", "2027-06-30"],
                    "impact": {"capacity": -2, "duration": {"uniform": [5, 20]}},
                },
                {
                    "id": "cold_feet",
                    "scope": "deal",
                    "p": 0.2,
                    "during": ["negotiate"],
                    "impact": {"delay": {"uniform": [2, 10]}, "win_factor": 0.8},
                },
                {
                    "id": "budget_cut",
                    "scope": "global",
                    "p": 0.3,
                    "window": ["2027-03-01", "2027-04-30"],
                    "applies_to": {"type": "std"},
                    "impact": {"lost": True},
                },
            ],
        }
    )


def _enterprise() -> simsales.Scenario:
    if not ENTERPRISE.is_file():
        pytest.skip("scenarios/enterprise-it.yaml is not there (yet); the sketch covers it")
    return simsales.load(ENTERPRISE)


SCENARIOS = {
    "enterprise-it": _enterprise,
    "sketch": lambda: simsales.load(SKETCH),
    "contended": _contended,
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def forecast(request: pytest.FixtureRequest) -> Forecast:
    return _run(SCENARIOS[request.param](), 30, seed=7, precision=None)


# --- invariants ---------------------------------------------------------------------------


def test_no_pool_over_capacity(forecast: Forecast) -> None:
    assert check_capacity(forecast) > 0, "the check must have starts to check"


def test_visit_times_are_ordered(forecast: Forecast) -> None:
    check_visit_order(forecast)


def test_outcomes_decisions_revenue_and_costs(forecast: Forecast) -> None:
    check_outcomes(forecast)


# --- reproducibility and common random numbers ----------------------------------------------


def _assert_same_tables(a: Forecast, b: Forecast) -> None:
    for name in ("deals", "visits", "pools", "capacity", "risks"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)


def test_same_seed_same_tables_different_seed_differs() -> None:
    scenario = _contended()
    a = _run(scenario, 12, seed=3)
    b = _run(scenario, 12, seed=3)
    _assert_same_tables(a, b)
    c = _run(scenario, 12, seed=4)
    assert not a.deals["decision_t"].equals(c.deals["decision_t"])
    assert not a.visits[["start_t"]].equals(c.visits[["start_t"]])


def test_process_workers_give_identical_tables() -> None:
    scenario = _contended()
    serial = _run(scenario, 24, seed=5)
    parallel = _run(scenario, 24, seed=5, workers=2, executor="process")
    _assert_same_tables(serial, parallel)


def test_first_replications_do_not_depend_on_how_many_are_run() -> None:
    scenario = _contended()
    short = _run(scenario, 5, seed=9)
    long = _run(scenario, 15, seed=9)
    head = long.deals[long.deals["replication"] < 5].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        short.deals.drop(columns="deal"), head.drop(columns="deal"), check_categorical=False
    )
    assert (short.deals["deal"].astype(str) == head["deal"].astype(str)).all()


def test_changing_one_deal_leaves_the_others_alone() -> None:
    """Uncontended (no needs): per-deal streams keep every other deal's draws unchanged."""
    base = simsales.load_dict(
        {
            "name": "crn",
            "start": "2027-01-04",
            "horizon": "2027-12-31",
            "stages": [
                {"id": "a", "duration": {"triangular": [3, 6, 15]}, "advance": 0.8},
                {
                    "id": "b",
                    "duration": {"lognormal": {"p50": 10, "p90": 25}},
                    "advance": 0.7,
                    "rework": {"to": "a", "p": 0.2},
                },
                {"id": "c", "duration": {"pert": [2, 5, 9]}, "advance": 0.9},
            ],
            "deal_types": {"t": {"value": {"uniform": [1e5, 4e5]}}},
            "pipeline": [
                {"id": f"D{i}", "type": "t", "stage": "a", "value": 2e5} for i in range(40)
            ],
            "arrivals": [{"type": "t", "per_month": 3}],
            "risks": [
                {
                    "id": "slip",
                    "scope": "deal",
                    "p": 0.3,
                    "during": ["b"],
                    "impact": {"delay": {"uniform": [5, 15]}, "win_factor": 0.9},
                }
            ],
            "rules": [
                {
                    "id": "big",
                    "when": "value > 1e6",
                    "then": {"win_factor": 0.5, "delay": {"fixed": 7}},
                }
            ],
        }
    )
    changed = simsales.with_overlay(base, {"pipeline": [{"id": "D7", "value": 5e6}]})
    assert [d.value for d in changed.deals() if d.id == "D7"] == [5e6]
    a = _run(base, 40, seed=13).deals
    b = _run(changed, 40, seed=13).deals
    assert (a["deal"].astype(str) == b["deal"].astype(str)).all(), "same arrivals"
    other = a["deal"].astype(str) != "D7"
    for column in ("outcome", "decision_t", "value", "revenue", "stage"):
        pd.testing.assert_series_equal(a.loc[other, column], b.loc[other, column])
    # ... while the changed deal did change (the rule now delays it by exactly 7 days).
    d7a, d7b = a[~other], b[~other]
    assert (d7b["value"] == 5e6).all() and (d7b["win_factor"] < d7a["win_factor"]).all()
    decided = (d7a["outcome"] != "open").to_numpy() & (d7b["outcome"] != "open").to_numpy()
    assert decided.any()
    assert not np.array_equal(d7a["decision_t"].to_numpy(), d7b["decision_t"].to_numpy())


@contextlib.contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """Fail (rather than hang the suite) if the block takes longer than ``seconds``."""

    def expire(*_: Any) -> None:
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None, reason="dask 'distributed' is not installed"
)
def test_dask_executor_gives_identical_tables() -> None:
    from distributed import Client, LocalCluster

    scenario = _contended()
    serial = _run(scenario, 16, seed=21)
    with (
        _time_limit(180),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        distributed = _run(scenario, 16, seed=21, executor="dask", scheduler=client)
    _assert_same_tables(serial, distributed)
    assert distributed.provenance["executor"] == "dask"


# --- saving -----------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path: Path) -> None:
    f = _run(_contended(), 6, seed=2)
    target = f.save(tmp_path / "run")
    assert target == tmp_path / "run"
    g = Forecast.load(target)
    # Parquet keeps datetimes at its own resolution; compare the dates as dates.
    for h in (f, g):
        h.deals["decision_date"] = h.deals["decision_date"].astype("datetime64[ns]")
    for name in ("deals", "visits", "pools", "capacity", "risks", "inputs"):
        pd.testing.assert_frame_equal(getattr(f, name), getattr(g, name), obj=name)
    assert g.provenance["seed"] == 2 and g.replications == 6
    assert g.model is not None and g.model.pool_ids == f.model.pool_ids  # type: ignore[union-attr]
    assert [p.name for p in tmp_path.iterdir()] == ["run"], "no temporary directory is left"


@pytest.mark.parametrize("existing", [False, True], ids=["new", "overwrite"])
def test_failed_save_leaves_nothing_that_looks_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    f = _run(_contended(), 3, seed=2)
    target = tmp_path / "run"
    if existing:
        f.save(target)
        before = sorted(p.name for p in target.iterdir())
    real = pq.write_table
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # after two tables were written
            raise OSError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(pq, "write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        f.save(target)
    assert calls["n"] == 3
    left = sorted(p.name for p in tmp_path.iterdir())
    if existing:  # the previous complete result is untouched
        assert left == ["run"]
        assert sorted(p.name for p in target.iterdir()) == before
        Forecast.load(target)
    else:
        assert left == [], f"stray files after a failed save: {left}"
        assert not target.exists()


# --- precision stop ---------------------------------------------------------------------------


def test_precision_stop_is_at_a_batch_boundary_whatever_the_workers() -> None:
    data = {
        "name": "precision",
        "start": "2027-01-04",
        "horizon": "2027-12-31",
        "simulation": {"replications": 400, "batch": 20, "precision": {"win_rate": 0.03}},
        "stages": [
            {"id": "a", "duration": {"uniform": [5, 10]}, "advance": 0.7},
            {"id": "b", "duration": {"uniform": [5, 10]}, "advance": 0.7},
        ],
        "deal_types": {"t": {"value": {"fixed": 1e5}}},
        "pipeline": [{"id": f"D{i}", "type": "t", "stage": "a"} for i in range(10)],
    }
    scenario = simsales.load_dict(data)
    serial = simsales.simulate(scenario, seed=8, progress=False)
    parallel = simsales.simulate(scenario, seed=8, progress=False, workers=2, executor="process")
    n = serial.provenance["replications"]
    # Win rate per replication: sd ~ sqrt(0.49 * 0.51 / 10) ~ 0.16, so the 95% half-width
    # 1.96 * 0.16 / sqrt(n) reaches 0.03 at n ~ 105: the stop falls well inside the budget.
    assert 20 <= n < 400 and n % 20 == 0
    assert serial.provenance["stopped_early"] is True
    assert parallel.provenance["replications"] == n
    _assert_same_tables(serial, parallel)
    # Without the target the full budget runs.
    full = simsales.simulate(scenario, seed=8, progress=False, precision=None, replications=60)
    assert full.provenance["replications"] == 60 and not full.provenance["stopped_early"]


def test_rule_priority_moves_a_deal_ahead_in_a_fifo_queue() -> None:
    """One person, four deals queued at time zero: the VIP deal is served right after the first."""
    data = {
        "name": "priority",
        "start": "2027-01-04",
        "horizon": "2027-12-31",
        "calendar": {"continuous": True},
        "resources": {"sales": {"capacity": 1}},
        "stages": [{"id": "a", "duration": {"fixed": 10}, "needs": {"sales": 1}}],
        "deal_types": {"t": {"value": {"fixed": 1}}},
        "pipeline": [
            {"id": f"D{i}", "type": "t", "stage": "a", "customer": "VIP" if i == 3 else "x"}
            for i in range(4)
        ],
        "rules": [{"id": "vip", "when": "customer == 'VIP'", "then": {"priority": 1}}],
    }
    visits = _run(simsales.load_dict(data), 1, seed=1).visits
    order = visits.sort_values("start_t")["deal"].astype(str).tolist()
    assert order == ["D0", "D3", "D1", "D2"]
