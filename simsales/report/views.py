"""The report layer's views of results (simsales.results.views): registered on import.

Each view imports its module on first use, so registering them costs nothing at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simsales.results.views import (
    COMPARISON_TABLE,
    FORECAST_PLOTS,
    SUMMARY_HTML,
    SUMMARY_TABLES,
    register_view,
)

if TYPE_CHECKING:
    from simsales.results.compare import Comparison
    from simsales.results.forecast import Forecast

__all__: list[str] = []


def _forecast_plots(forecast: Forecast) -> Any:
    from simsales.report.plots import ForecastPlots

    return ForecastPlots(forecast)


def _comparison_table(comparison: Comparison, *args: Any) -> Any:
    from simsales.report.tables import comparison_table

    return comparison_table(comparison, *args)


def _summary_tables(summary: Any, *args: Any) -> Any:
    from simsales.report.tables import summary_tables

    return summary_tables(summary, *args)


register_view(FORECAST_PLOTS, _forecast_plots)
register_view(COMPARISON_TABLE, _comparison_table)


def _summary_html(summary: Any) -> str:
    from simsales.report.tables import summary_html

    return summary_html(summary)


register_view(SUMMARY_TABLES, _summary_tables)
register_view(SUMMARY_HTML, _summary_html)
