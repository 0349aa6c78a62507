"""The public functions: simulate, compare, risk_contribution, explain, optimize.

A thin layer of orchestration on top of the others (docs/architecture.md, "Layers"): it reads
scenario files, turns keywords into one :class:`RunOptions` (and :class:`OptimizeOptions`), and
hands them to the layer that does the work: the results layer simulates and builds forecasts,
comparisons and risk contributions, the optimize layer plans staffing. Nothing below imports it.

The keywords (``replications=``, ``seed=``, ``workers=``, ...) stay for notebooks and scripts;
``options=`` takes a ready :class:`RunOptions` instead (then the run keywords are not used).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from simsales.engine.options import Engine, Executor, RunOptions
from simsales.optimize.options import OptimizeOptions
from simsales.results.forecast import Forecast
from simsales.results.simulation import simulate_scenario
from simsales.scenario.load import load, with_overlay
from simsales.scenario.schema import Precision, Scenario

# What only compare, explain, risk_contribution and optimize use is imported inside them: the
# optimizer brings PuLP and scipy.stats, which `simsales run` (simulate) would pay for at start-up.
if TYPE_CHECKING:
    from simsales.optimize.plan import Plan
    from simsales.results.compare import Comparison, Variants
    from simsales.results.explain import Explanation
    from simsales.results.risk_contribution import RiskContribution

__all__ = [
    "OptimizeOptions",
    "RunOptions",
    "compare",
    "explain",
    "explain_comparison",
    "optimize",
    "risk_contribution",
    "simulate",
]

log = logging.getLogger(__name__)

ScenarioArg = Scenario | str | Path


def simulate(
    scenario: ScenarioArg,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    executor: Executor = "serial",
    progress: bool = True,
    *,
    variant: str | None = None,
    scheduler: Any = None,
    precision: Precision | Literal["scenario"] | None = "scenario",
    security: Any = None,
    options: RunOptions | None = None,
    yes: bool | None = None,
    engine: Engine | None = None,
) -> Forecast:
    """Simulate a scenario (or a path to one) and return its :class:`Forecast`.

    ``replications`` and ``seed`` default to the scenario's ``simulation`` settings. ``workers``
    processes (``executor="process"``) or a Dask cluster (``executor="dask"``, ``scheduler`` a
    ``distributed.Client`` or a scheduler address) share the replications; the numbers are the
    same for any choice. ``precision`` stops early once the scenario's precision targets are met.
    ``security`` is a ``distributed.Security`` (TLS certificates) for connecting to
    ``scheduler`` by address. Dask pickles the model to send it: connect only to trusted
    clusters. ``variant``: apply one of the scenario's variants first. A run estimated to need
    more memory or time than the machine has is refused before it starts, with the estimate;
    ``yes=True`` goes on (:mod:`simsales.results.budget`). ``engine="auto"`` computes
    replications where no pool ever runs short without SimPy, exactly
    (:mod:`simsales.engine.vectorized`); ``"simpy"`` runs every one on SimPy; None: the one of
    :func:`~simsales.engine.vectorized.default_engine` (``auto`` unless set).
    """
    if options is None:
        options = RunOptions(
            replications, seed, workers, executor, scheduler, progress, security, yes, engine
        )
    if not isinstance(scenario, Scenario):
        scenario = load(scenario, variant=variant)
    elif variant is not None:
        scenario = with_overlay(scenario, variant)
    return simulate_scenario(scenario, options, precision)


def compare(
    scenario: ScenarioArg,
    variants: Variants = None,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    executor: Executor = "serial",
    progress: bool = False,
    *,
    scheduler: Any = None,
    options: RunOptions | None = None,
) -> Comparison:
    """Simulate the base scenario and each variant with common random numbers and compare them.

    ``variants``: ``None`` for all of the scenario's ``variants:``, a list of their names, or a
    mapping ``{name: overlay}`` of Python overlays (deep-merged like a variant; a value may also
    be a ready :class:`Scenario`). ``replications`` and ``seed`` default to the scenario's
    ``simulation`` settings and are the same for every run; no early stop.
    """
    if options is None:
        options = RunOptions(replications, seed, workers, executor, scheduler, progress)
    from simsales.results.compare import compare_scenarios, resolve_variants

    base = scenario if isinstance(scenario, Scenario) else load(scenario)
    return compare_scenarios(base, resolve_variants(base, variants), options)


def risk_contribution(
    scenario: ScenarioArg,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    executor: Executor = "serial",
    progress: bool = False,
    *,
    scheduler: Any = None,
    base_forecast: Forecast | None = None,
    options: RunOptions | None = None,
) -> RiskContribution:
    """Rank the scenario's risks by what they cost, and weigh each mitigation against its cost.

    One paired run per risk (and per mitigation) against the base, with common random numbers
    (see simsales.results.risk_contribution), each announced on the ``simsales`` logger.
    ``base_forecast``: the base already simulated
    with these replications and seed (e.g. ``comparison.base``), to save running it again.
    """
    if options is None:
        options = RunOptions(replications, seed, workers, executor, scheduler, progress)
    from simsales.results.risk_contribution import contribution_of_risks

    base = scenario if isinstance(scenario, Scenario) else load(scenario)
    return contribution_of_risks(base, options, base_forecast=base_forecast)


def explain(
    scenario: ScenarioArg,
    period: str,
    replications: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    executor: Executor = "serial",
    progress: bool = False,
    *,
    target: float | None = None,
    scheduler: Any = None,
    base_forecast: Forecast | None = None,
    options: RunOptions | None = None,
) -> Explanation:
    """Why ``period``'s expected revenue falls short of its target, and where the money goes.

    Simulates the base and, with common random numbers, one run per pool with unlimited people,
    one per risk that never occurs and one with both (see simsales.results.explain), then
    splits the gap into pool, risk, deal, stage and coverage contributions that add up.
    ``target`` replaces the scenario's target for the period; ``base_forecast``: the base
    already simulated with these replications and seed, to save running it again.
    """
    from simsales.results.explain import explain_forecasts, relaxations

    if options is None:
        options = RunOptions(replications, seed, workers, executor, scheduler, progress)
    base = scenario if isinstance(scenario, Scenario) else load(scenario)
    runs: dict[str, Forecast] = {}
    for name, overlay in [("base", None), *relaxations(base)]:
        if name == "base" and base_forecast is not None:
            continue
        log.info("simulating %s", name)
        run = base if overlay is None else with_overlay(base, overlay, name=name)
        runs[name] = simulate_scenario(run, options, precision=None)
    base_run = base_forecast if base_forecast is not None else runs.pop("base")
    return explain_forecasts(base_run, runs, period, target=target)


def explain_comparison(
    comparison: Comparison,
    period: str,
    *,
    options: RunOptions | None = None,
) -> dict[str, Explanation]:
    """Each variant's change of ``period``'s gap, explained: :func:`explain` of the base and of
    every variant (reusing the comparison's runs), then the paired differences of their
    contributions (simsales.results.explain.explain_delta), by variant name."""
    from simsales.results.explain import explain_delta

    run = (options or RunOptions()).replace(
        replications=comparison.replications, seed=comparison.seed
    )
    base = comparison.scenarios[""]
    base_explained = explain(base, period, options=run, base_forecast=comparison.base)
    out = {}
    for name, forecast in comparison.variants.items():
        variant = explain(comparison.scenarios[name], period, options=run,
                          base_forecast=forecast, target=base_explained.target)  # fmt: skip
        out[name] = explain_delta(base_explained, variant, name)
    return out


def optimize(
    scenario: ScenarioArg,
    mode: Literal["capacity", "assignment"] | None = None,
    *,
    options: OptimizeOptions | None = None,
    run: RunOptions | None = None,
    forecast: Forecast | None = None,
    replications: int | None = None,
    seed: int | None = None,
    **keywords: Any,
) -> Plan:
    """Plan staffing for ``scenario`` and (unless ``check=False``) verify the plan by simulation.

    ``mode="capacity"`` (the default): headcount per pool and month, deals to pursue,
    mitigations to fund. ``mode="assignment"``: named ``people`` (CSV path or list) to deals,
    with an optional ``fit`` table. The other keywords are the fields of
    :class:`OptimizeOptions` (or pass ``options=``). Demand comes from ``forecast`` if given (a
    run of this scenario), else from a run of the scenario with unconstrained pools
    (``replications``, default 200; ``seed``, default the scenario's; or ``run=``). The plan's
    status is ``optimal`` only when the solver proved it. ``time_limit`` (seconds per solve,
    default 300; None: prove however long it takes). HiGHS counts it from the call; CBC counts
    only its own search, so reading a big model and its root relaxation come on top (see
    README, Performance).

    Every option applies in the mode it belongs to and is refused in the other (never silently
    ignored): ``budget``, ``revenue_floors``, ``utilization`` (default 0.9), ``slip_months``
    (default 1) and ``mitigations`` (default on) are the capacity plan's; ``people``, ``fit``,
    ``allow_split`` and ``hours_per_day`` (default 8) the assignment's.

    Stable capacity plans: ``churn`` (person-months of a pool's cost per person hired or
    released where the scenario gives no hire_cost / release_cost; default 1, 0 = off),
    ``change_every`` (headcount changes at most every N months), ``keep`` (live deals that must
    be pursued). See simsales.optimize.capacity.

    Robust capacity plans: ``robust=K`` fits the plan to K simulated futures (sample average
    approximation, simsales.optimize.robust) instead of the mean demand; with
    ``target_probability`` alpha, every revenue target of the scenario (and every revenue floor)
    must be met in at least alpha of the futures. The plan is then simulated on those K futures
    (in-sample) and on ``replications`` fresh ones (out-of-sample, seed + 1): ``plan.robust``.
    ``slip_months`` and mitigations do not apply there (the fluid backlog replaces the slip).
    """
    from simsales.optimize.planner import plan_staffing

    unknown = sorted(set(keywords) - OptimizeOptions.names())
    if unknown:
        raise TypeError(f"optimize() got unexpected keyword arguments {unknown}")
    if options is None:
        options = OptimizeOptions.of(keywords)
    elif keywords:
        raise TypeError("optimize(): give the options either as options= or as keywords")
    if mode is not None:
        options = options.replace(mode=mode)
    if run is None:
        run = RunOptions(replications, seed, progress=False)
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    return plan_staffing(scenario, options, run, forecast)
