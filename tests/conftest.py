"""Fixtures shared by every test folder."""

from __future__ import annotations

import logging
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _command_line_set_up_put_back() -> Iterator[None]:
    """:func:`simsales.cli.main` sets up the process as a command does (the ``simsales`` logger
    printing status lines on stderr, the warning and SIGTERM hooks). Tests call it in-process;
    this puts it all back after each, so that a later test running a Typer app with CliRunner
    (whose output mixes stderr in) or the API sees no status lines."""
    log = logging.getLogger("simsales")
    saved = list(log.handlers), log.level, log.propagate
    hooks = signal.getsignal(signal.SIGTERM), warnings.showwarning
    yield
    log.handlers[:] = saved[0]
    log.setLevel(saved[1])
    log.propagate = saved[2]
    if hooks[0] is not None:  # None: not set from Python, nothing to put back
        signal.signal(signal.SIGTERM, hooks[0])
    warnings.showwarning = hooks[1]


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
