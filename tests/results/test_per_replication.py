"""The portfolio's per-replication totals, bit for bit those of pandas' grouped sums (the
formulation the prefix sums stand in for, where they are exact), at the edges of either."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simsales
from simsales.results.summary import _grouped_totals, per_replication

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    for column in ("revenue", "cost", "margin"):  # -0.0 and 0.0 compare equal: their bits too
        assert got[column].to_numpy().tobytes() == want[column].to_numpy().tobytes(), column


@pytest.mark.parametrize("name", ["benchmark-200", "enterprise-it", "zh-system-integration"])
def test_totals_are_pandas_grouped_sums(name: str) -> None:
    # benchmark-200's money is whole and costs nothing (the revenue's sums); the others' is
    # not whole (pandas' own)
    forecast = simsales.simulate(SCENARIOS / f"{name}.yaml", 30, 3, progress=False)
    assert forecast.model is not None
    _same(per_replication(forecast, forecast.model), _grouped_totals(forecast, forecast.model))


@pytest.mark.parametrize(
    "change",
    [
        "negative zero",
        "nan",
        "huge",
        "fractions",
        "gap and strays",
        "first replication",
        "shuffled",
        "whole costs",
        "fractional costs",
    ],
)
def test_totals_are_pandas_grouped_sums_at_the_edges(change: str) -> None:
    forecast = simsales.simulate(SCENARIOS / "benchmark-200.yaml", 12, 5, progress=False)
    assert forecast.model is not None
    deals = forecast.deals.copy()
    revenue = deals["revenue"].to_numpy().copy()
    provenance = dict(forecast.provenance)
    rep = deals["replication"].to_numpy()
    if change == "negative zero":  # a replication whose revenue is -0.0 on every row
        revenue[(revenue == 0) | (rep == 5)] = -0.0
    elif change == "nan":
        revenue[::5] = np.nan
    elif change == "huge":  # whole numbers whose sums round: 2**53 + 1 is no float
        revenue[:] = np.where(np.r_[True, rep[1:] != rep[:-1]], 2.0**53, 1.0)
    elif change == "fractions":  # sums whose rounding depends on the order
        revenue[:] = np.random.default_rng(2).random(len(revenue)) * 1e5
    elif change == "gap and strays":  # replication 3 has no rows; rows of a replication 99
        deals = deals[rep != 3].copy()
        deals.loc[deals.index[:7], "replication"] = 99
        revenue = revenue[rep != 3]
    elif change in ("whole costs", "fractional costs"):  # a margin that is not the revenue
        step = 100.0 if change == "whole costs" else 0.3
        deals["cost"] = (np.arange(len(deals)) % 7) * step
    elif change == "shuffled":  # rows out of replication order
        order = np.random.default_rng(1).permutation(len(deals))
        deals, revenue = deals.iloc[order].reset_index(drop=True), revenue[order]
    else:
        deals["replication"] = rep + 40
        provenance["first_replication"] = 40
    deals["revenue"] = revenue
    changed = dataclasses.replace(forecast, deals=deals, provenance=provenance)
    _same(per_replication(changed, forecast.model), _grouped_totals(changed, forecast.model))
