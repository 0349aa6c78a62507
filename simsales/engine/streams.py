"""Random streams of one replication: per purpose, and per deal (or risk, or arrival source).

The randomness contract (DESIGN.md): replication *i* uses the *i*-th child of
``SeedSequence(seed)``; inside it every purpose and every deal has its own stream, keyed by a
stable hash of its id. A what-if that changes one deal, one risk or one capacity therefore leaves
every other stream untouched: common random numbers.

A stream is a PCG64 generator whose 128-bit state and increment are derived from the
replication's SeedSequence words and the ``(purpose, key)`` pair by the SplitMix64 finalizer.
Deriving them this way (instead of one ``SeedSequence`` per deal, ~15 µs each) costs a few
integer operations per stream, and distinct increments give distinct PCG64 streams.

Most streams are short (one to a few draws: a risk, a rule, a month's arrivals), and setting a
numpy generator's state costs more than stepping PCG64 in Python integers, so short streams are
stepped here, long ones by numpy; both give numpy's PCG64 doubles bit for bit.
"""

from __future__ import annotations

import hashlib
from enum import IntEnum

import numpy as np
import numpy.typing as npt

__all__ = ["Purpose", "Streams", "replication_seeds", "stable_hash"]

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


def stable_hash(text: str) -> int:
    """A 64-bit hash of an id that is the same in every process and Python version."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def replication_seeds(seed: int, start: int, stop: int) -> list[np.random.SeedSequence]:
    """Children ``start..stop-1`` of ``SeedSequence(seed)``: the same whoever asks for them."""
    root = np.random.SeedSequence(seed)
    return [np.random.SeedSequence(root.entropy, spawn_key=(i,)) for i in range(start, stop)]


_M64 = (1 << 64) - 1
_M128 = (1 << 128) - 1
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645  # PCG64's (numpy's) 128-bit LCG multiplier
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53: numpy's uint64 -> [0, 1) double
_SHORT = 8  # streams up to this long are stepped in Python integers (cheaper than numpy's set-up)


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finalizer over an array (uint64 array arithmetic wraps without warnings)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


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


class Streams:
    """Keyed uniform streams for one replication."""

    def __init__(self, seq: np.random.SeedSequence) -> None:
        self._words = seq.generate_state(4, np.uint64)
        self._word_ints = [int(w) for w in self._words]
        self._bits = np.random.PCG64(0)
        self._gen = np.random.Generator(self._bits)
        self._purpose_mix: dict[int, int] = {}

    def _state(self, purpose: int, key: int) -> tuple[int, int]:
        """PCG64 (state, increment) of stream ``(purpose, key)``."""
        mix = self._purpose_mix.get(purpose)
        if mix is None:
            mix = self._purpose_mix[purpose] = _splitmix_int(purpose)
        base = _splitmix_int((key & _M64) ^ mix)
        w0, w1, w2, w3 = (_splitmix_int(base ^ w) for w in self._word_ints)
        return (w0 << 64) | w1, (w2 << 64) | w3 | 1

    def _states(self, purpose: int, keys: npt.NDArray[np.uint64]) -> list[tuple[int, int]]:
        """``_state`` of every key, the hashing done over arrays."""
        base = _splitmix(keys ^ _splitmix(np.full(keys.shape, purpose, np.uint64)))
        w0, w1, w2, w3 = (_splitmix(base ^ w).tolist() for w in self._words)
        return [
            ((a << 64) | b, (c << 64) | d | 1) for a, b, c, d in zip(w0, w1, w2, w3, strict=True)
        ]

    def _doubles(self, state: int, inc: int, n: int, out: npt.NDArray[np.float64]) -> None:
        if n <= _SHORT:
            out[:] = _pcg64_doubles(state, inc, n)
            return
        self._bits.state = {
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
        """``uniforms(purpose, k, n)`` for every key, as rows of one array."""
        out = np.empty((len(keys), n))
        for row, (state, inc) in zip(out, self._states(purpose, keys), strict=True):
            self._doubles(state, inc, n, row)
        return out
