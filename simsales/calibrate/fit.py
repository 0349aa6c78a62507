"""Statistical fits behind calibration: pure functions of arrays, results as small dataclasses.

- :func:`fit_duration`: a lognormal fitted by maximum likelihood to durations that are
  interval-censored (dates known to the day), right-censored (deals still open) and
  left-truncated (deals begun before the export could see closes); 95% interval of the median
  from the observed information (the inverse Hessian of the log-likelihood).
- :func:`beta_rate`: a Beta posterior of a conversion (win) rate; :func:`eb_prior` fits the
  Beta prior that shrinks group rates towards the overall one (empirical Bayes, beta-binomial
  marginal likelihood).
- :func:`poisson_rate`: arrivals per month with the exact (Garwood) Poisson interval.
- :func:`fit_values`: a lognormal fitted to contract values.

Units: durations in days, rates per calendar month, values in the currency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, special, stats
from scipy.differentiate import hessian

from simsales.errors import SimsalesError

__all__ = [
    "Z90",
    "Z95",
    "ArrivalFit",
    "DurationFit",
    "EmpiricalFit",
    "RateFit",
    "ValueFit",
    "beta_rate",
    "eb_prior",
    "fit_duration",
    "fit_empirical",
    "fit_values",
    "month_exposure",
    "poisson_rate",
]

Z95 = float(special.ndtri(0.975))
Z90 = float(special.ndtri(0.9))
FloatArray = npt.NDArray[np.float64]
MIN_DONE = 3  # completed durations needed to fit a stage
FIXED_PRIOR_STRENGTH = 10.0  # pseudo-deals at the overall rate when too few groups to fit one


class _Lognormal:
    """What a lognormal ``exp(mu + sigma Z)`` fit says, and how it is written in a scenario."""

    mu: float
    sigma: float

    @property
    def median(self) -> float:
        return math.exp(self.mu)

    @property
    def p90(self) -> float:
        return math.exp(self.mu + Z90 * self.sigma)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    def spec(self) -> dict[str, object]:
        p50, p90 = _round(self.median), _round(self.p90)
        if p90 <= p50:
            return {"fixed": p50}
        return {"lognormal": {"p50": p50, "p90": p90}}


@dataclass(frozen=True)
class DurationFit(_Lognormal):
    """Lognormal ``exp(mu + sigma Z)`` in days, with the sample behind it."""

    mu: float
    sigma: float
    se_mu: float
    n_done: int  # completed durations
    n_open: int  # right-censored: still running
    n_truncated: int  # left-truncated: begun before the observation start

    @property
    def median_interval(self) -> tuple[float, float]:
        return math.exp(self.mu - Z95 * self.se_mu), math.exp(self.mu + Z95 * self.se_mu)


def _log_interval(a: FloatArray, b: FloatArray) -> FloatArray:
    """log(Phi(b) - Phi(a)) for a < b, accurate in both tails."""
    pos = a > 0  # both in the upper tail: use the survival side
    lo = np.where(pos, -b, a)
    hi = np.where(pos, -a, b)
    lhi = special.log_ndtr(hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = lhi + np.log1p(-np.exp(special.log_ndtr(lo) - lhi))
    return out


def fit_duration(
    low: npt.ArrayLike, high: npt.ArrayLike, truncation: npt.ArrayLike | None = None
) -> DurationFit:
    """Censored and truncated lognormal ML fit.

    Each duration is known to lie in ``(low, high]`` (``high = inf``: still running, right-
    censored); ``truncation`` > 0 means the deal would only be in the data had it lasted longer
    than that (left truncation). All in days.
    """
    lo = np.maximum(np.asarray(low, dtype=np.float64), 0.0)
    hi = np.asarray(high, dtype=np.float64)
    tr = np.zeros_like(lo) if truncation is None else np.asarray(truncation, dtype=np.float64)
    done = np.isfinite(hi)
    n_done = int(done.sum())
    if n_done < MIN_DONE:
        raise SimsalesError(
            f"only {n_done} completed durations (need {MIN_DONE}) to fit a stage duration",
        )
    with np.errstate(divide="ignore"):
        log_lo, log_hi = np.log(lo), np.log(hi)
        log_tr = np.where(tr > 0, np.log(np.maximum(tr, 1e-300)), -np.inf)
    truncated = tr > 0

    def nll(x: FloatArray) -> FloatArray:
        mu = x[0][..., None]
        sigma = np.exp(x[1])[..., None]
        ll = _log_interval((log_lo - mu) / sigma, (log_hi - mu) / sigma).sum(axis=-1)
        surv = special.log_ndtr(-(log_tr[truncated] - mu) / sigma).sum(axis=-1)
        out: FloatArray = -(ll - surv)
        return out

    mid = np.log(np.maximum((lo[done] + hi[done]) / 2, 1e-3))
    x0 = np.array([float(np.median(mid)), math.log(max(float(np.std(mid)), 0.1))])
    res = optimize.minimize(lambda x: float(nll(x)), x0, method="Nelder-Mead",
                            options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000})  # fmt: skip
    if not res.success or not np.isfinite(res.fun):
        raise SimsalesError(f"the duration fit did not converge: {res.message}")
    h = hessian(nll, res.x).ddf
    try:
        cov = np.linalg.inv(h)
        se_mu = math.sqrt(cov[0, 0]) if cov[0, 0] > 0 else math.inf
    except np.linalg.LinAlgError:
        se_mu = math.inf
    return DurationFit(
        mu=float(res.x[0]),
        sigma=float(math.exp(res.x[1])),
        se_mu=se_mu,
        n_done=n_done,
        n_open=int((~done).sum()),
        n_truncated=int(truncated.sum()),
    )


@dataclass(frozen=True)
class RateFit:
    """Beta(alpha, beta) posterior of a rate after ``successes`` out of ``trials``."""

    successes: int
    trials: int
    alpha: float
    beta: float
    prior_alpha: float
    prior_beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def interval(self) -> tuple[float, float]:
        """Equal-tailed 95% credible interval."""
        lo, hi = stats.beta.ppf([0.025, 0.975], self.alpha, self.beta)
        return float(lo), float(hi)


def beta_rate(successes: int, trials: int, prior: tuple[float, float] = (1.0, 1.0)) -> RateFit:
    """The Beta posterior of a rate; the default prior is uniform."""
    if not 0 <= successes <= trials:
        raise ValueError(f"successes ({successes}) must be in [0, trials ({trials})]")
    a, b = prior
    return RateFit(successes, trials, a + successes, b + trials - successes, a, b)


def eb_prior(successes: npt.ArrayLike, trials: npt.ArrayLike) -> tuple[float, float, str]:
    """Beta(alpha, beta) prior for group rates, shrinking them towards the overall rate.

    With three or more groups that have data, fitted by maximising the beta-binomial marginal
    likelihood over the mean and the strength ``alpha + beta`` (kept between 1 and the total
    number of trials: the prior never outweighs all the data). With fewer groups a fixed
    strength of ``FIXED_PRIOR_STRENGTH`` pseudo-trials at the overall rate. Returns alpha, beta
    and a note saying which.
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    keep = n > 0
    k, n = k[keep], n[keep]
    total_k, total_n = float(k.sum()), float(n.sum())
    overall = (total_k + 1) / (total_n + 2)
    if len(n) < 3:
        s = FIXED_PRIOR_STRENGTH
        return overall * s, (1 - overall) * s, f"fixed strength {s:g} (fewer than 3 groups)"
    top = math.log(max(total_n, 2.0))

    def nll(x: FloatArray) -> float:
        m = special.expit(x[0])
        s = math.exp(x[1])
        return -float(stats.betabinom.logpmf(k, n, m * s, (1 - m) * s).sum())

    x0 = np.array([special.logit(overall), min(math.log(20.0), top)])
    res = optimize.minimize(nll, x0, method="L-BFGS-B", bounds=[(-12, 12), (0.0, top)])
    m, s = float(special.expit(res.x[0])), float(math.exp(res.x[1]))
    return m * s, (1 - m) * s, f"empirical Bayes over {len(n)} groups, strength {s:.3g}"


@dataclass(frozen=True)
class ArrivalFit:
    count: int
    exposure_months: float
    per_month: float
    low: float  # exact 95% Poisson interval of the rate
    high: float


def poisson_rate(count: int, exposure_months: float) -> ArrivalFit:
    """Rate per month of ``count`` arrivals over ``exposure_months``, with Garwood's interval."""
    if exposure_months <= 0:
        raise SimsalesError("no time to count arrivals in (the history ends before it starts)")
    lo = 0.0 if count == 0 else float(stats.chi2.ppf(0.025, 2 * count)) / 2
    hi = float(stats.chi2.ppf(0.975, 2 * count + 2)) / 2
    return ArrivalFit(
        count, exposure_months, count / exposure_months, lo / exposure_months, hi / exposure_months
    )


def month_exposure(start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Calendar months in ``[start, end)``, partial months as the fraction of their days."""
    if end <= start:
        return 0.0
    total = 0.0
    month = start.to_period("M")
    while month.start_time < end:
        m0, m1 = month.start_time, (month + 1).start_time
        covered = (min(m1, end) - max(m0, start)).days
        total += covered / (m1 - m0).days
        month += 1
    return total


@dataclass(frozen=True)
class ValueFit(_Lognormal):
    """Lognormal fitted to ``n`` contract values (ML: mean and sd of their logs)."""

    n: int
    mu: float
    sigma: float

    @property
    def median_interval(self) -> tuple[float, float]:
        se = self.sigma / math.sqrt(self.n)
        return math.exp(self.mu - Z95 * se), math.exp(self.mu + Z95 * se)


def fit_values(values: npt.ArrayLike) -> ValueFit | None:
    """Lognormal of the positive values; None if there are none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) == 0:
        return None
    logs = np.log(v)
    sigma = float(logs.std(ddof=1)) if len(v) > 1 else 0.0
    return ValueFit(len(v), float(logs.mean()), sigma)


def _round(x: float, digits: int = 4) -> float:
    """``digits`` significant digits: enough for a plan, short enough to read."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


@dataclass(frozen=True)
class EmpiricalFit:
    """Kaplan-Meier distribution of whole-day durations, with delayed entry (left truncation).

    ``values``/``p``: the days on which deals finished and the probability of each;
    ``tail``: the probability of outlasting every finished duration (deals seen open longer
    than any that finished), placed at ``tail_value`` days.
    """

    values: tuple[float, ...]
    p: tuple[float, ...]
    tail: float
    tail_value: float
    n_done: int
    n_open: int
    n_truncated: int
    median: float  # inf when the survival never falls to 1/2
    median_interval: tuple[float, float]

    @property
    def p90(self) -> float:
        """Days by which 90% have finished (``tail_value`` if fewer ever finish)."""
        cum = np.cumsum(self.p)
        hit = np.flatnonzero(cum >= 0.9 - 1e-12)
        return float(self.values[hit[0]]) if len(hit) else self.tail_value

    def spec(self) -> dict[str, object]:
        values = list(self.values)
        probs = [float(f"{x:.6g}") for x in self.p]
        if self.tail > 0:
            values.append(self.tail_value)
            probs.append(float(f"{self.tail:.6g}"))
        probs[-1] = 1.0 - math.fsum(probs[:-1])  # exact sum of 1 for the loader
        return {"discrete": {"values": values, "p": probs}}


def fit_empirical(
    days: npt.ArrayLike,
    done: npt.ArrayLike,
    truncation: npt.ArrayLike | None = None,
    tail_value: float = 3650.0,
) -> EmpiricalFit:
    """Kaplan-Meier estimate of whole-day durations.

    ``days``: the finished duration (``done``) or the days a still-open deal has lasted so far
    (it finishes later than that). ``truncation``: a deal is in the data only because it lasted
    at least that many days (it enters the risk sets from then on). scipy's ``ecdf`` handles
    censoring but not this delayed entry, hence the few lines here. The median's 95% interval
    inverts Greenwood's pointwise interval of the survival function.
    """
    t = np.asarray(days, dtype=np.float64)
    d = np.asarray(done, dtype=bool)
    tr = np.zeros_like(t) if truncation is None else np.asarray(truncation, dtype=np.float64)
    if int(d.sum()) < MIN_DONE:
        raise SimsalesError(
            f"only {int(d.sum())} completed durations (need {MIN_DONE}) to fit a stage duration"
        )
    times = np.unique(t[d])
    # at risk on day s: entered (s >= truncation) and not finished or censored before s;
    # an open deal that has lasted c days is known to finish after day c.
    exits = np.where(d, t, t + 0.5)
    n_risk = np.array([np.count_nonzero((tr <= s) & (exits >= s)) for s in times], dtype=np.float64)
    events = np.array([np.count_nonzero(d & (t == s)) for s in times], dtype=np.float64)
    hazard = np.where(n_risk > 0, events / np.maximum(n_risk, 1.0), 0.0)
    surv: FloatArray = np.cumprod(1.0 - hazard).astype(np.float64)
    prev = np.concatenate([[1.0], surv[:-1]])
    p = prev - surv
    with np.errstate(divide="ignore", invalid="ignore"):
        green = np.cumsum(np.where(n_risk > events, events / (n_risk * (n_risk - events)), 0.0))
    half: FloatArray = Z95 * surv * np.sqrt(green)
    median = _first_at_or_below(times, surv, 0.5)
    lo = _first_at_or_below(times, surv - half, 0.5)
    hi = _first_at_or_below(times, surv + half, 0.5)
    keep = p > 0
    return EmpiricalFit(
        values=tuple(float(x) for x in times[keep]),
        p=tuple(float(x) for x in p[keep]),
        tail=float(surv[-1]),
        tail_value=max(tail_value, float(t.max()) * 2),
        n_done=int(d.sum()),
        n_open=int((~d).sum()),
        n_truncated=int((tr > 0).sum()),
        median=median,
        median_interval=(lo, hi),
    )


def _first_at_or_below(times: FloatArray, surv: FloatArray, level: float) -> float:
    below = np.flatnonzero(surv <= level)
    return float(times[below[0]]) if len(below) else math.inf
