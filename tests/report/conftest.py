"""Forecasts shared by the report tests (small: the tests check structure and numbers against
the raw tables, not Monte Carlo precision)."""

from __future__ import annotations

import pytest
from report_fixtures import SCENARIOS, hostile

import simsales
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
