"""Calibrate a scenario from a CRM history: what the data says, as of a date.

Model choices (each also written into the scenario's header comment):

- Time is plain calendar days (``calendar: {continuous: true}``): CRM dates are calendar dates
  and the durations measured from them are calendar days, weekends included.
- Dates are known to the day, so a deal engaged on day ``e`` and closed on day ``c`` lasted
  ``c - e`` days give or take half a day (the likelihood uses that interval). A deal still open
  at the end of the as-of day has lasted more than ``as_of - e + 0.5`` days (right-censored);
  one begun before the export's first close is only in the data because it outlived that date
  (left-truncated). Open deals are never dropped.
- Each stage's duration is one lognormal for all deal types, fitted by censored maximum
  likelihood. Duration and outcome are taken as independent (the engine decides win or loss at
  the end of the stage), so the win rate is estimated from the deals closed so far.
- Win (advance) rates are Beta posteriors; per deal type they are shrunk towards the stage's
  overall rate with an empirical-Bayes Beta prior (see :func:`simsales.calibrate.fit.eb_prior`).
- Values per deal type: a lognormal fitted to the values of won deals (types with fewer than
  ``MIN_VALUES`` of them use the catalog's list price, or the pooled fit).
- Arrivals: deals opened per calendar month, per type, counted from the export's observation
  start (its first close) to the as-of date; a constant Poisson rate (one year of history is too
  little to fit seasonality).
- No people pools: the export has no staffing data and an agent works many deals at once, so
  agents are reported (how many were active) but not modelled as a constraint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from simsales.calibrate.fit import (
    ArrivalFit,
    DurationFit,
    EmpiricalFit,
    RateFit,
    ValueFit,
    beta_rate,
    eb_prior,
    fit_duration,
    fit_empirical,
    fit_values,
    month_exposure,
    poisson_rate,
)
from simsales.calibrate.history import FORWARD_EXITS, History
from simsales.calibrate.importer import stage_id
from simsales.errors import SimsalesError
from simsales.scenario.schema import ID_PATTERN

__all__ = ["BY", "Calibration", "GroupFit", "StageFit", "calibrate", "safe_id"]

BY = ("product", "owner", "segment")
By = Literal["product", "owner", "segment"]
DURATIONS = ("lognormal", "empirical")
Durations = Literal["lognormal", "empirical"]
MIN_VALUES = 3
ACTIVE_DAYS = 90  # an agent who opened a deal this recently (or holds an open one) is active
TIMESTAMP_HALF_WIDTH = 1 / 1440  # exact timestamps: known to the minute


@dataclass(frozen=True)
class StageFit:
    id: str
    name: str
    duration: DurationFit | EmpiricalFit
    advance: RateFit  # won or moved on, among those that did not loop back
    rework: RateFit | None = None
    rework_to: str | None = None


@dataclass(frozen=True)
class GroupFit:
    id: str  # the deal type's id
    name: str  # its label in the export
    deals: int
    advance: dict[str, RateFit]  # stage id -> shrunk posterior
    value: ValueFit | None
    value_note: str
    arrivals: ArrivalFit
    price: float | None = None  # catalog list price, if any


@dataclass(frozen=True)
class Calibration:
    """Everything fitted from a history as of a date; :meth:`scenario` turns it into a scenario."""

    source: str
    as_of: date
    horizon: date
    by: str | None
    currency: str
    stages: tuple[StageFit, ...]
    groups: tuple[GroupFit, ...]
    priors: dict[str, str]  # stage id -> how the group prior was chosen
    pipeline: tuple[dict[str, Any], ...]
    arrivals_from: date
    arrival_stage: str
    agents_active: int
    history: History = field(repr=False)  # as known at as_of
    durations: str = "lognormal"
    exported: date | None = None  # the export's own date

    def scenario(self) -> dict[str, Any]:
        """The scenario as plain data (what :func:`simsales.load_dict` takes)."""
        from simsales.calibrate.scenario_yaml import scenario_dict

        return scenario_dict(self)

    def to_yaml(self) -> str:
        """The scenario as commented YAML text."""
        from simsales.calibrate.scenario_yaml import scenario_yaml

        return scenario_yaml(self)

    def write(self, path: Any) -> None:
        """Write the commented scenario atomically, after checking it loads."""
        from simsales.calibrate.scenario_yaml import write_scenario

        write_scenario(self, path)

    def to_json(self) -> dict[str, Any]:
        def rate(r: RateFit) -> dict[str, Any]:
            lo, hi = r.interval
            return {"mean": r.mean, "low": lo, "high": hi, "successes": r.successes,
                    "trials": r.trials}  # fmt: skip

        return {
            "source": self.source,
            "as_of": str(self.as_of),
            "horizon": str(self.horizon),
            "by": self.by,
            "stages": [
                {
                    "stage": s.id,
                    "median_days": s.duration.median,
                    "median_low": s.duration.median_interval[0],
                    "median_high": s.duration.median_interval[1],
                    "p90_days": s.duration.p90,
                    "done": s.duration.n_done,
                    "open": s.duration.n_open,
                    "truncated": s.duration.n_truncated,
                    "advance": rate(s.advance),
                }
                for s in self.stages
            ],
            "types": [
                {
                    "type": g.id,
                    "name": g.name,
                    "deals": g.deals,
                    "advance": {k: rate(v) for k, v in g.advance.items()},
                    "value_median": g.value.median if g.value else None,
                    "values": g.value.n if g.value else 0,
                    "arrivals_per_month": g.arrivals.per_month,
                    "arrivals_low": g.arrivals.low,
                    "arrivals_high": g.arrivals.high,
                }
                for g in self.groups
            ],
            "pipeline_deals": len(self.pipeline),
            "agents_active": self.agents_active,
            "data": self.history.report.to_json(),
        }


def safe_id(text: str, taken: set[str]) -> str:
    """A valid, unused scenario id close to ``text``."""
    import re

    base = str(text).strip()
    base = re.sub(r"[.\[\]{}:,#]", "_", base)
    if not re.match(ID_PATTERN, base or "x"):
        base = "_" + base
    base = base[:100] or "deal"
    out, k = base, 2
    while out in taken:
        out, k = f"{base}~{k}", k + 1
    taken.add(out)
    return out


def calibrate(
    history: History,
    as_of: date | str | None = None,
    *,
    by: By | None = "product",
    horizon: date | str | None = None,
    durations: Durations = "lognormal",
) -> Calibration:
    """Fit a scenario to ``history`` using only what was known at the end of ``as_of``.

    ``as_of`` defaults to the export's last date; ``horizon`` to six months after ``as_of``.
    ``by`` names the column whose values become deal types (None: one type for all deals).
    ``durations``: ``lognormal`` (censored ML) or ``empirical`` (Kaplan-Meier, written as a
    discrete distribution: keeps a multi-modal shape and the share of deals that outlast every
    finished one).
    """
    snap = history.snapshot
    t = pd.Timestamp(as_of) if as_of is not None else snap
    if t > snap:
        raise SimsalesError(
            f"--as-of {t.date()} is after the export's last date {snap.date()}",
        )
    if by is not None and by not in BY:
        raise SimsalesError(f"--by must be one of {', '.join(BY)}, not {by!r}")
    if durations not in DURATIONS:
        raise SimsalesError(f"--durations must be one of {', '.join(DURATIONS)}, not {durations!r}")
    h = history.known_at(t)
    end = pd.Timestamp(horizon) if horizon is not None else t + pd.DateOffset(months=6)
    if end <= t:
        raise SimsalesError(f"the horizon ({end.date()}) must be after --as-of ({t.date()})")
    if by == "product" and h.deals["product"].isna().all():
        by = None  # the default, and the export has no products: one deal type
    if by is not None and h.deals[by].isna().all():
        raise SimsalesError(
            f"--by {by}: the export has no {by} column",
        )
    deals = h.deals.copy()
    label = deals[by].fillna("unspecified") if by else pd.Series("all", index=deals.index)
    deals["group"] = label
    visits = h.visits.merge(deals[["deal", "group"]], on="deal", how="left")
    visits = visits.sort_values(["deal", "entered"], kind="stable")
    visits["next_stage"] = visits.groupby("deal")["stage"].shift(-1)
    stages = tuple(_fit_stage(h, visits, s, t, durations) for s in h.stages)
    taken: set[str] = set()
    names = sorted(deals["group"].unique(), key=lambda g: (-int((deals["group"] == g).sum()), g))
    ids = {g: safe_id(stage_id(g), taken) for g in names}
    priors: dict[str, str] = {}
    advance: dict[str, dict[str, RateFit]] = {g: {} for g in names}
    for st in stages:
        ex = visits[(visits["stage"] == st.id) & visits["exit"].isin([*FORWARD_EXITS, "lost"])]
        k = ex[ex["exit"].isin(FORWARD_EXITS)].groupby("group").size().reindex(names, fill_value=0)
        n = ex.groupby("group").size().reindex(names, fill_value=0)
        a, b, note = eb_prior(k.to_numpy(), n.to_numpy())
        priors[st.id] = note
        for g in names:
            advance[g][st.id] = beta_rate(int(k[g]), int(n[g]), (a, b))
    start = max(h.observed_from, deals["opened"].min())
    arrivals_end = t + pd.Timedelta(days=1)
    exposure = month_exposure(start, arrivals_end)
    arrived = deals[(deals["opened"] >= start) & (deals["opened"] < arrivals_end)]
    counts = arrived.groupby("group").size()
    pooled = fit_values(deals.loc[deals["outcome"] == "won", "value"])
    groups = []
    for g in names:
        mine = deals[deals["group"] == g]
        price = h.catalog.get(g) if by == "product" else None
        value, note = _value(mine, pooled, price)
        groups.append(
            GroupFit(
                id=ids[g],
                name=str(g),
                deals=len(mine),
                advance=advance[g],
                value=value,
                value_note=note,
                arrivals=poisson_rate(int(counts.get(g, 0)), exposure),
                price=price,
            )
        )
    pipeline = _pipeline(h, deals, ids, t)
    owners = deals[
        (deals["opened"] > t - pd.Timedelta(days=ACTIVE_DAYS)) | (deals["outcome"] == "open")
    ]
    return Calibration(
        source=h.report.source,
        as_of=t.date(),
        horizon=end.date(),
        by=by,
        currency=h.currency,
        stages=stages,
        groups=tuple(groups),
        priors=priors,
        pipeline=tuple(pipeline),
        arrivals_from=start.date(),
        arrival_stage=h.stages[0],
        agents_active=int(owners["owner"].nunique()),
        history=h,
        durations=durations,
        exported=snap.date(),
    )


def _fit_stage(
    h: History, visits: pd.DataFrame, stage: str, t: pd.Timestamp, durations: Durations
) -> StageFit:
    v = visits[visits["stage"] == stage]
    day = pd.Timedelta(days=1)
    done = v["left"].notna()
    gap = ((v["left"] - v["entered"]) / day).to_numpy(dtype=np.float64)
    if durations == "empirical":
        # an open deal has lasted whole days to the as-of date (date-only), or to its end
        so_far = ((t + (0 * day if h.date_only else day) - v["entered"]) / day).to_numpy(
            dtype=np.float64
        )
        try:
            fit = fit_empirical(
                np.where(done, gap, so_far),
                done.to_numpy(),
                ((h.observed_from - v["entered"]) / day).to_numpy(dtype=np.float64),
            )
        except SimsalesError as exc:
            raise SimsalesError(f"stage {stage} as of {t.date()}: {exc}") from None
        return _rates(stage, h, v, fit)
    if h.date_only:
        w, now = 0.5, (t - v["entered"]) / day + 0.5
    else:
        w, now = TIMESTAMP_HALF_WIDTH, (t + day - v["entered"]) / day
    low = np.where(done, np.maximum(gap - w, 0.0), now.to_numpy(dtype=np.float64))
    high = np.where(done, gap + w, np.inf)
    trunc = ((h.observed_from - v["entered"]) / day).to_numpy(dtype=np.float64) - w
    try:
        duration = fit_duration(low, high, np.maximum(trunc, 0.0))
    except SimsalesError as exc:
        raise SimsalesError(f"stage {stage} as of {t.date()}: {exc}") from None
    return _rates(stage, h, v, duration)


def _rates(
    stage: str, h: History, v: pd.DataFrame, duration: DurationFit | EmpiricalFit
) -> StageFit:
    exits = v["exit"]
    adv, lost, rework = (
        int(exits.isin(FORWARD_EXITS).sum()),
        int((exits == "lost").sum()),
        int((exits == "rework").sum()),
    )
    rework_fit, rework_to = None, None
    if rework:
        rework_fit = beta_rate(rework, adv + lost + rework)
        rework_to = str(v.loc[exits == "rework", "next_stage"].mode().iloc[0])
    return StageFit(
        id=stage,
        name=h.stage_names.get(stage, stage),
        duration=duration,
        advance=beta_rate(adv, adv + lost),
        rework=rework_fit,
        rework_to=rework_to,
    )


def _value(
    mine: pd.DataFrame, pooled: ValueFit | None, price: float | None
) -> tuple[ValueFit | None, str]:
    fit = fit_values(mine.loc[mine["outcome"] == "won", "value"])
    if fit is not None and fit.n >= MIN_VALUES:
        return fit, "lognormal fitted to the values of won deals"
    if price is not None and math.isfinite(price) and price > 0:
        return ValueFit(0, math.log(price), 0.0), "catalog list price (too few won values)"
    if pooled is None:
        return None, "no won values at all"
    return pooled, "all types pooled (too few won values of this type)"


def _pipeline(
    h: History, deals: pd.DataFrame, ids: dict[str, str], t: pd.Timestamp
) -> list[dict[str, Any]]:
    open_deals = deals[deals["outcome"] == "open"]
    cur = h.visits[h.visits["exit"] == "open"].set_index("deal")["entered"]
    taken: set[str] = set()
    out = []
    # date-only: entered mid-day, so 0.5 d on the as-of day; timestamps: to the end of it
    to_end = 0.5 if h.date_only else 1.0
    for _, d in open_deals.sort_values(["opened", "deal"]).iterrows():
        entered = cur.get(d["deal"], d["opened"])
        days = max((t - entered) / pd.Timedelta(days=1) + to_end, 0.0)
        deal: dict[str, Any] = {
            "_source": d["deal"],  # the export's id (not written to the scenario)
            "id": safe_id(str(d["deal"]), taken),
            "type": ids[d["group"]],
            "stage": d["stage"],
            "days_in_stage": round(float(days), 3),
        }
        if d["value"] > 0:
            deal["value"] = float(d["value"])
        if isinstance(d["account"], str):
            deal["customer"] = d["account"]
        if isinstance(d["owner"], str):
            deal["owner"] = d["owner"]
        out.append(deal)
    return out
