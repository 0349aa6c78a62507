"""Calibration of a calendar cycle of the chance to win (``won_season``): the quasi-likelihood
ratio rule of :func:`simsales.calibrate.fit.won_cycle` chooses it when the data has one,
recovers its factors within their standard errors, and keeps its false-positive rate.

Tolerances: K = 4 standard errors for recovered factors; rates of choice among independent
datasets are binomial, checked against one-sided binomial bounds at 1e-4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import simsales
from simsales.calibrate.calibrate import calibrate
from simsales.calibrate.fit import won_cycle
from simsales.calibrate.history import History
from simsales.calibrate.importer import read_history
from simsales.calibrate.mapping import resolve_mapping
from simsales.calibrate.synthetic import synthetic_history, synthetic_mapping

K = 4.0
LEVEL = 0.01
CYCLE = (0.8, 1.0, 1.25)


def _months(n: int) -> np.ndarray:
    return (np.arange(n) % 12) + 1


def _chosen(rng: np.random.Generator, datasets: int, months: int, p: np.ndarray, n: int) -> int:
    hits = 0
    for _ in range(datasets):
        won = rng.binomial(n, p)
        hits += won_cycle(won, np.full(months, n), _months(months), LEVEL).form != "none"
    return hits


@pytest.mark.parametrize("months", [12, 30])
def test_no_cycle_is_chosen_at_most_at_the_stated_rate(months: int) -> None:
    """400 histories without a cycle (binomial months, 120 decisions each, p = 0.3): the number
    where a cycle is chosen is at most Binomial(400, 0.01)'s 1 - 1e-4 quantile."""
    rng = np.random.default_rng(1)
    hits = _chosen(rng, 400, months, np.full(months, 0.3), 120)
    assert hits <= stats.binom.ppf(1 - 1e-4, 400, LEVEL), hits


def test_no_cycle_with_overdispersed_months_is_rarely_chosen() -> None:
    """Months whose win share drifts beyond binomial noise (beta-distributed p, sd 0.06) but
    without a calendar cycle: the dispersion keeps the false positives near the level
    (at most three times it: a 12-month dispersion estimate is itself noisy)."""
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(400):
        p = rng.beta(17.2, 40.1, 12)  # mean 0.3, sd 0.06
        won = rng.binomial(120, p)
        hits += won_cycle(won, np.full(12, 120), _months(12), LEVEL).form != "none"
    assert hits <= stats.binom.ppf(1 - 1e-4, 400, 3 * LEVEL), hits


def test_a_quarter_cycle_is_found_and_its_factors_recovered() -> None:
    """12 months of 400 decisions with CYCLE: the cycle's deviance is near 50 (a chi-square
    bound of 9.2 at 1%, even halved by a noisy dispersion), so all 20 histories choose it."""
    rng = np.random.default_rng(3)
    c = np.array(CYCLE)
    months = 12
    p = 0.3 * c[(_months(months) - 1) % 3]
    for _ in range(20):
        won = rng.binomial(400, p)
        fit = won_cycle(won, np.full(months, 400), _months(months), LEVEL)
        assert fit.form == "month_of_quarter", fit.note
        truth = c / c.mean()  # equal decisions per month: the weighted mean is the plain one
        for f, se, t in zip(fit.factors, fit.se, truth, strict=True):
            assert abs(f - t) <= K * se, (fit.factors, truth)


def _history(tmp_path: Path, seed: int, won_cycle: tuple[float, float, float] | None) -> History:
    path = tmp_path / "history.csv"
    rows = synthetic_history(
        "2021-01-01", "2022-12-31", per_month=90, seed=seed, won_cycle=won_cycle
    )
    rows.to_csv(path, index=False)
    return read_history(path, resolve_mapping(mapping=synthetic_mapping()))


def test_calibration_recovers_a_known_quarter_cycle_of_wins(tmp_path: Path) -> None:
    """A synthetic history whose decisions follow CYCLE by month of quarter (stages with a won
    exit): calibration chooses month_of_quarter, its factors are CYCLE over its decision-
    weighted mean within K standard errors, and the calibrated scenario carries it."""
    h = _history(tmp_path, 7, CYCLE)
    cal = calibrate(h, "2022-12-31", by=None)
    fit = cal.won_cycle
    assert fit is not None and fit.form == "month_of_quarter", fit
    v = h.visits
    decided = v[v["exit"].isin(["won", "lost"]) & v["stage"].isin(["propose", "negotiate"])]
    level = (pd.DatetimeIndex(decided["left"]).month - 1) % 3
    w = np.bincount(level, minlength=3) / len(level)
    c = np.array(CYCLE)
    truth = c / float(w @ c)
    for f, se, t in zip(fit.factors, fit.se, truth, strict=True):
        assert abs(f - t) <= K * se, (fit.factors, truth, fit.se)
    stages = {s["id"]: s for s in cal.scenario()["stages"]}
    assert "won_season" not in stages["qualify"]  # no won exit there
    assert list(stages["negotiate"]["won_season"]["month_of_quarter"]) == [
        round(f, 4) for f in fit.factors
    ]
    simsales.load_dict(cal.scenario())  # and it loads


def test_calibration_chooses_no_cycle_without_one(tmp_path: Path) -> None:
    """The same history without the cycle (a fixed seed; the rule's false-positive rate is
    1%): no won_season is written."""
    cal = calibrate(_history(tmp_path, 7, None), "2022-12-31", by=None)
    assert cal.won_cycle is not None and cal.won_cycle.form == "none", cal.won_cycle
    assert all("won_season" not in s for s in cal.scenario()["stages"])
