"""Random streams of one replication: per purpose, and per deal (or risk, or arrival source).

The randomness contract (docs/architecture.md, "Randomness contract"): replication *i* uses
the *i*-th child of ``SeedSequence(seed)``; inside it every purpose and every deal has its own
stream, keyed by a stable hash of its id. A what-if that changes one deal, one risk or one
capacity therefore leaves every other stream untouched: common random numbers.

A stream is a PCG64 generator whose 128-bit state and increment are derived from the
replication's SeedSequence words and the ``(purpose, key)`` pair by the SplitMix64 finalizer.
Deriving them this way (instead of one ``SeedSequence`` per deal, ~15 µs each) costs a few
hundred nanoseconds per stream, and distinct increments give distinct PCG64 streams.
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


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class Streams:
    """Keyed uniform streams for one replication."""

    def __init__(self, seq: np.random.SeedSequence) -> None:
        self._words = seq.generate_state(4, np.uint64)
        self._bits = np.random.PCG64(0)
        self._gen = np.random.Generator(self._bits)

    def _states(self, purpose: int, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        base = _splitmix(keys ^ _splitmix(np.full(keys.shape, purpose, np.uint64)))
        return np.stack([_splitmix(base ^ w) for w in self._words], axis=-1)

    def _set(self, w: list[int]) -> None:
        self._bits.state = {
            "bit_generator": "PCG64",
            "state": {"state": (w[0] << 64) | w[1], "inc": ((w[2] << 64) | w[3]) | 1},
            "has_uint32": 0,
            "uinteger": 0,
        }

    def uniforms(self, purpose: int, key: int, n: int) -> npt.NDArray[np.float64]:
        """The first ``n`` uniforms of stream ``(purpose, key)``; a longer ``n`` extends them."""
        self._set(self._states(purpose, np.array([key & _MASK], np.uint64))[0].tolist())
        return self._gen.random(n)

    def uniforms_many(
        self, purpose: int, keys: npt.NDArray[np.uint64], n: int
    ) -> npt.NDArray[np.float64]:
        """``uniforms(purpose, k, n)`` for every key, as rows of one array."""
        out = np.empty((len(keys), n))
        for row, words in zip(out, self._states(purpose, keys).tolist(), strict=True):
            self._set(words)
            row[:] = self._gen.random(n)
        return out
