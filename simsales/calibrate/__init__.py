"""Learn from history: calibrate scenarios from CRM exports, and backtest them.

- :func:`read_history` imports a CRM export (Salesforce, HubSpot, PingCode, Worktile, or any
  CSV / .xlsx with a column mapping or a preset; :mod:`simsales.calibrate.sources`) into one
  canonical :class:`History`, counting every data problem (:class:`DataReport`;
  ``strict=True`` raises :class:`DataError`);
- :func:`calibrate` fits stage durations (censored ML), win rates (Beta posteriors, shrunk per
  deal type), values, arrival rates and the open pipeline as of a date; the result writes a
  commented scenario (:meth:`Calibration.write`);
- :func:`backtest` calibrates on what was known at past dates, simulates, and scores the
  forecasts (and the CRM's stage-weighted pipeline) against what happened.

Modules: sources (one reader per source, files, parse, currency), mapping, importer, quality,
history, fit, calibrate, scenario_yaml, baseline, scores,
backtest, backtest_html, synthetic (histories generated from a known scenario, for tests).
The names below are imported on first use.
"""

from typing import TYPE_CHECKING

from simsales.lazy import lazy_exports

if TYPE_CHECKING:
    from simsales.calibrate.backtest import BacktestResult, OriginResult, backtest
    from simsales.calibrate.calibrate import Calibration, calibrate
    from simsales.calibrate.history import History
    from simsales.calibrate.importer import read_history
    from simsales.calibrate.mapping import PRESETS, ColumnMapping, resolve_mapping
    from simsales.calibrate.quality import DataError, DataReport, Issue

_EXPORTS = {
    "BacktestResult": "simsales.calibrate.backtest",
    "Calibration": "simsales.calibrate.calibrate",
    "ColumnMapping": "simsales.calibrate.mapping",
    "DataError": "simsales.calibrate.quality",
    "DataReport": "simsales.calibrate.quality",
    "History": "simsales.calibrate.history",
    "Issue": "simsales.calibrate.quality",
    "OriginResult": "simsales.calibrate.backtest",
    "PRESETS": "simsales.calibrate.mapping",
    "backtest": "simsales.calibrate.backtest",
    "calibrate": "simsales.calibrate.calibrate",
    "read_history": "simsales.calibrate.importer",
    "resolve_mapping": "simsales.calibrate.mapping",
}
__all__ = [
    "PRESETS",
    "BacktestResult",
    "Calibration",
    "ColumnMapping",
    "DataError",
    "DataReport",
    "History",
    "Issue",
    "OriginResult",
    "backtest",
    "calibrate",
    "read_history",
    "resolve_mapping",
]
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
