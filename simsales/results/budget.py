"""What a run would take, measured before it starts: memory and time, so a runaway request
(``-n 1000000000000``, a horizon typo of a century) is refused with the numbers instead of
filling the machine.

How the estimate is made (rules you can check):

- A *pilot* runs the first :data:`PILOT_REPLICATIONS` replications of the same seed (the very
  ones the run would start with), timed, and counts the bytes of their tables
  (:func:`table_bytes`): bytes and seconds per replication are measured on this machine, not
  guessed. Where the vectorized path takes every replication (and no precision stop is
  asked for) it runs the run's first chunk instead, one block of at most
  :data:`~simsales.engine.runner.FAST_CHUNK` replications (about
  :data:`~simsales.engine.runner.FAST_DEALS` deals): a block's cost is mostly fixed, so two
  replications would measure that. The pilot is skipped for small runs
  (fewer than :data:`PILOT_FROM` replications), which cannot run away. A simulation runs its
  pilot on the engine it runs with and keeps those replications as its own (``pilot=``);
  :func:`estimate_run` runs one on SimPy (an upper bound for the time).
- Memory: the run holds its tables, and while it builds them briefly about twice their packed
  size (:data:`PEAK_FACTOR`; e.g. the 200-deal benchmark packs ~43 kB per replication and peaks
  at ~84 kB). The limit is half the memory available now (``MemAvailable``), so the machine
  keeps room for everything else.
- Time: seconds per replication times replications, divided by the workers (an upper bound
  for one worker, optimistic for many). The limit is :data:`TIME_LIMIT_S`.
- Before the pilot, a replication whose live deals plus expected arrivals exceed
  :data:`MAX_DEALS_PER_REPLICATION` is refused outright: even the pilot would run away.

Over a limit, :func:`check_budget` raises a :class:`~simsales.errors.SimsalesError` saying what
the run would take and how to go on. Every simulation passes it: :func:`simsales.simulate` checks
before it starts (:func:`simsales.results.simulation.simulate_scenario`, which every simulation
passes), so ``run``, ``compare``, ``report``, ``optimize`` (its verification runs) and
``backtest`` are all bounded. To go on anyway: ``--yes`` on the command line, ``yes=True`` to
``simulate`` (or in :class:`~simsales.engine.options.RunOptions`), or ``with go_on():`` around
calls that simulate several times (a comparison, an optimization).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace

import numpy as np

from simsales.engine.model import Model
from simsales.engine.replication import RepRecords, run_replication
from simsales.engine.streams import replication_seeds
from simsales.engine.vectorized import BlockRecords
from simsales.errors import SimsalesError

__all__ = [
    "MAX_DEALS_PER_REPLICATION",
    "PEAK_FACTOR",
    "PILOT_FROM",
    "PILOT_REPLICATIONS",
    "TIME_LIMIT_S",
    "RunEstimate",
    "available_memory",
    "check_budget",
    "estimate_run",
    "go_on",
    "refuse_runaway",
]

PILOT_REPLICATIONS = 2
PILOT_FROM = 200  # smaller runs are not estimated
PEAK_FACTOR = 2.0
TIME_LIMIT_S = 15 * 60.0
MAX_DEALS_PER_REPLICATION = 2_000_000

_GO_ON: ContextVar[bool] = ContextVar("simsales_budget_go_on", default=False)


@contextmanager
def go_on(yes: bool = True) -> Iterator[None]:
    """Inside (when ``yes``), every simulation goes on over the limits (``--yes``)."""
    token = _GO_ON.set(yes or _GO_ON.get())
    try:
        yield
    finally:
        _GO_ON.reset(token)


@dataclass(frozen=True)
class RunEstimate:
    """What ``replications`` replications would take (from a pilot; see the module docstring)."""

    replications: int
    workers: int
    bytes_per_replication: float
    seconds_per_replication: float
    runs: int = 1  # e.g. a comparison: the base and each variant, all kept in memory

    @property
    def memory_bytes(self) -> float:
        return PEAK_FACTOR * self.bytes_per_replication * self.replications * self.runs

    @property
    def seconds(self) -> float:
        return self.seconds_per_replication * self.replications * self.runs / self.workers

    def describe(self) -> str:
        runs = f" x {self.runs} runs" if self.runs > 1 else ""
        return (
            f"{self.replications:,} replications{runs} would need about "
            f"{_bytes(self.memory_bytes)} of memory and {_duration(self.seconds)} "
            f"({_bytes(self.bytes_per_replication)} and "
            f"{self.seconds_per_replication * 1000:,.0f} ms per replication, measured"
            + (f", over {self.workers} workers" if self.workers > 1 else "")
            + ")"
        )


def expected_deals(model: Model) -> float:
    """Live deals plus the expected number of arrivals in one replication."""
    return len(model.deal_ids) + sum(float(a.rate.sum()) for a in model.arrivals)


def refuse_runaway(model: Model) -> None:
    """Refuse a model whose one replication would hold too many deals (before any pilot)."""
    deals = expected_deals(model)
    if deals > MAX_DEALS_PER_REPLICATION:
        raise SimsalesError(
            f"one replication would hold about {deals:,.0f} deals (live plus expected "
            f"arrivals), more than {MAX_DEALS_PER_REPLICATION:,}: check the arrival rates "
            "(per_month, per_day) and the horizon"
        )


def estimate_run(
    model: Model, replications: int, seed: int, workers: int = 1, runs: int = 1
) -> RunEstimate:
    """Run the pilot and extrapolate (see the module docstring)."""
    refuse_runaway(model)
    k = min(PILOT_REPLICATIONS, replications)
    began = time.perf_counter()
    records = [run_replication(model, seq) for seq in replication_seeds(seed, 0, k)]
    seconds = (time.perf_counter() - began) / k
    size = sum(map(table_bytes, records)) / k
    return RunEstimate(replications, max(1, workers), size, seconds, runs)


def table_bytes(r: RepRecords | BlockRecords) -> int:
    """Bytes one replication's records take as table columns: every column, plus a 4-byte deal
    code per deal and a 4-byte replication number per row of each table (a BlockRecords: the
    sum over the replications it joins)."""
    if isinstance(r, BlockRecords):  # its joined records count no deal ids: 4 + 4 bytes each
        return table_bytes(r.records) + 8 * sum(len(ids) for ids in r.deal_ids)
    arrays = [getattr(r, f.name) for f in fields(r)]
    size = sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))
    rows = len(r.deal_id) + len(r.visit_stage) + len(r.pool_busy) + len(r.capacity_t)
    return size + 4 * (len(r.deal_id) + rows + len(r.risk_index))


def check_budget(
    model: Model,
    replications: int,
    seed: int,
    workers: int = 1,
    *,
    runs: int = 1,
    yes: bool | None = None,
    pilot: RunEstimate | None = None,
) -> RunEstimate | None:
    """Refuse a run over the memory or time limit unless ``yes`` (None: unless inside
    :func:`go_on`); the estimate, or None when the run is too small to need one. ``runs``: how
    many such runs (of similar scenarios) are held at once. ``pilot``: the per-replication
    bytes and seconds of a pilot the caller already ran (the run then keeps its replications
    instead of running them twice); otherwise the pilot runs here."""
    yes = _GO_ON.get() if yes is None else yes
    if replications < PILOT_FROM:
        return None
    if pilot is None:
        estimate = estimate_run(model, replications, seed, workers, runs)
    else:
        estimate = replace(pilot, replications=replications, workers=max(1, workers), runs=runs)
    memory_limit = available_memory() / 2
    over = []
    if estimate.memory_bytes > memory_limit:
        over.append(f"half the memory available now is {_bytes(memory_limit)}")
    if estimate.seconds > TIME_LIMIT_S:
        over.append(f"the time limit is {_duration(TIME_LIMIT_S)}")
    if over and not yes:
        most = _affordable(estimate, memory_limit)
        raise SimsalesError(
            f"{estimate.describe()}; {' and '.join(over)}. Run fewer replications "
            f"(about {most:,} fit: -n {most}), or pass --yes to go on anyway "
            "(in Python: simulate(..., yes=True), or calls inside simsales.results.budget.go_on())"
        )
    return estimate


def _affordable(estimate: RunEstimate, memory_limit: float) -> int:
    per_rep = estimate.runs * max(estimate.bytes_per_replication, 1.0)
    by_memory = memory_limit / (PEAK_FACTOR * per_rep)
    by_time = (
        TIME_LIMIT_S
        * estimate.workers
        / (estimate.runs * max(estimate.seconds_per_replication, 1e-9))
    )
    return max(1, math.floor(min(by_memory, by_time)))


def available_memory() -> float:
    """Bytes of memory available now (MemAvailable on Linux; else all physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return math.inf


def _bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:,.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:,.1f} hours"
    if seconds >= 60:
        return f"{seconds / 60:,.1f} minutes"
    return f"{seconds:,.0f} s"
