"""The errors simsales raises on purpose.

User mistakes are expected, not exceptional: every problem found in a scenario becomes a
:class:`Problem` that names the file, line, column and key path, says what is wrong and, where it
helps, how to fix it. A :class:`ScenarioError` carries all problems of a file at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic_core import PydanticCustomError


__all__ = [
    "EX_CANTCREAT",
    "EX_IOERR",
    "EX_TEMPFAIL",
    "CannotCreateError",
    "EnvironmentFailureError",
    "InputOutputError",
    "OptimizationError",
    "Problem",
    "ScenarioError",
    "SimsalesError",
    "SimsalesWarning",
    "SimulationError",
    "TemporaryFailureError",
    "format_path",
    "invalid",
]


EX_CANTCREAT = 73  # sysexits.h: a (user-specified) output cannot be created
EX_IOERR = 74  # an error while doing I/O on a file (disk full, unreadable, corrupt results)
EX_TEMPFAIL = 75  # a temporary failure: try again later (busy output, scheduler, hung worker)


class SimsalesError(Exception):
    """Base class of every error simsales raises deliberately.

    ``exit_code`` is what the CLI exits with: 2 for a bad input (the default); the
    :class:`EnvironmentFailureError` family uses the sysexits codes 73, 74 and 75.
    """

    exit_code = 2


class SimsalesWarning(UserWarning):
    """Something the user should know that does not stop the run (e.g. workers capped)."""


class EnvironmentFailureError(SimsalesError):
    """Not a bad input and not a bug: the machine or the network said no."""

    exit_code = EX_IOERR


class CannotCreateError(EnvironmentFailureError, OSError):
    """An output that cannot be created (permission, read-only folder, not simsales's).

    Also an :class:`OSError`, as the failure of the machine it reports."""

    exit_code = EX_CANTCREAT


class InputOutputError(EnvironmentFailureError, OSError):
    """Reading or writing a file failed (disk full, device error, a corrupt results folder).

    Also an :class:`OSError`, as the failure of the machine it reports."""

    exit_code = EX_IOERR


class TemporaryFailureError(EnvironmentFailureError):
    """Worth trying again: a busy output, an unreachable scheduler, a hung worker."""

    exit_code = EX_TEMPFAIL


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as we know it."""

    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    hint: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        path = f"{self.path}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{path}{self.message}{hint}"


class ScenarioError(SimsalesError):
    """A scenario (or an overlay, CSV or override) that cannot be used, with every problem found."""

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SimulationError(TemporaryFailureError):
    """A run that could not produce trustworthy numbers (e.g. a worker died mid-run)."""


class OptimizationError(SimsalesError):
    """An optimization request that cannot be built or solved as asked."""


def invalid(message: str, hint: str | None = None) -> PydanticCustomError:
    """A validation error for use inside pydantic validators, carrying an optional fix hint.

    Raise the result: ``raise invalid("low (12) must be <= mode (9)", "swap them")``. The loader
    turns it into a located :class:`Problem` with the hint attached.
    """
    # The message goes through the context: pydantic fills {names} in templates from it, so
    # braces in user text (e.g. "{fixed: 3}") stay as written.
    context: dict[str, str] = {"message": message}
    if hint:
        context["hint"] = hint
    from pydantic_core import PydanticCustomError  # with the models that raise it

    return PydanticCustomError("simsales", "{message}", context)


def format_path(loc: Sequence[str | int]) -> str:
    """``("stages", 3, "duration", "pert")`` -> ``stages[3].duration.pert``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
