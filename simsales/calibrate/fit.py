"""Statistical fits behind calibration: pure functions of arrays, results as small dataclasses.

- :func:`fit_duration`: a lognormal fitted by maximum likelihood to durations that are
  interval-censored (dates known to the day), right-censored (deals still open) and
  left-truncated (deals begun before the export could see closes); 95% interval of the median
  from the observed information (the inverse Hessian of the log-likelihood).
- :func:`beta_rate`: a Beta posterior of a conversion (win) rate; :func:`eb_prior` fits the
  Beta prior that shrinks group rates towards the overall one (empirical Bayes, beta-binomial
  marginal likelihood).
- :func:`poisson_rate`: arrivals per month with the exact (Garwood) Poisson interval;
  :func:`bulk_days`: days whose new deals a Poisson day cannot explain (a migration's load);
  :func:`age_at_load`: the age in their stage that loaded deals' own times after the load show.
- :func:`fit_values`: a lognormal fitted to contract values, or the values resampled where
  their logs are plainly not normal.
- :func:`won_cycle`: a month-of-quarter / month-of-year cycle of the chance to win, if supported.
- :func:`count_drift`, :func:`odds_drift`, :func:`value_drift`: a parameter's sampling variance
  and its between-month drift, counted only when a dispersion test rejects homogeneous months
  at 1% (``DRIFT_LEVEL``).

Units: durations in days, rates per calendar month, values in the currency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, special, stats
from scipy.differentiate import hessian

from simsales.errors import SimsalesError
from simsales.scenario.distributions import Z90

__all__ = [
    "LOADED_MIN_DONE",
    "Z90",
    "Z95",
    "ArrivalFit",
    "DurationFit",
    "EmpiricalFit",
    "LoadedAge",
    "RateFit",
    "ValueFit",
    "age_at_load",
    "beta_rate",
    "bulk_days",
    "eb_prior",
    "fit_duration",
    "fit_empirical",
    "fit_values",
    "month_exposure",
    "poisson_rate",
    "probabilities",
    "type_trends",
]

Z95 = float(special.ndtri(0.975))
FloatArray = npt.NDArray[np.float64]
MIN_DONE = 3  # completed durations needed to fit a stage
TAIL_FACTOR = 2.0  # a lognormal whose P90 passes this many times the longest time seen: refused
FIXED_PRIOR_STRENGTH = 10.0  # pseudo-deals at the overall rate when too few groups to fit one


def _exp(x: float) -> float:
    """``exp(x)``, infinite past the largest double (a fit with an absurd spread)."""
    return math.exp(x) if x < 709.0 else math.inf


class _Lognormal:
    """What a lognormal ``exp(mu + sigma Z)`` fit says, and how it is written in a scenario."""

    mu: float
    sigma: float

    @property
    def median(self) -> float:
        return _exp(self.mu)

    @property
    def p90(self) -> float:
        return _exp(self.mu + Z90 * self.sigma)

    @property
    def mean(self) -> float:
        return _exp(self.mu + self.sigma**2 / 2)

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
        return _exp(self.mu - Z95 * self.se_mu), _exp(self.mu + Z95 * self.se_mu)


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
    # the tolerance on the likelihood is relative: a sum over thousands of narrow intervals is
    # only that precise (rounding noise of ~1e-12 of its size), far finer than a nat
    fatol = max(1e-9, 1e-11 * abs(float(nll(x0))))
    res = optimize.minimize(lambda x: float(nll(x)), x0, method="Nelder-Mead",
                            options={"xatol": 1e-7, "fatol": fatol, "maxiter": 4000})  # fmt: skip
    if not res.success or not np.isfinite(res.fun):
        raise SimsalesError(f"the duration fit did not converge: {res.message}")
    # One central-difference pass (7 batched likelihoods) instead of the adaptive default's
    # hundreds: it agrees to ~1e-8 on the standard error, all it is used for.
    h = hessian(nll, res.x, maxiter=1, order=2, initial_step=1e-3).ddf
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


VALUE_LEVEL = 0.01  # the logs' normality test: where it rejects, the values are resampled
MIN_RESAMPLED = 30  # values needed to resample them rather than fit a lognormal


@dataclass(frozen=True)
class ValueFit(_Lognormal):
    """Lognormal fitted to ``n`` contract values (ML: mean and sd of their logs), or the
    values themselves (``resampled``) where their logs are plainly not normal."""

    n: int
    mu: float
    sigma: float
    resampled: tuple[float, ...] = ()

    @property
    def median(self) -> float:
        return float(np.median(self.resampled)) if self.resampled else super().median

    @property
    def median_interval(self) -> tuple[float, float]:
        if self.resampled:  # the order statistics whose ranks hold the median at 95%
            v = np.sort(self.resampled)
            lo, hi = stats.binom.ppf([0.025, 0.975], self.n, 0.5).astype(int)
            return float(v[max(lo - 1, 0)]), float(v[min(hi, self.n - 1)])
        se = self.sigma / math.sqrt(self.n)
        return math.exp(self.mu - Z95 * se), math.exp(self.mu + Z95 * se)

    def spec(self) -> dict[str, object]:
        if self.resampled:
            return {"empirical": list(self.resampled)}
        return super().spec()


def fit_values(values: npt.ArrayLike) -> ValueFit | None:
    """Lognormal of the positive values; None if there are none. With ``MIN_RESAMPLED``
    values or more whose logs D'Agostino and Pearson's test of normality (skew and kurtosis)
    rejects at ``VALUE_LEVEL``, the values themselves, to be resampled: a few whales among
    many small deals (a Pareto tail), or list prices with discounts, are not a lognormal, and
    one fitted to them misses revenue on both sides (too thin a tail, too high a middle)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) == 0:
        return None
    logs = np.log(v)
    sigma = float(logs.std(ddof=1)) if len(v) > 1 else 0.0
    fit = ValueFit(len(v), float(logs.mean()), sigma)
    plain = len(v) >= MIN_RESAMPLED and sigma > 0
    if plain and float(stats.normaltest(logs).pvalue) < VALUE_LEVEL:
        # in order: the same deals read from any file give the same scenario
        return replace(fit, resampled=tuple(float(x) for x in np.sort(v)))
    return fit


LOAD_LEVEL = 1e-3  # a bulk day: its count beyond the Poisson at this level / days (Bonferroni)
LOAD_WINDOW = 91  # days either side whose same weekdays give a day's expected count (13 weeks)
LOAD_NEAR = 3  # days either side whose mean count also bounds it below (a surge is no load)
LOAD_MIN = 20  # fewer new deals on one day are no bulk load, however quiet the days around


def bulk_days(opened: pd.Series) -> list[pd.Timestamp]:
    """Days on which deals were loaded in bulk (a migration from another tool, a list
    imported at once): more deals opened that day than a Poisson count gives with probability
    ``LOAD_LEVEL`` over the number of days with deals (Bonferroni), at the larger of the mean
    count of the same weekday in the ``LOAD_WINDOW`` days either side (so a weekly data-entry
    habit or a busy Monday is judged against its own kind) and the mean of the ``LOAD_NEAR``
    days either side (so a surge of busy days is no load), the day itself left out of both;
    and at least ``LOAD_MIN`` deals. A migration writes its load day as every old deal's
    creation, so their arrivals and first stage's time are not what they were."""
    days = pd.to_datetime(opened).dropna().dt.normalize()
    if len(days) < LOAD_MIN:
        return []
    counts = days.value_counts()
    span = pd.date_range(counts.index.min(), counts.index.max(), freq="D")
    daily = counts.reindex(span, fill_value=0).to_numpy(dtype=np.float64)
    level = LOAD_LEVEL / len(counts)
    found = []
    for i in np.flatnonzero(daily >= LOAD_MIN):
        same = np.arange(i % 7, len(daily), 7)
        near = same[(np.abs(same - i) <= LOAD_WINDOW) & (same != i)]
        rate = float(daily[near].mean()) if len(near) else 0.0
        around = np.r_[daily[max(i - LOAD_NEAR, 0) : i], daily[i + 1 : i + 1 + LOAD_NEAR]]
        rate = max(rate, float(around.mean()) if len(around) else 0.0)
        if float(stats.poisson.sf(daily[i] - 1, rate)) < level:
            found.append(span[i])
    return found


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


@dataclass(frozen=True)
class CumulativeIncidence:
    """Aalen-Johansen estimate of competing exits: ``surv[j]`` the probability of still being
    in the stage just after ``times[j]``, ``jumps[k][j]`` the probability of leaving by exit
    ``k`` at ``times[j]``; ``cif(k)`` the cumulative incidence of exit ``k`` at the end."""

    times: FloatArray
    surv: FloatArray
    jumps: dict[str, FloatArray]
    events: dict[str, int]
    n_open: int
    n_truncated: int

    @property
    def tail(self) -> float:
        """Probability of outlasting every observed exit."""
        return float(self.surv[-1]) if len(self.surv) else 1.0

    def cif(self, exit_to: str) -> float:
        return float(self.jumps[exit_to].sum())


def aalen_johansen(
    time: npt.ArrayLike,
    exit_to: npt.ArrayLike,
    entry: npt.ArrayLike | None = None,
) -> CumulativeIncidence:
    """Cumulative incidence of competing exits with right censoring and late entry.

    ``time``: days in the stage until the exit, or (for a visit still open, ``exit_to`` None or
    empty) the days it is known to have lasted; such a visit is at risk at every exit time up
    to and including that. ``entry`` > 0: the visit is in the data only because it lasted more
    than that many days (left truncation): at risk only at exit times after it. At each exit
    time ``s``: ``n(s)`` at risk, ``d_k(s)`` exits of kind ``k``; the survival ``S`` steps by
    ``1 - d(s)/n(s)`` and exit ``k`` gains ``S(s-) d_k(s) / n(s)`` (Aalen and Johansen 1978).
    """
    t = np.asarray(time, dtype=np.float64)
    to = np.array([("" if x is None or x != x else str(x)) for x in np.asarray(exit_to, object)])
    a = np.full(len(t), -np.inf) if entry is None else np.asarray(entry, dtype=np.float64)
    a = np.where(a > 0, a, -np.inf)
    done = to != ""
    times = np.unique(t[done])
    sorted_entry = np.sort(a)
    sorted_last = np.sort(t)
    n_risk = np.searchsorted(sorted_entry, times, side="left") - np.searchsorted(
        sorted_last, times, side="left"
    )
    kinds = sorted({str(x) for x in to[done]})
    idx = np.searchsorted(times, t[done])
    d_by = {k: np.bincount(idx[to[done] == k], minlength=len(times)).astype(np.float64)
            for k in kinds}  # fmt: skip
    d_all = np.sum(list(d_by.values()), axis=0) if kinds else np.zeros(len(times))
    n = np.maximum(n_risk.astype(np.float64), d_all)  # never fewer at risk than leaving
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(n > 0, d_all / n, 0.0)
    surv: FloatArray = np.cumprod(1.0 - h).astype(np.float64)
    before = np.concatenate([[1.0], surv[:-1]])
    jumps = {k: np.where(n > 0, before * d_by[k] / np.maximum(n, 1.0), 0.0) for k in kinds}
    return CumulativeIncidence(
        times=times,
        surv=surv,
        jumps=jumps,
        events={k: int(d_by[k].sum()) for k in kinds},
        n_open=int((~done).sum()),
        n_truncated=int(np.isfinite(a).sum()),
    )


LOADED_MIN_DONE = 25  # exits of each curve matched: its share still open to about ±0.2


@dataclass(frozen=True)
class LoadedAge:
    """The age in the stage at which loaded deals behave as they did after their load
    (:func:`age_at_load`), from ``n_done`` exits in the ``horizon`` days after it, when
    ``still`` of them were open."""

    age: float
    horizon: float
    still: float
    n_done: int


def _incidence(ci: CumulativeIncidence, x: FloatArray) -> tuple[FloatArray, dict[str, FloatArray]]:
    """The survival and each exit's cumulative incidence of ``ci`` at days ``x``."""
    at = np.searchsorted(ci.times, x, side="right")  # exits on or before x
    surv = np.concatenate([[1.0], ci.surv])[at]
    cif = {k: np.concatenate([[0.0], np.cumsum(j)])[at] for k, j in ci.jumps.items()}
    return surv, cif


def age_at_load(
    stage: CumulativeIncidence, loaded: CumulativeIncidence, horizon: float
) -> LoadedAge | None:
    """How old loaded deals were in their stage at the load, from what they did after it.

    A migration stamps its load day on every deal it brings, in the stage each was in then;
    how long each had been there is lost, and aging them from the load makes them as young as
    a new visit (too many quick wins: a stage's early exits are its wins). ``loaded``: the
    loaded visits' exits counted from the load (Aalen-Johansen, open ones censored);
    ``stage``: the same of the stage's visits that were not loaded. The age ``u`` chosen is
    the one whose exits after it, each exit's ``(C(u + r) - C(u)) / S(u)``, are closest in
    least squares to the loaded visits' own cumulative incidences over the days ``r`` up to
    ``horizon`` (as long as the open ones were followed; ``still`` were open then): where
    they went tells their age as well as when. Candidate ages are the stage's exit days, the
    youngest of equals. None with fewer than ``LOADED_MIN_DONE`` exits after the load, or of
    the stage's own visits."""
    n_done = sum(loaded.events.values())
    if min(n_done, sum(stage.events.values())) < LOADED_MIN_DONE:
        return None
    r = np.linspace(0.0, horizon, 65)[1:]
    seen_surv, seen = _incidence(loaded, r)
    ages = np.concatenate([[0.0], stage.times])
    ages = ages[_incidence(stage, ages)[0] > 0]  # ages some visit lives to
    at, cif_at = _incidence(stage, ages)
    _, cif_later = _incidence(stage, (ages[:, None] + r[None, :]).ravel())
    miss = np.zeros(len(ages))
    for k in set(seen) | set(cif_at):
        model = np.zeros((len(ages), len(r)))
        if k in cif_at:
            model = (cif_later[k].reshape(model.shape) - cif_at[k][:, None]) / at[:, None]
        miss += ((model - seen.get(k, np.zeros(len(r)))[None, :]) ** 2).sum(axis=1)
    best = int(np.argmin(miss))  # the first of equals: the youngest
    return LoadedAge(float(ages[best]), horizon, float(seen_surv[-1]), n_done)


@dataclass(frozen=True)
class ExitTimeFit:
    """The time in the stage of the deals that leave one way, and how it is written."""

    spec: dict[str, object]
    kind: str  # "empirical" or "lognormal"
    median: float
    p90: float
    note: str  # why this form (and any refused fit)


def _day_bins(times: FloatArray, date_only: bool) -> tuple[FloatArray, FloatArray]:
    """Whole-day bins ``[lo, hi)`` of exit times (dates known to the day: ``t +- 0.5``)."""
    if date_only:
        b = np.round(times)
        return np.maximum(b - 0.5, 0.0), b + 0.5
    b = np.floor(times)
    return b, b + 1.0


def _quantile(values: FloatArray, p: FloatArray, q: float) -> float:
    cum = np.cumsum(p) / max(float(p.sum()), 1e-300)
    hit = np.flatnonzero(cum >= q - 1e-12)
    return float(values[hit[0]]) if len(hit) else float(values[-1])


def fit_exit_time(
    times: FloatArray,
    mass: FloatArray,
    events: int,
    *,
    date_only: bool,
    longest: float,
    parametric: bool = True,
    tail_factor: float = TAIL_FACTOR,
) -> ExitTimeFit:
    """The time-in-stage distribution of one exit, from its Aalen-Johansen jumps.

    The empirical distribution (the normalised jumps, on whole days; times under a day kept to
    the hour so click-throughs stay a point mass near zero) is the default. A lognormal, fitted
    by maximum likelihood to the same day bins weighted by the jumps, replaces it when its AIC
    (2 parameters) is lower than the empirical one's (one parameter per distinct day less one)
    with ``events`` observations, and when its tail is plausible: a lognormal whose P90 is more
    than ``tail_factor`` times the longest time any deal was seen in the stage is refused (the
    note says so) and the empirical kept.
    """
    w = mass / mass.sum()
    quant = np.where(times < 1.0, np.round(times * 24) / 24, np.round(times))
    values, inverse = np.unique(quant, return_inverse=True)
    raw = np.bincount(inverse, weights=w, minlength=len(values))
    keep = raw > 0
    values = values[keep]
    probs: FloatArray = np.asarray(raw[keep], dtype=np.float64)
    empirical_spec: dict[str, object] = {
        "discrete": {
            "values": [float(f"{v:.6g}") for v in values],
            "p": probabilities(probs),
        }
    }
    emp = ExitTimeFit(
        empirical_spec,
        "empirical",
        _quantile(values, probs, 0.5),
        _quantile(values, probs, 0.9),
        f"empirical ({len(values)} distinct times)",
    )
    if not parametric or events < MIN_DONE or len(values) < 3:
        return emp
    lo, hi = _day_bins(times, date_only)
    bins, inv = np.unique(np.stack([lo, hi], axis=1), axis=0, return_inverse=True)
    wb = np.bincount(inv.ravel(), weights=w, minlength=len(bins))
    with np.errstate(divide="ignore"):
        log_lo, log_hi = np.log(bins[:, 0]), np.log(bins[:, 1])

    def nll(x: FloatArray) -> float:
        mu, sigma = x[0], math.exp(x[1])
        ll = _log_interval((log_lo - mu) / sigma, (log_hi - mu) / sigma)
        return -float(np.sum(wb * np.where(wb > 0, ll, 0.0)))

    mid = np.log(np.maximum((bins[:, 0] + bins[:, 1]) / 2, 1e-3))
    m0 = float(np.sum(wb * mid))
    s0 = math.sqrt(max(float(np.sum(wb * (mid - m0) ** 2)), 0.01))
    res = optimize.minimize(nll, np.array([m0, math.log(s0)]), method="Nelder-Mead")
    if not res.success or not np.isfinite(res.fun):
        return emp
    mu, sigma = float(res.x[0]), float(math.exp(res.x[1]))
    ll_param = -events * float(res.fun)
    ll_emp = events * float(np.sum(wb[wb > 0] * np.log(wb[wb > 0])))
    aic_param, aic_emp = 4.0 - 2 * ll_param, 2.0 * (len(bins) - 1) - 2 * ll_emp
    median, p90 = _exp(mu), _exp(mu + Z90 * sigma)
    if aic_param >= aic_emp:
        return emp
    if p90 > tail_factor * max(longest, 1.0):
        return ExitTimeFit(
            empirical_spec, "empirical", emp.median, emp.p90,
            f"empirical: the lognormal fit was refused (P90 {p90:,.0f} d, more than "
            f"{tail_factor:g}x the longest {longest:,.0f} d ever seen in the stage)",
        )  # fmt: skip
    spec = _LognormalSpec(mu, sigma).spec()
    return ExitTimeFit(spec, "lognormal", median, p90, "lognormal (AIC below the empirical)")


@dataclass(frozen=True)
class _LognormalSpec(_Lognormal):
    mu: float
    sigma: float


def probabilities(p: FloatArray) -> list[float]:
    """Rounded probabilities that sum to exactly 1 (the loader checks)."""
    out = [float(f"{x:.6g}") for x in p / p.sum()]
    out[-1] = max(0.0, 1.0 - math.fsum(out[:-1]))
    return out


DRIFT_LEVEL = 0.01  # the dispersion test's level: drift is counted only when it rejects


@dataclass(frozen=True)
class Drift:
    """A per-replication multiplier's spread: the sampling part and the drift beyond it.

    The between-month part is counted only when a dispersion test rejects homogeneity of the
    months at ``DRIFT_LEVEL`` (1%): Pearson's chi-square of the months against the fitted
    model (``chi2``) on ``df`` = months - parameters fitted to them; otherwise it is 0."""

    sampling_var: float  # of the log of the parameter
    between_var: float  # of the log, beyond sampling noise (0 unless the test rejects)
    periods: int  # months the between-month part was measured over
    n: int = 0  # observations behind the pooled estimate
    chi2: float = math.nan  # the dispersion statistic (nan: not tested)
    df: int = 0  # its degrees of freedom
    p_value: float = math.nan  # P(chi2 or more | homogeneous months)
    between_se: float = math.nan  # standard error of the between-month estimate
    statistic: str = "chi2"  # the name of ``chi2`` in the notes
    horizon_months: float = 1.0  # months the between-month part is averaged over (see over)
    # of the log of a factor drawn every month (uncertainty.monthly), on the scale the engine
    # applies it to (arrival rates; the chance to win): nan where the drift is not monthly
    monthly_var: float = math.nan

    @property
    def sd_log(self) -> float:
        return math.sqrt(self.sampling_var + self.between_var)

    @property
    def monthly(self) -> bool:
        """Whether the between-month part is drawn month by month (``monthly_spec``)."""
        return math.isfinite(self.monthly_var)

    def over(self, months: float) -> Drift:
        """The spread of one multiplier for a run of ``months`` months (at least one): the
        between-month variance is of months that vary independently about their level, so
        the factor of their mean has ``1 / months`` of it; the sampling part, the level's own
        error, is every month's and stays whole."""
        k = max(1.0, months)
        return replace(self, between_var=self.between_var / k, horizon_months=k)

    @property
    def rejected(self) -> bool:
        """Whether the test rejected homogeneous months (and the drift is counted)."""
        return bool(self.p_value < DRIFT_LEVEL)

    @property
    def test_note(self) -> str:
        """The dispersion test in words (for the scenario's comments)."""
        if not math.isfinite(self.chi2):
            return "not tested"
        verdict = "rejected" if self.rejected else "not rejected"
        return (
            f"{self.statistic} {self.chi2:.1f} on {self.df} df, p = {self.p_value:.2g}: "
            f"homogeneity {verdict} at {DRIFT_LEVEL:g}"
        )

    def spec(self) -> dict[str, object] | None:
        """The once-per-replication multiplier: lognormal of mean 1 with this spread, but for
        the between-month part where that is drawn every month (None when there is none)."""
        return _lognormal(self.sampling_var + (0.0 if self.monthly else self.between_var))

    def monthly_spec(self) -> dict[str, object] | None:
        """The factor drawn every month (None when the drift is not monthly, or zero)."""
        return _lognormal(self.monthly_var) if self.monthly else None


def _lognormal(var_log: float) -> dict[str, object] | None:
    """A lognormal of mean 1 whose log has variance ``var_log`` (None when about zero)."""
    if not math.isfinite(var_log) or var_log < 1e-8:
        return None
    return {"lognormal": {"mean": 1, "sd": float(f"{math.sqrt(math.expm1(var_log)):.4g}")}}


def _p_value(chi2: float, df: int) -> float:
    return float(stats.chi2.sf(chi2, df)) if df > 0 and math.isfinite(chi2) else math.nan


def count_drift(
    counts: npt.ArrayLike, exposure: npt.ArrayLike, expected: npt.ArrayLike, fitted: int = 1
) -> Drift:
    """Drift of a Poisson rate from monthly counts against the model's expected counts.

    Sampling variance of the log of the pooled rate: ``1 / total``. Between months: Pearson's
    ``X^2 = sum (c - e)^2 / e`` on ``df = months - fitted`` (``fitted``: the parameters of the
    model that gave ``e``, e.g. 1 for a constant rate, 2 with a trend, 4 with a trend and a
    month-of-quarter cycle) tests homogeneity at ``DRIFT_LEVEL``. Only when it rejects, the
    counts' relative variance beyond Poisson noise is estimated by the method of moments,
    ``v = (X^2 / df - 1) / mean(e)`` (a rate multiplied by a factor of relative variance ``v``
    gives counts of variance ``e + e^2 v``, and ``E[X^2] = df (1 + mean(e) v)``), and the
    between-month variance of the log is ``log(1 + v)`` (a lognormal with that relative
    variance); otherwise it is 0."""
    c = np.asarray(counts, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    ok = (np.asarray(exposure, dtype=np.float64) > 0) & (e > 0)
    c, e = c[ok], e[ok]
    total = float(c.sum())
    if total <= 0:
        return Drift(math.inf, 0.0, int(ok.sum()))
    df = len(c) - fitted
    if df < 1:
        return Drift(1.0 / total, 0.0, len(c), int(total))
    chi2 = float(np.sum((c - e) ** 2 / e))
    p = _p_value(chi2, df)
    mean_e = float(e.mean())
    v = max(chi2 / df - 1.0, 0.0) / mean_e
    # X^2 / df is about a scaled chi-square: sd sqrt(2 / df) (1 + mean(e) v)
    se = math.sqrt(2.0 / df) * (1.0 / mean_e + v) / (1.0 + v)
    between = math.log1p(v) if p < DRIFT_LEVEL else 0.0
    return Drift(1.0 / total, between, len(c), int(total), chi2, df, p, se)


def odds_drift(successes: npt.ArrayLike, trials: npt.ArrayLike, fitted: int = 1) -> Drift:
    """Drift of a rate's odds from monthly successes out of trials.

    Sampling variance of the pooled log-odds: ``1 / (N p (1 - p))`` (binomial). Between
    months: Pearson's ``X^2 = sum (k - n p)^2 / (n p (1 - p))`` on ``df = months - fitted``
    tests homogeneity at ``DRIFT_LEVEL``; only when it rejects, the variance of the monthly
    log-odds (half-corrected) less the mean of their binomial variances ``1 / (n_m p (1 - p))``
    (method of moments, floored at zero); otherwise 0."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    ok = n > 0
    k, n = k[ok], n[ok]
    total_n = float(n.sum())
    if total_n <= 0:
        return Drift(math.inf, 0.0, 0)
    p = (float(k.sum()) + 0.5) / (total_n + 1.0)
    sampling = 1.0 / (total_n * p * (1 - p))
    df = len(n) - fitted
    if df < 1:
        return Drift(sampling, 0.0, len(n), int(total_n))
    p_hat = float(k.sum()) / total_n
    var = n * max(p_hat * (1 - p_hat), 1e-12)
    chi2 = float(np.sum((k - n * p_hat) ** 2 / var))
    pv = _p_value(chi2, df)
    logit = np.log((k + 0.5) / (n - k + 0.5))
    noise = float(np.mean(1.0 / (n * p * (1 - p))))
    raw = max(float(np.var(logit, ddof=1)) - noise, 0.0)
    se = math.sqrt(2.0 / df) * (noise + raw)
    between = raw if pv < DRIFT_LEVEL else 0.0
    return Drift(sampling, between, len(n), int(total_n), chi2, df, pv, se)


def value_drift(log_values: npt.ArrayLike, months: npt.ArrayLike) -> Drift:
    """Drift of a lognormal's mean from the logs of values and the month each was recorded.

    Sampling variance of the log of the fitted mean ``exp(mu + sigma^2 / 2)``:
    ``sigma^2 / N + sigma^4 / (2 (N - 1))`` (those of ``mu`` and of ``sigma^2 / 2``). Between
    months: the months' mean logs are homogeneous under ``Q = sum n_m (mean_m - mean)^2 / s^2``
    (``s^2`` the within-month variance of the logs), tested as ``F = Q / (M - 1)`` against
    F(M - 1, N - M) at ``DRIFT_LEVEL`` (one fitted parameter, the overall mean; the F form
    because ``s^2`` is itself estimated); only when it rejects, the between-month variance of
    the mean log by the method of moments (DerSimonian-Laird: ``(Q - (M - 1)) / (W - sum w^2 /
    W)`` with ``w_m = n_m / s^2``, ``W = sum w_m``); otherwise 0. ``chi2`` reports ``Q``."""
    y = np.asarray(log_values, dtype=np.float64)
    n_all = len(y)
    if n_all < 2:
        return Drift(math.inf, 0.0, 0, n_all)
    s2_all = float(np.var(y, ddof=1))
    sampling = s2_all / n_all + s2_all**2 / (2 * (n_all - 1))
    groups = pd.Series(y).groupby(np.asarray(months))
    sizes = groups.size().to_numpy(dtype=np.float64)
    means = groups.mean().to_numpy(dtype=np.float64)
    m = len(sizes)
    df_within = n_all - m
    if m < 2 or df_within < 2:
        return Drift(sampling, 0.0, m, n_all)
    within = float(groups.var(ddof=0).fillna(0.0).to_numpy() @ sizes) / df_within
    if within <= 0:
        return Drift(sampling, 0.0, m, n_all)
    w = sizes / within
    grand = float(np.sum(w * means) / w.sum())
    q = float(np.sum(w * (means - grand) ** 2))
    df = m - 1
    pv = float(stats.f.sf(q / df, df, df_within))
    scale = float(w.sum() - np.sum(w**2) / w.sum())
    tau2 = max(q - df, 0.0) / scale
    se = math.sqrt(2.0 * df) * (1.0 + tau2 * float(w.mean())) / scale
    between = tau2 if pv < DRIFT_LEVEL else 0.0
    return Drift(sampling, between, m, n_all, q, df, pv, se, "Q (F test)")


@dataclass(frozen=True)
class ArrivalPattern:
    """What the monthly arrival counts support beyond a constant rate."""

    trend: float  # relative change per month (0: none)
    month_factor: dict[int, float]  # calendar month 1..12 -> multiplier (empty: none)
    expected: FloatArray  # fitted count per month of the history
    note: str
    parameters: int = 1  # fitted to the monthly counts (level, trend, cycle levels)
    trend_interval: tuple[float, float] = (0.0, 0.0)  # 95%, from the quasi-Poisson information


def _poisson_glm(x: FloatArray, y: FloatArray, offset: FloatArray) -> tuple[FloatArray, float]:
    """Coefficients and log-likelihood of a log-link Poisson regression."""

    def nll(b: FloatArray) -> tuple[float, FloatArray]:
        eta = offset + x @ b
        mu = np.exp(eta)
        return float(np.sum(mu - y * eta)), x.T @ (mu - y)

    b0 = np.zeros(x.shape[1])
    b0[0] = math.log(max(float(y.sum()), 0.5) / float(np.exp(offset).sum()))
    res = optimize.minimize(nll, b0, jac=True, method="BFGS")
    mu = np.exp(offset + x @ res.x)
    return res.x, float(np.sum(stats.poisson.logpmf(np.round(y), mu)))


def arrival_pattern(
    counts: npt.ArrayLike,
    exposure: npt.ArrayLike,
    months: npt.ArrayLike,
    level: float = 0.01,
) -> ArrivalPattern:
    """Choose a trend and a month-of-quarter or month-of-year cycle for monthly arrivals.

    ``counts`` per calendar month, ``exposure`` the share of each month observed, ``months``
    the calendar month (1..12). Nested log-link Poisson regressions are compared by a
    quasi-likelihood-ratio test: the deviance gained by a term, divided by the dispersion
    (Pearson chi-square per degree of freedom of the largest model, at least 1: real counts
    are overdispersed), against chi-square with the term's degrees of freedom at ``level``.
    Terms are added in turn: a trend (1 df, with 6 months or more), a month-of-quarter cycle
    (2 df, with two quarters or more), a month-of-year cycle instead (11 df, with 24 months or
    more, tested against the model with the quarter cycle or without)."""
    y = np.asarray(counts, dtype=np.float64)
    e = np.asarray(exposure, dtype=np.float64)
    mon = np.asarray(months, dtype=np.int64)
    ok = e > 0
    y, e, mon = y[ok], e[ok], mon[ok]
    n = len(y)
    offset = np.log(e)
    idx = np.arange(n, dtype=np.float64)
    ones = np.ones((n, 1))
    trend_col = (idx - idx.mean())[:, None]
    q = (mon - 1) % 3
    moq = np.stack([(q == k).astype(np.float64) for k in (1, 2)], axis=1)
    moy = np.stack([(mon == k).astype(np.float64) for k in range(2, 13)], axis=1)
    candidates: list[tuple[str, FloatArray]] = [("constant", ones)]
    if n >= 6:
        candidates.append(("trend", np.hstack([ones, trend_col])))
    if n >= 6 and len(set(q.tolist())) == 3:
        candidates.append(("trend + month of quarter", np.hstack([ones, trend_col, moq])))
    if n >= 24:
        candidates.append(("trend + month of year", np.hstack([ones, trend_col, moy])))
    fits = {name: (x, *_poisson_glm(x, y, offset)) for name, x in candidates}
    big_x, big_b, _ = fits[candidates[-1][0]]
    mu_big = np.exp(offset + big_x @ big_b)
    df = max(n - big_x.shape[1], 1)
    phi = max(float(np.sum((y - mu_big) ** 2 / np.maximum(mu_big, 1e-9))) / df, 1.0)
    chosen = "constant"
    for name, x in candidates[1:]:
        base_x, _, base_ll = fits[chosen]
        gain = 2 * (fits[name][2] - base_ll) / phi
        extra = x.shape[1] - base_x.shape[1]
        if extra > 0 and gain > float(stats.chi2.ppf(1 - level, extra)):
            chosen = name
    x, b, _ = fits[chosen]
    expected = np.exp(offset + x @ b)
    trend = math.expm1(float(b[1])) if chosen != "constant" else 0.0
    interval = (0.0, 0.0)
    if chosen != "constant":  # var(b) = phi (X' W X)^-1, W the fitted means
        cov = phi * np.linalg.pinv(x.T @ (x * expected[:, None]))
        half = Z95 * math.sqrt(max(float(cov[1, 1]), 0.0))
        interval = (math.expm1(float(b[1]) - half), math.expm1(float(b[1]) + half))
    factor: dict[int, float] = {}
    if "quarter" in chosen:
        f = np.exp(np.concatenate([[0.0], b[2:4]]))
        f = f / f.mean()
        factor = {m: float(f[(m - 1) % 3]) for m in range(1, 13)}
    elif "year" in chosen:
        f = np.exp(np.concatenate([[0.0], b[2:13]]))
        f = f / f.mean()
        factor = {m: float(f[m - 1]) for m in range(1, 13)}
    note = (
        f"{chosen} (quasi-likelihood-ratio tests at {level:g} over {n} months, dispersion "
        f"{phi:.2f})"
        + (
            f"; trend {trend:+.2%} a month, 95% CI [{interval[0]:+.2%}, {interval[1]:+.2%}]"
            if chosen != "constant"
            else ""
        )
    )
    full = np.zeros(len(ok))
    full[ok] = expected
    return ArrivalPattern(trend, factor, full, note, x.shape[1], interval)


def type_trends(
    counts: npt.ArrayLike,
    exposure: npt.ArrayLike,
    months: npt.ArrayLike,
    pattern: ArrivalPattern,
    at: int,
    level: float = 0.01,
) -> tuple[FloatArray, FloatArray] | None:
    """Each deal type's own trend (rows of ``counts``: types; columns: months), where the
    types' monthly arrivals do not share the pattern's: log-link Poisson regressions with an
    intercept per type and the pattern's cycle as known (an offset), one with the pattern's
    trend shared (none if it has none) and one with a trend per type, compared by the
    quasi-likelihood-ratio test (the dispersion of the larger model, at least 1) at
    ``level`` (product lines growing at different paces, one flat while another grows):
    where it rejects, the trends (relative change a month) and each type's fitted rate a month
    at month ``at`` (counted from the first, the cycle left out), else None."""
    y = np.asarray(counts, dtype=np.float64)
    e = np.asarray(exposure, dtype=np.float64)
    mon = np.asarray(months, dtype=np.int64)
    ok = e > 0
    y, e, mon = y[:, ok], e[ok], mon[ok]
    g, n = y.shape
    if g < 2 or n < 6 or (y.sum(axis=1) <= 0).any():
        return None
    cycle = np.log([pattern.month_factor.get(int(m), 1.0) for m in mon])
    idx = np.arange(n, dtype=np.float64)
    step = idx - idx.mean()
    shared = math.log1p(pattern.trend) * step if pattern.trend else np.zeros(n)
    offset = np.tile(np.log(e) + cycle, g)
    own = np.kron(np.eye(g), np.ones((n, 1))).astype(np.float64)  # an intercept per type
    _, base_ll = _poisson_glm(own, y.ravel(), offset + np.tile(shared, g))
    big_x = np.hstack([own, np.kron(np.eye(g), step[:, None])])
    big_b, big_ll = _poisson_glm(big_x, y.ravel(), offset)
    mu = np.exp(offset + big_x @ big_b)
    df = max(g * n - big_x.shape[1], 1)
    phi = max(float(np.sum((y.ravel() - mu) ** 2 / np.maximum(mu, 1e-9))) / df, 1.0)
    extra = g - (1 if pattern.trend else 0)
    if 2 * (big_ll - base_ll) / phi <= float(stats.chi2.ppf(1 - level, extra)):
        return None
    rate = np.exp(big_b[:g] + big_b[g:] * (at - idx.mean()))
    return np.expm1(big_b[g:]), rate


@dataclass(frozen=True)
class WonCycle:
    """What the monthly won shares of decisions support: a calendar cycle of the chance to win."""

    form: Literal["none", "month_of_quarter", "month_of_year"]
    factors: tuple[float, ...]  # per month of the quarter (3) or of the year (12); () for none
    se: tuple[float, ...]  # their standard errors (delta method, dispersion included)
    note: str

    def factor(self, month: int) -> float:
        """The factor of calendar month ``month`` (1..12); 1 without a cycle."""
        if self.form == "month_of_quarter":
            return self.factors[(month - 1) % 3]
        if self.form == "month_of_year":
            return self.factors[month - 1]
        return 1.0


def won_cycle(
    won: npt.ArrayLike, decided: npt.ArrayLike, months: npt.ArrayLike, level: float = 0.01
) -> WonCycle:
    """Choose a month-of-quarter or month-of-year cycle of the chance to win, or none.

    ``won`` and ``decided`` count the decisions (won or lost) of each month of the history,
    ``months`` its calendar month (1..12). The share won is a binomial with a probability per
    level of the cycle (its maximum-likelihood estimate is the level's pooled share). Nested
    models are compared by a quasi-likelihood-ratio test, as :func:`arrival_pattern` does: the
    deviance gained, divided by the dispersion (Pearson chi-square per degree of freedom of the
    largest model, at least 1: months vary beyond binomial noise), against chi-square with the
    gained degrees of freedom at ``level`` (the false-positive rate without a cycle). The
    month-of-quarter cycle (2 df) needs 6 months or more covering all three months of the
    quarter; the month-of-year one (11 df) 24 months or more, tested against the better of the
    others. The factors are the level's share over the overall share (their decision-weighted
    mean is 1), what a stage's ``won_season`` takes."""
    w = np.asarray(won, dtype=np.float64)
    n = np.asarray(decided, dtype=np.float64)
    mon = np.asarray(months, dtype=np.int64)
    ok = n > 0
    w, n, mon = w[ok], n[ok], mon[ok]
    levels: dict[str, npt.NDArray[np.int64]] = {"none": np.zeros(len(n), np.int64)}
    if len(n) >= 6 and len(set(((mon - 1) % 3).tolist())) == 3:
        levels["month_of_quarter"] = (mon - 1) % 3
    if len(n) >= 24 and len(set(mon.tolist())) == 12:
        levels["month_of_year"] = mon - 1
    if n.sum() == 0 or w.sum() in (0, n.sum()):
        return WonCycle("none", (), (), "none (no wins or no losses)")

    def fit(level_of: npt.NDArray[np.int64]) -> tuple[FloatArray, float]:
        k = int(level_of.max()) + 1
        q = np.bincount(level_of, w, k) / np.maximum(np.bincount(level_of, n, k), 1e-300)
        p = np.clip(q[level_of], 1e-12, 1 - 1e-12)
        return q, float(np.sum(w * np.log(p) + (n - w) * np.log1p(-p)))

    fits = {name: fit(lv) for name, lv in levels.items()}
    biggest = list(levels)[-1]
    p_big = np.clip(fits[biggest][0][levels[biggest]], 1e-12, 1 - 1e-12)
    df_resid = max(len(n) - len(fits[biggest][0]), 1)
    phi = max(float(np.sum((w - n * p_big) ** 2 / (n * p_big * (1 - p_big)))) / df_resid, 1.0)
    chosen = "none"
    for name in list(levels)[1:]:
        gain = 2 * (fits[name][1] - fits[chosen][1]) / phi
        extra = len(fits[name][0]) - len(fits[chosen][0])
        if extra > 0 and gain > float(stats.chi2.ppf(1 - level, extra)):
            chosen = name
    note = (
        f"{chosen.replace('_', ' ')} (quasi-likelihood-ratio tests at {level:g} over "
        f"{len(n)} months, dispersion {phi:.2f})"
    )
    if chosen == "none":
        return WonCycle("none", (), (), note)
    lv = levels[chosen]
    k = int(lv.max()) + 1
    q_all = w.sum() / n.sum()
    q, n_k = fits[chosen][0], np.bincount(lv, n, k)
    q = np.maximum(q, 0.5 / n_k)  # a level without a win: half a win, so the factor stays > 0
    factors = np.minimum(q / q_all, 100.0)
    # var(q_k / q) by the delta method, q_k and q treated as independent binomial shares
    var = phi * (q * (1 - q) / n_k / q_all**2 + q**2 * q_all * (1 - q_all) / n.sum() / q_all**4)
    return WonCycle(
        chosen,  # type: ignore[arg-type]
        tuple(float(f) for f in factors),
        tuple(float(math.sqrt(v)) for v in var),
        note,
    )
