"""RunOptions: how replications are run (how many, which seed, where), one object for every caller.

The API functions (:mod:`simsales.api`), the layers that simulate on their own account (optimize,
calibrate) and the CLI all take the same frozen object, so an option is declared, checked and
documented once. None of the options changes the numbers except ``replications`` and ``seed``
(see docs/architecture.md, "Randomness contract").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from simsales.errors import SimsalesError

__all__ = ["EXECUTORS", "Executor", "RunOptions"]

Executor = Literal["serial", "process", "dask"]
EXECUTORS: tuple[Executor, ...] = ("serial", "process", "dask")


@dataclass(frozen=True)
class RunOptions:
    """``replications`` and ``seed`` default (None) to the scenario's ``simulation`` settings.

    ``workers`` processes (``executor="process"``) or a Dask cluster (``executor="dask"``,
    ``scheduler`` a ``distributed.Client`` or a scheduler address, ``security`` a
    ``distributed.Security`` for TLS) share the replications; the numbers are the same for any
    choice. ``progress`` shows a progress bar on stderr. Dask pickles the model to send it:
    connect only to trusted clusters. ``yes`` goes on when the run is estimated to need more
    memory or time than the machine has (None: only inside
    :func:`simsales.results.budget.go_on`; see that module).
    """

    replications: int | None = None
    seed: int | None = None
    workers: int = 1
    executor: Executor = "serial"
    scheduler: Any = None
    progress: bool = False
    security: Any = None
    yes: bool | None = None

    def __post_init__(self) -> None:
        if self.replications is not None and self.replications < 1:
            raise SimsalesError(f"replications must be at least 1, got {self.replications}")
        if self.workers < 1:
            raise SimsalesError(f"workers must be at least 1, got {self.workers}")
        if self.executor not in EXECUTORS:
            raise SimsalesError(f"unknown executor {self.executor!r}: use serial, process or dask")

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)
