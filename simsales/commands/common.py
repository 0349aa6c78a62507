"""What every command shares: plain consoles, escaping of user text, and the input and output
options (``--allow-path``, ``--force``).

User text (file names, scenario and person names, CRM values) can hold rich markup
(``[red]``) or emoji codes (``q:fire:.yaml``, ``root:x:0``): consoles here never turn emoji
codes into pictures, and :func:`esc` keeps brackets literal wherever markup is on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from simsales.i18n import normalize_locale
from simsales.io.inputs import allowed_paths
from simsales.scenario.load import scenario_raw, scenario_warnings
from simsales.scenario.schema import Scenario

__all__ = [
    "AllowPath",
    "Force",
    "LocaleOption",
    "console",
    "esc",
    "inputs_of",
    "locale_option",
    "print_warnings",
    "reading",
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
    try:
        return normalize_locale(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--locale") from None


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
    out = [p for p in paths if p is not None]
    if scenario is not None:
        _, source = scenario_raw(scenario)
        for name in (source.file, *source.files.values()):
            if name and not name.startswith("--set") and Path(name).exists():
                out.append(Path(name))
    return out


def print_warnings(scenario: Scenario, path: Path) -> None:
    """The scenario's warnings on stderr, one located line each (they do not stop a command)."""
    err = console(stderr=True, markup=False)
    for problem in scenario_warnings(scenario):
        err.print(str(problem) if problem.file is not None else f"{path}: {problem}")
