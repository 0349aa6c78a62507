"""Distributions: validation messages, closed forms against scipy, sampling, conditioning."""

from __future__ import annotations

import dataclasses
import math
import pickle
from typing import Any

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError
from scipy import stats

from simsales.scenario.distributions import (
    KINDS,
    DistributionSpec,
    Fixed,
    Pert,
    Sampler,
    clean_loc,
)

ADAPTER: TypeAdapter[Any] = TypeAdapter(DistributionSpec)
N = 20_000
FAST = settings(max_examples=30, derandomize=True, deadline=None)


def spec(raw: Any) -> Any:
    return ADAPTER.validate_python(raw)


# --- hypothesis strategies: valid raw specs of every kind ------------------------------------

pos = st.floats(0.5, 100.0)
low_st = st.floats(0.0, 100.0)
width = st.floats(0.1, 100.0)


@st.composite
def three_points(draw: st.DrawFn) -> list[float]:
    low, w, frac = draw(low_st), draw(width), draw(st.floats(0.0, 1.0))
    return [low, low + frac * w, low + w]


@st.composite
def discrete_raw(draw: st.DrawFn) -> dict[str, Any]:
    values = draw(st.lists(st.floats(0.0, 100.0), min_size=1, max_size=6))
    weights = draw(st.lists(st.floats(0.01, 1.0), min_size=len(values), max_size=len(values)))
    total = sum(weights)
    return {"discrete": {"values": values, "p": [w / total for w in weights]}}


RAW = {
    "fixed": st.floats(0.0, 1e6).map(lambda v: {"fixed": v}),
    "uniform": st.tuples(low_st, width).map(lambda t: {"uniform": [t[0], t[0] + t[1]]}),
    "triangular": three_points().map(lambda p: {"triangular": p}),
    "pert": st.one_of(
        three_points().map(lambda p: {"pert": p}),
        st.tuples(three_points(), st.floats(0.5, 8.0)).map(
            lambda t: {"pert": dict(zip(("low", "mode", "high"), t[0], strict=True), lamb=t[1])}
        ),
    ),
    "lognormal": st.one_of(
        # p90/p50 <= 4 keeps sigma <= 1.08: heavy tails but a usable variance check (see below).
        st.tuples(pos, st.floats(1.05, 4.0)).map(
            lambda t: {"lognormal": {"p50": t[0], "p90": t[0] * t[1]}}
        ),
        st.tuples(pos, st.floats(0.05, 1.0)).map(
            lambda t: {"lognormal": {"mean": t[0], "sd": t[0] * t[1]}}
        ),
    ),
    "normal": st.tuples(st.floats(0.0, 100.0), st.floats(0.1, 50.0)).map(
        lambda t: {"normal": {"mean": t[0], "sd": t[1]}}
    ),
    "exponential": pos.map(lambda m: {"exponential": {"mean": m}}),
    "empirical": st.lists(st.floats(0.0, 100.0), min_size=1, max_size=20).map(
        lambda v: {"empirical": v}
    ),
    "discrete": discrete_raw(),
}
CONTINUOUS = ("uniform", "triangular", "pert", "lognormal", "normal", "exponential")


def reference(kind: str, s: Sampler) -> Any:
    """The same law built independently with scipy.stats (continuous kinds)."""
    d: dict[str, Any] = {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}  # type: ignore[arg-type]
    if kind == "uniform":
        return stats.uniform(d["low"], d["high"] - d["low"])
    if kind == "triangular":
        w = d["high"] - d["low"]
        return stats.triang((d["mode"] - d["low"]) / w, loc=d["low"], scale=w)
    if kind == "pert":
        return stats.beta(d["alpha"], d["beta"], loc=d["low"], scale=d["high"] - d["low"])
    if kind == "lognormal":
        return stats.lognorm(d["sigma"], scale=math.exp(d["mu"]))
    if kind == "normal":
        return stats.truncnorm(-d["mu"] / d["sigma"], np.inf, loc=d["mu"], scale=d["sigma"])
    if kind == "exponential":
        return stats.expon(scale=d["scale"])
    raise AssertionError(kind)


def support_and_p(raw: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Atoms and probabilities of a discrete-type raw spec, computed directly from the input."""
    if "empirical" in raw:
        values = np.asarray(raw["empirical"], dtype=float)
        return values, np.full(len(values), 1 / len(values))
    return np.asarray(raw["discrete"]["values"]), np.asarray(raw["discrete"]["p"])


def true_moments(kind: str, raw: Any, s: Sampler) -> tuple[float, float, float]:
    """(mean, variance, fourth central moment), independently of the sampler's closed forms."""
    if kind == "fixed":
        return float(raw["fixed"]), 0.0, 0.0
    if kind in ("empirical", "discrete"):
        v, p = support_and_p(raw)
        m = float(p @ v)
        return m, float(p @ (v - m) ** 2), float(p @ (v - m) ** 4)
    ref = reference(kind, s)
    mean, var, kurt = (float(x) for x in ref.stats(moments="mvk"))
    return mean, var, (kurt + 3.0) * var * var


# --- closed forms and sampling ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_sample_moments_match_closed_form(kind: str) -> None:
    @FAST
    @given(RAW[kind])
    def check(raw: Any) -> None:
        s = spec(raw).sampler()
        mean, var, mu4 = true_moments(kind, raw, s)
        assert s.mean() == pytest.approx(mean, rel=1e-7, abs=1e-9)
        assert s.var() == pytest.approx(var, rel=1e-6, abs=1e-9)

        x = s.sample(np.random.default_rng(20270104), N)
        assert x.shape == (N,)
        assert np.all((x >= s.low) & (x <= s.high))
        # The sample mean has standard error sd/sqrt(n): 5 SE is a ~6e-7 two-sided tail under the
        # CLT. The slack term only absorbs float rounding when sd is 0.
        slack = 1e-9 * (1.0 + abs(mean))
        assert abs(x.mean() - mean) <= 5 * math.sqrt(var / N) + slack
        # The unbiased sample variance s^2 of n iid draws has exactly
        # Var(s^2) = (mu4 - sigma^4 (n - 3) / (n - 1)) / n, from the true fourth central moment
        # (the (n - 3)/(n - 1) term matters when mu4 = sigma^4, e.g. a fair two-point law). Heavy
        # tails (lognormal, sigma up to 1.08) make s^2 skewed at n = 20000: hence 6 SE, not 3.
        var_s2 = (mu4 - var * var * (N - 3) / (N - 1)) / N
        assert abs(x.var(ddof=1) - var) <= 6 * math.sqrt(max(var_s2, 0.0)) + slack

    check()


@pytest.mark.parametrize("kind", CONTINUOUS)
def test_ppf_and_cdf_match_scipy_and_round_trip(kind: str) -> None:
    u = np.linspace(0.001, 0.999, 199)

    @FAST
    @given(RAW[kind])
    def check(raw: Any) -> None:
        s = spec(raw).sampler()
        ref = reference(kind, s)
        x = s.ppf(u)
        scale = s.mean() + math.sqrt(s.var())
        np.testing.assert_allclose(x, ref.ppf(u), rtol=1e-7, atol=1e-9 * scale)
        np.testing.assert_allclose(s.cdf(x), u, atol=1e-9)
        np.testing.assert_allclose(s.cdf(x), ref.cdf(x), atol=1e-9)
        assert np.all(np.diff(x) >= 0)
        assert s.cdf(s.low - 1.0) == 0.0
        assert s.cdf(s.high if math.isfinite(s.high) else 1e300) == pytest.approx(1.0)

    check()


@pytest.mark.parametrize("kind", ["empirical", "discrete"])
def test_discrete_ppf_is_the_generalized_inverse_of_cdf(kind: str) -> None:
    u = np.linspace(0.0, 0.999999, 1001)

    @FAST
    @given(RAW[kind])
    def check(raw: Any) -> None:
        s = spec(raw).sampler()
        x = s.ppf(u)
        v, _ = support_and_p(raw)
        below = np.array([v[v < xi].max() if np.any(v < xi) else -1.0 for xi in x])
        # ppf(u) is the smallest atom whose CDF exceeds u (right-continuous; u is in [0, 1)).
        assert np.all(s.cdf(x) > u - 1e-12)
        assert np.all(s.cdf(below) <= u + 1e-12)
        assert np.all(np.diff(x) >= 0)

    check()


def test_triangular_ppf_of_an_array_is_its_ppf_of_each_draw() -> None:
    """The in-place array form gives the scalar form's floats, both sides of the mode (and at
    it, at 0 and just below 1), for a 1-element array too."""
    from simsales.scenario.distributions import TriangularSampler

    s = TriangularSampler(5.0, 10.0, 20.0)
    fc = (10.0 - 5.0) / (20.0 - 5.0)
    u = np.r_[
        0.0, fc, np.nextafter(fc, 0.0), np.nextafter(1.0, 0.0), np.random.default_rng(3).random(999)
    ]
    each = [float(s.ppf(np.float64(x))) for x in u]  # a scalar: the plain expressions
    assert s.ppf(u).tolist() == each
    assert s.ppf(u[1:2]).tolist() == each[1:2]
    assert s.ppf(u[::2]).tolist() == each[::2]  # a strided view, left as it was


def test_sampling_is_inverse_transform_with_one_uniform_per_draw() -> None:
    for raw in ({"pert": [5, 8, 15]}, {"fixed": 3}, {"empirical": [3, 5, 8]}):
        s = spec(raw).sampler()
        a, b = np.random.default_rng(7), np.random.default_rng(7)
        np.testing.assert_array_equal(s.sample(a, (4, 5)), s.ppf(b.random((4, 5))))
        # Even a constant consumes its uniforms, so changing it in a variant shifts no stream.
        assert a.random() == b.random()


def test_fixed_is_flagged_and_needs_no_scipy() -> None:
    s = spec(3).sampler()
    assert s.is_fixed and not spec({"uniform": [1, 2]}).sampler().is_fixed
    assert (s.low, s.high, s.mean(), s.var()) == (3.0, 3.0, 3.0, 0.0)
    np.testing.assert_array_equal(s.ppf(np.array([0.0, 0.5, 0.99])), [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(s.cdf([2.9, 3.0]), [0.0, 1.0])


def test_samplers_are_frozen_and_picklable() -> None:
    for raw in (
        {"triangular": [5, 10, 20]},
        {"lognormal": {"p50": 12, "p90": 30}},
        {"discrete": {"values": [10, 20], "p": [0.4, 0.6]}},
    ):
        s = spec(raw).sampler()
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.low = 0.0
        clone = pickle.loads(pickle.dumps(s))
        u = np.linspace(0, 0.99, 7)
        np.testing.assert_array_equal(clone.ppf(u), s.ppf(u))


def test_lognormal_parameterizations() -> None:
    s = spec({"lognormal": {"p50": 12, "p90": 30}}).sampler()
    np.testing.assert_allclose(s.ppf(np.array([0.5, 0.9])), [12.0, 30.0])
    t = spec({"lognormal": {"mean": 10, "sd": 4}}).sampler()
    assert (t.mean(), t.var()) == (pytest.approx(10.0), pytest.approx(16.0))


def test_pert_short_and_long_forms_agree() -> None:
    assert spec({"pert": [5, 8, 15]}) == spec({"pert": {"low": 5, "mode": 8, "high": 15}})
    assert spec({"pert": [5, 8, 15]}).sampler().mean() == pytest.approx((5 + 4 * 8 + 15) / 6)


def test_discrete_ignores_zero_probability_values() -> None:
    s = spec({"discrete": {"values": [40, 10, 20], "p": [0.0, 0.5, 0.5]}}).sampler()
    assert (s.low, s.high) == (10.0, 20.0)
    np.testing.assert_array_equal(s.ppf(np.array([0.0, 0.49, 0.5, 0.999999])), [10, 10, 20, 20])


# --- conditional (remaining-time) sampling ----------------------------------------------------

CONDITIONAL = [
    {"uniform": [5, 10]},
    {"triangular": [5, 10, 20]},
    {"triangular": [0, 0, 10]},
    {"pert": [5, 8, 15]},
    {"pert": {"low": 10, "mode": 20, "high": 45, "lamb": 2}},
    {"lognormal": {"p50": 12, "p90": 30}},
    {"normal": {"mean": 10, "sd": 3}},
    {"normal": {"mean": 1, "sd": 5}},
    {"exponential": {"mean": 7}},
]


@pytest.mark.parametrize("q", [0.0, 0.3, 0.95])
@pytest.mark.parametrize("raw", CONDITIONAL, ids=lambda r: str(r))
def test_remaining_time_follows_the_truncated_distribution(raw: Any, q: float) -> None:
    s = spec(raw).sampler()
    elapsed = float(s.ppf(np.array([q]))[0]) if q > 0 else 0.0
    fe = float(s.cdf(elapsed))
    rest = s.sample_remaining(np.random.default_rng(12345), elapsed, N)
    assert np.all(rest >= 0)

    def truncated_cdf(x: np.ndarray) -> np.ndarray:
        return np.clip((s.cdf(x) - fe) / (1.0 - fe), 0.0, 1.0)

    # Fixed seed: deterministic; a correct sampler fails this 1e-4 threshold with that chance.
    assert stats.kstest(elapsed + rest, truncated_cdf).pvalue > 1e-4


@pytest.mark.parametrize(
    "raw",
    [{"empirical": [3, 5, 5, 8, 13]}, {"discrete": {"values": [10, 20, 40], "p": [0.5, 0.3, 0.2]}}],
)
@pytest.mark.parametrize("elapsed", [0.0, 5.0, 10.0])
def test_remaining_time_of_discrete_kinds(raw: Any, elapsed: float) -> None:
    s = spec(raw).sampler()
    v, p = support_and_p(raw)
    atoms = np.unique(v[v > elapsed])
    expected = np.array([p[v == a].sum() for a in atoms])
    x = elapsed + s.sample_remaining(np.random.default_rng(99), elapsed, N)
    counts = np.array([np.sum(x == a) for a in atoms])
    assert counts.sum() == N  # only atoms above elapsed are ever drawn
    if len(atoms) > 1:  # one atom left: the line above already says it all
        assert stats.chisquare(counts, N * expected / expected.sum()).pvalue > 1e-4


def test_remaining_time_beyond_the_support_is_zero() -> None:
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(spec({"fixed": 3}).sampler().sample_remaining(rng, 5, 4), 0.0)
    np.testing.assert_array_equal(spec({"fixed": 3}).sampler().sample_remaining(rng, 1, 2), 2.0)
    for raw in ({"uniform": [5, 10]}, {"empirical": [3, 5]}, {"pert": [5, 8, 15]}):
        np.testing.assert_array_equal(spec(raw).sampler().sample_remaining(rng, 20, 3), 0.0)


def test_ppf_remaining_uses_the_engines_uniforms() -> None:
    s = spec({"triangular": [5, 10, 20]}).sampler()
    u = np.random.default_rng(3).random(100)
    np.testing.assert_allclose(s.ppf_remaining(u, 0.0), s.ppf(u))
    r = s.ppf_remaining(u, 12.0)
    assert np.all(np.diff(r[np.argsort(u)]) >= 0)  # monotone in u: CRN coupling survives


# --- validation -------------------------------------------------------------------------------


def test_bare_number_is_fixed() -> None:
    assert spec(5) == Fixed(fixed=5.0)
    assert spec(2.5).sampler().mean() == 2.5


def test_models_round_trip_through_dump() -> None:
    for raw in ({"pert": [5, 8, 15]}, {"lognormal": {"p50": 12, "p90": 30}}, {"empirical": [1]}):
        value = spec(raw)
        assert spec(ADAPTER.dump_python(value)) == value
        assert spec(value) is value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"triangular": [12, 9, 15]}, r"low \(12\) must be <= mode \(9\)"),
        ({"triangular": [1, 9, 5]}, r"mode \(9\) must be <= high \(5\)"),
        ({"pert": [12, 9, 15]}, r"low \(12\) must be <= mode \(9\)"),
        ({"pert": {"low": 5, "mode": 5, "high": 5}}, r"low \(5\) must be < high \(5\)"),
        ({"pert": [1, 2]}, r"pert needs 3 numbers \[low, mode, high\], got 2"),
        ({"triangular": [1, 2, 3, 4]}, r"triangular needs 3 numbers"),
        ({"uniform": [10, 5]}, r"low \(10\) must be <= high \(5\)"),
        ({"uniform": [-1, 5]}, r"low \(-1\) must be >= 0"),
        ({"lognormal": {"p50": 30, "p90": 12}}, r"p50 \(30\) must be < p90 \(12\)"),
        ({"lognormal": {"p50": 12, "p90": 12}}, r"p50 \(12\) must be < p90 \(12\)"),
        ({"lognormal": {"p50": 12}}, r"lognormal needs either p50 and p90, or mean and sd"),
        ({"lognormal": {"mean": 10, "sd": -4}}, r"sd \(-4\) must be > 0"),
        ({"normal": {"mean": 10, "sd": -3}}, r"sd \(-3\) must be > 0"),
        ({"normal": {"mean": 10, "sd": 0}}, r"sd \(0\) must be > 0"),
        ({"exponential": {"mean": 0}}, r"mean \(0\) must be > 0"),
        ({"fixed": -1}, r"fixed \(-1\) must be >= 0"),
        (-1, r"fixed \(-1\) must be >= 0"),
        ({"uniform": [1, float("inf")]}, r"finite number"),
        ({"empirical": []}, r"empirical needs at least one value"),
        ({"empirical": [3, -1]}, r"empirical values must be >= 0, got -1"),
        (
            {"discrete": {"values": [1, 2], "p": [0.5, 0.6]}},
            r"p must sum to 1, got 1\.1",
        ),
        (
            {"discrete": {"values": [1, 2], "p": [1.5, -0.5]}},
            r"p\[0\] \(1\.5\) must be in \[0, 1\]",
        ),
        ({"discrete": {"values": [1, 2], "p": [1.0]}}, r"values \(2\) and p \(1\) must have"),
        ({"discrete": {"values": [], "p": []}}, r"discrete needs at least one value"),
        (
            {"triangle": [5, 10, 20]},
            r"unknown distribution 'triangle' \(did you mean 'triangular'\?\)",
        ),
        ({"lognorm": {"p50": 1, "p90": 2}}, r"did you mean 'lognormal'\?"),
        ({"weibull": [1, 2]}, r"unknown distribution 'weibull'; known kinds are fixed, uniform"),
        ({"fixed": 3, "uniform": [1, 2]}, r"exactly one key \(its kind\), got 2: fixed, uniform"),
        ({}, r"exactly one key \(its kind\), got 0"),
        ("pert", r"expected a number or a distribution"),
        (True, r"expected a number or a distribution"),
        ({"pert": [1, 2, 3], "lamb": 4}, r"exactly one key"),
        ({"pert": {"low": 1, "mode": 2, "high": 3, "lam": 4}}, r"Extra inputs are not permitted"),
    ],
)
def test_bad_specs_fail_with_a_clear_message(raw: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(raw)


def test_errors_carry_a_hint() -> None:
    with pytest.raises(ValidationError) as info:
        spec({"triangular": [12, 9, 15]})
    (error,) = info.value.errors()
    assert error["ctx"]["hint"] == "write [low, mode, high] in increasing order"


class _Stage(BaseModel):
    duration: DistributionSpec


class _Scenario(BaseModel):
    d: DistributionSpec | None = None
    stages: list[_Stage] = []


@pytest.mark.parametrize(
    ("raw", "raw_loc", "loc"),
    [
        ({"d": {"pert": [12, 9, 15]}}, ("d", "pert", "pert"), ("d", "pert")),
        (
            {"d": {"normal": {"mean": 1, "sd": 0}}},
            ("d", "normal", "normal", "sd"),
            ("d", "normal", "sd"),
        ),
        (
            {"d": {"triangular": [1, "x", 3]}},
            ("d", "triangular", "triangular", 1),
            ("d", "triangular", 1),
        ),
        ({"d": -2}, ("d", "fixed", "fixed"), ("d", "fixed")),
        ({"d": {"triangle": [1, 2, 3]}}, ("d",), ("d",)),
        (
            {"stages": [{"duration": 1}, {"duration": {"uniform": [9, 1]}}]},
            ("stages", 1, "duration", "uniform", "uniform"),
            ("stages", 1, "duration", "uniform"),
        ),
    ],
)
def test_clean_loc_drops_the_union_tag(
    raw: Any, raw_loc: tuple[Any, ...], loc: tuple[Any, ...]
) -> None:
    with pytest.raises(ValidationError) as info:
        _Scenario.model_validate(raw)
    (error,) = info.value.errors()
    assert error["loc"] == raw_loc
    assert clean_loc(error["loc"]) == loc


def test_clean_loc_leaves_other_locations_alone() -> None:
    assert clean_loc(("resources", "sales", "capacity")) == ("resources", "sales", "capacity")
    assert clean_loc(("fixed", "fixed", "capacity")) == ("fixed", "fixed", "capacity")
    # A user key that happens to equal the kind is kept; only the tag goes.
    assert clean_loc(("pert", "pert", "pert")) == ("pert", "pert")
    assert clean_loc(["d", "pert", "pert", "low"]) == ("d", "pert", "low")


def test_json_schema_accepts_what_validation_accepts() -> None:
    schema = ADAPTER.json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    good = [
        5,
        {"fixed": 3},
        {"uniform": [5, 10]},
        {"triangular": [5, 10, 20]},
        {"pert": [5, 8, 15]},
        {"pert": {"low": 5, "mode": 8, "high": 15, "lamb": 4}},
        {"lognormal": {"p50": 12, "p90": 30}},
        {"lognormal": {"mean": 10, "sd": 4}},
        {"normal": {"mean": 10, "sd": 3}},
        {"exponential": {"mean": 7}},
        {"empirical": [3, 5, 5, 8, 13]},
        {"discrete": {"values": [10, 20, 40], "p": [0.5, 0.3, 0.2]}},
    ]
    for raw in good:
        validator.validate(raw)
        spec(raw)
    for bad in ({"triangle": [5, 10, 20]}, {"fixed": 3, "uniform": [1, 2]}, "x", -1):
        assert not validator.is_valid(bad)
    assert isinstance(spec({"pert": [5, 8, 15]}), Pert)
