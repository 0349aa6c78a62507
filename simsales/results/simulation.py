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
import gc
import logging
import math
import sys
from collections.abc import Sequence
from typing import Literal

import numpy as np

from simsales.engine.model import Model, compile_model
from simsales.engine.options import RunOptions
from simsales.engine.replication import LOST, WON, RepRecords
from simsales.engine.runner import ReplicationPool, progress_bar, run_chunk, worker_count
from simsales.errors import SimsalesError
from simsales.results.budget import check_budget
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


def run_packed(model: Model, seed: int, start: int, stop: int) -> tuple[PackedChunk, list[Stats]]:
    """What a worker runs: the replications, packed into columns (cheap to send back)."""
    records = run_chunk(model, seed, start, stop)
    stats = [replication_stats(r, model.horizon_t) for r in records]
    return pack_chunk(model, records), stats


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
    target = settings.precision if precision == "scenario" else precision
    model = compile_model(scenario)
    check_budget(model, n, seed, workers, yes=options.yes)
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
        builder = _run(model, options, workers, n, seed, batch, target)
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
) -> Collector:
    builder = collector(model)  # in memory, or streamed to disk beyond a size
    stats: list[Stats] = []
    with (
        ReplicationPool(model, run_packed, options, workers) as run_range,
        progress_bar(options.progress, n) as tick,
    ):

        def sink(result: tuple[PackedChunk, list[Stats]]) -> None:  # in replication order
            chunk, chunk_stats = result
            stats.extend(chunk_stats)
            builder.add_packed(chunk)
            tick(chunk.replications)

        done = 0
        while done < n:
            stop = min(n, done + batch)
            run_range(seed, done, stop, sink)
            done = stop
            if target is not None and precision_reached(stats, target):
                log.debug("precision reached after %d of %d replications", done, n)
                break
    return builder


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


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("simsales", "simpy", "numpy", "scipy", "pandas"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "unknown"
    return out
