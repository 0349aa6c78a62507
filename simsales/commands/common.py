"""What every command shares: plain consoles, escaping of user text, and the input and output
options (``--allow-path``, ``--force``).

User text (file names, scenario and person names, CRM values) can hold rich markup
(``[red]``) or emoji codes (``q:fire:.yaml``, ``root:x:0``): consoles here never turn emoji
codes into pictures, and :func:`esc` keeps brackets literal wherever markup is on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from simsales.engine.options import Executor, RunOptions
from simsales.io.inputs import allowed_paths

if TYPE_CHECKING:
    from simsales.scenario.schema import Scenario


__all__ = [
    "AllowPath",
    "Force",
    "Replications",
    "Seed",
    "Workers",
    "Yes",
    "console",
    "esc",
    "inputs_of",
    "print_warnings",
    "reading",
    "run_options",
]

AllowPath = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-path",
        help="Also let the scenario read files in this folder (repeatable); by default only "
        "files in the scenario's own folder.",
    ),
]
Force = Annotated[
    bool,
    typer.Option("--force", help="Replace an output folder even though simsales did not make it."),
]
Yes = Annotated[
    bool,
    typer.Option(
        "--yes", help="Go on even when the simulations are estimated to need too much memory/time."
    ),
]


# The options of a run (simsales.engine.options.RunOptions), spelled once for every command.
Replications = Annotated[
    int | None, typer.Option("--replications", "-n", min=1, help="Default: the scenario's.")
]
Seed = Annotated[int | None, typer.Option(min=0, help="Default: the scenario's.")]
Workers = Annotated[int, typer.Option(min=1, help="Worker processes.")]


def run_options(
    replications: int | None,
    seed: int | None,
    workers: int = 1,
    executor: Executor | None = None,
    **more: Any,
) -> RunOptions:
    """The RunOptions of a command: processes when more than one worker is asked for, unless
    an executor is named; the progress bar when stderr is a terminal."""
    if executor is None:
        executor = "process" if workers > 1 else "serial"
    more.setdefault("progress", sys.stderr.isatty())
    return RunOptions(replications, seed, workers, executor, **more)


def console(stderr: bool = False, *, markup: bool = True) -> Console:
    """A console without emoji codes, highlighting or wrapping (escape user text with esc)."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False, markup=markup)


def esc(text: object) -> str:
    """User text made safe to print with markup on: brackets stay brackets."""
    return escape(str(text))


@contextmanager
def reading(allow: Sequence[Path] | None) -> Iterator[None]:
    """Inside: scenario paths may also point into the ``--allow-path`` folders."""
    with allowed_paths(allow or ()):
        yield


def inputs_of(scenario: Scenario | None, *paths: Path | None) -> list[Path]:
    """The files a command read: ``paths`` and the scenario's file and its pipeline CSV."""
    from simsales.scenario.load import scenario_raw

    out = [p for p in paths if p is not None]
    if scenario is not None:
        _, source = scenario_raw(scenario)
        for name in (source.file, *source.files.values()):
            if name and not name.startswith("--set") and Path(name).exists():
                out.append(Path(name))
    return out


def print_warnings(scenario: Scenario, path: Path) -> None:
    """The scenario's warnings on stderr, one located line each (they do not stop a command)."""
    from simsales.scenario.load import scenario_warnings

    err = console(stderr=True, markup=False)
    for problem in scenario_warnings(scenario):
        err.print(str(problem) if problem.file is not None else f"{path}: {problem}")
