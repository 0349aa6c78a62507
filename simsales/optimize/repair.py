"""The repair an infeasibility diagnosis proposes, applied to the problem to confirm it.

The elastic relaxation (diagnose.py) says which limits must give and by how much, in whole
people, whole hours and whole currency units. :func:`repaired` applies every one of them
together (a pool may hold that many more people in that month, the budget grows, a revenue floor
is lowered, a required deal is let go, a person works more hours), so that a second solve of the
ordinary model can confirm that the repair makes the problem feasible.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from simsales.optimize.assignment import AssignmentInput
from simsales.optimize.capacity import CapacityInput
from simsales.optimize.diagnose import SoftInfo

__all__ = ["repaired"]


def repaired(inp: Any, violations: list[tuple[SoftInfo, float]]) -> Any:
    """``inp`` (a CapacityInput or AssignmentInput) with every violation's slack granted."""
    exempt = {info.subject for info, _ in violations if info.kind == "require"}
    if isinstance(inp, CapacityInput):
        return _capacity(inp, violations, exempt)
    if isinstance(inp, AssignmentInput):
        extra = dict(inp.extra_hours)
        for info, amount in violations:
            if info.kind == "person" and info.month is not None:
                key = (info.subject, info.month)
                extra[key] = extra.get(key, 0.0) + math.ceil(amount)
        return dataclasses.replace(inp, extra_hours=extra, exempt=inp.exempt | exempt)
    raise TypeError(f"no repair for {type(inp).__name__}")


def _capacity(
    inp: CapacityInput, violations: list[tuple[SoftInfo, float]], exempt: set[str]
) -> CapacityInput:
    labels = inp.demand.grid.labels
    pools = list(inp.pools)
    index = {p.id: i for i, p in enumerate(pools)}
    budget, floors = inp.budget, dict(inp.revenue_floors)
    for info, amount in violations:
        if info.kind == "capacity" and info.month is not None:
            i, m = index[info.subject], labels.index(info.month)
            upper = pools[i].upper.copy()
            if np.isfinite(upper[m]):  # an unbounded pool needs no more room
                upper[m] += round(amount)
            pools[i] = dataclasses.replace(pools[i], upper=upper)
        elif info.kind == "budget" and budget is not None:
            budget += math.ceil(amount)
        elif info.kind == "revenue":
            floors[info.subject] = max(0.0, floors[info.subject] - math.ceil(amount))
    return dataclasses.replace(
        inp, pools=pools, budget=budget, revenue_floors=floors, exempt=inp.exempt | exempt
    )
