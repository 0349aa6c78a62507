"""Vectorized-path benchmark: the exact numpy path against SimPy and the hand-written floor.

In one run, as ratios (CPU time, interleaved pairs, median):

- benchmark-200 with pools too large ever to bind (capacity 1000 each): seconds per replication
  of the vectorized path, of SimPy (``engine="simpy"``) and of the floor (benchmarks/engine.py);
  goals: >= 30x faster than SimPy (issue 18's Must show), >= 50x the floor; and the engine
  alone (``run_block`` of 50 replications vs ``run_replication``, no tables);
- a pool-free calibrated Maven scenario (``simsales calibrate`` of ../shared/data/maven-crm as of
  2017-06-30; skipped when the data are absent): vectorized vs SimPy;
- a rolling Maven backtest (the windows of benchmarks/backtest.py, ``--windows`` of them):
  ``engine="auto"`` vs ``engine="simpy"``; goal >= 20x;
- with ``--cli ROUNDS``, the Must show's command itself (``simsales run ... --json``) in fresh
  processes: its output byte-identical between the engines but for ``engine_paths``, and per
  replication the CPU time of ``-n HIGH`` less that of ``-n LOW`` (the summary, roll-ups and
  JSON included, start-up cancelled out), in interleaved rounds of both engines, medians.

Both engines give the same numbers (tests/engine/test_vectorized.py); this only times them.

    .venv/bin/python benchmarks/vectorized.py [-n 100] [--pairs 3] [--windows 4] [--maven PATH]
    .venv/bin/python benchmarks/vectorized.py --cli 8 [--high 1000] [--low 100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import simsales
from simsales.calibrate.backtest import backtest, rolling_windows
from simsales.calibrate.calibrate import calibrate
from simsales.calibrate.importer import read_history
from simsales.engine.model import compile_model
from simsales.engine.replication import run_replication
from simsales.engine.streams import replication_seeds
from simsales.engine.vectorized import default_engine, run_block

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import _cpu, floor_replication

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "benchmark-200.yaml"
MAVEN = ROOT.parent / "shared" / "data" / "maven-crm" / "sales_pipeline.csv"
NEVER_BINDING = [f"resources.{p}.capacity=1000" for p in ("sales", "presales", "legal")]


def _pairs(a: Callable[[], Any], b: Callable[[], Any], pairs: int) -> tuple[float, float]:
    """Median CPU seconds of a and of b, timed in interleaved pairs (the machine's load moves)."""
    ta, tb = [], []
    for _ in range(pairs):
        ta.append(_cpu(a))
        tb.append(_cpu(b))
    return statistics.median(ta), statistics.median(tb)


def _simulate(scenario: Any, n: int, engine: str) -> Callable[[], Any]:
    def run() -> None:
        f = simsales.simulate(scenario, n, seed=1, progress=False, precision=None, engine=engine)  # type: ignore[arg-type]
        paths = f.provenance["engine_paths"]
        assert paths["vectorized" if engine == "auto" else "simpy"] == n, paths

    return run


def benchmark_200(n: int, pairs: int) -> None:
    scenario = simsales.load(SCENARIO, overrides=NEVER_BINDING)
    fast, slow = _pairs(_simulate(scenario, n, "auto"), _simulate(scenario, n, "simpy"), pairs)
    floor = statistics.median(
        _cpu(lambda: [floor_replication(200, s) for s in range(n)]) for _ in range(pairs)
    )
    fast, slow, floor = fast / n, slow / n, floor / n
    print(
        f"benchmark-200 never-binding pools  replications={n}  vectorized_s_per_rep={fast:.6f}  "
        f"simpy_s_per_rep={slow:.5f}  floor_s_per_rep={floor:.5f}\n"
        f"  simpy/vectorized={slow / fast:.1f} (goal >= 30)  floor/vectorized={floor / fast:.1f}"
        " (goal >= 50)"
    )
    # the engine alone: one block of 50 replications vs the same on SimPy, no tables
    model = compile_model(scenario)
    seqs = replication_seeds(1, 0, 50)
    block, simpy = _pairs(
        lambda: run_block(model, seqs), lambda: [run_replication(model, q) for q in seqs], pairs
    )
    print(
        f"  engine alone (50-replication block)  run_block_s_per_rep={block / 50:.6f}  "
        f"run_replication_s_per_rep={simpy / 50:.5f}  ratio={simpy / block:.1f}"
    )


def maven_calibrated(path: Path, n: int, pairs: int) -> None:
    cal = calibrate(read_history(path), "2017-06-30")
    scenario = simsales.load_dict(cal.scenario(), name="Maven calibrated as of 2017-06-30")
    assert not scenario.resources, "a calibrated scenario has no pools"
    fast, slow = _pairs(_simulate(scenario, n, "auto"), _simulate(scenario, n, "simpy"), pairs)
    print(
        f"maven calibrated (pool-free, {len(scenario.deals())} live deals)  replications={n}  "
        f"vectorized_s_per_rep={fast / n:.5f}  simpy_s_per_rep={slow / n:.4f}  "
        f"simpy/vectorized={slow / fast:.1f}"
    )


def maven_backtest(path: Path, n: int, windows: int) -> None:
    history = read_history(path)
    chosen = rolling_windows("2017-03-31", "2017-10-31", "month", "2M")[:windows]

    def run(engine: str) -> Callable[[], Any]:
        def go() -> None:
            with default_engine(engine):  # type: ignore[arg-type]
                backtest(history, chosen, replications=n, seed=1, by="product")

        return go

    fast, slow = _pairs(run("auto"), run("simpy"), 1)
    print(
        f"maven backtest  windows={len(chosen)}  replications={n}  auto_s={fast:.1f}  "
        f"simpy_s={slow:.1f}  simpy/auto={slow / fast:.1f} (goal >= 20)"
    )


def _command(n: int, engine: str) -> list[str]:
    sets = [arg for s in NEVER_BINDING for arg in ("--set", s)]
    run = [sys.executable, "-m", "simsales", "run", str(SCENARIO), *sets]
    return [*run, "-n", str(n), "--engine", engine, "--json"]


def _child_cpu(cmd: list[str]) -> tuple[float, bytes]:
    """CPU seconds (user + system) of a fresh process running ``cmd``, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return used, done.stdout


def must_show_cli(rounds: int, high: int, low: int) -> None:
    """The Must show's command, both engines: identical output, and CPU per replication."""
    outputs = {}
    for engine in ("auto", "simpy"):
        data = json.loads(_child_cpu(_command(300, engine))[1])
        data.pop("engine_paths")
        outputs[engine] = json.dumps(data, sort_keys=True)
    same = outputs["auto"] == outputs["simpy"]
    per_rep: dict[str, list[float]] = {"auto": [], "simpy": []}
    for _ in range(rounds):  # interleaved: a load that comes and goes hits both alike
        for engine, values in per_rep.items():
            values.append(
                (_child_cpu(_command(high, engine))[0] - _child_cpu(_command(low, engine))[0])
                / (high - low)
            )
    fast, slow = (statistics.median(per_rep[e]) for e in ("auto", "simpy"))
    print(
        f"must-show command (-n 300)  json identical but engine_paths: {same}\n"
        f"  per replication, (-n {high} - -n {low}) / {high - low}, medians of {rounds} rounds "
        f"(load {os.getloadavg()[0]:.1f}): auto_s={fast:.6f}  simpy_s={slow:.5f}  "
        f"simpy/auto={slow / fast:.1f} (goal >= 30)\n"
        f"  auto rounds: {' '.join(f'{x * 1e3:.3f}' for x in per_rep['auto'])} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--replications", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--windows", type=int, default=4, help="backtest windows; 0 to skip")
    parser.add_argument("--maven", type=Path, default=MAVEN)
    parser.add_argument("--cli", type=int, default=0, help="rounds of the Must show's command")
    parser.add_argument("--high", type=int, default=1000, help="--cli: the larger -n")
    parser.add_argument("--low", type=int, default=100, help="--cli: the smaller -n")
    args = parser.parse_args()
    if args.cli:
        must_show_cli(args.cli, args.high, args.low)
        return
    benchmark_200(args.replications, args.pairs)
    if not args.maven.exists():
        print(f"(Maven sample not found at {args.maven}: its sections skipped)")
        return
    maven_calibrated(args.maven, max(10, args.replications // 5), args.pairs)
    if args.windows:
        maven_backtest(args.maven, args.replications, args.windows)


if __name__ == "__main__":
    main()
