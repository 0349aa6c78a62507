"""CLI commands beyond validate/schema; each module has register(app)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from simsales.scenario.load import scenario_warnings
from simsales.scenario.schema import Scenario

__all__ = ["print_warnings"]


def print_warnings(scenario: Scenario, path: Path) -> None:
    """The scenario's warnings on stderr, one located line each (they do not stop a command)."""
    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
    for problem in scenario_warnings(scenario):
        err.print(str(problem) if problem.file is not None else f"{path}: {problem}")
