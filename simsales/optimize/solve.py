"""Solving a PuLP model and saying honestly what the solver proved.

PuLP reports "Optimal" for a CBC run stopped by its time limit (and HiGHS stops at a 0.01% gap
by default and calls that optimal too). Here a plan is ``optimal`` only when the solver proved
it: it says so *and* the gap between the best solution and the best bound is within
:data:`OPTIMAL_GAP` (numerical tolerance). A solution without that proof is ``feasible`` with
its gap; no solution is ``infeasible``, ``unbounded`` or, when the time ran out first,
``not_solved``.

Objectives are kept free of constants (the callers add them back), so the gap here is the gap
the solver itself controls with ``gap``.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import pulp

from simsales.errors import OptimizationError

__all__ = [
    "OPTIMAL_GAP",
    "SOLVERS",
    "SolveResult",
    "Status",
    "classify",
    "relative_gap",
    "solve",
]

Status = Literal["optimal", "feasible", "infeasible", "unbounded", "not_solved"]
Verdict = Literal["optimal", "stopped", "infeasible", "unbounded", "no_solution"]
_Outcome = tuple[Verdict, bool, float | None, str]  # verdict, has a solution, bound, message
SOLVERS = ("cbc", "highs")
OPTIMAL_GAP = 1e-6  # relative gap below which a solver's "optimal" is taken as proved


@dataclass(frozen=True)
class SolveResult:
    """What one solve proved. ``objective`` and ``bound`` are in the model's own sense."""

    status: Status
    objective: float | None
    bound: float | None  # best proved bound (upper for maximisation); None when unknown
    gap: float | None  # relative: |bound - objective| / max(|objective|, 1e-9)
    seconds: float
    solver: str
    message: str  # the solver's own words, for the curious


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """The relative gap solvers use: |bound - objective| / |objective| (guarded near 0)."""
    if objective is None or bound is None or not math.isfinite(bound):
        return None
    return abs(bound - objective) / max(abs(objective), 1e-9)


def classify(
    solver_says: Verdict,
    has_solution: bool,
    objective: float | None,
    bound: float | None,
) -> tuple[Status, float | None]:
    """Map what a solver reported onto our statuses; returns (status, gap).

    ``solver_says`` is the solver's verdict reduced to five words: "optimal" (it claims
    optimality, perhaps only within a gap tolerance), "stopped" (a limit ended the search),
    "infeasible", "unbounded", "no_solution". Only a claim of optimality whose gap is within
    :data:`OPTIMAL_GAP` becomes ``optimal``; any other run with a solution is ``feasible``.
    """
    if solver_says == "infeasible":
        return "infeasible", None
    if solver_says == "unbounded":
        return "unbounded", None
    if not has_solution or objective is None:
        return "not_solved", None
    gap = relative_gap(objective, bound)
    if solver_says == "optimal" and gap is not None and gap <= OPTIMAL_GAP:
        return "optimal", gap
    return "feasible", gap


def solve(
    prob: pulp.LpProblem,
    solver: str = "cbc",
    time_limit: float | None = None,
    gap: float | None = None,
    msg: bool = False,
    threads: int | None = None,
) -> SolveResult:
    """Solve ``prob`` with CBC or HiGHS and report what was proved.

    ``gap`` is the relative gap at which the solver may stop (default 0: prove the optimum);
    ``time_limit`` in seconds. The objective must have no constant term.
    """
    if solver not in SOLVERS:
        raise OptimizationError(f"unknown solver {solver!r}: use one of {', '.join(SOLVERS)}")
    if time_limit is not None and not time_limit > 0:
        raise OptimizationError(f"time limit must be positive seconds, got {time_limit}")
    if gap is not None and not 0 <= gap < 1:
        raise OptimizationError(f"gap must be a fraction in [0, 1), got {gap}")
    if prob.objective is not None and prob.objective.constant:
        raise ValueError("keep constants out of the objective; add them to the result instead")
    rel_gap = 0.0 if gap is None else float(gap)
    start = time.perf_counter()
    if solver == "cbc":
        says, has, bound, message = _solve_cbc(prob, time_limit, rel_gap, msg, threads)
    else:
        says, has, bound, message = _solve_highs(prob, time_limit, rel_gap, msg, threads)
    seconds = time.perf_counter() - start
    objective = _objective(prob) if has else None
    if says == "optimal" and bound is None:
        bound = objective  # the solver proved it without printing a separate bound
    status, found_gap = classify(says, has, objective, bound)
    return SolveResult(status, objective, bound, found_gap, seconds, solver, message)


def _objective(prob: pulp.LpProblem) -> float | None:
    value = pulp.value(prob.objective) if prob.objective is not None else 0.0
    return None if value is None else float(value)


# --- CBC ----------------------------------------------------------------------------------------

_CBC_RESULT = re.compile(r"^Result - (.+)$", re.M)
_CBC_BOUND = re.compile(r"^(?:Upper|Lower) bound:\s+(\S+)", re.M)


def _solve_cbc(
    prob: pulp.LpProblem, time_limit: float | None, gap: float, msg: bool, threads: int | None
) -> _Outcome:
    # PuLP reads only CBC's solution file, which says "Optimal" for a time-limited run; the
    # log says what happened and carries the best bound, so keep it and read it.
    with tempfile.TemporaryDirectory(prefix="simsales-cbc-") as scratch:
        log_path = os.path.join(scratch, "cbc.log")
        with warnings.catch_warnings():
            # PuLP 3.3 announces the bundled CBC's removal in 4.0; it is the documented default.
            warnings.simplefilter("ignore", DeprecationWarning)
            cmd = pulp.PULP_CBC_CMD(
                msg=False, timeLimit=time_limit, gapRel=gap, threads=threads, logPath=log_path
            )
        if not cmd.available():
            raise OptimizationError("CBC is not available: reinstall PuLP (it bundles CBC)")
        try:
            prob.solve(cmd)
        except pulp.PulpSolverError as exc:
            raise OptimizationError(f"CBC failed: {exc}") from None
        try:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                log = f.read()
        except FileNotFoundError:
            log = ""
    if msg:
        sys.stderr.write(log)
    result = _CBC_RESULT.search(log)
    text = result.group(1).strip() if result else pulp.LpStatus[prob.status]
    bound_match = _CBC_BOUND.search(log)
    bound = float(bound_match.group(1)) if bound_match else None
    has = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    if prob.status == pulp.LpStatusInfeasible:
        return "infeasible", False, None, text
    if prob.status == pulp.LpStatusUnbounded:
        return "unbounded", False, None, text
    lowered = text.lower()
    says: Verdict
    if result is None:  # no branch and bound ran (an LP, or solved while reading it)
        says = "optimal" if prob.sol_status == pulp.LpSolutionOptimal else "stopped"
        if not has:
            says = "no_solution"
    elif lowered.startswith("optimal solution found") and "gap" not in lowered:
        says = "optimal" if has else "no_solution"
    elif "optimal" in lowered:  # "(within gap tolerance)": proved only to the gap asked for
        says = "optimal" if has else "no_solution"
        if bound is None:  # no bound printed: we cannot claim the gap is zero
            return ("stopped" if has else "no_solution"), has, None, text
    else:
        says = "stopped" if has else "no_solution"
    return says, has, bound, text


# --- HiGHS --------------------------------------------------------------------------------------

_BANNER_DONE = False


def _quiet_banner() -> None:
    """HiGHS prints a banner on stdout when the first solver object is made, whatever the
    options; make that first one with stdout pointed at stderr so ``--json`` output stays JSON."""
    global _BANNER_DONE
    if _BANNER_DONE:
        return
    import highspy

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (some embedded interpreters): nothing to protect
        highspy.Highs()
    else:
        try:
            os.dup2(2, 1)
            highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    _BANNER_DONE = True


class _DeadlineHiGHS(pulp.HiGHS):
    """HiGHS through its Python API, with the time limit counted from the call of solve():
    handing PuLP's model to HiGHS takes seconds on big plans, so HiGHS gets what is left."""

    deadline: float | None = None

    def callSolver(self, lp: pulp.LpProblem) -> None:  # noqa: N802 (PuLP's name)
        if self.deadline is not None:
            left = max(0.05, self.deadline - time.perf_counter())
            lp.solverModel.setOptionValue("time_limit", float(left))
        lp.solverModel.run()


def _highs_solver(time_limit: float | None, gap: float, msg: bool, threads: int | None) -> Any:
    api = _DeadlineHiGHS(msg=msg, timeLimit=time_limit, gapRel=gap, gapAbs=0.0, threads=threads)
    if api.available():
        _quiet_banner()
        if time_limit is not None:
            api.deadline = time.perf_counter() + time_limit
        return api
    cmd = pulp.HiGHS_CMD(msg=msg, timeLimit=time_limit, gapRel=gap, gapAbs=0.0, threads=threads)
    if cmd.available():
        return cmd
    raise OptimizationError("HiGHS is not available: pip install highspy")


def _solve_highs(
    prob: pulp.LpProblem, time_limit: float | None, gap: float, msg: bool, threads: int | None
) -> _Outcome:
    api = _highs_solver(time_limit, gap, msg, threads)
    try:
        prob.solve(api)
    except pulp.PulpSolverError as exc:
        raise OptimizationError(f"HiGHS failed: {exc}") from None
    model = getattr(prob, "solverModel", None)
    if model is None:  # HiGHS_CMD: only PuLP's reading of its files
        return _from_pulp_status(prob)
    import highspy

    status = model.getModelStatus()
    info = model.getInfo()
    text = model.modelStatusToString(status)
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    kinds = highspy.HighsModelStatus
    if status == kinds.kInfeasible:
        return "infeasible", False, None, text
    if status == kinds.kUnbounded:
        return "unbounded", False, None, text
    if status == kinds.kUnboundedOrInfeasible:
        return _infeasible_or_unbounded(prob, time_limit), False, None, text
    bound = _highs_bound(prob, info)
    if status == kinds.kOptimal:
        return ("optimal" if has else "no_solution"), has, bound, text
    return ("stopped" if has else "no_solution"), has, bound, text


def _highs_bound(prob: pulp.LpProblem, info: Any) -> float | None:
    if not any(v.cat == pulp.LpInteger for v in prob.variables()):
        return None  # an LP: kOptimal is a proof, and HiGHS keeps no MIP bound
    bound = float(info.mip_dual_bound)
    if not math.isfinite(bound):
        return None
    # PuLP hands HiGHS a maximisation as the minimisation of the negated objective.
    return -bound if prob.sense == pulp.LpMaximize else bound


def _infeasible_or_unbounded(prob: pulp.LpProblem, time_limit: float | None) -> Verdict:
    """HiGHS sometimes cannot tell the two apart; a zero objective settles it."""
    probe = prob.copy()
    probe.setObjective(pulp.LpAffineExpression())
    probe.solve(_highs_solver(time_limit, 0.0, False, None))
    return "unbounded" if probe.sol_status in (1, 2) else "infeasible"


def _from_pulp_status(prob: pulp.LpProblem) -> _Outcome:
    has = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    text = pulp.LpStatus[prob.status]
    if prob.status == pulp.LpStatusInfeasible:
        return "infeasible", False, None, text
    if prob.status == pulp.LpStatusUnbounded:
        return "unbounded", False, None, text
    if prob.sol_status == pulp.LpSolutionOptimal:
        return "optimal", True, None, text
    return ("stopped" if has else "no_solution"), has, None, text
