"""One replication: every deal a SimPy process through its stages, sharing the people pools.

Semantics (see also DESIGN.md):
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
  exceeding a. A deal older than every exit's time (S_k(a) = 0 for all k) is *stale*: with
  ``stale: lost`` it is lost at once, with ``stale: {lost_after: N}`` it is lost after N more
  days; either way it queues for no one and has no visit row.
- ``uncertainty:`` multipliers are drawn once per replication, each from its own stream keyed by
  its name: ``arrivals`` multiplies the arrival rates, ``duration`` every time in a stage (a live
  deal's days spent are conditioned on accordingly), ``value`` every deal's value (given ones
  too), ``win_odds`` the odds of the ways towards a win at every stage: the exits to won or to a
  later stage have their shares multiplied by it and all shares are renormalised; in the simple
  form the advance probability's odds are multiplied and rework keeps its share relative to the
  rest. A deal type's own multipliers multiply the global ones.
- ``won_season`` (:mod:`simsales.engine.season`): the factor of the calendar month of the day a
  deal leaves a stage multiplies its win factor for that exit (exits form and simple form alike).
- A global risk occurs at most once, at a uniform time in its window, and hits every open deal
  that matches; its delay is served at the deal's next checkpoint (stage entry or exit).
- Deals still undecided at the horizon are ``open``; a decision exactly at the horizon is inside
  (see the day convention in simsales.scenario.calendar).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy
from scipy import stats

from simsales.engine.allocator import Allocator
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
    TypePlan,
)
from simsales.engine.streams import Purpose, Streams, stable_hash
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
    uncertainty: FloatArray  # the multiplier drawn for each of model.uncertainty

    @property
    def revenue(self) -> FloatArray:
        return np.where(self.outcome == WON, self.value, 0.0)


class _Run:
    """The state of one replication (kept in flat lists indexed by deal)."""

    def __init__(self, model: Model, seq: np.random.SeedSequence) -> None:
        self.m = m = model
        self.env = simpy.Environment()
        self.streams = Streams(seq)
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
        self.rule_fired: set[tuple[int, int]] = set()  # (deal, rule)
        self.risk_drawn: set[tuple[int, int]] = set()  # (deal, risk): exposure decided

    # --- set-up: every deal of the replication, and all its first draws, at once -----------

    def _multipliers(self, m: Model) -> None:
        """This replication's ``uncertainty:`` multipliers, per kind and deal type."""
        self.mult = {kind: np.ones(len(m.types)) for kind in UNCERTAIN}
        self.uncertainty = np.ones(len(m.uncertainty))
        for i, plan in enumerate(m.uncertainty):
            u = self.streams.uniforms(Purpose.UNCERTAINTY, plan.key, 1)
            x = self.uncertainty[i] = float(plan.sampler.ppf(u)[0])
            if plan.type_index < 0:
                self.mult[plan.kind] *= x
            else:
                self.mult[plan.kind][plan.type_index] *= x
        self.duration_scale = self.mult["duration"].tolist()

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
            counts = stats.poisson.ppf(
                self.streams.uniforms(Purpose.ARRIVALS, stable_hash(a.key), len(a.rate)), rate
            ).astype(np.int64)
            self.arrivals_by_source[a_i] = counts.sum()
            for month, count in enumerate(counts):
                if count == 0:
                    continue
                label = a.month_label[month]
                u = self.streams.uniforms(Purpose.ARRIVALS, stable_hash(f"{a.key}@{label}"), count)
                times = a.month_start[month] + np.sort(u) * (
                    a.month_end[month] - a.month_start[month]
                )
                for k, t in enumerate(times):
                    deal_id = f"{a.key}@{label}#{k + 1}"
                    ids.append(deal_id)
                    types.append(a.type_index)
                    stages.append(a.stage)
                    arrival.append(float(t))
                    customers.append(a.customer)
                    keys.append(stable_hash(deal_id))
        n = self.n = len(ids)
        n_live = len(m.deal_ids)
        self.ids, self.customers = ids, customers
        self.type = types
        self.stage0 = stages
        self.arrival = arrival
        s = self.n_stages
        width = SLOT_VISITS + 3 * s * _PREFETCH_VISITS
        u = self.streams.uniforms_many(Purpose.DEAL_STAGES, np.array(keys, np.uint64), width)
        self.keys = keys
        # Visit draws as plain lists for the hot loop.
        self.u_visits = u[:, SLOT_VISITS:].tolist()
        type_arr = np.array(types, np.int64)
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
                cum = self.fast[t_i][5][st][1]
                k = np.minimum(np.searchsorted(cum, u[rows, col + 1], side="right"), len(cum) - 1)
                first_exit[rows, st] = k
                for j, after in enumerate(ex.after):
                    chosen = rows[k == j]
                    if len(chosen):
                        first_dur[chosen, st] = scale * after.ppf(u[chosen, col])
        # Live deals: the current stage's remaining time, conditioned on the days spent.
        self.stale: dict[int, float] = {}  # stale live deal -> days until lost (-1: at once)
        self.first_ratio: dict[int, float] = {}  # live deal -> its conditioned p_won / p_lost
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
                live = self._live_exit(ex, self.fast[t_i][5][st], elapsed / scale, u[d, col + 1])
                if live is None:
                    self.stale[d] = ex.stale_after
                    continue
                k, self.first_ratio[d] = live
                first_exit[d, st] = k
                remaining = ex.after[k].ppf_remaining(np.array([u[d, col]]), elapsed / scale)
                first_dur[d, st] = scale * float(remaining[0])
        self.first_dur = first_dur.tolist()
        self.first_exit = first_exit.tolist()
        self.value = value.tolist()
        self.live_elapsed = [float(e) for e in m.deal_elapsed] + [0.0] * (n - n_live)
        self.target = [float(t) for t in m.deal_target] + [np.inf] * (n - n_live)
        # Risk draws for every deal: a stream per (deal, risk), keyed by both ids.
        key_arr = np.array(keys, np.uint64)
        n_risks = len(m.risks)
        hit = np.ones((n, n_risks), bool)
        delay = np.zeros((n, n_risks))
        for r in m.risks:
            if r.scope == SCOPE_DEAL or r.delay is not None:
                ur = self.streams.uniforms_many(Purpose.DEAL_RISK, key_arr ^ np.uint64(r.key), 2)
                if r.scope == SCOPE_DEAL:
                    hit[:, r.index] = ur[:, 0] < r.p
                if r.delay is not None:
                    delay[:, r.index] = r.delay.ppf(ur[:, 1])
        self.risk_hit, self.risk_delay = hit.tolist(), delay.tolist()
        self.outcome = [OPEN] * n
        self.decision = [np.nan] * n
        self.reached = list(stages)
        self.wait = [0.0] * n
        self.cost = [0.0] * n
        self.win_factor = [1.0] * n
        self.value_factor = self.mult["value"][type_arr].tolist()
        self.pending = [0.0] * n
        self.lost_flag = [False] * n
        self.skipped: list[set[int]] = [set() for _ in range(n)]
        self.priority_bonus = [0.0] * n
        self.process: list[Any] = [None] * n

    @staticmethod
    def _live_exit(
        ex: ExitPlan, lists: tuple[Any, ...], age: float, u: float
    ) -> tuple[int, float] | None:
        """Exit of a deal that has spent ``age`` days in the stage: P(k) ∝ p_k S_k(age), and
        the conditioned p_won / p_lost; None when no exit's time exceeds ``age`` (stale)."""
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

    def _visit_uniforms(self, d: int, slot: int) -> list[float]:
        """Deal ``d``'s visit draws, extended (same stream, longer) so that ``slot`` exists."""
        row = self.u_visits[d]
        if slot >= len(row):  # a long rework loop
            width = SLOT_VISITS + max(slot + 1, 2 * len(row))
            full = self.streams.uniforms(Purpose.DEAL_STAGES, self.keys[d], width)
            row = self.u_visits[d] = full[SLOT_VISITS:].tolist()
        return row

    def deal(self, d: int) -> Any:
        """The process of deal ``d``: stage after stage until it is won, lost or the horizon."""
        env, m = self.env, self.m
        timeout, request, release = env.timeout, self.alloc.request, self.alloc.release
        on, needs_of, advance, rework_to, rework_p, exits = self.fast[self.type[d]]
        durations = m.types[self.type[d]].duration
        scale = self.duration_scale[self.type[d]]
        s_count = self.n_stages
        visits = [0] * s_count
        skipped = self.skipped[d]
        first_dur, record, urow = self.first_dur[d], self.visits.append, self.u_visits[d]
        first_exit = self.first_exit[d]
        season = m.types[self.type[d]].season  # won_season per stage (see engine/season.py)
        dynamic = self.dynamic  # rules or risks may change the deal on the way
        fifo = m.queue == "fifo"
        stage = self.stage0[d]
        entry = ready = start = 0.0
        visit = 0
        if self.arrival[d] > 0:
            yield timeout(self.arrival[d])
        self.open_deals.add(d)
        if d in self.stale:  # a live deal older than any exit's time
            if self.stale[d] > 0:
                yield timeout(self.stale[d])
            self._decide(d, LOST)
            return
        try:
            while True:
                while stage < s_count and (not on[stage] or stage in skipped):
                    stage += 1
                if stage >= s_count:  # every remaining stage skipped: decided as won
                    self._decide(d, WON)
                    return
                self.reached[d] = stage
                entry = ready = env.now
                if dynamic:
                    self._enter(d, stage)
                    if self.lost_flag[d]:
                        self._decide(d, LOST)
                        return
                    if self.pending[d] > 0:
                        delay, self.pending[d] = self.pending[d], 0.0
                        yield timeout(delay)
                        ready = env.now
                        if stage in skipped:
                            continue
                needs = needs_of[stage]
                visit = visits[stage]
                visits[stage] += 1
                if needs:
                    key = 0.0 if fifo and not dynamic else self._priority(d, stage)
                    event = request(d, needs, key)
                    if event is not None:
                        self.waiting.add(d)
                        yield event
                        self.waiting.discard(d)
                start = env.now
                self.wait[d] += start - ready
                ex = exits[stage]
                base = 3 * (visit * s_count + stage)
                if visit == 0:  # drawn up front; conditioned for a live deal's current stage
                    duration, k = first_dur[stage], first_exit[stage]
                else:
                    urow = self._visit_uniforms(d, base + 2)
                    u = np.array([urow[base]])
                    if ex is None:
                        duration = scale * float(durations[stage].ppf(u)[0])
                    else:
                        k = min(bisect_right(ex[1], urow[base + 1]), len(ex[1]) - 1)
                        duration = scale * float(ex[2][k].ppf(u)[0])
                f = self.win_factor[d]  # as it is when staffed (exits are chosen now)
                self.in_service[d] = (needs, start, visit, entry, ready)
                yield timeout(duration)
                del self.in_service[d]
                if needs:
                    release(needs)
                end = env.now
                if dynamic:
                    if self.pending[d] > 0:  # held up after the stage: the visit is over
                        self.held_up[d] = (d, stage, visit, entry, ready, start, end, K_OPEN)
                        delay, self.pending[d] = self.pending[d], 0.0
                        yield timeout(delay)
                        del self.held_up[d]
                    if self.lost_flag[d]:
                        record((d, stage, visit, entry, ready, start, end, K_LOST))
                        self._decide(d, LOST)
                        return
                nxt = stage + 1  # the next stage the deal goes through
                while nxt < s_count and (not on[nxt] or nxt in skipped):
                    nxt += 1
                # the decision month's won_season factor acts like the win factor
                c = sp.at(end) if season and (sp := season[stage]) is not None else 1.0
                # where it goes: a stage, or TO_WON / TO_LOST; and the kind of exit
                if ex is not None:
                    go = ex[0][k]
                    f *= c
                    if f != 1.0 and go < 0:
                        ratio = ex[3]
                        if visit == 0 and d in self.first_ratio and stage == self.stage0[d]:
                            ratio = self.first_ratio[d]
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
                        p_advance *= self.win_factor[d] * c
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

    def _enter(self, d: int, stage: int) -> None:
        """Stage entry: rules fire, then deal-scope risks are drawn."""
        if self.m.rules:
            self._fire_rules(d, stage)
        if self.m.risks:
            self._expose(d, stage)

    def _decide(self, d: int, outcome: int) -> None:
        self.outcome[d] = outcome
        self.decision[d] = self.env.now
        self.open_deals.discard(d)

    def _attrs(self, d: int, stage: int) -> dict[str, float | str]:
        m = self.m
        plan = m.types[self.type[d]]
        value = self.value[d] * self.value_factor[d]
        win = float(plan.win_from[stage]) * self.win_factor[d]
        now = self.env.now
        return {
            "value": value,
            "expected_value": value * win,
            "win_probability": win,
            "days_in_stage": self.live_elapsed[d] if stage == self.stage0[d] else 0.0,
            "waited_days": self.wait[d],
            "age_days": now
            - self.arrival[d]
            + (self.live_elapsed[d] if d < len(m.deal_ids) else 0.0),
            "stage_index": float(stage),
            "priority": self.priority_bonus[d],
            "type": plan.name,
            "stage": m.stage_ids[stage],
            "customer": self.customers[d],
            "id": self.ids[d],
            "name": m.deal_names[d] if d < len(m.deal_names) else self.ids[d],
        }

    def _priority(self, d: int, stage: int) -> float:
        """The deal's queue key (lower is served first); a rule's priority moves it ahead."""
        m = self.m
        if m.queue == "earliest_target":
            key = self.target[d]
        elif m.queue_expression is None:
            key = 0.0
        else:
            value = float(m.queue_expression.evaluate(self._attrs(d, stage)))
            key = -value if m.queue_descending else value
        return key - self.priority_bonus[d]

    def _fire_rules(self, d: int, stage: int) -> None:
        attrs = self._attrs(d, stage)
        fired = self.rule_fired
        for rule in self.m.rules:
            if rule.once and (d, rule.index) in fired:
                continue
            if rule.when.evaluate(attrs):
                fired.add((d, rule.index))
                self.win_factor[d] *= rule.win_factor
                self.value_factor[d] *= rule.value_factor
                self.priority_bonus[d] += rule.priority
                if rule.delay is not None:
                    u = float(
                        self.streams.uniforms(Purpose.DEAL_RULE, self.keys[d] ^ rule.key, 1)[0]
                    )
                    self.pending[d] += float(rule.delay.ppf(np.array([u]))[0])
                if rule.skip.any():
                    self.skipped[d].update(int(i) for i in np.flatnonzero(rule.skip))

    def _matches(self, r: RiskPlan, d: int, stage: int) -> bool:
        if not r.types[self.type[d]] or not r.exposed[stage]:
            return False
        if r.customers is not None and self.customers[d] not in r.customers:
            return False
        return r.when is None or bool(r.when.evaluate(self._attrs(d, stage)))

    def _expose(self, d: int, stage: int) -> None:
        drawn = self.risk_drawn
        for r in self.m.risks:
            if r.scope != SCOPE_DEAL or (d, r.index) in drawn:
                continue
            if not self._matches(r, d, stage):
                continue
            drawn.add((d, r.index))
            self.cost[d] += r.cost
            if self.risk_hit[d][r.index]:
                self._hit(r, d)

    def _hit(self, r: RiskPlan, d: int) -> None:
        delay = self.risk_delay[d][r.index]
        self.pending[d] += delay
        self.win_factor[d] *= r.win_factor
        self.value_factor[d] *= r.value_factor
        if r.lost:
            self.lost_flag[d] = True
        self.risk_log.append((r.index, d, self.env.now, delay))

    # --- world processes --------------------------------------------------------------------

    def global_risk(self, r: RiskPlan, at: float) -> Any:
        yield self.env.timeout(at)
        for d in sorted(self.open_deals):
            if self._matches(r, d, self.reached[d]):
                self._hit(r, d)
                if r.lost and (d in self.waiting or d in self.in_service):
                    self.process[d].interrupt()

    def resource_risk(self, r: RiskPlan, at: float, duration: float) -> Any:
        yield self.env.timeout(at)
        self.risk_log.append((r.index, -1, self.env.now, duration))
        self._change_capacity(r.pool, r.capacity)
        yield self.env.timeout(duration)
        self._change_capacity(r.pool, -r.capacity)

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
            purpose = Purpose.GLOBAL_RISK if r.scope == SCOPE_GLOBAL else Purpose.RESOURCE_RISK
            u = self.streams.uniforms(purpose, stable_hash(r.id), 3)
            if u[0] >= r.p:
                continue
            occurred[r.index] = True
            at = r.window[0] + u[1] * (r.window[1] - r.window[0])
            if r.scope == SCOPE_GLOBAL:
                env.process(self.global_risk(r, at))
            else:
                assert r.duration is not None
                env.process(self.resource_risk(r, at, float(r.duration.ppf(np.array([u[2]]))[0])))
        for d in range(self.n):
            self.process[d] = env.process(self.deal(d))
        # An event exactly at the horizon (within the calendar's TIME_EPS) falls on the horizon
        # day, so it belongs inside; SimPy's `until` would drop events at that very instant.
        env.run(until=m.horizon_t + TIME_EPS)
        return self._records(occurred)

    def _records(self, occurred: npt.NDArray[np.bool_]) -> RepRecords:
        m, horizon = self.m, self.m.horizon_t
        for d, (_, start, visit, entry, ready) in self.in_service.items():  # busy at the horizon
            self.visits.append((d, self.reached[d], visit, entry, ready, start, np.nan, K_OPEN))
        self.visits.extend(self.held_up.values())  # visit over, held up at the horizon
        for d in self.waiting:  # still queued at the horizon: their wait so far counts
            self.wait[d] += horizon - self.alloc.waiting_since(d)
        v = np.array(self.visits, dtype=np.float64).reshape(-1, 8)
        deal, stage = v[:, 0].astype(np.int64), v[:, 1].astype(np.int64)
        types = np.array(self.type, np.int64)
        held_days = np.nan_to_num(v[:, 6], nan=horizon) - v[:, 5]
        held = np.stack([t.held for t in m.types])[types[deal], stage]  # (visit, pool)
        people_days = held_days[:, None] * held
        cost = np.array(self.cost)  # mitigation costs so far
        np.add.at(cost, deal, people_days @ m.cost_per_day)
        stage_cost = np.stack([t.stage_cost for t in m.types])[types[deal], stage]
        np.add.at(cost, deal, np.where(np.isnan(v[:, 6]), 0.0, stage_cost))
        value = np.array(self.value) * np.array(self.value_factor)
        caps = np.array(self.cap_log, dtype=np.float64).reshape(-1, 3)
        risks = np.array(self.risk_log, dtype=np.float64).reshape(-1, 4)
        return RepRecords(
            deal_id=self.ids,
            deal_type=types.astype(np.int16),
            deal_live=np.arange(self.n) < len(m.deal_ids),
            arrival_t=np.array(self.arrival),
            outcome=np.array(self.outcome, np.int8),
            decision_t=np.array(self.decision),
            value=value,
            cost=cost,
            stage=np.array(self.reached, np.int16),
            wait=np.array(self.wait),
            win_factor=np.array(self.win_factor),
            visit_deal=deal.astype(np.int32),
            visit_stage=stage.astype(np.int16),
            visit_number=v[:, 2].astype(np.int32),
            # contiguous copies, so the (visit x 8) work array is not kept alive by views
            visit_entry=v[:, 3].copy(),
            visit_ready=v[:, 4].copy(),
            visit_start=v[:, 5].copy(),
            visit_exit=v[:, 6].copy(),
            visit_kind=v[:, 7].astype(np.int8),
            pool_busy=people_days.sum(axis=0),
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


def _exit_lists(ex: ExitPlan, odds: float) -> tuple[list[int], list[float], Any, float]:
    """A stage's exits for the hot loop: targets, cumulative shares (the ways towards a win
    weighted by ``odds``, renormalised), samplers of the times, and p_won / p_lost."""
    w = np.where(ex.towards_win, odds, 1.0) * ex.p
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    return list(ex.to), cum.tolist(), ex.after, _ratio(ex.to, w)


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
