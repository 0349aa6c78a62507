"""Arriving deals become processes when they arrive, at their exact arrival times."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import simsales

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_arriving_deals_enter_at_their_arrival_time_exactly() -> None:
    """A deal that arrives at t enters its first stage at t bit for bit: its start is not a
    delay from the previous arrival (which rounding can put an ulp off)."""
    forecast = simsales.simulate(
        SCENARIOS / "enterprise-it.yaml", replications=20, seed=20260101, progress=False
    )
    deals = forecast.deals[~forecast.deals["live"]]
    first = forecast.visits.groupby(["replication", "deal"], observed=True)["entry_t"].min()
    merged = first.reset_index().merge(deals, on=["replication", "deal"])
    assert len(merged) > 200
    np.testing.assert_array_equal(merged["entry_t"].to_numpy(), merged["arrival_t"].to_numpy())
