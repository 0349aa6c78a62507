"""The exact fast path: a block of replications computed in numpy, without SimPy.

Exactness contract. For every replication it accepts, :func:`run_block` returns records equal,
float for float and row for row, to what :func:`simsales.engine.replication.run_replication`
produces with the same SeedSequence. It reaches that by construction, not by approximation:

- the same per-deal random streams (streams.py): PCG64 in numpy, each draw computed directly at
  its step (state after k steps = a^k s + c_k inc mod 2^128, or one LCG step on from the draw
  just before it, then PCG64's XSL-RR output and its 53-bit double), the same slots and the
  same quantile calls, element by element;
- the same arithmetic in the same order: a time is the previous event's time plus the delay, as
  SimPy schedules it; records are built by the same formulas, one replication at a time where
  a reduction's order could depend on the array;
- the same order of events, equal instants included: every event is ranked as SimPy processes
  it, by (time, priority, the order it was scheduled in), an event being scheduled while the
  one before it in its process is processed (see _Events; deals that arrive later are started
  by one arrivals process, as replication.py does);
- the same pools, by checking instead of simulating: each deal's trajectory is computed without
  capacity, and a replication is accepted only if a sweep over its requests, releases and
  capacity changes, in that event order, finds every request granted at once (the allocator,
  allocator.py, then never queues anyone, so the pools change nothing). A declined
  replication (None) runs on SimPy.

Scenarios with rules, deal or global risks, or any model feature this module does not know
(see :func:`unsupported`) are declined as a whole. Covered: stage times, competing exits,
rework, ``won_season``, arrivals, live deals in their stage (stale ones too), ``uncertainty:``
multipliers (monthly ones too), capacity changes and resource risks.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simsales.engine.hazards import REACHED_LAST_AGE
from simsales.engine.model import (
    SCOPE_RESOURCE,
    SLOT_VALUE,
    SLOT_VISITS,
    TO_LOST,
    TO_WON,
    UNCERTAIN,
    ArrivalPlan,
    ExitPlan,
    Model,
    RiskPlan,
    TypePlan,
)
from simsales.engine.options import ENGINES, Engine
from simsales.engine.replication import (
    K_ADVANCE,
    K_LOST,
    K_OPEN,
    K_REWORK,
    K_SKIP,
    K_WON,
    LOST,
    OPEN,
    WON,
    RepRecords,
    _capacity_days,
    _poisson_ppf,
    _Run,
    run_replication,
)
from simsales.engine.streams import (
    _PCG_MULT,
    _TO_DOUBLE,
    Purpose,
    _jumps,
    _mul128,
    _pcg64_doubles_many,
    _splitmix,
    seed_words,
    stable_hash,
)
from simsales.errors import SimsalesError
from simsales.scenario.calendar import TIME_EPS
from simsales.scenario.distributions import FixedSampler, Sampler

__all__ = [
    "ENGINES",
    "BlockRecords",
    "Engine",
    "block_uniforms",
    "current_engine",
    "default_engine",
    "never_short",
    "run_block",
    "run_parts",
    "run_replications",
    "unsupported",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
U64 = npt.NDArray[np.uint64]

_K_LOST, _K_WON, _K_ADVANCE = np.int8(K_LOST), np.int8(K_WON), np.int8(K_ADVANCE)  # as recorded
_MAX_STEPS = 4096  # visits per deal beyond which the rest of the block goes to SimPy

# The fields this path implements; a field added to the model (new syntax) declines the scenario.
_MODEL_FIELDS = frozenset(
    [
        "name",
        "currency",
        "start",
        "horizon",
        "horizon_t",
        "calendar",
        "stage_ids",
        "stage_labels",
        "pool_ids",
        "capacity",
        "capacity_changes",
        "cost_per_day",
        "types",
        "deal_ids",
        "deal_names",
        "deal_customers",
        "deal_type",
        "deal_stage",
        "deal_elapsed",
        "deal_value",
        "deal_target",
        "arrivals",
        "risks",
        "rules",
        "queue",
        "queue_expression",
        "queue_descending",
        "targets",
        "global_cost",
        "uncertainty",
        "deal_keys",
        "monthly",
    ]
)
_TYPE_FIELDS = frozenset(
    [
        "name",
        "label",
        "on",
        "duration",
        "advance",
        "rework_to",
        "rework_p",
        "needs",
        "held",
        "stage_cost",
        "value",
        "margin",
        "win_from",
        "exits",
        "season",
    ]
)
_EXIT_FIELDS = frozenset(["to", "p", "after", "towards_win", "stale_after", "hazard", "stale_from"])
_ARRIVAL_FIELDS = frozenset(
    {"type_index", "stage", "customer", "key", "month_start", "month_end", "month_label"}
    | {"month_index"}
    | {"rate", "key_hash", "month_hash", "month_prefix"}
)
_RISK_FIELDS = frozenset(
    [
        "index",
        "id",
        "key",
        "scope",
        "p",
        "exposed",
        "window",
        "types",
        "customers",
        "when",
        "delay",
        "win_factor",
        "value_factor",
        "lost",
        "pool",
        "capacity",
        "duration",
        "cost",
    ]
)


def _names(cls: Any) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def unsupported(model: Model) -> str | None:
    """Why the fast path cannot run ``model`` (None: it can, replication by replication)."""
    for cls, known in (
        (Model, _MODEL_FIELDS),
        (TypePlan, _TYPE_FIELDS),
        (ExitPlan, _EXIT_FIELDS),
        (ArrivalPlan, _ARRIVAL_FIELDS),
        (RiskPlan, _RISK_FIELDS),
    ):
        if _names(cls) != known:
            return f"model features unknown to the fast path ({cls.__name__})"
    if model.rules:
        return "rules"
    if any(r.scope != SCOPE_RESOURCE for r in model.risks):
        return "deal or global risks"
    return None


def never_short(model: Model) -> bool:
    """Whether no pool can ever run short, whatever the draws: no pools, or no arrivals and
    each pool's lowest possible capacity (its lowest planned one, every resource risk on it at
    once) holds what all live deals could ask of it together (each holds one stage at a
    time)."""
    if model.arrivals and len(model.capacity):
        return False
    needs = _needs(model)
    # live deals per type: the sum over deals taken type by type (integers: the same sum), as
    # the fast path asks this once per block and a scenario can have thousands of deals
    per_type = np.bincount(model.deal_type, minlength=len(needs)).tolist()
    for p, capacity in enumerate(model.capacity):
        low = min([int(capacity)] + [c for _, q, c in model.capacity_changes if q == p])
        low += sum(min(0, r.capacity) for r in model.risks if r.pool == p and r.capacity)
        most = [max((c for q, c in asks if q == p), default=0) for asks in needs]
        if sum(c * k for c, k in zip(most, per_type, strict=True)) > max(0, low):
            return False
    return True


def _needs(model: Model) -> list[list[tuple[int, int]]]:
    """Per type: the (pool, people) requests of all its stages."""
    return [[pc for needs in plan.needs for pc in needs] for plan in model.types]


# --- random streams: every (replication, key) stream of a block at once --------------------


def block_uniforms(words: U64, purpose: int, keys: U64, n: int) -> FloatArray:
    """Row i: ``Streams(seq_i).uniforms(purpose, keys[i], n)`` with ``words[i]`` the four
    words of seq_i (each row with its replication's words: streams.py has one replication)."""
    if n == 0 or len(keys) == 0:
        return np.empty((len(keys), n))
    return _pcg64_doubles_many(*_seed_states(words, _key_mix(purpose, keys)), n)


def _key_mix(purpose: int, keys: U64) -> U64:
    """What streams of (purpose, key) mix each replication's words with (one number each)."""
    return _splitmix(keys ^ _splitmix(np.full(1, purpose, np.uint64)))


def _seed_states(words: U64, mix: U64, sizes: IntArray | None = None) -> tuple[U64, U64, U64, U64]:
    """PCG64 state and increment (high, low words) of the streams of ``_key_mix`` ``mix``, as
    ``Streams.uniforms_many`` derives them from a replication's words (row i: ``words[i]``;
    with ``sizes``, ``words[r]`` for ``sizes[r]`` rows in turn)."""
    if sizes is not None and len(sizes) and (sizes == sizes[0]).all():  # one grid, no repeats
        grid = mix.reshape(len(sizes), -1)
        sh, sl, ih, il = (_splitmix((grid ^ words[:, j, None]).ravel()) for j in range(4))
    else:
        cols = [words[:, j] if sizes is None else np.repeat(words[:, j], sizes) for j in range(4)]
        sh, sl, ih, il = (_splitmix(mix ^ w) for w in cols)
    return sh, sl, ih, il | np.uint64(1)


def _draw(state: tuple[U64, ...], col: IntArray, k: int = 1) -> list[FloatArray]:
    """Uniforms ``col .. col + k - 1`` (from 0) of each stream: ``_pcg64_doubles_many`` at
    one step per row, the first state jumped to, the next ones stepped from it."""
    hi, lo = _jump(state, col)
    out = [_double(hi, lo)]
    for _ in range(k - 1):  # the LCG's step: state * a + inc
        m_hi, m_lo = _mul128(hi, lo, _A_HI, _A_LO)
        lo = m_lo + state[3]
        hi = m_hi + state[2] + (lo < m_lo).astype(np.uint64)
        out.append(_double(hi, lo))
    return out


def _jump(state: tuple[U64, ...], col: IntArray) -> tuple[U64, U64]:
    """The state of uniform ``col`` (from 0) of each stream, jumped to from its seed state."""
    jumps = _jumps(1 << max(6, int(col.max(initial=0)).bit_length()))  # a few sizes, cached
    if len(col) and (col == col[0]).all():  # one slot for all (e.g. deals in step): 0-d words
        a_hi, a_lo, c_hi, c_lo = (np.asarray(x[int(col[0])]) for x in jumps)
    else:
        a_hi, a_lo, c_hi, c_lo = (x[col] for x in jumps)
    s_hi, s_lo = _mul128(state[0], state[1], a_hi, a_lo)
    t_hi, t_lo = _mul128(state[2], state[3], c_hi, c_lo)
    lo = s_lo + t_lo
    hi = s_hi + t_hi + (lo < s_lo).astype(np.uint64)
    return hi, lo


_M128 = (1 << 128) - 1
_A_HI = np.array(_PCG_MULT >> 64, np.uint64)  # the LCG's multiplier, as 0-d arrays
_A_LO = np.array(_PCG_MULT & ((1 << 64) - 1), np.uint64)
_A2_HI = np.array((_PCG_MULT * _PCG_MULT & _M128) >> 64, np.uint64)  # its square
_A2_LO = np.array(_PCG_MULT * _PCG_MULT & ((1 << 64) - 1), np.uint64)
_A1_HI = np.array((_PCG_MULT + 1) >> 64, np.uint64)  # 1 + a (no carry out of 128 bits)
_A1_LO = np.array((_PCG_MULT + 1) & ((1 << 64) - 1), np.uint64)


def _affine(hi: U64, lo: U64, a_hi: U64, a_lo: U64, c_hi: U64, c_lo: U64) -> tuple[U64, U64]:
    """State ``(hi, lo) * a + c`` mod 2**128: the LCG's step (a its multiplier, c the
    increment), or several at once."""
    m_hi, m_lo = _mul128(hi, lo, a_hi, a_lo)
    m_lo += c_lo
    m_hi += c_hi
    m_hi += m_lo < c_lo  # the low word's carry (it wrapped)
    return m_hi, m_lo


def _double(hi: U64, lo: U64) -> FloatArray:
    """PCG64's XSL-RR output of a state, as numpy's 53-bit double (built in place)."""
    x: U64 = np.bitwise_xor(hi, lo)
    rot: U64 = hi >> np.uint64(58)
    turned: U64 = x >> rot
    x <<= (np.uint64(64) - rot) & np.uint64(63)
    turned |= x
    turned >>= np.uint64(11)
    # below 2**53: the same double from int64, whose conversion is cheaper than uint64's
    out: FloatArray = turned.view(np.int64).astype(np.float64)
    out *= _TO_DOUBLE
    return out


# --- the block ------------------------------------------------------------------------------


class _Odds:
    """A replication's per-type lists as the engine builds them for its win odds."""

    def __init__(self, model: Model, win_odds: FloatArray) -> None:
        probe = _Probe(win_odds)
        fast = [_Run._fast(probe, t, plan) for t, plan in enumerate(model.types)]  # type: ignore[arg-type]
        s, n_types = model.n_stages, len(model.types)
        width = max((len(ex.to) for plan in model.types for ex in plan.exits if ex), default=1)
        self.advance = np.array([f[2] for f in fast]).reshape(n_types, s)
        self.rework_p = np.array([f[4] for f in fast]).reshape(n_types, s)
        self.cum = np.full((n_types, s, width), np.inf)
        self.lists = fast
        for t, f in enumerate(fast):
            for st, ex in enumerate(f[5]):
                if ex is not None:
                    self.cum[t, st, : len(ex[1])] = ex[1]


class _Probe:
    """What ``_Run._fast`` reads from a replication: its win-odds multipliers."""

    def __init__(self, win_odds: FloatArray) -> None:
        self.mult = {"win_odds": win_odds}


class _Block:
    """Deals of consecutive replications side by side: row g of every array is one deal."""

    def __init__(self, model: Model, seqs: Sequence[np.random.SeedSequence]) -> None:
        self.m = m = model
        self.b = len(seqs)
        self.words = seed_words(seqs)
        self.until = m.horizon_t + TIME_EPS  # SimPy's run(until=...): events before it happen
        self._multipliers()
        self._deals()
        self._plans()

    def _uniforms(self, reps: IntArray, purpose: int, keys: U64, n: int) -> FloatArray:
        return block_uniforms(self.words[reps], purpose, keys, n)

    def _multipliers(self) -> None:
        m, b = self.m, self.b
        reps = np.arange(b)
        self.mult = {kind: np.ones((b, len(m.types))) for kind in UNCERTAIN}
        self.uncertainty = np.ones((b, len(m.uncertainty)))
        for i, plan in enumerate(m.uncertainty):
            u = self._uniforms(reps, Purpose.UNCERTAINTY, np.full(b, plan.key, np.uint64), 1)
            x = np.asarray(plan.sampler.ppf(u[:, 0]), np.float64)
            self.uncertainty[:, i] = x
            if plan.type_index < 0:
                self.mult[plan.kind] *= x[:, None]
            else:
                self.mult[plan.kind][:, plan.type_index] *= x
        # uncertainty.monthly: (replication, month) factors, each month's own stream
        self.monthly: dict[str, FloatArray] = {}
        for mp in m.monthly:
            k = len(mp.keys)
            u = self._uniforms(np.repeat(reps, k), Purpose.UNCERTAINTY, np.tile(mp.keys, b), 1)
            self.monthly[mp.kind] = np.asarray(mp.sampler.ppf(u[:, 0]), np.float64).reshape(b, k)
        if m.monthly:  # each one's mean over the run, beside the once-per-run ones
            means = [[mp.run_mean(self.monthly[mp.kind][r]) for mp in m.monthly] for r in range(b)]
            self.uncertainty = np.hstack([self.uncertainty, np.array(means, np.float64)])
        self.month_bounds = next((mp.bounds for mp in m.monthly if mp.kind == "win"), None)
        # one set of per-type lists per replication only when win odds vary
        varies = any(p.kind == "win_odds" for p in m.uncertainty)
        self.odds = [
            _Odds(m, row) for row in (self.mult["win_odds"] if varies else [np.ones(len(m.types))])
        ]
        self.group = reps if varies else np.zeros(b, np.int64)
        self.advance = np.stack([o.advance for o in self.odds])  # (group, type, stage)
        self.rework_p = np.stack([o.rework_p for o in self.odds])
        self.cum = np.stack([o.cum for o in self.odds])  # (group, type, stage, exit)

    def _deals(self) -> None:
        m, b = self.m, self.b
        n_live = len(m.deal_ids)
        # without arrivals every replication has the live deals alone: one list for all
        ids = [list(m.deal_ids) for _ in range(b)] if m.arrivals else [list(m.deal_ids)] * b
        extra: list[list[tuple[int, int, FloatArray, U64]]] = [[] for _ in range(b)]
        self.arrivals_by_source = np.zeros((b, len(m.arrivals)), np.int64)
        reps = np.arange(b)
        for a_i, a in enumerate(m.arrivals):
            rate = a.rate[None, :] * self.mult["arrivals"][:, a.type_index][:, None]
            if "arrivals" in self.monthly:
                rate = rate * self.monthly["arrivals"][:, a.month_index]
            u = self._uniforms(
                reps, Purpose.ARRIVALS, np.full(b, stable_hash(a.key), np.uint64), len(a.rate)
            )
            counts = _poisson_ppf(u, rate).reshape(b, len(a.rate))
            self.arrivals_by_source[:, a_i] = counts.sum(axis=1)
            for month in range(len(a.rate)):
                most = int(counts[:, month].max(initial=0))
                if most == 0:
                    continue
                label = a.month_label[month]
                key = np.full(b, stable_hash(f"{a.key}@{label}"), np.uint64)
                draws = self._uniforms(reps, Purpose.ARRIVALS, key, most)
                lo, hi = a.month_start[month], a.month_end[month]
                names = [f"{a.key}@{label}#{k + 1}" for k in range(most)]  # same in every rep
                # their stage streams' key mix (once for every replication)
                mixes = _key_mix(
                    Purpose.DEAL_STAGES, np.array([stable_hash(x) for x in names], np.uint64)
                )
                for rep in np.flatnonzero(counts[:, month]).tolist():
                    c = int(counts[rep, month])
                    times = lo + np.sort(draws[rep, :c]) * (hi - lo)
                    ids[rep].extend(names[:c])
                    extra[rep].append((a.type_index, a.stage, times, mixes[:c]))
        self.ids = ids
        sizes = np.array([len(x) for x in ids], np.int64)
        self.offset = np.concatenate([[0], np.cumsum(sizes)])
        n = self.n = int(self.offset[-1])
        self.rep = np.repeat(np.arange(b), sizes)
        self.local = np.arange(n) - np.repeat(self.offset[:-1], sizes)
        self.live = self.local < n_live
        self.arrival = np.zeros(n)
        # each deal's type, stage and stage-stream key mix: the live deals' in every replication
        live_mix = _key_mix(Purpose.DEAL_STAGES, m.deal_keys)
        if n == n_live * b:  # no new deals: the live deals' repeated, nothing to place
            self.type, self.stage0 = np.tile(m.deal_type, b), np.tile(m.deal_stage, b)
            mix = np.tile(live_mix, b)
        else:
            self.type, self.stage0 = np.empty(n, np.int64), np.empty(n, np.int64)
            mix = np.empty(n, np.uint64)
            live_rows = (self.offset[:-1, None] + np.arange(n_live)).ravel()  # every rep's
            self.type[live_rows] = np.tile(m.deal_type, b)
            self.stage0[live_rows] = np.tile(m.deal_stage, b)
            mix[live_rows] = np.tile(live_mix, b)
        for r in (r for r in range(b) if extra[r]):
            sl = slice(int(self.offset[r]) + n_live, int(self.offset[r + 1]))
            self.type[sl] = np.concatenate([np.full(len(x[2]), x[0]) for x in extra[r]])
            self.stage0[sl] = np.concatenate([np.full(len(x[2]), x[1]) for x in extra[r]])
            self.arrival[sl] = np.concatenate([x[2] for x in extra[r]])
            mix[sl] = np.concatenate([x[3] for x in extra[r]])
        self.states = _seed_states(self.words, mix, sizes)

    def slot(self, g: IntArray, col: IntArray | int) -> FloatArray:
        """Deal g's uniform at ``col`` of its stage stream (streams.py's slots), computed for
        just the draws a visit uses."""
        return self.slots(g, col, 1)[0]

    def slots(self, g: IntArray, col: IntArray | int, k: int) -> list[FloatArray]:
        """Deal g's uniforms at ``col .. col + k - 1`` of its stage stream."""
        col = np.broadcast_to(np.asarray(col, np.int64), g.shape)
        return _draw(tuple(x[g] for x in self.states), col, k)

    def _plans(self) -> None:
        m, s = self.m, self.m.n_stages
        n_types = len(m.types)
        scale = self.mult["duration"]
        self.unscaled = bool((scale == 1.0).all())  # x * 1.0 is x: no multiplying
        self.scale = np.ones(self.n) if self.unscaled else scale[self.rep, self.type]
        self.on = np.array([plan.on for plan in m.types], bool).reshape(n_types, s)
        nxt = np.full((n_types, s + 1), s, np.int64)  # first stage >= s a type goes through
        for st in range(s - 1, -1, -1):
            nxt[:, st] = np.where(self.on[:, st], st, nxt[:, st + 1])
        self.next_on = nxt
        self.rework_to = np.array([plan.rework_to for plan in m.types], np.int64).reshape(
            n_types, s
        )
        self.has_exits = np.array([[ex is not None for ex in p.exits] for p in m.types], bool)
        # the visits that read their second draw: exits (hazards included) and rework
        self.reads_u1 = self.has_exits | (self.rework_to >= 0)
        self.has_hazard = np.array(
            [[ex is not None and ex.hazard is not None for ex in p.exits] for p in m.types], bool
        )
        # the win odds each hazard walk weights its exits by, per (group, type, stage)
        self.hz_odds = np.ones((len(self.odds), n_types, s))
        for g, o in enumerate(self.odds):
            for t, f in enumerate(o.lists):
                for st, ex in enumerate(f[5]):
                    if ex is not None and ex[4] is not None:
                        self.hz_odds[g, t, st] = ex[5]
        width = self.odds[0].cum.shape[2]
        self.exit_to = np.full((n_types, s, width), TO_LOST, np.int64)
        for t, plan in enumerate(m.types):
            for st, ex in enumerate(plan.exits):
                if ex is not None:
                    self.exit_to[t, st, : len(ex.to)] = ex.to
        # won_season per (type, stage) and p_won / p_lost per (group, type, stage): the factor
        # of the decision month acts like a win factor at the exit (engine/season.py)
        self.seasons = {
            (t, st): (np.asarray(sp.bounds), np.asarray(sp.factors))
            for t, plan in enumerate(m.types)
            for st, sp in enumerate(plan.season)
            if sp is not None
        }
        self.ratio = np.array(
            [[[np.inf if ex is None else ex[3] for ex in f[5]] for f in o.lists] for o in self.odds]
        ).reshape(len(self.odds), n_types, s)
        self.needs = np.zeros((n_types, s, len(m.pool_ids)), np.int64)
        self.asks = np.zeros((n_types, s, len(m.pool_ids)), bool)  # a request counts the pool
        for t, plan in enumerate(m.types):
            for st, needs in enumerate(plan.needs):
                for p, c in needs:
                    self.needs[t, st, p] = c
                    self.asks[t, st, p] = True
        self._first_draws()

    def _first_draws(self) -> None:
        """Values as the engine draws them up front; live deals' conditioned first visits."""
        m, n = self.m, self.n
        value = np.full(n, np.nan)
        value[self.live] = m.deal_value[self.local[self.live]]
        for t_i, plan in enumerate(m.types):
            missing = np.flatnonzero((self.type == t_i) & np.isnan(value))
            fixed = type(plan.value) is FixedSampler
            if len(missing) and plan.value is not None:
                # a fixed value uses no draw (its ppf ignores it): the same numbers
                u = np.zeros(len(missing)) if fixed else self.slot(missing, SLOT_VALUE)
                value[missing] = plan.value.ppf(u)
        factor = self.mult["value"]
        # x * 1.0 is x: no multiplying without value multipliers
        self.value = value if (factor == 1.0).all() else value * factor[self.rep, self.type]
        self.first_dur = np.full(n, np.nan)  # a live deal's first visit, when conditioned
        self.first_exit = np.full(n, -1, np.int64)
        self.first_ratio = np.full(n, np.nan)  # a live deal's conditioned p_won / p_lost
        self.stale_after = np.full(n, np.nan)  # stale live deals: days until lost (-1 at once)
        self._live_stages()

    def _exit_of(
        self, g: IntArray, t: int | IntArray, st: int | IntArray, u: FloatArray
    ) -> IntArray:
        """``min(bisect_right(cum, u), len(cum) - 1)`` with each deal's own cumulative shares."""
        cum = self.cum[self.group[self.rep[g]], t, st]
        count = (cum <= u[:, None]).sum(axis=1)
        last = np.isfinite(cum).sum(axis=1) - 1
        return np.minimum(count, last).astype(np.int64)

    def _live_stages(self) -> None:
        """Live deals part-way through their stage: the remaining time, conditioned on the days
        spent (as _Run._deals draws it), for every replication of the block at once."""
        m = self.m
        live = np.flatnonzero(m.deal_elapsed > 0)
        if len(live) == 0:
            return
        g = (self.offset[:-1, None] + live[None, :]).ravel()  # (replication, live deal) rows
        d = self.local[g]
        age = m.deal_elapsed[d] / self.scale[g]
        for t_i, st in sorted(
            set(zip(m.deal_type[live].tolist(), m.deal_stage[live].tolist(), strict=True))
        ):
            pick = (self.type[g] == t_i) & (self.stage0[g] == st)
            rows, a = g[pick], age[pick]
            col = SLOT_VISITS + 3 * st
            ex = m.types[t_i].exits[st]
            if ex is None:
                left = _remaining(m.types[t_i].duration[st], self.slot(rows, col), a)
                self.first_dur[rows] = self.scale[rows] * left
                continue
            if ex.hazard is not None:  # the walk starts at the age when staffed (_hazards)
                self.stale_after[rows[a >= ex.hazard.ages[-1]]] = ex.stale_after
                continue
            shares = np.stack([np.diff(o.lists[t_i][5][st][1], prepend=0.0) for o in self.odds])[
                self.group[self.rep[rows]]
            ]
            survive = np.stack([1.0 - np.asarray(x.cdf(a), np.float64) for x in ex.after], axis=1)
            w = shares * np.clip(survive, 0.0, 1.0)
            total = w.sum(axis=1)
            stale = (total <= 0) | (a >= ex.stale_from)
            self.stale_after[rows[stale]] = ex.stale_after
            rows, a, w, total = rows[~stale], a[~stale], w[~stale], total[~stale]
            cum = np.cumsum(w / total[:, None], axis=1)
            cum[:, -1] = 1.0
            k = np.minimum((cum <= self.slot(rows, col + 1)[:, None]).sum(axis=1), cum.shape[1] - 1)
            self.first_exit[rows] = k
            to = np.array(ex.to)
            won, lost = w[:, to == TO_WON].sum(axis=1), w[:, to == TO_LOST].sum(axis=1)
            self.first_ratio[rows] = np.where(lost > 0, won / np.where(lost > 0, lost, 1.0), np.inf)
            for j in np.unique(k).tolist():
                on = k == j
                left = _remaining(ex.after[j], self.slot(rows[on], col), a[on])
                self.first_dur[rows[on]] = self.scale[rows[on]] * left

    # --- trajectories without capacity ------------------------------------------------------

    def trajectories(self) -> None:
        s, until = self.m.n_stages, self.until
        n = self.n
        self.outcome = np.full(n, OPEN, np.int8)
        self.decision = np.full(n, np.nan)
        self.reached = self.stage0.copy()  # the stage of each deal's last visit
        self.declined = np.zeros(self.b, bool)
        self.events = _Events()
        # a stage is entered again only by rework or by an exit to it or to one before it
        stage_of = np.arange(s)[None, :, None]
        back = (self.exit_to >= 0) & (self.exit_to <= stage_of) & self.has_exits[:, :, None]
        revisits = bool((self.rework_to >= 0).any() or back.any())
        visits = np.zeros(n * s if revisits else 0, np.int64)  # (deal, stage) flat: so far
        # live deals' conditioned first visits, and stale ones (only those part-way through)
        conditioned = bool((self.m.deal_elapsed > 0).any())
        given_any = conditioned and not np.isnan(self.first_dur).all()
        first_any = conditioned and not np.isnan(self.first_ratio).all()
        stale = np.flatnonzero(~np.isnan(self.stale_after)) if conditioned else np.zeros(0, int)
        lost_at = np.where(self.stale_after[stale] > 0, 0.0 + self.stale_after[stale], 0.0)
        late = lost_at >= until
        self.outcome[stale[~late]] = LOST
        self.decision[stale[~late]] = lost_at[~late]
        if conditioned or self.m.arrivals:
            g = np.flatnonzero(np.isnan(self.stale_after) & (self.arrival < until))
        else:  # every deal there from the start, none stale
            g = np.arange(n)
        t = self.arrival[g]
        # events are ranked only for the capacity check and the capacity log's order: where
        # neither can happen, none are recorded ("now" is then a placeholder, never read)
        m = self.m
        self.timed = timed = not never_short(m) or bool(m.capacity_changes or m.risks)
        now = self._starts(g) if timed else g  # the event each deal's process runs in
        # carried with the deals still going: type, and the stage each enters next (before
        # the type's skips)
        ty, at = self.type[g], self.stage0[g]
        rec: list[tuple[Any, ...]] = []  # deal, stage, visit, start, end, kind
        links: list[tuple[IntArray, IntArray]] = []  # the events each visit began and ended in
        # each deal's stream state at its last draw, and that draw's slot (none yet: -1)
        zero = np.zeros(len(g), np.uint64)
        # (the slot one int while every deal's is the same, as when they move in step)
        chain: tuple[U64, U64, IntArray | int] = (zero, zero, -1)
        on_flat, reads_u1 = self.next_on.ravel(), self.reads_u1.ravel()
        # (type, stage) cells a visit leaves by its chance to advance alone (no exits, rework)
        plain = ~self.has_exits.ravel() & (self.rework_to.ravel() < 0)
        # (type, stage entered next) shared by every deal still going, where known: deals of
        # one type all at their first stage, and after a step that advanced all of them alike
        same: tuple[int, int] | None = None
        if len(g) and (ty == ty[0]).all() and (at == at[0]).all():
            same = int(ty[0]), int(at[0])
        step = 0
        while len(g):
            if step > _MAX_STEPS:
                self.declined[np.unique(self.rep[g])] = True
                break
            if same is not None:  # one stage for all: scalar look-ups, no per-deal arrays
                one_st = int(on_flat[same[0] * (s + 1) + same[1]])
                if one_st >= s:  # every remaining stage skipped: won on entry
                    self.outcome[g], self.decision[g] = WON, t
                    break
                st = np.broadcast_to(np.int64(one_st), g.shape)
                ty = np.broadcast_to(np.int64(same[0]), g.shape)  # (``at`` unread)
                one = same[0] * s + one_st
            else:
                st = on_flat[ty * (s + 1) + at]
                done = st >= s  # every remaining stage skipped: won on entry
                if done.any():
                    self.outcome[g[done]], self.decision[g[done]] = WON, t[done]
                    rest = np.flatnonzero(~done)
                    g, t, now, ty, st = g[rest], t[rest], now[rest], ty[rest], st[rest]
                    slot = chain[2] if isinstance(chain[2], int) else chain[2][rest]
                    chain = (chain[0][rest], chain[1][rest], slot)
                    if not len(g):
                        break
                cell = ty * s + st
                # every visit of one (type, stage), as when deals move in step: scalar look-ups
                one = int(cell[0]) if cell.min() == cell.max() else -1
            self.reached[g] = st
            v: IntArray | int = 0  # every visit a deal's first of its stage
            if revisits:
                at_cell = g * s + st
                v = visits[at_cell]
                visits[at_cell] += 1
            # the visit's first slot (one for all when they share a stage and visit number)
            base: IntArray | int
            if not revisits and one >= 0:
                base = SLOT_VISITS + 3 * (one % s)
            else:
                base = SLOT_VISITS + 3 * (v * s + st)
            u0, u1, u2, last = self._visit_draws(
                g, base, chain, reads_u1[one] if one >= 0 else reads_u1[cell]
            )
            kind: npt.NDArray[np.signedinteger[Any]]  # int8 from _advance, int64 from _ways
            if one >= 0 and plain[one]:
                t_i, s_i = divmod(one, s)
                dur = self._scaled(g, self.m.types[t_i].duration[s_i].ppf(u0))
                if given_any:  # a live deal's first visit of the stage it is in
                    given = np.flatnonzero(
                        (v == 0) & (s_i == self.stage0[g]) & ~np.isnan(self.first_dur[g])
                    )
                    dur[given] = self.first_dur[g[given]]
                end = t + dur  # as SimPy schedules a timeout: now + delay
                run_out = end >= until  # still in the stage at the horizon
                kind, go, ends = self._advance(g, ty, st, t_i, s_i, u2, end)
                # those going on all enter the next stage the type goes through
                nxt = int(self.next_on[t_i, s_i + 1])
                same = (t_i, nxt) if nxt < s else None
                ended_as = LOST if nxt < s else None  # before the last stage, every end a loss
            else:
                v_all = np.broadcast_to(np.asarray(v, np.int64), g.shape)
                dur, k = self._times(g, ty, st, u0, u1)
                # a live deal's first visit, of the stage it is in: conditioned on the days spent
                if given_any:
                    given = (v_all == 0) & (st == self.stage0[g]) & ~np.isnan(self.first_dur[g])
                    dur[given], k[given] = self.first_dur[g[given]], self.first_exit[g[given]]
                hz_ratio = self._hazards(g, ty, st, v_all, t, u0, u1, dur, k)
                end = t + dur  # as SimPy schedules a timeout: now + delay
                run_out = end >= until  # still in the stage at the horizon
                first = (
                    (v_all == 0) & (st == self.stage0[g]) & ~np.isnan(self.first_ratio[g])
                    if first_any
                    else np.zeros(len(g), bool)
                )
                c = self._season(g, ty, st, end)
                kind, go = self._ways(g, ty, st, k, u1, u2, c, first, hz_ratio)
                ends = go < 0  # won or lost as the visit ends
                same, ended_as = None, None
            then = g  # (untimed: a placeholder)
            if run_out.any():
                kind[run_out] = K_OPEN
                if timed:
                    going = np.flatnonzero(~run_out)
                    then = np.full(len(g), -1, np.int64)
                    then[going] = self.events.add(self.rep[g[going]], end[going], now[going])
                rec.append((g, st, v, t, np.where(run_out, np.nan, end), kind))
                ends &= ~run_out
                keep = np.flatnonzero(~(run_out | (go < 0)))
            else:
                if timed:
                    then = self.events.add(self.rep[g], end, now)
                rec.append((g, st, v, t, end, kind))
                keep = np.flatnonzero(~ends)
            if timed:
                links.append((now, then))
            closed = np.flatnonzero(ends)
            if len(closed):
                g_closed = g[closed]
                if ended_as is None:
                    self.outcome[g_closed] = np.where(go[closed] == TO_WON, WON, LOST)
                else:
                    self.outcome[g_closed] = ended_as
                self.decision[g_closed] = end[closed]
            # np.take: the same as indexing with ``keep``, and cheaper
            g, t, now = np.take(g, keep), np.take(end, keep), np.take(then, keep) if timed else keep
            if same is None:  # else one type and stage for all, as the next step takes them
                ty, at = np.take(ty, keep), np.take(go, keep)
            slot = base[keep] + 2 if isinstance(base, np.ndarray) else base + 2
            chain = (np.take(last[0], keep), np.take(last[1], keep), slot)
            step += 1

        def column(i: int, dtype: Any) -> npt.NDArray[Any]:
            if not rec:
                return np.zeros(0, dtype)
            # every column an array of the step's deals, but the visit number: 0 (an int) where
            # no stage is visited twice
            parts = [r[i] if i != 2 else np.broadcast_to(r[i], r[0].shape) for r in rec]
            return np.concatenate(parts, dtype=dtype, casting="same_kind")

        self.v_deal = column(0, np.int64)
        # stage, visit number and kind in the records' own types already (as records() casts
        # them): less to move when the visits are put in table order
        self.v_stage, self.v_number = column(1, np.int16), column(2, np.int32)
        self.v_start, self.v_exit = column(3, np.float64), column(4, np.float64)
        self.v_kind = column(5, np.int8)
        # each visit's step: a deal goes through one visit a step, from the first step on
        self.v_step = np.repeat(np.arange(len(rec)), [len(r[0]) for r in rec])
        self._links = links

    @functools.cached_property
    def v_began(self) -> IntArray:
        """The event each visit began in (its deal's process ran in it)."""
        return np.concatenate([x[0] for x in self._links]) if self._links else np.zeros(0, np.int64)

    @functools.cached_property
    def v_ended(self) -> IntArray:
        """The event each visit ended in (-1: still in its stage at the horizon)."""
        return np.concatenate([x[1] for x in self._links]) if self._links else np.zeros(0, np.int64)

    def _scaled(self, g: IntArray, days: FloatArray) -> FloatArray:
        """Each deal's time in a stage times its duration multiplier (none: the same floats)."""
        return days if self.unscaled else self.scale[g] * days

    def _advance(
        self,
        g: IntArray,
        ty: IntArray,
        st: IntArray,
        t_i: int,
        s_i: int,
        u2: FloatArray,
        end: FloatArray,
    ) -> tuple[npt.NDArray[np.int8], IntArray, BoolArray]:
        """:meth:`_ways` of visits all of one (type, stage) without exits or rework: advanced
        by the chance to advance, or lost (won, from the last stage); and which visits end the
        deal. The kinds as int8 (as recorded)."""
        s = self.m.n_stages
        nxt = int(self.next_on[t_i, s_i + 1])
        if len(self.odds) == 1:
            advance: Any = self.advance[0, t_i, s_i]
        else:
            advance = self.advance[self.group[self.rep[g]], t_i, s_i]
        if nxt >= s and (self.seasons or self.month_bounds is not None):
            advance = advance * self._season(g, ty, st, end)  # the last stage's carries it
        lost = u2 >= advance
        if nxt >= s:
            won = np.where(lost, _K_LOST, _K_WON), np.where(lost, TO_LOST, TO_WON)
            return *won, np.ones(len(lost), bool)
        return np.where(lost, _K_LOST, _K_ADVANCE), np.where(lost, TO_LOST, nxt), lost

    def _visit_draws(
        self,
        g: IntArray,
        base: IntArray | int,
        chain: tuple[U64, U64, IntArray | int],
        reads_u1: BoolArray | np.bool_,
    ) -> tuple[FloatArray, FloatArray, FloatArray, tuple[U64, U64]]:
        """Uniforms ``base .. base + 2`` of each deal's stage stream (as ``slots(g, base, 3)``)
        and the state of the last one. A deal whose last draw was at ``base - 1`` (a visit
        followed by the next stage's) steps on from it instead of jumping from its seed; the
        middle draw, read only by exits and rework, is skipped when no visit here reads it
        (the third is two steps on: ``a**2 state + (1 + a) inc``). u1 is then NaN."""
        ih, il = np.take(self.states[2], g), np.take(self.states[3], g)
        chained = np.asarray(chain[2] == base - 1)  # 0-d where both are one int for all
        if chained.all():  # the LCG's step from the previous draw
            hi, lo = _affine(chain[0], chain[1], _A_HI, _A_LO, ih, il)
        elif not chained.any() and np.all(base == SLOT_VISITS):
            # the first visit slot, two steps from the seed: a**2 s + (1 + a) inc (the jump,
            # with the increment's share cached)
            i2h, i2l = self.inc_twice
            s_hi, s_lo = np.take(self.states[0], g), np.take(self.states[1], g)
            hi, lo = _affine(s_hi, s_lo, _A2_HI, _A2_LO, np.take(i2h, g), np.take(i2l, g))
        else:  # jumped to from the seed state, as _draw does
            seed = (self.states[0][g], self.states[1][g], ih, il)
            hi, lo = _jump(seed, np.broadcast_to(np.asarray(base, np.int64), g.shape))
            if chained.any():
                m_hi, m_lo = _mul128(chain[0][chained], chain[1][chained], _A_HI, _A_LO)
                c_lo = m_lo + il[chained]
                hi[chained] = m_hi + ih[chained] + (c_lo < m_lo).astype(np.uint64)
                lo[chained] = c_lo
        u0 = _double(hi, lo)
        if np.any(reads_u1):
            hi, lo = _affine(hi, lo, _A_HI, _A_LO, ih, il)
            u1 = _double(hi, lo)
            hi, lo = _affine(hi, lo, _A_HI, _A_LO, ih, il)
        else:
            u1 = np.full(len(g), np.nan)
            i2h, i2l = self.inc_twice
            hi, lo = _affine(hi, lo, _A2_HI, _A2_LO, np.take(i2h, g), np.take(i2l, g))
        return u0, u1, _double(hi, lo), (hi, lo)

    @functools.cached_property
    def inc_twice(self) -> tuple[U64, U64]:
        """Each deal's stage-stream increment times ``1 + a`` (two steps' share of it)."""
        return _mul128(self.states[2], self.states[3], _A1_HI, _A1_LO)

    def _starts(self, g: IntArray) -> IntArray:
        """The events that start deal processes, as _Run.run makes them: deals there at time
        zero are processes from the outset (after the world's, in deal order); later ones
        are started by one arrivals process, in order of arrival, each at its exact time."""
        first = len(self.m.capacity_changes) + len(self.m.risks)
        out = np.empty(len(g), np.int64)
        now = self.arrival[g] == 0
        at_zero = g if now.all() else g[now]  # no arrivals: every deal, without a copy
        out[now] = self.events.add(
            self.rep[at_zero], np.zeros(len(at_zero)), -1, first + self.local[at_zero]
        )
        late = np.flatnonzero(self.arrival > 0)  # all of them, as the engine sorts them
        if len(late) == 0:
            return out
        late = late[_by_rep_time(self.rep[late], self.arrival[late], self.local[late])]
        rep, t = self.rep[late], self.arrival[late]
        new_rep = np.r_[True, rep[1:] != rep[:-1]]
        new_time = new_rep | np.r_[True, t[1:] != t[:-1]]
        feeder = self.events.add(rep[new_rep], np.zeros(int(new_rep.sum())), -1, first + self.n)
        # the arrivals process waits for each new instant in turn (its events chained)
        instants = np.flatnonzero(new_time)
        due = t[instants] < self.until
        steps = instants[due]
        ids = self.events.n + np.arange(len(steps))
        root_of = np.cumsum(new_rep) - 1
        parent = np.where(new_rep[steps], feeder[root_of[steps]], ids - 1)
        self.events.add(rep[steps], t[steps], parent)
        number = np.where(due, np.cumsum(due) - 1, -1)[np.cumsum(new_time) - 1]  # per deal
        sibling = np.arange(len(late)) - instants[np.cumsum(new_time) - 1]
        ok = number >= 0
        starts = np.full(self.n, -1, np.int64)
        starts[late[ok]] = self.events.add(
            rep[ok], t[ok], ids[number[ok]], sibling[ok], urgent=True
        )
        out[~now] = starts[g[~now]]
        return out

    def _times(
        self, g: IntArray, ty: IntArray, st: IntArray, u0: FloatArray, u1: FloatArray
    ) -> tuple[FloatArray, IntArray]:
        """Each visit's time in the stage (and exit, -1 in the simple form) from its draws."""
        m = self.m
        dur = np.zeros(len(g))
        k = np.full(len(g), -1, np.int64)
        cell = ty * m.n_stages + st  # (type, stage), flat
        hazard = self.has_hazard.ravel()[cell]
        ex_rows = np.flatnonzero(self.has_exits.ravel()[cell] & ~hazard)
        if len(ex_rows):
            k[ex_rows] = self._exit_of(g[ex_rows], ty[ex_rows], st[ex_rows], u1[ex_rows])
        kk = np.maximum(k, 0)
        groups = cell * self.cum.shape[3] + kk
        if hazard.any():
            groups[hazard] = -1  # drawn by _hazards
        keys = np.flatnonzero(np.bincount(groups[groups >= 0] if hazard.any() else groups))
        if len(keys) == 1 and not hazard.any():  # every visit in one group: no selection
            t_i, s_i, j = int(ty[0]), int(st[0]), int(kk[0])
            ex = m.types[t_i].exits[s_i]
            sampler = m.types[t_i].duration[s_i] if ex is None else ex.after[j]
            return self.scale[g] * sampler.ppf(u0), k
        for key in keys.tolist():
            rows = np.flatnonzero(groups == key)
            t_i, s_i, j = int(ty[rows[0]]), int(st[rows[0]]), int(kk[rows[0]])
            ex = m.types[t_i].exits[s_i]
            sampler = m.types[t_i].duration[s_i] if ex is None else ex.after[j]
            dur[rows] = self.scale[g[rows]] * sampler.ppf(u0[rows])
        return dur, k

    def _hazards(
        self,
        g: IntArray,
        ty: IntArray,
        st: IntArray,
        v: IntArray,
        t: FloatArray,
        u0: FloatArray,
        u1: FloatArray,
        dur: FloatArray,
        k: IntArray,
    ) -> FloatArray:
        """Visits of stages with ``hazards``: exit, time and p_won / p_lost from the walk the
        engine calls when a deal is staffed (uncontended: at its entry ``t``; a live deal's
        first visit of its stage from its age), all visits of a plan in one draw_many: the same
        floats as its draw per visit. Fills ``dur`` and ``k``; returns each visit's ratio (nan
        where the stage has none)."""
        ratio = np.full(len(g), np.nan)
        rows = np.flatnonzero(self.has_hazard[ty, st])
        if len(rows) == 0:
            return ratio
        m = self.m
        d = g[rows]
        first = (v[rows] == 0) & (st[rows] == self.stage0[d]) & self.live[d]
        age = np.zeros(len(d))
        age[first] = m.deal_elapsed[self.local[d[first]]]
        odds = self.hz_odds[self.group[self.rep[d]], ty[rows], st[rows]]
        cell = ty[rows] * m.n_stages + st[rows]  # one plan per (type, stage)
        for c in np.unique(cell).tolist():
            j = np.flatnonzero(cell == c)
            r = rows[j]
            ex = m.types[c // m.n_stages].exits[c % m.n_stages]
            plan = None if ex is None else ex.hazard
            assert plan is not None
            k[r], dur[r], ratio[r] = plan.draw_many(
                t[r], age[j], u0[r], u1[r], self.scale[d[j]], odds[j]
            )
        return ratio

    def _season(self, g: IntArray, ty: IntArray, st: IntArray, end: FloatArray) -> FloatArray:
        """Each visit's won_season factor: that of the month its end falls in (SeasonPlan.at),
        times its replication's ``uncertainty.monthly.win`` of that month."""
        c = np.ones(len(ty))
        for (t_i, s_i), (bounds, factors) in self.seasons.items():
            rows = np.flatnonzero((ty == t_i) & (st == s_i))
            if len(rows):
                i = np.searchsorted(bounds, end[rows] - TIME_EPS, side="left") - 1
                c[rows] = factors[np.clip(i, 0, len(factors) - 1)]
        if self.month_bounds is not None:
            won_month = self.monthly["win"]
            i = np.searchsorted(self.month_bounds, end - TIME_EPS, side="left") - 1
            c = c * won_month[self.rep[g], np.clip(i, 0, won_month.shape[1] - 1)]
        return c

    def _ways(
        self,
        g: IntArray,
        ty: IntArray,
        st: IntArray,
        k: IntArray,
        u1: FloatArray,
        u2: FloatArray,
        c: FloatArray,
        first: BoolArray,
        hz_ratio: FloatArray,
    ) -> tuple[IntArray, IntArray]:
        """How each visit ends (K_*) and where the deal goes (a stage, TO_WON or TO_LOST);
        ``c`` is the won_season factor of each visit, ``first`` marks a live deal's first visit
        of its stage (its exit shares, and so its p_won / p_lost, are conditioned)."""
        s = self.m.n_stages
        grp = self.group[self.rep[g]]
        cell = ty * s + st  # (type, stage), flat
        nxt = self.next_on.ravel()[ty * (s + 1) + st + 1]
        last = nxt >= s
        # the simple form: the last stage's chance to advance carries the factor
        in_group = cell if len(self.odds) == 1 else grp * self.advance[0].size + cell
        advance = self.advance.ravel()[in_group]
        advance = np.where(last, advance * c, advance)
        back = self.rework_to.ravel()[cell]
        rework = back >= 0
        if rework.any():
            rework &= u1 < self.rework_p.ravel()[in_group]
        lost = ~rework & (u2 >= advance)
        kind = np.where(rework, K_REWORK, np.where(lost, K_LOST, np.where(last, K_WON, K_ADVANCE)))
        go = np.where(rework, back, np.where(lost, TO_LOST, np.where(last, TO_WON, nxt)))
        ex = np.flatnonzero(self.has_exits.ravel()[cell])
        if len(ex):
            reached = k[ex] == REACHED_LAST_AGE  # hazards: lost at the stage's last age
            target = np.where(reached, TO_LOST, self.exit_to[ty[ex], st[ex], np.maximum(k[ex], 0)])
            ahead = self.next_on[ty[ex], np.clip(target, 0, s)]
            fwd = target > st[ex]
            kind[ex] = np.where(
                target == TO_WON, K_WON,
                np.where(target == TO_LOST, K_LOST,
                np.where(~fwd, K_REWORK,
                np.where(ahead >= s, K_WON, np.where(ahead == nxt[ex], K_ADVANCE, K_SKIP)))),
            )  # fmt: skip
            go[ex] = np.where(
                target < 0, target, np.where(~fwd, target, np.where(ahead >= s, TO_WON, ahead))
            )
            # the factor turns exits to won or lost as _converted does in the engine: on the
            # exit's own target (one to a stage the type skips to the end is won, unturned)
            f, gx, u = c[ex], target, u2[ex]
            ratio = np.where(
                first[ex], self.first_ratio[g[ex]], self.ratio[grp[ex], ty[ex], st[ex]]
            )
            ratio = np.where(np.isnan(hz_ratio[ex]), ratio, hz_ratio[ex])
            to_lost = (f < 1.0) & (gx == TO_WON) & (u >= f)
            with np.errstate(invalid="ignore"):  # f = 1 with no lost rate: 0 * inf, unused
                turn = np.minimum(1.0, (f - 1.0) * ratio)
            to_won = (f > 1.0) & (gx == TO_LOST) & (u < turn) & ~reached
            go[ex[to_lost]], kind[ex[to_lost]] = TO_LOST, K_LOST
            go[ex[to_won]], kind[ex[to_won]] = TO_WON, K_WON
        return kind.astype(np.int64, copy=False), go.astype(np.int64, copy=False)

    # --- capacity: the world's events, and whether any request would have queued ----------

    def world(self) -> None:
        """Capacity changes and resource risks of each replication, as SimPy meets them."""
        m, b, until = self.m, self.b, self.until
        reps = np.arange(b)
        self.occurred = np.zeros((b, len(m.risks)), bool)
        draws = []
        for r in m.risks:  # resource risks only (see unsupported)
            u = self._uniforms(
                reps, Purpose.RESOURCE_RISK, np.full(b, stable_hash(r.id), np.uint64), 3
            )
            self.occurred[:, r.index] = u[:, 0] < r.p
            begins = r.window[0] + u[:, 1] * (r.window[1] - r.window[0])
            assert r.duration is not None
            draws.append((r, begins, np.asarray(r.duration.ppf(u[:, 2]), np.float64)))
        n_planned = len(m.capacity_changes)
        # per replication: (event, pool, planned capacity or None, change, risk or None, days)
        self.changes: list[list[tuple[int, int, int | None, int, RiskPlan | None, float]]] = []
        if not m.capacity_changes and not draws:  # nothing ever changes a pool
            self.changes = [[] for _ in range(b)]
            return
        add = self.events.add
        for rep in range(b):
            here = np.array([rep])
            mine: list[tuple[int, int, int | None, int, RiskPlan | None, float]] = []
            for j, (at, pool, cap) in enumerate(m.capacity_changes):  # processes made first
                if at < until:
                    root = add(here, np.zeros(1), -1, np.array([j]))
                    mine.append((int(add(here, np.array([at]), root)[0]), pool, cap, 0, None, 0.0))
            for r, begins, lasts in draws:
                at, days = float(begins[rep]), float(lasts[rep])
                if not self.occurred[rep, r.index] or at >= until:
                    continue
                root = add(here, np.zeros(1), -1, np.array([n_planned + r.index]))
                start = add(here, np.array([at]), root)
                mine.append((int(start[0]), r.pool, None, r.capacity, r, days))
                if at + days < until:
                    end = add(here, np.array([at + days]), start)
                    mine.append((int(end[0]), r.pool, None, -r.capacity, None, 0.0))
            self.changes.append(mine)

    def check(self) -> None:
        """SimPy's processing order of every event, the capacity logs in it, and the
        replications where some request would have found its pools short (declined)."""
        m = self.m
        still = [(0.0, p, int(c)) for p, c in enumerate(m.capacity)]  # no change all along
        self.cap_log: list[list[tuple[float, int, int]]] = [still] * self.b
        self.risk_log: list[list[tuple[int, int, float, float]]] = [[]] * self.b
        self.cap_event: list[list[int]] = [[]] * self.b  # (the lists shared: only read)
        for r, mine in enumerate(self.changes):
            if mine:
                self.cap_log[r], self.risk_log[r], self.cap_event[r] = self._log(mine)
        # never short (no arrivals; each pool's lowest possible capacity holds what every live
        # deal could ask at once): each replication's bound below is at most its lowest
        # capacity, whatever the draws, so no pool would be replayed
        if never_short(m):
            return
        for p in range(len(m.pool_ids)):
            most = self.needs[:, :, p].max(axis=1, initial=0)[self.type]  # a deal holds one stage
            bound = np.bincount(self.rep, most, minlength=self.b)
            low = np.array(
                [
                    int(m.capacity[p]) if log is still else min(c for _, q, c in log if q == p)
                    for log in self.cap_log
                ]
            )
            if (bound > low).any():  # some replication could run short: replay it
                self._sweep(p)

    def _log(
        self, mine: list[tuple[int, int, int | None, int, RiskPlan | None, float]]
    ) -> tuple[list[tuple[float, int, int]], list[tuple[int, int, float, float]], list[int]]:
        """One replication's capacity log, risk log and capacity events, in SimPy's order."""
        m = self.m
        planned = [int(c) for c in m.capacity]
        delta = [0] * len(m.pool_ids)
        caps = [(0.0, p, int(c)) for p, c in enumerate(m.capacity)]
        risks: list[tuple[int, int, float, float]] = []
        ordered = sorted(mine, key=lambda e: self.order[e[0]])
        for event, pool, cap, change, risk, days in ordered:
            at = float(self.times[event])
            if risk is not None:
                risks.append((risk.index, -1, at, days))
            if cap is not None:
                planned[pool] = cap
            delta[pool] += change
            caps.append((at, pool, max(0, planned[pool] + delta[pool])))
        return caps, risks, [e[0] for e in ordered]

    @functools.cached_property
    def order(self) -> IntArray:
        """Each event's rank in SimPy's processing order (computed when first needed)."""
        return self.events.rank()

    @functools.cached_property
    def times(self) -> FloatArray:
        """Each event's time."""
        return self.events.times()

    def _sweep(self, p: int) -> None:
        """Replay pool p's requests, releases and capacity in SimPy's order: a request that
        finds fewer free people than it needs would have queued, so SimPy must run it."""
        ty = self.type[self.v_deal]
        asks = self.asks[ty, self.v_stage, p]
        need = self.needs[ty, self.v_stage, p][asks]
        g, began, ended = self.v_deal[asks], self.v_began[asks], self.v_ended[asks]
        freed = ended >= 0
        rep_c: list[int] = []
        rank_c: list[int] = []
        level_c: list[int] = []
        for r, (log, events) in enumerate(zip(self.cap_log, self.cap_event, strict=True)):
            n_pools = len(self.m.pool_ids)
            rep_c.append(r)
            rank_c.append(-1)  # the capacity it starts with
            level_c.append(log[p][2])
            for (_, pool, cap), event in zip(log[n_pools:], events, strict=True):
                if pool == p:
                    rep_c.append(r)
                    rank_c.append(int(self.order[event]))
                    level_c.append(cap)
        n_req, n_rel, n_cap = len(g), int(freed.sum()), len(rep_c)
        rep = np.concatenate([self.rep[g], self.rep[g[freed]], rep_c])
        rank = np.concatenate([self.order[began], self.order[ended[freed]], rank_c])
        # in one event a deal first releases what its visit held, then asks for the next
        sub = np.r_[np.ones(n_req, np.int64), np.zeros(n_rel + n_cap, np.int64)]
        delta = np.r_[need, -need[freed], np.zeros(n_cap, np.int64)]
        level = np.r_[np.zeros(n_req + n_rel, np.int64), np.array(level_c, np.int64)]
        is_cap = np.r_[np.zeros(n_req + n_rel, bool), np.ones(n_cap, bool)]
        first = is_cap & (rank == -1)
        order = np.lexsort((sub, rank, rep))
        pos = np.arange(len(order))
        busy = np.cumsum(delta[order])  # each replication starts at its capacity, delta 0
        busy = busy - busy[np.maximum.accumulate(np.where(first[order], pos, 0))]
        cap_at = level[order][np.maximum.accumulate(np.where(is_cap[order], pos, 0))]
        short = (sub[order] == 1) & (busy > cap_at)
        self.declined[rep[order][short]] = True

    # --- records ----------------------------------------------------------------------------

    def records(self, joined: bool = False) -> list[RepRecords | None] | BlockRecords:
        """Each replication's records (None where declined); with ``joined`` and none
        declined, the whole block's as one :class:`BlockRecords` (the same arrays, unsplit,
        the visits in the order they were made and each one's row in the table)."""
        m, horizon = self.m, self.m.horizon_t
        every = not np.isnan(self.v_exit).any()  # no visit in service at the horizon
        per_deal = np.bincount(self.v_deal, minlength=self.n)
        first = np.cumsum(per_deal) - per_deal
        # each visit's row in the visits table: deal by deal (rows in replication order), each
        # deal's in the order it made them (its k-th visit, made at step k, k rows after its
        # first). The arrays stay in the order the visits were made, a step at a time (deals in
        # order), and are put in table order only when the table is built (BlockRecords)
        table_row = np.take(first, self.v_deal) + self.v_step
        bounds = np.concatenate([[0], np.cumsum(per_deal)])[self.offset]  # each replication's
        deal, stage, start, exit_t = self.v_deal, self.v_stage, self.v_start, self.v_exit
        visit_rep = np.take(self.rep, deal)
        types = np.stack([t.held for t in m.types])
        stage_costs = np.stack([t.stage_cost for t in m.types])
        deal_type = np.take(self.type, deal)
        cell = deal_type * m.n_stages + stage  # (type, stage), flat
        held_flat = types.reshape(types.shape[0] * types.shape[1], -1)
        held_days = (exit_t if every else np.where(np.isnan(exit_t), horizon, exit_t)) - start
        n_pools = len(m.pool_ids)
        # busy days summed in the order the visits were made: in each replication, every
        # deal's first visit, then every second one... (replication._by_round, as the engine)
        costly = bool(m.cost_per_day.any())
        if n_pools >= 2 and not costly:  # each pool's column alone: the same products and sums
            busy = _busy_by_pool(held_days, held_flat, cell, visit_rep, self.b)
        else:
            people_all = held_days[:, None] * np.take(held_flat, cell, axis=0)
            busy = _busy(people_all, visit_rep, self.b)
        if costly:  # as _Run._records: a matrix product per replication, on its table's rows
            in_table = _gathering(table_row)
            people_table = people_all[in_table]
            per_visit = np.empty(len(deal))
            for r in range(self.b):
                a, z = int(bounds[r]), int(bounds[r + 1])
                per_visit[a:z] = people_table[a:z] @ m.cost_per_day
            # bincount adds in input order from zero, as np.add.at into zeros does (and faster)
            cost = np.asarray(np.bincount(deal[in_table], per_visit, minlength=self.n), np.float64)
        else:  # finite people-days times zero rates: each visit adds (+ or -) zero to zero
            cost = np.zeros(self.n)
        if stage_costs.any():  # adding zeros changes nothing
            # each deal's visits in the order it made them, as in the table: the same sums
            stage_cost = np.where(np.isnan(exit_t), 0.0, stage_costs[deal_type, stage])
            if stage_cost.any():
                np.add.at(cost, deal, stage_cost)
        type16, stage16 = self.type.astype(np.int16), self.reached.astype(np.int16)
        # int16, int32, int8 already (trajectories)
        v_stage, v_number, v_kind = stage, self.v_number, self.v_kind
        zeros, ones = np.zeros(self.n), np.ones(self.n)
        # requests per replication and pool: visits per (replication, type, stage) times the
        # pools each cell asks (integers: exact)
        cells = self.asks.shape[0] * self.asks.shape[1]
        per_cell = np.bincount(visit_rep * cells + cell, minlength=self.b * cells).reshape(
            self.b, cells
        )
        per_rep_requests = per_cell @ self.asks.reshape(cells, n_pools).astype(np.int64)

        def log_arrays(r: int) -> tuple[Any, ...]:
            return _log_arrays(tuple(self.cap_log[r]), tuple(self.risk_log[r]), n_pools, horizon)

        # where no pool ever changes, every replication has check()'s one log: made once
        changes = any(self.changes)
        mine = [log_arrays(r) for r in range(self.b)] if changes else [log_arrays(0)] * self.b
        if joined and not self.declined.any():
            if len({id(x) for x in mine}) == 1:  # one log for all (e.g. no changes): repeated
                cols = [np.tile(x, self.b) for x in mine[0]]
            else:
                cols = [np.concatenate([x[i] for x in mine]) for i in range(8)]
            c_t, c_pool, c_value, c_days, r_index, r_deal, r_t, r_delay = cols
            whole = RepRecords(
                deal_id=[],  # in BlockRecords.deal_ids, per replication
                deal_type=type16, deal_live=self.live, arrival_t=self.arrival,
                outcome=self.outcome, decision_t=self.decision, value=self.value, cost=cost,
                stage=stage16, wait=zeros, win_factor=ones,
                visit_deal=np.take(self.local, deal).astype(np.int32),  # its replication's row
                visit_stage=v_stage, visit_number=v_number,
                visit_entry=start, visit_ready=start, visit_start=start, visit_exit=exit_t,
                visit_kind=v_kind,
                pool_busy=busy.ravel(), pool_capacity_days=c_days,
                pool_requests=per_rep_requests.ravel(), pool_wait=np.zeros(self.b * n_pools),
                capacity_t=c_t, capacity_pool=c_pool, capacity_value=c_value,
                risk_index=r_index, risk_deal=r_deal, risk_t=r_t, risk_delay=r_delay,
                global_cost=m.global_cost, global_risk_occurred=self.occurred,
                arrivals_by_source=self.arrivals_by_source, uncertainty=self.uncertainty,
            )  # fmt: skip
            rows = {
                "deals": np.diff(self.offset),
                "visits": np.diff(bounds),
                "pools": np.full(self.b, n_pools),
                "capacity": np.array([len(x[0]) for x in mine], np.int64),
                "risks": np.array([len(x[4]) for x in mine], np.int64),
            }
            return BlockRecords(whole, self.ids, rows, table_row, deal)
        # one replication at a time: in table order, its rows sliced out
        in_table = _gathering(table_row)
        v_deal = np.take(self.local, deal[in_table]).astype(np.int32)
        v_stage, v_number, v_kind = v_stage[in_table], v_number[in_table], v_kind[in_table]
        start, exit_t = start[in_table], exit_t[in_table]
        out: list[RepRecords | None] = []
        for r in range(self.b):
            if self.declined[r]:
                out.append(None)
                continue
            d_ = slice(int(self.offset[r]), int(self.offset[r + 1]))
            v_ = slice(int(bounds[r]), int(bounds[r + 1]))
            c_t, c_pool, c_value, c_days, r_index, r_deal, r_t, r_delay = mine[r]
            out.append(
                RepRecords(
                    deal_id=self.ids[r],
                    deal_type=type16[d_],
                    deal_live=self.live[d_],
                    arrival_t=self.arrival[d_],
                    outcome=self.outcome[d_],
                    decision_t=self.decision[d_],
                    value=self.value[d_],
                    cost=cost[d_],
                    stage=stage16[d_],
                    wait=zeros[d_],
                    win_factor=ones[d_],
                    visit_deal=v_deal[v_],
                    visit_stage=v_stage[v_],
                    visit_number=v_number[v_],
                    visit_entry=start[v_],
                    visit_ready=start[v_],
                    visit_start=start[v_],
                    visit_exit=exit_t[v_],
                    visit_kind=v_kind[v_],
                    pool_busy=busy[r],
                    pool_capacity_days=c_days,
                    pool_requests=per_rep_requests[r],
                    pool_wait=np.zeros(n_pools),
                    capacity_t=c_t,
                    capacity_pool=c_pool,
                    capacity_value=c_value,
                    risk_index=r_index,
                    risk_deal=r_deal,
                    risk_t=r_t,
                    risk_delay=r_delay,
                    global_cost=m.global_cost,
                    global_risk_occurred=self.occurred[r],
                    arrivals_by_source=self.arrivals_by_source[r],
                    uncertainty=self.uncertainty[r],
                )
            )
        return out


@dataclass
class BlockRecords:
    """Consecutive replications' records joined: each :class:`RepRecords` field concatenated
    over them in order (``visit_deal`` and ``risk_deal`` stay rows of the replication's own
    deals; per-replication vectors are stacked, one row each; ``deal_id`` is left empty), the
    deal ids of each, and each one's number of rows in every table (deals, visits, pools,
    capacity, risks).

    With ``visit_row``, the visit fields are in another order than the table's (the fast
    path's: as the visits were made), put in table order when the table is built: each
    visit's row in the block's visits table, and ``visit_block_deal`` its deal's row in the
    block's deals."""

    records: RepRecords
    deal_ids: list[list[str]]
    rows: dict[str, IntArray]
    visit_row: IntArray | None = None
    visit_block_deal: IntArray | None = None

    @property
    def count(self) -> int:
        return len(self.deal_ids)


class _Events:
    """The SimPy events of a block: when each happens, which event scheduled it, and its
    place among the events that one scheduled (a process made before the run: no parent, and
    its creation order). SimPy processes them by (time, priority, the order they were
    scheduled in), an event being scheduled while its parent is processed; :meth:`rank`
    resolves that recursion, equal instants included."""

    def __init__(self) -> None:
        self._cols: list[tuple[IntArray, FloatArray, IntArray, IntArray, IntArray]] = []
        self.n = 0

    def add(
        self,
        rep: IntArray,
        time: FloatArray,
        parent: int | IntArray,
        order: Any = 0,
        urgent: bool = False,
    ) -> IntArray:
        k = len(time)
        ids = np.arange(self.n, self.n + k)
        self.n += k
        parent = np.broadcast_to(np.asarray(parent, np.int64), (k,))
        # a process's start is URGENT (it goes before the instant's timeouts); so is every
        # event without a parent, set in rank() (only there are priorities read)
        prio = np.broadcast_to(np.int64(0 if urgent else 1), (k,))
        self._cols.append((
            np.asarray(rep, np.int64), np.asarray(time, np.float64), parent,
            np.broadcast_to(np.asarray(order, np.int64), (k,)), prio,
        ))  # fmt: skip
        return ids

    def times(self) -> FloatArray:
        return np.concatenate([c[1] for c in self._cols])

    def rank(self) -> IntArray:
        """Each event's position in SimPy's processing order (replication by replication).

        The order is that of (replication, time, priority, the parent's rank, order in the
        parent, event id). One sort by ``replication x span + time`` (span an integer above
        twice every time: the sum is monotone in (replication, time), rounding can only make
        distinct times equal), then only the events with equal sums are ordered by the rest,
        again each pass (ties of equal instants resolve one generation back per pass) until
        their parents' ranks stop changing."""
        rep, time, parent, order, prio = (np.concatenate(c) for c in zip(*self._cols, strict=True))
        n = len(time)
        start = parent < 0
        prio[start] = 0  # a process made before the run starts it (see add)
        joint = _joint(rep, time)
        by = np.argsort(joint, kind="stable")  # equal sums are sorted below (any order here)
        rank = np.empty(n, np.int64)
        rank[by] = np.arange(n)
        k = joint[by]
        same = k[1:] == k[:-1]
        if not same.any():
            return rank
        tied = np.flatnonzero(np.r_[same, False] | np.r_[False, same])  # positions in by
        group = k[tied]  # equal within a group of equal sums, increasing from one to the next
        ev = by[tied]  # the events that share their sum with another
        key = np.full(len(ev), -1, np.int64)  # the parent's rank, once known (none at first)
        # (priority, parent's rank, order, id) as one integer where it fits in 63 bits
        n_order = int(order.max(initial=0)) + 1
        one = 2 * (n + 1) * n_order * n < 2**63 and int(order.min(initial=0)) >= 0
        t_ev = time[ev]  # within a group of equal sums, times are nearly always equal too
        flat = not ((t_ev[1:] != t_ev[:-1]) & (group[1:] == group[:-1])).any()
        while True:
            if one:
                rest = ((prio[ev] * (n + 1) + key + 1) * n_order + order[ev]) * n + ev
                ev = ev[np.lexsort((rest, group) if flat else (rest, time[ev], group))]
            else:
                ev = ev[np.lexsort((ev, order[ev], key, prio[ev], time[ev], group))]
            ev_time, ev_prio, ev_start = time[ev], prio[ev], start[ev]
            by[tied] = ev
            rank[ev] = tied
            if not (
                (group[1:] == group[:-1])
                & (ev_time[1:] == ev_time[:-1])
                & (ev_prio[1:] == ev_prio[:-1])
                & ~ev_start[1:]
            ).any():
                return rank  # no two events share an instant but process starts (in order)
            new_key = np.where(ev_start, -1, rank[np.maximum(parent[ev], 0)])
            if np.array_equal(new_key, key):
                return rank
            key = new_key


def _joint(rep: IntArray, time: FloatArray) -> FloatArray:
    """``rep x span + time`` with ``span`` an integer above twice every time: monotone in
    (rep, time), so one sort orders by both (rounding can only make distinct times equal)."""
    span = 2.0 * np.ceil(max(float(time.max(initial=0.0)), 0.0) + 1.0)
    out: FloatArray = rep * span + time
    return out


def _gathering(rows: IntArray) -> IntArray:
    """The indices that gather items into the rows ``rows`` gives them (its inverse)."""
    out = np.empty(len(rows), np.int64)
    out[rows] = np.arange(len(rows))
    return out


def _by_rep_time(rep: IntArray, time: FloatArray, then: IntArray) -> IntArray:
    """``np.lexsort((then, time, rep))``: by ``then`` within one sort by rep x span + time when
    no two distinct (rep, time) share a sum (rounding could merge them), else by lexsort."""
    joint = _joint(rep, time)
    by = np.lexsort((then, joint))
    j, r, t = joint[by], rep[by], time[by]
    if ((j[1:] == j[:-1]) & ((r[1:] != r[:-1]) | (t[1:] != t[:-1]))).any():
        return np.lexsort((then, time, rep))
    return by


@functools.lru_cache(maxsize=256)  # most runs have a few logs, the same in every block
def _log_arrays(
    cap_log: tuple[tuple[float, int, int], ...],
    risk_log: tuple[tuple[int, int, float, float], ...],
    n_pools: int,
    horizon: float,
) -> tuple[npt.NDArray[Any], ...]:
    """A replication's capacity and risk logs as its records' arrays (read-only: shared by
    every replication with the same logs)."""
    caps = np.array(cap_log, dtype=np.float64).reshape(-1, 3)
    risks = np.array(risk_log, dtype=np.float64).reshape(-1, 4)
    out = (
        caps[:, 0], caps[:, 1].astype(np.int64), caps[:, 2].astype(np.int64),
        _capacity_days(caps, n_pools, horizon), risks[:, 0].astype(np.int64),
        risks[:, 1].astype(np.int64), risks[:, 2], risks[:, 3],
    )  # fmt: skip
    for a in out:
        a.flags.writeable = False
    return out


def _busy_by_pool(
    days: FloatArray, held: FloatArray, cell: IntArray, rep: IntArray, b: int
) -> FloatArray:
    """:func:`_busy` of ``days[:, None] * held[cell]`` (two pools or more) one pool's column at
    a time, without the rows x pools array: each column's products and its sums are the same
    floats (a column summed row after row, as :func:`_busy` does)."""
    n_pools = held.shape[1]
    if (np.count_nonzero(held, axis=1) <= 1).all():  # each stage holds one pool at most
        # one bincount over (replication, pool): a visit holding none of a pool adds +0.0 to
        # its column, which changes no sum of non-negative terms (checked below)
        pool = held.argmax(axis=1)
        per_cell = held[np.arange(len(held)), pool]
        # one person in every stage: days * 1.0 is days
        people = days if (per_cell == 1.0).all() else days * per_cell[cell]
        if not np.signbit(people).any():
            keys = rep * n_pools + pool[cell]
            return _sums(keys, people, b * n_pools).reshape(b, n_pools)
    columns = [days * held[:, p][cell] for p in range(n_pools)]
    if any(np.signbit(c).any() for c in columns):
        return _busy(np.stack(columns, axis=1), rep, b)
    return np.stack([_sums(rep, c, b) for c in columns], axis=1)


def _sums(keys: IntArray, weights: FloatArray, n: int) -> FloatArray:
    """``np.bincount(keys, weights, minlength=n)``, as floats even with no keys at all (where
    numpy gives integer zeros)."""
    return np.asarray(np.bincount(keys, weights, minlength=n), np.float64)


def _busy(people: FloatArray, rep: IntArray, b: int) -> FloatArray:
    """``people[rep == r].sum(axis=0)`` for each replication r: its rows (anywhere, in the
    order given) as one array summed by numpy. Summed down a column of a C-ordered (rows,
    pools >= 2) array, numpy adds row after row, as bincount does from zero: the same floats
    unless a replication's first term is -0.0 (0.0 + -0.0 is 0.0). One pool is one contiguous
    run, summed pairwise: then, or with any -0.0, replication by replication."""
    n_pools = people.shape[1]
    if n_pools >= 2 and not np.signbit(people).any():
        return np.stack([_sums(rep, people[:, p], b) for p in range(n_pools)], axis=1)
    by = np.argsort(rep, kind="stable")  # each replication's rows together, in their order
    people, bounds = people[by], np.r_[0, np.cumsum(np.bincount(rep, minlength=b))]
    busy = np.empty((b, n_pools))
    for r in range(b):
        busy[r] = people[int(bounds[r]) : int(bounds[r + 1])].sum(axis=0)
    return busy


def _remaining(sampler: Sampler, u: FloatArray, elapsed: FloatArray) -> FloatArray:
    """``sampler.ppf_remaining(u_i, elapsed_i)`` for every i, element for element."""
    if type(sampler).ppf_remaining is not Sampler.ppf_remaining:  # its own formula
        return np.array(
            [sampler.ppf_remaining(np.array([x]), e)[0] for x, e in zip(u, elapsed, strict=True)]
        )
    f = np.asarray(sampler.cdf(elapsed), np.float64)  # Sampler.ppf_remaining, vectorized
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.asarray(sampler.ppf(f + u * (1.0 - f)), np.float64)
    return np.where(f >= 1.0, 0.0, np.maximum(x - elapsed, 0.0))


def run_block(model: Model, seqs: Sequence[np.random.SeedSequence]) -> list[RepRecords | None]:
    """The records of each replication, or None where SimPy must run it (see the module
    docstring); ``unsupported(model)`` must be None."""
    out = _run_block(model, seqs, joined=False)
    assert isinstance(out, list)
    return out


def _run_block(
    model: Model, seqs: Sequence[np.random.SeedSequence], joined: bool
) -> list[RepRecords | None] | BlockRecords:
    if not seqs:
        return []
    block = _Block(model, seqs)
    block.trajectories()
    block.world()
    block.check()
    return block.records(joined)


_DEFAULT: ContextVar[Engine] = ContextVar("simsales_engine", default="auto")
_PROBE = 8  # replications tried first: when all of them need SimPy, the rest go straight there


@contextmanager
def default_engine(engine: Engine) -> Iterator[None]:
    """Within the block, ``simulate`` calls that name no engine use ``engine`` (how a command's
    --engine reaches the simulations an optimizer or a backtest runs for it)."""
    if engine not in ENGINES:
        raise SimsalesError(f"unknown engine {engine!r}: use {' or '.join(ENGINES)}")
    token = _DEFAULT.set(engine)
    try:
        yield
    finally:
        _DEFAULT.reset(token)


def current_engine() -> Engine:
    """The engine ``simulate`` uses when it is given none (see default_engine)."""
    return _DEFAULT.get()


def run_replications(
    model: Model, seqs: Sequence[np.random.SeedSequence], engine: Engine = "auto"
) -> tuple[list[RepRecords], int]:
    """Every replication's records and how many of them the fast path produced.

    ``auto``: the fast path where it is exact, SimPy for the rest; ``simpy``: SimPy for all. The
    records are the same either way, so the choice (and the probe that skips the fast path for
    a chunk whose first replications are all contended) changes only the time taken.
    """
    parts, fast = run_parts(model, seqs, engine, joined=False)
    return [p for p in parts if isinstance(p, RepRecords)], fast


def run_parts(
    model: Model,
    seqs: Sequence[np.random.SeedSequence],
    engine: Engine = "auto",
    joined: bool = True,
) -> tuple[list[RepRecords | BlockRecords], int]:
    """:func:`run_replications`, in replication order, with the replications the fast path
    computed together (all of a block but the probe's) kept joined when ``joined``."""
    if engine not in ENGINES:
        raise SimsalesError(f"unknown engine {engine!r}: use {' or '.join(ENGINES)}")
    if engine != "auto" or unsupported(model) is not None:
        return [run_replication(model, seq) for seq in seqs], 0
    parts: list[RepRecords | BlockRecords] = []
    fast, rest = 0, seqs
    if not never_short(model):  # a probe first: when all of it needs SimPy, so does the rest
        rest = seqs[_PROBE:]
        fast = _or_simpy(model, run_block(model, seqs[:_PROBE]), seqs[:_PROBE], parts)
        if not fast:
            return [*parts, *(run_replication(model, seq) for seq in rest)], 0
    got = _run_block(model, rest, joined)
    if isinstance(got, BlockRecords):
        return [*parts, got], fast + got.count
    return parts, fast + _or_simpy(model, got, rest, parts)


def _or_simpy(
    model: Model,
    fast: list[RepRecords | None],
    seqs: Sequence[np.random.SeedSequence],
    out: list[RepRecords | BlockRecords],
) -> int:
    """Append each replication's records to ``out``, SimPy's where the fast path declined;
    how many the fast path gave."""
    out.extend(
        run_replication(model, seq) if r is None else r for r, seq in zip(fast, seqs, strict=True)
    )
    return sum(r is not None for r in fast)
