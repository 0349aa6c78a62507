"""The terminal speaks the scenario's language, or the one --locale asks for."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., tuple[int, str, str]]  # the simsales_cli fixture of conftest.py

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
ZH = str(SCENARIOS / "zh-system-integration.yaml")
_WAN = re.compile(r"\d(\.\d+)?万")


def test_a_chinese_scenario_prints_chinese_labels_and_wan(simsales_cli: Cli) -> None:
    code, out, err = simsales_cli("run", ZH, "-n", "20")
    assert code == 0, err
    for label in (
        "进行中的商机",
        "赢单概率",
        "决定日期（P50）",
        "各期间赢单收入",
        "人员池",
        "2026年第2季度",
    ):
        assert label in out, label
    assert _WAN.search(out) and "M " not in out
    table = out.split("各期间赢单收入", 1)[1]  # the periods table, after the summary paragraph
    periods = re.findall(r"2026年(?:第(\d)季度|(上|下)半年)", table)
    # calendar order: each half after the quarters it holds
    assert [q or h for q, h in periods] == ["1", "2", "3", "4", "下"]


def test_locale_option_overrides_the_scenario(simsales_cli: Cli) -> None:
    code, out, err = simsales_cli("run", ZH, "-n", "20", "--locale", "en")
    assert code == 0, err
    assert "Live deals" in out and "Win chance" in out and "赢单概率" not in out
    assert re.search(r"\d(\.\d+)?M", out)


def test_an_unknown_locale_is_a_usage_error(simsales_cli: Cli) -> None:
    code, _, err = simsales_cli("run", ZH, "-n", "5", "--locale", "fr")
    assert code == 2
    assert "en, zh-CN" in err


def test_compare_page_and_table_of_a_chinese_scenario_are_chinese(
    simsales_cli: Cli, tmp_path: Path
) -> None:
    page = tmp_path / "c.html"
    code, out, err = simsales_cli("compare", ZH, "--variant", "增加售前", "-n", "10", "-o",
                                  str(page), "--no-risks")  # fmt: skip
    assert code == 0, err
    assert "增加售前 对比基准" in out and "总收入" in out and _WAN.search(out)
    # the charts' labels are in plotly's JSON, written as \\u escapes
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), page.read_text("utf-8"))
    assert '<html lang="zh-CN">' in text
    for label in ("方案对比", "各方案与基准的差异", "总收入", "预期收入：方案 − 基准（万元）"):
        assert label in text, label
    assert "What-if comparison" not in text and "Differences, option by option" not in text
