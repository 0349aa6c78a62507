"""Solving a PuLP model and saying honestly what the solver proved.

PuLP reports "Optimal" for a CBC run stopped by its time limit (and HiGHS stops at a 0.01% gap
by default and calls that optimal too). Here a plan is ``optimal`` only when the solver proved
it: it says so *and* the gap between the best solution and the best bound is within
:data:`OPTIMAL_GAP` (numerical tolerance). A solution without that proof is ``feasible`` with
its gap; no solution is ``infeasible``, ``unbounded`` or, when the time ran out first,
``not_solved``.

Objectives are kept free of constants (the callers add them back), so the gap here is the gap
the solver itself controls with ``gap``.

``time_limit`` is the whole call's: handing the model over and reading the solution back
count too (on a plan of 1,000 deals they take seconds, and solvers count only their own
search). Each solver is given the time left when it starts, minus a reserve for reading the
answer back (as long as handing the model over took: both walk every variable), and HiGHS is
also interrupted from its own callbacks once that moment has passed, because its presolve and
root LP do not look at its clock. CBC is the default: on the optimizer benchmark (200 deals,
6 roles, 12 months, 0.1% gap) it proved the plan in 10 s where HiGHS took 137 s.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import sys
import tempfile
import threading
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


class _Deadline:
    """The end of a time-limited call, and what is left of it for a solver starting now."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()
        self.end = None if seconds is None else self.start + seconds
        self.handover: float | None = None  # seconds before the solver could start
        self.solver_stop: float | None = None  # when the solver must have stopped

    def left_for_solver(self) -> float | None:
        """Seconds for a solver starting now: what is left, minus a reserve as long as the
        hand-over took (reading the answer back walks every variable again)."""
        if self.end is None:
            return None
        now = time.perf_counter()
        self.handover = now - self.start
        left = max(MIN_SOLVER_SECONDS, self.end - now - self.handover)
        self.solver_stop = now + left
        return left

    def overrun_note(self, took: float) -> str:
        """Why the call took longer than its limit (handing the model over and back does)."""
        if self.seconds is None or self.handover is None or took <= self.seconds:
            return ""
        return (
            f"; it took {took:.1f} s for a limit of {self.seconds:g} s: handing the model to "
            f"the solver took {self.handover:.1f} s and reading the answer back about as long"
        )


MIN_SOLVER_SECONDS = 0.05  # a solver given no time at all finds nothing to report


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
    deadline = _Deadline(time_limit)
    if solver == "cbc":
        says, has, bound, message = _solve_cbc(prob, deadline, rel_gap, msg, threads)
    else:
        says, has, bound, message = _solve_highs(prob, deadline, rel_gap, msg, threads)
    seconds = time.perf_counter() - deadline.start
    objective = _objective(prob) if has else None
    if says == "optimal" and bound is None:
        bound = objective  # the solver proved it without printing a separate bound
    status, found_gap = classify(says, has, objective, bound)
    message += deadline.overrun_note(seconds)
    return SolveResult(status, objective, bound, found_gap, seconds, solver, message)


def _objective(prob: pulp.LpProblem) -> float | None:
    value = pulp.value(prob.objective) if prob.objective is not None else 0.0
    return None if value is None else float(value)


# --- CBC ----------------------------------------------------------------------------------------

_CBC_RESULT = re.compile(r"^Result - (.+)$", re.M)
_CBC_BOUND = re.compile(r"^(?:Upper|Lower) bound:\s+(\S+)", re.M)


class _CbcWatchdog:
    """Interrupts CBC when its share of the time is spent: CBC looks at its ``-sec`` limit only
    between branch-and-bound nodes, and reading a big model and its root LP can take far longer
    (29 s for a 2 s limit on 1,000 deals). SIGINT is CBC's own "stop and report the best so far";
    a CBC still running a grace period later is killed. Found by the scratch folder on its
    command line, among this process's children (Linux /proc)."""

    GRACE_SECONDS = 2.0

    def __init__(self, deadline: _Deadline, scratch: str) -> None:
        self.deadline, self.scratch = deadline, scratch
        self.killed = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> _CbcWatchdog:
        if self.deadline.end is not None and os.path.isdir("/proc"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        while self.deadline.solver_stop is None:  # PuLP is still writing the model
            if self._done.wait(0.05):
                return
        if self._done.wait(max(0.0, self.deadline.solver_stop - time.perf_counter())):
            return
        for pid in self._cbc_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        if self._done.wait(self.GRACE_SECONDS):
            return
        for pid in self._cbc_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                self.killed = True

    def _cbc_pids(self) -> list[int]:
        pids = []
        me = str(os.getpid())
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                    parent = f.read().rsplit(")", 1)[1].split()[1]
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    command = f.read().decode(errors="replace")
            except OSError:
                continue
            if parent == me and self.scratch + os.sep in command:
                pids.append(int(entry.name))
        return pids


class _DeadlineCBC(pulp.PULP_CBC_CMD):
    """CBC given the time left when it starts: PuLP reads ``timeLimit`` for CBC's ``-sec``
    after it has written the model file, so the limit is worked out at that moment."""

    deadline: _Deadline | None = None

    @property
    def timeLimit(self) -> float | None:  # noqa: N802 (PuLP's name)
        return None if self.deadline is None else self.deadline.left_for_solver()

    @timeLimit.setter
    def timeLimit(self, value: float | None) -> None:  # noqa: N802
        pass  # the deadline, set after construction, is the one limit


def _solve_cbc(
    prob: pulp.LpProblem, deadline: _Deadline, gap: float, msg: bool, threads: int | None
) -> _Outcome:
    # PuLP reads only CBC's solution file, which says "Optimal" for a time-limited run; the
    # log says what happened and carries the best bound, so keep it and read it.
    with tempfile.TemporaryDirectory(prefix="simsales-cbc-") as scratch:
        log_path = os.path.join(scratch, "cbc.log")
        with warnings.catch_warnings():
            # PuLP 3.3 announces the bundled CBC's removal in 4.0; it is the documented default.
            warnings.simplefilter("ignore", DeprecationWarning)
            cmd = _DeadlineCBC(msg=False, gapRel=gap, threads=threads, logPath=log_path)
            cmd.deadline = deadline
            cmd.tmpDir = scratch  # CBC's command line names this folder: the watchdog finds it
        if not cmd.available():
            raise OptimizationError("CBC is not available: reinstall PuLP (it bundles CBC)")
        watchdog = _CbcWatchdog(deadline, scratch)
        try:
            with watchdog:
                prob.solve(cmd)
        except pulp.PulpSolverError as exc:
            if watchdog.killed:
                return "no_solution", False, None, "Stopped on time limit (CBC had no solution)"
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
    """HiGHS through its Python API, given the time left when it starts, and interrupted from
    its simplex, interior-point and MIP callbacks once the solver's share of the call is spent
    (its presolve and root LP run past its own ``time_limit``)."""

    deadline: _Deadline | None = None
    interrupted = False  # set when a callback stopped the run at the deadline

    def callSolver(self, lp: pulp.LpProblem) -> None:  # noqa: N802 (PuLP's name)
        model = lp.solverModel
        left = None if self.deadline is None else self.deadline.left_for_solver()
        if left is not None:
            model.setOptionValue("time_limit", float(left))
            stop_at = time.perf_counter() + left

            def interrupt(event: Any) -> None:
                if time.perf_counter() >= stop_at:
                    self.interrupted = True
                    event.interrupt()

            for callback in (model.cbSimplexInterrupt, model.cbIpmInterrupt, model.cbMipInterrupt):
                callback.subscribe(interrupt)
        model.run()


def _highs_solver(deadline: _Deadline, gap: float, msg: bool, threads: int | None) -> Any:
    api = _DeadlineHiGHS(msg=msg, gapRel=gap, gapAbs=0.0, threads=threads)
    if api.available():
        _quiet_banner()
        api.deadline = deadline
        return api
    limit = deadline.left_for_solver()
    cmd = pulp.HiGHS_CMD(msg=msg, timeLimit=limit, gapRel=gap, gapAbs=0.0, threads=threads)
    if cmd.available():
        return cmd
    raise OptimizationError("HiGHS is not available: pip install highspy")


def _solve_highs(
    prob: pulp.LpProblem, deadline: _Deadline, gap: float, msg: bool, threads: int | None
) -> _Outcome:
    api = _highs_solver(deadline, gap, msg, threads)
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
    if getattr(api, "interrupted", False):
        text = "Time limit reached (stopped at the deadline from a callback)"
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    kinds = highspy.HighsModelStatus
    if status == kinds.kInfeasible:
        return "infeasible", False, None, text
    if status == kinds.kUnbounded:
        return "unbounded", False, None, text
    if status == kinds.kUnboundedOrInfeasible:
        return _infeasible_or_unbounded(prob, deadline), False, None, text
    bound = _highs_bound(prob, model, info)
    if status == kinds.kOptimal:
        return ("optimal" if has else "no_solution"), has, bound, text
    return ("stopped" if has else "no_solution"), has, bound, text


def _highs_bound(prob: pulp.LpProblem, model: Any, info: Any) -> float | None:
    # HiGHS's own integrality list: walking PuLP's variables again costs a second on big plans
    if not any(int(kind) for kind in model.getLp().integrality_):
        return None  # an LP: kOptimal is a proof, and HiGHS keeps no MIP bound
    bound = float(info.mip_dual_bound)
    if not math.isfinite(bound):
        return None
    # PuLP hands HiGHS a maximisation as the minimisation of the negated objective.
    return -bound if prob.sense == pulp.LpMaximize else bound


def _infeasible_or_unbounded(prob: pulp.LpProblem, deadline: _Deadline) -> Verdict:
    """HiGHS sometimes cannot tell the two apart; a zero objective settles it."""
    probe = prob.copy()
    probe.setObjective(pulp.LpAffineExpression())
    probe.solve(_highs_solver(deadline, 0.0, False, None))
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
