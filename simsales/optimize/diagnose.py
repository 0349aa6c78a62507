"""Why a plan is infeasible, in the users' terms, from an elastic relaxation.

Every constraint a user can relax (a pool's capacity in a month, a person's hours, the budget, a
revenue floor, "every deal must be staffed") is registered as *soft*. Normally it is an ordinary
constraint; in the elastic model it gets a nonnegative slack variable, and the model minimises the
total weighted slack instead of the plan's objective. The slacks left at the optimum say which
constraints must give, and by how much: "presales in 2027-03 short by 2.5 people".

Slacks count the user's units, and people are whole: "presales in 2027-03 short by 2 people",
never 0.07 of one, and the budget slack pays for those whole people; amounts of money and hours
are rounded up. So the repair (every slack applied together: more people, more budget, lower
floors, deals let go) is one a user can apply as stated, and :func:`simsales.api.optimize`
confirms it with a second solve of the repaired problem.

Weights put the slacks in comparable units, person-months: the cost of one person-month is 1
(money), one person-month of a named person's hours is 1, one person missing for a month beyond
a pool's limits is :data:`CAPACITY_WEIGHT` (and costs their day rate in the budget too), so the
relaxation hires within the limits before it reports people missing beyond them; a required
deal weighs :data:`REQUIRE_WEIGHT`, so capacity and money give before the user's "every deal"
does. The answer is one smallest way to restore feasibility, not the only one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import pulp

__all__ = ["CAPACITY_WEIGHT", "REQUIRE_WEIGHT", "Soft", "SoftInfo", "describe"]

Kind = Literal["capacity", "person", "budget", "revenue", "require"]
REQUIRE_WEIGHT = 1000.0
CAPACITY_WEIGHT = 10.0
_TINY = 1e-6
_SMALLEST = 0.005  # people, hours, money or deals: below this it is solver noise


@dataclass(frozen=True)
class SoftInfo:
    """What a soft constraint means to the user.

    ``per_unit``: model units (person-days, hours, money, deals) per user unit (people, hours,
    money, deals); ``weight``: elastic cost of one user unit of slack.
    """

    kind: Kind
    subject: str  # pool, person, period or deal
    month: str | None = None
    per_unit: float = 1.0
    weight: float = 1.0
    verb: str = "pursued"  # for "require": pursued / staffed
    whole: bool = False  # the slack counts whole units (people): an integer


class Soft:
    """Soft constraints of one model; with ``elastic`` each gets a slack variable."""

    def __init__(self, prob: pulp.LpProblem, elastic: bool) -> None:
        self.prob, self.elastic = prob, elastic
        self.items: list[tuple[SoftInfo, pulp.LpVariable | None, pulp.LpConstraint]] = []

    def add(
        self,
        pairs: list[tuple[pulp.LpVariable, float]],
        sense: Literal["<=", ">="],
        rhs: float,
        info: SoftInfo,
        slack_max: float | None = None,
    ) -> pulp.LpVariable | None:
        """Add the constraint; returns its slack variable in the elastic model, else None."""
        slack = None
        if self.elastic:
            # The slack is in the user's units (people, hours, money, deals), integer for whole
            # people: a repair one can apply as it is, not 0.07 of a person.
            cat = pulp.LpInteger if info.whole else pulp.LpContinuous
            slack = self.prob.add_variable(f"slack{len(self.items)}", 0, slack_max, cat=cat)
            # The slack widens the constraint: less on the left of <=, more on the left of >=.
            pairs = [*pairs, (slack, (-1.0 if sense == "<=" else 1.0) * info.per_unit)]
        expr = pulp.LpAffineExpression(pairs)
        op = pulp.LpConstraintLE if sense == "<=" else pulp.LpConstraintGE
        constraint = pulp.LpConstraint(expr, op, rhs=rhs)
        self.prob.addConstraint(constraint)
        self.items.append((info, slack, constraint))
        return slack

    def slack_objective(self) -> pulp.LpAffineExpression:
        """Total weighted slack, in person-months (to be minimised)."""
        return pulp.LpAffineExpression(
            [(s, info.weight) for info, s, _ in self.items if s is not None]
        )

    def violations(self) -> list[tuple[SoftInfo, float]]:
        """After an elastic solve: (constraint, amount in user units) for every slack used."""
        out = []
        for info, slack, _ in self.items:
            amount = 0.0 if slack is None else float(slack.value() or 0.0)
            if info.whole:
                amount = float(round(amount))
            if amount > _SMALLEST:
                out.append((info, amount))
        return out


def describe(violations: list[tuple[SoftInfo, float]], currency: str) -> list[str]:
    """Plain-language lines, largest shortfalls of each kind first."""
    order = {"capacity": 0, "person": 1, "budget": 2, "revenue": 3, "require": 4}
    lines = []
    for info, amount in sorted(violations, key=lambda v: (order[v[0].kind], -v[1])):
        if info.kind == "capacity":
            word = "person" if round(amount) == 1 else "people"
            lines.append(f"{info.subject} in {info.month} short by {amount:,.0f} {word}")
        elif info.kind == "person":
            lines.append(f"{info.subject} in {info.month} short by {math.ceil(amount):,} hours")
        elif info.kind == "budget":
            lines.append(f"budget short by {math.ceil(amount):,} {currency}")
        elif info.kind == "revenue":
            lines.append(
                f"expected revenue in {info.subject} short by {math.ceil(amount):,} {currency}"
            )
        else:
            lines.append(f"deal {info.subject} cannot be {info.verb} within these limits")
    return lines


def _num(x: float) -> str:
    if abs(x) < 0.1:
        return f"{x:.2f}"
    return f"{x:,.1f}" if abs(x) < 100 else f"{x:,.0f}"
