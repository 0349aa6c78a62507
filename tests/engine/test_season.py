"""A stage's ``won_season`` (calendar seasonality of the chance to win), against analytic truth.

Deals decide at a uniform time over the first half of 2027 (continuous calendar: model time =
days), so every calendar month holds decisions; the won share among the decisions of month m is
min(c_m p_won, p_won + p_lost) (exits form) or c_m a (simple form). Each month's share is
binomial: compared within K = 4.5 standard errors, as in test_exits.py. A scenario without
``won_season`` must give the very same tables as before the feature (same seed): checked against
all-ones factors, which take the new code path with factor 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_exits import _crn_scenario

import simsales
from simsales.errors import SimsalesError

K = 4.5
N = 6000
MOQ = (0.5, 1.0, 1.5)  # month of quarter: 1st, 2nd, 3rd


def _scenario(stage: dict[str, Any], **parts: Any) -> simsales.Scenario:
    data: dict[str, Any] = {
        "name": "season case",
        "start": "2027-01-01",
        "horizon": "2027-12-31",
        "calendar": {"continuous": True},
        "stages": [stage],
        "deal_types": {"t": {"value": {"fixed": 1.0}}},
        "pipeline": [{"id": f"D{i:05d}", "type": "t", "stage": stage["id"]} for i in range(N)],
    }
    data.update(parts)
    return simsales.load_dict(data)


def _won_share_by_month(scenario: simsales.Scenario) -> pd.DataFrame:
    d = simsales.simulate(scenario, replications=1, seed=5, progress=False).deals
    assert (d["outcome"] != "open").all()
    month = pd.DatetimeIndex(d["decision_date"]).month
    return (
        pd.DataFrame({"month": month, "won": d["outcome"] == "won"})
        .groupby("month")["won"]
        .agg(["sum", "size"])
    )


def _check(table: pd.DataFrame, truth: dict[int, float]) -> None:
    assert set(table.index) == set(truth)
    for month, row in table.iterrows():
        p = truth[int(month)]
        n = int(row["size"])
        se = math.sqrt(p * (1 - p) / n)
        diff = row["sum"] / n - p
        assert abs(diff) <= K * se, f"month {month}: won share {row['sum'] / n:.4f} vs {p:.4f}"


UNIFORM_HALF_YEAR = {"uniform": [0, 181]}  # 2027-01-01 .. 2027-06-30


def test_exits_form_won_share_follows_the_month_of_quarter() -> None:
    stage = {
        "id": "s",
        "duration": UNIFORM_HALF_YEAR,
        "exits": [{"to": "won", "p": 0.3}, {"to": "lost", "p": 0.7}],
        "won_season": {"month_of_quarter": list(MOQ)},
    }
    table = _won_share_by_month(_scenario(stage))
    _check(table, {m: min(MOQ[(m - 1) % 3] * 0.3, 1.0) for m in range(1, 7)})


def test_exits_form_factor_is_capped_at_the_decided_share() -> None:
    """c p_won above p_won + p_lost: every deciding deal is won; the advance exit keeps its
    share (a 20% advance to a second stage that always loses)."""
    stages: list[dict[str, Any]] = [
        {
            "id": "s",
            "duration": UNIFORM_HALF_YEAR,
            "exits": [{"to": "won", "p": 0.5}, {"to": "lost", "p": 0.3}, {"to": "z", "p": 0.2}],
            "won_season": {"month_of_quarter": [1.0, 1.0, 3.0]},
        },
        {"id": "z", "duration": {"fixed": 0}, "advance": 0.0},
    ]
    scenario = _scenario(stages[0], stages=stages)
    table = _won_share_by_month(scenario)
    # decisions of month m: those of stage s (won or lost, 0.8) and those of z (lost, 0.2)
    _check(table, {m: 0.8 if m % 3 == 0 else 0.5 for m in range(1, 7)})


def test_simple_form_and_month_of_year_multiply() -> None:
    year = [1.0, 1.2, 0.8, 1.0, 1.0, 0.5, *[1.0] * 6]
    stage = {
        "id": "s",
        "duration": UNIFORM_HALF_YEAR,
        "advance": 0.4,
        "won_season": {"month_of_quarter": list(MOQ), "month_of_year": year},
    }
    table = _won_share_by_month(_scenario(stage))
    _check(table, {m: 0.4 * MOQ[(m - 1) % 3] * year[m - 1] for m in range(1, 7)})


def _crn(season: dict[str, Any] | None) -> simsales.Scenario:
    """test_exits' common-random-numbers case with a rule's win factor, and ``season`` on every
    stage (the simple form's hook is checked against analytic truth above)."""
    data = _crn_scenario()
    data["rules"] = [{"id": "r", "when": "value > 2", "then": {"win_factor": 0.8}}]
    if season is not None:
        for st in data["stages"]:
            st["won_season"] = season
    return simsales.load_dict(data)


def test_factors_of_one_leave_every_table_bit_identical() -> None:
    """The seasonal hook with factor 1 changes no draw and no number: same seed, same tables."""
    plain = simsales.simulate(_crn(None), replications=8, seed=3, progress=False)
    ones = simsales.simulate(
        _crn({"month_of_quarter": [1, 1, 1], "month_of_year": [1] * 12}),
        replications=8,
        seed=3,
        progress=False,
    )
    for name in ("deals", "visits"):
        pd.testing.assert_frame_equal(getattr(plain, name), getattr(ones, name), obj=name)
    shifted = simsales.simulate(
        _crn({"month_of_quarter": [0.5, 1, 2]}), replications=8, seed=3, progress=False
    )
    assert not np.array_equal(plain.deals["outcome"], shifted.deals["outcome"])


@pytest.mark.parametrize(
    ("season", "message"),
    [
        ({}, "month_of_quarter or month_of_year"),
        ({"month_of_year": [1.0] * 11}, "month_of_year"),
        ({"month_of_quarter": [1.0, 0.0, 1.0]}, "month_of_quarter"),
    ],
)
def test_bad_won_season_is_a_located_error(season: dict[str, Any], message: str) -> None:
    stage = {"id": "s", "duration": {"fixed": 1}, "advance": 0.5, "won_season": season}
    with pytest.raises(SimsalesError, match=message):
        _scenario(stage)
