"""``simsales init``: a starter folder that validates and runs, in English or Chinese, and
never replaces a file without --force."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from simsales.commands.init import HISTORY_END, STARTER_FILES
from simsales.scenario.load import load


@pytest.mark.parametrize(("locale", "stage"), [("en", "qualify"), ("zh-CN", "需求确认")])
def test_a_starter_that_loads(locale: str, stage: str, tmp_path: Path, main_cli: Any) -> None:
    result = main_cli("init", tmp_path / "demo", "--locale", locale)
    assert result.code == 0, result.err
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == sorted(STARTER_FILES)
    scenario = load(tmp_path / "demo" / "scenario.yaml")
    assert scenario.locale == locale and scenario.stages[0].id == stage
    assert len(scenario.deals()) == 6 and scenario.variants and scenario.arrivals
    text = (tmp_path / "demo" / "scenario.yaml").read_text(encoding="utf-8")
    assert text.count("#") > 20  # commented for a first reader
    with (tmp_path / "demo" / "history.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {"Won", "Lost"} <= {r["outcome"] for r in rows}
    assert max(r["entered_at"] for r in rows) <= HISTORY_END.isoformat()
    assert {r["stage"] for r in rows} >= {s.id for s in scenario.stages}
    assert "next: simsales run" in result.out


def test_init_never_replaces_files(tmp_path: Path, main_cli: Any) -> None:
    assert main_cli("init", tmp_path).code == 0
    (tmp_path / "scenario.yaml").write_text("name: mine\n", encoding="utf-8")
    again = main_cli("init", tmp_path)
    assert again.code == 73 and "--force" in again.err and "Traceback" not in again.err
    assert (tmp_path / "scenario.yaml").read_text(encoding="utf-8") == "name: mine\n"
    assert main_cli("init", tmp_path, "--force").code == 0
    assert "Starter pipeline" in (tmp_path / "scenario.yaml").read_text(encoding="utf-8")


def test_an_unknown_locale_lists_the_choices(tmp_path: Path, main_cli: Any) -> None:
    result = main_cli("init", tmp_path, "--locale", "fr")
    assert result.code == 2 and "en" in result.err and "zh-CN" in result.err
