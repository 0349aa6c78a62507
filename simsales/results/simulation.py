"""From a scenario to its Forecast: the engine runs the replications, the results layer packs,
collects and builds the tables, and stops early once the precision asked for is reached.

This is the one place that wires the engine to the tables; :func:`simsales.api.simulate` (the
public function) and the layers that simulate on their own account (optimize, calibrate) call
:func:`simulate_scenario`. See docs/architecture.md, "Data flow".

The precision stop is checked after fixed-size batches taken in replication order, so where it
stops does not depend on the worker count or the executor either.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import logging
import math
import sys
import time
from collections.abc import Sequence
from typing import Literal

import numpy as np

from simsales.engine.model import Model, compile_model
from simsales.engine.options import Engine, RunOptions
from simsales.engine.replication import LOST, WON, RepRecords
from simsales.engine.runner import (
    FAST_CHUNK,
    FAST_DEALS,
    SERIAL_CHUNK,
    ReplicationPool,
    keep_heap,
    progress_bar,
    worker_count,
)
from simsales.engine.streams import replication_seeds
from simsales.engine.vectorized import (
    current_engine,
    never_short,
    run_parts,
    run_replications,
    unsupported,
)
from simsales.errors import SimsalesError
from simsales.results.budget import (
    PILOT_FROM,
    PILOT_REPLICATIONS,
    RunEstimate,
    check_budget,
    expected_deals,
    refuse_runaway,
    table_bytes,
)
from simsales.results.build import Collector, PackedChunk, pack_chunk
from simsales.results.forecast import Forecast
from simsales.results.stats import Z95
from simsales.results.stream import collector
from simsales.scenario.load import scenario_hash, scenario_raw
from simsales.scenario.schema import Precision, Scenario

__all__ = ["precision_reached", "replication_stats", "run_packed", "simulate_scenario"]

log = logging.getLogger(__name__)

Stats = tuple[float, float, float]  # per replication, for the precision stop
PrecisionArg = Precision | Literal["scenario"] | None


Packed = tuple[PackedChunk, list[Stats], int]  # and how many took the vectorized path


def run_packed(
    model: Model,
    seed: int,
    start: int,
    stop: int,
    engine: Engine = "simpy",
    stats: bool = True,
) -> Packed:
    """What a worker runs: the replications, packed into columns (cheap to send back), and
    their precision statistics when ``stats`` (only a run with a precision stop reads them)."""
    if stats:  # per replication
        records, fast = run_replications(model, replication_seeds(seed, start, stop), engine)
        return _packed(model, records, fast, stats)
    parts, fast = run_parts(model, replication_seeds(seed, start, stop), engine)
    return pack_chunk(model, parts), [], fast


def _packed(model: Model, records: Sequence[RepRecords], fast: int, stats: bool) -> Packed:
    chunk_stats = [replication_stats(r, model.horizon_t) for r in records] if stats else []
    return pack_chunk(model, records), chunk_stats, fast


def simulate_scenario(
    scenario: Scenario, options: RunOptions, precision: PrecisionArg = "scenario"
) -> Forecast:
    """Simulate ``scenario`` as ``options`` say and build its :class:`Forecast`.

    ``precision``: ``"scenario"`` stops early once the scenario's precision targets are met,
    None never stops early, a :class:`Precision` gives other targets.
    """
    settings = scenario.simulation
    n = settings.replications if options.replications is None else options.replications
    seed = settings.seed if options.seed is None else options.seed
    if n < 1:
        raise SimsalesError(f"replications must be at least 1, got {n}")
    workers = worker_count(options)
    keep_heap()  # numpy's large temporaries reused, not faulted in again (engine/runner.py)
    engine = current_engine() if options.engine is None else options.engine
    target = settings.precision if precision == "scenario" else precision
    model = compile_model(scenario)
    pilot = _pilot(model, n, seed, engine, target is not None)
    check_budget(
        model, n, seed, workers, yes=options.yes, pilot=None if pilot is None else pilot[1]
    )
    batch = settings.batch if target is not None else n
    # Objects that exist before the run (the scenario, pandas, scipy, ...) are set aside from the
    # cyclic garbage collector: its full passes then stay cheap while SimPy churns through events,
    # and forked workers do not touch (and so copy) the parent's memory.
    log.debug(
        "simulating %s: %d replications, seed %d, %s executor, %d worker(s)",
        scenario.name, n, seed, options.executor, workers,
    )  # fmt: skip
    gc.freeze()
    try:
        builder, vectorized = _run(
            model,
            options,
            workers,
            n,
            seed,
            batch,
            target,
            engine,
            None if pilot is None else pilot[0],
        )
    finally:
        gc.unfreeze()
    raw, _ = scenario_raw(scenario)
    provenance = {
        "scenario_name": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "seed": seed,
        "replications": builder.count,
        "replications_requested": n,
        "stopped_early": builder.count < n,
        "executor": options.executor,
        "workers": workers,
        "engine": engine,
        "engine_paths": {"vectorized": vectorized, "simpy": builder.count - vectorized},
        "live_deals": list(model.deal_ids),
        "versions": _versions(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scenario": raw,
    }
    return Forecast.from_builder(builder, provenance)


def _run(
    model: Model,
    options: RunOptions,
    workers: int,
    n: int,
    seed: int,
    batch: int,
    target: Precision | None,
    engine: Engine,
    pilot: Packed | None = None,
) -> tuple[Collector, int]:
    """The collected tables, and how many replications the vectorized path computed
    (``pilot``: the first replications, already run by the budget check)."""
    builder = collector(model)  # in memory, or streamed to disk beyond a size
    stats: list[Stats] = []
    vectorized = 0
    # module-level: pickled by reference
    work = functools.partial(run_packed, engine=engine, stats=target is not None)
    with (
        ReplicationPool(model, work, options, workers, _serial_chunk(model, engine)) as run_range,
        progress_bar(options.progress, n) as tick,
    ):

        def sink(result: Packed) -> None:  # in replication order
            nonlocal vectorized
            chunk, chunk_stats, fast = result
            vectorized += fast
            stats.extend(chunk_stats)
            builder.add_packed(chunk)
            tick(chunk.replications)

        done = 0
        if pilot is not None:  # fewer than a batch (batch >= 10): no precision check within
            sink(pilot)
            done = pilot[0].replications
        while done < n:
            stop = min(n, (done // batch + 1) * batch)  # batches end where they would unpiloted
            run_range(seed, done, stop, sink)
            done = stop
            if target is not None and precision_reached(stats, target):
                log.debug("precision reached after %d of %d replications", done, n)
                break
    return builder, vectorized


def _all_fast(model: Model, engine: Engine) -> bool:
    """Whether the vectorized path takes every replication (no pool can ever run short)."""
    return engine == "auto" and unsupported(model) is None and never_short(model)


def _serial_chunk(model: Model, engine: Engine) -> int:
    """Larger serial chunks where the vectorized path takes every replication (its cost per
    block is partly fixed): about FAST_DEALS deals a block, within SERIAL_CHUNK..FAST_CHUNK
    replications (a block's arrays grow with its deals; a chunk takes well under a second)."""
    if not _all_fast(model, engine):
        return SERIAL_CHUNK
    return max(SERIAL_CHUNK, min(FAST_CHUNK, int(FAST_DEALS // max(1.0, expected_deals(model)))))


def _pilot(
    model: Model, n: int, seed: int, engine: Engine, stats: bool
) -> tuple[Packed, RunEstimate] | None:
    """The budget check's pilot (see simsales.results.budget): the run's first replications,
    run as the run will run them, timed and measured, and then kept as the run's own.

    Where the vectorized path takes every replication and no precision stop needs them one by
    one, the pilot is the run's first serial chunk, one block: a block's cost is mostly fixed,
    so a block of PILOT_REPLICATIONS would measure that and add a block to the run."""
    if n < PILOT_FROM:
        return None
    refuse_runaway(model)  # before the pilot, which would run away too
    if _all_fast(model, engine) and not stats:
        k = math.ceil(n / math.ceil(n / _serial_chunk(model, engine)))  # as runner._chunks
        began = time.perf_counter()
        parts, fast = run_parts(model, replication_seeds(seed, 0, k), engine)
        seconds = (time.perf_counter() - began) / k
        size = sum(map(table_bytes, parts)) / k
        return (pack_chunk(model, parts), [], fast), RunEstimate(n, 1, size, seconds)
    k = min(PILOT_REPLICATIONS, n)
    began = time.perf_counter()
    records, fast = run_replications(model, replication_seeds(seed, 0, k), engine)
    seconds = (time.perf_counter() - began) / k
    size = sum(map(table_bytes, records)) / k
    return _packed(model, records, fast, stats), RunEstimate(n, 1, size, seconds)


def replication_stats(r: RepRecords, horizon: float) -> Stats:
    """(win rate of decided deals, P80 close time of live deals, revenue) of one replication."""
    decided = np.isin(r.outcome, (WON, LOST))
    win_rate = float(np.mean(r.outcome[decided] == WON)) if decided.any() else math.nan
    return win_rate, _p80(r, horizon), float(r.revenue.sum())


def precision_reached(stats: Sequence[Stats], target: Precision) -> bool:
    """Whether every 95% half-width asked for is reached (needs at least two replications)."""
    if len(stats) < 2:
        return False
    win_rate, p80, revenue = (np.array(column) for column in zip(*stats, strict=True))
    checks: list[bool] = []
    if target.win_rate is not None:
        checks.append(_half_width(win_rate[np.isfinite(win_rate)]) <= target.win_rate)
    if target.close_p80_days is not None:
        checks.append(_half_width(p80[np.isfinite(p80)]) <= target.close_p80_days)
    if target.revenue_rel is not None:
        mean = revenue.mean()
        checks.append(mean > 0 and _half_width(revenue) / mean <= target.revenue_rel)
    return all(checks)


def _p80(r: RepRecords, horizon: float) -> float:
    """Time by which 80% of the live deals are decided, censored at the horizon.

    A deal still open counts as deciding at the horizon, so a replication whose P80 lies beyond
    it contributes the horizon: the half-width is then of the censored P80, which is what the
    forecast can report ("after the horizon"), and no replication is dropped.
    """
    t = np.where(np.isnan(r.decision_t[r.deal_live]), horizon, r.decision_t[r.deal_live])
    return float(np.quantile(t, 0.8, method="inverted_cdf")) if len(t) else math.nan


def _half_width(x: np.ndarray) -> float:
    return Z95 * float(np.std(x, ddof=1)) / math.sqrt(len(x)) if len(x) > 1 else math.inf


@functools.cache  # package metadata costs ~60 ms to read; it does not change within a process
def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("simsales", "simpy", "numpy", "scipy", "pandas"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "unknown"
    return out
