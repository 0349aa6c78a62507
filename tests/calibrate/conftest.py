"""Fixtures of the calibration tests (helpers live in calib_helpers.py)."""

from __future__ import annotations

import pytest
import typer

from simsales.commands.calibrate import register


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    register(app)

    @app.callback()
    def _root() -> None:  # a group, so commands are addressed by name as in the real CLI
        pass

    return app
