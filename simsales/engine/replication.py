"""One replication: every deal a SimPy process through its stages, sharing the people pools.

Semantics (see also docs/architecture.md, "Data flow" and "Add a stage exit"):
- A deal enters a stage, rules fire and deal-scope risks are drawn (once per deal and risk, on
  entering the first stage where it is exposed); delays are served without holding people; then
  the deal queues for everything the stage needs (see allocator.py), holds it for the stage's
  duration and releases it.
- After a stage, rework (loop back) is drawn first, then advance vs lost. The deal's win factor
  multiplies the advance probability of its last stage, so it scales the chance to win exactly.
- A stage with ``exits`` (a semi-Markov stage, mixture form): once staffed, the deal draws its
  exit k with probability p_k and its time in the stage from that exit's ``after``. The win
  factor f then changes the outcome of the exits to won and lost only: f < 1 turns a win into a
  loss with probability 1 - f, f > 1 turns a loss into a win with probability
  min(1, (f - 1) p_won / p_lost). So the stage's share of wins becomes min(f p_won, p_won +
  p_lost), the lost exits absorb the change and every other exit keeps its share: as in the
  simple form, f scales the deal's chance to win exactly (while f p_won <= p_won + p_lost),
  since every path to a win ends in exactly one exit to won. The win factor is the one the deal
  has when it is staffed (a global risk that hits later acts from its next stage).
- Live deals start inside their current stage; the remaining time is drawn from the stage's
  distribution conditioned on the days already spent. At time zero they queue for that stage's
  people like any other deal (nobody is assumed to be held already). In a stage with exits, a
  deal that has spent a days draws exit k with probability proportional to p_k S_k(a) (S_k the
  survival function of exit k's time) and its remaining time from exit k's time conditioned on
  exceeding a. A deal older than every exit's time (S_k(a) = 0 for all k), or at least the
  stage's ``stale_from`` days old, is *stale*: with
  ``stale: lost`` it is lost at once, with ``stale: {lost_after: N}`` it is lost after N more
  days; either way it queues for no one and has no visit row.
- A stage with ``hazards`` (engine/hazards.py) draws its exit and time when the deal is staffed,
  from the calendar time of that moment and the deal's age in the stage (a live deal's days
  spent in its first visit), by one walk over age bands and calendar months; a deal reaching
  the last age is lost there (the walk's REACHED_LAST_AGE, which no win factor turns).
- ``uncertainty:`` multipliers are drawn once per replication, each from its own stream keyed by
  its name: ``arrivals`` multiplies the arrival rates, ``duration`` every time in a stage (a live
  deal's days spent are conditioned on accordingly), ``value`` every deal's value (given ones
  too), ``win_odds`` the odds of the ways towards a win at every stage: the exits to won or to a
  later stage have their shares multiplied by it and all shares are renormalised; in the simple
  form the advance probability's odds are multiplied and rework keeps its share relative to the
  rest. A deal type's own multipliers multiply the global ones.
- ``uncertainty.monthly:`` multipliers are drawn for every calendar month of the run, each
  month from its own stream keyed by the name and the month: ``arrivals`` multiplies the month's
  arrival rates, ``win`` acts as a ``won_season`` factor of the month at every stage.
- ``won_season`` (:mod:`simsales.engine.season`): the factor of the calendar month of the day a
  deal leaves a stage multiplies its win factor for that exit (exits form and simple form alike).
- A global risk occurs at most once, at a uniform time in its window, and hits every open deal
  that matches; its delay is served at the deal's next checkpoint (stage entry or exit).
- Deals still undecided at the horizon are ``open``; a decision exactly at the horizon is inside
  (see the day convention in simsales.scenario.calendar).

Implementation: a deal's state is one record (``_Deal``); everything a rule or a risk does to a
deal goes through ``_Run._apply``; every random draw comes through ``streams.Draws``. A deal that
arrives later becomes a SimPy process only when it arrives (a chain of arrival events starts
them, at their exact times), so a long run does not hold every future customer in SimPy's queue.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import simpy
from scipy import special
from simpy.events import NORMAL, URGENT, EventPriority

from simsales.engine.allocator import Allocator
from simsales.engine.hazards import REACHED_LAST_AGE, HazardPlan
from simsales.engine.model import (
    SCOPE_DEAL,
    SCOPE_GLOBAL,
    SLOT_VALUE,
    SLOT_VISITS,
    TO_LOST,
    TO_WON,
    UNCERTAIN,
    ExitPlan,
    Model,
    Needs,
    RiskPlan,
    RulePlan,
    TypePlan,
)
from simsales.engine.season import SeasonPlan
from simsales.engine.streams import Draws, stable_hash
from simsales.scenario.calendar import TIME_EPS

__all__ = ["EXIT_KINDS", "LOST", "OPEN", "WON", "RepRecords", "run_replication"]

OPEN, WON, LOST = 0, 1, 2
# How a visit ended (the visit table's `exit`): open = still undecided at the horizon.
EXIT_KINDS = ("open", "won", "lost", "advance", "skip", "rework")
K_OPEN, K_WON, K_LOST, K_ADVANCE, K_SKIP, K_REWORK = range(6)
_PREFETCH_VISITS = 1  # stage visits per deal drawn up front; rework beyond that draws more

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class RepRecords:
    """Everything one replication produced, as compact columns (numpy arrays)."""

    # deals: live pipeline first, then arrivals in order of arrival source, month, number
    deal_id: list[str]
    deal_type: npt.NDArray[np.int16]
    deal_live: npt.NDArray[np.bool_]
    arrival_t: FloatArray
    outcome: npt.NDArray[np.int8]  # OPEN / WON / LOST
    decision_t: FloatArray  # nan while open
    value: FloatArray  # contract value after value factors (revenue if won)
    cost: FloatArray  # people, stage and mitigation costs
    stage: npt.NDArray[np.int16]  # stage reached (where it was lost, last stage if won)
    wait: FloatArray  # total days queued for people
    win_factor: FloatArray
    # stage visits
    visit_deal: npt.NDArray[np.int32]  # row in this replication's deals
    visit_stage: npt.NDArray[np.int16]
    visit_number: npt.NDArray[np.int32]  # int32: a long rework loop passes 32,767 visits
    visit_entry: FloatArray
    visit_ready: FloatArray  # queued for people from here (after delays)
    visit_start: FloatArray
    visit_exit: FloatArray  # nan if still in the stage at the horizon
    visit_kind: npt.NDArray[np.int8]  # index in EXIT_KINDS: which way the visit ended
    # pools
    pool_busy: FloatArray  # person-days busy within the horizon
    pool_capacity_days: FloatArray  # person-days available within the horizon
    pool_requests: IntArray
    pool_wait: FloatArray  # total days waited by requests granted
    capacity_t: FloatArray  # capacity log: time, pool, capacity
    capacity_pool: IntArray
    capacity_value: IntArray
    # risk occurrences
    risk_index: IntArray
    risk_deal: IntArray  # -1 for resource risks
    risk_t: FloatArray
    risk_delay: FloatArray
    # per-replication inputs for sensitivity analysis
    global_cost: float
    global_risk_occurred: npt.NDArray[np.bool_]
    arrivals_by_source: IntArray
    uncertainty: FloatArray  # each of model.uncertainty's, then model.monthly's run means

    @property
    def revenue(self) -> FloatArray:
        return np.where(self.outcome == WON, self.value, 0.0)


# Shared by deals that nothing can skip, fire or expose: a frozenset, so an add would fail loudly.
_NONE = cast(set[int], frozenset())


class _Deal:
    """One deal in a replication: what it is, its first draws, and what has happened to it."""

    __slots__ = (
        "arrival",
        "cost",
        "customer",
        "decision",
        "drawn",
        "elapsed",
        "fired",
        "first_dur",
        "first_exit",
        "first_ratio",
        "id",
        "index",
        "key",
        "lost",
        "name",
        "outcome",
        "pending",
        "priority_bonus",
        "process",
        "reached",
        "risk_delay",
        "risk_hit",
        "skipped",
        "stage0",
        "stale",
        "target",
        "type",
        "u_visits",
        "value",
        "value_factor",
        "wait",
        "win_factor",
    )

    def __init__(
        self,
        index: int,
        deal_id: str,
        name: str,
        key: int,
        type_index: int,
        customer: str,
        stage: int,
        arrival: float,
        elapsed: float,
        target: float,
        value: float,
        value_factor: float,
        u_visits: list[float],
        first_dur: list[float],
        first_exit: list[int],
    ) -> None:
        self.index, self.id, self.name, self.key = index, deal_id, name, key
        self.type, self.customer = type_index, customer
        self.stage0 = self.reached = stage
        self.arrival, self.elapsed, self.target = arrival, elapsed, target
        self.value, self.value_factor = value, value_factor
        self.u_visits, self.first_dur, self.first_exit = u_visits, first_dur, first_exit
        self.first_ratio: float | None = None  # a live deal's conditioned p_won / p_lost
        self.stale: float | None = None  # a stale live deal: days until lost (-1: at once)
        self.risk_hit: Sequence[bool] = ()  # per risk: occurs if the deal is exposed
        self.risk_delay: Sequence[float] = ()
        self.outcome = OPEN
        self.decision = np.nan
        self.wait = self.cost = self.pending = self.priority_bonus = 0.0
        self.win_factor = 1.0
        self.lost = False
        # stages skipped, rules fired, deal-scope risks whose exposure is decided: sets of their
        # own only where rules or risks can change them (see _Run._deals), else shared and empty
        self.skipped: set[int] = _NONE
        self.fired: set[int] = _NONE
        self.drawn: set[int] = _NONE
        self.process: Any = None


class _Run:
    """The state of one replication: the deals (one record each), the pools, the logs."""

    def __init__(self, model: Model, seq: np.random.SeedSequence) -> None:
        self.m = m = model
        self.env = simpy.Environment()
        self.draws = Draws(seq, m.n_stages, _PREFETCH_VISITS)
        self.n_stages = m.n_stages
        self._multipliers(m)
        self.fast = [self._fast(t, plan) for t, plan in enumerate(m.types)]
        self._deals(m)
        # Plain FIFO keeps arrival order; a rule's priority would reorder the queue.
        fifo = m.queue == "fifo" and not any(rule.priority for rule in m.rules)
        self.alloc = Allocator(self.env, [int(c) for c in m.capacity], fifo)
        self.dynamic = bool(m.rules or m.risks)
        self.cap_log: list[tuple[float, int, int]] = [
            (0.0, p, int(c)) for p, c in enumerate(m.capacity)
        ]
        # (deal, stage, visit, entry, ready, start, exit, K_* kind), recorded once decided
        self.visits: list[tuple[int, int, int, float, float, float, float, int]] = []
        self.held_up: dict[int, tuple[int, int, int, float, float, float, float, int]] = {}
        self.in_service: dict[
            int, tuple[Needs, float, int, float, float]
        ] = {}  # deal -> needs, start, visit, entry, ready
        self.waiting: set[int] = set()
        self.risk_log: list[tuple[int, int, float, float]] = []
        self.open_deals: set[int] = set()
        self._late: list[int] = []  # deals that arrive after time zero, in order of arrival
        self._late_next = 0  # the first of them not started yet
        # what every deal's process reads first, looked up once per replication: the world,
        # then per deal type (_fast's lists, duration samplers and scale, won_season per stage)
        self.hot = (
            self.env,
            self.env.timeout,
            self.alloc.request,
            self.alloc.release,
            self.visits.append,
            self.n_stages,
            self.dynamic,  # rules or risks may change a deal on the way
            m.queue == "fifo",
        )
        self.hot_types = [
            (*fast, plan.duration, self.duration_scale[t], plan.season)
            for t, (fast, plan) in enumerate(zip(self.fast, m.types, strict=True))
        ]

    # --- set-up: every deal of the replication, and all its first draws, at once -----------

    def _multipliers(self, m: Model) -> None:
        """This replication's ``uncertainty:`` multipliers, per kind and deal type."""
        self.mult = {kind: np.ones(len(m.types)) for kind in UNCERTAIN}
        self.uncertainty = np.ones(len(m.uncertainty))
        for i, plan in enumerate(m.uncertainty):
            x = self.uncertainty[i] = float(plan.sampler.ppf(self.draws.uncertainty(plan.key))[0])
            if plan.type_index < 0:
                self.mult[plan.kind] *= x
            else:
                self.mult[plan.kind][plan.type_index] *= x
        self.duration_scale = self.mult["duration"].tolist()
        # uncertainty.monthly: a factor for every month of the run, each from its own stream
        self.monthly: dict[str, FloatArray] = {}
        for mp in m.monthly:
            u = self.draws.monthly(mp.keys)
            self.monthly[mp.kind] = np.asarray(mp.sampler.ppf(u), np.float64)
        if m.monthly:  # each one's mean over the run, beside the once-per-run ones
            means = [mp.run_mean(self.monthly[mp.kind]) for mp in m.monthly]
            self.uncertainty = np.concatenate([self.uncertainty, means])
        win = next((mp for mp in m.monthly if mp.kind == "win"), None)
        self.won_month = (
            None
            if win is None
            else SeasonPlan(tuple(win.bounds.tolist()), tuple(self.monthly["win"].tolist()))
        )

    def _fast(self, t: int, plan: TypePlan) -> tuple[Any, ...]:
        """Plain lists of type ``t`` for the hot loop, with this replication's win odds:
        on, needs, advance, rework_to, rework_p, and per stage its exits or None."""
        odds = max(float(self.mult["win_odds"][t]), 1e-12)  # zero odds: never, not 0/0
        advance, rework_p = plan.advance.copy(), plan.rework_p.copy()
        if odds != 1.0:  # simple form: advance's odds times `odds`, rework's share relative
            a, r = advance, np.where(plan.rework_to >= 0, rework_p, 0.0)
            advance = odds * a / (odds * a + 1 - a)
            rework_p = r / (r + (1 - r) * (odds * a + 1 - a))
        exits = [None if ex is None else _exit_lists(ex, odds) for ex in plan.exits]
        return (
            plan.on.tolist(),
            plan.needs,
            advance.tolist(),
            plan.rework_to.tolist(),
            rework_p.tolist(),
            exits,
        )

    def _deals(self, m: Model) -> None:
        ids = list(m.deal_ids)
        types = list(m.deal_type)
        stages = list(m.deal_stage)
        arrival = [0.0] * len(ids)
        customers = list(m.deal_customers)
        keys = [int(k) for k in m.deal_keys]
        self.arrivals_by_source = np.zeros(len(m.arrivals), np.int64)
        for a_i, a in enumerate(m.arrivals):
            rate = a.rate * self.mult["arrivals"][a.type_index]
            if "arrivals" in self.monthly:
                rate = rate * self.monthly["arrivals"][a.month_index]
            counts = _poisson_ppf(self.draws.arrival_counts(a.key_hash, len(a.rate)), rate)
            self.arrivals_by_source[a_i] = counts.sum()
            for month, count in enumerate(counts.tolist()):
                if count == 0:
                    continue
                u = self.draws.arrival_times(a.month_hash[month], count)
                times = a.month_start[month] + np.sort(u) * (
                    a.month_end[month] - a.month_start[month]
                )
                new_ids, new_keys = _arrival_ids(a.month_prefix[month], count)
                ids += new_ids
                types += [a.type_index] * count
                stages += [a.stage] * count
                arrival += times.tolist()
                customers += [a.customer] * count
                keys += new_keys
        n = self.n = len(ids)
        n_live = len(m.deal_ids)
        s = self.n_stages
        u = self.draws.deal_stages(keys)
        type_arr = self.types = np.array(types, np.int64)
        value = np.full(n, np.nan)
        value[:n_live] = m.deal_value
        first_dur = np.zeros((n, s))
        first_exit = np.full((n, s), -1, np.int64)
        for t_i, plan in enumerate(m.types):
            rows = np.flatnonzero(type_arr == t_i)
            if len(rows) == 0:
                continue
            missing = rows[np.isnan(value[rows])]
            if len(missing) and plan.value is not None:
                value[missing] = plan.value.ppf(u[missing, SLOT_VALUE])
            scale = self.duration_scale[t_i]
            for st in range(s):
                if not plan.on[st]:
                    continue
                col = SLOT_VISITS + 3 * st
                ex = plan.exits[st]
                if ex is None:
                    first_dur[rows, st] = scale * plan.duration[st].ppf(u[rows, col])
                    continue
                if ex.hazard is not None:  # drawn when staffed: the calendar matters
                    continue
                cum = self.fast[t_i][5][st][1]
                k = np.minimum(np.searchsorted(cum, u[rows, col + 1], side="right"), len(cum) - 1)
                first_exit[rows, st] = k
                for j, after in enumerate(ex.after):
                    chosen = rows[k == j]
                    if len(chosen):
                        first_dur[chosen, st] = scale * after.ppf(u[chosen, col])
        # Live deals: the current stage's remaining time, conditioned on the days spent.
        stale: dict[int, float] = {}  # stale live deal -> days until lost (-1: at once)
        first_ratio: dict[int, float] = {}  # live deal -> its conditioned p_won / p_lost
        for d in range(n_live):
            elapsed = float(m.deal_elapsed[d])
            if elapsed > 0:
                st, t_i = stages[d], types[d]
                col = SLOT_VISITS + 3 * st
                scale = self.duration_scale[t_i]
                ex = m.types[t_i].exits[st]
                if ex is None:
                    sampler = m.types[t_i].duration[st]
                    first_dur[d, st] = scale * float(
                        sampler.ppf_remaining(np.array([u[d, col]]), elapsed / scale)[0]
                    )
                    continue
                if ex.hazard is not None:  # conditioned by starting the walk at its age
                    if elapsed / scale >= ex.hazard.ages[-1]:
                        stale[d] = ex.stale_after
                    continue
                live = self._live_exit(ex, self.fast[t_i][5][st], elapsed / scale, u[d, col + 1])
                if live is None:
                    stale[d] = ex.stale_after
                    continue
                k, first_ratio[d] = live
                first_exit[d, st] = k
                remaining = ex.after[k].ppf_remaining(np.array([u[d, col]]), elapsed / scale)
                first_dur[d, st] = scale * float(remaining[0])
        self.ids, self.arrival = ids, arrival
        self.deals = deals = list(
            map(
                _Deal,
                range(n),
                ids,
                list(m.deal_names) + ids[len(m.deal_names) :],
                keys,
                types,
                customers,
                stages,
                arrival,
                [float(e) for e in m.deal_elapsed] + [0.0] * (n - n_live),
                [float(t) for t in m.deal_target] + [np.inf] * (n - n_live),
                value.tolist(),
                self.mult["value"][type_arr].tolist(),
                u[:, SLOT_VISITS:].tolist(),  # visit draws as plain lists for the hot loop
                first_dur.tolist(),
                first_exit.tolist(),
            )
        )
        if m.rules or m.risks:
            for deal in deals:
                deal.skipped, deal.fired, deal.drawn = set(), set(), set()
        for d, days in stale.items():
            deals[d].stale = days
        for d, ratio in first_ratio.items():
            deals[d].first_ratio = ratio
        if m.risks:  # a stream per (deal, risk), keyed by both ids
            self._risk_draws(m, np.array(keys, np.uint64))

    def _risk_draws(self, m: Model, keys: npt.NDArray[np.uint64]) -> None:
        n, n_risks = len(keys), len(m.risks)
        hit = np.ones((n, n_risks), bool)
        delay = np.zeros((n, n_risks))
        for r in m.risks:
            if r.scope == SCOPE_DEAL or r.delay is not None:
                ur = self.draws.deal_risk(keys, r.key)
                if r.scope == SCOPE_DEAL:
                    hit[:, r.index] = ur[:, 0] < r.p
                if r.delay is not None:
                    delay[:, r.index] = r.delay.ppf(ur[:, 1])
        for deal, hits, delays in zip(self.deals, hit.tolist(), delay.tolist(), strict=True):
            deal.risk_hit, deal.risk_delay = hits, delays

    @staticmethod
    def _live_exit(
        ex: ExitPlan, lists: tuple[Any, ...], age: float, u: float
    ) -> tuple[int, float] | None:
        """Exit of a deal that has spent ``age`` days in the stage: P(k) ∝ p_k S_k(age), and
        the conditioned p_won / p_lost; None when no exit's time exceeds ``age``, or the deal
        is ``stale_from`` old (stale)."""
        if age >= ex.stale_from:
            return None
        shares = np.diff(lists[1], prepend=0.0)  # this replication's shares
        survive = np.array([1.0 - float(a.cdf(age)) for a in ex.after])
        w = shares * np.clip(survive, 0.0, 1.0)
        total = float(w.sum())
        if total <= 0:
            return None
        cum = np.cumsum(w / total)
        cum[-1] = 1.0
        k = min(int(np.searchsorted(cum, u, side="right")), len(cum) - 1)
        return k, _ratio(ex.to, w)

    # --- the deal process -------------------------------------------------------------------

    def _visit_uniforms(self, deal: _Deal, slot: int) -> list[float]:
        """The deal's visit draws, extended (same stream, longer) so that ``slot`` exists."""
        row = deal.u_visits
        if slot >= len(row):  # a long rework loop
            row = deal.u_visits = self.draws.more_visits(deal.key, slot, len(row))
        return row

    def deal(self, d: int) -> Any:
        """The process of deal ``d``: stage after stage until it is won, lost or the horizon."""
        deal = self.deals[d]
        env, timeout, request, release, record, s_count, dynamic, fifo = self.hot
        on, needs_of, advance, rework_to, rework_p, exits, durations, scale, season = (
            self.hot_types[deal.type]
        )
        won_month = self.won_month
        visits = [0] * s_count
        skipped = deal.skipped
        first_dur, urow, first_exit = deal.first_dur, deal.u_visits, deal.first_exit
        stage = deal.stage0
        entry = ready = start = 0.0
        visit = 0
        self.open_deals.add(d)
        if deal.stale is not None:  # a live deal older than any exit's time
            if deal.stale > 0:
                yield timeout(deal.stale)
            self._decide(d, LOST)
            return
        try:
            while True:
                while stage < s_count and (not on[stage] or stage in skipped):
                    stage += 1
                if stage >= s_count:  # every remaining stage skipped: decided as won
                    self._decide(d, WON)
                    return
                deal.reached = stage
                entry = ready = env.now
                if dynamic:
                    self._enter(deal, stage)
                    if deal.lost:
                        self._decide(d, LOST)
                        return
                    if deal.pending > 0:
                        delay, deal.pending = deal.pending, 0.0
                        yield timeout(delay)
                        ready = env.now
                        if stage in skipped:
                            continue
                needs = needs_of[stage]
                visit = visits[stage]
                visits[stage] += 1
                if needs:
                    key = 0.0 if fifo and not dynamic else self._priority(deal, stage)
                    event = request(d, needs, key)
                    if event is not None:
                        self.waiting.add(d)
                        yield event
                        self.waiting.discard(d)
                start = env.now
                deal.wait += start - ready
                ex = exits[stage]
                base = 3 * (visit * s_count + stage)
                hz = None if ex is None else ex[4]
                if hz is not None:  # hazards: the walk starts now, at the deal's age
                    if visit:
                        urow = self._visit_uniforms(deal, base + 2)
                    age = deal.elapsed if visit == 0 and stage == deal.stage0 else 0.0
                    k, duration, hz_ratio = hz.draw(
                        start, age, urow[base], urow[base + 1], scale, ex[5]
                    )
                elif visit == 0:  # drawn up front; conditioned for a live deal's current stage
                    duration, k = first_dur[stage], first_exit[stage]
                else:
                    urow = self._visit_uniforms(deal, base + 2)
                    u = np.array([urow[base]])
                    if ex is None:
                        duration = scale * float(durations[stage].ppf(u)[0])
                    else:
                        k = min(bisect_right(ex[1], urow[base + 1]), len(ex[1]) - 1)
                        duration = scale * float(ex[2][k].ppf(u)[0])
                f = deal.win_factor  # as it is when staffed (exits are chosen now)
                self.in_service[d] = (needs, start, visit, entry, ready)
                yield timeout(duration)
                del self.in_service[d]
                if needs:
                    release(needs)
                end = env.now
                if dynamic:
                    if deal.pending > 0:  # held up after the stage: the visit is over
                        self.held_up[d] = (d, stage, visit, entry, ready, start, end, K_OPEN)
                        delay, deal.pending = deal.pending, 0.0
                        yield timeout(delay)
                        del self.held_up[d]
                    if deal.lost:
                        record((d, stage, visit, entry, ready, start, end, K_LOST))
                        self._decide(d, LOST)
                        return
                nxt = stage + 1  # the next stage the deal goes through
                while nxt < s_count and (not on[nxt] or nxt in skipped):
                    nxt += 1
                # the decision month's won_season factor acts like the win factor
                c = sp.at(end) if season and (sp := season[stage]) is not None else 1.0
                if won_month is not None:  # uncertainty.monthly.win: the same, drawn
                    c *= won_month.at(end)
                # where it goes: a stage, or TO_WON / TO_LOST; and the kind of exit
                if ex is not None:
                    go = TO_LOST if k == REACHED_LAST_AGE and hz is not None else ex[0][k]
                    f *= c
                    if f != 1.0 and go < 0 and (hz is None or k != REACHED_LAST_AGE):
                        ratio = hz_ratio if hz is not None else ex[3]
                        if visit == 0 and deal.first_ratio is not None and stage == deal.stage0:
                            ratio = deal.first_ratio
                        go = _converted(go, f, ratio, urow[base + 2])
                    if go < 0:
                        kind = K_WON if go == TO_WON else K_LOST
                    elif go <= stage:
                        kind = K_REWORK
                    else:
                        while go < s_count and (not on[go] or go in skipped):
                            go += 1
                        if go >= s_count:  # every later stage skipped
                            kind, go = K_WON, TO_WON
                        else:
                            kind = K_ADVANCE if go == nxt else K_SKIP
                elif rework_to[stage] >= 0 and urow[base + 1] < rework_p[stage]:
                    kind, go = K_REWORK, rework_to[stage]
                else:
                    p_advance = advance[stage]
                    if nxt >= s_count:
                        p_advance *= deal.win_factor * c
                    if urow[base + 2] >= p_advance:
                        kind, go = K_LOST, TO_LOST
                    elif nxt >= s_count:
                        kind, go = K_WON, TO_WON
                    else:
                        kind, go = K_ADVANCE, nxt
                record((d, stage, visit, entry, ready, start, end, kind))
                if go < 0:
                    self._decide(d, WON if go == TO_WON else LOST)
                    return
                stage = go
        except simpy.Interrupt:  # lost outright by a global risk
            if d in self.in_service:
                needs, start, visit, entry, ready = self.in_service.pop(d)
                self.alloc.release(needs)
                record((d, stage, visit, entry, ready, start, env.now, K_LOST))
            elif d in self.waiting:
                self.alloc.cancel(d)
                self.waiting.discard(d)
            self._decide(d, LOST)

    def _enter(self, deal: _Deal, stage: int) -> None:
        """Stage entry: rules fire, then deal-scope risks are drawn."""
        if self.m.rules:
            self._fire_rules(deal, stage)
        if self.m.risks:
            self._expose(deal, stage)

    def _decide(self, d: int, outcome: int) -> None:
        deal = self.deals[d]
        deal.outcome = outcome
        deal.decision = self.env.now
        self.open_deals.discard(d)

    def _attrs(self, deal: _Deal, stage: int) -> dict[str, float | str]:
        m = self.m
        plan = m.types[deal.type]
        value = deal.value * deal.value_factor
        win = float(plan.win_from[stage]) * deal.win_factor
        return {
            "value": value,
            "expected_value": value * win,
            "win_probability": win,
            "days_in_stage": deal.elapsed if stage == deal.stage0 else 0.0,
            "waited_days": deal.wait,
            "age_days": self.env.now - deal.arrival + deal.elapsed,
            "stage_index": float(stage),
            "priority": deal.priority_bonus,
            "type": plan.name,
            "stage": m.stage_ids[stage],
            "customer": deal.customer,
            "id": deal.id,
            "name": deal.name,
        }

    def _priority(self, deal: _Deal, stage: int) -> float:
        """The deal's queue key (lower is served first); a rule's priority moves it ahead."""
        m = self.m
        if m.queue == "earliest_target":
            key = deal.target
        elif m.queue_expression is None:
            key = 0.0
        else:
            value = float(m.queue_expression.evaluate(self._attrs(deal, stage)))
            key = -value if m.queue_descending else value
        return key - deal.priority_bonus

    # --- effects on a deal: rules, deal risks (mitigated or not) and global risks -----------

    def _fire_rules(self, deal: _Deal, stage: int) -> None:
        attrs = self._attrs(deal, stage)
        for rule in self.m.rules:
            if rule.once and rule.index in deal.fired:
                continue
            if rule.when.evaluate(attrs):
                deal.fired.add(rule.index)
                delay = 0.0
                if rule.delay is not None:
                    u = self.draws.deal_rule(deal.key, rule.key)
                    delay = float(rule.delay.ppf(np.array([u]))[0])
                self._apply(deal, rule, delay)

    def _matches(self, r: RiskPlan, deal: _Deal, stage: int) -> bool:
        if not r.types[deal.type] or not r.exposed[stage]:
            return False
        if r.customers is not None and deal.customer not in r.customers:
            return False
        return r.when is None or bool(r.when.evaluate(self._attrs(deal, stage)))

    def _expose(self, deal: _Deal, stage: int) -> None:
        for r in self.m.risks:
            if r.scope != SCOPE_DEAL or r.index in deal.drawn:
                continue
            if not self._matches(r, deal, stage):
                continue
            deal.drawn.add(r.index)
            deal.cost += r.cost  # the mitigation's cost, paid by every exposed deal
            if deal.risk_hit[r.index]:
                self._apply(deal, r, deal.risk_delay[r.index])

    def _apply(self, deal: _Deal, effect: RulePlan | RiskPlan, delay: float) -> None:
        """Everything a rule that fires or a risk that hits does to a deal, in one place."""
        deal.pending += delay
        deal.win_factor *= effect.win_factor
        deal.value_factor *= effect.value_factor
        if isinstance(effect, RiskPlan):
            deal.lost = deal.lost or effect.lost
            self.risk_log.append((effect.index, deal.index, self.env.now, delay))
        else:
            deal.priority_bonus += effect.priority
            if effect.skip.any():
                deal.skipped.update(int(i) for i in np.flatnonzero(effect.skip))

    # --- world processes --------------------------------------------------------------------

    def global_risk(self, r: RiskPlan, at: float) -> Any:
        yield self.env.timeout(at)
        for d in sorted(self.open_deals):
            deal = self.deals[d]
            if self._matches(r, deal, deal.reached):
                self._apply(deal, r, deal.risk_delay[r.index])
                if r.lost and (d in self.waiting or d in self.in_service):
                    deal.process.interrupt()

    def resource_risk(self, r: RiskPlan, at: float, duration: float) -> Any:
        yield self.env.timeout(at)
        self.risk_log.append((r.index, -1, self.env.now, duration))
        self._change_capacity(r.pool, r.capacity)
        yield self.env.timeout(duration)
        self._change_capacity(r.pool, -r.capacity)

    def _arrive(self, _event: simpy.Event) -> None:
        """Start the deals that arrive now (``self._late``, in order of arrival) after waiting
        for the next arrival at its exact time: a callback of one event per arrival instant.

        The events are in the order one arrivals process would make them (the next arrival,
        then each deal's first step, as their Initialize events would run it: first thing at
        this instant), without a process resumed and an Initialize event per arrival."""
        env, start, deals, late = self.env, self.deal, self.deals, self._late
        i = first = self._late_next
        now = env.now
        while i < len(late) and deals[late[i]].arrival <= now:
            i += 1
        if i < len(late):
            _at(env, deals[late[i]].arrival).callbacks.append(self._arrive)
        self._late_next = i
        for d in late[first:i]:
            deals[d].process = _started(env, start(d))

    def _change_capacity(self, pool: int, delta: int) -> None:
        self.planned_delta[pool] += delta
        self._apply_capacity(pool)

    def planned(self, at: float, pool: int, capacity: int) -> Any:
        yield self.env.timeout(at)
        self.planned_capacity[pool] = capacity
        self._apply_capacity(pool)

    def _apply_capacity(self, pool: int) -> None:
        capacity = max(0, self.planned_capacity[pool] + self.planned_delta[pool])
        self.alloc.set_capacity(pool, capacity)
        self.cap_log.append((self.env.now, pool, capacity))

    # --- run --------------------------------------------------------------------------------

    def run(self) -> RepRecords:
        m, env = self.m, self.env
        self.planned_capacity = [int(c) for c in m.capacity]
        self.planned_delta = [0] * len(m.pool_ids)
        for at, pool, capacity in m.capacity_changes:
            env.process(self.planned(at, pool, capacity))
        occurred = np.zeros(len(m.risks), bool)
        for r in m.risks:
            if r.scope == SCOPE_DEAL:
                continue
            u = self.draws.world_risk(r.scope == SCOPE_GLOBAL, r.id)
            if u[0] >= r.p:
                continue
            occurred[r.index] = True
            at = r.window[0] + u[1] * (r.window[1] - r.window[0])
            if r.scope == SCOPE_GLOBAL:
                env.process(self.global_risk(r, at))
            else:
                assert r.duration is not None
                env.process(self.resource_risk(r, at, float(r.duration.ppf(np.array([u[2]]))[0])))
        late = []  # deals that arrive after time zero start when they arrive
        for d, t in enumerate(self.arrival):
            if t > 0:
                late.append(d)
            else:
                self.deals[d].process = env.process(self.deal(d))
        if late:
            late.sort(key=self.arrival.__getitem__)  # stable: ties keep the deals' order
            self._late = late
            # at time zero after the deals there, where a process started here would begin
            _at(env, 0.0, URGENT).callbacks.append(self._arrive)
        # An event exactly at the horizon (within the calendar's TIME_EPS) falls on the horizon
        # day, so it belongs inside; SimPy's `until` would drop events at that very instant.
        env.run(until=m.horizon_t + TIME_EPS)
        return self._records(occurred)

    def _records(self, occurred: npt.NDArray[np.bool_]) -> RepRecords:
        m, horizon = self.m, self.m.horizon_t
        deals = self.deals
        for d, (_, start, visit, entry, ready) in self.in_service.items():  # busy at the horizon
            self.visits.append((d, deals[d].reached, visit, entry, ready, start, np.nan, K_OPEN))
        self.visits.extend(self.held_up.values())  # visit over, held up at the horizon
        for d in self.waiting:  # still queued at the horizon: their wait so far counts
            deals[d].wait += horizon - self.alloc.waiting_since(d)
        # one flat pass over the visit tuples (np.array of a list of tuples costs more)
        flat = chain.from_iterable(self.visits)
        v = np.fromiter(flat, np.float64, 8 * len(self.visits)).reshape(-1, 8)
        # deal by deal, each deal's visits in the order it made them (as they ended here)
        v = v[np.argsort(v[:, 0], kind="stable")]
        deal, stage = v[:, 0].astype(np.int64), v[:, 1].astype(np.int64)
        types = self.types
        held_days = np.nan_to_num(v[:, 6], nan=horizon) - v[:, 5]
        held = np.stack([t.held for t in m.types])[types[deal], stage]  # (visit, pool)
        people_days = held_days[:, None] * held
        cost = np.array([x.cost for x in deals])  # mitigation costs so far
        np.add.at(cost, deal, people_days @ m.cost_per_day)
        stage_cost = np.stack([t.stage_cost for t in m.types])[types[deal], stage]
        np.add.at(cost, deal, np.where(np.isnan(v[:, 6]), 0.0, stage_cost))
        value = np.array([x.value for x in deals]) * np.array([x.value_factor for x in deals])
        caps = np.array(self.cap_log, dtype=np.float64).reshape(-1, 3)
        risks = np.array(self.risk_log, dtype=np.float64).reshape(-1, 4)
        return RepRecords(
            deal_id=self.ids,
            deal_type=types.astype(np.int16),
            deal_live=np.arange(self.n) < len(m.deal_ids),
            arrival_t=np.array(self.arrival),
            outcome=np.array([x.outcome for x in deals], np.int8),
            decision_t=np.array([x.decision for x in deals], np.float64),  # env.now may be int 0
            value=value,
            cost=cost,
            stage=np.array([x.reached for x in deals], np.int16),
            wait=np.array([x.wait for x in deals]),
            win_factor=np.array([x.win_factor for x in deals]),
            visit_deal=deal.astype(np.int32),
            visit_stage=stage.astype(np.int16),
            visit_number=v[:, 2].astype(np.int32),
            # contiguous copies, so the (visit x 8) work array is not kept alive by views
            visit_entry=v[:, 3].copy(),
            visit_ready=v[:, 4].copy(),
            visit_start=v[:, 5].copy(),
            visit_exit=v[:, 6].copy(),
            visit_kind=v[:, 7].astype(np.int8),
            pool_busy=people_days[_by_round(deal)].sum(axis=0),
            pool_capacity_days=_capacity_days(caps, len(m.pool_ids), horizon),
            pool_requests=np.array(self.alloc.requests, np.int64),
            pool_wait=np.array(self.alloc.waited),
            capacity_t=caps[:, 0],
            capacity_pool=caps[:, 1].astype(np.int64),
            capacity_value=caps[:, 2].astype(np.int64),
            risk_index=risks[:, 0].astype(np.int64),
            risk_deal=risks[:, 1].astype(np.int64),
            risk_t=risks[:, 2],
            risk_delay=risks[:, 3],
            global_cost=m.global_cost,
            global_risk_occurred=occurred,
            arrivals_by_source=self.arrivals_by_source,
            uncertainty=self.uncertainty,
        )


def _by_round(deal: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The order busy days are summed in (both engines): every deal's first visit, in deal
    order, then every second visit, and so on (``deal`` sorted, each deal's in visit order)."""
    if len(deal) == 0:
        return np.zeros(0, np.int64)
    new = np.r_[True, deal[1:] != deal[:-1]]
    ordinal = np.arange(len(deal)) - np.maximum.accumulate(np.where(new, np.arange(len(deal)), 0))
    return np.lexsort((deal, ordinal))


# ids and keys of a month's arrivals ("key@label#" and a number), the same in every replication:
# hashed once per process, not once per replication. Cleared when it grows past _ID_CACHE months.
_ID_CACHE = 4096
_arrivals_seen: dict[str, tuple[list[str], list[int]]] = {}


def _arrival_ids(prefix: str, count: int) -> tuple[list[str], list[int]]:
    """The ids ``prefix1 .. prefix<count>`` and their stable hashes."""
    ids, keys = _arrivals_seen.get(prefix) or ([], [])
    if len(ids) < count:
        if len(_arrivals_seen) >= _ID_CACHE:
            _arrivals_seen.clear()
        more = [f"{prefix}{k}" for k in range(len(ids) + 1, count + 1)]
        ids, keys = ids + more, keys + [stable_hash(i) for i in more]
        _arrivals_seen[prefix] = ids, keys
    return ids[:count], keys[:count]


def _exit_lists(
    ex: ExitPlan, odds: float
) -> tuple[list[int], list[float], Any, float, HazardPlan | None, float]:
    """A stage's exits for the hot loop: targets, cumulative shares (the ways towards a win
    weighted by ``odds``, renormalised), samplers of the times, p_won / p_lost, and for a stage
    with ``hazards`` its plan and the odds (its exit is drawn when the deal is staffed)."""
    w = np.where(ex.towards_win, odds, 1.0) * ex.p
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    return list(ex.to), cum.tolist(), ex.after, _ratio(ex.to, w), ex.hazard, odds


def _ratio(to: tuple[int, ...], w: FloatArray) -> float:
    """p_won / p_lost of exit weights ``w`` (inf without a lost exit: nothing to turn)."""
    target = np.array(to)
    lost = float(w[target == TO_LOST].sum())
    won = float(w[target == TO_WON].sum())
    return won / lost if lost > 0 else np.inf


def _converted(target: int, f: float, ratio: float, u: float) -> int:
    """The win factor f on an exit to won or lost (see the module docstring)."""
    if f < 1.0 and target == TO_WON and u >= f:
        return TO_LOST
    if f > 1.0 and target == TO_LOST and u < min(1.0, (f - 1.0) * ratio):
        return TO_WON
    return target


def _at(env: simpy.Environment, t: float, priority: EventPriority = NORMAL) -> simpy.Event:
    """An event at time ``t`` exactly. ``env.timeout(t - now)`` lands at ``now + (t - now)``,
    which rounding can put an ulp off ``t`` (and no delay may reach ``t`` exactly), so the event
    goes on SimPy's queue as ``Environment.schedule`` puts it there, at ``t`` itself."""
    event = simpy.Event(env)
    event._ok, event._value = True, None  # triggered, as a Timeout is when created
    heapq.heappush(env._queue, (t, priority, next(env._eid), event))
    return event


def _started(env: simpy.Environment, generator: Any) -> simpy.Process:
    """A process of ``generator`` whose first step runs now, inside the event being processed,
    instead of at an Initialize event of its own scheduled for this instant (as
    ``env.process`` does): the process as ``Process.__init__`` makes it, without that event."""
    process = simpy.Process.__new__(simpy.Process)
    process.env, process.callbacks, process._generator = env, [], generator
    process._target = _STARTED
    process._resume(_STARTED)
    return process


_STARTED = simpy.Event(simpy.Environment())  # what a process's first step is resumed with
_STARTED._ok, _STARTED._value = True, None


def _poisson_ppf(q: FloatArray, mu: FloatArray) -> IntArray:
    """``scipy.stats.poisson.ppf(q, mu)`` as integers, through its special functions when every
    argument is inside the support (the same numbers; stats' generic checks cost more)."""
    if (q > 0).all() and (mu > 0).all():
        vals = np.ceil(special.pdtrik(q, mu))
        vals1 = np.maximum(vals - 1, 0)
        return np.where(special.pdtr(vals1, mu) >= q, vals1, vals).astype(np.int64)
    from scipy import stats

    return stats.poisson.ppf(q, mu).astype(np.int64)


def _capacity_days(caps: FloatArray, n_pools: int, horizon: float) -> FloatArray:
    """Integral of each pool's capacity over [0, horizon] from its change log."""
    out = np.zeros(n_pools)
    for p in range(n_pools):
        log = caps[caps[:, 1] == p]
        times = np.append(np.clip(log[:, 0], 0, horizon), horizon)
        out[p] = float(np.sum(np.diff(times) * log[:, 2]))
    return out


def run_replication(model: Model, seq: np.random.SeedSequence) -> RepRecords:
    """Simulate one replication of ``model`` with the random streams of ``seq``."""
    return _Run(model, seq).run()
