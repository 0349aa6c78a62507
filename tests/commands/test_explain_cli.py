"""``simsales explain`` (and ``compare --explain``) through the real entry point."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))
from test_explain import IN_Q1, P_WIN, VALUE, K, _data

from simsales.results.stats import Z95

Cli = Callable[..., tuple[int, str, str]]


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "bottleneck.yaml"
    path.write_text(yaml.safe_dump(_data()), encoding="utf-8")
    return path


def test_explain_json_has_the_gap_contributions_and_findings(
    simsales_cli: Cli, tmp_path: Path
) -> None:
    html = tmp_path / "explain.html"
    code, out, err = simsales_cli(
        "explain", str(_write(tmp_path)), "--period", "2027Q1", "-n", "100", "--json",
        "-o", str(html),
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert {"total_gap", "contributions", "findings"} <= set(data)
    kinds = {c["kind"] for c in data["contributions"]}
    assert {"deal", "stage", "pool", "coverage"} <= kinds
    assert set(data["contributions"][0]) == {"kind", "id", "value", "low", "high"}
    total = sum(c["value"] for c in data["contributions"])
    assert abs(total - data["total_gap"]) <= (data["total_gap_high"] - data["total_gap_low"]) / 2
    top = max(data["contributions"], key=lambda c: c["value"])
    assert (top["kind"], top["id"]) == ("pool", "legal")
    assert "legal queue" in html.read_text(encoding="utf-8")


def test_a_period_without_a_target_is_a_located_error(simsales_cli: Cli, tmp_path: Path) -> None:
    code, _, err = simsales_cli(
        "explain", str(_write(tmp_path)), "--period", "2027Q2", "-n", "20", "--json"
    )
    assert code == 2
    assert "--period 2027Q2: the scenario has no revenue target" in err
    assert "did you mean '2027Q1'?" in err
    code, _, err = simsales_cli("explain", str(_write(tmp_path)), "--period", "Q1", "-n", "20")
    assert code == 2 and "not a period" in err


def test_compare_explains_each_variants_delta(simsales_cli: Cli, tmp_path: Path) -> None:
    code, out, err = simsales_cli(
        "compare", str(_write(tmp_path)), "--set", "resources.legal.capacity=2",
        "--explain", "2027Q1", "-n", "100", "--json",
    )  # fmt: skip
    assert code == 0, err
    variant = json.loads(out)["variants"][0]
    legal = next(c for c in variant["explanation"]["contributions"] if c["id"] == "legal")
    # the second counsel takes 4 more deals' worth out of legal's share of the gap
    truth = -(8 - IN_Q1) * P_WIN * VALUE
    se = (legal["high"] - legal["low"]) / (2 * Z95)
    assert abs(legal["value"] - truth) <= K * se
    assert "raises expected Q1 2027 revenue" in variant["explanation"]["findings"][0]


def test_run_json_gains_categories_and_rollups(simsales_cli: Cli, tmp_path: Path) -> None:
    code, out, err = simsales_cli("run", str(_write(tmp_path)), "-n", "50", "--json")
    assert code == 0, err
    portfolio = json.loads(out)["portfolio"]
    (call,) = portfolio["categories"]
    assert call["period"] == "2027Q1" and call["coverage"] == 1.0  # 10 x 100k for 1M
    assert [c["category"] for c in call["categories"]] == [
        "commit", "best_case", "pipeline", "omitted", "new deals",
    ]  # fmt: skip
    # counsel decides the first 4 deals in Q1, each won with p 0.5; the other 6 after it
    deals = {d["id"]: d for d in call["deals"]}
    for i in range(10):
        p = deals[f"D{i:02d}"]["win_in_period_probability"]
        if i < IN_Q1:
            assert abs(p - P_WIN) <= K * (P_WIN * (1 - P_WIN) / 50) ** 0.5
        else:
            assert p == 0.0 and deals[f"D{i:02d}"]["category"] == "omitted"
    assert set(portfolio["by"]) == {"owner", "team", "type", "region"}
    assert [g["id"] for g in portfolio["by"]["type"]] == ["t"]


def test_a_chinese_scenario_is_explained_in_chinese(simsales_cli: Cli, tmp_path: Path) -> None:
    data = _data() | {"locale": "zh-CN"}
    path = tmp_path / "zh.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    code, out, err = simsales_cli("explain", str(path), "--period", "2027Q1", "-n", "50")
    assert code == 0, err
    assert "平均缺口的各项贡献" in out and "legal 排队" in out and "2027年第1季度" in out
    own = set(re.findall(r"[A-Za-z]\w+", yaml.safe_dump(data)))  # ids and names from the file
    assert not set(re.findall(r"[A-Za-z][A-Za-z]+", out)) - own, out
