"""Views: how a result is shown (figures, notebook HTML), filled in by the layer above.

The results layer does not import the report layer (docs/architecture.md, "Layers"), yet
``forecast.plot`` and a comparison's notebook table are drawn there. Each such hook asks here
for the view registered under its name; simsales.report.views registers report's views, and
``import simsales`` (which runs before any simsales module) imports it, so the hooks work
whichever module a user imported first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["COMPARISON_TABLE_HTML", "FORECAST_PLOTS", "register_view", "view"]

FORECAST_PLOTS = "forecast.plot"  # Forecast -> its figures (report.plots.ForecastPlots)
COMPARISON_TABLE_HTML = "comparison.table_html"  # Comparison -> an HTML table of its deltas

_VIEWS: dict[str, Callable[[Any], Any]] = {}


def register_view(name: str, make: Callable[[Any], Any]) -> None:
    """Let ``make(result)`` draw the view ``name`` (a later registration replaces one before)."""
    _VIEWS[name] = make


def view(name: str, result: Any) -> Any:
    """The view ``name`` of ``result``, from the function registered for it."""
    make = _VIEWS.get(name)
    if make is None:  # only when simsales.report.views was never imported (see the docstring)
        raise LookupError(f"no view {name!r} is registered: import simsales.report.views")
    return make(result)
