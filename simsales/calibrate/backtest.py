"""Backtests: calibrate on what was known at a past date, simulate, score against what happened.

For each origin ``o`` (an as-of date) and window ``(o, u]``:

1. calibrate on the history as known at the end of ``o`` (:meth:`History.known_at`: deals engaged
   by then, outcomes and values only of deals closed by then) and simulate to ``u``;
2. the truth is the export's deals won with a close date in ``(o, u]`` (including deals engaged
   after ``o``): their number and their revenue;
3. scores, for simsales and for the stage-weighted pipeline (:mod:`simsales.calibrate.baseline`):
   the PIT value of the truth and whether the central 80% interval held it; over several origins
   (rolling origin) the coverage of those intervals;
4. per-deal Brier scores for the deals open at ``o``:

   - ``brier`` (the headline): deals that closed by ``u``, outcome won = 1 / lost = 0. simsales'
     probability is P(won | decided by u) from the replications (the type's win rate if no
     replication decided it); the baseline's is its stage's historical win rate.
   - ``brier_all``: every deal open at ``o``, event "won by ``u``"; deals still open at ``u``
     count as 0. simsales says P(won by u); the baseline, which has no notion of timing, says its
     stage's win rate.

   simsales' per-deal probabilities are Monte Carlo estimates: their noise adds about
   ``p (1 - p) / n`` (``n`` the replications that decided the deal) to its Brier score, so use a
   few hundred replications when comparing Brier scores.

simsales' intervals hold the randomness of deals given the fitted parameters (arrivals, timing,
outcomes, values); they do not widen for parameter uncertainty (small with thousands of deals)
or for a process that changes over time, which is what the coverage over origins measures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.calibrate.baseline import Baseline, stage_weighted
from simsales.calibrate.calibrate import By, Calibration, Durations, calibrate
from simsales.calibrate.history import History
from simsales.calibrate.scores import brier, coverage, inside80, interval80, pit
from simsales.engine.runner import Executor, simulate
from simsales.errors import SimsalesError
from simsales.scenario.load import load_dict

__all__ = ["BacktestResult", "OriginResult", "backtest"]

FloatArray = npt.NDArray[np.float64]
METRICS = ("won", "revenue")
METHODS = ("simsales", "baseline")


@dataclass(frozen=True)
class OriginResult:
    as_of: date
    until: date
    actual: dict[str, float]  # metric -> truth
    samples: dict[tuple[str, str], FloatArray]  # (method, metric) -> forecast sample
    deals: pd.DataFrame  # per deal open at as_of: deal, p_sim, p_sim_decided, p_base, truth
    cumulative: pd.DataFrame  # per day: date, actual_won, actual_revenue, sim quantiles
    pipeline: int  # deals open at as_of
    calibration: Calibration = field(repr=False)
    baseline: Baseline = field(repr=False)

    def pit(self, method: str, metric: str) -> float:
        return pit(self.samples[(method, metric)], self.actual[metric])

    def inside(self, method: str, metric: str) -> bool:
        return inside80(self.samples[(method, metric)], self.actual[metric])

    def interval(self, method: str, metric: str) -> tuple[float, float]:
        return interval80(self.samples[(method, metric)])

    def brier(self, method: str, *, all_open: bool = False) -> float:
        d = self.deals if all_open else self.deals[self.deals["truth"] != "open"]
        y = (d["truth"] == "won").astype(float)
        if method == "baseline":
            return brier(d["p_base"], y)
        return brier(d["p_sim"] if all_open else d["p_sim_decided"], y)

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"as_of": str(self.as_of), "until": str(self.until),
                               "pipeline": self.pipeline}  # fmt: skip
        closed = self.deals[self.deals["truth"] != "open"]
        out["scored_deals"] = len(closed)
        for metric in METRICS:
            out[f"actual_{metric}"] = self.actual[metric]
            for method in METHODS:
                lo, hi = self.interval(method, metric)
                x = self.samples[(method, metric)]
                out[f"{method}_{metric}"] = {
                    "mean": float(np.mean(x)),
                    "p10": lo,
                    "p50": float(np.quantile(x, 0.5, method="inverted_cdf")),
                    "p90": hi,
                    "pit": self.pit(method, metric),
                    "inside80": self.inside(method, metric),
                }
        for method in METHODS:
            out[f"{method}_brier"] = self.brier(method)
            out[f"{method}_brier_all"] = self.brier(method, all_open=True)
        return out


@dataclass(frozen=True)
class BacktestResult:
    origins: tuple[OriginResult, ...]
    replications: int
    seed: int
    source: str
    by: str | None
    durations: str = "lognormal"

    def coverage(self, method: str, metric: str) -> tuple[float, float, float]:
        """Share of origins whose 80% interval held the truth, with a Wilson 95% interval."""
        return coverage([o.inside(method, metric) for o in self.origins])

    def brier(self, method: str, *, all_open: bool = False) -> float:
        """Brier score over the scored deals of every origin together."""
        parts = []
        for o in self.origins:
            d = o.deals if all_open else o.deals[o.deals["truth"] != "open"]
            y = (d["truth"] == "won").astype(float).to_numpy()
            col = "p_base" if method == "baseline" else ("p_sim" if all_open else "p_sim_decided")
            parts.append((d[col].to_numpy(), y))
        p = np.concatenate([x for x, _ in parts]) if parts else np.zeros(0)
        y = np.concatenate([y for _, y in parts]) if parts else np.zeros(0)
        return brier(p, y)

    def to_json(self) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        for method in METHODS:
            cov = {}
            for metric in METRICS:
                c, lo, hi = self.coverage(method, metric)
                pits = [o.pit(method, metric) for o in self.origins]
                cov[metric] = {"coverage80": c, "low": lo, "high": hi, "pits": pits}
            summary[method] = {
                **cov,
                "brier": self.brier(method),
                "brier_all": self.brier(method, all_open=True),
            }
        return {
            "source": self.source,
            "replications": self.replications,
            "seed": self.seed,
            "by": self.by,
            "durations": self.durations,
            "origins": [o.row() for o in self.origins],
            "summary": summary,
            "definitions": {
                "pit": "share of the forecast sample below the truth, ties counted half",
                "coverage80": "share of origins whose central 80% interval [P10, P90] held "
                "the truth",
                "brier": "deals open at as_of and closed by until; won = 1, lost = 0",
                "brier_all": "all deals open at as_of; won by until = 1 (still open counts 0)",
                "baseline": "stage-weighted pipeline: amount x stage win rate; interval from "
                "independent Bernoulli deals (Poisson-binomial)",
            },
        }


def backtest(
    history: History,
    windows: Sequence[tuple[date | str, date | str]],
    *,
    replications: int = 200,
    seed: int = 0,
    by: By | None = "product",
    durations: Durations = "lognormal",
    workers: int = 1,
    executor: Executor = "serial",
    progress: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Backtest every ``(as_of, until)`` window of ``history`` (see the module docstring)."""
    if not windows:
        raise SimsalesError("no backtest window given")
    results = []
    for k, (a, u) in enumerate(windows):
        as_of, until = pd.Timestamp(a), pd.Timestamp(u)
        if until <= as_of:
            raise SimsalesError(f"--until {until.date()} must be after --as-of {as_of.date()}")
        if until > history.snapshot:
            raise SimsalesError(
                f"window ({as_of.date()}, {until.date()}] ends after the export's last date "
                f"{history.snapshot.date()}: what happened then is unknown",
            )
        if progress is not None:
            progress(f"origin {k + 1}/{len(windows)}: as of {as_of.date()}, until {until.date()}")
        results.append(
            _origin(history, as_of, until, replications, seed + k, by, durations, workers, executor)
        )
    return BacktestResult(tuple(results), replications, seed, history.report.source, by, durations)


def _origin(
    history: History,
    as_of: pd.Timestamp,
    until: pd.Timestamp,
    replications: int,
    seed: int,
    by: By | None,
    durations: Durations,
    workers: int,
    executor: Executor,
) -> OriginResult:
    cal = calibrate(history, as_of, by=by, horizon=until, durations=durations)
    scenario = load_dict(cal.scenario(), name=f"calibrated as of {as_of.date()}")
    forecast = simulate(
        scenario, replications=replications, seed=seed, workers=workers, executor=executor,
        progress=False, precision=None,
    )  # fmt: skip
    base = stage_weighted(cal.history, seed=seed)
    # The truth, from the full export.
    d = history.deals
    in_window = (d["closed"] > as_of) & (d["closed"] <= until)
    won_now = d[in_window & (d["outcome"] == "won")]
    actual = {"won": float(len(won_now)), "revenue": float(won_now["value"].fillna(0).sum())}
    # The forecast, per replication.
    f = forecast.deals
    dec = pd.to_datetime(f["decision_date"])
    won_f = (f["outcome"] == "won") & (dec <= until)
    reps = np.arange(replications)
    sim_won = won_f.groupby(f["replication"]).sum().reindex(reps, fill_value=0)
    sim_rev = (
        f["revenue"].where(won_f, 0.0).groupby(f["replication"]).sum().reindex(reps, fill_value=0)
    )
    samples = {
        ("simsales", "won"): sim_won.to_numpy(dtype=np.float64),
        ("simsales", "revenue"): sim_rev.to_numpy(dtype=np.float64),
        ("baseline", "won"): base.won,
        ("baseline", "revenue"): base.revenue,
    }
    deals = _per_deal(cal, f, won_f, dec <= until, history, until, base)
    cumulative = _cumulative(f, won_f, dec, won_now, as_of, until, replications)
    return OriginResult(
        as_of=as_of.date(),
        until=until.date(),
        actual=actual,
        samples=samples,
        deals=deals,
        cumulative=cumulative,
        pipeline=len(cal.pipeline),
        calibration=cal,
        baseline=base,
    )


def _per_deal(
    cal: Calibration,
    f: pd.DataFrame,
    won_f: pd.Series,
    decided_f: pd.Series,
    history: History,
    until: pd.Timestamp,
    base: Baseline,
) -> pd.DataFrame:
    live = f["live"].to_numpy()
    ids = f["deal"].astype(str)[live]
    p_won = won_f[live].groupby(ids).mean()
    p_dec = decided_f[live].groupby(ids).mean()
    source = {d["id"]: d["_source"] for d in cal.pipeline}
    rate = {g.id: g.advance[cal.stages[-1].id].mean for g in cal.groups}
    types = {d["id"]: d["type"] for d in cal.pipeline}
    truth_deals = history.deals.set_index("deal")
    rows = []
    base_p = base.deals.set_index("deal")["p"]
    for sid, src in source.items():
        t = truth_deals.loc[src]
        closed = t["closed"]
        truth = t["outcome"] if pd.notna(closed) and closed <= until else "open"
        pw, pd_ = float(p_won.get(sid, 0.0)), float(p_dec.get(sid, 0.0))
        rows.append(
            {
                "deal": src,
                "type": types[sid],
                "p_sim": pw,
                "p_sim_decided": pw / pd_ if pd_ > 0 else rate[types[sid]],
                "p_decided": pd_,
                "p_base": float(base_p.get(src, math.nan)),
                "truth": truth,
            }
        )
    return pd.DataFrame(rows, columns=["deal", "type", "p_sim", "p_sim_decided", "p_decided",
                                       "p_base", "truth"])  # fmt: skip


def _cumulative(
    f: pd.DataFrame,
    won_f: pd.Series,
    dec: pd.Series,
    won_now: pd.DataFrame,
    as_of: pd.Timestamp,
    until: pd.Timestamp,
    replications: int,
) -> pd.DataFrame:
    """Cumulative won count and revenue per day: the truth and the forecast's P10/P50/P90."""
    days = pd.date_range(as_of + pd.Timedelta(days=1), until, freq="D")
    n_days = len(days)
    day_idx = ((dec[won_f] - days[0]) / pd.Timedelta(days=1)).to_numpy().astype(np.int64)
    day_idx = np.clip(day_idx, 0, n_days - 1)  # an overdue stage ends at t = 0: day one
    rep = f["replication"][won_f].to_numpy()
    counts = np.zeros((replications, n_days))
    revenue = np.zeros((replications, n_days))
    np.add.at(counts, (rep, day_idx), 1.0)
    np.add.at(revenue, (rep, day_idx), f["revenue"][won_f].to_numpy())
    counts, revenue = counts.cumsum(axis=1), revenue.cumsum(axis=1)
    truth_idx = ((won_now["closed"] - days[0]) / pd.Timedelta(days=1)).to_numpy().astype(np.int64)
    t_count = np.bincount(truth_idx, minlength=n_days).cumsum()
    t_rev = np.bincount(
        truth_idx, weights=won_now["value"].fillna(0).to_numpy(), minlength=n_days
    ).cumsum()
    out = {"date": days, "actual_won": t_count, "actual_revenue": t_rev}
    for name, arr in (("won", counts), ("revenue", revenue)):
        q = np.quantile(arr, [0.1, 0.5, 0.9], axis=0, method="inverted_cdf")
        out[f"{name}_p10"], out[f"{name}_p50"], out[f"{name}_p90"] = q
    return pd.DataFrame(out)
