"""Forecasts shared by the report tests (small: the tests check structure and numbers against
the raw tables, not Monte Carlo precision)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from report_fixtures import SCENARIOS, hostile

import simsales
from simsales.calibrate import read_history
from simsales.calibrate.backtest import BacktestResult, backtest
from simsales.results.compare import Comparison
from simsales.results.forecast import Forecast


@pytest.fixture(scope="session")
def enterprise() -> Forecast:
    return simsales.simulate(
        SCENARIOS / "enterprise-it.yaml", replications=40, seed=3, progress=False, precision=None
    )


@pytest.fixture(scope="session")
def chinese() -> Forecast:
    return simsales.simulate(
        SCENARIOS / "zh-system-integration.yaml",
        replications=40,
        seed=3,
        progress=False,
        precision=None,
    )


@pytest.fixture(scope="session")
def hostile_enterprise() -> Forecast:
    scenario = hostile(SCENARIOS / "enterprise-it.yaml", "erp_rollout", "proposal")
    return simsales.simulate(scenario, replications=20, seed=4, progress=False, precision=None)


@pytest.fixture(scope="session")
def hostile_chinese() -> Forecast:
    scenario = hostile(SCENARIOS / "zh-system-integration.yaml", "智慧园区", "方案交流")
    return simsales.simulate(scenario, replications=20, seed=4, progress=False, precision=None)


@pytest.fixture(scope="session")
def comparisons() -> dict[str, Comparison]:
    """A one-variant comparison per locale (small: the pages are checked, not the numbers)."""
    return {
        "en": simsales.compare(SCENARIOS / "enterprise-it.yaml", ["hire_presales"], 20),
        "zh-CN": simsales.compare(SCENARIOS / "zh-system-integration.yaml", ["增加售前"], 20),
    }


@pytest.fixture(scope="session")
def backtest_result(tmp_path_factory: pytest.TempPathFactory) -> BacktestResult:
    """A two-origin backtest of a synthetic CRM export (the calibration tests' generator)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "calibrate"))
    from calib_helpers import write_history

    path = write_history(tmp_path_factory.mktemp("bt") / "h.csv", snapshot="2021-05-31", seed=5,
                         horizon="2021-05-31")  # fmt: skip
    history = read_history(path, exported="2021-05-31")
    windows = [("2021-02-28", "2021-03-31"), ("2021-03-31", "2021-04-30")]
    return backtest(history, windows, replications=10, seed=1)
