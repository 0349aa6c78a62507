"""Forecast benchmark: rolling backtests of simsales against every baseline, on the Maven CRM
sample (when ``../shared/data`` is present beside the repository, or ``--maven PATH``) and on a
synthetic history with a known truth (:func:`simsales.calibrate.synthetic.synthetic_history`,
with a quarter cycle of arrivals and of the won share of decisions, ``WON_CYCLE``).

For each history: origins every ``--every`` (default: month ends), two-month windows; prints
every score of every forecast, the PIT histograms, the share of windows whose P50 revenue is
within 10% of the actual, and the goal check (80% coverage of wins and revenue in [70%, 90%],
simsales' CRPS and MAE below every baseline's).

    .venv/bin/python benchmarks/backtest.py [-n 200] [--maven PATH] [--only maven|synthetic]
        [--origins month|15D] [--engine auto|simpy]

Maven's closes run from 2017-03-01 to 2017-12-31, so two-month windows after month-end origins
allow eight of them (2017-03-31 ... 2017-10-31); to reach twelve or more origins the benchmark
also uses the mid-month origins in between (``--every 15D`` from 2017-03-15: sixteen windows,
overlapping).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from simsales.calibrate.backtest import SCORES, BacktestResult, backtest, rolling_windows
from simsales.calibrate.importer import read_history
from simsales.calibrate.mapping import resolve_mapping
from simsales.calibrate.synthetic import synthetic_history, synthetic_mapping
from simsales.engine.vectorized import default_engine

ROOT = Path(__file__).resolve().parent.parent
WON_CYCLE = (0.8, 1.0, 1.25)  # the synthetic truth's won-share factors by month of quarter
MAVEN = ROOT.parent / "shared" / "data" / "maven-crm" / "sales_pipeline.csv"


def _print(title: str, r: BacktestResult, seconds: float) -> dict[str, Any]:
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
    return {"scores": rows, "goal": goal, "origins": [o.row() for o in r.origins]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--replications", type=int, default=200)
    ap.add_argument("--maven", type=Path, default=MAVEN)
    ap.add_argument("--only", choices=["maven", "synthetic"], default=None)
    ap.add_argument("--origins", choices=["month", "15D"], default=None,
                    help="Maven: only the month-end or only the 15-day origins")  # fmt: skip
    ap.add_argument("--json", type=Path, default=None, help="also write the scores here")
    ap.add_argument("--engine", choices=["auto", "simpy"], default="auto",
                    help="simpy: every replication on SimPy (same scores, for timing)")  # fmt: skip
    args = ap.parse_args()
    with default_engine(args.engine):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    out: dict[str, Any] = {}
    if args.only in (None, "synthetic"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "synthetic.csv"
            synthetic_history("2021-01-01", "2022-12-31", seed=11, won_cycle=WON_CYCLE).to_csv(
                path, index=False
            )
            h = read_history(path, resolve_mapping(mapping=synthetic_mapping()))
        windows = rolling_windows("2021-12-31", "2022-10-31", "month", "2M")
        t = time.perf_counter()
        r = backtest(h, windows, replications=args.replications, seed=1, by="product")
        out["synthetic"] = _print("synthetic history (known truth)", r, time.perf_counter() - t)
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
                                               time.perf_counter() - t)  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
