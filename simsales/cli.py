"""The ``simsales`` command line: ``validate``, ``schema`` (and later run, report, compare, ...).

Every command reports user mistakes as ``file:line:col: key.path: message (hint)`` lines on
stderr and exits 2; a traceback means a bug in simsales, never a bad input. A new command is a
function in ``simsales.commands.<module>`` that the module's ``register(app)`` adds, named in
``_COMMANDS`` (built only when it runs or help lists it); raise a :class:`SimsalesError` for
anything the user can fix and :func:`main` turns it into a message and its exit code:

- 0 done; 2 bad input; 3 ``optimize`` found no plan;
- 73 an output cannot be created (permission, read-only folder, a folder simsales did not make,
  an output that is an input); 74 an I/O error (disk full, a damaged results folder);
  75 a temporary failure worth retrying (output busy, Dask scheduler unreachable or without
  workers, a worker that died or hangs); 130/143 interrupted by Ctrl-C / SIGTERM;
- 1 a bug in simsales.

Status lines go through ``logging.getLogger("simsales")`` and are printed on stderr (INFO and
above; ``-v`` adds debug lines, ``-q`` keeps only warnings and errors).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import sys
import warnings
from collections.abc import Iterator, MutableMapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup, TyperOption
from typer.main import get_command_from_info

from simsales.commands.common import AllowPath, reading
from simsales.commands.schema import scenario_json_schema
from simsales.errors import Problem, ScenarioError, SimsalesError, SimsalesWarning
from simsales.io.outputs import environment_error

if TYPE_CHECKING:
    from typer._click import Command

__all__ = ["app", "main", "scenario_json_schema"]

EXIT_BAD_INPUT = 2  # the same code click uses for usage errors
EXIT_BUG = 1
_LOG = logging.getLogger("simsales")

# The commands besides validate, in the order of --help: each name and the module
# simsales.commands.<module> whose register(app) adds it. A new command goes here.
_COMMANDS = {
    "init": "init",
    "run": "run",
    "report": "report",
    "compare": "compare",
    "explain": "explain",
    "optimize": "optimize",
    "calibrate": "calibrate",
    "backtest": "calibrate",
    "schema": "schema",
}

# One example per command, shown at the end of its --help (markdown: a code line each).
_EXAMPLES = {
    "validate": "simsales validate scenarios/*.yaml",
    "schema": "simsales schema > scenario.schema.json",
    "init": "simsales init demo --locale zh-CN",
    "run": "simsales run scenarios/minimal.yaml -n 2000 --xlsx minimal.xlsx",
    "report": "simsales report scenarios/zh-system-integration.yaml -o report.html",
    "compare": "simsales compare scenarios/enterprise-it.yaml -o compare.html",
    "explain": "simsales explain scenarios/enterprise-it.yaml --period 2027Q1 -o explain.html",
    "optimize": "simsales optimize scenarios/enterprise-it.yaml --out plan.yaml",
    "calibrate": "simsales calibrate history.csv --as-of 2026-11-30 -o calibrated.yaml",
    "backtest": "simsales backtest history.csv --as-of 2026-06-30 --until 2026-11-30",
}


def _build_command(name: str) -> Command:
    """The click command ``name``: its module imported and its parameters read only now."""
    module = importlib.import_module(f"simsales.commands.{_COMMANDS[name]}")
    scratch = typer.Typer()
    module.register(scratch)
    (info,) = (i for i in scratch.registered_commands if i.name == name)
    info.epilog = f"Example: `{_EXAMPLES[name]}`"
    return get_command_from_info(
        info,
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
    )


class _Commands(MutableMapping[str, "Command"]):
    """The group's commands, each built on first use: typer reads every parameter's annotation of
    every command it builds, so a command pays for itself alone (and ``--version`` for none);
    ``--help`` and shell completion, which list them all, build them all."""

    def __init__(self, built: MutableMapping[str, Command]) -> None:
        self._built = dict(built)
        self._names = [*built, *(n for n in _COMMANDS if n not in built)]

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in _COMMANDS:
                raise KeyError(name)
            self._built[name] = _build_command(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command
        if name not in self._names:
            self._names.append(name)

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)


class _LazyGroup(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)


app = typer.Typer(
    name="simsales",
    help="Monte Carlo planning for project-based B2B sales.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # help re-flowed to the terminal, never cut mid-sentence
    cls=_LazyGroup,
)


def _out() -> Console:
    # Problems contain brackets (stages[3]) that rich would read as markup, and editors parse
    # file:line:col lines, so no markup, no highlighting and no wrapping.
    # No emoji codes either: a file named q:fire:.yaml must not print as a picture.
    return Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


def _version() -> str:
    try:
        return metadata.version("simsales")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        _out().print(f"simsales {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Say more on stderr (-vv: debug).")
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")
    ] = False,
) -> None:
    """Monte Carlo planning for project-based B2B sales: milestones, scarce people, risks."""
    if quiet:
        _LOG.setLevel(logging.WARNING)
    elif verbose:
        _LOG.setLevel(logging.DEBUG)


class _StderrHandler(logging.Handler):
    """Log records of the ``simsales`` logger as plain lines on stderr (the CLI's presentation).

    The console is looked up at each record, so a redirected stderr (tests, pytest) is honoured.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _err().print(self.format(record))
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _logs_on_stderr() -> Iterator[None]:
    """Status lines (INFO and above) on stderr while the CLI runs; -v/-q change the level (see
    :func:`_root`). The logger is put back afterwards, so a program (or a test) that calls
    :func:`main` several times keeps its own logging set-up."""
    handler = _StderrHandler()
    level, propagate = _LOG.level, _LOG.propagate
    _LOG.addHandler(handler)
    _LOG.setLevel(logging.INFO)
    _LOG.propagate = False  # a root handler set up by the user would print every line twice
    try:
        yield
    finally:
        _LOG.removeHandler(handler)
        _LOG.setLevel(level)
        _LOG.propagate = propagate


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario YAML files.", show_default=False)],
    allow_path: AllowPath = None,
) -> None:
    """Check scenario files (and every variant in them); print every problem found."""
    bad = False
    for path in files:
        with reading(allow_path):
            problems = _check(path)
        if problems:
            bad = True
            for problem in problems:
                _err().print(_located(problem, path))
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


def _check(path: Path) -> list[Problem]:
    """The problems of one file (its own and its variants'); warnings are printed on the way."""
    from simsales.scenario.load import load

    try:
        scenario = load(path)  # validates every variant too
    except ScenarioError as exc:
        return list(exc.problems)
    _out().print(
        f"OK {path} ({len(scenario.stages)} stages, {len(scenario.deals())} live deals, "
        f"{len(scenario.variants)} variants)"
    )
    from simsales.commands.common import print_warnings

    print_warnings(scenario, path)
    return []


def _located(problem: Problem, path: Path) -> str:
    # Every line names a file, so a line from a multi-file run can be traced on its own.
    return str(problem) if problem.file is not None else f"{path}: {problem}"


for _info in app.registered_commands:  # validate, defined here
    _info.epilog = f"Example: `{_EXAMPLES[_info.callback.__name__]}`"  # type: ignore[union-attr]


def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    # typer prints "<bool>" beside every on/off flag; a flag takes no value, so show none
    return None if self.is_flag else _shown_type(self, ctx)


_shown_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def _terminated(signum: int, frame: object) -> None:
    # SIGTERM runs the same cleanup as Ctrl-C: workers ended, temporaries removed, locks freed
    raise SystemExit(128 + signum)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    if issubclass(category, SimsalesWarning):
        _err().print(f"warning: {message}")
    else:
        _default_show(message, category, filename, lineno, file, line)  # type: ignore[arg-type]


_default_show = warnings.showwarning


def main() -> None:
    """Console-script entry point: a message and an exit code (see the module), no traceback."""
    signal.signal(signal.SIGTERM, _terminated)
    warnings.showwarning = _show_warning
    try:
        with _logs_on_stderr():
            app()
    except SimsalesError as exc:
        _err().print(str(exc))
        sys.exit(exc.exit_code)
    except OSError as exc:  # the machine said no somewhere not wrapped: still not a bug
        failure = environment_error(exc, Path(exc.filename or "simsales"))
        _err().print(str(failure))
        sys.exit(failure.exit_code)
    except Exception as exc:
        if os.environ.get("SIMSALES_DEBUG"):
            raise
        _err().print(
            f"simsales: internal error: {type(exc).__name__}: {exc} "
            "(a bug in simsales; set SIMSALES_DEBUG=1 to see the traceback, and please report it)"
        )
        sys.exit(EXIT_BUG)


if __name__ == "__main__":
    main()
