"""Forecast benchmark: rolling backtests of simsales against every baseline, on the Maven CRM
sample (when ``../shared/data`` is present beside the repository, or ``--maven PATH``) and on
synthetic histories with a known truth (:func:`simsales.calibrate.synthetic.synthetic_history`,
with a quarter cycle of arrivals and of the won share of decisions, ``WON_CYCLE``).

One synthetic history allows eleven month-end origins (2021-12-31 ... 2022-10-31). Eleven
windows cannot test an 80% interval against a band of [70%, 90%]: even independent, their
coverage has a binomial standard error of 12 points, and a forecast whose intervals are exactly
right lands in the band with chance 0.52 (8 or 9 of 11). So the synthetic goal is judged on the
windows of ``--histories K`` histories pooled (seeds ``11 ... 11 + K - 1``, default 8: 88
windows, a standard error of 4 points), with one line per history printed first.

For each history: origins every ``--every`` (default: month ends), two-month windows; prints
every score of every forecast, the PIT histograms, the share of windows whose P50 revenue is
within 10% of the actual, and the goal check (80% coverage of wins and revenue in [70%, 90%],
simsales' CRPS and MAE below every baseline's).

    .venv/bin/python benchmarks/backtest.py [-n 200] [--maven PATH]
        [--only maven|synthetic|independent] [--origins month|15D] [--engine auto|simpy]
        [--anatomy] [--histories K] [--independent K]

``--anatomy`` prints, per origin, simsales' mean and standard deviation of wins and revenue,
the actual and ``z = (actual - mean) / sd``, and the mean of ``z^2`` over origins: about 1 when
the intervals are as wide as the errors (below 1: too wide; above: too narrow).
``--independent K`` backtests ``K`` independent synthetic histories (seeds ``1000 ... 1000 +
K - 1`` of the same generator), one origin each (as of 2022-08-31, two months), and reports the
pooled 80% coverage of wins and revenue and the mean ``z^2``, and every forecast's mean CRPS and
absolute error with the paired difference from simsales' and its standard error: unlike the
rolling origins of one history, whose windows overlap and share one past, these are independent
trials.

Maven's closes run from 2017-03-01 to 2017-12-31, so two-month windows after month-end origins
allow eight of them (2017-03-31 ... 2017-10-31); to reach twelve or more origins the benchmark
also uses the mid-month origins in between (``--every 15D`` from 2017-03-15: sixteen windows,
overlapping).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from simsales.calibrate.backtest import METRICS, SCORES, BacktestResult, backtest, rolling_windows
from simsales.calibrate.history import History
from simsales.calibrate.importer import read_history
from simsales.calibrate.mapping import resolve_mapping
from simsales.calibrate.scores import coverage
from simsales.calibrate.synthetic import synthetic_history, synthetic_mapping
from simsales.engine.vectorized import default_engine

ROOT = Path(__file__).resolve().parent.parent
WON_CYCLE = (0.8, 1.0, 1.25)  # the synthetic truth's won-share factors by month of quarter
INDEPENDENT_WINDOW = [("2022-08-31", "2022-10-31")]
SYNTHETIC_WINDOWS = rolling_windows("2021-12-31", "2022-10-31", "month", "2M")
MAVEN = ROOT.parent / "shared" / "data" / "maven-crm" / "sales_pipeline.csv"


def _print(title: str, r: BacktestResult, seconds: float, anatomy: bool) -> dict[str, Any]:
    print(f"\n## {title}: {len(r.origins)} windows, {r.replications} replications, "
          f"{seconds:.0f} s")  # fmt: skip
    head = ["forecast", *SCORES, "p50_revenue_within_10pct"]
    print(" | ".join(head))
    rows = {}
    for name in r.names:
        s = r.scores(name)
        s["p50_revenue_within_10pct"] = r.within(name)
        rows[name] = s
        print(" | ".join([name, *("-" if s[k] is None else f"{s[k]:,.4g}" for k in head[1:])]))
    for metric in ("won", "revenue"):
        print(f"PIT histogram ({metric}):")
        for name in r.names:
            print(f"  {name:<16} {r.pit_histogram(name, metric)}")
    sim = rows["simsales"]
    others = [n for n in r.names if n != "simsales"]
    goal = {
        "coverage_won_in_70_90": 0.7 <= sim["coverage_won"] <= 0.9,  # type: ignore[operator]
        "coverage_revenue_in_70_90": 0.7 <= sim["coverage_revenue"] <= 0.9,  # type: ignore[operator]
    }
    for key in ("crps_won", "crps_revenue", "mae_won", "mae_revenue"):
        goal[f"{key}_beats_all"] = all(sim[key] < rows[n][key] for n in others)  # type: ignore[operator]
    print("goal:", ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in goal.items()))
    out = {"scores": rows, "goal": goal, "origins": [o.row() for o in r.origins]}
    if anatomy:
        out["anatomy"] = _anatomy(r)
    return out


def _z(r: BacktestResult, metric: str) -> list[float]:
    """``(actual - mean) / sd`` of simsales' forecast per origin."""
    out = []
    for o in r.origins:
        x = o.samples[("simsales", metric)]
        sd = float(np.std(x, ddof=1)) if len(x) > 1 else 0.0
        out.append((o.actual[metric] - float(np.mean(x))) / sd if sd > 0 else math.nan)
    return out


def _anatomy(r: BacktestResult) -> dict[str, Any]:
    print("anatomy (simsales): as_of | won mean, sd, actual, z | revenue mean, sd, actual, z")
    z = {m: _z(r, m) for m in METRICS}
    for i, o in enumerate(r.origins):
        cells = []
        for m in METRICS:
            x = o.samples[("simsales", m)]
            cells.append(f"{np.mean(x):,.4g}, {np.std(x, ddof=1):,.4g}, {o.actual[m]:,.4g}, "
                         f"{z[m][i]:+.2f}")  # fmt: skip
        short = " | short history: no month-to-month drift measured" if o.short_history else ""
        print(f"  {o.as_of} | " + " | ".join(cells) + short)
    out = {f"mean_z2_{m}": _mean_z2(z[m]) for m in METRICS}
    print("mean z^2: " + ", ".join(f"{m} {out[f'mean_z2_{m}']:.3f}" for m in METRICS)
          + f" (over {len(r.origins)} origins; about 1 when honest)")  # fmt: skip
    return out


def _mean_z2(z: list[float]) -> float:
    ok = [v * v for v in z if math.isfinite(v)]
    return float(np.mean(ok)) if ok else math.nan


def _synthetic(seed: int) -> History:
    """The synthetic history of ``seed`` (2021-2022, the won-share cycle), read as a CRM's."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.csv"
        synthetic_history("2021-01-01", "2022-12-31", seed=seed,
                          won_cycle=WON_CYCLE).to_csv(path, index=False)  # fmt: skip
        return read_history(path, resolve_mapping(mapping=synthetic_mapping()))


def _synthetic_rolling(k: int, replications: int) -> BacktestResult:
    """The rolling backtest of ``k`` synthetic histories (seeds ``11 ... 11 + k - 1``), every
    history's windows pooled into one result (a line per history is printed first)."""
    results = []
    for seed in range(11, 11 + k):
        r = backtest(
            _synthetic(seed), SYNTHETIC_WINDOWS, replications=replications, seed=1, by="product"
        )
        held = {m: sum(o.inside("simsales", m) for o in r.origins) for m in METRICS}
        crps = {n: r.scores(n)["crps_won"] for n in r.names}
        print(f"  history seed {seed}: simsales' 80% interval held {held['won']} / "
              f"{held['revenue']} of {len(r.origins)} windows (won / revenue); CRPS of wins "
              + ", ".join(f"{n} {v:.3g}" for n, v in crps.items()), flush=True)  # fmt: skip
        results.append(r)
    return replace(results[0], origins=tuple(o for r in results for o in r.origins))


def _independent(k: int, replications: int) -> dict[str, Any]:
    """``k`` independent synthetic histories, one origin each (see the module docstring)."""
    t = time.perf_counter()
    inside: dict[str, list[bool]] = {m: [] for m in METRICS}
    z: dict[str, list[float]] = {m: [] for m in METRICS}
    # per forecast and score ("crps_won", "ae_revenue", ...): one value per history
    scored: dict[str, dict[str, list[float]]] = {}
    for i in range(k):
        r = backtest(
            _synthetic(1000 + i),
            INDEPENDENT_WINDOW,
            replications=replications,
            seed=1,
            by="product",
        )
        origin = r.origins[0]
        for m in METRICS:
            inside[m].append(origin.inside("simsales", m))
            z[m].extend(_z(r, m))
            for name in r.names:
                mine = scored.setdefault(name, {})
                mine.setdefault(f"crps_{m}", []).append(origin.crps(name, m))
                p50 = origin.quantiles(name, m)["p50"]
                mine.setdefault(f"ae_{m}", []).append(abs(p50 - origin.actual[m]))
        print(f"  history {i + 1}/{k}: z won {z['won'][-1]:+.2f}, revenue {z['revenue'][-1]:+.2f}",
              flush=True)  # fmt: skip
    out: dict[str, Any] = {"histories": k, "replications": replications}
    print(f"\n## {k} independent synthetic histories, one origin each "
          f"({INDEPENDENT_WINDOW[0][0]} + 2 months), {replications} replications, "
          f"{time.perf_counter() - t:.0f} s")  # fmt: skip
    for m in METRICS:
        share, lo, hi = coverage(inside[m])
        out[f"coverage_{m}"] = share
        out[f"mean_z2_{m}"] = _mean_z2(z[m])
        print(f"simsales {m}: 80% coverage {share:.1%} (Wilson 95% [{lo:.1%}, {hi:.1%}]), "
              f"mean z^2 {out[f'mean_z2_{m}']:.3f}")  # fmt: skip
    out["scores"] = _paired(scored)
    return out


def _paired(scored: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Each forecast's mean CRPS and absolute error over independent histories and, against
    simsales, the mean paired difference (baseline - simsales: above 0, simsales better) with
    its standard error (the histories are independent trials) and the share simsales wins."""
    print("forecast | score | mean | baseline - simsales (se) | simsales better in")
    out: dict[str, dict[str, float]] = {}
    ours = scored["simsales"]
    for name, scores in scored.items():
        out[name] = {}
        for key, values in scores.items():
            x, mean = np.asarray(values), float(np.mean(values))
            out[name][key] = mean
            if name == "simsales":
                print(f"{name} | {key} | {mean:.4g} | - | -")
                continue
            d = x - np.asarray(ours[key])
            se = float(np.std(d, ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
            out[name][f"{key}_diff"], out[name][f"{key}_diff_se"] = float(d.mean()), se
            print(f"{name} | {key} | {mean:.4g} | {d.mean():+.4g} ({se:.2g}) | "
                  f"{float(np.mean(d > 0)):.0%}")  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--replications", type=int, default=200)
    ap.add_argument("--maven", type=Path, default=MAVEN)
    ap.add_argument("--only", choices=["maven", "synthetic", "independent"], default=None,
                    help="independent: only the --independent histories")  # fmt: skip
    ap.add_argument("--origins", choices=["month", "15D"], default=None,
                    help="Maven: only the month-end or only the 15-day origins")  # fmt: skip
    ap.add_argument("--json", type=Path, default=None, help="also write the scores here")
    ap.add_argument("--engine", choices=["auto", "simpy"], default="auto",
                    help="simpy: every replication on SimPy (same scores, for timing)")  # fmt: skip
    ap.add_argument("--anatomy", action="store_true",
                    help="per origin: simsales' mean, sd, actual and z; mean z^2")  # fmt: skip
    ap.add_argument("--histories", type=int, default=8, metavar="K",
                    help="synthetic: the rolling backtest of K histories, pooled")  # fmt: skip
    ap.add_argument("--independent", type=int, default=0, metavar="K",
                    help="backtest K independent synthetic histories, one origin each")  # fmt: skip
    args = ap.parse_args()
    with default_engine(args.engine):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    out: dict[str, Any] = {}
    if args.only == "independent" and args.independent <= 0:
        print("--only independent needs --independent K")
        return 2
    if args.only in (None, "synthetic"):
        t = time.perf_counter()
        r = _synthetic_rolling(args.histories, args.replications)
        out["synthetic"] = _print(
            f"synthetic histories (known truth), {args.histories} of them, their windows pooled",
            r, time.perf_counter() - t, args.anatomy,
        )  # fmt: skip
    if args.only in (None, "maven"):
        if not args.maven.exists():
            print(f"\n(Maven sample not found at {args.maven}: skipped)")
        else:
            h = read_history(args.maven)
            for label, every, first in (("month ends", "month", "2017-03-31"),
                                        ("every 15 days", "15D", "2017-03-15")):  # fmt: skip
                if args.origins not in (None, every):
                    continue
                windows = rolling_windows(first, "2017-10-31", every, "2M")
                windows = [w for w in windows if w[1] <= h.snapshot.date()]
                t = time.perf_counter()
                r = backtest(h, windows, replications=args.replications, seed=1, by="product")
                out[f"maven {label}"] = _print(f"Maven, origins {label}", r,
                                               time.perf_counter() - t, args.anatomy)  # fmt: skip
    if args.independent > 0 and args.only in (None, "independent"):
        out["independent"] = _independent(args.independent, args.replications)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
