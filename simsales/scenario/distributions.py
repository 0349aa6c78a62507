"""Probability distributions of durations and values, as written in scenarios and as sampled.

Units: every parameter is a plain number whose unit is decided by the field that holds the
distribution: working days for a stage ``duration`` (plain days when the calendar is
``continuous``), currency units for a deal ``value``. Nothing here knows about either, and no
distribution can produce a negative number.

A scenario writes a distribution as a mapping with one key, the kind::

    {fixed: 3}                                   # a bare number such as 3 means the same
    {uniform: [5, 10]}                           # low, high
    {triangular: [5, 10, 20]}                    # low, mode, high
    {pert: [5, 8, 15]}                           # Beta-PERT; or {pert: {low, mode, high, lamb}}
    {lognormal: {p50: 12, p90: 30}}              # or {lognormal: {mean: 10, sd: 4}}
    {normal: {mean: 10, sd: 3}}                  # truncated at zero
    {exponential: {mean: 7}}
    {empirical: [3, 5, 5, 8, 13]}                # resampling of observed values
    {discrete: {values: [10, 20, 40], p: [0.5, 0.3, 0.2]}}

:data:`DistributionSpec` validates such a mapping into a frozen pydantic model; the model's
``sampler()`` gives a plain :class:`Sampler` for the simulation's hot loop.

Every sampler draws by *inverse transform*: one uniform per draw, mapped through the quantile
function (``ppf``). A what-if variant that changes a distribution therefore consumes the same
uniforms from the same streams as the base scenario, so its draws stay coupled to the base ones
(common random numbers) and the other streams are not shifted; comparisons between variants are
then much sharper than with independent draws. Even ``fixed`` consumes its uniforms for this
reason.
"""

from __future__ import annotations

import difflib
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy  # scipy.special is imported on first use: a scenario loads without it
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from simsales.errors import invalid

__all__ = [
    "KINDS",
    "MAX_LOG_SD",
    "MAX_MAGNITUDE",
    "Z90",
    "Discrete",
    "DiscreteParams",
    "DiscreteSampler",
    "DistributionSpec",
    "Empirical",
    "EmpiricalSampler",
    "Exponential",
    "ExponentialParams",
    "ExponentialSampler",
    "Fixed",
    "FixedSampler",
    "Lognormal",
    "LognormalParams",
    "LognormalSampler",
    "Normal",
    "NormalParams",
    "Pert",
    "PertParams",
    "PertSampler",
    "Sampler",
    "Triangular",
    "TriangularSampler",
    "TruncatedNormalSampler",
    "Uniform",
    "UniformSampler",
    "clean_loc",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]


# The standard normal 90% quantile, as scipy.special.ndtri(0.9) gives it (a test holds it to
# that): written out because importing scipy.special for one constant costs `validate` ~0.3 s.
Z90 = 1.2815515655446004


_P_SUM_TOLERANCE = 1e-9

# ---------------------------------------------------------------------------------------------
# Samplers: plain frozen objects for the hot loop.
# ---------------------------------------------------------------------------------------------


class Sampler(ABC):
    """A distribution ready to sample: quantile function, CDF and closed-form moments.

    ``low`` and ``high`` bound the support (``high`` may be ``inf``). Subclasses implement
    ``ppf``, ``cdf``, ``mean`` and ``var``; sampling is always ``ppf(rng.random(size))``.
    """

    __slots__ = ()

    low: float
    high: float
    is_fixed: ClassVar[bool] = False  # lets the engine skip sampling a constant

    @abstractmethod
    def ppf(self, u: FloatArray) -> FloatArray:
        """Quantile function, vectorized; ``u`` in [0, 1)."""

    @abstractmethod
    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        """P(X <= x), vectorized."""

    @abstractmethod
    def mean(self) -> float:
        """Expected value (closed form)."""

    @abstractmethod
    def var(self) -> float:
        """Variance (closed form)."""

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> FloatArray:
        """``size`` draws by inverse transform, one uniform each (see the module docstring)."""
        return self.ppf(rng.random(size))

    def ppf_remaining(self, u: FloatArray, elapsed: float) -> FloatArray:
        """Remaining time ``X - elapsed`` given ``X > elapsed``, from the engine's uniforms ``u``.

        The uniforms are squeezed into the part of [0, 1) above ``F(elapsed)``:
        ``u' = F(elapsed) + u * (1 - F(elapsed))``, ``X = ppf(u')``. If ``F(elapsed)`` is 1 (the
        deal is already past the end of the support, e.g. ``fixed: 3`` and 5 days elapsed) the
        result is all zeros: an overdue stage finishes at once.
        """
        f = float(self.cdf(elapsed))
        if f >= 1.0:
            return np.zeros(np.shape(u))
        x = self.ppf(f + u * (1.0 - f))
        # Rounding can put ppf(u') a hair below elapsed; remaining time is never negative.
        return np.maximum(x - elapsed, 0.0)

    def sample_remaining(
        self, rng: np.random.Generator, elapsed: float, size: int | tuple[int, ...]
    ) -> FloatArray:
        """``size`` draws of the remaining time after ``elapsed`` (see :meth:`ppf_remaining`)."""
        return self.ppf_remaining(rng.random(size), elapsed)


@dataclass(frozen=True, slots=True)
class FixedSampler(Sampler):
    """Always ``value``; never touches scipy."""

    value: float
    low: float = field(init=False)
    high: float = field(init=False)
    is_fixed: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", self.value)
        object.__setattr__(self, "high", self.value)

    def ppf(self, u: FloatArray) -> FloatArray:
        return np.full(np.shape(u), self.value)

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        return (np.asarray(x, dtype=float) >= self.value).astype(float)

    def mean(self) -> float:
        return self.value

    def var(self) -> float:
        return 0.0

    def ppf_remaining(self, u: FloatArray, elapsed: float) -> FloatArray:
        return np.full(np.shape(u), max(self.value - elapsed, 0.0))


@dataclass(frozen=True, slots=True)
class UniformSampler(Sampler):
    """Continuous uniform on [low, high]."""

    low: float
    high: float

    def ppf(self, u: FloatArray) -> FloatArray:
        return self.low + u * (self.high - self.low)

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        z = (np.asarray(x, dtype=float) - self.low) / (self.high - self.low)
        return np.clip(z, 0.0, 1.0)

    def mean(self) -> float:
        return (self.low + self.high) / 2

    def var(self) -> float:
        return (self.high - self.low) ** 2 / 12


@dataclass(frozen=True, slots=True)
class TriangularSampler(Sampler):
    """Triangular on [low, high] with peak at ``mode``."""

    low: float
    mode: float
    high: float

    def ppf(self, u: FloatArray) -> FloatArray:
        a, c, b = self.low, self.mode, self.high
        fc = (c - a) / (b - a)  # the CDF at the mode
        if not (isinstance(u, np.ndarray) and u.ndim and u.dtype == np.float64):
            left = a + np.sqrt(u * (b - a) * (c - a))
            right = b - np.sqrt((1.0 - u) * (b - a) * (b - c))
            return np.where(u < fc, left, right)
        # an array (the fast path's thousands of visits): the same operations, in two buffers
        # rather than a new array for each
        left = u * (b - a)
        left *= c - a
        np.sqrt(left, out=left)
        left += a
        right = 1.0 - u
        right *= b - a
        right *= b - c
        np.sqrt(right, out=right)
        np.subtract(b, right, out=right)
        np.copyto(right, left, where=u < fc)
        return right

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        a, c, b = self.low, self.mode, self.high
        xa = np.clip(np.asarray(x, dtype=float), a, b)
        with np.errstate(divide="ignore", invalid="ignore"):  # the branch not taken may be 0/0
            left = (xa - a) ** 2 / ((b - a) * (c - a))
            right = 1.0 - (b - xa) ** 2 / ((b - a) * (b - c))
        return np.where(xa <= c, np.where(xa <= a, 0.0, left), np.where(xa >= b, 1.0, right))

    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    def var(self) -> float:
        a, c, b = self.low, self.mode, self.high
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18


@dataclass(frozen=True, slots=True)
class PertSampler(Sampler):
    """Beta-PERT: ``low + (high - low) * Beta(alpha, beta)`` with the mode at ``mode``."""

    low: float
    mode: float
    high: float
    lamb: float = 4.0
    alpha: float = field(init=False)
    beta: float = field(init=False)

    def __post_init__(self) -> None:
        width = self.high - self.low
        object.__setattr__(self, "alpha", 1 + self.lamb * (self.mode - self.low) / width)
        object.__setattr__(self, "beta", 1 + self.lamb * (self.high - self.mode) / width)

    def ppf(self, u: FloatArray) -> FloatArray:
        # scipy.special's ufunc skips scipy.stats' per-call argument checking.
        z: FloatArray = scipy.special.betaincinv(self.alpha, self.beta, u)
        return self.low + (self.high - self.low) * z

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        z = (np.asarray(x, dtype=float) - self.low) / (self.high - self.low)
        out: FloatArray = scipy.special.betainc(self.alpha, self.beta, np.clip(z, 0.0, 1.0))
        return out

    def mean(self) -> float:
        return (self.low + self.lamb * self.mode + self.high) / (self.lamb + 2)

    def var(self) -> float:
        a, b = self.alpha, self.beta
        return (self.high - self.low) ** 2 * a * b / ((a + b) ** 2 * (a + b + 1))


@dataclass(frozen=True, slots=True)
class LognormalSampler(Sampler):
    """``exp(mu + sigma * Z)``, Z standard normal."""

    mu: float
    sigma: float
    low: float = field(default=0.0, init=False)
    high: float = field(default=math.inf, init=False)

    def ppf(self, u: FloatArray) -> FloatArray:
        return np.exp(self.mu + self.sigma * scipy.special.ndtri(u))

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        xa = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):  # log(0) = -inf gives the right CDF of 0
            z = (np.log(np.maximum(xa, 0.0)) - self.mu) / self.sigma
        out: FloatArray = scipy.special.ndtr(z)
        return out

    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    def var(self) -> float:
        s2 = self.sigma**2
        return math.expm1(s2) * math.exp(2 * self.mu + s2)


@dataclass(frozen=True, slots=True)
class TruncatedNormalSampler(Sampler):
    """Normal(``mu``, ``sigma``) conditioned on being >= 0."""

    mu: float
    sigma: float
    low: float = field(default=0.0, init=False)
    high: float = field(default=math.inf, init=False)
    _f0: float = field(init=False, repr=False)  # parent CDF at the truncation point 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "_f0", float(scipy.special.ndtr(-self.mu / self.sigma)))

    def ppf(self, u: FloatArray) -> FloatArray:
        x = self.mu + self.sigma * scipy.special.ndtri(self._f0 + u * (1.0 - self._f0))
        return np.maximum(x, 0.0)

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        xa = np.maximum(np.asarray(x, dtype=float), 0.0)
        f = scipy.special.ndtr((xa - self.mu) / self.sigma)
        return np.clip((f - self._f0) / (1.0 - self._f0), 0.0, 1.0)

    def _hazard(self) -> tuple[float, float]:
        a = -self.mu / self.sigma  # the truncation point in standard units
        return a, math.exp(-a * a / 2) / math.sqrt(2 * math.pi) / (1.0 - self._f0)

    def mean(self) -> float:
        _, h = self._hazard()
        return self.mu + self.sigma * h

    def var(self) -> float:
        a, h = self._hazard()
        return self.sigma**2 * (1 + a * h - h * h)


@dataclass(frozen=True, slots=True)
class ExponentialSampler(Sampler):
    """Exponential with mean ``scale``."""

    scale: float
    low: float = field(default=0.0, init=False)
    high: float = field(default=math.inf, init=False)

    def ppf(self, u: FloatArray) -> FloatArray:
        return -self.scale * np.log1p(-u)

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        return -np.expm1(-np.maximum(np.asarray(x, dtype=float), 0.0) / self.scale)

    def mean(self) -> float:
        return self.scale

    def var(self) -> float:
        return self.scale**2

    def ppf_remaining(self, u: FloatArray, elapsed: float) -> FloatArray:
        # Memoryless: same law as from scratch, and exact even far in the tail.
        return self.ppf(u)


@dataclass(frozen=True, slots=True)
class EmpiricalSampler(Sampler):
    """Resampling: each of the ``n`` observed values with probability 1/n (ties count twice)."""

    values: tuple[float, ...]
    low: float = field(init=False)
    high: float = field(init=False)
    _sorted: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        arr = np.sort(np.asarray(self.values, dtype=float))
        object.__setattr__(self, "_sorted", arr)
        object.__setattr__(self, "low", float(arr[0]))
        object.__setattr__(self, "high", float(arr[-1]))

    def ppf(self, u: FloatArray) -> FloatArray:
        n = len(self._sorted)
        idx = np.minimum((np.asarray(u) * n).astype(np.intp), n - 1)
        out: FloatArray = self._sorted[idx]
        return out

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        return np.searchsorted(self._sorted, x, side="right") / len(self._sorted)

    def mean(self) -> float:
        return float(np.mean(self._sorted))

    def var(self) -> float:
        return float(np.var(self._sorted))  # population variance: resampling is that law


@dataclass(frozen=True, slots=True)
class DiscreteSampler(Sampler):
    """``values[i]`` with probability ``p[i]``."""

    values: tuple[float, ...]
    p: tuple[float, ...]
    low: float = field(init=False)
    high: float = field(init=False)
    _support: FloatArray = field(init=False, repr=False, compare=False)
    _cum: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Sorted support without zero-probability values makes ppf monotone (a true quantile
        # function, needed for common random numbers); the last cumulative is exactly 1.
        v = np.asarray(self.values, dtype=float)
        p = np.asarray(self.p, dtype=float)
        keep = p > 0
        order = np.argsort(v[keep], kind="stable")
        support, prob = v[keep][order], p[keep][order]
        cum = np.cumsum(prob / prob.sum())
        cum[-1] = 1.0
        object.__setattr__(self, "_support", support)
        object.__setattr__(self, "_cum", cum)
        object.__setattr__(self, "low", float(support[0]))
        object.__setattr__(self, "high", float(support[-1]))

    def ppf(self, u: FloatArray) -> FloatArray:
        idx = np.searchsorted(self._cum, u, side="right")
        out: FloatArray = self._support[np.minimum(idx, len(self._support) - 1)]
        return out

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        idx = np.searchsorted(self._support, x, side="right")
        return np.concatenate(([0.0], self._cum))[idx]

    def mean(self) -> float:
        return float(np.dot(np.diff(self._cum, prepend=0.0), self._support))

    def var(self) -> float:
        p = np.diff(self._cum, prepend=0.0)
        m = float(np.dot(p, self._support))
        return float(np.dot(p, (self._support - m) ** 2))


# ---------------------------------------------------------------------------------------------
# Specs: what the scenario says, validated.
# ---------------------------------------------------------------------------------------------

_CONFIG = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)

MAX_MAGNITUDE = 1e15
"""Largest number a distribution parameter may be (and, in the schema, any amount of money).

Why: the engine sums values over deals and replications and multiplies them by factors (at most
100 each). With parameters up to 1e15, a lognormal spread up to :data:`MAX_LOG_SD` and at most
1e6 replications of 1e6 deals, every sum stays below ~1e80, far inside float64's 1.8e308, so no
total becomes inf or NaN. No contract value or duration comes near 1e15 in any currency or unit.
"""
MAX_LOG_SD = 10.0  # lognormal sigma: p90/p50 up to e^12.8 (~360,000x); the tail stays finite


def _within(x: float) -> float:
    if abs(x) > MAX_MAGNITUDE:
        raise invalid(
            f"{x:g} is too large: distribution parameters must be at most {MAX_MAGNITUDE:g}",
            "check the unit, days or the currency's units, and the exponent",
        )
    return x


Number = Annotated[float, AfterValidator(_within)]


_NEGATIVE_HINT = "durations and values cannot be negative"


def _nonnegative(name: str, x: float) -> None:
    if x < 0:
        raise invalid(f"{name} ({x:g}) must be >= 0", _NEGATIVE_HINT)


def _positive(name: str, x: float) -> None:
    if x <= 0:
        raise invalid(f"{name} ({x:g}) must be > 0", f"give a positive {name}")


def _ordered(names: Sequence[str], xs: Sequence[float]) -> None:
    """``low <= mode <= high`` (or ``low <= high``), all >= 0, and not all equal."""
    _nonnegative(names[0], xs[0])
    for i in range(len(xs) - 1):
        if xs[i] > xs[i + 1]:
            raise invalid(
                f"{names[i]} ({xs[i]:g}) must be <= {names[i + 1]} ({xs[i + 1]:g})",
                f"write [{', '.join(names)}] in increasing order",
            )
    if xs[0] == xs[-1]:
        raise invalid(
            f"{names[0]} ({xs[0]:g}) must be < {names[-1]} ({xs[-1]:g})",
            f"for a constant write {{fixed: {xs[0]:g}}}",
        )


def _arity(kind: str, names: Sequence[str]) -> BeforeValidator:
    """Say which numbers a list form needs, instead of pydantic's generic tuple message."""

    def check(value: Any) -> Any:
        if isinstance(value, list | tuple) and len(value) != len(names):
            raise invalid(
                f"{kind} needs {len(names)} numbers [{', '.join(names)}], got {len(value)}",
                f"write e.g. {{{kind}: {_EXAMPLES[kind]}}}",
            )
        return value

    return BeforeValidator(check)


_EXAMPLES = {
    "fixed": "3",
    "uniform": "[5, 10]",
    "triangular": "[5, 10, 20]",
    "pert": "[5, 8, 15]",
    "lognormal": "{p50: 12, p90: 30}",
    "normal": "{mean: 10, sd: 3}",
    "exponential": "{mean: 7}",
    "empirical": "[3, 5, 5, 8, 13]",
    "discrete": "{values: [10, 20, 40], p: [0.5, 0.3, 0.2]}",
}


class _Spec(BaseModel, ABC):
    """A distribution as written in a scenario; ``sampler()`` makes it ready to draw from.

    Every check sits on the single field (never on the model), so every error inside the union
    is located under ``(tag, kind, ...)``; :func:`clean_loc` relies on that.
    """

    model_config = _CONFIG
    kind: ClassVar[str]

    @abstractmethod
    def sampler(self) -> Sampler:
        """A plain frozen object for the simulation's hot loop."""


class Fixed(_Spec):
    """Always the same number; a bare number means the same."""

    kind: ClassVar[str] = "fixed"
    fixed: Number

    @field_validator("fixed")
    @classmethod
    def _check(cls, v: float) -> float:
        _nonnegative("fixed", v)
        return v

    def sampler(self) -> FixedSampler:
        return FixedSampler(self.fixed)


class Uniform(_Spec):
    """Uniform between [low, high]."""

    kind: ClassVar[str] = "uniform"
    uniform: Annotated[tuple[Number, Number], _arity("uniform", ("low", "high"))]

    @field_validator("uniform")
    @classmethod
    def _check(cls, v: tuple[float, float]) -> tuple[float, float]:
        _ordered(("low", "high"), v)
        return v

    def sampler(self) -> UniformSampler:
        return UniformSampler(*self.uniform)


class Triangular(_Spec):
    """Triangular over [low, mode, high]."""

    kind: ClassVar[str] = "triangular"
    triangular: Annotated[
        tuple[Number, Number, Number], _arity("triangular", ("low", "mode", "high"))
    ]

    @field_validator("triangular")
    @classmethod
    def _check(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        _ordered(("low", "mode", "high"), v)
        return v

    def sampler(self) -> TriangularSampler:
        return TriangularSampler(*self.triangular)


class PertParams(BaseModel):
    """Beta-PERT parameters; ``lamb`` weighs the mode (4 is the classic PERT)."""

    model_config = _CONFIG
    low: Number
    mode: Number
    high: Number
    lamb: Number = 4.0

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 3:
                raise invalid(
                    f"pert needs 3 numbers [low, mode, high], got {len(value)}",
                    "write e.g. {pert: [5, 8, 15]} or {pert: {low: 5, mode: 8, high: 15, lamb: 4}}",
                )
            return dict(zip(("low", "mode", "high"), value, strict=True))
        return value

    @model_validator(mode="after")
    def _check(self) -> PertParams:
        _ordered(("low", "mode", "high"), (self.low, self.mode, self.high))
        _nonnegative("lamb", self.lamb)
        return self


# The short list form is what people write; show it to editors too.
_PertInput = Annotated[
    PertParams,
    BeforeValidator(
        lambda v: v,
        json_schema_input_type=tuple[float, float, float] | PertParams,
    ),
]


class Pert(_Spec):
    """Beta-PERT over [low, mode, high] (lambda 4), or the long form with ``lamb``."""

    kind: ClassVar[str] = "pert"
    pert: _PertInput

    def sampler(self) -> PertSampler:
        p = self.pert
        return PertSampler(p.low, p.mode, p.high, p.lamb)


class LognormalParams(BaseModel):
    """Either the median and 90th percentile, or the mean and standard deviation."""

    model_config = _CONFIG
    p50: Number | None = None
    p90: Number | None = None
    mean: Number | None = None
    sd: Number | None = None

    @model_validator(mode="after")
    def _check(self) -> LognormalParams:
        given = {k for k in ("p50", "p90", "mean", "sd") if getattr(self, k) is not None}
        if given == {"p50", "p90"}:
            assert self.p50 is not None and self.p90 is not None  # for mypy
            _positive("p50", self.p50)
            if self.p50 >= self.p90:
                raise invalid(
                    f"p50 ({self.p50:g}) must be < p90 ({self.p90:g})",
                    "p90 is the value exceeded only 10% of the time: larger than the median",
                )
        elif given == {"mean", "sd"}:
            assert self.mean is not None and self.sd is not None
            _positive("mean", self.mean)
            _positive("sd", self.sd)
        else:
            raise invalid(
                f"lognormal needs either p50 and p90, or mean and sd; got {sorted(given)}",
                "write e.g. {lognormal: {p50: 12, p90: 30}} or {lognormal: {mean: 10, sd: 4}}",
            )
        sigma = self.log_sd()
        if not sigma <= MAX_LOG_SD:  # a wider spread draws tails that overflow sums
            raise invalid(
                f"the spread is too wide: the log standard deviation is {sigma:.3g}, "
                f"at most {MAX_LOG_SD:g}",
                "p90 more than ~360,000 times p50, or sd that much larger than mean, is no "
                "realistic duration or value; check the numbers",
            )
        return self

    def log_sd(self) -> float:
        """sigma of log(X), from either form."""
        if self.p50 is not None and self.p90 is not None:
            return (math.log(self.p90) - math.log(self.p50)) / Z90
        assert self.mean is not None and self.sd is not None
        return math.sqrt(math.log1p((self.sd / self.mean) ** 2))


class Lognormal(_Spec):
    """Lognormal from {p50, p90} or {mean, sd} (of the values themselves, not of their log)."""

    kind: ClassVar[str] = "lognormal"
    lognormal: LognormalParams

    def sampler(self) -> LognormalSampler:
        p = self.lognormal
        if p.p50 is not None and p.p90 is not None:
            mu = math.log(p.p50)
            return LognormalSampler(mu, (math.log(p.p90) - mu) / Z90)
        assert p.mean is not None and p.sd is not None  # guaranteed by validation
        s2 = math.log1p((p.sd / p.mean) ** 2)
        return LognormalSampler(math.log(p.mean) - s2 / 2, math.sqrt(s2))


class NormalParams(BaseModel):
    """Mean and sd of the normal *before* truncation at zero."""

    model_config = _CONFIG
    mean: Number
    sd: Number

    @field_validator("mean")
    @classmethod
    def _check_mean(cls, v: float) -> float:
        _nonnegative("mean", v)
        return v

    @field_validator("sd")
    @classmethod
    def _check_sd(cls, v: float) -> float:
        _positive("sd", v)
        return v


class Normal(_Spec):
    """Normal truncated at zero (never negative).

    ``mean`` and ``sd`` are those of the normal before truncation; when ``mean`` is within about
    three ``sd`` of zero the truncation raises the actual mean (see ``sampler().mean()``).
    """

    kind: ClassVar[str] = "normal"
    normal: NormalParams

    def sampler(self) -> TruncatedNormalSampler:
        return TruncatedNormalSampler(self.normal.mean, self.normal.sd)


class ExponentialParams(BaseModel):
    """The mean (1 / rate)."""

    model_config = _CONFIG
    mean: Number

    @field_validator("mean")
    @classmethod
    def _check(cls, v: float) -> float:
        _positive("mean", v)
        return v


class Exponential(_Spec):
    """Exponential with the given mean (memoryless)."""

    kind: ClassVar[str] = "exponential"
    exponential: ExponentialParams

    def sampler(self) -> ExponentialSampler:
        return ExponentialSampler(self.exponential.mean)


class Empirical(_Spec):
    """Observed values, resampled with equal weight."""

    kind: ClassVar[str] = "empirical"
    empirical: tuple[Number, ...]

    @field_validator("empirical")
    @classmethod
    def _check(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v:
            raise invalid("empirical needs at least one value", "list the observed values")
        if min(v) < 0:
            raise invalid(f"empirical values must be >= 0, got {min(v):g}", _NEGATIVE_HINT)
        return v

    def sampler(self) -> EmpiricalSampler:
        return EmpiricalSampler(self.empirical)


class DiscreteParams(BaseModel):
    """``values[i]`` occurs with probability ``p[i]``."""

    model_config = _CONFIG
    values: tuple[Number, ...]
    p: tuple[float, ...]

    @model_validator(mode="after")
    def _check(self) -> DiscreteParams:
        if not self.values:
            raise invalid("discrete needs at least one value", "list values and their p")
        if len(self.values) != len(self.p):
            raise invalid(
                f"values ({len(self.values)}) and p ({len(self.p)}) must have the same length",
                "give one probability per value",
            )
        if min(self.values) < 0:
            raise invalid(f"values must be >= 0, got {min(self.values):g}", _NEGATIVE_HINT)
        for i, p in enumerate(self.p):
            if not 0.0 <= p <= 1.0:
                raise invalid(f"p[{i}] ({p:g}) must be in [0, 1]", "probabilities are in [0, 1]")
        total = math.fsum(self.p)
        if abs(total - 1.0) > _P_SUM_TOLERANCE:
            raise invalid(f"p must sum to 1, got {total:.12g}", "adjust the probabilities")
        return self


class Discrete(_Spec):
    """Given values with given probabilities."""

    kind: ClassVar[str] = "discrete"
    discrete: DiscreteParams

    def sampler(self) -> DiscreteSampler:
        return DiscreteSampler(self.discrete.values, self.discrete.p)


# ---------------------------------------------------------------------------------------------
# The union users write, its discriminator, and error locations.
# ---------------------------------------------------------------------------------------------

_MODELS: dict[str, type[_Spec]] = {
    m.kind: m
    for m in (Fixed, Uniform, Triangular, Pert, Lognormal, Normal, Exponential, Empirical, Discrete)
}
KINDS: tuple[str, ...] = tuple(_MODELS)
"""The distribution kinds, in the order documentation lists them."""

_PARAM_NAMES = frozenset(
    name
    for params in (PertParams, LognormalParams, NormalParams, ExponentialParams, DiscreteParams)
    for name in params.model_fields
)


def _kind(value: Any) -> str | None:
    """The union's discriminator: a spec model's kind, or the single key of a mapping."""
    if isinstance(value, _Spec):
        return value.kind
    if isinstance(value, Mapping) and len(value) == 1:
        key = next(iter(value))
        return key if key in _MODELS else None
    return None


def _shape(value: Any) -> Any:
    """Accept a bare number as ``fixed``; explain any other shape the discriminator can't use."""
    if isinstance(value, _Spec):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"fixed": value}
    known = ", ".join(KINDS)
    if not isinstance(value, Mapping):
        raise invalid(
            # No braces in messages: pydantic would keep escaped ones doubled.
            f"expected a number or a distribution (a one-key mapping such as pert: [5, 8, 15]), "
            f"got {type(value).__name__} {value!r}",
            f"write a mapping with one key, the kind: {known}",
        )
    if len(value) != 1:
        keys = ", ".join(map(str, value)) or "none"
        raise invalid(
            f"a distribution has exactly one key (its kind), got {len(value)}: {keys}",
            f"keep one of the kinds: {known}",
        )
    key = next(iter(value))
    if key not in _MODELS:
        close = difflib.get_close_matches(str(key), KINDS, n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise invalid(
            f"unknown distribution {key!r}{suggestion}; known kinds are {known}",
            f"rename the key to {close[0]!r}" if close else "use one of the known kinds as key",
        )
    return value


_Tagged = Annotated[
    Annotated[Fixed, Tag("fixed")]
    | Annotated[Uniform, Tag("uniform")]
    | Annotated[Triangular, Tag("triangular")]
    | Annotated[Pert, Tag("pert")]
    | Annotated[Lognormal, Tag("lognormal")]
    | Annotated[Normal, Tag("normal")]
    | Annotated[Exponential, Tag("exponential")]
    | Annotated[Empirical, Tag("empirical")]
    | Annotated[Discrete, Tag("discrete")],
    Discriminator(
        _kind,
        custom_error_type="simsales",
        custom_error_message="expected a distribution: a mapping with one known kind as key",
    ),
]

DistributionSpec: TypeAlias = Annotated[
    _Tagged,
    BeforeValidator(_shape, json_schema_input_type=Annotated[float, Field(ge=0)] | _Tagged),
]
"""A distribution field: ``duration: DistributionSpec`` accepts ``{kind: params}`` or a number.

Validation errors inside a distribution carry the tag pydantic inserts for the union branch; pass
their ``loc`` through :func:`clean_loc` before showing them.
"""


def clean_loc(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """Remove the union tag pydantic inserts into an error location inside a distribution.

    Pydantic puts the discriminator's tag before the location inside the chosen model, and our
    tag equals the model's only field, so ``{"d": {"pert": [12, 9, 15]}}`` fails at
    ``("d", "pert", "pert")``; users expect ``("d", "pert")``, i.e. ``d.pert``. Likewise
    ``("stages", 3, "duration", "triangular", "triangular", 1)`` becomes
    ``("stages", 3, "duration", "triangular", 1)`` and
    ``("d", "normal", "normal", "sd")`` becomes ``("d", "normal", "sd")``.

    Only the last pair of equal kind names is collapsed, and only when it is followed by nothing,
    a list index or a parameter name (``low``, ``sd``, ...), so that is where a distribution's
    errors end. Errors found before a branch is chosen (unknown kind, several keys) are located
    at the distribution itself and pass through unchanged, as does any other location.
    """
    loc = tuple(loc)
    for i in range(len(loc) - 2, -1, -1):
        head, nxt = loc[i], loc[i + 1]
        if isinstance(head, str) and head in _MODELS and nxt == head:
            rest = loc[i + 2 : i + 3]
            if not rest or isinstance(rest[0], int) or rest[0] in _PARAM_NAMES:
                return loc[:i] + loc[i + 1 :]
            break
    return loc
