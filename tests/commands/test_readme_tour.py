"""The README's tour runs as written, line by line, on a copy of a fresh clone.

The commands are read from the README itself (the code block under "## A tour"), so the test
and the documentation cannot drift apart. Each runs in a shell in a temporary folder holding
the repository's ``scenarios/``, with ``.venv/bin/simsales`` being this environment's console
script; each must exit 0, in order (later lines use earlier outputs: demo/, plan.yaml).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tour_commands(readme: str) -> list[str]:
    """The tour's commands: continuation lines joined, comments dropped."""
    block = readme.split("## A tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands, current = [], ""
    for line in block.splitlines():
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        command = current.split("  #", 1)[0].strip()
        if command:
            commands.append(command)
        current = ""
    return commands


def test_the_tour_is_found() -> None:
    commands = tour_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert commands[0] == ".venv/bin/simsales init demo"
    assert all(c.startswith(".venv/bin/simsales ") for c in commands)
    assert any("--xlsx" in c for c in commands) and any("calibrate demo/" in c for c in commands)


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    script = Path(sys.executable).parent / "simsales"
    (tmp_path / ".venv" / "bin" / "simsales").symlink_to(script)
    env = {**os.environ, "COLUMNS": "100"}
    for command in tour_commands((ROOT / "README.md").read_text(encoding="utf-8")):
        done = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr
    assert (tmp_path / "demo" / "scenario.yaml").is_file()
    for made in ("minimal.xlsx", "forecast.json", "report.html", "compare.html", "plan.yaml",
                 "calibrated.yaml", "scenario.schema.json"):  # fmt: skip
        assert (tmp_path / made).stat().st_size > 0, made
