"""The naive forecast a CRM gives: the stage-weighted pipeline.

Each open deal counts ``amount x win rate of its stage``, where the stage's win rate is the share
of the deals that passed through that stage, and were decided by the as-of date, that were won.
The amount is the deal's own value when the export has one, else the mean value of won deals of
its product (then the catalog's list price, then the mean of all won deals).

It says nothing about *when* deals close and ignores deals not yet in the pipeline, which is
what it is usually criticised for. Its spread, for interval scores, is the Poisson-binomial law
of independent deals, each won with its stage's rate, sampled with a seeded generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.calibrate.history import History

__all__ = ["Baseline", "stage_weighted"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Baseline:
    deals: pd.DataFrame  # deal, stage, p (stage win rate), amount
    stage_rates: dict[str, float]
    won: FloatArray  # sampled won counts (Poisson-binomial)
    revenue: FloatArray  # sampled won revenue

    @property
    def expected_won(self) -> float:
        return float(self.deals["p"].sum())

    @property
    def expected_revenue(self) -> float:
        return float((self.deals["p"] * self.deals["amount"]).sum())


def stage_weighted(known: History, draws: int = 4000, seed: int = 0) -> Baseline:
    """The stage-weighted pipeline of ``known`` (a history cut at the as-of date)."""
    deals = known.deals
    decided = deals[deals["outcome"].isin(["won", "lost"])].set_index("deal")["outcome"]
    v = known.visits[known.visits["deal"].isin(decided.index)]
    passed = v[["deal", "stage"]].drop_duplicates()
    won = passed["deal"].map(decided) == "won"
    rates_by_stage = won.groupby(passed["stage"]).mean()
    overall = float((decided == "won").mean()) if len(decided) else math.nan
    rates = {s: float(rates_by_stage.get(s, overall)) for s in known.stages}
    open_deals = known.open_deals
    won_values = deals.loc[deals["outcome"] == "won"].groupby("product")["value"].mean()
    pooled = float(deals.loc[deals["outcome"] == "won", "value"].mean())
    amount = open_deals["value"].where(open_deals["value"] > 0)
    amount = amount.fillna(open_deals["product"].map(won_values))
    amount = amount.fillna(open_deals["product"].map(known.catalog)).fillna(pooled).fillna(0.0)
    table = pd.DataFrame(
        {
            "deal": open_deals["deal"].to_numpy(),
            "stage": open_deals["stage"].to_numpy(),
            "p": open_deals["stage"].map(rates).to_numpy(dtype=np.float64),
            "amount": amount.to_numpy(dtype=np.float64),
        }
    )
    rng = np.random.default_rng(seed)
    hits = rng.random((draws, len(table))) < table["p"].to_numpy()
    return Baseline(
        deals=table,
        stage_rates=rates,
        won=hits.sum(axis=1).astype(np.float64),
        revenue=hits @ table["amount"].to_numpy(),
    )
