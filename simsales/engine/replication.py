"""One replication: every deal a SimPy process through its stages, sharing the people pools.

Semantics (see also DESIGN.md):
- A deal enters a stage, rules fire and deal-scope risks are drawn (once per deal and risk, on
  entering the first stage where it is exposed); delays are served without holding people; then
  the deal queues for everything the stage needs (see allocator.py), holds it for the stage's
  duration and releases it.
- After a stage, rework (loop back) is drawn first, then advance vs lost. The deal's win factor
  multiplies the advance probability of its last stage, so it scales the chance to win exactly.
- Live deals start inside their current stage; the remaining time is drawn from the stage's
  distribution conditioned on the days already spent. At time zero they queue for that stage's
  people like any other deal (nobody is assumed to be held already).
- A global risk occurs at most once, at a uniform time in its window, and hits every open deal
  that matches; its delay is served at the deal's next checkpoint (stage entry or exit).
- Deals still undecided at the horizon are ``open``; a decision exactly at the horizon is inside
  (see the day convention in simsales.scenario.calendar).
"""

from __future__ import annotations

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
    Model,
    Needs,
    RiskPlan,
)
from simsales.engine.streams import Purpose, Streams, stable_hash
from simsales.scenario.calendar import TIME_EPS

__all__ = ["LOST", "OPEN", "WON", "RepRecords", "run_replication"]

OPEN, WON, LOST = 0, 1, 2
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
        self._deals(m)
        # Plain FIFO keeps arrival order; a rule's priority would reorder the queue.
        fifo = m.queue == "fifo" and not any(rule.priority for rule in m.rules)
        self.alloc = Allocator(self.env, [int(c) for c in m.capacity], fifo)
        self.dynamic = bool(m.rules or m.risks)
        # per type, plain lists for the hot loop: on, needs, advance, rework_to, rework_p
        self.fast = [
            (t.on.tolist(), t.needs, t.advance.tolist(), t.rework_to.tolist(), t.rework_p.tolist())
            for t in m.types
        ]
        self.cap_log: list[tuple[float, int, int]] = [
            (0.0, p, int(c)) for p, c in enumerate(m.capacity)
        ]
        self.visits: list[tuple[int, int, int, float, float, float, float]] = []
        self.in_service: dict[
            int, tuple[Needs, float, int, float, float]
        ] = {}  # deal -> needs, start, visit, entry, ready
        self.waiting: set[int] = set()
        self.risk_log: list[tuple[int, int, float, float]] = []
        self.open_deals: set[int] = set()
        self.rule_fired: set[tuple[int, int]] = set()  # (deal, rule)
        self.risk_drawn: set[tuple[int, int]] = set()  # (deal, risk): exposure decided

    # --- set-up: every deal of the replication, and all its first draws, at once -----------

    def _deals(self, m: Model) -> None:
        ids = list(m.deal_ids)
        types = list(m.deal_type)
        stages = list(m.deal_stage)
        arrival = [0.0] * len(ids)
        customers = list(m.deal_customers)
        keys = [int(k) for k in m.deal_keys]
        self.arrivals_by_source = np.zeros(len(m.arrivals), np.int64)
        for a_i, a in enumerate(m.arrivals):
            counts = stats.poisson.ppf(
                self.streams.uniforms(Purpose.ARRIVALS, stable_hash(a.key), len(a.rate)), a.rate
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
        for t_i, plan in enumerate(m.types):
            rows = np.flatnonzero(type_arr == t_i)
            if len(rows) == 0:
                continue
            missing = rows[np.isnan(value[rows])]
            if len(missing) and plan.value is not None:
                value[missing] = plan.value.ppf(u[missing, SLOT_VALUE])
            for st in range(s):
                if plan.on[st]:
                    first_dur[rows, st] = plan.duration[st].ppf(u[rows, SLOT_VISITS + 3 * st])
        # Live deals: the current stage's remaining time, conditioned on the days spent.
        for d in range(n_live):
            elapsed = float(m.deal_elapsed[d])
            if elapsed > 0:
                st = stages[d]
                sampler = m.types[types[d]].duration[st]
                first_dur[d, st] = float(
                    sampler.ppf_remaining(np.array([u[d, SLOT_VISITS + 3 * st]]), elapsed)[0]
                )
        self.first_dur = first_dur.tolist()
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
        self.value_factor = [1.0] * n
        self.pending = [0.0] * n
        self.lost_flag = [False] * n
        self.skipped: list[set[int]] = [set() for _ in range(n)]
        self.priority_bonus = [0.0] * n
        self.process: list[Any] = [None] * n

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
        on, needs_of, advance, rework_to, rework_p = self.fast[self.type[d]]
        durations = m.types[self.type[d]].duration
        s_count = self.n_stages
        visits = [0] * s_count
        skipped = self.skipped[d]
        first_dur, record, urow = self.first_dur[d], self.visits.append, self.u_visits[d]
        dynamic = self.dynamic  # rules or risks may change the deal on the way
        fifo = m.queue == "fifo"
        stage = self.stage0[d]
        entry = ready = start = 0.0
        visit = 0
        if self.arrival[d] > 0:
            yield timeout(self.arrival[d])
        self.open_deals.add(d)
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
                if visit == 0:  # drawn up front; conditioned for a live deal's current stage
                    duration = first_dur[stage]
                else:
                    urow = self._visit_uniforms(d, 3 * (visit * s_count + stage) + 2)
                    u = urow[3 * (visit * s_count + stage)]
                    duration = float(durations[stage].ppf(np.array([u]))[0])
                self.in_service[d] = (needs, start, visit, entry, ready)
                yield timeout(duration)
                del self.in_service[d]
                if needs:
                    release(needs)
                record((d, stage, visit, entry, ready, start, env.now))
                if dynamic:
                    if self.pending[d] > 0:
                        delay, self.pending[d] = self.pending[d], 0.0
                        yield timeout(delay)
                    if self.lost_flag[d]:
                        self._decide(d, LOST)
                        return
                base = 3 * (visit * s_count + stage)
                if rework_to[stage] >= 0 and urow[base + 1] < rework_p[stage]:
                    stage = rework_to[stage]
                    continue
                nxt = stage + 1
                while nxt < s_count and (not on[nxt] or nxt in skipped):
                    nxt += 1
                p_advance = advance[stage]
                if nxt >= s_count:
                    p_advance *= self.win_factor[d]
                if urow[base + 2] >= p_advance:
                    self._decide(d, LOST)
                    return
                if nxt >= s_count:
                    self._decide(d, WON)
                    return
                stage = nxt
        except simpy.Interrupt:  # lost outright by a global risk
            if d in self.in_service:
                needs, start, visit, entry, ready = self.in_service.pop(d)
                self.alloc.release(needs)
                record((d, stage, visit, entry, ready, start, env.now))
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
            self.visits.append((d, self.reached[d], visit, entry, ready, start, np.nan))
        for d in self.waiting:  # still queued at the horizon: their wait so far counts
            self.wait[d] += horizon - self.alloc.waiting_since(d)
        v = np.array(self.visits, dtype=np.float64).reshape(-1, 7)
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
            # contiguous copies, so the (visit x 7) work array is not kept alive by views
            visit_entry=v[:, 3].copy(),
            visit_ready=v[:, 4].copy(),
            visit_start=v[:, 5].copy(),
            visit_exit=v[:, 6].copy(),
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
        )


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
