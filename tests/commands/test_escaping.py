"""User text is printed as written: no rich markup, no emoji codes (``q:fire:.yaml`` stayed
``q🔥.yaml``, ``root:x:0`` became ``root❌0``), in messages, locations and tables."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "scenarios" / "minimal.yaml"


def _run(main_cli: Callable[..., Any], *args: str | Path) -> tuple[int, str, str]:
    r = main_cli(*args)
    return r.code, r.out, r.err


NAMES = ["q:fire:.yaml", "root:x:0.yaml", "[red]x.yaml", "[bold]b.yaml"]


@pytest.mark.parametrize("name", NAMES)
def test_a_located_error_names_the_file_as_written(
    name: str, tmp_path: Path, main_cli: Callable[..., Any]
) -> None:
    path = tmp_path / name
    path.write_text("name: x\nstart: 2027-01-04\nhorizon: 2026-01-01\nstagez: []\n", "utf-8")
    code, _, err = _run(main_cli, "validate", path)
    assert code == 2
    assert f"{path}:4:1: stagez: unknown key 'stagez'" in err, err
    assert "🔥" not in err and "❌" not in err


@pytest.mark.parametrize("name", NAMES)
def test_ok_and_saved_lines_name_the_file_as_written(
    name: str, tmp_path: Path, main_cli: Callable[..., Any]
) -> None:
    scenario = Path(shutil.copy(MINIMAL, tmp_path / name))
    code, out, _ = _run(main_cli, "validate", scenario)
    assert code == 0 and f"OK {scenario} (" in out, out
    out_dir = tmp_path / f"out-{name}"
    code, _, err = _run(main_cli, "run", scenario, "-n", "5", "--out", out_dir)
    assert code == 0 and f"saved the forecast to {out_dir}" in err, err
    html = tmp_path / f"{name}.html"
    code, _, err = _run(main_cli, "report", out_dir, "-o", html)
    assert code == 0 and f"wrote the report to {html}" in err, err


def test_a_scenario_name_with_markup_prints_as_written(
    tmp_path: Path, main_cli: Callable[..., Any]
) -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace(
        "name: Minimal pipeline", 'name: "[red]Q:fire: root:x:0[/red]"'
    )
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text, encoding="utf-8")
    code, out, _ = _run(main_cli, "run", scenario, "-n", "5")
    assert code == 0 and "[red]Q:fire: root:x:0[/red]" in out, out
    code, out, _ = _run(main_cli, "compare", scenario, "--set", "resources.sales.capacity=3",
                         "-n", "5")  # fmt: skip
    assert code == 0 and "[red]Q:fire: root:x:0[/red]" in out, out


def test_an_error_about_a_missing_file_names_it_as_written(
    tmp_path: Path, main_cli: Callable[..., Any]
) -> None:
    missing = tmp_path / "[red]gone:fire:.yaml"
    code, _, err = _run(main_cli, "run", missing)
    assert code == 2 and f"{missing}: no such file" in err, err
