"""What every command shares: plain consoles, escaping of user text, and the input and output
options (``--allow-path``, ``--force``).

User text (file names, scenario and person names, CRM values) can hold rich markup
(``[red]``) or emoji codes (``q:fire:.yaml``, ``root:x:0``): consoles here never turn emoji
codes into pictures, and :func:`esc` keeps brackets literal wherever markup is on.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape

from simsales.engine.options import Executor, RunOptions
from simsales.io.inputs import allowed_paths

if TYPE_CHECKING:
    from simsales.scenario.schema import Scenario


__all__ = [
    "AllowPath",
    "EngineChoice",
    "Force",
    "LocaleOption",
    "Replications",
    "Seed",
    "Workers",
    "Xlsx",
    "Yes",
    "claim_file",
    "console",
    "esc",
    "inputs_of",
    "json_text",
    "locale_option",
    "print_warnings",
    "reading",
    "run_options",
    "with_locale",
]

AllowPath = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-path",
        help="Also let the scenario read files in this folder (repeatable); by default only "
        "files in the scenario's own folder.",
    ),
]
Xlsx = Annotated[
    Path | None,
    typer.Option(
        "--xlsx",
        help="Also write the results as an Excel workbook (one sheet per table).",
        show_default=False,
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


EngineChoice = Annotated[
    Literal["auto", "simpy"],
    typer.Option(
        "--engine",
        help="auto: replications in which no pool ever runs short are computed without SimPy, "
        "exactly (the same numbers, faster); simpy: every replication on SimPy.",
    ),
]


LocaleOption = Annotated[
    str | None,
    typer.Option(
        "--locale",
        help="Language of labels, numbers and dates: en or zh-CN (default: the scenario's "
        "'locale').",
        show_default=False,
    ),
]


def locale_option(value: str | None) -> str | None:
    """The --locale given (normalised), None when not given; a bad one is a usage error."""
    if value is None:
        return None
    from simsales.i18n import normalize_locale

    try:
        return normalize_locale(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--locale") from None


def with_locale(scenario: Scenario, locale: str | None) -> Scenario:
    """The scenario speaking ``--locale`` (every output reads the scenario's ``locale``)."""
    value = locale_option(locale)
    return scenario if value is None else scenario.model_copy(update={"locale": value})


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


def claim_file(path: Path | None, inputs: Sequence[Path]) -> Any:
    """An output file claimed before the work (refused at once if unwritable), or nothing."""
    from simsales.io.outputs import claim

    return claim(path, "file", inputs=inputs) if path is not None else nullcontext(None)


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


def _finite(value: Any) -> Any:
    """``value`` with every float that is not finite (NaN, infinity) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_text(document: Any, **options: Any) -> str:
    """The JSON a command prints: standard JSON (a number that is not finite is ``null``, as
    JSON has no NaN or Infinity and strict parsers refuse them), UTF-8 text, indented."""
    return json.dumps(_finite(document), ensure_ascii=False, indent=2, allow_nan=False, **options)
