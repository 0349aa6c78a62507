"""Compile a validated Scenario into a Model: plain arrays, samplers and compiled expressions.

Nothing in the simulation's hot loop looks up a name, converts a date or touches a pydantic
object: that all happens here, once per run. A Model pickles, so process and Dask workers get it
as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt

from simsales.engine.hazards import HazardPlan, hazard_plan
from simsales.engine.season import SeasonPlan, season_plan
from simsales.engine.streams import SLOT_VALUE, SLOT_VISITS, stable_hash
from simsales.scenario.calendar import WorkCalendar
from simsales.scenario.distributions import DistributionSpec, Sampler
from simsales.scenario.rules import CompiledExpression
from simsales.scenario.schema import (
    MONTHS,
    MonthlyUncertainty,
    Risk,
    Scenario,
    Stage,
    Uncertainty,
)

__all__ = [
    "MONTHLY",
    "SLOT_VALUE",
    "SLOT_VISITS",
    "TO_LOST",
    "TO_WON",
    "UNCERTAIN",
    "ArrivalPlan",
    "ExitPlan",
    "Model",
    "MonthlyPlan",
    "RiskPlan",
    "RulePlan",
    "TypePlan",
    "UncertaintyPlan",
    "compile_model",
    "win_probabilities",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Needs = tuple[tuple[int, int], ...]  # (pool index, people)

SCOPE_DEAL, SCOPE_GLOBAL, SCOPE_RESOURCE = 0, 1, 2
TO_WON, TO_LOST = -1, -2  # exit targets that end the deal
UNCERTAIN = ("arrivals", "win_odds", "duration", "value")  # multipliers, in Uncertainty's order
MONTHLY = ("arrivals", "win")  # monthly multipliers, in MonthlyUncertainty's order


@dataclass(frozen=True)
class ExitPlan:
    """A stage's competing exits: target, share and time in the stage of each."""

    to: tuple[int, ...]  # stage index, or TO_WON / TO_LOST
    p: FloatArray
    after: tuple[Sampler, ...]
    towards_win: BoolArray  # to won or to a later stage: the odds win_odds multiplies
    stale_after: float  # stale live deals: -1 lost at once, else lost after these days
    hazard: HazardPlan | None = None  # `hazards:` (p: the shares of a deal entering at age 0)
    stale_from: float = math.inf  # a live deal this old in the stage is stale (`stale_from`)


@dataclass(frozen=True)
class TypePlan:
    """One deal type with its stage overrides applied; arrays are indexed by stage."""

    name: str
    label: str
    on: BoolArray  # stage not skipped by the type
    duration: tuple[Sampler, ...]
    advance: FloatArray
    rework_to: IntArray  # -1: no rework
    rework_p: FloatArray
    needs: tuple[Needs, ...]
    held: FloatArray  # (stage, pool): people the stage holds
    stage_cost: FloatArray  # direct cost per visit (travel, demo kit, ...)
    value: Sampler | None
    margin: float
    win_from: FloatArray  # chance to win from the start of each stage (absorbing chain)
    exits: tuple[ExitPlan | None, ...]  # per stage: competing exits, or None (advance/rework)
    season: tuple[SeasonPlan | None, ...] = ()  # per stage: won_season by month, or None


@dataclass(frozen=True)
class UncertaintyPlan:
    """One per-replication multiplier: drawn once per replication from its own stream."""

    name: str  # 'win_odds', or 'win_odds:TYPE' for a deal type's own
    kind: str  # one of UNCERTAIN
    type_index: int  # -1: every deal type
    key: int  # stable hash of the name: keys its stream
    sampler: Sampler


@dataclass(frozen=True)
class MonthlyPlan:
    """One ``uncertainty.monthly`` multiplier: drawn for every calendar month of the run, month
    ``i`` from its own stream (``keys[i]``: the name and the month's label)."""

    kind: str  # "arrivals" | "win"
    keys: npt.NDArray[np.uint64]  # per month from the scenario's start month
    bounds: FloatArray  # model time at which each of those months begins (SeasonPlan's)
    sampler: Sampler
    in_run: int  # how many of those months begin before the horizon

    @property
    def name(self) -> str:
        """Its name among the sampled inputs (the run's mean factor: ``monthly.win``)."""
        return f"monthly.{self.kind}"

    def run_mean(self, factors: FloatArray) -> float:
        """The mean factor over the run's months (exact: the same in both engines)."""
        return math.fsum(factors[: self.in_run].tolist()) / max(self.in_run, 1)


@dataclass(frozen=True)
class ArrivalPlan:
    type_index: int
    stage: int
    customer: str
    key: str  # stable id of the source: names its deals and keys its random streams
    month_start: FloatArray  # model time where each month's arrival interval begins
    month_end: FloatArray
    month_label: tuple[str, ...]
    month_index: IntArray  # the calendar month of each interval, from the scenario's start's
    rate: FloatArray  # expected arrivals in each month's interval
    key_hash: int  # stable_hash(key): keys the source's stream of monthly counts
    month_hash: tuple[int, ...]  # stable_hash("key@label"): keys each month's arrival times
    month_prefix: tuple[str, ...]  # "key@label#": the month's deals are this and a number


@dataclass(frozen=True)
class RiskPlan:
    index: int
    id: str
    key: int  # stable hash of the id: keys the risk's random streams
    scope: int
    p: float
    exposed: BoolArray  # deal scope: stages where a deal is exposed; global: stages hit
    window: tuple[float, float]
    types: BoolArray
    customers: frozenset[str] | None
    when: CompiledExpression | None
    delay: Sampler | None
    win_factor: float
    value_factor: float
    lost: bool
    pool: int
    capacity: int
    duration: Sampler | None
    cost: float  # mitigation cost: per exposed deal (deal scope) or per replication


@dataclass(frozen=True)
class RulePlan:
    index: int
    id: str
    key: int
    when: CompiledExpression
    win_factor: float
    value_factor: float
    delay: Sampler | None
    skip: BoolArray
    priority: float
    once: bool


@dataclass(frozen=True)
class Model:
    name: str
    currency: str
    start: date
    horizon: date
    horizon_t: float  # model time at the end of the horizon day
    calendar: WorkCalendar
    stage_ids: tuple[str, ...]
    stage_labels: tuple[str, ...]
    pool_ids: tuple[str, ...]
    capacity: IntArray
    capacity_changes: tuple[tuple[float, int, int], ...]  # (time, pool, new capacity), by time
    cost_per_day: FloatArray
    types: tuple[TypePlan, ...]
    # live pipeline, one entry per deal
    deal_ids: tuple[str, ...]
    deal_names: tuple[str, ...]
    deal_customers: tuple[str, ...]
    deal_type: IntArray
    deal_stage: IntArray
    deal_elapsed: FloatArray
    deal_value: FloatArray  # nan: drawn from the type
    deal_target: FloatArray  # model time of target_close; inf when none
    arrivals: tuple[ArrivalPlan, ...]
    risks: tuple[RiskPlan, ...]
    rules: tuple[RulePlan, ...]
    queue: str  # "fifo" | "earliest_target" | "expression"
    queue_expression: CompiledExpression | None
    queue_descending: bool
    targets: tuple[tuple[str, float, float, float], ...]  # (period, t0, t1, revenue target)
    global_cost: float  # mitigation costs paid once per replication
    uncertainty: tuple[UncertaintyPlan, ...]
    deal_keys: npt.NDArray[np.uint64] = field(repr=False)
    monthly: tuple[MonthlyPlan, ...] = ()

    @property
    def n_stages(self) -> int:
        return len(self.stage_ids)


def compile_model(s: Scenario) -> Model:
    """Turn a validated scenario into the plain structures the engine runs on."""
    calendar = s.calendar.build(s.start, s.horizon)
    stage_index = {st.id: i for i, st in enumerate(s.stages)}
    pool_index = {p: i for i, p in enumerate(s.resources)}
    type_index = {t: i for i, t in enumerate(s.deal_types)}
    horizon_t = float(calendar.to_model_time(s.horizon)) + (
        1.0 if calendar.is_workday(s.horizon) else 0.0
    )

    types = tuple(_type_plan(name, s, stage_index, pool_index, calendar) for name in s.deal_types)
    deals = s.deals()
    changes = sorted(
        (max(0.0, float(calendar.to_model_time(c.from_))), pool_index[p], c.capacity)
        for p, pool in s.resources.items()
        for c in pool.capacity_changes
    )
    queue = s.queue_discipline
    kind = "expression" if queue.expression is not None else queue.priority
    risks = tuple(
        _risk_plan(i, r, s, calendar, horizon_t, stage_index, pool_index, type_index)
        for i, r in enumerate(s.risks)
    )
    return Model(
        name=s.name,
        currency=s.currency,
        start=s.start,
        horizon=s.horizon,
        horizon_t=horizon_t,
        calendar=calendar,
        stage_ids=s.stage_ids,
        stage_labels=tuple(st.name or st.id for st in s.stages),
        pool_ids=tuple(s.resources),
        capacity=np.array([p.capacity for p in s.resources.values()], np.int64),
        capacity_changes=tuple(changes),
        cost_per_day=np.array([p.cost_per_day for p in s.resources.values()]),
        types=types,
        deal_ids=tuple(d.id for d in deals),
        deal_names=tuple(d.name or d.id for d in deals),
        deal_customers=tuple(d.customer or "" for d in deals),
        deal_type=np.array([type_index[d.type] for d in deals], np.int64),
        deal_stage=np.array([stage_index[d.stage] for d in deals], np.int64),
        deal_elapsed=np.array([d.days_in_stage for d in deals], np.float64),
        deal_value=np.array([np.nan if d.value is None else d.value for d in deals]),
        deal_target=np.array(
            [
                np.inf if d.target_close is None else calendar.to_model_time(d.target_close)
                for d in deals
            ],
            np.float64,
        ),
        arrivals=tuple(
            _arrival_plan(i, s, calendar, horizon_t, stage_index, type_index)
            for i in range(len(s.arrivals))
        ),
        risks=risks,
        rules=tuple(
            RulePlan(
                index=k,
                id=r.id,
                key=stable_hash(f"rule:{r.id}"),
                when=r.when,
                win_factor=1.0 if r.then.win_factor is None else r.then.win_factor,
                value_factor=1.0 if r.then.value_factor is None else r.then.value_factor,
                delay=_sampler(r.then.delay),
                skip=_mask(r.then.skip, stage_index),
                priority=r.then.priority or 0.0,
                once=r.once,
            )
            for k, r in enumerate(s.rules)
        ),
        queue=kind,
        queue_expression=queue.expression,
        queue_descending=queue.order == "desc",
        targets=tuple(
            (label, *calendar.period_bounds(label), amount)
            for label, amount in s.targets.revenue.items()
        ),
        global_cost=sum(r.cost for r in risks if r.scope != SCOPE_DEAL),
        uncertainty=(
            *_uncertainty(s.uncertainty, -1, ""),
            *(
                plan
                for t, dt in enumerate(s.deal_types.values())
                for plan in _uncertainty(dt.uncertainty, t, f":{types[t].name}")
            ),
        ),
        deal_keys=np.array([stable_hash(d.id) for d in deals], np.uint64),
        monthly=_monthly(s.uncertainty.monthly, s, calendar, horizon_t),
    )


def _sampler(spec: DistributionSpec | None) -> Sampler | None:
    return None if spec is None else spec.sampler()


def _mask(ids: tuple[str, ...], index: dict[str, int]) -> BoolArray:
    out = np.zeros(len(index), bool)
    out[[index[i] for i in ids]] = True
    return out


def _monthly(
    u: MonthlyUncertainty, s: Scenario, calendar: WorkCalendar, horizon_t: float
) -> tuple[MonthlyPlan, ...]:
    """The monthly multipliers over the months of the run (those a decision at the horizon
    can fall in too: SeasonPlan's months)."""
    n_months = (s.horizon.year - s.start.year) * 12 + s.horizon.month - s.start.month + 2
    bounds = np.asarray(calendar.month_starts(n_months), np.float64)
    first = s.start.year * 12 + s.start.month - 1
    labels = [f"{(first + i) // 12:04d}-{(first + i) % 12 + 1:02d}" for i in range(n_months)]
    return tuple(
        MonthlyPlan(
            kind=kind,
            keys=np.array(
                [stable_hash(f"uncertainty:monthly.{kind}@{x}") for x in labels], np.uint64
            ),
            bounds=bounds,
            sampler=spec.sampler(),
            in_run=int((bounds < horizon_t).sum()),
        )
        for kind in MONTHLY
        if (spec := getattr(u, kind)) is not None
    )


def _uncertainty(u: Uncertainty, type_index: int, suffix: str) -> list[UncertaintyPlan]:
    return [
        UncertaintyPlan(
            name=f"{kind}{suffix}",
            kind=kind,
            type_index=type_index,
            key=stable_hash(f"uncertainty:{kind}{suffix}"),
            sampler=spec.sampler(),
        )
        for kind in UNCERTAIN
        if (spec := getattr(u, kind)) is not None
    ]


def _type_plan(
    name: str,
    s: Scenario,
    stage_index: dict[str, int],
    pool_index: dict[str, int],
    calendar: WorkCalendar,
) -> TypePlan:
    dt = s.deal_types[name]
    stages = s.stages_of(name)
    n = len(stages)
    on = ~_mask(dt.skip, stage_index)
    exits = tuple(
        _exit_plan(i, st, stage_index, calendar, s.start, s.horizon) for i, st in enumerate(stages)
    )
    rework_to = np.array(
        [stage_index[st.rework.to] if st.rework else -1 for st in stages], np.int64
    )
    rework_p = np.array([st.rework.p if st.rework else 0.0 for st in stages])
    advance = np.array([st.advance for st in stages])
    for i, ex in enumerate(exits):
        if ex is not None:  # the simple form's view of the exits, for the funnel's inputs
            back = float(ex.p[[t >= 0 and t <= i for t in ex.to]].sum())
            rework_p[i] = back
            advance[i] = float(ex.p[ex.towards_win].sum()) / (1 - back) if back < 1 else 0.0
    return TypePlan(
        name=name,
        label=dt.name or name,
        on=on,
        duration=tuple(st.duration.sampler() for st in stages),
        advance=advance,
        rework_to=rework_to,
        rework_p=rework_p,
        needs=tuple(tuple((pool_index[p], c) for p, c in st.needs.items()) for st in stages),
        held=np.array(
            [[st.needs.get(p, 0) for p in pool_index] for st in stages], np.float64
        ).reshape(n, len(pool_index)),
        stage_cost=np.array([st.cost for st in stages]),
        value=_sampler(dt.value),
        margin=dt.margin,
        win_from=win_probabilities(on, advance, rework_to, rework_p, exits) if n else np.zeros(0),
        exits=exits,
        season=tuple(season_plan(st.won_season, calendar, s.start, s.horizon) for st in stages),
    )


def _exit_plan(
    i: int,
    st: Stage,
    stage_index: dict[str, int],
    calendar: WorkCalendar,
    start: date,
    horizon: date,
) -> ExitPlan | None:
    stale_after = -1.0 if st.stale == "lost" else st.stale.lost_after
    if st.hazards is not None:
        to = tuple(_target(e.to, stage_index) for e in st.hazards.exits)
        hz = hazard_plan(st.hazards, stale_after, to, i, TO_WON, TO_LOST, calendar, start, horizon)
        shares, last = st.hazards.shares()
        # the share lost at the last age joins the lost exit (or is one of its own)
        if TO_LOST in to:
            shares[to.index(TO_LOST)] += last
        else:
            to, shares = (*to, TO_LOST), [*shares, last]
        return ExitPlan(
            to=to,
            p=np.array(shares),
            after=(),
            towards_win=np.array([t == TO_WON or t > i for t in to]),
            stale_after=stale_after,
            hazard=hz,
        )
    if st.exits is None:
        return None
    to = tuple(_target(e.to, stage_index) for e in st.exits)
    return ExitPlan(
        to=to,
        p=np.array([e.p for e in st.exits]),
        after=tuple((st.duration if e.after is None else e.after).sampler() for e in st.exits),
        towards_win=np.array([t == TO_WON or t > i for t in to]),
        stale_after=stale_after,
        stale_from=math.inf if st.stale_from is None else st.stale_from,
    )


def _target(name: str, stage_index: dict[str, int]) -> int:
    return TO_WON if name == "won" else TO_LOST if name == "lost" else stage_index[name]


def win_probabilities(
    on: BoolArray,
    advance: FloatArray,
    rework_to: IntArray,
    rework_p: FloatArray,
    exits: tuple[ExitPlan | None, ...] | None = None,
) -> FloatArray:
    """P(win | at the start of stage s) for every stage, from the absorbing Markov chain.

    After a stage, rework to ``rework_to`` happens with ``rework_p``; otherwise the deal advances
    to the next stage it goes through with ``advance`` or is lost. A stage with ``exits`` goes to
    each exit's target with its share instead (a target the type skips passes the deal on).
    Skipped stages pass through. Solves ``w = Q w + r`` with Q the transient transitions and r
    the one-step win chance.
    """
    n = len(on)
    q = np.zeros((n, n))
    r = np.zeros(n)

    def go(s: int, target: int, p: float) -> None:
        if target >= n:
            r[s] += p
        else:
            q[s, target] += p

    for s in range(n):
        ex = exits[s] if exits is not None else None
        if not on[s]:
            go(s, s + 1, 1.0)
        elif ex is not None:
            for target, p in zip(ex.to, ex.p.tolist(), strict=True):
                if target == TO_WON:
                    r[s] += p
                elif target >= 0:
                    go(s, target, p)
        else:
            stay = rework_p[s] if rework_to[s] >= 0 else 0.0
            if stay:
                q[s, rework_to[s]] += stay
            go(s, s + 1, (1.0 - stay) * advance[s])
    return np.asarray(np.linalg.solve(np.eye(n) - q, r), dtype=np.float64)


def _arrival_plan(
    i: int,
    s: Scenario,
    calendar: WorkCalendar,
    horizon_t: float,
    stage_index: dict[str, int],
    type_index: dict[str, int],
) -> ArrivalPlan:
    a = s.arrivals[i]
    n_months = (s.horizon.year - s.start.year) * 12 + s.horizon.month - s.start.month + 1
    bounds = calendar.month_starts(n_months + 1)
    lo, hi = 0.0, horizon_t
    if a.window is not None:
        lo = max(lo, float(calendar.to_model_time(a.window[0])))
        hi = min(hi, float(calendar.to_model_time(a.window[1])) + 1.0)
    first_month = s.start.month - 1
    starts, ends, rates, labels, index = [], [], [], [], []
    for m in range(n_months):
        t0, t1 = float(bounds[m]), float(bounds[m + 1])
        a0, a1 = max(t0, lo), min(t1, hi)
        if a1 <= a0 or t1 <= t0:
            continue
        month = MONTHS[(first_month + m) % 12]
        factor = a.seasonality.get(month, 1.0) * (1.0 + a.trend) ** m
        starts.append(a0)
        ends.append(a1)
        if a.per_day is not None:
            rates.append(a.per_day * factor * (a1 - a0))
        else:
            rates.append((a.per_month or 0.0) * factor * (a1 - a0) / (t1 - t0))
        labels.append(calendar.period_of(t0 if t0 >= 0 else 0.0, "M"))
        index.append(m)
    stage = stage_index[a.stage] if a.stage else _first_stage(s, a.type, stage_index)
    key = arrival_id(s, i)
    return ArrivalPlan(
        type_index=type_index[a.type],
        stage=stage,
        customer=a.customer or "",
        key=key,
        month_start=np.array(starts),
        month_end=np.array(ends),
        month_label=tuple(labels),
        month_index=np.array(index, np.int64),
        rate=np.array(rates),
        key_hash=stable_hash(key),
        month_hash=tuple(stable_hash(f"{key}@{label}") for label in labels),
        month_prefix=tuple(f"{key}@{label}#" for label in labels),
    )


def arrival_id(s: Scenario, i: int) -> str:
    """A stable name for arrival source ``i``: its ``id``, else its deal type (numbered when
    several sources share a type). New deals are named after it, and it keys their streams."""
    a = s.arrivals[i]
    if a.id is not None:
        return a.id
    same = [j for j, b in enumerate(s.arrivals) if b.type == a.type and b.id is None]
    return a.type if len(same) == 1 else f"{a.type}#{same.index(i) + 1}"


def _first_stage(s: Scenario, type_name: str, stage_index: dict[str, int]) -> int:
    skip = set(s.deal_types[type_name].skip)
    return next(stage_index[st.id] for st in s.stages if st.id not in skip)


def _risk_plan(
    i: int,
    r: Risk,
    s: Scenario,
    calendar: WorkCalendar,
    horizon_t: float,
    stage_index: dict[str, int],
    pool_index: dict[str, int],
    type_index: dict[str, int],
) -> RiskPlan:
    scope = {"deal": SCOPE_DEAL, "global": SCOPE_GLOBAL, "resource": SCOPE_RESOURCE}[r.scope]
    p, impact = r.p, r.impact
    cost = 0.0
    if r.mitigated and r.mitigation is not None:
        p = r.p if r.mitigation.p is None else r.mitigation.p
        impact = r.mitigation.impact or r.impact
        cost = r.mitigation.cost
    n_stages = len(stage_index)
    exposed = _mask(r.during, stage_index) if r.during else np.ones(n_stages, bool)
    applies = r.applies_to
    if applies is not None and applies.stage:
        exposed &= _mask(applies.stage, stage_index)
    types = np.ones(len(type_index), bool)
    if applies is not None and applies.type:
        types = _mask(applies.type, type_index)
    window = (0.0, horizon_t)
    if r.window is not None:
        window = (
            max(0.0, float(calendar.to_model_time(r.window[0]))),
            min(horizon_t, float(calendar.to_model_time(r.window[1])) + 1.0),
        )
    return RiskPlan(
        index=i,
        id=r.id,
        key=stable_hash(f"risk:{r.id}"),
        scope=scope,
        p=p,
        exposed=exposed,
        window=window,
        types=types,
        customers=frozenset(applies.customer) if applies and applies.customer else None,
        when=applies.when if applies else None,
        delay=_sampler(impact.delay),
        win_factor=1.0 if impact.win_factor is None else impact.win_factor,
        value_factor=1.0 if impact.value_factor is None else impact.value_factor,
        lost=impact.lost,
        pool=pool_index[r.resource] if r.resource else -1,
        capacity=impact.capacity or 0,
        duration=_sampler(impact.duration),
        cost=cost,
    )
