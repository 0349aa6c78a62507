"""The forecasts a sales team makes without simsales, scored beside it on the same windows.

Each takes the history as it was known at the end of the as-of day and forecasts the deals won
and the revenue won in the window ``(as_of, until]``; each is a sample (so that coverage, PIT
and CRPS apply) and, where it says something per deal, a probability that the deal is won by
``until`` (for the Brier score).

- ``stage_weighted``: every open deal counts ``amount x win rate of its stage``, the stage's
  win rate being the share won of the decided deals that passed through it. It says nothing
  about *when* deals close and ignores deals not yet in the pipeline (what it is criticised
  for). Its spread: the Poisson-binomial law of independent deals.
- ``trailing_rate``: the mean of the last three months' wins (and revenue), scaled to the
  window's length. Its spread: the between-month variance of those months, scaled to the
  window as for independent months, never below Poisson (compound-Poisson for revenue) noise;
  a normal law cut at zero.
- ``crm_probability`` (when the export has the CRM's probability field): open deals the CRM
  expects to close by ``until`` (an expected close date on or before it, or none), each won
  with the CRM's probability; Poisson-binomial spread.
- ``commit`` / ``best_case`` (when the export has forecast categories): the deals in the
  commit category (commit and best case) expected to close by ``until``, as a point forecast.
  Both only when the field is known, as it stood at the origin, for at least half of the deals
  open then: an export without its history knows only today's values (a won deal's 100%),
  which the origin may not see.

The amount of an open deal is its own value when known, else the mean value of won deals of
its product, then the catalog's list price, then the mean of all won deals.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.calibrate.history import History, among

__all__ = [
    "BaselineForecast",
    "crm_baselines",
    "stage_weighted",
    "trailing_rate",
]

FloatArray = npt.NDArray[np.float64]
DRAWS = 4000
TRAILING_MONTHS = 3


@dataclass(frozen=True)
class BaselineForecast:
    name: str
    won: FloatArray  # sample of deals won in the window (one value: a point forecast)
    revenue: FloatArray  # sample of revenue won in the window
    p_deal: pd.Series | None = None  # deal id -> P(won by until); None: no per-deal view
    stage_rates: dict[str, float] = field(default_factory=dict)


def _amounts(known: History, open_deals: pd.DataFrame) -> pd.Series:
    deals = known.deals
    won = deals.loc[deals["outcome"] == "won"]
    by_product = won.groupby("product")["value"].mean()
    pooled = float(won["value"].mean()) if len(won) else math.nan
    amount = open_deals["value"].where(open_deals["value"] > 0)
    amount = amount.fillna(open_deals["product"].map(by_product))
    return amount.fillna(open_deals["product"].map(known.catalog)).fillna(pooled).fillna(0.0)


def _bernoulli(
    name: str, deals: pd.Series, p: pd.Series, amount: pd.Series, seed: int
) -> BaselineForecast:
    """Independent deals won with probabilities ``p``: the Poisson-binomial sample."""
    rng = np.random.default_rng(seed)
    pa = p.to_numpy(dtype=np.float64)
    hits = rng.random((DRAWS, len(pa))) < pa
    return BaselineForecast(
        name,
        won=hits.sum(axis=1).astype(np.float64),
        revenue=hits @ amount.to_numpy(dtype=np.float64),
        p_deal=pd.Series(pa, index=deals.to_numpy()),
    )


def stage_weighted(known: History, seed: int = 0) -> BaselineForecast:
    """The stage-weighted pipeline of ``known`` (a history cut at the as-of date)."""
    deals = known.deals
    decided = deals[deals["outcome"].isin(["won", "lost"])].set_index("deal")["outcome"]
    v = known.visits[among(known.visits["deal"], decided.index)]
    passed = v[["deal", "stage"]].drop_duplicates()
    won = passed["deal"].map(decided) == "won"
    rates_by_stage = won.groupby(passed["stage"]).mean()
    overall = float((decided == "won").mean()) if len(decided) else math.nan
    rates = {s: float(rates_by_stage.get(s, overall)) for s in known.stages}
    open_deals = known.open_deals
    p = open_deals["stage"].map(rates).astype(np.float64).fillna(0.0)
    out = _bernoulli("stage_weighted", open_deals["deal"], p, _amounts(known, open_deals), seed)
    return BaselineForecast(out.name, out.won, out.revenue, out.p_deal, rates)


def _month_edges(as_of: pd.Timestamp, months: int) -> list[pd.Timestamp]:
    """Ends of the ``months`` months before and up to ``as_of``: calendar months when the
    as-of date is a month's end, else the same day of earlier months."""
    if as_of.is_month_end:
        return [as_of - pd.offsets.MonthEnd(k) for k in range(months, 0, -1)] + [as_of]
    return [as_of - pd.DateOffset(months=k) for k in range(months, 0, -1)] + [as_of]


def trailing_rate(
    known: History, as_of: pd.Timestamp, until: pd.Timestamp, seed: int = 0
) -> BaselineForecast:
    """The last three months' mean, scaled to the window (see the module docstring).

    Months before the export's first close (when it saw nothing) are left out; with no whole
    month seen, the forecast is zero."""
    edges = _month_edges(as_of, TRAILING_MONTHS)
    day = pd.Timedelta(days=1)
    seen_from = known.observed_from.normalize()
    won = known.deals[known.deals["outcome"] == "won"]
    closed = won["closed"].dt.normalize()
    counts, revenue, lengths, values = [], [], [], []
    for lo, hi in itertools.pairwise(edges):
        if lo + day < seen_from:
            continue
        inside = (closed > lo) & (closed <= hi)
        counts.append(float(inside.sum()))
        revenue.append(float(won.loc[inside, "value"].fillna(0).sum()))
        lengths.append((hi - lo) / day)
        values.extend(won.loc[inside, "value"].fillna(0).tolist())
    window_days = (until - as_of) / day
    if not counts:
        zero = np.zeros(1)
        return BaselineForecast("trailing_rate", zero, zero.copy())
    scale = window_days / float(np.mean(lengths))  # window length in months of the mean length
    rng = np.random.default_rng(seed)
    v = np.asarray(values, dtype=np.float64)
    second_moment = float(np.mean(v**2)) if len(v) else 0.0
    mean_value = float(np.mean(v)) if len(v) else 0.0
    samples = []
    for totals, floor_per_count in ((counts, 1.0), (revenue, None)):
        m = float(np.mean(totals)) * scale
        between = float(np.var(totals, ddof=1)) * scale if len(totals) > 1 else 0.0
        noise = (
            m * floor_per_count
            if floor_per_count is not None
            else (m / mean_value * second_moment if mean_value > 0 else 0.0)
        )
        sd = math.sqrt(max(between, noise))
        samples.append(np.maximum(rng.normal(m, sd, DRAWS), 0.0))
    return BaselineForecast("trailing_rate", samples[0], samples[1])


def crm_baselines(known: History, until: pd.Timestamp, seed: int = 0) -> list[BaselineForecast]:
    """The CRM's own forecasts, for the fields the export has (see the module docstring)."""
    deals = known.deals
    out: list[BaselineForecast] = []
    open_deals = known.open_deals
    if "expected_close" in deals.columns:
        expected = pd.to_datetime(open_deals["expected_close"])
        due = ~(expected.dt.normalize() > until)  # on or before until, or no date
    else:
        due = pd.Series(True, index=open_deals.index)
    amount = _amounts(known, open_deals)

    def known_then(col: str) -> bool:
        # the CRM's field as it stood at the origin, for most of the deals open then (an
        # export without its history knows only today's values, which would score the CRM on
        # what it did not know)
        return col in deals.columns and 2 * int(open_deals[col].notna().sum()) >= len(open_deals)

    if known_then("crm_probability") and len(open_deals):
        p = open_deals["crm_probability"].astype(np.float64).clip(0.0, 1.0).fillna(0.0)
        p = p.where(due, 0.0)
        out.append(_bernoulli("crm_probability", open_deals["deal"], p, amount, seed))
    if known_then("forecast_category") and len(open_deals):
        cat = open_deals["forecast_category"].astype("string").str.lower()
        if (
            deals["forecast_category"]
            .astype("string")
            .str.lower()
            .isin(["commit", "best_case"])
            .any()
        ):
            for name, kinds in (("commit", ["commit"]), ("best_case", ["commit", "best_case"])):
                chosen = (cat.isin(kinds).fillna(False) & due).to_numpy(dtype=bool)
                out.append(
                    BaselineForecast(
                        name,
                        won=np.array([float(chosen.sum())]),
                        revenue=np.array([float(amount.to_numpy()[chosen].sum())]),
                        p_deal=pd.Series(chosen.astype(np.float64), index=open_deals["deal"]),
                    )
                )
    return out
