"""Staffing and budget optimization with PuLP, verified by simulation.

:func:`simsales.optimize` (simsales.api) returns a :class:`Plan`: headcount per pool and month,
deals to pursue, mitigations to fund (or named owners per deal), the solver's honest status
(``optimal`` only when proved), a diagnosis when infeasible, the plan as a scenario overlay, and
its verification by paired simulation against the base. The steps are in
simsales.optimize.planner; the names below are imported on first use.
"""

from typing import TYPE_CHECKING

from simsales.lazy import lazy_exports

if TYPE_CHECKING:
    from simsales.optimize.demand import Demand, demand_from_forecast, forecast_demand
    from simsales.optimize.options import DEFAULT_TIME_LIMIT, OptimizeOptions
    from simsales.optimize.people import Fit, Person, read_fit, read_people
    from simsales.optimize.plan import Plan, write_overlay
    from simsales.optimize.planner import DEFAULT_REPLICATIONS, demand_of, plan_staffing
    from simsales.optimize.solve import SolveResult, solve
    from simsales.optimize.verify import Verification, verify

_EXPORTS = {
    "DEFAULT_REPLICATIONS": "simsales.optimize.planner",
    "DEFAULT_TIME_LIMIT": "simsales.optimize.options",
    "Demand": "simsales.optimize.demand",
    "Fit": "simsales.optimize.people",
    "OptimizeOptions": "simsales.optimize.options",
    "Person": "simsales.optimize.people",
    "Plan": "simsales.optimize.plan",
    "SolveResult": "simsales.optimize.solve",
    "Verification": "simsales.optimize.verify",
    "demand_from_forecast": "simsales.optimize.demand",
    "demand_of": "simsales.optimize.planner",
    "forecast_demand": "simsales.optimize.demand",
    "plan_staffing": "simsales.optimize.planner",
    "read_fit": "simsales.optimize.people",
    "read_people": "simsales.optimize.people",
    "solve": "simsales.optimize.solve",
    "verify": "simsales.optimize.verify",
    "write_overlay": "simsales.optimize.plan",
}
__all__ = [
    "DEFAULT_REPLICATIONS",
    "DEFAULT_TIME_LIMIT",
    "Demand",
    "Fit",
    "OptimizeOptions",
    "Person",
    "Plan",
    "SolveResult",
    "Verification",
    "demand_from_forecast",
    "demand_of",
    "forecast_demand",
    "plan_staffing",
    "read_fit",
    "read_people",
    "solve",
    "verify",
    "write_overlay",
]
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
