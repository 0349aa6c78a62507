"""Engine benchmark: simsales against hand-written floors of the same models, as ratios of one run.

CPU time (``time.process_time``) on a shared machine; every figure is the median of interleaved
pairs (A, B, A, B, ...), so a load that comes and goes hits both sides alike.

1. ``floor``: benchmark-200 in simsales vs the hand-written SimPy floor of the same model (200
   deals x 6 stages x 3 pools, triangular durations, one person per stage, as in the design
   notes), each measured in a fresh process (nothing warm from the other), then in one process.
2. ``streams``: enterprise-it per replication with the previous random streams (one-element
   numpy arrays) vs the current ones; same numbers, only the cost differs.
3. ``mm3``: an M/M/3 queue (rho = 0.8) written in the YAML vs hand SimPy and ciw, per customer.
4. ``scaling`` and ``memory``: 1 vs 2 worker processes; peak memory of a large run.
5. ``startup``: ``simsales --version`` and ``simsales validate scenarios/minimal.yaml`` beside
   ``python -c pass``, wall clock and CPU time of fresh processes (what a user waits for), with
   the machine's load: on 2 shared cores the wall clock of a loaded machine is not the CPU's.

    .venv/bin/python benchmarks/engine.py [--pairs 7] [--replications 100] [--only floor,mm3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import simpy

import simsales
import simsales.engine.replication as replication
import simsales.engine.streams as streams_module
from simsales.engine.model import compile_model
from simsales.engine.options import Engine
from simsales.engine.streams import replication_seeds

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "benchmark-200.yaml"
ENTERPRISE = ROOT / "scenarios" / "enterprise-it.yaml"

# (role, low, mode, high, p_advance): the floor's model, the same as benchmark-200.yaml
STAGES = [
    ("sales", 5, 10, 20, 0.7),
    ("presales", 5, 8, 15, 0.8),
    ("presales", 10, 15, 30, 0.75),
    ("sales", 5, 10, 25, 0.8),
    ("legal", 10, 20, 45, 0.85),
    ("sales", 2, 5, 10, 0.95),
]
CAPACITY = {"sales": 8, "presales": 4, "legal": 2}
MM3_RATE, MM3_MEAN_SERVICE, MM3_SERVERS = 2.4, 1.0, 3  # per day; rho = 0.8


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


def _cpu(work: Callable[[], Any]) -> float:
    t0 = time.process_time()
    work()
    return time.process_time() - t0


# --- 1. benchmark-200 vs the floor -----------------------------------------------------------


def simsales_per_rep(replications: int, path: Path = SCENARIO) -> float:
    scenario = simsales.load(path)  # parsing the YAML is not what we measure
    return (
        _cpu(lambda: simsales.simulate(scenario, replications=replications, seed=1, progress=False))
        / replications
    )


def floor_per_rep(replications: int) -> float:
    return _cpu(lambda: [floor_replication(200, s) for s in range(replications)]) / replications


MEASURES: dict[str, Callable[[int], float]] = {  # also for comparing two checkouts
    "simsales": simsales_per_rep,
    "floor": floor_per_rep,
    "enterprise": lambda replications: simsales_per_rep(replications, ENTERPRISE),
}


def _in_fresh_process(name: str, replications: int) -> float:
    cmd = [sys.executable, __file__, "--measure", name, "--replications", str(replications)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def floor_ratio(pairs: int, replications: int) -> None:
    ours, floor = [], []
    for _ in range(pairs):
        ours.append(_in_fresh_process("simsales", replications))
        floor.append(_in_fresh_process("floor", replications))
    ratios = [a / b for a, b in zip(ours, floor, strict=True)]
    print(
        f"floor     separate processes  simsales_ms_per_rep={statistics.median(ours) * 1e3:.2f}  "
        f"floor_ms_per_rep={statistics.median(floor) * 1e3:.2f}  "
        f"ratio={statistics.median(ratios):.2f}  (gate <= 1.1)"
    )
    ours, floor = [], []
    for _ in range(pairs):
        ours.append(simsales_per_rep(replications))
        floor.append(floor_per_rep(replications))
    ratios = [a / b for a, b in zip(ours, floor, strict=True)]
    print(
        f"floor     one process         simsales_ms_per_rep={statistics.median(ours) * 1e3:.2f}  "
        f"floor_ms_per_rep={statistics.median(floor) * 1e3:.2f}  "
        f"ratio={statistics.median(ratios):.2f}"
    )


# --- 2. random streams on enterprise-it ------------------------------------------------------


def _splitmix(x: Any) -> Any:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class PreviousStreams:
    """The streams before: numpy on one-element arrays for every stream (the same numbers)."""

    def __init__(self, seq: np.random.SeedSequence) -> None:
        self._words = seq.generate_state(4, np.uint64)
        self._bits = np.random.PCG64(0)
        self._gen = np.random.Generator(self._bits)

    def _states(self, purpose: int, keys: Any) -> Any:
        base = _splitmix(keys ^ _splitmix(np.full(keys.shape, purpose, np.uint64)))
        return np.stack([_splitmix(base ^ w) for w in self._words], axis=-1)

    def _set(self, w: list[int]) -> None:
        self._bits.state = {
            "bit_generator": "PCG64",
            "state": {"state": (w[0] << 64) | w[1], "inc": ((w[2] << 64) | w[3]) | 1},
            "has_uint32": 0,
            "uinteger": 0,
        }

    def uniforms(self, purpose: int, key: int, n: int) -> Any:
        self._set(self._states(purpose, np.array([key & (2**64 - 1)], np.uint64))[0].tolist())
        return self._gen.random(n)

    def uniforms_many(self, purpose: int, keys: Any, n: int) -> Any:
        out = np.empty((len(keys), n))
        for row, words in zip(out, self._states(purpose, keys).tolist(), strict=True):
            self._set(words)
            row[:] = self._gen.random(n)
        return out


def streams_ratio(pairs: int, replications: int) -> None:
    model = compile_model(simsales.load(ENTERPRISE))
    seqs = replication_seeds(1, 0, replications)
    current = streams_module.Streams

    def per_rep(streams: Any) -> float:
        streams_module.Streams = streams  # what streams.Draws draws from
        try:
            return _cpu(lambda: [replication.run_replication(model, s) for s in seqs])
        finally:
            streams_module.Streams = current

    before, after = [], []
    for _ in range(pairs):
        before.append(per_rep(PreviousStreams) / replications)
        after.append(per_rep(current) / replications)
    change = statistics.median([a / b - 1 for a, b in zip(after, before, strict=True)])
    print(
        f"streams   enterprise-it  before_ms_per_rep={statistics.median(before) * 1e3:.2f}  "
        f"after_ms_per_rep={statistics.median(after) * 1e3:.2f}  change={change:+.0%}  "
        "(goal <= -30%)"
    )


# --- 3. an M/M/3 queue -------------------------------------------------------------------------


def mm3_scenario() -> simsales.Scenario:
    return simsales.load_dict(
        {
            "name": "M/M/3",
            "start": "2027-01-04",
            "horizon": "2027-12-31",
            "calendar": {"continuous": True},
            "resources": {"servers": {"capacity": MM3_SERVERS}},
            "stages": [
                {
                    "id": "serve",
                    "duration": {"exponential": {"mean": MM3_MEAN_SERVICE}},
                    "needs": {"servers": 1},
                    "advance": 1.0,
                }
            ],
            "deal_types": {"customer": {"value": {"fixed": 1}}},
            "arrivals": [{"type": "customer", "per_day": MM3_RATE}],
        }
    )


def mm3_simsales(replications: int, engine: Engine = "auto") -> tuple[float, int]:
    """``engine="auto"`` is what users get (the vectorized path is tried first, and its pool
    binds, so SimPy runs); ``"simpy"`` is the SimPy path alone."""
    scenario = mm3_scenario()
    out: list[Any] = []
    cpu = _cpu(
        lambda: out.append(
            simsales.simulate(
                scenario, replications=replications, seed=1, progress=False, engine=engine
            )
        )
    )
    return cpu, len(out[0].deals)


def mm3_hand(replications: int, horizon: float) -> tuple[float, int]:
    arrived = [0]

    def replicate(seed: int) -> None:
        rng = np.random.default_rng(seed)
        env = simpy.Environment()
        servers = simpy.Resource(env, capacity=MM3_SERVERS)

        def customer():  # type: ignore[no-untyped-def]
            with servers.request() as req:
                yield req
                yield env.timeout(rng.exponential(MM3_MEAN_SERVICE))

        def source():  # type: ignore[no-untyped-def]
            while True:
                yield env.timeout(rng.exponential(1 / MM3_RATE))
                arrived[0] += 1
                env.process(customer())

        env.process(source())
        env.run(until=horizon)

    cpu = _cpu(lambda: [replicate(s) for s in range(replications)])
    return cpu, arrived[0]


def mm3_ciw(replications: int, horizon: float) -> tuple[float, int] | None:
    try:
        import ciw
    except ImportError:
        return None
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=MM3_RATE)],
        service_distributions=[ciw.dists.Exponential(rate=1 / MM3_MEAN_SERVICE)],
        number_of_servers=[MM3_SERVERS],
    )
    arrived = [0]

    def replicate(seed: int) -> None:
        ciw.seed(seed)
        sim = ciw.Simulation(network)
        sim.simulate_until_max_time(horizon)
        arrived[0] += len(sim.get_all_records()) + len(sim.nodes[1].all_individuals)

    cpu = _cpu(lambda: [replicate(s) for s in range(replications)])
    return cpu, arrived[0]


def mm3_ratio(pairs: int, replications: int) -> None:
    horizon = compile_model(mm3_scenario()).horizon_t
    ours, simpy_only, hand, other = [], [], [], []
    for _ in range(pairs):
        cpu, n = mm3_simsales(replications)
        ours.append(cpu / n)
        cpu, n = mm3_simsales(replications, "simpy")
        simpy_only.append(cpu / n)
        cpu, n = mm3_hand(replications, horizon)
        hand.append(cpu / n)
        with_ciw = mm3_ciw(replications, horizon)
        if with_ciw is not None:
            other.append(with_ciw[0] / with_ciw[1])
    line = (
        f"mm3       per customer  simsales_us={statistics.median(ours) * 1e6:.1f}  "
        f"hand_simpy_us={statistics.median(hand) * 1e6:.1f}  "
        f"vs_hand={statistics.median([a / b for a, b in zip(ours, hand, strict=True)]):.2f}"
    )
    if other:
        ratio = statistics.median([a / b for a, b in zip(ours, other, strict=True)])
        line += f"  ciw_us={statistics.median(other) * 1e6:.1f}  vs_ciw={ratio:.2f}  (goal <= 1)"
        ratio = statistics.median([a / b for a, b in zip(simpy_only, other, strict=True)])
        to_hand = statistics.median([a / b for a, b in zip(simpy_only, hand, strict=True)])
        line += (
            f"\nmm3       --engine simpy  simsales_us={statistics.median(simpy_only) * 1e6:.1f}  "
            f"vs_hand={to_hand:.2f}  vs_ciw={ratio:.2f}"
        )
    else:
        line += "  (ciw not installed: pip install ciw)"
    print(line)


# --- 4. scaling and memory ---------------------------------------------------------------------


def scaling(replications: int) -> None:
    scenario = simsales.load(SCENARIO)
    t0 = time.perf_counter()
    simsales.simulate(scenario, replications=replications, seed=1, progress=False)
    t1 = time.perf_counter()
    simsales.simulate(
        scenario, replications=replications, seed=1, progress=False, workers=2, executor="process"
    )
    t2 = time.perf_counter()
    one, two = t1 - t0, t2 - t1  # wall clock: this is about using two cores
    print(
        f"scaling   replications={replications}  1_worker_s={one:.1f}  2_workers_s={two:.1f}  "
        f"speedup={one / two:.2f}  (goal >= 1.8)"
    )


def peak_memory_mb(replications: int) -> None:
    """Peak resident memory of a fresh process that runs ``replications`` (ru_maxrss, MiB)."""
    code = (
        "import resource, simsales; "
        f"simsales.simulate({str(SCENARIO)!r}, replications={replications}, progress=False); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mb = int(out.stdout.split()[-1]) / 1024
    print(f"memory    replications={replications}  peak_rss_mb={mb:.0f}  (goal < 1024)")


# --- 5. start-up ------------------------------------------------------------------------------


def _child_time(cmd: list[str]) -> tuple[float, float]:
    """Wall clock and CPU time (user + system, all threads) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def startup(pairs: int) -> None:
    script = Path(sys.executable).with_name("simsales")  # the console script, as users run it
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "simsales.cli"]
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "simsales --version": [*cli, "--version"],
        "simsales validate minimal.yaml": [*cli, "validate", str(ROOT / "scenarios/minimal.yaml")],
    }
    load = os.getloadavg()[0]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    for _ in range(pairs):  # interleaved, so a load that comes and goes hits all alike
        for name, cmd in cmds.items():
            times[name].append(_child_time(cmd))
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"startup   {name:32s} wall_s={wall:.3f}  cpu_s={cpu:.3f}  (load {load:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7, help="interleaved pairs per figure")
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument(
        "--only", default="floor,streams,mm3", help="floor,streams,mm3,scaling,memory,startup"
    )
    parser.add_argument("--scaling", type=int, default=2000)
    parser.add_argument("--memory", type=int, default=10000)
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # a child of floor_ratio: one figure, printed last
        print(MEASURES[args.measure](args.replications))
        return
    only = set(args.only.split(","))
    if "floor" in only:
        floor_ratio(args.pairs, args.replications)
    if "streams" in only:
        streams_ratio(args.pairs, max(1, args.replications // 2))
    if "mm3" in only:
        mm3_ratio(args.pairs, max(1, args.replications // 20))
    if "scaling" in only:
        scaling(args.scaling)
    if "memory" in only:
        peak_memory_mb(args.memory)
    if "startup" in only:
        startup(args.pairs)


if __name__ == "__main__":
    main()
