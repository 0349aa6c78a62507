"""The data-quality report of an import: every problem counted per rule, with examples.

Rules have an action: ``dropped`` (the rows are left out), ``kept`` (used, with the field
blanked or fixed), ``merged`` (spellings merged into one name) or ``info`` (a fact about the
export worth knowing, not a defect: ``--strict`` ignores these).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from simsales.errors import SimsalesError

__all__ = ["Action", "DataError", "DataReport", "Issue"]

Action = Literal["dropped", "kept", "merged", "info"]
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Issue:
    rule: str
    action: Action
    message: str
    rows: int
    examples: tuple[str, ...]

    def __str__(self) -> str:
        shown = ", ".join(self.examples)
        more = f"; e.g. {shown}" if shown else ""
        if self.action == "info":
            return f"{self.rule} (info): {self.message}{more}"
        return f"{self.rule}: {self.rows:,} rows {self.action}: {self.message}{more}"


@dataclass
class DataReport:
    """What the importer found in one export."""

    source: str
    rows_read: int = 0
    deals_used: int = 0
    issues: list[Issue] = field(default_factory=list)

    def add(
        self,
        rule: str,
        action: Action,
        message: str,
        lines: Sequence[int] = (),
        ids: Sequence[Any] = (),
        rows: int | None = None,
        examples: Sequence[str] | None = None,
    ) -> None:
        """Record a rule hit by ``rows`` rows (default: ``len(lines)``); nothing if zero."""
        n = len(lines) if rows is None else rows
        if n == 0:
            return
        if examples is None:
            examples = [
                f"line {line}" + (f" (id {ident})" if str(ident) not in ("", "nan") else "")
                for line, ident in zip(
                    lines[:MAX_EXAMPLES], [*ids, *[""] * MAX_EXAMPLES], strict=False
                )
            ]
        self.issues.append(Issue(rule, action, message, n, tuple(examples[:MAX_EXAMPLES])))

    @property
    def problems(self) -> list[Issue]:
        """The defects (everything but ``info``): what ``--strict`` refuses."""
        return [i for i in self.issues if i.action != "info"]

    def count(self, rule: str) -> int:
        """Rows hit by ``rule`` (0 if it never fired)."""
        return sum(i.rows for i in self.issues if i.rule == rule)

    def lines(self) -> list[str]:
        head = f"{self.source}: {self.rows_read:,} rows read, {self.deals_used:,} deals used"
        return [head, *(f"  {i}" for i in self.issues)]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "deals_used": self.deals_used,
            "issues": [
                {
                    "rule": i.rule,
                    "action": i.action,
                    "message": i.message,
                    "rows": i.rows,
                    "examples": list(i.examples),
                }
                for i in self.issues
            ],
        }


class DataError(SimsalesError):
    """``--strict`` import of an export with data problems; carries the full report."""

    def __init__(self, report: DataReport) -> None:
        self.report = report
        n = len(report.problems)
        super().__init__(
            "\n".join(
                [
                    *report.lines(),
                    f"--strict: {n} data problem{'s' if n != 1 else ''} found; fix the export "
                    "or run without --strict to use the clean rows",
                ]
            )
        )
