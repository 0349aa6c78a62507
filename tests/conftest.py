"""Fixtures shared by every test folder."""

from __future__ import annotations

import signal
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def main_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``main_cli("run", path, ...)``: the real console entry point (:func:`simsales.cli.main`,
    with its exit codes and messages, unlike typer's test runner), in this process."""
    from simsales.cli import main

    def run(*args: str | Path) -> CliResult:
        saved = sys.argv, signal.getsignal(signal.SIGTERM), warnings.showwarning
        sys.argv = ["simsales", *map(str, args)]
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = saved[0]
            signal.signal(signal.SIGTERM, saved[1])
            warnings.showwarning = saved[2]
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
