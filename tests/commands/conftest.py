"""Run the real ``simsales`` entry point (every command, its exit-code mapping) in-process."""

from __future__ import annotations

import logging
import signal
import sys
import warnings
from collections.abc import Callable, Iterator

import pytest

import simsales.cli

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture()
def simsales_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    """``simsales_cli(*args)`` -> (exit code, stdout, stderr), through ``simsales.cli.main``.

    ``main`` sets up the process as a command would (the ``simsales`` logger printing status
    lines, the warning and SIGTERM hooks); they are put back after the test, so that later
    tests calling the library or a Typer app directly see no status lines in their output.
    """
    log = logging.getLogger("simsales")
    handlers, level, propagate = list(log.handlers), log.level, log.propagate
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    sigterm = signal.getsignal(signal.SIGTERM)

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["simsales", *args])
        code = 0
        try:
            simsales.cli.main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    log.handlers[:] = handlers
    log.setLevel(level)
    log.propagate = propagate
    if sigterm is not None:  # None: not set from Python, nothing to put back
        signal.signal(signal.SIGTERM, sigterm)
