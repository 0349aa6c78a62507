"""Faults: a worker killed mid-run gives a clear error, never wrong numbers; a run that fails
leaves nothing behind that looks like a result."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import simsales
from simsales.cli import app

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scenarios" / "benchmark-200.yaml"


def _kill_a_worker_soon(stop: threading.Event) -> None:
    """Kill the first worker process that appears (SIGKILL: no chance to clean up)."""
    while not stop.is_set():
        children = multiprocessing.active_children()
        if children:
            time.sleep(0.5)  # let it start working on a chunk
            os.kill(children[0].pid, signal.SIGKILL)  # type: ignore[arg-type]
            return
        time.sleep(0.02)


def test_killed_worker_gives_a_clear_error_not_numbers() -> None:
    scenario = simsales.load(BENCH)
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_worker_soon, args=(stop,), daemon=True)
    killer.start()
    try:
        with pytest.raises(simsales.SimulationError, match="worker process died"):
            simsales.simulate(
                scenario, replications=400, seed=3, workers=2, executor="process", progress=False
            )
    finally:
        stop.set()
        killer.join(timeout=5)


def test_cli_run_with_a_killed_worker_fails_cleanly_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "result"
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_worker_soon, args=(stop,), daemon=True)
    killer.start()
    try:
        result = CliRunner().invoke(
            app,
            [
                "run",
                str(BENCH),
                "-n",
                "400",
                "--workers",
                "2",
                "--executor",
                "process",
                "--out",
                str(out),
            ],
        )
    finally:
        stop.set()
        killer.join(timeout=5)
    assert isinstance(result.exception, simsales.SimulationError)
    assert not out.exists(), "a failed run must not leave a result directory"
    assert list(tmp_path.iterdir()) == []
