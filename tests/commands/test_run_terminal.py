"""``simsales run`` as a person reads it: a paragraph first, tables that fit 80 columns with
every number whole, periods in calendar order, decided vs won dates labelled, Chinese words
and 万 amounts for a Chinese scenario."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from simsales.i18n import period_sort_key

SCENARIOS = Path(__file__).parents[2] / "scenarios"
ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def _widest(out: str) -> int:
    """The widest line, leaving out the next-step command (kept whole, to be copied)."""
    return max(cell_len(x) for x in out.splitlines() if not x.startswith(("next:", "下一步")))


@pytest.fixture
def run80(main_cli: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("COLUMNS", "80")

    def run(name: str) -> str:
        result = main_cli("run", SCENARIOS / name, "-n", "60")
        assert result.code == 0, result.err
        return str(result.out)

    return run


def test_fits_80_columns_and_never_cuts_a_number(run80: Any) -> None:
    out = run80("enterprise-it.yaml")
    # the default scenario's pools bind: every replication says which engine computed it
    said = " ".join(out.split())  # the line wraps at 80 columns
    assert re.search(
        r"engine: \d+ replications on the exact vectorized path .*, \d+ on SimPy", said
    )
    lines = out.splitlines()
    assert _widest(out) <= 80
    assert "…" not in out  # rich's ellipsis: nothing is cut
    deals = [line for line in lines if line.startswith("│ D-")]
    assert len(deals) == 15  # one row per live deal, on one line each
    for line in deals:  # a date column is whole (or the deal is decided after the horizon)
        assert ISO.search(line) or "after the horizon" in line


def test_a_paragraph_first_then_labelled_dates(run80: Any) -> None:
    out = run80("enterprise-it.yaml")
    paragraph = out.split("Live deals")[0]
    assert "won deals" in paragraph and "(P10–P90)" in paragraph
    assert "chance to meet" in paragraph and "top bottleneck is" in paragraph
    assert "Won by (P50)" in out and "Decided (P50)" in out
    assert "Decided = won or lost" in out
    assert "next: simsales report" in out


def test_periods_in_calendar_order(run80: Any) -> None:
    out = run80("enterprise-it.yaml")
    table = out.split("Won revenue per period")[1].split("People pools")[0]
    shown = re.findall(r"^│ (Q[1-4] \d{4}|H[12] \d{4}|\d{4}) ", table, flags=re.M)
    labels = [f"{p[3:]}{p[:2]}" if p[0] in "QH" else p for p in shown]
    assert len(labels) >= 5
    assert labels == sorted(labels, key=period_sort_key)


def test_a_chinese_scenario_speaks_chinese_in_wan(run80: Any) -> None:
    out = run80("zh-system-integration.yaml")
    assert "预计赢单" in out and "最大瓶颈" in out
    assert "进行中的商机" in out and "赢单日期（P50）" in out and "决定日期（P50）" in out
    assert "万" in out and not re.search(r"\d\.\d+M\b", out)
    assert _widest(out) <= 80


def test_a_start_on_a_quarters_last_days_leads_with_the_next_quarter(
    main_cli: Any, tmp_path: Path
) -> None:
    """A calibrated scenario starts the day after its export's last date: the paragraph does
    not lead with the few days left of that quarter."""
    text = (SCENARIOS / "minimal.yaml").read_text(encoding="utf-8")
    stub = tmp_path / "stub.yaml"
    stub.write_text(text.replace("start: 2027-01-04", "start: 2026-12-30"), encoding="utf-8")
    out = main_cli("run", stub, "-n", "20").out
    paragraph = str(out).split("Live deals")[0]
    assert "Q1 2027 revenue" in paragraph and "Q4 2026 revenue" not in paragraph
    whole = main_cli("run", SCENARIOS / "minimal.yaml", "-n", "20").out
    assert "Q1 2027 revenue" in str(whole).split("Live deals")[0]
