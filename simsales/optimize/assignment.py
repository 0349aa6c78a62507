"""Named assignment: who covers which deal, within everyone's hours.

Roles are the pools that have named people in ``people.csv`` (other pools, e.g. an external
partner, are not assigned by name). A deal *requires* a role when its expected demand for that
pool is positive. Decisions:

- ``s[d]`` staff deal d (1) or not (0);
- ``a[i, d]`` person i owns deal d's work in their role: binary, or a share in [0, 1] with
  ``allow_split`` (several people split the work).

Each staffed deal gets exactly one owner per required role (shares summing to one when split):
``sum_{i in role r} a[i, d] = s[d]``. Person i's hours in month m,
``sum_d a[i, d] x hours[d, r_i, m] x effort_multiplier[i, d]``, stay within
``hours_per_week x working days of m / working days per week``. The objective is the expected
value of the staffed deals, raised by each owner's ``value_uplift``:
``sum_d s_d value_d + sum_{i,d} a[i, d] uplift[i, d] value_d``. With ``require_all`` every deal
must be staffed (an infeasible demand then gets a diagnosis); otherwise the plan staffs what the
hours allow.

Hours come from the demand forecast: expected person-days x ``hours_per_day``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pulp

from simsales.optimize.demand import Demand
from simsales.optimize.diagnose import REQUIRE_WEIGHT, Soft, SoftInfo
from simsales.optimize.people import Fit, Person

__all__ = [
    "AssignmentInput",
    "AssignmentModel",
    "AssignmentSolution",
    "assignment_objective",
    "build_assignment",
    "read_assignment",
]

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-9


@dataclass(frozen=True)
class AssignmentInput:
    demand: Demand
    people: Sequence[Person]
    fit: Mapping[tuple[str, str], Fit] = field(default_factory=dict)
    hours_per_day: float = 8.0
    workdays_per_week: float = 5.0
    allow_split: bool = False
    require_all: bool = False
    exempt: frozenset[str] = frozenset()  # deals "require_all" lets go (a diagnosis repair)
    extra_hours: Mapping[tuple[str, str], float] = field(default_factory=dict)  # person, month

    def __post_init__(self) -> None:
        if self.hours_per_day <= 0 or self.workdays_per_week <= 0:
            raise ValueError("hours_per_day and workdays_per_week must be positive")
        unknown = {p.role for p in self.people} - set(self.demand.pools)
        if unknown:
            raise ValueError(f"roles {sorted(unknown)} are not pools of the demand")

    @property
    def roles(self) -> list[str]:
        """Pools with named people, in the demand's pool order."""
        named = {p.role for p in self.people}
        return [p for p in self.demand.pools if p in named]

    def hours(self) -> FloatArray:
        """(D, P, M) expected hours of work per deal, pool and month."""
        return self.demand.effort * self.hours_per_day

    def capacity(self) -> FloatArray:
        """(people, M) hours each person has in each month."""
        days = self.demand.grid.days
        out = np.array([p.hours_per_week * days / self.workdays_per_week for p in self.people])
        labels = self.demand.grid.labels
        for i, person in enumerate(self.people):
            for m, label in enumerate(labels):
                out[i, m] += self.extra_hours.get((person.name, label), 0.0)
        return out

    def multiplier(self, person: str, deal: str) -> float:
        f = self.fit.get((person, deal))
        return 1.0 if f is None else f.effort_multiplier

    def uplift(self, person: str, deal: str) -> float:
        f = self.fit.get((person, deal))
        return 0.0 if f is None else f.value_uplift

    def required(self, d: int) -> list[str]:
        """Roles deal d needs (positive expected demand for the pool)."""
        pool = {p: i for i, p in enumerate(self.demand.pools)}
        total = self.demand.effort[d].sum(axis=1)
        return [r for r in self.roles if total[pool[r]] > _EPS]


@dataclass
class AssignmentModel:
    prob: pulp.LpProblem
    inp: AssignmentInput
    s: list[pulp.LpVariable]
    a: dict[tuple[int, int], pulp.LpVariable]  # (person index, deal index)
    soft: Soft


def build_assignment(inp: AssignmentInput, elastic: bool = False) -> AssignmentModel:
    dem = inp.demand
    n_d = len(dem.deals)
    pool = {p: i for i, p in enumerate(dem.pools)}
    hours, cap = inp.hours(), inp.capacity()
    prob = pulp.LpProblem("assignment", pulp.LpMinimize if elastic else pulp.LpMaximize)
    soft = Soft(prob, elastic)
    s = [prob.add_variable(f"s{d}", cat=pulp.LpBinary) for d in range(n_d)]
    a: dict[tuple[int, int], pulp.LpVariable] = {}
    cat = pulp.LpContinuous if inp.allow_split else pulp.LpBinary
    by_role: dict[str, list[int]] = {}
    for i, person in enumerate(inp.people):
        by_role.setdefault(person.role, []).append(i)
    objective = [(s[d], float(dem.value[d])) for d in range(n_d)]
    for d in range(n_d):
        for role in inp.required(d):
            owners = []
            for i in by_role[role]:
                var = prob.add_variable(f"a{i}_{d}", 0, 1, cat=cat)
                a[i, d] = var
                owners.append((var, 1.0))
                gain = inp.uplift(inp.people[i].name, dem.deals[d]) * float(dem.value[d])
                if gain:
                    objective.append((var, gain))
            prob.addConstraint(
                pulp.LpConstraint(
                    pulp.LpAffineExpression([*owners, (s[d], -1.0)]), pulp.LpConstraintEQ, rhs=0
                )
            )
    load: dict[tuple[int, int], list[tuple[pulp.LpVariable, float]]] = {}
    for (i, d), var in a.items():
        person = inp.people[i]
        row = hours[d, pool[person.role]] * inp.multiplier(person.name, dem.deals[d])
        for m in np.flatnonzero(row > _EPS).tolist():
            load.setdefault((i, m), []).append((var, float(row[m])))
    for (i, m), pairs in sorted(load.items()):
        person = inp.people[i]
        month_hours = max(float(cap[i].mean()), 1.0)
        soft.add(
            pairs,
            "<=",
            float(cap[i, m]),
            SoftInfo(
                "person", person.name, dem.grid.labels[m], per_unit=1.0, weight=1.0 / month_hours
            ),
        )
    if inp.require_all:
        for d in range(n_d):
            if dem.deals[d] in inp.exempt:
                continue
            soft.add(
                [(s[d], 1.0)],
                ">=",
                1.0,
                SoftInfo("require", dem.deals[d], weight=REQUIRE_WEIGHT, verb="staffed"),
                slack_max=1.0,
            )
    prob.setObjective(soft.slack_objective() if elastic else pulp.LpAffineExpression(objective))
    return AssignmentModel(prob, inp, s, a, soft)


@dataclass(frozen=True)
class AssignmentSolution:
    staffed: npt.NDArray[np.bool_]  # (D,)
    share: dict[tuple[int, int], float]  # (person, deal) -> share of the role's work (> 0)
    objective: float


def read_assignment(am: AssignmentModel) -> AssignmentSolution:
    staffed = np.array([(v.value() or 0.0) > 0.5 for v in am.s], bool)
    share = {}
    for (i, d), var in am.a.items():
        value = float(var.value() or 0.0)
        if not am.inp.allow_split:
            value = 1.0 if value > 0.5 else 0.0
        if value > 1e-6 and staffed[d]:
            share[i, d] = value
    return AssignmentSolution(staffed, share, assignment_objective(am.inp, staffed, share))


def assignment_objective(
    inp: AssignmentInput, staffed: npt.NDArray[np.bool_], share: Mapping[tuple[int, int], float]
) -> float:
    """Expected value of an assignment, straight from the module docstring's formula."""
    dem = inp.demand
    value = float(dem.value[staffed].sum())
    for (i, d), x in share.items():
        value += x * inp.uplift(inp.people[i].name, dem.deals[d]) * float(dem.value[d])
    return value
