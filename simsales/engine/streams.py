"""Random streams of one replication: per purpose, and per deal (or risk, or arrival source).

The randomness contract (docs/architecture.md, "Randomness contract"): replication *i* uses
the *i*-th child of ``SeedSequence(seed)``; inside it every purpose and every deal has its own
stream, keyed by a stable hash of its id. A what-if that changes one deal, one risk or one
capacity therefore leaves every other stream untouched: common random numbers.

A stream is a PCG64 generator whose 128-bit state and increment are derived from the
replication's SeedSequence words and the ``(purpose, key)`` pair by the SplitMix64 finalizer.
Deriving them this way (instead of one ``SeedSequence`` per deal, ~15 µs each) costs a few
integer operations per stream, and distinct increments give distinct PCG64 streams.

The draws are numpy's PCG64 doubles bit for bit, computed the cheapest way for each use: one
short stream (a rule's delay, a month's arrivals) is stepped in Python integers, since setting a
numpy generator's state costs more; one long stream by numpy's generator; many streams at once
(every deal's stage stream, a risk's draws for every deal) in one batch of uint64 array
arithmetic that jumps each stream to its j-th state directly. :class:`Draws` owns the layout:
which stream, key and slot every draw of a replication comes from.

The array kernels (``_mul128``, ``_splitmix``) are numpy written by hand, in place, rather
than compiled (e.g. numba): numpy's uint64 arithmetic is exact and wraps as the generator
does, so the draws stay PCG64's bit for bit with no dependency, and a compiled kernel would
add its import and compilation to every command's start-up, which a run of a few hundred
replications (the CLI's usual size) would not win back. What is left of their cost is the
passes over the arrays, so each pass writes into buffers already made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import IntEnum
from typing import overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "SLOT_VALUE",
    "SLOT_VISITS",
    "Draws",
    "Purpose",
    "ReplicationSeeds",
    "Streams",
    "replication_seeds",
    "seed_words",
    "stable_hash",
]

_MASK = (1 << 64) - 1


class Purpose(IntEnum):
    """What a stream is for; never renumber (that would change every result)."""

    DEAL_STAGES = 1  # per deal: value, then duration, rework and advance uniforms per visit
    DEAL_RISK = 2  # per (deal, risk): occurrence and delay
    ARRIVALS = 3  # per arrival source and month
    GLOBAL_RISK = 4  # per global risk
    RESOURCE_RISK = 5  # per resource risk
    DEAL_RULE = 6  # per (deal, rule): a rule's delay
    UNCERTAINTY = 7  # per multiplier of `uncertainty:` (global or per deal type), once


# Layout of a deal's stage stream: its value first, then three draws per stage visit, visit by
# visit: (duration, rework, advance), or for a stage with exits (time in the stage, which exit,
# the win factor's change of outcome). Risk and rule draws have streams of their own per
# (deal, risk) and (deal, rule), keyed by ids, so adding or removing one shifts nothing else.
SLOT_VALUE = 0
SLOT_VISITS = 1  # visit j of stage s: 3 slots at SLOT_VISITS + 3(jS + s)


def stable_hash(text: str) -> int:
    """A 64-bit hash of an id that is the same in every process and Python version."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def replication_seeds(seed: int, start: int, stop: int) -> ReplicationSeeds:
    """Children ``start..stop-1`` of ``SeedSequence(seed)``: the same whoever asks for them."""
    entropy = np.random.SeedSequence(seed).entropy  # the seed, as numpy checked it
    assert isinstance(entropy, int | np.integer)
    return ReplicationSeeds(int(entropy), range(start, stop))


class ReplicationSeeds(Sequence[np.random.SeedSequence]):
    """Children ``keys`` of ``SeedSequence(entropy)``, each made when asked for: a block of the
    vectorized path needs only their words (:func:`seed_words`), mixed for all at once, where
    making the SeedSequences costs ~5 us each."""

    def __init__(self, entropy: int, keys: range) -> None:
        self.entropy, self.keys = entropy, keys

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, i: int) -> np.random.SeedSequence: ...

    @overload
    def __getitem__(self, i: slice) -> ReplicationSeeds: ...

    def __getitem__(self, i: int | slice) -> np.random.SeedSequence | ReplicationSeeds:
        if isinstance(i, slice):
            return ReplicationSeeds(self.entropy, self.keys[i])
        return np.random.SeedSequence(self.entropy, spawn_key=(self.keys[i],))

    def pools(self) -> npt.NDArray[np.uint64]:
        """Row i: ``self[i].pool``, numpy's mix of the entropy then the spawn key, for all keys
        at once: the entropy's words (padded to the pool's four, as a spawn key follows) mix
        alike for every child, so only the key's word is mixed in per row (keys of one 32-bit
        word; numpy for any other, and for a few, where its ~5 us a child cost less)."""
        ends = (self.keys[0], self.keys[-1]) if self.keys else (0, 0)
        if len(self.keys) < _MIX_FROM or not 0 <= min(ends) <= max(ends) < 2**32:
            pools = [self[j].pool for j in range(len(self))]
            return np.array(pools, np.uint64).reshape(len(self), _POOL)
        keys = np.arange(self.keys.start, self.keys.stop, self.keys.step, dtype=np.int64)
        words = _int_words(self.entropy)
        words += [0] * (_POOL - len(words))
        hash_const = _INIT_A

        def hashmix(value: int) -> int:
            nonlocal hash_const
            value ^= hash_const
            hash_const = (hash_const * _MULT_A) & 0xFFFFFFFF
            value = (value * hash_const) & 0xFFFFFFFF
            return value ^ (value >> 16)

        mixer = [hashmix(w) for w in words[:_POOL]]
        for src in range(_POOL):
            for dst in range(_POOL):
                if src != dst:
                    mixer[dst] = _mix(mixer[dst], hashmix(mixer[src]))
        for w in words[_POOL:]:  # entropy beyond the pool: mixed into every word
            for dst in range(_POOL):
                mixer[dst] = _mix(mixer[dst], hashmix(w))
        key = keys.astype(np.uint64)
        out = np.empty((len(keys), _POOL), np.uint64)
        for dst in range(_POOL):  # the spawn key, the last entropy word, into each pool word
            h = key ^ np.uint64(hash_const)
            hash_const = (hash_const * _MULT_A) & 0xFFFFFFFF
            h = (h * np.uint64(hash_const)) & _M32
            h ^= h >> np.uint64(16)
            mixed = (np.uint64(_MIX_L * mixer[dst]) - np.uint64(_MIX_R) * h) & _M32
            out[:, dst] = mixed ^ (mixed >> np.uint64(16))
        return out


_POOL = 4  # numpy's default pool size (32-bit words) of a SeedSequence
_MIX_FROM = 8  # children from which mixing them at once costs less than making each
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875  # SeedSequence's entropy hash (numpy's constants)
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715  # and its mix of two words
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED  # SeedSequence's output hash (numpy's constants)


def _int_words(n: int) -> list[int]:
    """An integer's 32-bit words, least significant first ([0] for 0), as numpy splits one."""
    words = [n & 0xFFFFFFFF]
    while n >> 32:
        n >>= 32
        words.append(n & 0xFFFFFFFF)
    return words


def _mix(x: int, y: int) -> int:
    """SeedSequence's mix of two 32-bit words."""
    result = (_MIX_L * x - _MIX_R * y) & 0xFFFFFFFF
    return result ^ (result >> 16)


def seed_words(seqs: Sequence[np.random.SeedSequence]) -> npt.NDArray[np.uint64]:
    """Row i: ``seqs[i].generate_state(4, np.uint64)``, for all of them in one pass over their
    pools (numpy's hash of the pool, cycled over eight 32-bit words; the same words)."""
    if not seqs:
        return np.empty((0, 4), np.uint64)
    if isinstance(seqs, ReplicationSeeds):
        pools = seqs.pools()
    elif len({seq.pool_size for seq in seqs}) > 1:  # pools of several sizes: one by one
        return np.array([seq.generate_state(4, np.uint64) for seq in seqs], np.uint64)
    else:
        pools = np.array([seq.pool for seq in seqs], np.uint64).reshape(len(seqs), -1)
    out = np.empty((len(seqs), 8), np.uint64)
    hash_const = _INIT_B
    for i in range(8):
        word = pools[:, i % pools.shape[1]] ^ np.uint64(hash_const)
        hash_const = (hash_const * _MULT_B) & 0xFFFFFFFF
        word = (word * np.uint64(hash_const)) & _M32
        out[:, i] = word ^ (word >> np.uint64(16))
    return out[:, 0::2] | (out[:, 1::2] << np.uint64(32))  # little-endian pairs


_M64 = (1 << 64) - 1
_M128 = (1 << 128) - 1
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645  # PCG64's (numpy's) 128-bit LCG multiplier
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53: numpy's uint64 -> [0, 1) double
_SHORT = 8  # streams up to this long are stepped in Python integers (cheaper than numpy's set-up)


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finalizer over an array (uint64 array arithmetic wraps without warnings),
    in place in two buffers: half the time of a new array per operation."""
    z = np.asarray(x + np.uint64(0x9E3779B97F4A7C15))  # 0-d input too: a buffer to write in
    shifted = np.empty_like(z)
    np.right_shift(z, np.uint64(30), out=shifted)
    z ^= shifted
    z *= np.uint64(0xBF58476D1CE4E5B9)
    np.right_shift(z, np.uint64(27), out=shifted)
    z ^= shifted
    z *= np.uint64(0x94D049BB133111EB)
    np.right_shift(z, np.uint64(31), out=shifted)
    z ^= shifted
    return z


def _splitmix_int(x: int) -> int:
    """``_splitmix`` of one 64-bit Python integer."""
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _pcg64_doubles(state: int, inc: int, n: int) -> list[float]:
    """The first ``n`` doubles of numpy's PCG64 (XSL-RR 128/64) from ``state`` and ``inc``."""
    out = []
    for _ in range(n):
        state = (state * _PCG_MULT + inc) & _M128
        x = ((state >> 64) ^ state) & _M64
        rot = state >> 122
        x = ((x >> rot) | (x << (64 - rot))) & _M64
        out.append((x >> 11) * _TO_DOUBLE)
    return out


_M32 = np.uint64(0xFFFFFFFF)


def _mul128(
    xh: npt.NDArray[np.uint64],
    xl: npt.NDArray[np.uint64],
    yh: npt.NDArray[np.uint64],
    yl: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """(high, low) 64-bit words of x * y mod 2**128, over broadcasting uint64 arrays."""
    # the high word of xl * yl from 32-bit halves (Hacker's Delight's mulhi: no sum overflows),
    # built in place: each pass over the arrays costs more than the arithmetic
    x0, x1, y0, y1 = xl & _M32, xl >> np.uint64(32), yl & _M32, yl >> np.uint64(32)
    t = x0 * y0
    t >>= np.uint64(32)
    t += x1 * y0
    w = t & _M32
    w += x0 * y1
    w >>= np.uint64(32)
    t >>= np.uint64(32)
    high = x1 * y1
    high += t
    high += w
    high += xl * yh
    high += xh * yl
    return high, xl * yl


def _words(x: list[int]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    return np.array([v >> 64 for v in x], np.uint64), np.array([v & _M64 for v in x], np.uint64)


_JUMPS: dict[int, tuple[npt.NDArray[np.uint64], ...]] = {}


def _jumps(n: int) -> tuple[npt.NDArray[np.uint64], ...]:
    """For draws j = 1..n: the words of a**j and of 1 + a + ... + a**(j-1) (a the multiplier),
    so that the LCG's j-th state is a**j state + (1 + ... + a**(j-1)) inc."""
    if n not in _JUMPS:
        power, total, powers, totals = 1, 0, [], []
        for _ in range(n):
            total = (total + power) & _M128
            power = (power * _PCG_MULT) & _M128
            powers.append(power)
            totals.append(total)
        _JUMPS[n] = (*_words(powers), *_words(totals))
    return _JUMPS[n]


def _pcg64_doubles_many(
    state_hi: npt.NDArray[np.uint64],
    state_lo: npt.NDArray[np.uint64],
    inc_hi: npt.NDArray[np.uint64],
    inc_lo: npt.NDArray[np.uint64],
    n: int,
) -> npt.NDArray[np.float64]:
    """``_pcg64_doubles`` of many streams at once: row k holds stream k's first ``n`` doubles,
    every state jumped to directly (no step depends on the one before)."""
    a_hi, a_lo, c_hi, c_lo = _jumps(n)
    col = (slice(None), None)
    s_hi, s_lo = _mul128(state_hi[col], state_lo[col], a_hi, a_lo)
    t_hi, t_lo = _mul128(inc_hi[col], inc_lo[col], c_hi, c_lo)
    lo = s_lo + t_lo
    hi = s_hi + t_hi + (lo < s_lo).astype(np.uint64)
    x = hi ^ lo
    rot = hi >> np.uint64(58)
    x = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))
    return (x >> np.uint64(11)).astype(np.float64) * _TO_DOUBLE


class Streams:
    """Keyed uniform streams for one replication."""

    def __init__(self, seq: np.random.SeedSequence) -> None:
        self._words = seq.generate_state(4, np.uint64)
        self._word_ints = [int(w) for w in self._words]
        self._gen: np.random.Generator | None = None  # made when a long stream is asked for
        self._purpose_mix: dict[int, int] = {}

    def _state(self, purpose: int, key: int) -> tuple[int, int]:
        """PCG64 (state, increment) of stream ``(purpose, key)``."""
        mix = self._purpose_mix.get(purpose)
        if mix is None:
            mix = self._purpose_mix[purpose] = _splitmix_int(purpose)
        base = _splitmix_int((key & _M64) ^ mix)
        w0, w1, w2, w3 = (_splitmix_int(base ^ w) for w in self._word_ints)
        return (w0 << 64) | w1, (w2 << 64) | w3 | 1

    def _doubles(self, state: int, inc: int, n: int, out: npt.NDArray[np.float64]) -> None:
        if n <= _SHORT:
            out[:] = _pcg64_doubles(state, inc, n)
            return
        if self._gen is None:
            self._gen = np.random.Generator(np.random.PCG64(0))
        self._gen.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": state, "inc": inc},
            "has_uint32": 0,
            "uinteger": 0,
        }
        self._gen.random(n, out=out)

    def uniforms(self, purpose: int, key: int, n: int) -> npt.NDArray[np.float64]:
        """The first ``n`` uniforms of stream ``(purpose, key)``; a longer ``n`` extends them."""
        out = np.empty(n)
        self._doubles(*self._state(purpose, key), n, out)
        return out

    def uniforms_many(
        self, purpose: int, keys: npt.NDArray[np.uint64], n: int
    ) -> npt.NDArray[np.float64]:
        """``uniforms(purpose, k, n)`` for every key, as rows of one array (in one go)."""
        base = _splitmix(keys ^ _splitmix(np.full(keys.shape, purpose, np.uint64)))
        w0, w1, w2, w3 = (_splitmix(base ^ w) for w in self._words)
        return _pcg64_doubles_many(w0, w1, w2, w3 | np.uint64(1), n)


class Draws:
    """The random-stream layout of one replication: for each kind of draw, its stream (purpose
    and key) and its place in it. Everything the engine draws comes through here."""

    def __init__(self, seq: np.random.SeedSequence, n_stages: int, prefetch_visits: int) -> None:
        self.streams = Streams(seq)
        # a deal's stage stream drawn up front: its value and its first visits of every stage
        self.width = SLOT_VISITS + 3 * n_stages * prefetch_visits

    def uncertainty(self, key: int) -> npt.NDArray[np.float64]:
        """The one uniform of an ``uncertainty:`` multiplier."""
        return self.streams.uniforms(Purpose.UNCERTAINTY, key, 1)

    def monthly(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
        """The uniform of each month of an ``uncertainty.monthly`` multiplier (keyed per month)."""
        return self.streams.uniforms_many(Purpose.UNCERTAINTY, keys, 1)[:, 0]

    def arrival_counts(self, source_key: int, months: int) -> npt.NDArray[np.float64]:
        """One uniform per month of an arrival source: its Poisson counts."""
        return self.streams.uniforms(Purpose.ARRIVALS, source_key, months)

    def arrival_times(self, month_key: int, count: int) -> npt.NDArray[np.float64]:
        """The uniforms of one source's arrival times in one month."""
        return self.streams.uniforms(Purpose.ARRIVALS, month_key, count)

    def deal_stages(self, keys: list[int]) -> npt.NDArray[np.float64]:
        """Every deal's stage stream up front, a row per deal (see SLOT_VALUE, SLOT_VISITS)."""
        return self.streams.uniforms_many(
            Purpose.DEAL_STAGES, np.array(keys, np.uint64), self.width
        )

    def more_visits(self, key: int, slot: int, have: int) -> list[float]:
        """A deal's visit draws from SLOT_VISITS on, extended (the same stream, longer) so that
        visit slot ``slot`` exists, when its first ``have`` are used up (a long rework loop)."""
        width = SLOT_VISITS + max(slot + 1, 2 * have)
        return self.streams.uniforms(Purpose.DEAL_STAGES, key, width)[SLOT_VISITS:].tolist()

    def deal_risk(self, keys: npt.NDArray[np.uint64], risk_key: int) -> npt.NDArray[np.float64]:
        """Per deal, a deal-scope risk's (occurrence, delay) uniforms."""
        return self.streams.uniforms_many(Purpose.DEAL_RISK, keys ^ np.uint64(risk_key), 2)

    def deal_rule(self, deal_key: int, rule_key: int) -> float:
        """The uniform of a rule's delay for one deal."""
        return float(self.streams.uniforms(Purpose.DEAL_RULE, deal_key ^ rule_key, 1)[0])

    def world_risk(self, is_global: bool, risk_id: str) -> npt.NDArray[np.float64]:
        """A global or resource risk's (occurrence, time in its window, duration) uniforms."""
        purpose = Purpose.GLOBAL_RISK if is_global else Purpose.RESOURCE_RISK
        return self.streams.uniforms(purpose, stable_hash(risk_id), 3)
