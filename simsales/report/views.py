"""The report layer's views of results (simsales.results.views): registered on import.

Each view imports its module on first use, so registering them costs nothing at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simsales.results.views import COMPARISON_TABLE_HTML, FORECAST_PLOTS, register_view

if TYPE_CHECKING:
    from simsales.results.compare import Comparison
    from simsales.results.forecast import Forecast

__all__: list[str] = []


def _forecast_plots(forecast: Forecast) -> Any:
    from simsales.report.plots import ForecastPlots

    return ForecastPlots(forecast)


def _comparison_table_html(comparison: Comparison) -> str:
    from simsales.report.compare_html import deltas_table_html

    return deltas_table_html(comparison)


register_view(FORECAST_PLOTS, _forecast_plots)
register_view(COMPARISON_TABLE_HTML, _comparison_table_html)
