"""The errors simsales raises on purpose.

User mistakes are expected, not exceptional: every problem found in a scenario becomes a
:class:`Problem` that names the file, line, column and key path, says what is wrong and, where it
helps, how to fix it. A :class:`ScenarioError` carries all problems of a file at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic_core import PydanticCustomError

__all__ = [
    "OptimizationError",
    "Problem",
    "ScenarioError",
    "SimsalesError",
    "SimulationError",
    "format_path",
    "invalid",
]


class SimsalesError(Exception):
    """Base class of every error simsales raises deliberately (the CLI exits 2 on these)."""


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


class SimulationError(SimsalesError):
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
