"""simsales: Monte Carlo planning for project-based B2B sales.

Deals run like projects through milestone stages, on scarce people, under risk. Load a
declarative scenario, simulate it, read the forecast with honest uncertainty, compare what-ifs,
and optimize staffing.
"""

from simsales.engine.runner import simulate
from simsales.errors import OptimizationError, ScenarioError, SimsalesError, SimulationError
from simsales.optimize import Plan, optimize  # binds the function over the subpackage's name
from simsales.results.compare import Comparison, compare
from simsales.results.forecast import Forecast
from simsales.results.risk_contribution import RiskContribution, risk_contribution
from simsales.scenario.load import load, load_dict, with_overlay
from simsales.scenario.schema import Scenario

__all__ = [
    "Comparison",
    "Forecast",
    "OptimizationError",
    "Plan",
    "RiskContribution",
    "Scenario",
    "ScenarioError",
    "SimsalesError",
    "SimulationError",
    "compare",
    "load",
    "load_dict",
    "optimize",
    "risk_contribution",
    "simulate",
    "with_overlay",
]
