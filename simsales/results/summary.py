"""Summaries of a Forecast: per live deal, for the portfolio and per pool, with 95% intervals.

Percentiles of close dates treat a deal still open at the horizon as closing "after the
horizon" (+inf); a percentile that lands there is reported as ``None`` rather than as a date.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.engine.model import Model
from simsales.i18n import period_sort_key
from simsales.results.deal_view import live_blocks
from simsales.results.records import Won, model_of, won_rows
from simsales.results.schema_version import SCHEMA_VERSION
from simsales.results.stats import (
    mean_interval,
    mean_intervals,
    percentile_interval,
    percentile_intervals,
    sorted_percentile_intervals,
    wilson,
)
from simsales.results.views import SUMMARY_HTML, SUMMARY_TABLES, view

if TYPE_CHECKING:  # Forecast.summary() calls this module
    from simsales.io.workbook import Sheet
    from simsales.results.forecast import Forecast

__all__ = [
    "CLOSE_SHARES",
    "PERCENTILES",
    "Summary",
    "period_revenue",
    "period_revenues",
    "portfolio_close_times",
    "summarize",
]

FloatArray = npt.NDArray[np.float64]
_NEGATIVE_ZERO = np.float64(-0.0).view(np.int64)  # its bits, as an integer

PERCENTILES = {"p10": 0.10, "p50": 0.50, "p80": 0.80, "p90": 0.90}
CLOSE_SHARES = {"p50": 0.50, "p80": 0.80}  # share of the live pipeline decided by a date


@dataclass
class Summary:
    """Tables a planner reads first; every estimate has ``_low``/``_high`` 95% bounds."""

    scenario: str
    seed: int
    replications: int
    currency: str
    deals: pd.DataFrame  # one row per live deal
    portfolio: pd.DataFrame  # one row per metric (won deals, revenue, margin, cost, open deals)
    periods: pd.DataFrame  # one row per period: revenue percentiles, target and its probability
    resources: pd.DataFrame  # one row per pool
    # one row per share of the live pipeline (p50, p80): when that share is decided (won/lost)
    closing: pd.DataFrame = field(default_factory=pd.DataFrame)
    # replications per engine path ({"vectorized": k, "simpy": m}); empty for older forecasts
    engine_paths: dict[str, int] = field(default_factory=dict)
    locale: str = "en"  # the scenario's language, for the CLI and notebook views
    # the first period is a stub (under half the next one's length: a start on its last days)
    stub_first: bool = False

    def to_json(self) -> dict[str, Any]:
        """The machine-readable summary of ``simsales run --json``."""

        def pct(row: dict[str, Any], prefix: str) -> dict[str, Any] | None:
            values = {k: row[f"{prefix}_{k}"] for k in PERCENTILES}
            if all(v is None for v in values.values()):
                return None
            return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}

        deals = [
            {
                "id": row["deal"],
                "win_probability": _num(row["win_probability"]),
                "close_date": pct(row, "close"),
                "win_date": pct(row, "win") if row["win_probability"] > 0 else None,
                "expected_revenue": _num(row["expected_revenue"]),
            }
            for row in self.deals.to_dict("records")  # plain dicts: no Series per row
        ]
        p = self.portfolio.set_index("metric")

        def stats_of(metric: str) -> dict[str, float | None]:
            r = p.loc[metric]
            return {k: _num(r[k]) for k in ("mean", "p10", "p50", "p90")}

        return {
            "schema_version": SCHEMA_VERSION,
            "scenario": self.scenario,
            "seed": self.seed,
            "replications": self.replications,
            "engine_paths": self.engine_paths,
            "deals": deals,
            "portfolio": {
                "won_deals": stats_of("won_deals"),
                "revenue": stats_of("revenue"),
                "revenue_by_period": [
                    {
                        "period": r["period"],
                        **{k: _num(r[k]) for k in ("mean", "p10", "p50", "p90")},
                    }
                    for r in self.periods.to_dict("records")
                ],
                "targets": [
                    {
                        "period": r["period"],
                        "target": _num(r["target"]),
                        "probability": _num(r["target_probability"]),
                    }
                    for r in self.periods.to_dict("records")
                    if not math.isnan(r["target"])
                ],
            },
            "resources": [
                {
                    "id": r["pool"],
                    "utilization": _num(r["utilization"]),
                    "mean_wait_days": _num(r["mean_wait_days"]),
                }
                for r in self.resources.to_dict("records")
            ],
        }

    def to_excel(self, path: str | Path, locale: str = "en") -> Path:
        """Write the summary as an .xlsx workbook (summary, deals, periods, pools), atomically.

        Sheet names are Chinese with ``locale="zh-CN"``; numbers stay numbers.
        """
        from simsales.io.workbook import write_workbook

        return write_workbook(path, self.sheets(), locale)

    def sheets(self) -> list[Sheet]:
        """The workbook's sheets: portfolio (summary), live deals, periods, pools, closing."""
        from simsales.io.workbook import MONEY, Sheet

        about = pd.DataFrame(
            {
                "item": ["scenario", "replications", "seed", "currency"],
                "value": [self.scenario, self.replications, self.seed, self.currency],
            }
        )
        portfolio = self.portfolio
        money = {c: MONEY for c in portfolio.columns if c != "metric"}
        sheets = [
            Sheet("summary", portfolio, money),
            Sheet("deals", self.deals),
            Sheet("periods", self.periods),
            Sheet("pools", self.resources),
        ]
        if len(self.closing):
            sheets.append(Sheet("closing", self.closing))
        return [*sheets, Sheet("about", about, {"value": "General"})]

    def tables(self, locale: str | None = None) -> dict[str, pd.DataFrame]:
        """The tables as formatted text in the scenario's language (or ``locale``): portfolio,
        deals, periods, pools (see simsales.report.tables)."""
        return cast(dict[str, pd.DataFrame], view(SUMMARY_TABLES, self, locale))

    def _repr_html_(self) -> str:
        """Tables for Jupyter: the headline first, then deals, periods and pools."""
        return cast(str, view(SUMMARY_HTML, self))


_DEAL_COLUMNS = (
    "deal",
    "name",
    "customer",
    "type",
    "stage",
    "value",
    "win_probability",
    "close_p10",
    "close_p50",
    "close_p90",
    "expected_revenue",
    "expected_margin",
    "open_probability",
)


def _esc(text: str) -> str:
    import html

    return html.escape(text)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else f


def summarize(forecast: Forecast) -> Summary:
    model = model_of(forecast)
    n = forecast.replications
    return Summary(
        scenario=model.name,
        seed=int(forecast.provenance["seed"]),
        replications=n,
        currency=model.currency,
        deals=_deals(forecast, model, n),
        portfolio=_portfolio(forecast, model, n),
        periods=_periods(forecast, model, n),
        resources=_resources(forecast, model),
        closing=_closing(forecast, model),
        engine_paths=dict(forecast.provenance.get("engine_paths", {})),
        locale=str((forecast.provenance.get("scenario") or {}).get("locale", "en")),
        stub_first=_stub_first(model),
    )


def _stub_first(model: Model) -> bool:
    spans = [t1 - max(t0, 0.0) for _, t0, t1, _ in report_periods(model)][:2]  # from the start
    return len(spans) == 2 and spans[0] < 0.5 * spans[1]


def _date(model: Model, t: float) -> date | None:
    return None if not math.isfinite(t) else model.calendar.end_date(t)


def _deals(forecast: Forecast, model: Model, n: int) -> pd.DataFrame:
    d = forecast.deals
    margin_share = np.array([t.margin for t in model.types])
    index = {deal: i for i, deal in enumerate(model.deal_ids)}
    dated: list[tuple[dict[str, Any], str, float]] = []  # dates converted at once, below

    def _later(row: dict[str, Any], key: str, t: float) -> None:
        row[key] = None
        if math.isfinite(t):
            dated.append((row, key, t))

    # each live deal's rows, in row order, deals in order of first appearance, the deals with
    # as many rows stacked into one matrix: statistics a row of it at a time, with the bits
    # of the same sample taken alone (rows sorted and reduced as a lone array is)
    _, names, blocks = live_blocks(forecast)
    is_won, is_open = (d["outcome"] == "won").to_numpy(), (d["outcome"] == "open").to_numpy()
    decision, value = d["decision_t"].to_numpy(), d["value"].to_numpy(dtype=np.float64)
    revenue, cost = d["revenue"].to_numpy(dtype=np.float64), d["cost"].to_numpy(dtype=np.float64)
    no_costs = _zero_bits(cost)
    ids = [str(deal_id) for deal_id in names]
    rows: list[dict[str, Any]] = [{} for _ in ids]
    for where, mine in blocks:
        count = mine.shape[1]
        won, still_open, decided = is_won[mine], is_open[mine], decision[mine]
        closes = np.sort(np.where(still_open, np.inf, decided), axis=1)
        # each deal's win times first (sorted), then the infinities standing for the others
        wins = np.sort(np.where(won, decided, np.inf), axis=1)
        n_won, n_open = np.count_nonzero(won, axis=1), np.count_nonzero(still_open, axis=1)
        values = value[mine].sum(axis=1) / count
        share = margin_share[model.deal_type[[index[ids[k]] for k in where]]]
        gained = revenue[mine]
        revenues = mean_intervals(gained)
        # gross margin of the won value minus the people and stage costs the deal used: the
        # revenue itself, bit for bit, at a margin of 1 without costs (x * 1.0 - 0.0 is x)
        plain = no_costs and bool((share == 1.0).all())
        margins = revenues if plain else mean_intervals(gained * share[:, None] - cost[mine])
        for j, k in enumerate(where.tolist()):
            i = index[ids[k]]
            p, p_lo, p_hi = wilson(n_won[j], count)
            row: dict[str, Any] = {
                "deal": ids[k],
                "name": model.deal_names[i],
                "customer": model.deal_customers[i],
                "type": model.types[model.deal_type[i]].name,
                "stage": model.stage_ids[model.deal_stage[i]],
                "value": float(values[j]),
                "win_probability": p,
                "win_probability_low": p_lo,
                "win_probability_high": p_hi,
            }
            close = sorted_percentile_intervals(closes[j], PERCENTILES.values())
            won_at = sorted_percentile_intervals(wins[j, : n_won[j]], PERCENTILES.values())
            for name, (est, lo, hi), (w_est, _, _) in zip(PERCENTILES, close, won_at, strict=True):
                _later(row, f"close_{name}", est)
                _later(row, f"close_{name}_low", lo)
                _later(row, f"close_{name}_high", hi)
                _later(row, f"win_{name}", w_est)  # nan without wins
            mean, lo, hi = revenues[j]
            row.update(expected_revenue=mean, expected_revenue_low=lo, expected_revenue_high=hi)
            mean, lo, hi = margins[j]
            row.update(expected_margin=mean, expected_margin_low=lo, expected_margin_high=hi)
            row["open_probability"] = float(n_open[j] / count)
            rows[k] = row
    if dated:  # one conversion for all (the same dates as _date, one by one)
        days = model.calendar.end_date(np.array([t for _, _, t in dated]))
        for (row, key, _), day in zip(dated, days, strict=True):
            row[key] = date.fromisoformat(str(day))
    out = pd.DataFrame(rows)
    return (
        out.sort_values("deal", key=lambda s: s.map(index)).reset_index(drop=True) if rows else out
    )


def per_replication(forecast: Forecast, model: Model) -> pd.DataFrame:
    """One row per replication: won deals, revenue, cost, margin, open deals."""
    totals = _whole_totals(forecast, model)
    return _grouped_totals(forecast, model) if totals is None else totals


def _whole_totals(forecast: Forecast, model: Model) -> pd.DataFrame | None:
    """:func:`_grouped_totals` from sums over each replication's run of rows, where they are
    pandas' grouped sums bit for bit: rows in replication order, every replication with rows
    (and none of others), and every money value a whole number (no NaN, no -0.0, which pandas
    keeps in a group of -0.0 alone) whose magnitudes add up to less than 2**53, so that every
    partial sum is exact in any order (and the compensation of pandas' sum is zero). None
    elsewhere."""
    deals = forecast.deals
    rep = deals["replication"].to_numpy()
    first, n = int(forecast.provenance.get("first_replication", 0)), forecast.replications
    if not len(rep) or rep[0] != first or rep[-1] != first + n - 1:
        return None
    if not (rep[1:] >= rep[:-1]).all():
        return None
    starts = np.searchsorted(rep, np.arange(first, first + n))  # each replication's first row
    if not (starts[1:] > starts[:-1]).all():
        return None
    margins = np.array([t.margin for t in model.types])
    revenue, cost = deals["revenue"].to_numpy(np.float64), deals["cost"].to_numpy(np.float64)
    # no costs at a margin of 1: the margin is the revenue, bit for bit (x * 1.0 - 0.0 is x)
    plain = _zero_bits(cost) and bool((margins == 1.0).all())
    if plain:
        money = {"revenue": revenue}
    else:  # one margin for every type (as in most scenarios): the products without a gather
        one = (margins == margins[0]).all()
        share = margins[0] if one else margins[deals["type"].cat.codes.to_numpy()]
        money = {"revenue": revenue, "cost": cost, "margin": revenue * share - cost}
    if not all(_whole(x) for x in money.values()):
        return None
    sums = {name: np.add.reduceat(x, starts) for name, x in money.items()}
    if plain:  # sums of +0.0 are +0.0, as pandas' are
        sums |= {"cost": np.zeros(n), "margin": sums["revenue"]}
    outcome = deals["outcome"]
    return pd.DataFrame(
        {
            "won_deals": np.add.reduceat((outcome == "won").to_numpy(), starts, dtype=np.int64),
            "revenue": sums["revenue"],
            "cost": sums["cost"] + model.global_cost,
            "margin": sums["margin"] - model.global_cost,
            "open_deals": np.add.reduceat((outcome == "open").to_numpy(), starts, dtype=np.int64),
        },
        index=pd.RangeIndex(first, first + n, name="replication"),
    )


def _zero_bits(x: FloatArray) -> bool:
    """Every value +0.0 (its bits all zero: not -0.0, not NaN)."""
    return not x.view(np.int64).any()


def _whole(x: FloatArray) -> bool:
    """Whole numbers (no NaN, inf or -0.0) whose magnitudes add up to less than 2**53."""
    return bool(
        np.array_equal(x, np.trunc(x))
        and not (x.view(np.int64) == _NEGATIVE_ZERO).any()
        and float(np.abs(x).sum()) < 2.0**53
    )


def _grouped_totals(forecast: Forecast, model: Model) -> pd.DataFrame:
    """:func:`per_replication` by pandas' grouped sums (compensated)."""
    deals = forecast.deals
    margin_share = np.array([t.margin for t in model.types])[deals["type"].cat.codes.to_numpy()]
    # the columns summed alone (not a copy of the whole table with them added): the same sums
    g = pd.DataFrame(
        {
            "replication": deals["replication"],
            "revenue": deals["revenue"],
            "cost": deals["cost"],
            "won": deals["outcome"] == "won",
            "open": deals["outcome"] == "open",
            "margin": deals["revenue"] * margin_share - deals["cost"],
        }
    ).groupby("replication")
    out = pd.DataFrame(
        {
            "won_deals": g["won"].sum(),
            "revenue": g["revenue"].sum(),
            "cost": g["cost"].sum() + model.global_cost,
            "margin": g["margin"].sum() - model.global_cost,
            "open_deals": g["open"].sum(),
        }
    )
    return out.reindex(
        range(
            forecast.provenance.get("first_replication", 0),
            forecast.provenance.get("first_replication", 0) + forecast.replications,
        ),
        fill_value=0,
    )


def _portfolio(forecast: Forecast, model: Model, n: int) -> pd.DataFrame:
    reps = per_replication(forecast, model)
    rows = []
    for metric in reps.columns:
        x = reps[metric].to_numpy(dtype=np.float64)
        mean, lo, hi = mean_interval(x)
        row = {"metric": metric, "mean": mean, "mean_low": lo, "mean_high": hi}
        quantiles = percentile_intervals(x, PERCENTILES.values())  # the sample sorted once
        for name, (estimate, _, _) in zip(PERCENTILES, quantiles, strict=True):
            row[name] = estimate
        rows.append(row)
    return pd.DataFrame(rows)


def period_revenue(forecast: Forecast, t0: float, t1: float) -> np.ndarray:
    """Won revenue per replication of the deals won in the period ``[t0, t1)`` (model times of
    :meth:`~simsales.scenario.calendar.WorkCalendar.period_bounds`).

    A deal counts when its reported close date (``decision_date``) falls in the period: the
    calendar's one day convention (``WorkCalendar.decided_in``), so dates and periods agree.
    """
    return period_revenues(forecast, [(t0, t1)])[0]


def period_revenues(forecast: Forecast, periods: list[tuple[float, float]]) -> list[np.ndarray]:
    """:func:`period_revenue` of each ``(t0, t1)``, the won rows found once for all (and each
    period's sums kept with them: the roll-ups ask for the same periods)."""
    won = won_rows(forecast)
    n = forecast.replications
    out = []
    for t0, t1 in periods:
        if (t0, t1) not in won.sums:
            won.sums[(t0, t1)] = _period_sums(won, t0, t1, n)
        out.append(won.sums[(t0, t1)].copy())  # the caller's own: the kept ones stay as they are
    return out


def _period_sums(won: Won, t0: float, t1: float, n: int) -> FloatArray:
    if not won.decided.count(t0, t1):  # nothing won in it (e.g. quarters after the pipeline
        return np.zeros(n)  # is decided)
    inside = won.decided.between(t0, t1)
    # a running sum per replication, in row order (the roll-ups' sums, deal_view.py)
    sums = np.bincount(won.rep[inside], weights=won.revenue[inside], minlength=n)[:n]
    return np.asarray(sums, np.float64)


def report_periods(model: Model) -> list[tuple[str, float, float, float]]:
    """Quarters inside the horizon plus every target period: (label, t0, t1, target or nan), in
    calendar order (a half or year after the quarters it holds)."""
    cal = model.calendar
    periods: dict[str, tuple[float, float, float]] = {}
    year, quarter = model.start.year, (model.start.month - 1) // 3 + 1
    while (year, quarter) <= (model.horizon.year, (model.horizon.month - 1) // 3 + 1):
        label = f"{year}Q{quarter}"
        periods[label] = (*cal.period_bounds(label), math.nan)
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    for label, t0, t1, target in model.targets:
        periods[label] = (t0, t1, target)
    return sorted(((k, *v) for k, v in periods.items()), key=lambda r: period_sort_key(r[0]))


def _periods(forecast: Forecast, model: Model, n: int) -> pd.DataFrame:
    rows = []
    periods = report_periods(model)
    revenues = period_revenues(forecast, [(t0, t1) for _, t0, t1, _ in periods])
    for (label, _, _, target), x in zip(periods, revenues, strict=True):
        mean, lo, hi = mean_interval(x)
        row: dict[str, Any] = {"period": label, "mean": mean, "mean_low": lo, "mean_high": hi}
        quantiles = sorted_percentile_intervals(np.sort(x), PERCENTILES.values())
        for name, (estimate, _, _) in zip(PERCENTILES, quantiles, strict=True):
            row[name] = estimate
        row["target"] = target
        if math.isnan(target):
            row["target_probability"] = row["target_probability_low"] = math.nan
            row["target_probability_high"] = math.nan
        else:
            p, p_lo, p_hi = wilson(float(np.sum(x >= target)), len(x))
            row.update(
                target_probability=p, target_probability_low=p_lo, target_probability_high=p_hi
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _resources(forecast: Forecast, model: Model) -> pd.DataFrame:
    pools = forecast.pools
    cost_per_day = pd.Series(model.cost_per_day, index=list(model.pool_ids))
    # people cost of each pool: person-days busy times the day rate, per replication
    cost = pools["busy_days"].to_numpy() * _pool_rates(pools["pool"], cost_per_day)
    g = pools.assign(cost=cost).groupby("pool", observed=True, sort=False)
    out = pd.DataFrame(
        {
            "utilization": g["utilization"].mean(),
            "busy_days": g["busy_days"].mean(),
            "capacity_days": g["capacity_days"].mean(),
            "requests": g["requests"].mean(),
            "mean_wait_days": g["wait_days"].sum() / g["requests"].sum().replace(0, np.nan),
        }
    )
    bounds = [mean_interval(x) for _, x in g["cost"]]
    out["cost"] = [b[0] for b in bounds]
    out["cost_low"] = [b[1] for b in bounds]
    out["cost_high"] = [b[2] for b in bounds]
    return out.reset_index()


def _pool_rates(pool: pd.Series, rates: pd.Series) -> npt.NDArray[np.float64]:
    """``rates.reindex(pool.astype(str))`` as an array: a categorical column's rates looked up
    once per category and spread by its codes (a string per row costs more than the rest of
    the resources table)."""
    if isinstance(pool.dtype, pd.CategoricalDtype):
        codes = pool.cat.codes.to_numpy()
        if len(codes) == 0 or codes.min() >= 0:  # no missing pool (its str would be "nan")
            per_category = rates.reindex(pool.cat.categories.astype(str)).to_numpy()
            return np.asarray(per_category[codes], np.float64)
    return np.asarray(rates.reindex(pool.astype(str)).to_numpy(), np.float64)


def portfolio_close_times(forecast: Forecast) -> pd.DataFrame:
    """Per replication: model time by which each share in CLOSE_SHARES of the live deals is
    decided (won or lost); ``inf`` when that happens after the horizon."""
    d = forecast.deals
    live = d["live"].to_numpy()
    rows: Any = slice(None) if live.all() else live  # the live rows' columns, not the table's
    is_open = (d["outcome"] == "open").to_numpy()[rows]
    t = np.where(is_open, np.inf, d["decision_t"].to_numpy()[rows])
    first = forecast.provenance.get("first_replication", 0)
    reps = range(first, first + forecast.replications)
    rep = d["replication"].to_numpy()[rows]
    out = pd.DataFrame(index=pd.Index(reps, name="replication"))
    grid = _per_replication_grid(t, rep, out.index.to_numpy())
    if grid is not None and not np.isnan(grid).any():
        # each row sorted once: an inverted-CDF quantile is the element at one rank, the rank
        # np.quantile picks (found on 0 .. n-1, which it returns as they are), so the same
        # elements as the per-group loop below, without a selection per share
        ordered = np.sort(grid, axis=1)
        ranks = np.arange(grid.shape[1], dtype=np.float64)
        for name, q in CLOSE_SHARES.items():
            rank = int(np.quantile(ranks, q, method="inverted_cdf"))
            out[name] = ordered[:, rank]
        return out
    if grid is not None:  # NaN in a row: np.quantile's own handling of it
        for name, q in CLOSE_SHARES.items():
            out[name] = np.quantile(grid, q, axis=1, method="inverted_cdf")
        return out
    by_rep = pd.Series(t, index=rep).groupby(level=0)
    for name, q in CLOSE_SHARES.items():
        # inverted-CDF quantile: a time at which one of the deals was actually decided
        values = by_rep.apply(lambda x, q=q: float(np.quantile(x, q, method="inverted_cdf")))
        out[name] = values.reindex(out.index)
    return out


def _per_replication_grid(
    values: np.ndarray, rep: np.ndarray, reps: np.ndarray
) -> np.ndarray | None:
    """``values`` as a (replication, deal) array when every replication in ``reps`` has
    the same number of them, else None (the caller then groups them one by one)."""
    if len(reps) == 0 or len(values) % len(reps):
        return None
    if (rep[1:] >= rep[:-1]).all():  # in replication order already (as tables are built)
        order: np.ndarray | slice = slice(None)  # the stable sort's identity permutation
        rep_sorted = rep
    else:
        order = np.argsort(rep, kind="stable")
        rep_sorted = rep[order]
    per = len(values) // len(reps)
    if per == 0 or not np.array_equal(rep_sorted[::per], reps):
        return None
    if not (rep_sorted.reshape(len(reps), per) == reps[:, None]).all():  # each row one rep
        return None
    return np.asarray(values, dtype=np.float64)[order].reshape(len(reps), per)


def _closing(forecast: Forecast, model: Model) -> pd.DataFrame:
    """The median over replications of each close time, with its 95% interval, as dates."""
    times = portfolio_close_times(forecast)
    rows = []
    for name, share in CLOSE_SHARES.items():
        est, lo, hi = percentile_interval(times[name].to_numpy(), 0.5)
        rows.append(
            {
                "share": share,
                "date": _date(model, est),
                "date_low": _date(model, lo),
                "date_high": _date(model, hi),
                "after_horizon_probability": float(np.mean(np.isinf(times[name]))),
            }
        )
    return pd.DataFrame(rows)
