"""Processes: workers die with their parent, a stopped worker cannot hang the run, ``--workers``
is capped by the cores, and Dask says plainly when there is no scheduler or no worker.

Real signals on real processes; every wait has a deadline so a regression fails, not hangs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from io_helpers import MINIMAL, ROOT

import simsales
from simsales.engine import runner
from simsales.errors import SimsalesWarning, SimulationError, TemporaryFailureError

BENCH = ROOT / "scenarios" / "benchmark-200.yaml"
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    """Running or stopped; a zombie (dead, not yet reaped by PID 1) counts as dead."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_until(check, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _start_long_run(out: Path) -> tuple[subprocess.Popen[str], list[int]]:
    code = "from simsales.cli import main; main()"
    args = ["run", str(BENCH), "-n", "200000", "--yes", "--workers", "2", "--executor", "process"]
    parent = subprocess.Popen(
        [sys.executable, "-c", code, *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert _wait_until(lambda: len(_children(parent.pid)) >= 2, 60), "no workers started"
    time.sleep(0.5)  # let them pick up chunks
    return parent, _children(parent.pid)


@pytest.fixture
def reaper() -> Iterator[list[int]]:
    """Pids to kill at the end whatever happens (so a failing test leaves no process)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_workers_die_with_their_parent(tmp_path: Path, sig: int, reaper: list[int]) -> None:
    parent, workers = _start_long_run(tmp_path / "out")
    reaper.extend([parent.pid, *workers])
    os.kill(parent.pid, sig)
    try:
        parent.wait(timeout=90)  # seconds on a loaded CI machine; a hang fails here, not forever
    except subprocess.TimeoutExpired:
        parent.kill()
        stderr = parent.stderr.read() if parent.stderr else ""
        pytest.fail(f"the run did not end on {signal.Signals(sig).name}: {stderr[-2000:]}")
    assert _wait_until(lambda: not any(_alive(w) for w in workers), 20), "orphaned workers"
    if sig == signal.SIGTERM:  # the same cleanup as Ctrl-C: a message, no lock left behind
        assert parent.returncode == 128 + signal.SIGTERM
        assert "Traceback" not in (parent.stderr.read() if parent.stderr else "")
        assert os.listdir(tmp_path) == []
    assert not (tmp_path / "out").exists()


def _stop_a_worker_soon(stopped: list[int], done: threading.Event, before: set[int]) -> None:
    main = os.getpid()
    while not done.is_set():
        kids = [k for k in _children(main) if k not in before]  # the run's workers only
        if kids:
            time.sleep(0.5)
            os.kill(kids[0], signal.SIGSTOP)
            stopped.append(kids[0])
            return
        time.sleep(0.02)


def test_a_stopped_worker_ends_the_run_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, reaper: list[int]
) -> None:
    # a lower floor and factor so the test takes seconds, not minutes; the rule is the same
    monkeypatch.setattr(runner, "STALL_FLOOR_SECONDS", 2.0)
    monkeypatch.setattr(runner, "STALL_FACTOR", 5.0)
    stopped: list[int] = []
    done = threading.Event()
    before = set(_children(os.getpid()))  # e.g. a fork server another test left running
    stopper = threading.Thread(
        target=_stop_a_worker_soon, args=(stopped, done, before), daemon=True
    )
    guard = threading.Timer(120, lambda: [os.kill(p, signal.SIGKILL) for p in stopped])
    stopper.start()
    guard.start()
    started = time.monotonic()
    try:
        with pytest.raises(SimulationError, match=r"is stopped \(SIGSTOP\?\)") as info:
            simsales.simulate(
                BENCH, replications=400, seed=3, workers=2, executor="process", progress=False
            )
    finally:
        done.set()
        guard.cancel()
        reaper.extend(stopped)
    assert stopped and str(stopped[0]) in str(info.value)
    assert "s per chunk" in str(info.value)
    assert time.monotonic() - started < 100
    assert _wait_until(lambda: not _alive(stopped[0]), 10), "the stopped worker was left behind"


def test_the_stall_limit_follows_the_measured_pace() -> None:
    """No chunk finished: ten floors; then ten times the measured time per chunk."""
    watchdog = runner._Watchdog([], 2, None)  # type: ignore[arg-type]
    assert watchdog.limit() == runner.STALL_FACTOR * runner.STALL_FLOOR_SECONDS
    watchdog.finished, watchdog.last = 8, watchdog.started + 40.0  # 2 workers: 10 s a chunk
    assert watchdog.limit() == pytest.approx(max(runner.STALL_FLOOR_SECONDS, 100.0))
    watchdog.finished, watchdog.last = 8, watchdog.started + 0.4
    assert watchdog.limit() == runner.STALL_FLOOR_SECONDS


def test_workers_are_capped_by_the_cores_with_the_same_numbers(main_cli) -> None:
    cores = runner.usable_cores()
    serial = simsales.simulate(MINIMAL, replications=16, seed=5, progress=False)
    with pytest.warns(SimsalesWarning, match=f"only {cores} cores"):
        capped = simsales.simulate(
            MINIMAL, replications=16, seed=5, workers=cores + 22, executor="process",
            progress=False,
        )  # fmt: skip
    assert capped.provenance["workers"] == cores
    assert capped.deals.equals(serial.deals)
    r = main_cli("run", MINIMAL, "-n", "8", "--json", "--workers", str(cores + 22),
                 "--executor", "process")  # fmt: skip
    assert r.code == 0 and f"warning: {cores + 22} workers asked for" in r.err, r.err


# --- Dask -------------------------------------------------------------------------------------


def test_an_unreachable_scheduler_is_a_temporary_failure(
    main_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr(runner, "DASK_CONNECT_SECONDS", 2.0)
    with pytest.raises(TemporaryFailureError, match="cannot reach the Dask scheduler"):
        simsales.simulate(MINIMAL, replications=4, executor="dask", scheduler="tcp://127.0.0.1:9")
    r = main_cli("run", MINIMAL, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert r.code == 75 and "tcp://127.0.0.1:9" in r.err and "internal error" not in r.err


def test_a_scheduler_without_workers_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(runner, "DASK_WORKERS_SECONDS", 1.0)
    with (
        distributed.LocalCluster(n_workers=0, dashboard_address=None) as cluster,
        pytest.raises(TemporaryFailureError, match="has no workers"),
    ):
        simsales.simulate(
            MINIMAL, replications=4, executor="dask", scheduler=cluster.scheduler_address
        )


def test_tls_options_make_a_security_configuration(tmp_path: Path, main_cli) -> None:
    pytest.importorskip("distributed")
    from simsales.commands.run import _security

    for name in ("ca.pem", "me.pem", "me.key"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    security = _security(tmp_path / "ca.pem", tmp_path / "me.pem", tmp_path / "me.key")
    assert security.require_encryption and security.tls_ca_file == str(tmp_path / "ca.pem")
    assert security.tls_client_cert == str(tmp_path / "me.pem")
    r = main_cli("run", MINIMAL, "--executor", "dask", "--scheduler", "tls://h:1",
                 "--tls-cert", tmp_path / "me.pem")  # fmt: skip
    assert r.code == 2 and "TLS needs --tls-ca-file" in r.err, r.err
