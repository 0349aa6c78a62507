"""A deal may visit a stage tens of thousands of times (a rework loop it rarely leaves): visit
numbers must not wrap (they were int16 and went negative past 32,767)."""

from __future__ import annotations

import numpy as np

import simsales

P_STAY = 0.99999  # expected visits 1 / (1 - p) = 100,000; P(more than 32,768) = p^32768 ~ 0.72


def test_visit_numbers_count_past_32767() -> None:
    scenario = simsales.load_dict(
        {
            "name": "long loop",
            "start": "2027-01-04",
            "horizon": "2027-12-31",
            "calendar": {"continuous": True},
            "stages": [
                {"id": "loop", "duration": {"fixed": 0.0001}, "rework": {"to": "loop", "p": P_STAY}}
            ],
            "deal_types": {"a": {"value": {"fixed": 1}}},
            "pipeline": [{"id": "D", "type": "a", "stage": "loop"}],
        }
    )
    # seeds until one replication loops past 32,767 visits (each seed does with p ~ 0.72)
    for seed in range(20):
        forecast = simsales.simulate(scenario, replications=1, seed=seed, progress=False)
        visits = forecast.visits["visit"].to_numpy()
        if len(visits) > 2**15:
            break
    else:
        raise AssertionError("no replication looped past 32,767 visits in 20 seeds")
    np.testing.assert_array_equal(visits, np.arange(len(visits)))  # 0, 1, 2, ... no wrap
    assert forecast.visits["visit"].dtype == np.int32
    assert (forecast.deals["outcome"] == "won").all()  # and it did leave the loop
