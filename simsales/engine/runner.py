"""Run replications: seeding, chunks, executors (serial, processes, Dask), the progress bar.

Replication *i* always runs with child *i* of ``SeedSequence(seed)``, whichever worker runs it,
and results are put back in replication order, so the numbers do not depend on the worker count
or the executor. The engine only runs replications and hands back what the caller's ``work``
function makes of them (packed columns, see simsales.results.simulation); building a Forecast
from them, and the precision stop, belong to the results layer.

Worker processes are never left behind and never waited for forever:

- each worker asks the kernel to send it SIGTERM when its parent dies (``PR_SET_PDEATHSIG``,
  Linux), so killing the parent, even with SIGKILL, ends its workers;
- a run that ends abnormally (an error, Ctrl-C, SIGTERM turned into an exit by the CLI) kills
  its workers instead of waiting for their chunks;
- a watchdog declares the run stuck when no chunk has finished for
  ``max(STALL_FLOOR_SECONDS, STALL_FACTOR x the measured seconds per chunk)`` (before the first
  chunk finishes: ``STALL_FACTOR x STALL_FLOOR_SECONDS``); the pace is measured, not guessed,
  so a slow scenario is not mistaken for a hung worker, and chunks hold at most ``MAX_CHUNK``
  replications so it is measured early. It names stopped workers (SIGSTOP);
- ``workers`` beyond the usable cores are capped, with a :class:`SimsalesWarning`: more
  processes than cores only add memory and switching (the numbers do not change).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import multiprocessing
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

from simsales.engine.model import Model
from simsales.engine.options import RunOptions
from simsales.engine.replication import RepRecords, run_replication
from simsales.engine.streams import replication_seeds
from simsales.errors import SimsalesError, SimsalesWarning, SimulationError, TemporaryFailureError

__all__ = [
    "ReplicationPool",
    "Work",
    "keep_heap",
    "progress_bar",
    "run_chunk",
    "usable_cores",
    "worker_count",
]

T = TypeVar("T")
# What a worker runs for replications start..stop-1 of a seed: a module-level function (it is
# pickled by reference), e.g. one that packs the records into columns to send them back cheaply.
Work = Callable[[Model, int, int, int], T]
Sink = Callable[[T], None]


def run_chunk(model: Model, seed: int, start: int, stop: int) -> list[RepRecords]:
    """Replications ``start..stop-1`` of ``seed``."""
    return [run_replication(model, seq) for seq in replication_seeds(seed, start, stop)]


_WORKER_MODEL: Model | None = None

SERIAL_CHUNK = 50  # replications per chunk on the serial executor
FAST_CHUNK = 500  # at most, where the vectorized path takes them all (about 0.1 s a chunk)
FAST_DEALS = 25_000  # deals a vectorized chunk aims at (its arrays grow with them; 50k: slower)
STALL_FLOOR_SECONDS = 30.0
MAX_CHUNK = 200
STALL_FACTOR = 10.0
_TICK_SECONDS = 0.5
DASK_CONNECT_SECONDS = 10.0
DASK_WORKERS_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc's malloc.h)
_MMAP_FROM = 32 * 2**20  # glibc's own ceiling for its moving mmap threshold (64-bit)


@functools.cache  # once per process (a forked worker inherits it)
def keep_heap() -> None:
    """Pin glibc's malloc thresholds where its moving ones end up on large arrays: blocks
    below 32 MiB from the heap, and up to twice that of freed heap kept for reuse.

    The vectorized path and the table builder make and drop arrays of a few MB many times a
    run; with the moving thresholds the heap's top is handed back to the kernel after each and
    faulted in again page by page (a fifth of the CPU time, as system time, on benchmark-200).
    Large runs keep their columns in maps of their own (results/build.py), so at most 64 MiB
    more stays resident. Elsewhere than glibc this does nothing; it changes no number."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        mallopt = ctypes.CDLL(None).mallopt
        mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM)
        mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_FROM)


def _init_worker(model: Model, parent: int | None) -> None:
    global _WORKER_MODEL
    _die_with_parent(parent)
    keep_heap()
    _WORKER_MODEL = model


def _die_with_parent(parent: int | None) -> None:
    """Have the kernel SIGTERM this process when its parent dies (Linux; elsewhere the
    abnormal-exit cleanup in the parent is what ends the workers).

    ``parent`` is the pid of the run's process when workers are forked from it; with a fork
    server the parent is the server, which exits with the run, so its death ends them too.
    """
    # a SIGTERM handler inherited from the parent (the CLI's turns it into an exit) would let
    # the pool catch the exit and go on with the next chunk: a worker simply ends
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if parent is not None and os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def worker_count(options: RunOptions) -> int:
    """The workers to start: those asked for, capped at the usable cores for processes."""
    workers = options.workers
    if options.executor == "process" and workers > usable_cores():
        warnings.warn(
            f"{workers} workers asked for, but only {usable_cores()} cores are usable: using "
            f"{usable_cores()} (more processes than cores only add memory; same numbers)",
            SimsalesWarning,
            stacklevel=3,
        )
        workers = usable_cores()
    return workers


def _run_in_worker(work: Work[T], seed: int, start: int, stop: int) -> T:
    assert _WORKER_MODEL is not None
    return work(_WORKER_MODEL, seed, start, stop)


RunRange = Callable[[int, int, int, Sink[T]], None]


def _chunks(start: int, stop: int, parts: int) -> list[tuple[int, int]]:
    size = max(1, math.ceil((stop - start) / parts))
    return [(a, min(stop, a + size)) for a in range(start, stop, size)]


class ReplicationPool(Generic[T]):
    """Runs ``work`` over ranges of replications on the executor of ``options``.

    Used as a context manager giving ``run_range(seed, start, stop, sink)``: ``sink`` gets the
    results of ``work`` in replication order, whichever worker ran them. On leaving, workers
    are shut down (killed when the run ended abnormally) and a Dask connection made here closed.
    """

    def __init__(
        self,
        model: Model,
        work: Work[T],
        options: RunOptions,
        workers: int,
        serial_chunk: int = SERIAL_CHUNK,
    ) -> None:
        self.executor, self.model, self.workers, self.work = options.executor, model, workers, work
        self.serial_chunk = serial_chunk
        self.scheduler, self.security = options.scheduler, options.security
        self._close: Callable[[], None] = lambda: None
        self._procs: ProcessPoolExecutor | None = None

    def __enter__(self) -> RunRange[T]:
        if self.executor == "serial":
            return self._serial
        if self.executor == "process":
            context = multiprocessing.get_context()
            forked = context.get_start_method() == "fork"
            self._procs = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(self.model, os.getpid() if forked else None),
            )
            return self._processes
        return self._dask_range()

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if self._procs is not None:
            if kind is not None:  # failed, interrupted or stuck: do not wait for the workers
                _kill_workers(self._procs)
            self._procs.shutdown(wait=True, cancel_futures=True)
        self._close()

    def _serial(self, seed: int, start: int, stop: int, sink: Sink[T]) -> None:
        # chunks of about serial_chunk replications: a fine progress bar, little memory each
        for a, b in _chunks(start, stop, max(1, math.ceil((stop - start) / self.serial_chunk))):
            sink(self.work(self.model, seed, a, b))

    def _processes(self, seed: int, start: int, stop: int, sink: Sink[T]) -> None:
        assert self._procs is not None
        # at most MAX_CHUNK replications a chunk, so the watchdog measures the pace early
        parts = _chunks(start, stop, max(self.workers * 4, math.ceil((stop - start) / MAX_CHUNK)))
        try:
            futures = [self._procs.submit(_run_in_worker, self.work, seed, a, b) for a, b in parts]
            watchdog = _Watchdog(futures, self.workers, self._procs)
            for future in futures:
                watchdog.wait_for(future)
                sink(future.result())
        except BrokenProcessPool:
            raise SimulationError(
                "a worker process died during the run, so no results were produced "
                "(out of memory or killed?); run again, or use fewer workers"
            ) from None

    def _dask_range(self) -> RunRange[T]:
        try:
            from distributed import Client
        except ImportError:
            raise SimsalesError(
                "the dask executor needs 'distributed': pip install 'simsales[dask]'"
            ) from None
        client = self.scheduler
        if not isinstance(client, Client):
            if client is None:
                raise SimsalesError("executor 'dask' needs a scheduler address or a Client")
            client = _connect(Client, str(client), self.security)
            self._close = client.close
        _require_workers(client)
        model = client.scatter(self.model, broadcast=True)

        def run_range(seed: int, start: int, stop: int, sink: Sink[T]) -> None:
            parts = _chunks(start, stop, max(self.workers, _dask_threads(client)) * 4)
            futures = [client.submit(self.work, model, seed, a, b, pure=False) for a, b in parts]
            for future in futures:
                try:
                    chunk = future.result()
                except Exception as exc:  # a lost worker surfaces here as KilledWorker etc.
                    raise SimulationError(f"a Dask task failed: {exc}") from None
                sink(chunk)

        return run_range


class _Watchdog:
    """Waits for chunks in order while watching that some chunk keeps finishing."""

    def __init__(self, futures: Sequence[Future[Any]], workers: int, pool: ProcessPoolExecutor):
        self.pending = set(futures)
        self.workers, self.pool = workers, pool
        self.started = self.last = time.monotonic()
        self.finished = 0

    def limit(self) -> float:
        if not self.finished:
            return STALL_FACTOR * STALL_FLOOR_SECONDS
        per_chunk = (self.last - self.started) * self.workers / self.finished
        return max(STALL_FLOOR_SECONDS, STALL_FACTOR * per_chunk)

    def wait_for(self, future: Future[Any]) -> None:
        while not future.done():
            done, _ = wait(self.pending, timeout=_TICK_SECONDS, return_when=FIRST_COMPLETED)
            now = time.monotonic()
            if done:
                self.pending -= done
                self.finished += len(done)
                self.last = now
            elif now - self.last > self.limit():
                raise SimulationError(self.message(now - self.last))

    def message(self, idle: float) -> str:
        stopped = [pid for pid in _worker_pids(self.pool) if _process_state(pid) in ("T", "t")]
        if self.finished:
            per_chunk = (self.last - self.started) * self.workers / self.finished
            pace = f"{STALL_FACTOR:g}x the measured {per_chunk:.1f} s per chunk"
        else:
            pace = "before any chunk finished"
        why = (
            f"worker process {', '.join(map(str, stopped))} is stopped (SIGSTOP?)"
            if stopped
            else "a worker process hangs"
        )
        return (
            f"no chunk of replications finished for {idle:.0f} s ({pace}): {why}; the run was "
            "stopped and its workers ended, so no results were produced. Run again"
        )


def _worker_pids(pool: ProcessPoolExecutor) -> list[int]:
    processes = getattr(pool, "_processes", None) or {}
    return [p.pid for p in list(processes.values()) if p.pid is not None]


def _process_state(pid: int) -> str:
    """The one-letter state of a process from /proc (Linux), '' when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return ""


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    # SIGKILL also ends a stopped worker; workers hold nothing the parent still needs
    for pid in _worker_pids(pool):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _connect(client_type: Any, address: str, security: Any) -> Any:
    try:
        return client_type(
            address,
            timeout=DASK_CONNECT_SECONDS,
            security=security,
            set_as_default=False,
        )
    except ValueError as exc:
        raise SimsalesError(
            f"--scheduler {address!r} is not a Dask scheduler address ({exc}); write e.g. "
            "tcp://host:8786 or tls://host:8786"
        ) from None
    except (OSError, TimeoutError) as exc:
        raise TemporaryFailureError(
            f"cannot reach the Dask scheduler at {address} within {DASK_CONNECT_SECONDS:g} s "
            f"({type(exc).__name__}); is it running, is the address right, and does it need "
            "TLS (--tls-ca-file, --tls-cert, --tls-key)?"
        ) from None


def _require_workers(client: Any) -> None:
    try:
        client.wait_for_workers(1, timeout=DASK_WORKERS_SECONDS)
    except (TimeoutError, OSError):
        raise TemporaryFailureError(
            f"the Dask scheduler at {client.scheduler.address} has no workers (waited "
            f"{DASK_WORKERS_SECONDS:g} s); start some with 'dask worker ADDRESS' and run again"
        ) from None


def _dask_threads(client: Any) -> int:
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # an unreachable scheduler reports itself on submit instead
        return 1


class progress_bar:  # noqa: N801 - used as a context manager like a function
    """A rich progress bar on stderr (rich renders it in Jupyter too); silent when off."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda _n: None
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(stderr=True), transient=True)
        self._bar.start()
        task = self._bar.add_task("simulating", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()
