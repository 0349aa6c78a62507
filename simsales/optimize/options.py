"""OptimizeOptions: what a staffing plan is asked for, one object for the API and the CLI.

Every option applies in the mode it belongs to and is refused in the other (never silently
ignored); None means "the default" so that an option given can be told from one left out.
How replications and the seed of the demand and verification runs are chosen is a
:class:`~simsales.engine.options.RunOptions`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from simsales.optimize.people import Fit, Person


__all__ = ["DEFAULT_TIME_LIMIT", "Mode", "OptimizeOptions"]

# Seconds for one solve: the default scenario proves its plans in about a second; a plan of
# 1,000 deals x 8 pools x 24 months stops here with an honest "feasible" and its gap.
DEFAULT_TIME_LIMIT = 300.0
Mode = Literal["capacity", "assignment"]


@dataclass(frozen=True)
class OptimizeOptions:
    """The options of :func:`simsales.api.optimize` (see there for what each one does).

    ``mode="capacity"``: headcount per pool and month, deals to pursue, mitigations to fund;
    ``budget``, ``revenue_floors``, ``utilization`` (default 0.9), ``slip_months`` (default 1),
    ``mitigations`` (default on), ``churn`` (default 1 person-month, 0 = off),
    ``change_every`` (default 1 month), ``keep``, ``robust`` and ``target_probability`` are
    the capacity plan's. ``mode="assignment"``: named ``people`` (CSV path or list) to deals
    with an optional ``fit`` table; ``people``, ``fit``, ``allow_split`` and ``hours_per_day``
    (default 8) are the assignment's. ``check``: verify the plan by simulation.
    """

    mode: Mode = "capacity"
    people: str | Path | Sequence[Person] | None = None
    fit: str | Path | Mapping[tuple[str, str], Fit] | None = None
    solver: str = "cbc"
    time_limit: float | None = DEFAULT_TIME_LIMIT
    gap: float | None = None
    budget: float | None = None
    revenue_floors: Mapping[str, float] | None = None
    require_all: bool = False
    allow_split: bool = False
    utilization: float | None = None
    slip_months: int | None = None
    hours_per_day: float | None = None
    mitigations: bool | None = None
    churn: float | None = None
    change_every: int | None = None
    keep: Sequence[str] = field(default=())
    robust: int | None = None
    target_probability: float | None = None
    check: bool = True

    @classmethod
    def names(cls) -> frozenset[str]:
        """The option names (the keywords :func:`simsales.api.optimize` takes for them)."""
        return frozenset(f.name for f in dataclasses.fields(cls))

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> OptimizeOptions:
        """Options from a mapping that may hold other keys too (e.g. a command's parameters)."""
        return cls(**{k: v for k, v in values.items() if k in cls.names()})

    def replace(self, **changes: Any) -> OptimizeOptions:
        return dataclasses.replace(self, **changes)
