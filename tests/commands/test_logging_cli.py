"""Status lines go through the ``simsales`` logger: on stderr by default, more with -v, none
with -q; the Python API prints none of them unless the caller configures logging."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

import simsales
import simsales.cli

MINIMAL = Path(__file__).resolve().parents[2] / "scenarios" / "minimal.yaml"
ARGS = ("compare", str(MINIMAL), "--set", "resources.sales.capacity=3", "-n", "5", "--json")


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["simsales", *args])
    with pytest.raises(SystemExit) as exit_:
        simsales.cli.main()
    assert exit_.value.code in (0, None)
    return capsys.readouterr().err


def test_status_lines_by_default_debug_with_v_none_with_q(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    default = _run(monkeypatch, capsys, *ARGS)
    assert "simulating the base: 5 replications" in default
    assert "replications, seed" in default and "executor" not in default  # no debug lines
    verbose = _run(monkeypatch, capsys, "-v", *ARGS)
    assert "simulating the base: 5 replications" in verbose
    assert "serial executor, 1 worker(s)" in verbose  # the debug line of each run
    quiet = _run(monkeypatch, capsys, "-q", *ARGS)
    assert "simulating" not in quiet


def test_the_cli_puts_the_logger_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = logging.getLogger("simsales")
    before = (list(logger.handlers), logger.level, logger.propagate)
    _run(monkeypatch, capsys, "-v", *ARGS)
    assert (list(logger.handlers), logger.level, logger.propagate) == before


def test_the_api_logs_on_the_simsales_logger(caplog: pytest.LogCaptureFixture) -> None:
    seed = simsales.load(MINIMAL).simulation.seed
    with caplog.at_level(logging.INFO, logger="simsales"):
        simsales.compare(MINIMAL, {"more": {"resources": {"sales": {"capacity": 3}}}}, 5)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert lines == [
        f"simulating the base: 5 replications, seed {seed}",
        f"simulating variant more: 5 replications, seed {seed}",
    ]
