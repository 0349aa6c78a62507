"""Engine benchmark: simsales against a hand-written SimPy floor of the same model, same run.

The floor is the minimal model of ``shared/bench/simpy_floor.py`` (200 deals x 6 stages x 3
pools, triangular durations, one person per stage), written out here so the benchmark runs
without ``shared/``. Prints seconds per replication and the ratio; then the speed-up from 1 to 2
worker processes and the peak memory of a large run.

    .venv/bin/python benchmarks/engine.py [--replications 200] [--scaling 2000] [--memory 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import simpy

import simsales

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "benchmark-200.yaml"

# (role, low, mode, high, p_advance): the floor's model, as in shared/bench/simpy_floor.py
STAGES = [
    ("sales", 5, 10, 20, 0.7),
    ("presales", 5, 8, 15, 0.8),
    ("presales", 10, 15, 30, 0.75),
    ("sales", 5, 10, 25, 0.8),
    ("legal", 10, 20, 45, 0.85),
    ("sales", 2, 5, 10, 0.95),
]
CAPACITY = {"sales": 8, "presales": 4, "legal": 2}


def _floor_deal(env, pools, rng, out, i):  # type: ignore[no-untyped-def]
    for role, lo, mode, hi, p in STAGES:
        with pools[role].request() as req:
            yield req
            yield env.timeout(rng.triangular(lo, mode, hi))
        if rng.random() > p:
            out.append((i, False, env.now))
            return
    out.append((i, True, env.now))


def floor_replication(n_deals: int, seed: int) -> list[tuple[int, bool, float]]:
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    pools = {r: simpy.Resource(env, capacity=c) for r, c in CAPACITY.items()}
    out: list[tuple[int, bool, float]] = []
    for i in range(n_deals):
        env.process(_floor_deal(env, pools, rng, out, i))
    env.run()
    return out


def per_replication(replications: int) -> tuple[float, float]:
    scenario = simsales.load(SCENARIO)  # parsing the YAML is not what we measure
    t0 = time.perf_counter()
    simsales.simulate(scenario, replications=replications, seed=1, progress=False)
    t1 = time.perf_counter()
    for s in range(replications):
        floor_replication(200, s)
    t2 = time.perf_counter()
    return (t1 - t0) / replications, (t2 - t1) / replications


def scaling(replications: int) -> tuple[float, float]:
    scenario = simsales.load(SCENARIO)
    t0 = time.perf_counter()
    simsales.simulate(scenario, replications=replications, seed=1, progress=False)
    t1 = time.perf_counter()
    simsales.simulate(
        scenario, replications=replications, seed=1, progress=False, workers=2, executor="process"
    )
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def peak_memory_mb(replications: int) -> float:
    """Peak resident memory of a fresh process that runs ``replications`` (ru_maxrss, MiB)."""
    code = (
        "import resource, simsales; "
        f"simsales.simulate({str(SCENARIO)!r}, replications={replications}, progress=False); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--scaling", type=int, default=2000, help="0 to skip")
    parser.add_argument("--memory", type=int, default=10000, help="0 to skip")
    args = parser.parse_args()
    ours, floor = per_replication(args.replications)
    print(
        f"engine  replications={args.replications}  simsales_s_per_rep={ours:.5f}  "
        f"floor_s_per_rep={floor:.5f}  ratio={ours / floor:.2f}  (goal <= 1.3)"
    )
    if args.scaling:
        one, two = scaling(args.scaling)
        print(
            f"scaling replications={args.scaling}  1_worker_s={one:.1f}  2_workers_s={two:.1f}  "
            f"speedup={one / two:.2f}  (goal >= 1.8)"
        )
    if args.memory:
        print(
            f"memory  replications={args.memory}  peak_rss_mb={peak_memory_mb(args.memory):.0f}"
            "  (goal < 1024)"
        )


if __name__ == "__main__":
    main()
