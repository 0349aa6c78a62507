"""The vectorized path is exact: the same records and tables as SimPy, or SimPy itself.

Random scenarios (hypothesis) in three families: pool-free ones and uncontended ones (pools far
larger than the deals could ever need), where the vectorized path must take replications and
give every record float for float; and contended ones (the property tests' scenarios, with
rules, risks and small pools), where ``auto`` must fall back and still give the same tables.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import DISTRIBUTIONS, scenarios

import simsales
from simsales.engine.model import compile_model
from simsales.engine.replication import RepRecords, run_replication
from simsales.engine.streams import Streams, replication_seeds
from simsales.engine.vectorized import (
    BlockRecords,
    _Block,
    _busy,
    block_uniforms,
    never_short,
    run_block,
    run_parts,
    run_replications,
    unsupported,
)
from simsales.errors import SimsalesError
from simsales.results import budget
from simsales.results.budget import table_bytes

BENCHMARK = Path(__file__).parents[2] / "scenarios" / "benchmark-200.yaml"
MINIMAL = Path(__file__).parents[2] / "scenarios" / "minimal.yaml"
TABLES = ("deals", "visits", "pools", "capacity", "risks")
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def free_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A random scenario the vectorized path covers: no rules and no deal or global risks;
    pools absent, or too large to bind; stale live deals, multipliers, capacity changes."""
    data = copy.deepcopy(draw(scenarios()))
    data.pop("rules", None)
    data["risks"] = [r for r in data["risks"] if r["scope"] == "resource"]
    if draw(st.booleans()):  # pool-free
        data["resources"] = {}
        data["risks"] = []
        for stage in data["stages"]:
            stage["needs"] = {}
    else:  # uncontended: more people than deals, before and after every change
        for pool in data["resources"].values():
            pool["capacity"] = 1000
            if draw(st.booleans()):
                pool["capacity_changes"] = [{"from": "2027-02-01", "capacity": 900}]
    ids = [stage["id"] for stage in data["stages"]]
    for stage in data["stages"]:
        if draw(st.integers(0, 3)) == 0:  # competing hazards by age and calendar instead
            for key in ("advance", "rework", "exits", "stale"):
                stage.pop(key, None)
            stage["hazards"] = draw(hazards(ids))
        if "exits" in stage or "hazards" in stage:
            stage["stale"] = draw(st.sampled_from(["lost", {"lost_after": 4}]))
        if "exits" in stage and draw(st.booleans()):  # stale before a time's tail ends
            stage["stale_from"] = draw(st.sampled_from([2.0, 10.0, 30.0]))
        if draw(st.booleans()):  # the decision month's factor on the chance to win
            stage["won_season"] = draw(
                st.sampled_from(
                    [
                        {"month_of_quarter": [0.5, 1.0, 1.5]},
                        {"month_of_quarter": [0.2, 1.0, 3.0]},
                        {"month_of_year": [0.6, 1.4] * 6},
                    ]
                )
            )
    for deal in data["pipeline"]:
        deal["days_in_stage"] = draw(st.sampled_from([0, 1, 3.5, 12, 40]))
    kinds = draw(st.sets(st.sampled_from(["duration", "value", "arrivals", "win_odds"])))
    data.setdefault("uncertainty", {}).update(
        {k: {"lognormal": {"mean": 1, "sd": 0.2}} for k in kinds}
    )
    monthly = draw(st.sets(st.sampled_from(["arrivals", "win"])))
    if monthly:
        data["uncertainty"]["monthly"] = {k: {"lognormal": {"mean": 1, "sd": 0.5}} for k in monthly}
    if draw(st.booleans()):
        data["deal_types"]["a"]["uncertainty"] = {"duration": draw(DISTRIBUTIONS)}
    return data


@st.composite
def hazards(draw: st.DrawFn, stage_ids: list[str]) -> dict[str, Any]:
    """A stage's ``hazards``: bands, maybe by month of the quarter, to won, lost and a stage
    (a later one, or back), with rates that include zeros (gated cells)."""
    ages = draw(st.sampled_from([[0, 10], [0, 2, 7, 30], [0, 1, 60], [0, 0.5, 3, 14]]))
    by = draw(st.sampled_from([None, "month_of_quarter"]))
    rows = 3 if by else 1
    rate = st.sampled_from([0.0, 0.01, 0.1, 0.5])
    targets = ["won", "lost", *draw(st.lists(st.sampled_from(stage_ids), max_size=1))]
    exits = [
        {"to": to, "per_day": [[draw(rate) for _ in ages[1:]] for _ in range(rows)]}
        for to in targets
    ]
    exits[0]["per_day"][0][0] = 0.2  # some way out
    return {"ages": ages, "exits": exits} | ({"by": by} if by else {})


def _same_records(fast: RepRecords, slow: RepRecords) -> None:
    for field in dataclasses.fields(RepRecords):
        a, b = getattr(fast, field.name), getattr(slow, field.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, field.name
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), field.name
        else:
            assert a == b, field.name


def _same_tables(scenario: Any, replications: int) -> tuple[dict[str, Any], dict[str, Any]]:
    auto = simsales.simulate(scenario, replications, seed=5, progress=False, engine="auto")
    slow = simsales.simulate(scenario, replications, seed=5, progress=False, engine="simpy")
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(auto, name), getattr(slow, name), obj=name)
    return auto.provenance["engine_paths"], slow.provenance["engine_paths"]


@SETTINGS
@given(data=free_scenarios())
def test_pool_free_and_uncontended_scenarios_give_simpys_records(data: dict[str, Any]) -> None:
    scenario = simsales.load_dict(data)
    model = compile_model(scenario)
    assert unsupported(model) is None
    seqs = replication_seeds(3, 0, 6)
    fast = run_block(model, seqs)
    # no pool can run short (1000 people, at most a few dozen deals): every replication is
    # taken, equal instants (fixed and whole-day times) included, so the identity is not vacuous
    assert all(records is not None for records in fast)
    for records, seq in zip(fast, seqs, strict=True):
        assert records is not None
        _same_records(records, run_replication(model, seq))
    auto, slow = _same_tables(scenario, 4)
    assert slow == {"vectorized": 0, "simpy": 4}
    assert auto == {"vectorized": 4, "simpy": 0}


@SETTINGS
@given(data=free_scenarios(), people=st.sampled_from([1, 3, 8, 1000]), cut=st.integers(1, 6))
def test_never_short_models_never_need_the_bounds_check_skips(
    data: dict[str, Any], people: int, cut: int
) -> None:
    """``_Block.check`` skips its per-pool bounds where ``never_short(model)``: on such models
    (no arrivals; capacity changes and resource risks kept) no replication's bound exceeds its
    lowest capacity, so the skipped loop would never have replayed a pool."""
    data.pop("arrivals", None)
    for name, pool in data["resources"].items():  # at least what one stage needs (valid)
        needed = [stage.get("needs", {}).get(name, 0) for stage in data["stages"]]
        pool["capacity"] = max(people, *needed)
    if data["resources"]:  # a cut that always comes, on top of the scenario's own risks
        data["risks"].append(
            {
                "id": "r_cut",
                "scope": "resource",
                "p": 1.0,
                "resource": next(iter(data["resources"])),
                "impact": {"capacity": -cut, "duration": {"uniform": [5, 20]}},
            }
        )
    model = compile_model(simsales.load_dict(data))
    if not never_short(model):
        return
    block = _Block(model, replication_seeds(3, 0, 6))
    block.trajectories()
    block.world()
    block.check()
    assert not block.declined.any()
    for p in range(len(model.pool_ids)):  # the bounds check() no longer computes here
        most = block.needs[:, :, p].max(axis=1, initial=0)[block.type]
        bound = np.bincount(block.rep, most, minlength=block.b)
        low = [min(c for _, q, c in log if q == p) for log in block.cap_log]
        assert (bound <= np.array(low)).all()


@SETTINGS
@given(data=scenarios())
def test_contended_scenarios_fall_back_to_simpy_with_the_same_tables(data: dict[str, Any]) -> None:
    _same_tables(simsales.load_dict(data), 3)


def _benchmark(capacity: int | None = None) -> Any:
    pools = ("sales", "presales", "legal") if capacity is not None else ()
    over = [f"resources.{p}.capacity={capacity}" for p in pools]
    return simsales.load(BENCHMARK, overrides=over)


def test_benchmark_with_never_binding_pools_is_vectorized_whole() -> None:
    auto, _ = _same_tables(_benchmark(1000), 20)
    assert auto == {"vectorized": 20, "simpy": 0}


def test_benchmark_with_its_own_pools_is_contended_and_runs_on_simpy() -> None:
    """Sales 8, presales 4, legal 2 for 200 deals: every replication queues, so none may take
    the vectorized path (a capacity check that let one through would be wrong)."""
    auto, _ = _same_tables(_benchmark(), 10)
    assert auto == {"vectorized": 0, "simpy": 10}


def test_one_person_short_is_caught() -> None:
    """Capacity one below the most deals ever in a stage at once: the sweep must see it."""
    model = compile_model(_benchmark(1000))
    seqs = replication_seeds(1, 0, 5)
    peak = []
    for seq in seqs:
        r = run_replication(model, seq)
        for pool in range(3):
            held = model.types[0].held[r.visit_stage, pool] > 0
            t = np.r_[r.visit_start[held], r.visit_exit[held]]
            step = np.r_[np.ones(held.sum()), -np.ones(held.sum())]
            order = np.lexsort((step, t))
            peak.append(int(np.cumsum(step[order]).max()))
    tight = max(peak)
    records, fast = run_replications(compile_model(_benchmark(tight)), seqs)
    assert fast > 0  # the replications with the peak still fit
    records, fast = run_replications(compile_model(_benchmark(tight - 1)), seqs)
    assert fast < len(seqs)
    for got, seq in zip(records, seqs, strict=True):
        _same_records(got, run_replication(compile_model(_benchmark(tight - 1)), seq))


def test_block_streams_are_the_engines_streams() -> None:
    seqs = replication_seeds(7, 0, 3)
    keys = np.array([0, 1, 2**63 + 11, 2**64 - 1], np.uint64)
    for seq in seqs:
        words = np.tile(np.asarray(seq.generate_state(4, np.uint64), np.uint64), (len(keys), 1))
        got = block_uniforms(words, 1, keys, 9)
        assert np.array_equal(got, Streams(seq).uniforms_many(1, keys, 9))


@pytest.mark.parametrize("pools", [0, 1, 2, 3, 5])
def test_busy_days_summed_at_once_are_the_per_replication_sums(pools: int) -> None:
    """_busy (one bincount per pool) against numpy's own sum of each replication's rows, in
    the order given, on magnitudes far apart (any other order of additions shows), with empty
    replications, a replication whose every term is -0.0, and the replications' rows apart
    and interleaved (as the fast path makes visits, a step at a time)."""
    rng = np.random.default_rng(pools)
    sizes = rng.integers(0, 300, 40)
    sizes[3] = 0
    grouped = np.repeat(np.arange(len(sizes)), sizes)
    for rep in (grouped, rng.permutation(grouped)):
        people = rng.random((len(rep), pools)) * 10.0 ** rng.integers(-8, 9, (len(rep), pools))
        for case in (people, np.where(rep[:, None] == 5, -0.0, people)):
            got = _busy(case, rep, len(sizes))
            want = np.array([case[rep == r].sum(axis=0) for r in range(len(sizes))])
            assert got.shape == want.shape == (len(sizes), pools)
            assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(SimsalesError, match="unknown engine 'numba'"):
        simsales.simulate(_benchmark(1000), 1, progress=False, engine="numba")  # type: ignore[arg-type]


def test_won_season_is_computed_exactly_on_the_fast_path() -> None:
    """Both forms of a stage's won_season, on live deals part-way through their stage (their
    conditioned exit shares) and with uncertain win odds: the same tables as SimPy, all fast."""
    data: dict[str, Any] = {
        "name": "season on the fast path",
        "start": "2027-01-01",
        "horizon": "2027-12-31",
        "calendar": {"continuous": True},
        "stages": [
            {
                "id": "qualify",
                "duration": {"uniform": [1, 60]},
                "advance": 0.7,
                "won_season": {"month_of_year": [0.6, 1.4] * 6},
            },
            {
                "id": "close",
                "duration": {"uniform": [5, 90]},
                "exits": [
                    {"to": "won", "p": 0.4, "after": {"uniform": [5, 90]}},
                    {"to": "lost", "p": 0.6, "after": {"uniform": [5, 120]}},
                ],
                "won_season": {"month_of_quarter": [0.5, 1.0, 1.8]},
            },
        ],
        "deal_types": {"t": {"value": {"fixed": 1.0}}},
        "uncertainty": {"win_odds": {"lognormal": {"mean": 1, "sd": 0.3}}},
        "pipeline": [
            {
                "id": f"D{i:03d}",
                "type": "t",
                "stage": ("qualify", "close")[i % 2],
                "days_in_stage": (0, 3, 20, 45)[i % 4],
            }
            for i in range(80)
        ],
    }
    seasonal = simsales.load_dict(copy.deepcopy(data))
    monthly = copy.deepcopy(data)
    monthly["uncertainty"]["monthly"] = {"win": {"lognormal": {"mean": 1, "sd": 0.4}}}
    auto, slow = _same_tables(simsales.load_dict(monthly), 6)
    assert auto == {"vectorized": 6, "simpy": 0}
    auto, slow = _same_tables(seasonal, 6)
    assert auto == {"vectorized": 6, "simpy": 0} and slow == {"vectorized": 0, "simpy": 6}
    for stage in data["stages"]:
        del stage["won_season"]
    plain = simsales.simulate(simsales.load_dict(data), 6, seed=5, progress=False)
    with_season = simsales.simulate(seasonal, 6, seed=5, progress=False)
    # not vacuous: the factors do turn outcomes (same draws, other months' odds)
    assert not plain.deals["outcome"].equals(with_season.deals["outcome"])


def test_an_exit_to_a_stage_skipped_to_the_end_is_won_unturned_by_the_season() -> None:
    """An exit to a stage the deal's type skips, none after it: won, as the engine resolves it
    after the season's factor (which turns only exits to won or lost themselves)."""
    data: dict[str, Any] = {
        "name": "exit to a skipped last stage",
        "start": "2027-01-04",
        "horizon": "2027-12-31",
        "calendar": {"continuous": True},
        "stages": [
            {
                "id": "s0",
                "duration": {"fixed": 1},
                "exits": [
                    {"to": "s1", "p": 0.7, "after": {"uniform": [1, 40]}},
                    {"to": "lost", "p": 0.3, "after": {"uniform": [1, 40]}},
                ],
                "won_season": {"month_of_year": [0.6, 1.4] * 6},
            },
            {"id": "s1", "duration": {"fixed": 1}, "advance": 1.0},
        ],
        "deal_types": {
            "a": {"value": {"fixed": 1.0}},
            "b": {"value": {"fixed": 1.0}, "skip": ["s1"]},
        },
        "pipeline": [
            {"id": f"D{i}", "type": "ab"[i % 2], "stage": "s0", "days_in_stage": 0}
            for i in range(40)
        ],
    }
    auto, _ = _same_tables(simsales.load_dict(data), 8)
    assert auto == {"vectorized": 8, "simpy": 0}


def test_every_deal_decided_at_time_zero_gives_float_decision_times() -> None:
    """A replication whose only deal is stale past its hazards' last age, lost at time 0, with
    no visits at all: both engines give decision_t (SimPy's clock starts at the integer 0) and
    the pools' busy days (costly pools: numpy's sum of no rows) as floats."""
    data: dict[str, Any] = {
        "name": "stale at the start",
        "start": "2027-01-04",
        "horizon": "2027-03-31",
        "calendar": {"continuous": True},
        "resources": {p: {"capacity": 1000, "cost_per_day": 100} for p in ("p0", "p1")},
        "stages": [
            {
                "id": "s0",
                "duration": {"fixed": 1},
                "hazards": {"ages": [0, 10], "exits": [{"to": "won", "per_day": [[0.2]]}]},
                "stale": "lost",
            }
        ],
        "deal_types": {"a": {"value": {"fixed": 1.0}}},
        "pipeline": [{"id": "D0", "type": "a", "stage": "s0", "days_in_stage": 12}],
    }
    model = compile_model(simsales.load_dict(data))
    seqs = replication_seeds(1, 0, 2)
    for fast, seq in zip(run_block(model, seqs), seqs, strict=True):
        assert fast is not None
        _same_records(fast, run_replication(model, seq))
        assert fast.decision_t.dtype == fast.pool_busy.dtype == np.float64


@settings(SETTINGS, max_examples=15)
@given(data=free_scenarios())
def test_visits_are_recorded_deal_by_deal_in_the_order_each_deal_made_them(
    data: dict[str, Any],
) -> None:
    """Both engines: a replication's visits deal by deal (in the order of its deals), each
    deal's from its first visit to its last (the one still in service at the horizon last)."""
    model = compile_model(simsales.load_dict(data))
    seqs = replication_seeds(3, 0, 4)
    fast = run_block(model, seqs)
    for records in [r for r in fast if r is not None] + [run_replication(model, s) for s in seqs]:
        deal, entry = records.visit_deal, records.visit_entry
        assert (np.diff(deal) >= 0).all()
        same = deal[1:] == deal[:-1]
        assert (entry[1:][same] >= entry[:-1][same]).all()
        # a deal's visit still in service at the horizon is its last one
        open_ = np.isnan(records.visit_exit)
        assert not (open_[:-1] & same).any()


def test_a_runs_first_chunk_as_its_budget_pilot_gives_simpys_tables() -> None:
    """From PILOT_FROM replications, where the vectorized path takes them all, the budget's
    pilot is the run's first chunk (one block, joined): the run keeps it and goes on from it,
    with SimPy's tables; a joined block's table bytes are those of its replications."""
    scenario = simsales.load(MINIMAL, overrides=["resources.sales.capacity=1000"])
    model = compile_model(scenario)
    assert never_short(model) and budget.PILOT_FROM <= 700
    auto, _ = _same_tables(scenario, 700)  # chunks of 500 at most: a pilot of 350, then 350
    assert auto == {"vectorized": 700, "simpy": 0}
    seqs = replication_seeds(2, 0, 9)
    joined = run_parts(model, seqs)[0]
    assert isinstance(joined[0], BlockRecords) and len(joined) == 1
    each = run_block(model, seqs)
    assert table_bytes(joined[0]) == sum(table_bytes(r) for r in each if r is not None)
