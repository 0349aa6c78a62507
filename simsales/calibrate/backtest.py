"""Backtests: calibrate on what was known at a past date, simulate, score against what happened.

For each origin ``o`` (an as-of date) and window ``(o, u]``:

1. calibrate on the history as known at the end of ``o`` (:meth:`History.known_at`) and
   simulate from the day after ``o`` to ``u``;
2. the truth is the export's deals won on a calendar day in the window: after the as-of day
   (which the calibration saw) and up to and including the last day ``u``, whatever the time
   of day on timestamped exports. Days are the export's local calendar days, which are the
   calibrated scenario's days;
3. the same window is forecast by the baselines of :mod:`simsales.calibrate.baseline`
   (stage-weighted pipeline, trailing three-month rate, and the CRM's probability and forecast
   categories when the export has them);
4. scores per forecast (see :mod:`simsales.calibrate.scores`), over all origins:

   - ``coverage_won`` / ``coverage_revenue``: share of windows whose central 80% interval
     [P10, P90] held the truth;
   - ``crps_won`` / ``crps_revenue``: mean fair sample CRPS (absolute error for a point forecast);
   - ``mae_won`` / ``mae_revenue``: mean absolute error of the P50 (the median is the point
     forecast that minimises absolute error);
   - ``bias_won``: mean of (forecast mean - truth) in deals won;
   - ``brier``: per deal open at the origin, event "won by the window's end" (lost or still
     open count 0), pooled over origins; simsales' probability is the share of replications
     that won the deal by then, and its score the fair Brier score (scores.py): the Monte
     Carlo noise of those shares, ``p (1 - p) / n`` on average with ``n`` replications, is
     taken out, so that it scores the model's probabilities and not the replication count.
     ``None`` for forecasts without a per-deal view (trailing rate).

Rolling origins: :func:`rolling_windows` gives origins every month (or ``N`` days / weeks /
months) from one date to another, each with a window of a fixed span (``2M``, ``60D``, ``8W``).
Of several origins, one whose history cannot be calibrated yet (a stage no visit has left
three times by then) is skipped and said, with why (``skipped``); if none can be, that is an
error.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.calibrate.baseline import (
    BaselineForecast,
    crm_baselines,
    stage_weighted,
    trailing_rate,
)
from simsales.calibrate.calibrate import SHORT_HISTORY, By, Calibration, Durations, calibrate
from simsales.calibrate.history import History
from simsales.calibrate.scores import (
    brier,
    coverage,
    crps,
    inside80,
    interval80,
    pit,
    pit_histogram,
)
from simsales.engine.options import Executor, RunOptions
from simsales.errors import SimsalesError
from simsales.results.schema_version import SCHEMA_VERSION
from simsales.results.simulation import simulate_scenario
from simsales.scenario.load import load_dict

__all__ = [
    "BacktestResult",
    "OriginResult",
    "backtest",
    "default_windows",
    "parse_span",
    "rolling_windows",
    "window_truth",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
METRICS = ("won", "revenue")
SCORES = ("coverage_won", "coverage_revenue", "crps_won", "crps_revenue", "mae_won",
          "mae_revenue", "bias_won", "brier")  # fmt: skip
LABELS = {
    "simsales": "simsales (calibrated)",
    "stage_weighted": "stage-weighted pipeline",
    "trailing_rate": "trailing three-month rate",
    "crm_probability": "CRM probability x amount",
    "commit": "CRM commit",
    "best_case": "CRM commit + best case",
}
_SPAN = re.compile(r"^\s*(\d+)\s*([DWMQ])\s*$", re.IGNORECASE)


def parse_span(text: str) -> pd.DateOffset:
    """A span such as ``2M`` (months), ``1Q`` (quarters), ``8W`` (weeks) or ``60D`` (days);
    ``month`` / ``week`` / ``day`` / ``quarter`` mean one of them."""
    words = {"month": "1M", "week": "1W", "day": "1D", "quarter": "1Q"}
    m = _SPAN.match(words.get(text.strip().lower(), text))
    if m is None or int(m.group(1)) == 0:
        raise SimsalesError(
            f"{text!r} is not a span: write e.g. 2M (months), 1Q, 8W (weeks), 60D (days) or month"
        )
    n, unit = int(m.group(1)), m.group(2).upper()
    if unit == "D":
        return pd.DateOffset(days=n)
    if unit == "W":
        return pd.DateOffset(weeks=n)
    return pd.DateOffset(months=n * (3 if unit == "Q" else 1))


def _add(d: pd.Timestamp, span: pd.DateOffset, k: int = 1) -> pd.Timestamp:
    """``d`` plus ``k`` spans; a month's end stays a month's end when the span is in months."""
    months = span.kwds.get("months", 0)
    if months and d.is_month_end:
        return d + pd.offsets.MonthEnd(months * k)
    out: pd.Timestamp = d + span * k
    return out


def rolling_windows(
    start: date | str, end: date | str, every: str = "month", window: str = "2M"
) -> list[tuple[date, date]]:
    """Origins from ``start`` to ``end`` (both included) every ``every``, each with the window
    ``(origin, origin + window]``."""
    a, b = pd.Timestamp(start), pd.Timestamp(end)
    if b < a:
        raise SimsalesError(f"--to {b.date()} is before --from {a.date()}")
    step, span = parse_span(every), parse_span(window)
    out = []
    k = 0
    while (o := _add(a, step, k)) <= b:
        out.append((o.date(), _add(o, span).date()))
        k += 1
    return out


DEFAULT_ORIGINS = 6  # month-end origins of a backtest that names none


def default_windows(history: History, window: str = "2M") -> list[tuple[date, date]]:
    """The windows of a backtest that names no origin: the last ``DEFAULT_ORIGINS`` month ends
    whose windows end by the export's last date, each with three whole months of decisions
    before it (the drift needs them; fewer when the history is shorter, at least one origin)."""
    snapshot = history.snapshot.normalize()
    span = parse_span(window)
    last = (snapshot + pd.Timedelta(days=1) - pd.offsets.MonthEnd(1)).normalize()
    while _add(last, span) > snapshot:
        last = (last - pd.offsets.MonthEnd(1)).normalize()
    first_close = history.deals["closed"].min()
    if pd.isna(first_close) or last <= first_close:
        raise SimsalesError(
            f"no month end before {snapshot.date()} has a {window} window inside the export "
            "after its first close: give --as-of and --until, or --window shorter"
        )
    whole = first_close.normalize()  # the first whole month of decisions begins here
    if whole.day != 1:
        whole = whole + pd.offsets.MonthBegin(1)
    earliest = (whole + pd.offsets.MonthEnd(3)).normalize()  # after three whole months
    first = max((last - pd.offsets.MonthEnd(DEFAULT_ORIGINS - 1)).normalize(), min(earliest, last))
    return rolling_windows(first.date(), last.date(), "month", window)


def window_truth(history: History, as_of: date | str, until: date | str) -> pd.DataFrame:
    """The deals won on a calendar day in ``(as_of, until]`` (see the module docstring)."""
    d = history.deals
    day = d["closed"].dt.normalize()
    inside = (day > pd.Timestamp(as_of)) & (day <= pd.Timestamp(until))
    return d[inside & (d["outcome"] == "won")]


@dataclass(frozen=True)
class OriginResult:
    as_of: date
    until: date
    actual: dict[str, float]  # metric -> truth
    samples: dict[tuple[str, str], FloatArray]  # (forecast, metric) -> sample
    deals: pd.DataFrame  # per deal open at as_of: deal, truth, p_<forecast> ...
    cumulative: pd.DataFrame  # per day: date, actual_won, actual_revenue, simsales quantiles
    pipeline: int  # deals open at as_of
    calibration: Calibration = field(repr=False)
    baselines: tuple[BaselineForecast, ...] = field(repr=False, default=())

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.samples))

    def pit(self, name: str, metric: str) -> float:
        return pit(self.samples[(name, metric)], self.actual[metric])

    def inside(self, name: str, metric: str) -> bool:
        return inside80(self.samples[(name, metric)], self.actual[metric])

    def interval(self, name: str, metric: str) -> tuple[float, float]:
        return interval80(self.samples[(name, metric)])

    def crps(self, name: str, metric: str) -> float:
        return crps(self.samples[(name, metric)], self.actual[metric])

    def quantiles(self, name: str, metric: str) -> dict[str, float]:
        x = self.samples[(name, metric)]
        p10, p50, p90 = np.quantile(x, [0.1, 0.5, 0.9], method="inverted_cdf")
        return {"mean": float(np.mean(x)), "p10": float(p10), "p50": float(p50),
                "p90": float(p90)}  # fmt: skip

    @property
    def short_history(self) -> bool:
        """Whether the calibration had too few months of decisions to measure how the chance
        to win drifts from month to month (its intervals then leave that out)."""
        return any(i.rule == SHORT_HISTORY for i in self.calibration.history.report.issues)

    def row(self) -> dict[str, Any]:
        return {
            "as_of": str(self.as_of),
            "until": str(self.until),
            "actual": dict(self.actual),
            "forecasts": {
                name: {metric: self.quantiles(name, metric) for metric in METRICS}
                for name in self.names
            },
        }


@dataclass(frozen=True)
class BacktestResult:
    origins: tuple[OriginResult, ...]
    replications: int
    seed: int
    source: str
    by: str | None
    durations: str = "lognormal"
    skipped: tuple[tuple[date, date, str], ...] = ()  # (as of, until, why) not calibrated

    @property
    def names(self) -> list[str]:
        """Forecasts scored at every origin, simsales first."""
        common = [n for n in self.origins[0].names if all(n in o.names for o in self.origins)]
        return common

    def coverage(self, name: str, metric: str) -> tuple[float, float, float]:
        """Share of origins whose 80% interval held the truth, with a Wilson 95% interval."""
        return coverage([o.inside(name, metric) for o in self.origins])

    def pits(self, name: str, metric: str) -> list[float]:
        return [o.pit(name, metric) for o in self.origins]

    def pit_histogram(self, name: str, metric: str) -> list[int]:
        return pit_histogram(self.pits(name, metric))

    def brier(self, name: str) -> float | None:
        """Brier score of "won by the window's end" over the open deals of every origin."""
        col = f"p_{name}"
        if any(col not in o.deals.columns for o in self.origins):
            return None
        p = np.concatenate([o.deals[col].to_numpy(dtype=np.float64) for o in self.origins])
        y = np.concatenate([(o.deals["truth"] == "won").to_numpy(float) for o in self.origins])
        ok = np.isfinite(p)
        members = self.replications if name == "simsales" else None  # shares of replications
        return brier(p[ok], y[ok], members) if ok.any() else None

    def scores(self, name: str) -> dict[str, float | None]:
        def mean(values: list[float]) -> float:
            return float(np.mean(values)) if values else math.nan

        o = self.origins
        return {
            "coverage_won": self.coverage(name, "won")[0],
            "coverage_revenue": self.coverage(name, "revenue")[0],
            "crps_won": mean([x.crps(name, "won") for x in o]),
            "crps_revenue": mean([x.crps(name, "revenue") for x in o]),
            "mae_won": mean([abs(x.quantiles(name, "won")["p50"] - x.actual["won"]) for x in o]),
            "mae_revenue": mean(
                [abs(x.quantiles(name, "revenue")["p50"] - x.actual["revenue"]) for x in o]
            ),
            "bias_won": mean([x.quantiles(name, "won")["mean"] - x.actual["won"] for x in o]),
            "brier": self.brier(name),
        }

    def within(self, name: str, tolerance: float = 0.1) -> float:
        """Share of windows whose P50 revenue is within ``tolerance`` (relative) of the truth."""
        hits = [
            abs(x.quantiles(name, "revenue")["p50"] - x.actual["revenue"])
            <= tolerance * abs(x.actual["revenue"])
            for x in self.origins
        ]
        return float(np.mean(hits)) if hits else math.nan

    def to_json(self) -> dict[str, Any]:
        """``{"origins": [...], "scores": {forecast: {...}}, "skipped": [...]}`` (see the module
        docstring)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "origins": [o.row() for o in self.origins],
            "scores": {name: self.scores(name) for name in self.names},
            "skipped": [
                {"as_of": str(a), "until": str(u), "reason": why} for a, u, why in self.skipped
            ],
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
) -> BacktestResult:
    """Backtest every ``(as_of, until)`` window of ``history`` (see the module docstring).

    Each origin is announced on the ``simsales`` logger (INFO)."""
    if not windows:
        raise SimsalesError("no backtest window given")
    run = RunOptions(replications, seed, workers, executor)
    spans = [(pd.Timestamp(a), pd.Timestamp(u)) for a, u in windows]
    for as_of, until in spans:  # every window checked before the first is computed
        if until <= as_of:
            raise SimsalesError(f"--until {until.date()} must be after --as-of {as_of.date()}")
    late = [(a, u) for a, u in spans if u > history.snapshot]
    if late:
        fit = [a for a, u in spans if u <= history.snapshot]
        last = f"; the last origin whose window fits is {max(fit).date()}" if fit else ""
        raise SimsalesError(
            f"{len(late)} of {len(spans)} windows end after the export's last date "
            f"{history.snapshot.date()} (the first: ({late[0][0].date()}, {late[0][1].date()}]): "
            f"what happened then is unknown{last} (if the export was taken later than its last "
            "date, say when with --exported)",
        )
    results, skipped = [], []
    for k, (as_of, until) in enumerate(spans):
        log.info(
            "origin %d/%d: as of %s, until %s", k + 1, len(windows), as_of.date(), until.date()
        )
        # the scenario needs a horizon after its start (the day after as-of): a one-day window
        # is simulated a day longer and counted to its end
        horizon = max(until, as_of + pd.Timedelta(days=2))
        try:
            cal = calibrate(history, as_of, by=by, horizon=horizon, durations=durations)
        except SimsalesError as exc:
            if len(spans) == 1:
                raise
            log.warning("origin %s skipped: %s", as_of.date(), exc)
            skipped.append((as_of.date(), until.date(), str(exc)))
            continue
        results.append(_origin(cal, history, as_of, until, run.replace(seed=seed + k)))
    if not results:
        a, _, why = skipped[-1]
        raise SimsalesError(
            f"no origin of the backtest could be calibrated on what was known then (the last, "
            f"as of {a}: {why}): choose later origins (--from, --origins), or export a "
            "longer history"
        )
    return BacktestResult(
        tuple(results), replications, seed, history.report.source, by, durations, tuple(skipped)
    )


def _origin(
    cal: Calibration,
    history: History,
    as_of: pd.Timestamp,
    until: pd.Timestamp,
    run: RunOptions,
) -> OriginResult:
    scenario = load_dict(cal.scenario(), name=f"calibrated as of {as_of.date()}")
    forecast = simulate_scenario(scenario, run, precision=None)
    seed, replications = run.seed, run.replications
    assert seed is not None and replications is not None
    known = cal.history
    baselines = (
        stage_weighted(known, seed=seed),
        trailing_rate(known, as_of, until, seed=seed),
        *crm_baselines(known, until, seed=seed),
    )
    won_now = window_truth(history, as_of, until)
    actual = {"won": float(len(won_now)), "revenue": float(won_now["value"].fillna(0).sum())}
    f = forecast.deals
    dec = pd.to_datetime(f["decision_date"])
    won_f = (f["outcome"] == "won") & (dec <= until)
    reps = np.arange(replications)
    sim_won = won_f.groupby(f["replication"]).sum().reindex(reps, fill_value=0)
    sim_rev = (
        f["revenue"].where(won_f, 0.0).groupby(f["replication"]).sum().reindex(reps, fill_value=0)
    )
    samples: dict[tuple[str, str], FloatArray] = {
        ("simsales", "won"): sim_won.to_numpy(dtype=np.float64),
        ("simsales", "revenue"): sim_rev.to_numpy(dtype=np.float64),
    }
    for b in baselines:
        samples[(b.name, "won")] = b.won
        samples[(b.name, "revenue")] = b.revenue
    deals = _per_deal(cal, f, won_f, history, until, baselines)
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
        baselines=baselines,
    )


def _per_deal(
    cal: Calibration,
    f: pd.DataFrame,
    won_f: pd.Series,
    history: History,
    until: pd.Timestamp,
    baselines: Sequence[BaselineForecast],
) -> pd.DataFrame:
    """Per deal open at as-of: won by ``until`` or not, and each forecast's probability."""
    live = f["live"].to_numpy()
    p_won = _mean_by_deal(f["deal"], won_f, live)
    sources = pd.Index([d["_source"] for d in cal.pipeline])
    truth = history.deals.set_index("deal").reindex(sources)
    won = (truth["outcome"] == "won") & (truth["closed"].dt.normalize() <= until)
    out = pd.DataFrame(
        {
            "deal": list(sources),
            "truth": np.where(won.to_numpy(), "won", "not won"),
            "p_simsales": p_won.reindex([d["id"] for d in cal.pipeline], fill_value=0.0).to_numpy(
                dtype=np.float64
            ),
        }
    )
    for b in baselines:
        if b.p_deal is not None:
            p = b.p_deal.reindex(sources, fill_value=0.0)
            out[f"p_{b.name}"] = p.to_numpy(dtype=np.float64)
    return out


def _mean_by_deal(deal: pd.Series, won_f: pd.Series, live: npt.NDArray[np.bool_]) -> pd.Series:
    """The share of replications each live deal is won in, by its id as a string. The ids are
    categorical: grouped by their codes, not turned into strings row by row (a large share of
    a backtest's time otherwise), when that gives the same groups."""
    if isinstance(deal.dtype, pd.CategoricalDtype):
        codes = deal.cat.codes.to_numpy()[live]
        names = deal.cat.categories.astype(str)
        if names.is_unique and (len(codes) == 0 or codes.min() >= 0):
            p = won_f[live].groupby(codes).mean()
            return pd.Series(p.to_numpy(), index=names[p.index.to_numpy()])
    return won_f[live].groupby(deal.astype(str)[live]).mean()


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
    truth_day = won_now["closed"].dt.normalize()
    truth_idx = ((truth_day - days[0]) / pd.Timedelta(days=1)).to_numpy().astype(np.int64)
    t_count = np.bincount(truth_idx, minlength=n_days).cumsum()
    t_rev = np.bincount(
        truth_idx, weights=won_now["value"].fillna(0).to_numpy(), minlength=n_days
    ).cumsum()
    out = {"date": days, "actual_won": t_count, "actual_revenue": t_rev}
    for name, arr in (("won", counts), ("revenue", revenue)):
        q = np.quantile(arr, [0.1, 0.5, 0.9], axis=0, method="inverted_cdf")
        out[f"{name}_p10"], out[f"{name}_p50"], out[f"{name}_p90"] = q
    return pd.DataFrame(out)
