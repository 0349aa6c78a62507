"""``optimize``: scenario -> demand forecast -> MILP -> honest status -> Plan -> verification.

The steps, each in its own module: measure demand by simulation (demand.py), value the
mitigations (mitigation.py), build the model (capacity.py / assignment.py), solve it and say what
was proved (solve.py), explain an infeasible one (diagnose.py), turn the solution into a Plan
and a scenario overlay (plan.py), and simulate the overlay against the base (verify.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simsales.engine.model import compile_model
from simsales.engine.options import RunOptions
from simsales.errors import OptimizationError
from simsales.optimize.assignment import AssignmentInput, build_assignment, read_assignment
from simsales.optimize.capacity import (
    DEFAULT_CHURN,
    CapacityInput,
    build_capacity,
    change_money,
    changes,
    churn_penalty,
    pool_specs,
    read_capacity,
)
from simsales.optimize.demand import (
    Demand,
    demand_from_forecast,
    forecast_demand,
    unconstrained,
)
from simsales.optimize.diagnose import describe
from simsales.optimize.mitigation import MitigationOption, mitigation_options
from simsales.optimize.named import assignment_overlay
from simsales.optimize.options import OptimizeOptions
from simsales.optimize.people import Fit, Person, read_fit, read_people
from simsales.optimize.plan import Plan, capacity_overlay, drop_overlay
from simsales.optimize.repair import repaired
from simsales.optimize.robust import RobustInput, build_robust, futures_from_forecast
from simsales.optimize.solve import SOLVERS, SolveResult, solve
from simsales.optimize.verify import robust_table, verify
from simsales.results.forecast import Forecast
from simsales.scenario.load import load_dict
from simsales.scenario.references import did_you_mean
from simsales.scenario.schema import Scenario

__all__ = ["DEFAULT_REPLICATIONS", "demand_of", "plan_staffing"]

DEFAULT_REPLICATIONS = 200


def plan_staffing(
    scenario: Scenario,
    options: OptimizeOptions,
    run: RunOptions,
    forecast: Forecast | None = None,
) -> Plan:
    """Plan staffing for ``scenario`` and (with ``options.check``) verify it by simulation.

    Demand comes from ``forecast`` if given (a run of this scenario), else from a run of the
    scenario with unconstrained pools (``run.replications``, default 200; ``run.seed``, default
    the scenario's). See :func:`simsales.api.optimize`.
    """
    o = options
    if o.mode not in ("capacity", "assignment"):
        raise OptimizationError(f"unknown mode {o.mode!r}: use capacity or assignment")
    _refuse_other_mode(
        o.mode,
        {
            "budget": o.budget,
            "revenue_floors": o.revenue_floors or None,
            "utilization": o.utilization,
            "slip_months": o.slip_months,
            "mitigations": o.mitigations,
            "churn": o.churn,
            "change_every": o.change_every,
            "keep": list(o.keep) or None,
            "robust": o.robust,
            "target_probability": o.target_probability,
            "people": o.people,
            "fit": o.fit,
            "allow_split": o.allow_split or None,
            "hours_per_day": o.hours_per_day,
        },
    )
    slip_given, mitigations_given = o.slip_months is not None, o.mitigations is not None
    utilization = 0.9 if o.utilization is None else o.utilization
    slip_months = 1 if o.slip_months is None else o.slip_months
    hours_per_day = 8.0 if o.hours_per_day is None else o.hours_per_day
    mitigations = True if o.mitigations is None else o.mitigations
    churn = DEFAULT_CHURN if o.churn is None else o.churn
    change_every = 1 if o.change_every is None else o.change_every
    if not (math.isfinite(churn) and churn >= 0):
        raise OptimizationError(f"churn penalty must be >= 0 person-months, got {churn}")
    if change_every < 1:
        raise OptimizationError(f"change every must be >= 1 month, got {change_every}")
    if o.budget is not None and not (math.isfinite(o.budget) and o.budget >= 0):
        raise OptimizationError(f"budget must be a nonnegative amount, got {o.budget}")
    if not 0 < utilization <= 1:
        raise OptimizationError(f"utilization must be in (0, 1], got {utilization}")
    if slip_months < 0:
        raise OptimizationError(f"slip months must be >= 0, got {slip_months}")
    floors = dict(o.revenue_floors or {})
    for label, amount in floors.items():
        if not (math.isfinite(amount) and amount >= 0):
            raise OptimizationError(f"revenue floor for {label} must be >= 0, got {amount}")
    base_model = compile_model(scenario)
    for label in floors:
        try:
            base_model.calendar.period_bounds(label)
        except ValueError as exc:
            raise OptimizationError(f"revenue floor: {exc}") from None
    if o.solver not in SOLVERS:
        raise OptimizationError(f"unknown solver {o.solver!r}: use one of {', '.join(SOLVERS)}")
    for deal in o.keep:
        if deal not in base_model.deal_ids:
            hint = did_you_mean(deal, base_model.deal_ids) or "the pipeline is empty"
            raise OptimizationError(f"--keep: {deal!r} is not a live deal of the scenario ({hint})")
    staff: list[Person] = []
    fits: Mapping[tuple[str, str], Fit] = {}
    if o.mode == "assignment":  # read the files before simulating: their mistakes come first
        staff, fits = _people(scenario, o.people, o.fit, base_model.deal_ids)
    n = run.replications or DEFAULT_REPLICATIONS
    seed = scenario.simulation.seed if run.seed is None else run.seed
    if o.target_probability is not None and o.robust is None:
        raise OptimizationError(
            "--target-probability needs --robust K: a probability is measured over futures"
        )
    if o.robust is not None:
        if o.robust < 2:
            raise OptimizationError(f"--robust needs at least 2 futures, got {o.robust}")
        if o.target_probability is not None and not 0 < o.target_probability <= 1:
            raise OptimizationError(
                f"target probability must be in (0, 1], got {o.target_probability}"
            )
        if slip_given or mitigations_given or forecast is not None:
            raise OptimizationError(
                "--slip-months, mitigations and a given forecast do not apply to --robust: "
                "the futures' fluid backlog replaces the slip; leave them out"
            )
        return _robust_plan(
            scenario,
            base_model,
            o.robust,
            o.target_probability,
            floors,
            n,
            seed,
            solver=o.solver,
            time_limit=o.time_limit,
            gap=o.gap,
            budget=o.budget,
            utilization=utilization,
            churn=churn,
            change_every=change_every,
            keep=o.keep,
            require_all=o.require_all,
            check=o.check,
        )
    if forecast is None:
        forecast = forecast_demand(scenario, n, seed)
        source, demand_note = None, "scenario simulated with unconstrained pools (no waits)"
    else:
        n, seed = forecast.replications, int(forecast.provenance["seed"])
        source, demand_note = _scenario_of(forecast, scenario), "given forecast"
    demand = demand_from_forecast(forecast, tuple(floors))
    assumptions: dict[str, Any] = {
        "demand": demand_note,
        "replications": n,
        "seed": seed,
        "solver_gap_asked": o.gap or 0.0,
        "time_limit": o.time_limit,
        "require_all": o.require_all,
    }
    if o.mode == "capacity":
        choices: list[MitigationOption] = []
        if mitigations:
            base_of_demand = source if source is not None else unconstrained(scenario)
            choices = mitigation_options(base_of_demand, forecast, n, seed)
        assumptions.update(
            utilization=utilization,
            slip_months=slip_months,
            budget=o.budget,
            revenue_floors=floors,
            churn_person_months=churn,
            change_every_months=change_every,
            keep=list(o.keep),
        )
        inp = CapacityInput(
            demand=demand,
            pools=pool_specs(scenario, base_model, demand.grid, churn),
            keep=frozenset(o.keep),
            change_every=change_every,
            mitigations=choices,
            utilization=utilization,
            slip_months=slip_months,
            budget=o.budget,
            revenue_floors=floors,
            require_all=o.require_all,
        )
        plan = _capacity_plan(inp, scenario, o.solver, o.time_limit, o.gap, assumptions)
    else:
        assumptions.update(hours_per_day=hours_per_day, allow_split=o.allow_split)
        ainp = AssignmentInput(
            demand=demand,
            people=staff,
            fit=fits,
            hours_per_day=hours_per_day,
            workdays_per_week=_workdays_per_week(scenario),
            allow_split=o.allow_split,
            require_all=o.require_all,
        )
        plan = _assignment_plan(ainp, scenario, o.solver, o.time_limit, o.gap, assumptions)
    if o.check and plan.solved:
        plan.verification = verify(
            scenario,
            plan.overlay,
            n,
            seed,
            floors=floors,
            mode=o.mode,
            change_cost=(plan.base_change_cost, plan.change_cost),
            claimed=plan.objective,
        )
    return plan


CAPACITY_ONLY = (
    "budget",
    "revenue_floors",
    "utilization",
    "slip_months",
    "mitigations",
    "churn",
    "change_every",
    "keep",
    "robust",
    "target_probability",
)
ASSIGNMENT_ONLY = ("people", "fit", "allow_split", "hours_per_day")
OPTION_NAMES = {  # the CLI's spelling, for messages
    "budget": "--budget",
    "revenue_floors": "--revenue-floor",
    "utilization": "--utilization",
    "slip_months": "--slip-months",
    "mitigations": "mitigations",
    "churn": "--churn",
    "change_every": "--change-every",
    "keep": "--keep",
    "robust": "--robust",
    "target_probability": "--target-probability",
    "people": "--people",
    "fit": "--fit",
    "allow_split": "--allow-split",
    "hours_per_day": "--hours-per-day",
}


def _refuse_other_mode(mode: str, given: Mapping[str, Any]) -> None:
    """An option of the other mode is an error: it would be silently ignored otherwise."""
    other = ASSIGNMENT_ONLY if mode == "capacity" else CAPACITY_ONLY
    used = [OPTION_NAMES[k] for k in other if given.get(k) is not None]
    if used:
        owner = "assignment" if mode == "capacity" else "capacity"
        why = (
            "the named assignment staffs deals within people's hours; it has no budget, "
            "revenue floor, utilization, slip or mitigation decision"
            if mode == "assignment"
            else "the capacity plan decides headcount, not named people"
        )
        raise OptimizationError(
            f"{', '.join(used)} {'applies' if len(used) == 1 else 'apply'} only to "
            f"--mode {owner}, not {mode} ({why}): leave {'it' if len(used) == 1 else 'them'} "
            f"out or use --mode {owner}"
        )


def _people(
    scenario: Scenario,
    people: str | Path | Sequence[Person] | None,
    fit: str | Path | Mapping[tuple[str, str], Fit] | None,
    deals: Sequence[str],
) -> tuple[list[Person], Mapping[tuple[str, str], Fit]]:
    if people is None:
        raise OptimizationError(
            "assignment mode needs people (a CSV: person, role, hours_per_week)"
        )
    if isinstance(people, str | Path):
        staff = read_people(people, scenario.resources)
    else:
        staff = list(people)
        unknown = sorted({p.role for p in staff} - set(scenario.resources))
        if unknown:
            raise OptimizationError(f"people's roles {unknown} are not pools of the scenario")
    if isinstance(fit, str | Path):
        return staff, read_fit(fit, [p.name for p in staff], deals)
    return staff, fit or {}


def _scenario_of(forecast: Forecast, fallback: Scenario) -> Scenario:
    raw = forecast.provenance.get("scenario")
    return load_dict(raw, name="forecast provenance") if raw else fallback


def _workdays_per_week(scenario: Scenario) -> float:
    return float(scenario.calendar.weekmask.count("1"))


def _solve_or_diagnose(
    build: Any, inp: Any, solver: str, time_limit: float | None, gap: float | None, currency: str
) -> tuple[Any, SolveResult, float, list[str]]:
    t0 = time.perf_counter()
    built = build(inp)
    build_seconds = time.perf_counter() - t0
    result = solve(built.prob, solver, time_limit, gap)
    diagnosis: list[str] = []
    if result.status == "infeasible":
        elastic = build(inp, elastic=True)
        relaxed = solve(elastic.prob, solver, time_limit, None)
        if relaxed.status in ("optimal", "feasible"):
            violations = elastic.soft.violations()
            diagnosis = describe(violations, currency)
            if relaxed.status == "feasible":
                diagnosis.append(
                    "(the diagnosis run hit its limit: amounts may be larger than needed)"
                )
            if violations:  # confirm the repair: solve the problem with all of it applied
                check = solve(build(repaired(inp, violations)).prob, solver, time_limit, gap)
                diagnosis.append(
                    "applying all of the above together makes the plan feasible "
                    "(confirmed by a second solve)"
                    if check.status in ("optimal", "feasible")
                    else f"(a second solve with all of the above applied is {check.status}: "
                    "the amounts are a lower estimate)"
                )
        if not diagnosis:
            diagnosis = [
                "the pools' min/max bounds, lead times and demand cannot all hold; "
                "no single capacity, budget or revenue limit explains it"
            ]
    elif result.status == "not_solved":
        diagnosis = [f"no plan found within the time limit ({time_limit} s): raise --time-limit"]
    elif result.status == "unbounded":
        diagnosis = ["the objective is unbounded: a pool without max and without cost?"]
    return built, result, build_seconds, diagnosis


def _base_plan(
    result: SolveResult,
    constant: float,
    build_seconds: float,
    currency: str,
    mode: str,
    diagnosis: list[str],
    assumptions: dict[str, Any],
) -> Plan:
    return Plan(
        mode=mode,
        status=result.status,
        objective=None if result.objective is None else result.objective + constant,
        bound=None if result.bound is None else result.bound + constant,
        gap=result.gap,
        solver=result.solver,
        solve_seconds=result.seconds,
        build_seconds=build_seconds,
        currency=currency,
        diagnosis=diagnosis,
        assumptions=assumptions,
    )


def _capacity_plan(
    inp: CapacityInput,
    scenario: Scenario,
    solver: str,
    time_limit: float | None,
    gap: float | None,
    assumptions: dict[str, Any],
) -> Plan:
    cm, result, build_seconds, diagnosis = _solve_or_diagnose(
        build_capacity, inp, solver, time_limit, gap, scenario.currency
    )
    plan = _base_plan(
        result, cm.constant, build_seconds, scenario.currency, "capacity", diagnosis, assumptions
    )
    if not plan.solved:
        return plan
    sol = read_capacity(cm)
    dem, grid = inp.demand, inp.demand.grid
    plan.objective = sol.objective  # trimming free headcount leaves the value unchanged
    plan.months = grid.labels
    plan.headcount = {pool.id: sol.headcount[p].tolist() for p, pool in enumerate(inp.pools)}
    plan.base_headcount = {pool.id: pool.base.tolist() for pool in inp.pools}
    plan.work_days = {
        pool.id: np.round(sol.work[p], 2).tolist() for p, pool in enumerate(inp.pools)
    }
    base_heads = np.array([pool.base for pool in inp.pools])
    plan.change_cost = change_money(inp.pools, sol.headcount)
    plan.base_change_cost = change_money(inp.pools, base_heads)
    plan.churn_penalty = churn_penalty(inp.pools, sol.headcount)
    plan.changes = {}
    for p, pool in enumerate(inp.pools):
        hired, released = changes(pool, sol.headcount[p])
        plan.changes[pool.id] = {"hired": hired.tolist(), "released": released.tolist()}
    total = dem.effort.sum(axis=2)
    plan.deals = [
        {
            "id": deal,
            "pursue": bool(sol.pursue[d]),
            "expected_value": float(dem.value[d]),
            "win_probability": float(dem.win_probability[d]),
            "effort_days": {
                pool: round(float(total[d, p]), 2)
                for p, pool in enumerate(dem.pools)
                if total[d, p] > 0
            },
        }
        for d, deal in enumerate(dem.deals)
    ]
    plan.mitigations = [
        {
            "risk": m.risk,
            "fund": bool(sol.funded[r]),
            "funded_now": m.funded_now,
            "benefit": m.benefit,
            "benefit_low": m.benefit_low,
            "benefit_high": m.benefit_high,
            "cost": m.cost,
        }
        for r, m in enumerate(inp.mitigations)
    ]
    aligned = [
        all(c.from_.day == 1 for c in pool.capacity_changes) for pool in scenario.resources.values()
    ]
    base = np.array([pool.base for pool in inp.pools])
    overlay = capacity_overlay(dem.pools, grid, sol.headcount, base, aligned)
    overlay.update(drop_overlay([d for d, on in zip(dem.deals, sol.pursue, strict=True) if not on]))
    risks = {
        m.risk: {"mitigated": bool(sol.funded[r])}
        for r, m in enumerate(inp.mitigations)
        if bool(sol.funded[r]) != m.funded_now
    }
    if risks:
        overlay["risks"] = risks
    plan.overlay = overlay
    return plan


def _assignment_plan(
    inp: AssignmentInput,
    scenario: Scenario,
    solver: str,
    time_limit: float | None,
    gap: float | None,
    assumptions: dict[str, Any],
) -> Plan:
    am, result, build_seconds, diagnosis = _solve_or_diagnose(
        build_assignment, inp, solver, time_limit, gap, scenario.currency
    )
    plan = _base_plan(
        result, 0.0, build_seconds, scenario.currency, "assignment", diagnosis, assumptions
    )
    if not plan.solved:
        return plan
    sol = read_assignment(am)
    dem = inp.demand
    plan.objective = sol.objective
    plan.months = dem.grid.labels
    hours = inp.hours()
    pool = {p: i for i, p in enumerate(dem.pools)}
    plan.deals = [
        {
            "id": deal,
            "staffed": bool(sol.staffed[d]),
            "expected_value": float(dem.value[d]),
            "win_probability": float(dem.win_probability[d]),
            "roles": inp.required(d),
        }
        for d, deal in enumerate(dem.deals)
    ]
    rows = []
    for (i, d), share in sorted(sol.share.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        person = inp.people[i]
        need = float(hours[d, pool[person.role]].sum())
        rows.append(
            {
                "deal": dem.deals[d],
                "role": person.role,
                "person": person.name,
                "share": round(share, 4),
                "hours": round(share * need * inp.multiplier(person.name, dem.deals[d]), 1),
            }
        )
    plan.assignments = rows
    # The engine simulates the assignment: each deal's owner per role (the largest share when
    # split) holds the deal's stages of that role (simsales.optimize.named).
    best: dict[tuple[int, str], tuple[float, Person]] = {}
    for (i, d), share in sol.share.items():
        person = inp.people[i]
        if (d, person.role) not in best or share > best[d, person.role][0]:
            best[d, person.role] = (share, person)
    owners: dict[str, list[Person]] = {}
    for (d, _), (_, person) in sorted(best.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        owners.setdefault(dem.deals[d], []).append(person)
    unstaffed = [d for d, on in zip(dem.deals, sol.staffed, strict=True) if not on]
    full_week = inp.hours_per_day * inp.workdays_per_week
    plan.overlay = assignment_overlay(scenario, inp.people, inp.fit, owners, unstaffed, full_week)
    return plan


def demand_of(scenario: Scenario, replications: int, seed: int) -> Demand:
    """Convenience for notebooks: the demand the optimizer would use."""
    return demand_from_forecast(forecast_demand(scenario, replications, seed))


def _robust_plan(
    scenario: Scenario,
    base_model: Any,
    k: int,
    alpha: float | None,
    floors: Mapping[str, float],
    n: int,
    seed: int,
    *,
    solver: str,
    time_limit: float | None,
    gap: float | None,
    budget: float | None,
    utilization: float,
    churn: float,
    change_every: int,
    keep: Sequence[str],
    require_all: bool,
    check: bool,
) -> Plan:
    """The robust capacity plan (simsales.optimize.robust), then in- and out-of-sample figures."""
    targets = dict(scenario.targets.revenue) if alpha is not None else {}
    targets.update(floors)
    futures = futures_from_forecast(forecast_demand(scenario, k, seed), tuple(targets))
    pools = pool_specs(scenario, base_model, futures.grid, churn)
    rinp = RobustInput(
        futures=futures,
        pools=pools,
        utilization=utilization,
        budget=budget,
        targets=targets,
        target_probability=alpha,
        keep=frozenset(keep),
        require_all=require_all,
        change_every=change_every,
    )
    t0 = time.perf_counter()
    rm = build_robust(rinp)
    build_seconds = time.perf_counter() - t0
    result = solve(rm.prob, solver, time_limit, gap)
    assumptions: dict[str, Any] = {
        "demand": f"{k} simulated futures (unconstrained pools), seed {seed}",
        "robust_futures": k,
        "target_probability": alpha,
        "targets": targets,
        "replications": n,
        "seed": seed,
        "out_of_sample_seed": seed + 1,
        "solver_gap_asked": gap or 0.0,
        "time_limit": time_limit,
        "utilization": utilization,
        "budget": budget,
        "churn_person_months": churn,
        "change_every_months": change_every,
        "keep": list(keep),
        "require_all": require_all,
    }
    diagnosis: list[str] = []
    if result.status == "infeasible":
        diagnosis = [
            f"no plan within the pools' bounds meets every target in {alpha:.0%} of the "
            f"{k} futures (or the budget is too small): lower --target-probability, raise the "
            "pools' max, or lower the targets"
            if alpha is not None
            else "the pools' bounds, budget or revenue floors cannot all hold"
        ]
    elif result.status == "not_solved":
        diagnosis = [f"no plan found within the time limit ({time_limit} s): raise --time-limit"]
    plan = _base_plan(
        result, rm.constant, build_seconds, scenario.currency, "capacity", diagnosis, assumptions
    )
    if not plan.solved:
        return plan
    grid = futures.grid
    heads = np.array(
        [[round(rm.h[p, m].value() or 0.0) for m in range(grid.n)] for p in range(len(pools))],
        dtype=np.int64,
    )
    pursue = np.array([(v.value() or 0.0) > 0.5 for v in rm.y], bool)
    plan.churn_penalty = churn_penalty(pools, heads)
    plan.change_cost = change_money(pools, heads)
    base_heads = np.array([pool.base for pool in pools])
    plan.base_change_cost = change_money(pools, base_heads)
    plan.objective = None if plan.objective is None else plan.objective + plan.churn_penalty
    plan.months = grid.labels
    plan.headcount = {pool.id: heads[p].tolist() for p, pool in enumerate(pools)}
    plan.base_headcount = {pool.id: pool.base.tolist() for pool in pools}
    plan.changes = {}
    for p, pool in enumerate(pools):
        hired, released = changes(pool, heads[p])
        plan.changes[pool.id] = {"hired": hired.tolist(), "released": released.tolist()}
    plan.deals = [
        {
            "id": deal,
            "pursue": bool(pursue[d]),
            "expected_value": float(futures.value[:, d].mean()),
            "win_probability": float(futures.won[:, d].mean()),
        }
        for d, deal in enumerate(futures.deals)
    ]
    aligned = [
        all(c.from_.day == 1 for c in pool.capacity_changes) for pool in scenario.resources.values()
    ]
    overlay = capacity_overlay(futures.pools, grid, heads, base_heads, aligned)
    overlay.update(drop_overlay([d for d, on in zip(futures.deals, pursue, strict=True) if not on]))
    plan.overlay = overlay
    model_p = {
        label: float(np.mean([(rm.met[label, i].value() or 0.0) > 0.5 for i in range(k)]))
        for label in targets
        if (label, 0) in rm.met
    }
    if check:
        costs = (plan.base_change_cost, plan.change_cost)
        plan.verification = verify(
            scenario,
            overlay,
            n,
            seed + 1,
            floors=floors,
            mode="capacity",
            change_cost=costs,
            claimed=plan.objective,
        )
        shown = targets or dict(scenario.targets.revenue)
        plan.robust = robust_table(
            scenario, overlay, (k, seed), (n, seed + 1), plan.objective, shown, model_p, costs[1]
        )
    return plan
