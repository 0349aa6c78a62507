"""Fixtures of the optimizer tests: both solvers."""

from __future__ import annotations

import pytest

SOLVERS = ["cbc", "highs"]


@pytest.fixture(params=SOLVERS)
def solver(request: pytest.FixtureRequest) -> str:
    return str(request.param)
