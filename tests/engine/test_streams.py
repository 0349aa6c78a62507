"""Common random numbers: streams are keyed by ids, so removing or adding one thing leaves the
draws of everything else alone, and two things never share a stream by accident."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import simsales
from simsales.engine.streams import (
    Purpose,
    ReplicationSeeds,
    Streams,
    replication_seeds,
    seed_words,
    stable_hash,
)


def _base() -> dict[str, Any]:
    return {
        "name": "crn",
        "start": "2027-01-04",
        "horizon": "2027-12-31",
        "calendar": {"continuous": True},
        "stages": [{"id": "a", "duration": {"uniform": [5, 30]}, "advance": 0.6}],
        "deal_types": {"t": {"value": {"uniform": [1, 100]}}},
        "pipeline": [{"id": f"D{i}", "type": "t", "stage": "a"} for i in range(200)],
        "risks": [
            {"id": "r1", "scope": "deal", "p": 0.5, "impact": {"win_factor": 0.9}},
            {"id": "r2", "scope": "deal", "p": 0.5, "impact": {"win_factor": 0.8}},
        ],
    }


def _hits(forecast: simsales.Forecast, risk: str) -> set[tuple[int, str]]:
    r = forecast.risks[forecast.risks["risk"] == risk]
    return set(zip(r["replication"], r["deal"], strict=True))


def test_removing_a_risk_leaves_the_other_risks_draws_alone() -> None:
    base = simsales.load_dict(_base())
    without_r1 = simsales.with_overlay(base, {"risks": {"r1": None}})
    a = simsales.simulate(base, replications=5, seed=3, progress=False)
    b = simsales.simulate(without_r1, replications=5, seed=3, progress=False)
    assert _hits(b, "r1") == set()
    assert len(_hits(a, "r2")) > 100
    assert _hits(a, "r2") == _hits(b, "r2")


def test_arrival_sources_of_one_type_have_their_own_deals_and_streams() -> None:
    data = _base() | {
        "pipeline": [],
        "risks": [],
        "arrivals": [
            {"type": "t", "per_month": 3.0, "customer": "A"},
            {"type": "t", "per_month": 3.0, "customer": "B"},
        ],
    }
    deals = simsales.simulate(
        simsales.load_dict(data), replications=10, seed=1, progress=False
    ).deals
    assert not deals.duplicated(["replication", "deal"]).any()
    ids = deals["deal"].astype(str)
    assert ids.str.startswith("t#1@").any() and ids.str.startswith("t#2@").any()
    # the two sources' values are not copies of each other
    first = deals[ids.str.startswith("t#1@")].groupby("replication")["value"].first()
    second = deals[ids.str.startswith("t#2@")].groupby("replication")["value"].first()
    common = first.index.intersection(second.index)
    assert (first[common] != second[common]).all()


def test_streams_extend_without_changing_their_prefix() -> None:
    s = Streams(replication_seeds(5, 0, 1)[0])
    short = s.uniforms(1, stable_hash("D-1"), 10)
    long = s.uniforms(1, stable_hash("D-1"), 50)
    np.testing.assert_array_equal(short, long[:10])
    other = s.uniforms(1, stable_hash("D-2"), 10)
    assert not np.array_equal(short, other)
    many = s.uniforms_many(1, np.array([stable_hash("D-1"), stable_hash("D-2")], np.uint64), 10)
    np.testing.assert_array_equal(many, np.stack([short, other]))


def test_short_and_long_streams_are_numpys_pcg64_bit_for_bit() -> None:
    """Short streams are stepped in Python integers, long ones by numpy: both must be numpy's
    PCG64 from the stream's state, across the switch and for keys at the edges of 64 bits."""
    from simsales.engine.streams import _SHORT

    s = Streams(replication_seeds(11, 3, 4)[0])
    for key in (0, 1, stable_hash("D-9"), (1 << 64) - 1):
        state, inc = s._state(Purpose.DEAL_RISK, key)
        bits = np.random.PCG64(0)
        bits.state = {
            "bit_generator": "PCG64",
            "state": {"state": state, "inc": inc},
            "has_uint32": 0,
            "uinteger": 0,
        }
        expected = np.random.Generator(bits).random(3 * _SHORT)
        for n in (1, 2, _SHORT, _SHORT + 1, 3 * _SHORT):
            np.testing.assert_array_equal(s.uniforms(Purpose.DEAL_RISK, key, n), expected[:n])
    keys = np.array([stable_hash(f"D-{i}") for i in range(5)], np.uint64)
    for n in (2, _SHORT + 3):
        many = s.uniforms_many(Purpose.DEAL_STAGES, keys, n)
        singles = [s.uniforms(Purpose.DEAL_STAGES, int(k), n) for k in keys]
        np.testing.assert_array_equal(many, np.stack(singles))


def test_splitmix_of_an_array_is_that_of_each_integer() -> None:
    """The in-place array finalizer: the Python-integer one's words, for any shape (0-d too)."""
    from simsales.engine.streams import _splitmix, _splitmix_int

    values = [0, 1, 0x9E3779B97F4A7C15, stable_hash("D-1"), (1 << 64) - 1]
    x = np.array(values, np.uint64)
    assert _splitmix(x).tolist() == [_splitmix_int(v) for v in values]
    assert _splitmix(x.reshape(1, -1)).shape == (1, len(values))
    assert int(_splitmix(np.array(values[3], np.uint64))) == _splitmix_int(values[3])
    assert x.tolist() == values  # its input left as it was


def test_poisson_counts_are_scipys() -> None:
    from scipy import stats

    from simsales.engine.replication import _poisson_ppf

    rng = np.random.default_rng(4)
    q = np.concatenate([rng.random(20000), [1e-300, 0.5, 1 - 2**-53]])
    mu = np.concatenate([rng.exponential(20.0, 20000), [3.0, 1e-9, 400.0]])
    expected = stats.poisson.ppf(q, mu).astype(np.int64)
    np.testing.assert_array_equal(_poisson_ppf(q, mu), expected)
    edge_q, edge_mu = np.array([0.0, 0.3]), np.array([2.0, 0.0])  # outside: scipy's own path
    expected = stats.poisson.ppf(edge_q, edge_mu).astype(np.int64)
    np.testing.assert_array_equal(_poisson_ppf(edge_q, edge_mu), expected)


def test_seed_words_are_each_seeds_generated_state() -> None:
    """The words of many SeedSequences at once, as each one's generate_state(4, uint64) gives
    them: entropy small and large, spawned and not, other pool sizes."""
    seqs = [
        np.random.SeedSequence(seed, spawn_key=key)
        for seed in (0, 1, 7, 2**70 + 3, 20260101)
        for key in ((), (0,), (5,), (299,), (2**40, 3))
    ] + [np.random.SeedSequence(3, pool_size=8), np.random.SeedSequence(None)]
    assert seed_words([]).shape == (0, 4)
    for group in (seqs, seqs[:-2], seqs[-2:-1]):
        want = np.array([seq.generate_state(4, np.uint64) for seq in group])
        assert np.array_equal(seed_words(group), want)


@pytest.mark.parametrize("seed", [0, 1, 7, 2**32 - 1, 2**32, 2**70 + 3, 3**80, 20260101])
@pytest.mark.parametrize(
    "keys",
    [
        *(range(n) for n in (0, 1, 7, 8)),  # made one by one below 8, mixed at once from 8
        range(2, 151),
        range(2**32 - 12, 2**32 - 1),  # the largest keys of one word
        range(2**32 - 5, 2**32 + 5),  # and past it: numpy's
        range(40, 0, -3),
    ],
)
def test_replication_seeds_mixed_at_once_are_numpys_children(seed: int, keys: range) -> None:
    """Children made when asked for, and their pools and words mixed for all of them at once:
    numpy's children ``SeedSequence(seed, spawn_key=(k,))`` word for word (entropy of one
    word and of several, keys past 32 bits, slices)."""
    seqs = ReplicationSeeds(seed, keys)
    want = [np.random.SeedSequence(seed, spawn_key=(k,)) for k in keys]
    assert len(seqs) == len(want)
    for got, expected in zip(seqs, want, strict=True):
        assert got.spawn_key == expected.spawn_key and np.array_equal(got.pool, expected.pool)
    words = np.array([s.generate_state(4, np.uint64) for s in want], np.uint64).reshape(-1, 4)
    assert np.array_equal(seed_words(seqs), words)
    assert np.array_equal(seed_words(seqs[1:4]), words[1:4])
    assert np.array_equal(seed_words(seqs[::2]), words[::2])
    if keys.step == 1 and keys.start >= 0:  # what replication_seeds hands out
        assert np.array_equal(seed_words(replication_seeds(seed, keys.start, keys.stop)), words)
