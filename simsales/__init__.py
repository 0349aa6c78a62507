"""simsales: Monte Carlo planning for project-based B2B sales.

Deals run like projects through milestone stages, on scarce people, under risk. Load a
declarative scenario, simulate it, read the forecast with honest uncertainty, compare what-ifs,
and optimize staffing.

The names below are imported on first use (simsales.lazy), so ``import simsales`` is cheap.
"""

from typing import TYPE_CHECKING

# The optimize subpackage is loaded (cheaply: its names are lazy too) before the function of the
# same name is bound, so that importing one of its modules later cannot rebind simsales.optimize
# to the subpackage.
from simsales import optimize as _optimize_package  # noqa: F401
from simsales.errors import OptimizationError, ScenarioError, SimsalesError, SimulationError
from simsales.lazy import lazy_exports
from simsales.report import views as _views  # noqa: F401  (fills Forecast.plot and the like)

if TYPE_CHECKING:
    from simsales.api import (
        compare,
        explain,
        explain_comparison,
        optimize,
        risk_contribution,
        simulate,
    )
    from simsales.engine.options import RunOptions
    from simsales.optimize.options import OptimizeOptions
    from simsales.optimize.plan import Plan
    from simsales.results.compare import Comparison
    from simsales.results.explain import Explanation
    from simsales.results.forecast import Forecast
    from simsales.results.risk_contribution import RiskContribution
    from simsales.scenario.load import load, load_dict, with_overlay
    from simsales.scenario.schema import Scenario
else:
    globals().pop("optimize")  # the subpackage's name: simsales.optimize is the function (below)

__all__ = [
    "Comparison",
    "Explanation",
    "Forecast",
    "OptimizationError",
    "OptimizeOptions",
    "Plan",
    "RiskContribution",
    "RunOptions",
    "Scenario",
    "ScenarioError",
    "SimsalesError",
    "SimulationError",
    "compare",
    "explain",
    "explain_comparison",
    "load",
    "load_dict",
    "optimize",
    "risk_contribution",
    "simulate",
    "with_overlay",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        "simulate": "simsales.api",
        "compare": "simsales.api",
        "explain": "simsales.api",
        "explain_comparison": "simsales.api",
        "risk_contribution": "simsales.api",
        "optimize": "simsales.api",
        "RunOptions": "simsales.engine.options",
        "OptimizeOptions": "simsales.optimize.options",
        "Plan": "simsales.optimize.plan",
        "Comparison": "simsales.results.compare",
        "Explanation": "simsales.results.explain",
        "Forecast": "simsales.results.forecast",
        "RiskContribution": "simsales.results.risk_contribution",
        "load": "simsales.scenario.load",
        "load_dict": "simsales.scenario.load",
        "with_overlay": "simsales.scenario.load",
        "Scenario": "simsales.scenario.schema",
    },
)
