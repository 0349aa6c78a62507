"""Help written for the terminal: no type noise beside flags, no sentence cut by a line break
of the source, one example per command, and no reference to Python modules."""

from __future__ import annotations

import re
from typing import Any

import pytest

COMMANDS = ["validate", "schema", "init", "run", "report", "compare", "optimize", "calibrate",
            "backtest"]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_help_reads_well(command: str, main_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = main_cli(command, "--help")
    assert result.code == 0
    text = result.out
    assert "<bool>" not in text
    assert f"Example: simsales {command}" in text
    assert not re.search(r"simsales\.[a-z_]+\.", text)  # no Python module paths
    # a source line break inside a sentence shows as a line ending in a word with the
    # panel's border right after it and much room left: the help is re-flowed instead
    for line in text.splitlines():
        body = line.strip("│ ").rstrip()
        assert not re.search(r"[a-z,]\s{25,}│?$", line) or len(body) > 40, line


def test_completion_can_be_installed(main_cli: Any) -> None:
    assert "--install-completion" in main_cli("--help").out
