"""Calibrate a scenario from a CRM history: what the data says, as of a date.

Model choices (each also written into the scenario's header comment):

- Time is plain calendar days (``calendar: {continuous: true}``): CRM dates are calendar dates
  and the durations measured from them are calendar days, weekends included.
- Dates are known to the day (or to the clock on timestamped exports). A visit still open at
  the end of the as-of day is right-censored (it lasted at least that long); one begun before
  the export's first close is only in the data because it outlived that date (left-truncated,
  late entry). Open deals are never dropped.
- **Competing exits per stage.** Where a visit went (the next stage, a later one: a skip, an
  earlier one: rework, won, lost) and when are estimated together by the Aalen-Johansen
  cumulative incidence (:func:`simsales.calibrate.fit.aalen_johansen`): the share of each exit
  is its cumulative incidence, its time in stage the normalised increments. So outcome and time
  are not assumed independent: a stage whose quick exits are wins and slow ones losses keeps
  that, and a live deal's chances change with its age in the stage. Each exit's time is the
  empirical distribution unless a lognormal has a lower AIC and a plausible tail
  (:func:`simsales.calibrate.fit.fit_exit_time`).
- **Stale deals.** The share of visits that outlast every exit ever observed in the stage (the
  data's conversion horizon) is counted as lost at that age: no deal in the history was ever
  won (or moved on) after staying so long. Live deals older than it are flagged in the data
  report (``stale``) and are lost by the engine's ``stale: lost`` rule, from the stage's
  ``stale_from`` (that horizon, written) even where a fitted lognormal's tail goes on. In a
  funnel export with wins and no recorded losses this is what turns leads that never convert
  into losses.
- **Bulk loads.** Deals opened on a day with far more new deals than the same weekdays and
  the days around it (:func:`simsales.calibrate.fit.bulk_days`: a migration stamps its load
  day on every old deal) are no arrivals, and the visit each was first seen in is not fitted
  (it began before the load, when is unknown); said in the report (``bulk_load``).
- **Calendar x age hazards** (``hazards:`` by month of the quarter, or by age alone) at the
  stage's load (the pace of a team that decides about as many deals however many are open,
  when the history says so) replace a stage's exits only when they predicted its exits of the
  last one to three months, fitted on what was known before them, better than age alone
  (:mod:`simsales.calibrate.hazard_fit`); such a stage has no ``won_season`` (its rates hold
  the calendar) and no per-type exits.
- Exit shares per deal type are shrunk towards the stage's pooled shares with the weight of
  ``s`` pseudo-visits, ``s`` chosen by empirical Bayes on the types' win-direction shares
  (:func:`simsales.calibrate.fit.eb_prior`); exit times likewise, by a normal-normal
  empirical Bayes on the types' mean log times (``_shrunk_time``): pooled when the types do
  not differ beyond their sampling noise.
- Values per deal type: a lognormal fitted to the values of won deals, or, with 30 of them
  or more whose logs a normality test rejects at 1%, those values resampled
  (:func:`simsales.calibrate.fit.fit_values`: whales among small deals are no lognormal);
  types with fewer than ``MIN_VALUES`` of them use the catalog's list price, or the pooled
  fit; with no won values at all, the amounts of other deals, else zero with a note.
- Arrivals: deals opened per calendar month, per type and entry stage (the stage a deal was
  first seen in: ``arrivals[].stage``), counted from the export's observation start (its first
  close) to the as-of date, or from the month they left their fitted pattern and stayed away
  (``_arrivals_break``, the split test of a change of the chance to win, below). A trend and a
  month-of-quarter or month-of-year cycle are added only when the monthly totals support them
  (:func:`simsales.calibrate.fit.arrival_pattern`); each deal type has a trend of its own
  where the types' monthly arrivals reject a shared one
  (:func:`simsales.calibrate.fit.type_trends`).
- Calendar cycle of the chance to win (``won_season`` on every stage with a won exit): the
  won share of each month's decisions, pooled over the stages, by month of the quarter (or of
  the year with 24 months or more), kept only when a quasi-likelihood-ratio test at 1% supports
  it (:func:`simsales.calibrate.fit.won_cycle`); the factors are each level's share over the
  overall one. The timing of decisions follows the calendar only through the calendar x age
  hazards (above).
- **A change of the chance to win that lasts** (a price change, a new competitor, a reorg):
  over the stages with age-based exits, the last ``k`` whole months' exits towards a win
  (won or a later stage) and lost exits (``SHIFT_MONTHS`` at least), each against what the
  age-based exit rates expect of them, the odds between the two over the same odds of the
  months before, tested against the months' dispersion about the two levels and with any one
  month left out (a one-day clean-up is no lasting change); the split that differs most
  counts at 1% of the most that any split of histories without a change differs
  (``_won_shift``, with six whole months before them at least; that split is the change's
  month). All stages are tested together because a deal is won by going forward at
  each: a change decided upstream barely moves the winning stage's own share. Where it
  rejects, each age-based stage's odds of going forward (for every deal type) are set at
  their own recent level, shrunk towards the stages' mean change (``_stage_odds``,
  DerSimonian-Laird), and the change's sampling variance joins the win odds' spread.
- Parameter uncertainty and drift (``uncertainty:``): per replication the arrival rates, the
  odds of winning exits, the times in stage and the values are multiplied by lognormal factors
  of mean 1 whose variance (of the log) is the sampling variance of the pooled estimate plus
  the between-month variance of the monthly estimate beyond Poisson / binomial / within-month
  noise (method of moments). **The between-month part is counted only when a dispersion test
  rejects homogeneous months at 1%** (``DRIFT_LEVEL``): Pearson's chi-square of the months
  against the fitted model, on months minus the parameters fitted to them; otherwise it is 0
  (so the noise of a method-of-moments estimate on a stationary history does not widen the
  intervals). The between-month variance is of months that vary independently about their
  level, so the arrivals' and the win odds' are written as factors drawn afresh for every
  month (``uncertainty.monthly``: ``arrivals`` on the month's arrival rates, ``win`` on the
  chance to win of its decisions, whose variance is the wins' relative one as measured); the
  sampling part, the level's own error, is shared by every month and drawn once per run.
  A month's results so carry a month's drift and a quarter's a third of it. The values' drift,
  drawn once per run, is the mean's over the run's ``H`` months, ``1 / H`` of a month's
  (:meth:`Drift.over`). Where too few whole months
  of decisions measure the win odds' drift (fewer than the parameters fitted to them plus
  one), it takes a prior, ``UNMEASURED_ODDS_VAR`` (a log-odds sd of 1), not zero. Arrivals
  (:func:`simsales.calibrate.fit.count_drift`): monthly counts against the fitted pattern,
  whose level, trend and cycle levels are the fitted parameters; win odds
  (``_won_calendar_drift``): sampling part binomial, ``1 / (N p (1 - p))`` of the decided
  deals; between months each month's wins against what the age-based exit hazards (times the
  ``won_season`` factor) expect, or on a stage with calendar x age hazards what rates constant
  per (month of the quarter, age band) expect, less the level and the calendar's free levels;
  values, per deal
  type (a type's multiplier in its ``deal_types[].uncertainty``, as its values are a
  lognormal of its own): the sampling variance of the lognormal's mean and the between-month
  variance of the mean log value of won deals by close month (F test,
  :func:`simsales.calibrate.fit.value_drift`); a type priced from the catalog or from other
  deals' amounts has none, one using the pooled fit the pooled one's; durations: sampling only.
- No people pools: the export has no staffing data and an agent works many deals at once, so
  agents are reported (how many were active) but not modelled as a constraint.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from simsales.calibrate.choices import BY, DURATIONS, By, Durations
from simsales.calibrate.fit import (
    DRIFT_LEVEL,
    LOADED_MIN_DONE,
    MIN_DONE,
    TAIL_FACTOR,
    VALUE_LEVEL,
    ArrivalFit,
    ArrivalPattern,
    Drift,
    DurationFit,
    EmpiricalFit,
    ExitTimeFit,
    FloatArray,
    RateFit,
    ValueFit,
    WonCycle,
    aalen_johansen,
    age_at_load,
    arrival_pattern,
    beta_rate,
    bulk_days,
    count_drift,
    eb_prior,
    fit_duration,
    fit_empirical,
    fit_exit_time,
    fit_values,
    month_exposure,
    poisson_rate,
    probabilities,
    type_trends,
    value_drift,
    won_cycle,
)
from simsales.calibrate.hazard_fit import HazardFit, choose_hazards
from simsales.calibrate.history import History
from simsales.calibrate.importer import stage_id
from simsales.errors import SimsalesError
from simsales.results.schema_version import SCHEMA_VERSION
from simsales.scenario.schema import CATEGORIES, HAZARD_ROWS, ID_PATTERN

__all__ = [
    "BY",
    "SHORT_HISTORY",
    "Calibration",
    "ExitFit",
    "GroupFit",
    "StageFit",
    "calibrate",
    "safe_id",
]

MIN_VALUES = 3
ACTIVE_DAYS = 90  # an agent who opened a deal this recently (or holds an open one) is active
TIMESTAMP_HALF_WIDTH = 1 / 1440  # exact timestamps: known to the minute
SHORT_HISTORY = "short_history"  # the report's rule: too few months to measure the drift
SHIFT_MONTHS = 3  # the recent months whose level of winning is tested (a quarter)
# where too few whole months of decisions measure the win odds' month-to-month drift, a prior
# between-month variance of their log: sd 1, a factor of e either way (an even won share moves
# within about 0.27 - 0.73 in two months of three), the unit-scale weakly informative prior of
# a log-odds, so that an unmeasured drift widens the intervals instead of counting as none
UNMEASURED_ODDS_VAR = 1.0


@dataclass(frozen=True)
class ExitFit:
    """One way out of a stage: where to, its share (cumulative incidence) and its time."""

    to: str  # "won", "lost" or a stage id
    p: float
    events: int  # visits seen leaving this way
    time: ExitTimeFit


@dataclass(frozen=True)
class StageFit:
    id: str
    name: str
    duration: DurationFit | EmpiricalFit  # time in the stage whatever the exit (reported)
    advance: RateFit  # towards a win (won or a later stage), among the decided visits
    exits: tuple[ExitFit, ...] = ()
    longest: float = math.inf  # longest time any visit spent before an exit
    tail: float = 0.0  # share outlasting every exit: counted as lost
    stale: int = 0  # open visits older than ``longest`` at the as-of date
    rework: RateFit | None = None
    rework_to: str | None = None
    hazards: HazardFit | None = None  # calendar x age hazards, when they predicted better
    observed: EmpiricalFit | None = None  # its Kaplan-Meier time in stage (the table's median)


@dataclass(frozen=True)
class GroupFit:
    id: str  # the deal type's id
    name: str  # its label in the export
    deals: int
    advance: dict[str, RateFit]  # stage id -> shrunk posterior of the win-direction share
    value: ValueFit | None
    value_note: str
    arrivals: ArrivalFit
    price: float | None = None  # catalog list price, if any
    exits: dict[str, tuple[ExitFit, ...]] = field(default_factory=dict)  # shrunk shares
    entry: dict[str, ArrivalFit] = field(default_factory=dict)  # entry stage -> arrivals
    uncertainty: dict[str, Drift] = field(default_factory=dict)  # this type's multipliers
    trend: float | None = None  # its own arrival trend, where the types' differ (else shared)
    arrival_factor: float | None = None  # its rate at the start / its mean (with its trend)


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
    pattern: ArrivalPattern | None = None  # trend and cycle of arrivals, if supported
    arrival_month: int = 0  # months from the arrivals' first month to the scenario's start
    uncertainty: dict[str, Drift] = field(default_factory=dict)
    value_fallback: ValueFit | None = None  # the value for types with none (no won values)
    arrival_factor: float = 1.0  # pattern's rate at the start / the history's mean rate
    won_cycle: WonCycle | None = None  # calendar cycle of the chance to win, if supported
    win_shift: WinShift | None = None  # the recent level of winning, where it moved
    loaded_ages: dict[str, float] = field(default_factory=dict)  # stage -> age at a load

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
            "schema_version": SCHEMA_VERSION,
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
                    "km_median_days": (s.observed or s.duration).median,
                    "km_median_low": (s.observed or s.duration).median_interval[0],
                    "km_median_high": (s.observed or s.duration).median_interval[1],
                    "p90_days": s.duration.p90,
                    "done": s.duration.n_done,
                    "open": s.duration.n_open,
                    "truncated": s.duration.n_truncated,
                    "advance": rate(s.advance),
                    "exits": [
                        {
                            "to": e.to,
                            "p": e.p,
                            "events": e.events,
                            "form": e.time.kind,
                            "median_days": e.time.median,
                            "p90_days": e.time.p90,
                        }
                        for e in s.exits
                    ],
                    "hazards": (
                        None
                        if s.hazards is None
                        else {"chosen": s.hazards.chosen, "note": s.hazards.note}
                    ),
                    "longest_days": s.longest,
                    "outlast_every_exit": s.tail,
                    "stale_open": s.stale,
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
                    "uncertainty_sd_log": {k: d.sd_log for k, d in g.uncertainty.items()},
                }
                for g in self.groups
            ],
            "arrival_pattern": self.pattern.note if self.pattern else None,
            "won_season": (
                None
                if self.won_cycle is None or self.won_cycle.form == "none"
                else {self.won_cycle.form: list(self.won_cycle.factors)}
            ),
            "won_season_test": self.won_cycle.note if self.won_cycle else None,
            "uncertainty_sd_log": {k: d.sd_log for k, d in self.uncertainty.items()},
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
    ``durations``: ``lognormal`` (a lognormal per exit where its AIC beats the empirical
    distribution and its tail is plausible; the stage's overall duration by censored ML) or
    ``empirical`` (Kaplan-Meier / Aalen-Johansen distributions only).
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
    decided = history.deals["closed"].dropna()
    if decided.empty:
        # the stages every deal is in, by their labels: the ones to name won or lost
        shown = history.stage_names
        seen = history.deals["stage"].map(lambda s: shown.get(s, s)).value_counts()
        open_stages = ", ".join(f"{label!r} ({n})" for label, n in seen.head(8).items())
        raise SimsalesError(
            "the export has no won or lost deal at all: there is nothing to learn how deals "
            f"close from (every deal is in an open stage: {open_stages}); check that the stage (or "
            "status) column holds the won and lost labels, or name them with labels: {won: "
            "[...], lost: [...]} in a --mapping file"
        )
    if decided.min() >= t + pd.Timedelta(days=1):
        raise SimsalesError(
            f"as of {t.date()} the export has no won or lost deal yet (its first close is on "
            f"{decided.min().date()}): there is nothing to learn how deals close from; choose a "
            "later --as-of (or --from)"
        )
    h = history.known_at(t)
    h = replace(h, report=copy.deepcopy(h.report))  # notes of this calibration only
    end = pd.Timestamp(horizon) if horizon is not None else t + pd.DateOffset(months=6)
    if end <= t:
        raise SimsalesError(f"the horizon ({end.date()}) must be after --as-of ({t.date()})")
    months = (end - t) / pd.Timedelta(days=365.2425 / 12)  # the multipliers' run (Drift.over)
    if by == "product" and h.deals["product"].isna().all():
        by = None  # the default, and the export has no products: one deal type
    if by is not None and h.deals[by].isna().all():
        raise SimsalesError(
            f"--by {by}: the export has no {by} column",
        )
    outcomes = h.deals["outcome"].value_counts()
    if outcomes.get("won", 0) and not outcomes.get("lost", 0):  # a filtered export, or a funnel
        h.report.add(
            "no_losses", "kept",
            f"the export records no lost deal ({outcomes['won']:,} won): if it was filtered "
            "(open and won only), export the lost deals too, or every decided deal looks won; "
            "deals open longer than any that ever moved on are counted lost (the conversion "
            "horizon)", rows=int(outcomes.sum()),
        )  # fmt: skip
    if outcomes.get("lost", 0) and not outcomes.get("won", 0):  # a won label not known?
        opened = next((i.message.partition("): ")[2] for i in h.report.issues
                       if i.rule == "open_labels"), "")  # fmt: skip
        h.report.add(
            "no_wins", "kept",
            f"the export records no won deal ({outcomes['lost']:,} lost): every decided deal "
            "looks lost; if the won deals' label was read as an open stage"
            + (f" (open: {opened})" if opened else "")
            + ", name it with labels: {won: [...]} in a --mapping file; if the export was "
            "filtered, export the won deals too", rows=int(outcomes.sum()),
        )  # fmt: skip
    deals = h.deals.copy()
    label = deals[by].fillna("unspecified") if by else pd.Series("all", index=deals.index)
    deals["group"] = label
    visits = _visit_table(h, deals, t)
    loaded = _bulk_loaded(h, deals)
    # a loaded deal's first visit began before its load, when is unknown: not fitted
    first = visits["deal"].isin(loaded) & ~visits["deal"].duplicated()
    on_load = visits[first]
    visits = visits[~first].reset_index(drop=True)
    stages = tuple(_fit_stage(h, visits, s, t, durations) for s in h.stages)
    loaded_ages = _loaded_ages(h, visits, on_load, stages)
    stages = tuple(_calendar_hazards(h, visits, st, t) for st in stages)
    _report_stale(h, stages)
    winning = {s.id for s in stages if any(e.to == "won" for e in s.exits)}
    season = _won_cycle(h, visits, t, winning)
    taken: set[str] = set()
    names = sorted(deals["group"].unique(), key=lambda g: (-int((deals["group"] == g).sum()), g))
    ids = {g: safe_id(stage_id(g), taken) for g in names}
    priors: dict[str, str] = {}
    advance: dict[str, dict[str, RateFit]] = {g: {} for g in names}
    group_exits: dict[str, dict[str, tuple[ExitFit, ...]]] = {g: {} for g in names}
    for st in stages:
        _shrink_exits(visits, st, _forward(h, st.id), names, priors, advance, group_exits)
    calendar = {st.id: st.hazards for st in stages if st.hazards is not None}
    won = _won_months(h, visits, t, season, calendar)
    shift = _won_shift(won)
    if shift is not None:
        stages, group_exits = _at_recent_level(h, stages, group_exits, shift)
    start = max(h.observed_from, deals["opened"].min())
    arrivals_end = t + pd.Timedelta(days=1)
    arrived = deals[(deals["opened"] >= start) & (deals["opened"] < arrivals_end)]
    arrived = arrived[~arrived["deal"].isin(loaded)]  # a load is no arrival
    pattern, month0, monthly, expected = _arrival_pattern(arrived, start, arrivals_end, t)
    if (since := _arrivals_break(h, monthly, expected, pattern)) is not None:
        start = since  # counted from the break: what came before is another regime
        arrived = arrived[arrived["opened"] >= start]
        pattern, month0, monthly, expected = _arrival_pattern(arrived, start, arrivals_end, t)
    load_days = deals.loc[deals["deal"].isin(loaded), "opened"].dt.normalize()
    loaded_level = _load_break(h, arrived, load_days, monthly, expected, start, arrivals_end)
    if loaded_level is not None:
        before = arrived[arrived["opened"] < loaded_level]
        shape, *_ = _arrival_pattern(before, start, loaded_level, t)
        start = loaded_level  # the load brought new deals: what came before is another level
        arrived = arrived[arrived["opened"] >= start]
        pattern, month0, monthly, expected = _arrival_pattern(arrived, start, arrivals_end, t)
        if pattern is not None and shape is not None:
            pattern = _with_shape(pattern, shape, monthly)
            expected = pattern.expected
    exposure = month_exposure(start, arrivals_end)
    first_stage = visits.sort_values("entered", kind="stable").groupby("deal")["stage"].first()
    entry = arrived["deal"].map(first_stage).fillna(h.stages[0])
    if "entry_stage" in arrived.columns:
        entry = arrived["entry_stage"].where(arrived["entry_stage"].isin(h.stages), entry)
    counts = arrived.groupby("group").size()
    by_entry = arrived.assign(entry=entry).groupby(["group", "entry"]).size()
    _report_arrivals_stop(h, arrived["opened"], t)
    factor = 1.0
    if pattern is not None and (pattern.trend or pattern.month_factor) and len(monthly):
        # the fitted rate (without the cycle) in the scenario's first month, against the mean
        last = len(monthly) - 1
        cycle = pattern.month_factor.get(monthly.index[last].month, 1.0)
        at_last = expected[last] / monthly["exposure"].iloc[last] / cycle
        at_start = at_last * (1 + pattern.trend) ** (month0 - last)
        factor = at_start / (monthly["count"].sum() / monthly["exposure"].sum())
    own = _type_trends(arrived, names, monthly, pattern, month0, exposure)
    pooled = fit_values(deals.loc[deals["outcome"] == "won", "value"])
    fallback = None
    if pooled is None:
        fallback = _value_fallback(h, deals)
    groups = []
    pooled_drift = _value_drift(deals, months) if pooled is not None else None
    for g in names:
        mine = deals[deals["group"] == g]
        price = h.catalog.get(g) if by == "product" else None
        value, note = _value(mine, pooled, price, fallback)
        drift = None  # a catalog price or the amounts of other deals: no value multiplier
        if value is not None and value is pooled:
            drift = pooled_drift
        elif value is not None and value is not fallback and value.n > 0:  # its own values
            drift = _value_drift(mine, months)
        entries = {
            str(e): poisson_rate(int(n), exposure)
            for (grp, e), n in by_entry.items()
            if grp == g and n > 0
        }
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
                exits=group_exits[g],
                entry=entries,
                uncertainty={} if drift is None else {"value": drift},
                **own.get(g, {}),
            )
        )
    pipeline = _pipeline(h, deals, ids, t, on_load, loaded_ages)
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
        pattern=pattern,
        arrival_month=month0,
        uncertainty=_uncertainty(visits, monthly, expected, pattern, won, shift),
        value_fallback=fallback,
        arrival_factor=float(factor),
        won_cycle=season,
        win_shift=shift,
        loaded_ages=loaded_ages,
    )


def _visit_table(h: History, deals: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    """Visits with their group, where each went (``to``: a stage, won or lost; empty while
    open), the days spent (to the exit, or known so far) and the late-entry days."""
    visits = h.visits.merge(deals[["deal", "group", "outcome"]], on="deal", how="left")
    visits = visits.sort_values(["deal", "entered"], kind="stable").reset_index(drop=True)
    nxt = visits.groupby("deal")["stage"].shift(-1)
    ex = visits["exit"].astype(str)
    to = pd.Series("", index=visits.index, dtype=object)
    to[ex == "lost"] = "lost"
    to[ex == "won"] = "won"
    moved = ex.isin(["advance", "rework", "skip"])
    to[moved & nxt.notna()] = nxt[moved & nxt.notna()]
    to[moved & nxt.isna()] = np.where(visits.loc[moved & nxt.isna(), "outcome"] == "lost",
                                      "lost", "won")  # fmt: skip
    if "to" in visits.columns:  # the importer knows where each visit went
        given = visits["to"].notna() & (visits["to"].astype(str) != "") & (ex != "open")
        to[given] = visits.loc[given, "to"].astype(str)
    visits["to"] = to
    day = pd.Timedelta(days=1)
    done = to != ""
    gap = (visits["left"] - visits["entered"]) / day
    # still open at the end of the as-of day: it lasted at least to then
    so_far = (t + day - visits["entered"]) / day
    if h.date_only:
        so_far = so_far.round()
    visits["days"] = np.where(done, gap, so_far).astype(np.float64)
    visits["entry"] = ((h.observed_from - visits["entered"]) / day).to_numpy(dtype=np.float64)
    return visits


def _exit_fits(
    v: pd.DataFrame, h: History, durations: Durations, longest: float
) -> tuple[list[ExitFit], float]:
    """Exit shares and times of one stage's visits ``v`` (tail counted as lost)."""
    aj = aalen_johansen(v["days"], v["to"].where(v["to"] != ""), v["entry"])
    fits: list[ExitFit] = []
    tail = aj.tail
    for k in sorted(aj.jumps, key=lambda k: (k not in ("won",), k == "lost", k)):
        mass = aj.jumps[k]
        p = float(mass.sum())
        if k == "lost" and tail > 0:
            mass = mass.copy()
            mass[-1] += tail  # outlasting every exit: lost at the data's horizon
            p += tail
        if p <= 0:
            continue
        keep = mass > 0
        time = fit_exit_time(
            aj.times[keep], mass[keep], aj.events[k], date_only=h.date_only, longest=longest,
            parametric=durations == "lognormal",
        )  # fmt: skip
        fits.append(ExitFit(k, p, aj.events[k], time))
    if tail > 0 and "lost" not in aj.jumps:
        spec: dict[str, object] = {"fixed": float(f"{longest:.6g}")}
        time = ExitTimeFit(spec, "empirical", longest, longest,
                           "no recorded losses: visits outlasting every exit are lost")  # fmt: skip
        fits.append(ExitFit("lost", tail, 0, time))
    total = math.fsum(f.p for f in fits)
    return [replace(f, p=f.p / total) for f in fits], tail


def _fit_stage(
    h: History, visits: pd.DataFrame, stage: str, t: pd.Timestamp, durations: Durations
) -> StageFit:
    v = visits[visits["stage"] == stage]
    done = (v["to"] != "").to_numpy()
    if int(done.sum()) < MIN_DONE:
        n = len(h.deals)
        raise SimsalesError(
            f"stage {stage} as of {t.date()}: only {int(done.sum())} visits left it (need "
            f"{MIN_DONE}) to fit where and when deals leave it"
            + (f"; the export has {n} deal{'s' * (n != 1)} in all: export a longer history "
               "(more deals, with their wins and losses), or choose a later --as-of"
               if n < 10 * MIN_DONE else "; choose a later --as-of, or merge the stage with "
               "its neighbour by renaming it in a --mapping file (states:)")
        )  # fmt: skip
    longest = float(v.loc[done, "days"].max())
    exits, tail = _exit_fits(v, h, durations, longest)
    stale = int(((~done) & (v["days"].to_numpy() > longest)).sum())
    duration = _stage_duration(h, v, t, durations)
    observed = duration if isinstance(duration, EmpiricalFit) else _observed(v)
    forward = _forward(h, stage)
    win = int(v["to"].isin(forward).sum())
    decided = int(done.sum())
    return StageFit(
        id=stage,
        name=h.stage_names.get(stage, stage),
        duration=duration,
        observed=observed,
        advance=beta_rate(win, decided),
        exits=tuple(exits),
        longest=longest,
        tail=tail,
        stale=stale,
    )


def _calendar_hazards(h: History, visits: pd.DataFrame, st: StageFit, t: pd.Timestamp) -> StageFit:
    """The stage with calendar x age hazards when they predicted its recent exits better than
    age alone (:func:`simsales.calibrate.hazard_fit.choose_hazards`), else as it was."""
    v = visits[visits["stage"] == st.id]
    return replace(st, hazards=choose_hazards(v, t, h.observed_from, st.longest, h.date_only))


def _forward(h: History, stage: str) -> set[str]:
    """Exits towards a win: won, or a later stage."""
    later = h.stages[h.stages.index(stage) + 1 :]
    return {"won", *later}


def _kaplan_meier(v: pd.DataFrame) -> EmpiricalFit:
    """The stage's visits' time in stage, by Kaplan-Meier with open visits censored and late
    entry (:func:`simsales.calibrate.fit.fit_empirical`)."""
    return fit_empirical(
        v["days"].to_numpy(dtype=np.float64),
        (v["to"] != "").to_numpy(),
        v["entry"].to_numpy(dtype=np.float64),
    )


def _observed(v: pd.DataFrame) -> EmpiricalFit | None:
    """The stage's Kaplan-Meier time in stage (the median the report gives: a lognormal's is
    biased where times are not lognormal), or None where it cannot be formed."""
    try:
        return _kaplan_meier(v)
    except SimsalesError:
        return None


def _stage_duration(
    h: History, v: pd.DataFrame, t: pd.Timestamp, durations: Durations
) -> DurationFit | EmpiricalFit:
    """The time in the stage whatever the exit: censored lognormal ML or Kaplan-Meier."""
    day = pd.Timedelta(days=1)
    done = (v["to"] != "").to_numpy()
    gap = v["days"].to_numpy(dtype=np.float64)
    try:
        if durations == "empirical":
            return _kaplan_meier(v)
        if h.date_only:
            w, now = 0.5, ((t - v["entered"]) / day + 0.5).to_numpy(dtype=np.float64)
        else:
            w, now = TIMESTAMP_HALF_WIDTH, ((t + day - v["entered"]) / day).to_numpy(np.float64)
        low = np.where(done, np.maximum(gap - w, 0.0), now)
        high = np.where(done, gap + w, np.inf)
        trunc = v["entry"].to_numpy(dtype=np.float64) - w
        fit = fit_duration(low, high, np.maximum(trunc, 0.0))
        longest = float(gap.max()) if len(gap) else 0.0
        if fit.p90 <= TAIL_FACTOR * max(longest, 1.0):
            return fit
        h.report.add(
            "implausible_tail", "info",
            f"stage {v['stage'].iloc[0]}: a lognormal of its time in stage would put its P90 at "
            f"{fit.p90:,.0f} days, more than {TAIL_FACTOR:g}x the longest {longest:,.0f} days "
            "any deal was seen in it: its Kaplan-Meier distribution is used instead",
            rows=int(done.sum()),
        )  # fmt: skip
        return _kaplan_meier(v)
    except SimsalesError as exc:
        raise SimsalesError(f"stage {v['stage'].iloc[0]} as of {t.date()}: {exc}") from None


def _on_bulk_days(rows: pd.DataFrame, at: str) -> tuple[pd.DataFrame, str]:
    """The rows whose ``at`` falls on a bulk day of them
    (:func:`simsales.calibrate.fit.bulk_days`), and the days with their counts, for the
    report."""
    days = bulk_days(rows[at])
    hit = rows[rows[at].dt.normalize().isin(days)]
    return hit, ", ".join(f"{d.date()} ({(hit[at].dt.normalize() == d).sum():,})" for d in days)


def _bulk_loaded(h: History, deals: pd.DataFrame) -> set[object]:
    """The deals opened on a day of bulk loading (:func:`simsales.calibrate.fit.bulk_days`:
    a migration from another tool stamps its load day on every old deal), said in the
    report."""
    hit, shown = _on_bulk_days(deals, "opened")
    if hit.empty:
        return set()
    h.report.add(
        "bulk_load", "info",
        f"{len(hit):,} deals opened on days of far more new deals than the same weekdays "
        f"around them ({shown}): loaded at once (a migration, an import), so their opening "
        "is not when they began: not counted as arrivals, and the time of the stage each was "
        "first seen in is not fitted (the stages they moved to are)",
        rows=len(hit), examples=[str(d) for d in hit["deal"].head(5)],
    )  # fmt: skip
    return set(hit["deal"])


def _loaded_ages(
    h: History, visits: pd.DataFrame, on_load: pd.DataFrame, stages: tuple[StageFit, ...]
) -> dict[str, float]:
    """Per stage, the age at their load of the deals loaded into it
    (:func:`simsales.calibrate.fit.age_at_load`, from their own times after the load), said
    in the report; a stage with too few of their exits keeps them aged from the load."""
    ages: dict[str, float] = {}
    for st in stages:
        # a visit that ended before its load stamp (history brought along) says nothing after
        v = on_load[(on_load["stage"] == st.id) & (on_load["days"] >= 0)]
        if v.empty:
            continue
        own = visits[visits["stage"] == st.id]
        still = v["to"] == ""
        fit = age_at_load(
            aalen_johansen(own["days"], own["to"].where(own["to"] != ""), own["entry"]),
            aalen_johansen(v["days"], v["to"].where(~still)),
            float(v.loc[still, "days"].max() if still.any() else v["days"].max()),
        )
        if fit is None:
            h.report.add(
                "loaded_age", "info",
                f"stage {st.id}: {len(v):,} deals were loaded into it; to tell how long they "
                f"had been in it takes {LOADED_MIN_DONE} exits of them after the load and as "
                "many of the stage's own visits, and there are fewer: the open ones are aged "
                "from their load day, the youngest they can be",
                rows=len(v),
            )  # fmt: skip
            continue
        ages[st.id] = fit.age
        h.report.add(
            "loaded_age", "info",
            f"stage {st.id}: {len(v):,} deals were loaded into it, their time there before the "
            f"load unknown; where and when they left it in the {fit.horizon:,.1f} days after "
            f"the load ({fit.still:.0%} still in it) is closest to what the stage's own visits "
            f"do from {fit.age:,.1f} days old on: the open ones are aged {fit.age:,.1f} days "
            "more than their time since the load",
            rows=len(v),
        )  # fmt: skip
    return ages


def _cleaned_up(h: History, visits: pd.DataFrame) -> pd.Index:
    """The visits lost on a day of far more losses than the days around it (a clean-up
    closing old deals at once; :func:`simsales.calibrate.fit.bulk_days` on the days deals were
    lost), said in the report: a record-keeping day, not decisions, so the test of a lasting
    change of the chance to win takes those visits as open until that day (censored, not
    lost, and not left out: dropping them would drop the waiting deals of the months before
    it but not of those after). Otherwise the exit rates by age, fitted with them all lost at
    long ages, expect too many losses of the deals waiting before the clean-up."""
    hit, shown = _on_bulk_days(visits[visits["to"] == "lost"], "left")
    if hit.empty:
        return pd.Index([])
    h.report.add(
        "bulk_close", "info",
        f"{len(hit):,} deals were lost on days of far more losses than the same weekdays "
        f"around them ({shown}): closed at once (a clean-up), so the test of a lasting change "
        "of the chance to win takes them as open until then; they are fitted as the losses "
        "they are",
        rows=len(hit), examples=[str(d) for d in hit["deal"].head(5)],
    )  # fmt: skip
    return hit.index


def _report_stale(h: History, stages: tuple[StageFit, ...]) -> None:
    for st in stages:
        if st.tail > 0:
            lost = [e for e in st.exits if e.to == "lost"]
            recorded = lost[0].events if lost else 0
            h.report.add(
                "conversion_horizon", "info",
                f"stage {st.id}: {st.tail:.1%} of visits outlast every exit ever seen from it "
                f"({st.longest:,.1f} days, the data's conversion horizon) and are counted as "
                f"lost for fitting" + ("" if recorded else " (the export records no losses "
                "here)"),
                rows=max(st.stale, 1),
            )  # fmt: skip
        if st.stale:
            h.report.add(
                "stale", "info",
                f"stage {st.id}: {st.stale:,} open deals have been in it longer than any deal "
                f"that ever left it ({st.longest:,.1f} days): forecast lost (stale), not won",
                rows=st.stale,
            )  # fmt: skip


def _shrink_exits(
    visits: pd.DataFrame,
    st: StageFit,
    forward: set[str],
    names: list[str],
    priors: dict[str, str],
    advance: dict[str, dict[str, RateFit]],
    group_exits: dict[str, dict[str, tuple[ExitFit, ...]]],
) -> None:
    """Per deal type: the stage's exit shares shrunk towards the pooled ones (see the module
    docstring); the win-direction share as a Beta posterior under the same prior."""
    v = visits[visits["stage"] == st.id]
    shares: dict[str, dict[str, float]] = {}
    n: dict[str, int] = {}
    times: dict[str, dict[str, tuple[FloatArray, FloatArray, int]]] = {}
    for g in names:
        mine = v[v["group"] == g]
        done = mine["to"] != ""
        n[g] = int(done.sum())
        times[g] = {}
        if n[g] == 0:
            shares[g] = {}
            continue
        aj = aalen_johansen(mine["days"], mine["to"].where(done), mine["entry"])
        sh = {k: aj.cif(k) for k in aj.jumps}
        sh["lost"] = sh.get("lost", 0.0) + aj.tail
        shares[g] = sh
        for key, mass in aj.jumps.items():
            if mass.sum() > 0:
                times[g][key] = (aj.times, mass / mass.sum(), aj.events[key])
    win_pooled = {e.to for e in st.exits} & forward
    k = np.array([round(n[g] * sum(shares[g].get(x, 0.0) for x in win_pooled)) for g in names])
    trials = np.array([n[g] for g in names])
    a, b, note = eb_prior(k, trials)
    priors[st.id] = note
    strength = a + b
    pooled = {e.to: e.p for e in st.exits}
    for i, g in enumerate(names):
        advance[g][st.id] = beta_rate(int(k[i]), int(trials[i]), (a, b))
        if len(names) == 1:
            continue
        mixed = [
            replace(e, p=(n[g] * shares[g].get(e.to, 0.0) + strength * pooled[e.to])
                    / (n[g] + strength),
                    time=_shrunk_time(e, g, times))
            for e in st.exits
        ]  # fmt: skip
        total = math.fsum(e.p for e in mixed)
        group_exits[g][st.id] = tuple(replace(e, p=e.p / total) for e in mixed)


def _shrunk_time(
    e: ExitFit, group: str, times: dict[str, dict[str, tuple[FloatArray, FloatArray, int]]]
) -> ExitTimeFit:
    """A deal type's time for exit ``e``: its own empirical distribution mixed with the pooled
    one, weight ``n / (n + s)`` on its own for ``n`` exits of its own. ``s = sigma^2 / tau^2``
    (normal-normal empirical Bayes on the mean of log(1 + days)): ``sigma^2`` the within-type
    variance, ``tau^2`` the between-type variance of the means beyond their sampling variance
    (method of moments, DerSimonian-Laird), floored at zero, when ``s`` is infinite: the pooled
    time. Only for empirical exits (a lognormal exit keeps its pooled fit)."""
    spec = e.time.spec.get("discrete")
    if not isinstance(spec, dict):
        return e.time
    stats_ = []
    for by_exit in times.values():
        if e.to in by_exit:
            t, w, k = by_exit[e.to]
            logs = np.log1p(t)
            m = float(np.sum(w * logs))
            stats_.append((m, float(np.sum(w * (logs - m) ** 2)), k))
    if len(stats_) < 3 or e.to not in times[group]:
        return e.time
    means = np.array([x[0] for x in stats_])
    counts = np.array([x[2] for x in stats_], dtype=np.float64)
    within = float(np.average([x[1] for x in stats_], weights=counts))
    tau2 = float(np.var(means, ddof=1)) - float(np.mean(within / counts))
    if tau2 <= 0:
        return e.time
    t, w, k = times[group][e.to]
    own = k / (k + within / tau2)
    pooled_v = np.asarray(spec["values"], dtype=np.float64)
    pooled_p = np.asarray(spec["p"], dtype=np.float64)
    quant = np.where(t < 1.0, np.round(t * 24) / 24, np.round(t))
    values = np.union1d(pooled_v, quant)
    probs = np.zeros(len(values))
    np.add.at(probs, np.searchsorted(values, pooled_v), (1 - own) * pooled_p)
    np.add.at(probs, np.searchsorted(values, quant), own * w)
    keep = probs > 0
    values, probs = values[keep], probs[keep]
    cum = np.cumsum(probs)
    new_spec: dict[str, object] = {
        "discrete": {"values": [float(f"{x:.6g}") for x in values], "p": probabilities(probs)}
    }
    return ExitTimeFit(
        new_spec, "empirical",
        float(values[min(int(np.searchsorted(cum, 0.5 - 1e-12)), len(values) - 1)]),
        float(values[min(int(np.searchsorted(cum, 0.9 - 1e-12)), len(values) - 1)]),
        f"this type's times weighted {own:.2f} against the pooled ones",
    )  # fmt: skip


def _months(start: pd.Timestamp, end: pd.Timestamp) -> pd.PeriodIndex:
    return pd.period_range(start.to_period("M"), (end - pd.Timedelta(days=1)).to_period("M"))


def _arrivals_break(
    h: History, monthly: pd.DataFrame, expected: FloatArray, pattern: ArrivalPattern | None
) -> pd.Timestamp | None:
    """The first day of the month from which new deals left their fitted pattern and stayed
    away (a hiring freeze after growth, a new market), found as :func:`_won_shift` finds a
    change of the chance to win: the split of the whole months whose last ``k`` (three at
    least, six before them) differ most from the months before, each side's counts against
    the pattern, at 1% of the largest ``|z|`` of histories without a break; None without one.
    Said in the report; the arrivals are then fitted on the months since."""
    whole = monthly[monthly["exposure"] >= 1.0]
    if pattern is None or len(whole) < SHIFT_MONTHS + 6:
        return None
    o = whole["count"].to_numpy(dtype=np.float64)
    e = expected[monthly["exposure"].to_numpy() >= 1.0]
    found = _shift_split(o, e * o.sum() / e.sum(), pattern.parameters - 1)
    if found is None:
        return None
    k, z, _ = found
    since = whole.index[-k].start_time
    ratio = o[-k:].sum() / e[-k:].sum()
    h.report.add(
        "arrivals_break", "info",
        f"new deals since {since.date()} ran at {ratio:.2f}x their fitted pattern (z = {z:+.1f}, "
        "beyond any split of months without a break at 1%): arrivals are fitted on the months "
        "since then",
        rows=int(o[-k:].sum()),
    )  # fmt: skip
    return since


def _load_break(
    h: History,
    arrived: pd.DataFrame,
    load_days: pd.Series,
    monthly: pd.DataFrame,
    expected: FloatArray,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.Timestamp | None:
    """The day after the last load, where new deals came after it at another level than the
    arrival pattern expects (1%, ``DRIFT_LEVEL``); else None. A load (:func:`_bulk_loaded`)
    that brings a second team's pipeline brings its new deals after it, long before whole
    months after it could show a break (:func:`_arrivals_break`). The load is a known date,
    not one searched for, so one test decides: the deals opened after it against the
    pattern's expectation for those days (its trend and cycle), Poisson, two-sided, with a
    month at least before the load. Said in the report; the arrivals are then fitted on the
    days since, as after a break (with the trend and cycle of the months before where those
    days are too few for their own: :func:`_with_shape`)."""
    days = load_days[(load_days > start) & (load_days < end)]
    if days.empty or monthly.empty or month_exposure(start, days.max()) < 1.0:
        return None
    since = days.max() + pd.Timedelta(days=1)  # every deal opened on the load day was loaded
    after = np.array(
        [month_exposure(max(m.start_time, since), min((m + 1).start_time, end))
         for m in monthly.index]
    )  # fmt: skip
    observed = monthly["exposure"].to_numpy(dtype=np.float64)
    share = np.divide(after, observed, out=np.zeros(len(after)), where=observed > 0)
    mean = float((np.asarray(expected) * share).sum())
    late = int((arrived["opened"] >= since).sum())
    if mean <= 0:
        return None
    p = min(1.0, 2 * min(stats.poisson.cdf(late, mean), stats.poisson.sf(late - 1, mean)))
    if p >= DRIFT_LEVEL:
        return None
    h.report.add(
        "arrivals_since_load", "info",
        f"{late:,} new deals came after the load of {days.max().date()} where the arrivals' "
        f"pattern expects {mean:,.1f} (Poisson, p = {p:.2g}): the load brought new deals with "
        "it, so arrivals are fitted on the days since (with the trend and cycle of the months "
        "before, where those days are too few for their own)",
        rows=late,
    )  # fmt: skip
    return since


def _with_shape(
    pattern: ArrivalPattern, shape: ArrivalPattern, monthly: pd.DataFrame
) -> ArrivalPattern:
    """``pattern`` (fitted on the months since a load) as it is where those months support a
    trend or cycle of their own, else the trend and cycle ``shape`` fitted before the load at
    the level since (the count since over the shape's expectation): a month or two after a
    load says its level, not a cycle, and a month at a quarter's end is no quarter's mean."""
    if pattern.trend or pattern.month_factor or not (shape.trend or shape.month_factor):
        return pattern
    cycle = np.array([shape.month_factor.get(m.month, 1.0) for m in monthly.index])
    growth = (1 + shape.trend) ** np.arange(len(monthly), dtype=np.float64)
    weight = monthly["exposure"].to_numpy(dtype=np.float64) * cycle * growth
    level = float(monthly["count"].sum()) / float(weight.sum())
    return replace(
        shape,
        expected=level * weight,
        note=f"{shape.note}, as before the load, at the level of the months since",
        parameters=1,  # only the level is fitted to the months since
    )


def _type_trends(
    arrived: pd.DataFrame,
    names: list[str],
    monthly: pd.DataFrame,
    pattern: ArrivalPattern | None,
    month0: int,
    exposure: float,
) -> dict[str, dict[str, float]]:
    """Each deal type's own arrival trend and its rate's factor at the start (GroupFit's
    ``trend`` and ``arrival_factor``), where the types' monthly arrivals do not share one
    trend (:func:`simsales.calibrate.fit.type_trends`); empty where they do."""
    if pattern is None or len(names) < 2 or len(monthly) == 0:
        return {}
    month = arrived["opened"].dt.to_period("M")
    per = arrived.groupby([month, "group"]).size().unstack(fill_value=0)
    per = per.reindex(index=monthly.index, columns=names, fill_value=0)
    found = type_trends(per.to_numpy().T, monthly["exposure"].to_numpy(),
                        [m.month for m in monthly.index], pattern, month0)  # fmt: skip
    if found is None:
        return {}
    trends, at_start = found
    mean = per.sum().to_numpy(dtype=np.float64) / exposure
    return {
        g: {"trend": float(trends[i]), "arrival_factor": float(at_start[i] / mean[i])}
        for i, g in enumerate(names)
    }


def _report_arrivals_stop(h: History, opened: pd.Series, t: pd.Timestamp) -> None:
    """Say so when new deals stop long before the as-of date: longer than a month and five
    times the median pause between the days deals arrived on, as an export of a fixed set of
    deals (those created in 2022, pulled in 2023) shows; its rate is then fitted through the
    pause."""
    days = np.unique(opened.dropna().dt.normalize().to_numpy())
    if len(days) < 10:
        return
    quiet = (t.normalize() - pd.Timestamp(days[-1])).days
    usual = float(np.median(np.diff(days) / np.timedelta64(1, "D")))
    if quiet > max(31.0, 5.0 * usual):
        h.report.add(
            "arrivals_stop", "kept",
            f"no new deal in the {quiet:,} days from {pd.Timestamp(days[-1]).date()} to "
            f"{t.date()}, where one arrived every {usual:g} days (median) before: if the export "
            "holds only deals created until then, the forecast's new deals (a rate fitted "
            "through the pause) are too few; export every deal, or set arrivals yourself",
            rows=1,
        )  # fmt: skip


def _arrival_pattern(
    arrived: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, t: pd.Timestamp
) -> tuple[ArrivalPattern | None, int, pd.DataFrame, FloatArray]:
    """The arrival pattern of the monthly totals, the scenario's start month (counted from the
    first month) and the monthly table (count, exposure) it was fitted to."""
    months = _months(start, end)
    if len(months) == 0:
        return None, 0, pd.DataFrame(columns=["count", "exposure"]), np.zeros(0)
    counts = arrived["opened"].dt.to_period("M").value_counts().reindex(months, fill_value=0)
    exposure = np.array(
        [month_exposure(max(m.start_time, start), min((m + 1).start_time, end)) for m in months]
    )
    monthly = pd.DataFrame({"count": counts.to_numpy(), "exposure": exposure}, index=months)
    pattern = arrival_pattern(monthly["count"], exposure, [m.month for m in months])
    first_day = t + pd.Timedelta(days=1)
    month0 = (first_day.year - months[0].year) * 12 + first_day.month - months[0].month
    return pattern, month0, monthly, pattern.expected


def _uncertainty(
    visits: pd.DataFrame,
    monthly: pd.DataFrame,
    expected: FloatArray,
    pattern: ArrivalPattern | None,
    won: WonMonths | None,
    shift: WinShift | None,
) -> dict[str, Drift]:
    """The global multipliers' spreads (see the module docstring): the arrivals' and the win
    odds' between-month parts are drawn month by month; values have theirs per deal type
    (:func:`_value_drift`)."""
    out: dict[str, Drift] = {}
    if len(monthly):
        fitted = pattern.parameters if pattern is not None else 1
        drift = count_drift(monthly["count"], monthly["exposure"], expected, fitted)
        out["arrivals"] = replace(drift, monthly_var=drift.between_var)
    won_drift = _won_calendar_drift(won, shift) if won is not None else _unmeasured_odds(visits)
    if won_drift is not None:
        out["win_odds"] = won_drift
    done = visits[visits["to"] != ""]
    logs = np.log1p(done["days"].to_numpy(dtype=np.float64))
    if len(logs) > 1:
        out["duration"] = Drift(float(np.var(logs, ddof=1)) / len(logs), 0.0, 0, len(logs))
    return out


def _value_drift(deals: pd.DataFrame, months: float) -> Drift | None:
    """The spread of a deal type's value multiplier from its won deals' values (``deals``: the
    type's deals, or all of them for the pooled fit): the lognormal mean's sampling variance
    and the drift of the mean log value between close months, counted only when a dispersion
    test rejects homogeneous months at 1% (:func:`simsales.calibrate.fit.value_drift`)."""
    won = deals.loc[(deals["outcome"] == "won") & (deals["value"] > 0) & deals["closed"].notna()]
    if len(won) < 2:
        return None
    logs = np.log(won["value"].to_numpy(dtype=np.float64))
    return value_drift(logs, won["closed"].dt.to_period("M").astype(str).to_numpy()).over(months)


def _won_cycle(h: History, visits: pd.DataFrame, t: pd.Timestamp, winning: set[str]) -> WonCycle:
    """The calendar cycle of the chance to win (:func:`simsales.calibrate.fit.won_cycle`) from
    the decisions (visits that left for won or lost) of each month from the observation start
    to the as-of date, pooled over the ``winning`` stages (those with a won exit, where the
    ``won_season`` is written: a quarter-end push acts on each the same way)."""
    start = h.observed_from.normalize()
    end = t + pd.Timedelta(days=1)
    months = _months(start, end)
    d = visits[visits["to"].isin(["won", "lost"]) & visits["stage"].isin(winning)]
    d = d[d["left"] >= start]
    d = d[d["left"] < end]
    month = d["left"].dt.to_period("M")
    won = (d["to"] == "won").groupby(month).sum().reindex(months, fill_value=0)
    decided = month.value_counts().reindex(months, fill_value=0)
    return won_cycle(won.to_numpy(), decided.to_numpy(), [m.month for m in months])


def _expected_by_month(
    v: pd.DataFrame,
    to: pd.Series,
    first: pd.Timestamp,
    edges: FloatArray,
    causes: list[set[str]],
) -> list[FloatArray]:
    """For each set of exits of ``causes``, the sum of their Aalen-Johansen hazards over the
    ages the stage's visits ``v`` had in each month (``edges``: its days since ``first``):
    what a model that knows only time in stage expects of those exits month by month."""
    aj = aalen_johansen(v["days"], to, v["entry"])
    before = np.concatenate([[1.0], aj.surv[:-1]])
    entered = ((v["entered"] - first) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    entry = v["entry"].to_numpy(dtype=np.float64)
    lo = np.where(entry > 0, entry, -np.inf)  # late entry, as in the estimate
    hi = v["days"].to_numpy(dtype=np.float64)
    out = []
    for cause in causes:
        jumps = sum((aj.jumps[c] for c in cause if c in aj.jumps), np.zeros(len(aj.times)))
        hazard = np.where(before > 0, jumps / np.maximum(before, 1e-300), 0.0)
        out.append(_hazard_by_month(aj.times, hazard, entered, lo, hi, edges))
    return out


def _hazard_by_month(
    times: np.ndarray,
    hazard: np.ndarray,
    entered: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    edges: np.ndarray,
) -> np.ndarray:
    """Per month ``[edges[k], edges[k + 1])``, the sum over visits of ``hazard`` at the ages
    ``times`` each was at risk (``lo < age <= hi``) while the calendar (``entered + age``) was
    in that month: prefix sums of the hazard between the ages bounding each (visit, month), so
    the cost is visits x months, not visits x distinct ages (timestamped exports have one age
    per exit)."""
    cum = np.concatenate([[0.0], np.cumsum(hazard)])
    low = np.searchsorted(times, lo, side="right")  # first age above lo
    high = np.searchsorted(times, hi, side="right")  # ages up to hi
    start = edges[:-1][None, :] - entered[:, None]  # each month's first age, per visit
    stop = edges[1:][None, :] - entered[:, None]
    a = np.maximum(low[:, None], np.searchsorted(times, start, side="left"))
    b = np.minimum(high[:, None], np.searchsorted(times, stop, side="left"))
    return np.where(b > a, cum[b] - cum[np.minimum(a, b)], 0.0).sum(axis=0)


@dataclass(frozen=True)
class WonMonths:
    """Wins of each whole month from the observation start against what the exit hazards
    expect (see :func:`_won_calendar_drift`): ``observed`` and ``expected`` over every stage
    that can win; ``age_observed`` and ``age_expected`` over the stages with age-based exits
    only (not calendar x age hazards), before the scaling; ``free`` the calendar's free
    levels; ``p`` the decided deals' won share and ``n`` their number; ``forward`` and
    ``lost`` the visits that left the age-based stages towards a win (won or a later stage)
    and for lost, against the age-based hazards (see :func:`_won_shift`)."""

    months: tuple[pd.Period, ...]
    observed: FloatArray
    expected: FloatArray
    age_observed: FloatArray
    age_expected: FloatArray
    free: int
    p: float
    n: int
    forward: ExitMonths | None = None
    lost: ExitMonths | None = None
    by_stage: Mapping[str, tuple[ExitMonths, ExitMonths]] | None = None  # forward, lost


@dataclass(frozen=True)
class ExitMonths:
    """Visits that left by some exits in each whole month, and what the exit hazards by age
    expect of them."""

    observed: FloatArray
    expected: FloatArray

    def scaled(self) -> FloatArray:
        """The expected counts scaled to sum to the observed (the level fitted)."""
        return self.expected * (self.observed.sum() / self.expected.sum())


@dataclass(frozen=True)
class WinShift:
    """The recent level of winning, where it left the history's (see :func:`_won_shift`)."""

    factor: float  # the last months' wins over what the history's rates expect of them
    var_log: float  # the sampling variance of the log of the odds' change
    z: float  # the test statistic
    months: int  # the recent months
    since: date  # their first day
    decisions: int  # their visits that left forward or lost (of the age-based stages)
    forward: float  # the recent months' exits towards a win over what the rates expect
    lost: float  # and their lost exits'
    odds: Mapping[str, float]  # each age-based stage's factor on its odds of going forward


def _won_months(
    h: History,
    visits: pd.DataFrame,
    t: pd.Timestamp,
    cycle: WonCycle,
    calendar: Mapping[str, HazardFit] | None = None,
) -> WonMonths | None:
    start = h.observed_from.normalize()
    months = _months(start, t + pd.Timedelta(days=1))
    whole = [m for m in months if m.start_time >= start and m.end_time <= t + pd.Timedelta(days=1)]
    if len(whole) < 2:
        decided = visits.drop_duplicates("deal")["outcome"].isin(["won", "lost"])
        h.report.add(
            SHORT_HISTORY, "info",
            f"only {len(whole)} whole month{'s' if len(whole) != 1 else ''} of decisions before "
            f"{t.date()}: how much the chance to win moves from month to month cannot be "
            "measured (two are needed), so the intervals take a prior for it (a log-odds sd "
            f"of {math.sqrt(UNMEASURED_ODDS_VAR):g} between months), not a measurement",
            rows=int(decided.sum()),
        )  # fmt: skip
        return None
    first = whole[0].start_time
    n_months = len(whole)
    observed = np.zeros(n_months)
    age_observed = np.zeros(n_months)
    expected = np.zeros(n_months)  # by the age-based hazards, before the cycle
    by_calendar = np.zeros(n_months)  # by the calendar x age hazards
    day = pd.Timedelta(days=1)
    chosen = {s: f for s, f in (calendar or {}).items() if f.chosen and "won" in f.exits}
    timed = {s for s, f in (calendar or {}).items() if f.chosen}  # not age-based
    edges = np.array([(m.start_time - first) / day for m in [*whole, whole[-1] + 1]])
    forward = ExitMonths(np.zeros(n_months), np.zeros(n_months))
    lost = ExitMonths(np.zeros(n_months), np.zeros(n_months))
    by_stage: dict[str, tuple[ExitMonths, ExitMonths]] = {}
    forward_won = np.zeros(n_months)
    cleaned = _cleaned_up(h, visits)

    def by_month(left: pd.Series) -> FloatArray:
        k = ((left.dt.year - first.year) * 12 + left.dt.month - first.month).to_numpy()
        ok = (k >= 0) & (k < n_months)
        return np.bincount(k[ok].astype(np.int64), minlength=n_months).astype(np.float64)

    for stage in h.stages:
        v = visits[visits["stage"] == stage]
        to = v["to"].where(v["to"] != "")
        if stage in chosen:
            observed += by_month(v.loc[to == "won", "left"])
            by_calendar += [chosen[stage].won_expected.get(m, 0.0) for m in whole]
        if stage in timed or not to.isin(["won", "lost"]).any():
            continue
        ahead = _forward(h, stage)
        towards, won, away = _expected_by_month(
            v, to, first, edges, [ahead - {"won"}, {"won"}, {"lost"}]
        )
        counts = by_month(v.loc[to == "won", "left"])
        observed += counts
        age_observed += counts
        expected += won
        if v.index.isin(cleaned).any():  # for the odds' test, open until the clean-up
            to = to.where(~v.index.isin(cleaned))
            towards, won, away = _expected_by_month(
                v, to, first, edges, [ahead - {"won"}, {"won"}, {"lost"}]
            )
        by_stage[stage] = (
            ExitMonths(by_month(v.loc[to.isin(ahead), "left"]), towards + won),
            ExitMonths(by_month(v.loc[to == "lost", "left"]), away),
        )
        forward.observed[:] += by_stage[stage][0].observed
        forward.expected[:] += towards
        forward_won += won  # with the cycle, below
        lost.observed[:] += by_stage[stage][1].observed
        lost.expected[:] += away
    decided = visits.drop_duplicates("deal")["outcome"]
    n_won, n_lost = int((decided == "won").sum()), int((decided == "lost").sum())
    if observed.sum() == 0 or n_won + n_lost == 0:
        return None
    factors = np.array([cycle.factor(m.month) for m in whole])
    age_expected = expected * factors
    forward.expected[:] += forward_won * factors
    free = len(cycle.factors) - 1 if cycle.form != "none" else 0
    if chosen:
        free = max(free, HAZARD_ROWS["month_of_quarter"] - 1)
    return WonMonths(
        tuple(whole), observed, age_expected + by_calendar, age_observed, age_expected, free,
        n_won / (n_won + n_lost), n_won + n_lost, forward, lost, by_stage,
    )  # fmt: skip


SHIFT_DRAWS = 2000  # null histories drawn to find the largest split's critical |z|


def _split_z(
    o: npt.ArrayLike, e: FloatArray, ks: npt.NDArray[np.int64], df: int
) -> tuple[FloatArray, FloatArray]:
    """``log r`` and its variance for each split of the months ``o`` (rows: histories) into
    all but the last ``k`` and the last ``k`` (last axis: ``ks``), against the expected ``e``
    (see :func:`_won_shift`), with every month (middle axis: 0 none, ``1 + m`` month ``m``)
    left out in turn; NaN where a side has no counts or none expected. Each side's Pearson
    chi-square about its own level ``L = O / E`` is ``sum(o^2 / e) / L - 2 sum(o) + L E``
    (over the months with ``e > 0``), so every split and every month left out comes from
    prefix sums, not a loop over them."""
    o = np.atleast_2d(np.asarray(o, dtype=np.float64))
    n = o.shape[1]
    pos = e > 0
    ee = np.broadcast_to(e, o.shape)
    parts = [o, np.where(pos, o * o / np.where(pos, e, 1.0), 0.0), np.where(pos, o, 0.0), ee]
    recent_mask = np.arange(n)[:, None] >= n - ks[None, :]  # (month, split)

    def sides(x: FloatArray) -> tuple[FloatArray, FloatArray]:
        before = np.cumsum(x, axis=1)[:, n - ks - 1]  # (histories, splits)
        recent = x.sum(axis=1, keepdims=True) - before
        # (histories, 1 + months, splits): month m left out of its side
        out_r = np.where(recent_mask[None], x[:, :, None], 0.0)
        out_b = np.where(~recent_mask[None], x[:, :, None], 0.0)
        zeros = np.zeros_like(recent[:, None, :])
        r = recent[:, None, :] - np.concatenate([zeros, out_r], axis=1)
        b = before[:, None, :] - np.concatenate([zeros, out_b], axis=1)
        return r, b

    (o_r, o_b), (q_r, q_b), (p_r, p_b), (e_r, e_b) = (sides(x) for x in parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (o_r > 0) & (o_b > 0) & (e_r > 0) & (e_b > 0)
        l_r, l_b = o_r / e_r, o_b / e_b
        chi2 = q_r / l_r - 2 * p_r + l_r * e_r + q_b / l_b - 2 * p_b + l_b * e_b
        dfs = np.r_[df, np.full(n, df - 1)][None, :, None]  # a month left out is one less
        var = np.maximum(1.0, chi2 / np.maximum(dfs, 1)) * (1 / o_r + 1 / o_b)
        lr = np.log(l_r / l_b)
    return np.where(ok, lr, np.nan), np.where(ok, var, np.nan)


def _lasting_z(lr: FloatArray, var: FloatArray) -> FloatArray:
    """The split's ``z`` that lasts: the smallest ``|z|`` with any one month left out (the
    same sign as with all of them, else 0), so a change carried by one month (a clean-up
    closing old deals in a day, a one-off surge) is not read as one that lasted; NaN where
    the whole months give none."""
    z = lr / np.sqrt(var)
    full = z[:, 0, :]
    agree = np.where(np.isnan(z), 0.0, np.sign(z)) == np.sign(full)[:, None, :]
    least = np.where(np.isnan(z), 0.0, np.abs(z)).min(axis=1)
    return np.where(np.isnan(full), np.nan, np.where(agree.all(axis=1), np.sign(full) * least, 0.0))


def _won_shift(w: WonMonths | None) -> WinShift | None:
    """Whether the chance to win changed some months ago and stayed changed (a price change, a
    new competitor, a reorganised team). A deal is won by going forward at every stage, so a
    change shows at each stage as decisions that go against it more or less often: over the
    stages with age-based exits, ``F`` the visits that left towards a win (won or a later
    stage) and ``L`` those lost, each month's against what the history's exit hazards expect
    at the ages the open visits had then (``EF``, ``EL``; the times of the moves are the
    model's, so only the odds between them is tested, not the pace). For each split of the
    whole months into the months before and the last ``k`` (``SHIFT_MONTHS`` at least, six
    months before them at least: a quarter cycle's two turns), ``log r = log((F_r / EF_r) /
    (F_b / EF_b)) - log((L_r / EL_r) / (L_b / EL_b))``, the odds' change, tested by ``z =
    log r / sqrt(phi_F (1 / F_r + 1 / F_b) + phi_L (1 / L_r + 1 / L_b))``, where each ``phi``
    (at least 1) is that series' Pearson dispersion about its own side's level, so the
    month-to-month noise is not read as a change and a change does not hide itself in the
    noise, and it must hold with any one month left out (:func:`_lasting_z`: a clean-up that
    closes old deals in a day is no change that lasts). The split with the largest ``|z|`` is
    the change's month; it counts where that ``|z|`` passes the ``1 - DRIFT_LEVEL`` quantile
    of the largest ``|z|`` of ``SHIFT_DRAWS`` histories without a change (each month's counts
    Poisson at their expected, the same statistic; a fixed seed,
    so the same history gives the same answer): the splits overlap, so a Bonferroni bound
    over them would miss real changes. A change sets the odds at the recent level: the exit
    rates were fitted on every month, so the factors on them are ``F_r / EF_r`` and ``L_r /
    EL_r`` (each E summing to its O), the odds' log variance the test's. Only a test of the
    wins of the stages that win would miss a change decided upstream: fewer deals reach
    those stages, and their own won share moves little."""
    if w is None or w.forward is None or w.lost is None or len(w.months) < SHIFT_MONTHS + 6:
        return None
    if min(w.forward.expected.sum(), w.lost.expected.sum()) <= 0:
        return None
    f, fe, lo, le = w.forward.observed, w.forward.scaled(), w.lost.observed, w.lost.scaled()
    found = _shift_split(f, fe, w.free, against=(lo, le))
    if found is None:
        return None
    k, z, var = found
    # the wins' own recent level, for the month-to-month drift measured about it
    won = w.age_expected.sum() > 0 and w.age_observed.sum() > 0
    scale = w.age_observed.sum() / w.age_expected.sum() if won else 1.0
    factor = float(w.age_observed[-k:].sum() / (w.age_expected[-k:].sum() * scale)) if won else 1.0
    since = w.months[-k].start_time.date()
    go, gone = float(f[-k:].sum() / fe[-k:].sum()), float(lo[-k:].sum() / le[-k:].sum())
    decisions = round(f[-k:].sum() + lo[-k:].sum())
    odds = _stage_odds(w.by_stage or {}, k, math.log(go / gone))
    return WinShift(factor, var, z, k, since, decisions, go, gone, odds)


def _stage_odds(
    by_stage: Mapping[str, tuple[ExitMonths, ExitMonths]], k: int, pooled: float
) -> dict[str, float]:
    """Each stage's factor on its odds of going forward over the last ``k`` months: its own
    change ``d = log((F_r / EF_r) / (L_r / EL_r))`` (each E scaled to sum to its O over every
    month; sampling variance ``v = 1 / F_r + 1 / L_r``) shrunk towards the stages' precision-
    weighted mean by the DerSimonian-Laird between-stage variance ``tau2``: ``mean + (d -
    mean) tau2 / (tau2 + v)``. So a change decided at one stage moves that stage's odds, not
    every stage's alike, while a stage with few recent decisions takes about the mean; a stage
    with none recent, forward or lost, takes the pooled change ``pooled``."""
    d: dict[str, float] = {}
    v: dict[str, float] = {}
    for stage, (fwd, lost) in by_stage.items():
        f_r, l_r = fwd.observed[-k:].sum(), lost.observed[-k:].sum()
        if f_r <= 0 or l_r <= 0 or min(fwd.expected.sum(), lost.expected.sum()) <= 0:
            continue
        d[stage] = math.log(f_r / fwd.scaled()[-k:].sum()) - math.log(
            l_r / lost.scaled()[-k:].sum()
        )
        v[stage] = 1 / f_r + 1 / l_r
    out = dict.fromkeys(by_stage, math.exp(pooled))
    if not d:
        return out
    w = {s: 1 / v[s] for s in d}
    total = sum(w.values())
    mean = sum(w[s] * d[s] for s in d) / total
    q = sum(w[s] * (d[s] - mean) ** 2 for s in d)
    denom = total - sum(x * x for x in w.values()) / total
    tau2 = max(0.0, (q - (len(d) - 1)) / denom) if denom > 0 else 0.0
    return out | {s: math.exp(mean + (d[s] - mean) * tau2 / (tau2 + v[s])) for s in d}


def _shift_split(
    o: FloatArray, e: FloatArray, free: int, against: tuple[FloatArray, FloatArray] | None = None
) -> tuple[int, float, float] | None:
    """The last ``k`` months that differ most from those before (``SHIFT_MONTHS`` at least,
    six before them at least), against the expected ``e`` (summing to ``o``) with ``free``
    parameters fitted besides the level: ``(k, z, var)`` where that ``|z|`` passes the
    ``1 - DRIFT_LEVEL`` quantile of the largest of ``SHIFT_DRAWS`` histories without a change
    (Poisson months at ``e``, a fixed seed), else None (see :func:`_won_shift`). With
    ``against`` (a second series and its expected), the change tested is the ratio of the
    two series' changes, the variances of their logs summed."""
    n = len(o)
    df = n - 2 - free
    if df < 1 or n < SHIFT_MONTHS + 6:
        return None
    ks = np.arange(SHIFT_MONTHS, n - 6 + 1)
    rng = np.random.default_rng(0)

    def split(o: npt.ArrayLike, o2: npt.ArrayLike | None) -> tuple[FloatArray, FloatArray]:
        lr, var = _split_z(o, e, ks, df)
        if against is not None and o2 is not None:
            lr2, var2 = _split_z(o2, against[1], ks, df)
            lr, var = lr - lr2, var + var2
        return _lasting_z(lr, var), var[:, 0, :]

    z, var = (x[0] for x in split(o, None if against is None else against[0]))
    if np.isnan(z).all():
        return None
    j = int(np.nanargmax(np.abs(z)))
    null_o = rng.poisson(e, (SHIFT_DRAWS, n))
    null_o2 = None if against is None else rng.poisson(against[1], (SHIFT_DRAWS, n))
    largest = np.concatenate([
        np.nan_to_num(np.abs(split(null_o[c : c + 200], None if null_o2 is None
                                   else null_o2[c : c + 200])[0])).max(axis=1)
        for c in range(0, SHIFT_DRAWS, 200)  # in chunks: months x splits per history
    ])  # fmt: skip
    crit = float(np.quantile(largest, 1 - DRIFT_LEVEL))
    if abs(z[j]) < crit:
        return None
    return int(ks[j]), float(z[j]), float(var[j])


def _at_recent_level(
    h: History,
    stages: tuple[StageFit, ...],
    group_exits: dict[str, dict[str, tuple[ExitFit, ...]]],
    shift: WinShift,
) -> tuple[tuple[StageFit, ...], dict[str, dict[str, tuple[ExitFit, ...]]]]:
    """At each age-based stage, for the stage and each deal type, the odds of its exits
    towards a win (won or a later stage) against its lost exit times the stage's factor
    (:func:`_stage_odds`), their shares' sum kept (and the lost share at least 1% of it): the
    odds of going forward at their recent level. Said in the report."""

    def moved(stage: str, exits: tuple[ExitFit, ...]) -> tuple[ExitFit, ...]:
        ahead = _forward(h, stage)
        go = sum(e.p for e in exits if e.to in ahead)
        lost = sum(e.p for e in exits if e.to == "lost")
        if go <= 0 or lost <= 0 or stage not in shift.odds:
            return exits
        total = go + lost
        share = min(shift.odds[stage] * go / (shift.odds[stage] * go + lost), 0.99)
        scale = {"lost": total * (1 - share) / lost} | dict.fromkeys(ahead, total * share / go)
        return tuple(replace(e, p=e.p * scale[e.to]) if e.to in scale else e for e in exits)

    age = {st.id for st in stages if st.hazards is None or not st.hazards.chosen}
    stages = tuple(
        replace(st, exits=moved(st.id, st.exits)) if st.id in age else st for st in stages
    )
    group_exits = {
        g: {sid: moved(sid, ex) if sid in age else ex for sid, ex in by_stage.items()}
        for g, by_stage in group_exits.items()
    }
    odds = shift.forward / shift.lost
    h.report.add(
        "win_shift", "info",
        f"in the last {shift.months} whole months (from {shift.since}) deals went forward "
        f"{shift.forward:.2f}x and were lost {shift.lost:.2f}x as often as the history's exit "
        f"rates expect (the odds of going forward {odds:.2f}x, z = {shift.z:+.1f}, beyond the "
        f"month-to-month noise at {DRIFT_LEVEL:g}): each stage's odds are taken at their "
        "recent level ("
        + ", ".join(f"{s} {x:.2f}x" for s, x in shift.odds.items())
        + "), their uncertainty in the win odds' spread",
        rows=shift.decisions,
    )  # fmt: skip
    return stages, group_exits


def _won_calendar_drift(w: WonMonths | None, shift: WinShift | None = None) -> Drift | None:
    """How much the wins of each calendar month vary beyond what the exit hazards expect, as a
    spread of the odds of winning.

    Sampling part: the binomial variance of the log-odds of the decided deals' won share,
    ``1 / (N p (1 - p))`` (``N`` deals won or lost, ``p`` the share won), and with a recent
    ``shift`` its estimate's (the variance of the log of the odds' change).

    Between months: for every whole month from the observation start to the as-of date, ``O``
    the visits that left for ``won`` in it, ``E`` the sum over the visits in a stage during it
    of the stage's Aalen-Johansen hazard of a win at the ages they had then (the expectation of
    a model that knows only time in stage), times the month's factor of ``cycle`` (the fitted
    ``won_season``) and, with a ``shift``, its factor in the recent months; on a stage with
    calendar x age hazards (``calendar``, the chosen fits by stage) the wins its hazards
    expect in the month instead (the calendar is in them, so it is not counted as drift). The
    ``E`` are scaled to sum to the ``O``. Pearson's chi-square of ``O`` against ``E`` tests
    homogeneity at 1% on ``df`` = months - 1 (the level) - the calendar's free levels (2 for a
    month-of-quarter cycle or hazards, 11 for a month-of-year cycle; 0 without either) - 1
    with a shift (:func:`simsales.calibrate.fit.count_drift`). Only when it rejects, the wins'
    relative variance beyond Poisson noise (method of moments, as a variance of the log)
    becomes one of the log-odds by the delta method (divided by ``(1 - p)^2``: multiplying the
    odds by ``m`` multiplies a small won share by about ``m^(1 - p)``); otherwise it is 0. So
    it is zero when the hazards (and the cycle) explain the months, and large when wins follow
    the calendar in a way they do not (``w``: :func:`_won_months`)."""
    if w is None:
        return None
    expected = w.expected.copy()
    fitted = 1 + w.free
    if shift is not None:
        expected[-shift.months :] += w.age_expected[-shift.months :] * (shift.factor - 1)
        fitted += 1
    if expected.sum() <= 0:
        return None
    expected *= w.observed.sum() / expected.sum()
    rel = count_drift(w.observed, np.ones(len(w.months)), expected, fitted=fitted)
    if not math.isfinite(rel.chi2):  # fewer months than the parameters fitted to them, plus one
        rel = replace(rel, between_var=UNMEASURED_ODDS_VAR * max(1.0 - w.p, 0.05) ** 2,
                      statistic="prior")  # fmt: skip
    p = w.p
    scale = 1.0 / max(1.0 - p, 0.05) ** 2
    q = min(max(p, 0.5 / w.n), 1 - 0.5 / w.n)  # half a deal off 0 and 1
    sampling = 1.0 / (w.n * q * (1 - q))
    if shift is not None:  # the odds' change, as the win odds multiply every stage's
        sampling += shift.var_log
    # month by month the factor is on the chance to win (as won_season), which the wins'
    # relative variance measures as it is; the odds' scale is for the notes and totals
    return replace(rel, sampling_var=sampling, between_var=rel.between_var * scale,
                   between_se=rel.between_se * scale, n=w.n,
                   monthly_var=rel.between_var)  # fmt: skip


def _unmeasured_odds(visits: pd.DataFrame) -> Drift | None:
    """The win odds' spread where too few whole months of decisions measure their drift (see
    ``UNMEASURED_ODDS_VAR``): the binomial sampling part of the decided deals' won share and
    the prior between-month part."""
    decided = visits.drop_duplicates("deal")["outcome"]
    n_won, n = int((decided == "won").sum()), int(decided.isin(["won", "lost"]).sum())
    if n_won == 0 or n_won == n:
        return None
    q = n_won / n
    return Drift(1.0 / (n * q * (1 - q)), UNMEASURED_ODDS_VAR, 0, n, statistic="prior",
                 monthly_var=UNMEASURED_ODDS_VAR * max(1.0 - q, 0.05) ** 2)  # fmt: skip


def _value_fallback(h: History, deals: pd.DataFrame) -> ValueFit:
    """No won values at all: the amounts of the other deals, else zero (with a note)."""
    amounts = fit_values(deals["value"])
    if amounts is not None:
        h.report.add(
            "no_won_values", "info",
            f"no won deal has a value: values are drawn from the amounts of {amounts.n:,} "
            "open or lost deals",
            rows=amounts.n,
        )  # fmt: skip
        return amounts
    h.report.add(
        "no_won_values", "info",
        "no deal has a value: revenue is not forecast (values set to 0); deal counts are",
        rows=len(deals),
    )  # fmt: skip
    return ValueFit(0, -math.inf, 0.0)


def _value(
    mine: pd.DataFrame, pooled: ValueFit | None, price: float | None, fallback: ValueFit | None
) -> tuple[ValueFit | None, str]:
    fit = fit_values(mine.loc[mine["outcome"] == "won", "value"])
    if fit is not None and fit.n >= MIN_VALUES:
        if fit.resampled:
            return fit, (
                "the won deals' values, resampled (their logs are not normal: D'Agostino-"
                f"Pearson test at {VALUE_LEVEL:g})"
            )
        return fit, "lognormal fitted to the values of won deals"
    if price is not None and math.isfinite(price) and price > 0:
        return ValueFit(0, math.log(price), 0.0), "catalog list price (too few won values)"
    if pooled is None:
        if fallback is not None and fallback.n > 0:
            return fallback, "amounts of open and lost deals (no won values in the export)"
        return fallback, "no values in the export: 0"
    return pooled, "all types pooled (too few won values of this type)"


def _rep_call(d: Mapping[str, Any]) -> dict[str, Any]:
    """The CRM's own view of an open deal, kept beside the simulated one: team, probability,
    forecast category and expected close (as ``target_close``)."""
    out: dict[str, Any] = {}
    if isinstance(d.get("team"), str):
        out["team"] = d["team"]
    p = d.get("crm_probability")
    if p is not None and pd.notna(p) and 0 <= float(p) <= 1:
        out["probability"] = float(p)
    if d.get("forecast_category") in CATEGORIES:
        out["forecast_category"] = d["forecast_category"]
    close = d.get("expected_close")
    if close is not None and pd.notna(close):
        out["target_close"] = pd.Timestamp(close).date().isoformat()
    return out


def _pipeline(
    h: History,
    deals: pd.DataFrame,
    ids: dict[str, str],
    t: pd.Timestamp,
    on_load: pd.DataFrame,
    loaded_ages: dict[str, float],
) -> list[dict[str, Any]]:
    open_deals = deals[deals["outcome"] == "open"].sort_values(["opened", "deal"])
    if open_deals.empty:  # every deal decided: an empty pipeline (map() would give floats)
        return []
    cur = h.visits[h.visits["exit"] == "open"].set_index("deal")["entered"]
    entered = open_deals["deal"].map(cur).fillna(open_deals["opened"])
    # date-only: entered mid-day, so 0.5 d on the as-of day; timestamps: to the end of it
    to_end = 0.5 if h.date_only else 1.0
    ages = ((t - entered) / pd.Timedelta(days=1) + to_end).clip(lower=0.0)
    # still in the stage it was loaded into: older than its time since the load
    still_loaded = on_load.loc[on_load["to"] == "", ["deal", "stage"]].set_index("deal")["stage"]
    extra = open_deals["deal"].map(still_loaded).map(loaded_ages)
    ages = ages + extra.fillna(0.0).to_numpy(dtype=np.float64)
    taken: set[str] = set()
    out = []
    for d, days in zip(open_deals.to_dict("records"), ages.to_numpy(), strict=True):
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
        deal.update(_rep_call(d))
        out.append(deal)
    return out
