"""Property tests over randomly generated valid scenarios (hypothesis).

Whatever the scenario — pools, multi-pool needs, rework, competing exits, parameter
uncertainty, skipped stages, live deals part-way
through a stage, arrivals, deal/global/resource risks, rules, calendars — every run keeps the
invariants of engine_checks (capacity, time order, outcomes, revenue), and the same seed gives
the same tables.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from engine_checks import check_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simsales

DISTRIBUTIONS = st.one_of(
    st.builds(lambda a: {"fixed": a}, st.integers(1, 10)),
    st.builds(lambda a, w: {"uniform": [a, a + w]}, st.integers(1, 8), st.integers(1, 8)),
    st.builds(
        lambda a, b, c: {"triangular": [a, a + b, a + b + c]},
        st.integers(0, 5),
        st.integers(1, 5),
        st.integers(1, 10),
    ),
    st.builds(lambda a, b: {"pert": [a, a + b, a + 3 * b]}, st.integers(1, 5), st.integers(1, 5)),
    st.builds(lambda m: {"exponential": {"mean": m}}, st.integers(1, 10)),
    st.builds(lambda m: {"lognormal": {"p50": m, "p90": 2 * m}}, st.integers(2, 10)),
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    pools = [f"p{i}" for i in range(draw(st.integers(1, 3)))]
    capacity = {p: draw(st.integers(1, 3)) for p in pools}
    n_stages = draw(st.integers(1, 4))
    stages = []
    for i in range(n_stages):
        needed = draw(st.lists(st.sampled_from(pools), max_size=2, unique=True))
        stage: dict[str, Any] = {
            "id": f"s{i}",
            "duration": draw(DISTRIBUTIONS),
            "needs": {p: draw(st.integers(1, capacity[p])) for p in needed},
            "advance": draw(st.sampled_from([1.0, 0.9, 0.7, 0.5])),
        }
        if i > 0 and draw(st.booleans()):
            stage["rework"] = {
                "to": f"s{draw(st.integers(0, i))}",
                "p": draw(st.sampled_from([0.1, 0.3])),
            }
        stages.append(stage)
    types: dict[str, Any] = {"a": {"value": {"uniform": [1000, 5000]}}}
    if n_stages > 1 and draw(st.booleans()):
        types["b"] = {"value": {"fixed": 2500}, "skip": [f"s{n_stages - 1}"]}
    deals = []
    for k in range(draw(st.integers(1, 8))):
        t = draw(st.sampled_from(sorted(types)))
        allowed = [s["id"] for s in stages if s["id"] not in types[t].get("skip", [])]
        deals.append(
            {
                "id": f"D{k}",
                "type": t,
                "stage": draw(st.sampled_from(allowed)),
                "days_in_stage": draw(st.sampled_from([0, 0, 1, 3.5])),
            }
        )
    data: dict[str, Any] = {
        "name": "random",
        "start": "2027-01-04",
        "horizon": draw(st.sampled_from(["2027-03-31", "2027-09-30"])),
        "calendar": draw(st.sampled_from([{"continuous": True}, {}, {"holidays": "CN"}])),
        "resources": {p: {"capacity": c, "cost_per_day": 100} for p, c in capacity.items()},
        "queue_discipline": {
            "priority": draw(st.sampled_from(["fifo", "expected_value", "earliest_target"]))
        },
        "stages": stages,
        "deal_types": types,
        "pipeline": deals,
    }
    if draw(st.booleans()):
        data["arrivals"] = [{"type": "a", "per_month": draw(st.sampled_from([0.5, 2.0, 5.0]))}]
    risks = []
    if draw(st.booleans()):
        risks.append(
            {
                "id": "r_deal",
                "scope": "deal",
                "p": 0.3,
                "impact": {"delay": {"uniform": [1, 5]}, "win_factor": 0.8},
            }
        )
    if draw(st.booleans()):
        risks.append(
            {
                "id": "r_global",
                "scope": "global",
                "p": 0.5,
                "impact": {"delay": {"fixed": 3}, "lost": draw(st.booleans())},
            }
        )
    if draw(st.booleans()):
        pool = draw(st.sampled_from(pools))
        risks.append(
            {
                "id": "r_pool",
                "scope": "resource",
                "p": 0.5,
                "resource": pool,
                "impact": {"capacity": -1, "duration": {"uniform": [5, 20]}},
            }
        )
    data["risks"] = risks
    if draw(st.booleans()):
        data["rules"] = [{"id": "slow", "when": "waited_days > 2", "then": {"delay": {"fixed": 1}}}]
    if draw(st.booleans()):  # one stage with competing exits, and parameter uncertainty
        j = draw(st.integers(0, n_stages - 1))
        stage = stages[j]
        stage.pop("advance"), stage.pop("rework", None)
        ahead = draw(st.integers(j + 1, n_stages))  # a later stage (maybe a skip), or won
        stage["exits"] = [
            {
                "to": f"s{ahead}" if ahead < n_stages else "won",
                "p": 0.6,
                "after": draw(DISTRIBUTIONS),
            },
            {"to": "lost", "p": 0.25, "after": {"exponential": {"mean": draw(st.integers(1, 9))}}},
            {"to": f"s{draw(st.integers(0, j))}", "p": 0.1},
            {"to": "won", "p": 0.05, "after": {"fixed": 0}},
        ]
        data["uncertainty"] = {"win_odds": {"lognormal": {"mean": 1, "sd": 0.3}}}
    return data


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=scenarios())
def test_random_scenarios_keep_every_invariant(data: dict[str, Any]) -> None:
    scenario = simsales.load_dict(data)
    forecast = simsales.simulate(scenario, replications=3, seed=11, progress=False)
    check_all(forecast)
    again = simsales.simulate(scenario, replications=3, seed=11, progress=False)
    for name in ("deals", "visits", "pools", "risks"):
        pd.testing.assert_frame_equal(getattr(forecast, name), getattr(again, name), obj=name)
