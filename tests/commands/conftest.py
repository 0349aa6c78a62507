"""Run the real ``simsales`` entry point (every command, its exit-code mapping) in-process."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

import simsales.cli

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture()
def simsales_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``simsales_cli(*args)`` -> (exit code, stdout, stderr), through ``simsales.cli.main``."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["simsales", *args])
        code = 0
        try:
            simsales.cli.main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
