"""Staffing and budget optimization with PuLP, verified by simulation.

``optimize(scenario, mode="capacity" | "assignment", ...)`` returns a :class:`Plan`: headcount
per pool and month, deals to pursue, mitigations to fund (or named owners per deal), the
solver's honest status (``optimal`` only when proved), a diagnosis when infeasible, the plan as
a scenario overlay, and its verification by paired simulation against the base.
"""

from simsales.optimize.api import DEFAULT_REPLICATIONS, demand_of, optimize
from simsales.optimize.demand import Demand, demand_from_forecast, forecast_demand
from simsales.optimize.people import Fit, Person, read_fit, read_people
from simsales.optimize.plan import Plan, write_overlay
from simsales.optimize.solve import SolveResult, solve
from simsales.optimize.verify import Verification, verify

__all__ = [
    "DEFAULT_REPLICATIONS",
    "Demand",
    "Fit",
    "Person",
    "Plan",
    "SolveResult",
    "Verification",
    "demand_from_forecast",
    "demand_of",
    "forecast_demand",
    "optimize",
    "read_fit",
    "read_people",
    "solve",
    "verify",
    "write_overlay",
]
