"""Roll-ups of a forecast by a deal attribute (owner, team, type, region, customer, stage).

For each group: its live deals, the expected number of wins (live and new deals of the group)
and the revenue it wins in each period, per replication, with 95% intervals; where the scenario
gives quotas for the group (``targets.owners`` / ``targets.teams``), P(the group's revenue in
the period reaches its quota) with its Wilson interval. New deals (arrivals) have a type but no
owner, team, region or customer: they roll up as "(unassigned)" there.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.results.categories import forecast_categories
from simsales.results.deal_view import (
    UNASSIGNED,
    Sparse,
    attribute_codes,
    deal_attributes,
    factorized_groups,
    factorized_values,
    replication_sums,
    scenario_of,
)
from simsales.results.records import model_of, won_rows
from simsales.results.stats import mean_interval, wilson
from simsales.results.summary import period_revenues, report_periods
from simsales.scenario.schema import Scenario

if TYPE_CHECKING:  # only in annotations: forecast.py calls this module
    from simsales.results.forecast import Forecast

__all__ = ["JSON_BY", "portfolio_views", "rollup"]

JSON_BY = ("owner", "team", "type", "region")  # the roll-ups of ``simsales run --json``
_QUOTAS = {"owner": "owners", "team": "teams"}
Known = dict[tuple[float, float], Sparse]  # each period's won rows and their revenue


def rollup(
    forecast: Forecast,
    by: str,
    scenario: Scenario | None = None,
    periods: list[str] | None = None,
    *,
    revenue_in: Known | None = None,
) -> pd.DataFrame:
    """One row per group x period: ``group``, ``period``, ``deals`` (live), ``wins`` (+ _low/
    _high), ``revenue`` (+ _low/_high), ``quota`` and ``quota_probability`` (+ _low/_high; nan
    without a quota). ``periods``: labels (default: the quarters and target periods).
    ``revenue_in``: the won rows and their revenue in each period (t0, t1) already worked out
    for this forecast, filled as it goes (roll-ups by several attributes share it)."""
    revenue_in = {} if revenue_in is None else revenue_in
    scenario = scenario_of(forecast) if scenario is None else scenario
    model = model_of(forecast)
    attrs = deal_attributes(scenario)
    per_value, codes, names = attribute_codes(forecast, attrs, by)
    d = forecast.deals
    won = won_rows(forecast)
    live = d["live"].to_numpy()
    quotas = getattr(scenario.targets, _QUOTAS[by]) if by in _QUOTAS else {}
    bounds = {label: (t0, t1) for label, t0, t1, _ in report_periods(model)}
    for label in periods or []:
        bounds.setdefault(label, model.calendar.period_bounds(label))
    wanted = periods or list(bounds)
    if by != "stage" and len(names) == 1 and won.in_range:  # every row in the one group
        live_rows = np.array([np.count_nonzero(live)])
        sums, present = _one_group_sums(forecast, wanted, bounds), np.zeros(1, np.int64)
    else:
        # the rows' groups from their deal's (or type's) group, where every deal has some row:
        # no row-sized pass per attribute
        factorized = factorized_values(per_value, codes, won.rows) if by != "stage" else None
        if factorized is None:  # the rows' own groups
            group = per_value[codes]
            live_rows = np.bincount(group if live.all() else group[live], minlength=len(names))
            factorized = factorized_groups(group, won.rows)
        else:
            per_live = np.bincount(codes if live.all() else codes[live], minlength=len(per_value))
            live_rows = np.bincount(per_value, per_live, minlength=len(names)).astype(np.int64)
        sums = replication_sums(  # grouped once: the wins and each period's revenue
            forecast,
            {
                None: np.ones(len(won.rows)),
                **{label: _revenue_in(forecast, bounds[label], revenue_in) for label in wanted},
            },
            factorized,
            rows=won.rows,
        )
        present = factorized[1].to_numpy(np.int64)
    live_count = dict(zip(names, live_rows / max(forecast.replications, 1), strict=True))
    group_names = names[present]
    wins = sums[None]
    rows = []
    order = sorted(
        range(len(group_names)), key=lambda j: (group_names[j] == UNASSIGNED, str(group_names[j]))
    )
    for j in order:
        name = group_names[j]
        w = mean_interval(wins[j])
        for label in wanted:
            x = sums[label][j]
            r = mean_interval(x)
            quota = float(quotas.get(name, {}).get(label, math.nan))
            q = (
                wilson(float(np.sum(x >= quota)), len(x))
                if not math.isnan(quota)
                else (math.nan,) * 3
            )
            rows.append(
                {
                    "group": str(name),
                    "period": label,
                    "deals": round(live_count.get(name, 0.0)),
                    "wins": w[0],
                    "wins_low": w[1],
                    "wins_high": w[2],
                    "revenue": r[0],
                    "revenue_low": r[1],
                    "revenue_high": r[2],
                    "quota": quota,
                    "quota_probability": q[0],
                    "quota_probability_low": q[1],
                    "quota_probability_high": q[2],
                }
            )
    return pd.DataFrame(rows)


def _num(v: Any) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def rollup_json(table: pd.DataFrame) -> list[dict[str, Any]]:
    """``[{id, deals, wins: {mean, low, high}, revenue_by_period: [...], quotas: [...]}]``."""
    out = []
    revenue = _triple("revenue")
    groups: dict[Any, list[dict[str, Any]]] = {}
    for record in table.to_dict("records"):  # plain dicts (no Series per row), in order
        groups.setdefault(record["group"], []).append(record)
    for name, g in groups.items():
        first = g[0]
        out.append(
            {
                "id": name,
                "deals": int(first["deals"]),
                "wins": {k: _num(first[c]) for k, c in _triple("wins").items()},
                "revenue_by_period": [
                    {
                        "period": r["period"],
                        **{k: _num(r[c]) for k, c in revenue.items()},
                    }
                    for r in g
                ],
                "quotas": [
                    {
                        "period": r["period"],
                        "quota": _num(r["quota"]),
                        "probability": _num(r["quota_probability"]),
                        "low": _num(r["quota_probability_low"]),
                        "high": _num(r["quota_probability_high"]),
                    }
                    for r in g
                    if not math.isnan(r["quota"])
                ],
            }
        )
    return out


def _triple(column: str) -> dict[str, str]:
    return {"mean": column, "low": f"{column}_low", "high": f"{column}_high"}


def _one_group_sums(
    forecast: Forecast, wanted: list[str], bounds: dict[str, tuple[float, float]]
) -> dict[str | None, npt.NDArray[np.float64]]:
    """The sums of a roll-up whose rows are all in one group, as :func:`replication_sums` gives
    them (wins under None, each label's revenue): the portfolio's own per replication, the
    same bits (a running sum of the won rows in row order), worked out once for the summary
    and every such attribute (most scenarios leave regions or teams unset)."""
    won = won_rows(forecast)
    revenues = period_revenues(forecast, [bounds[label] for label in wanted])
    if won.wins is None:
        won.wins = np.bincount(won.rep, minlength=forecast.replications).astype(np.float64)
    sums: dict[str | None, npt.NDArray[np.float64]] = {None: won.wins[None, :]}
    return sums | {label: x[None, :] for label, x in zip(wanted, revenues, strict=True)}


def _revenue_in(
    forecast: Forecast,
    bounds: tuple[float, float],
    known: Known,
) -> Sparse:
    """The won rows inside ``bounds`` (positions among
    :func:`~simsales.results.records.won_rows`, as :func:`~simsales.results.deal_view.won_in`
    counts them) and their revenue, the others winning nothing in the period (looked up in
    ``known``, else computed there): the roll-ups by every attribute sum the same few rows of
    each period."""
    if bounds not in known:
        won = won_rows(forecast)
        if won.decided.count(*bounds):
            inside = np.flatnonzero(won.decided.between(*bounds))
        else:  # none won in it (e.g. quarters after the pipeline is decided): no pass
            inside = np.zeros(0, np.int64)
        revenue = forecast.deals["revenue"].to_numpy(dtype=np.float64)
        known[bounds] = (inside, revenue[won.rows[inside]])
    return known[bounds]


def portfolio_views(forecast: Forecast, scenario: Scenario | None = None) -> dict[str, Any]:
    """``{"categories": [...], "by": {owner: [...], team, type, region}}`` for ``run --json``:
    the forecast categories of every target period (the first quarter without targets) and the
    roll-ups of :data:`JSON_BY`."""
    scenario = scenario_of(forecast) if scenario is None else scenario
    model = model_of(forecast)
    periods = [label for label, *_ in model.targets] or [report_periods(model)[0][0]]
    revenue_in: Known = {}
    return {
        "categories": [forecast_categories(forecast, p, scenario).to_json() for p in periods],
        "by": {
            by: rollup_json(rollup(forecast, by, scenario, revenue_in=revenue_in)) for by in JSON_BY
        },
    }
