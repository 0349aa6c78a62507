"""A Chinese report is Chinese throughout, and carries the font its characters need."""

from __future__ import annotations

import base64
import html
import io
import json
import re

import pytest
from report_fixtures import SCENARIOS

import simsales
from simsales.i18n import translator
from simsales.report.compare_html import render_compare_html
from simsales.report.explain_html import render_explanation
from simsales.report.fonts import find_cjk_font, needs_cjk
from simsales.report.html import render_report
from simsales.results.compare import Comparison
from simsales.results.explain import Explanation
from simsales.results.forecast import Forecast

_VISIBLE = {"text", "name", "ticktext", "customdata", "hovertext", "hovertemplate"}
_WORD = re.compile(r"[A-Za-z][A-Za-z_]+")
# not English prose: units, percentiles, method and library names, fonts
_ALLOWED = {"CNY", "PERT", "Spearman", "simsales", "python", "simpy", "numpy", "scipy", "pandas"}


def _chart_strings(value: object, visible: bool = False) -> list[str]:
    """The strings of plotly figures a reader sees: titles, names, labels, hover texts."""
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            shown = k in _VISIBLE or (k == "text" and visible) or (visible and k == "title")
            out += _chart_strings(v, shown or k == "title")
        return out
    if isinstance(value, list):
        return [s for v in value for s in _chart_strings(v, visible)]
    return [value] if visible and isinstance(value, str) else []


def _visible_text(page: str, charts: bool = True) -> str:
    data = re.search(
        r'<script id="report-charts" type="application/json">(.*?)</script>', page, re.S
    )
    assert data is not None or not charts
    labels = " ".join(_chart_strings(json.loads(data[1]))) if data is not None else ""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    text = re.sub(r"<[^>]+>|%\{[^}]*\}", " ", body + " " + labels)
    return html.unescape(text)


@pytest.fixture(scope="module")
def chinese_page(chinese: Forecast) -> str:
    return render_report(chinese)


def test_no_english_words_in_a_chinese_report(chinese_page: str, chinese: Forecast) -> None:
    scenario = json.dumps(chinese.provenance["scenario"], ensure_ascii=False, default=str)
    own = set(_WORD.findall(scenario)) | set(_WORD.findall(str(chinese.provenance)))
    words = set(_WORD.findall(_visible_text(chinese_page))) - own - _ALLOWED
    words -= {"left", "right", "top", "bottom", "center"}  # plotly title anchors
    assert not words, f"English in the zh-CN report: {sorted(words)}"
    assert "工作日 周一" in chinese_page and "目标成交日期最早者优先" in chinese_page
    assert "预测判断 · 2026年第2季度" in chinese_page  # the forecast call, in Chinese too


def _english_words(text: str, forecast: Forecast) -> set[str]:
    """English words in ``text`` that are not the scenario's own names."""
    scenario = json.dumps(forecast.provenance["scenario"], ensure_ascii=False, default=str)
    own = set(_WORD.findall(scenario)) | set(_WORD.findall(str(forecast.provenance)))
    return set(_WORD.findall(text)) - own - _ALLOWED


@pytest.fixture(scope="module")
def chinese_explanation() -> Explanation:
    scenario = SCENARIOS / "zh-system-integration.yaml"
    return simsales.explain(scenario, "2026Q2", replications=20, seed=3)


def test_no_english_words_in_a_chinese_explanation(
    chinese_explanation: Explanation, chinese: Forecast
) -> None:
    t = translator("zh-CN")
    t.missing.clear()
    page = render_explanation(chinese_explanation, "系统集成")
    assert t.missing == set()
    assert '<html lang="zh-CN">' in page and "缺口分析" in page
    words = _english_words(_visible_text(page, charts=False), chinese)
    assert not words, f"English in the zh-CN explanation page: {sorted(words)}"
    findings = " ".join(chinese_explanation.findings)
    assert "万" in findings and "2026年第2季度" in findings  # money and periods in Chinese
    assert not _english_words(findings, chinese), findings


def test_every_label_the_report_asks_for_is_translated(chinese: Forecast) -> None:
    t = translator("zh-CN")
    t.missing.clear()
    render_report(chinese)
    assert t.missing == set()


@pytest.mark.skipif(find_cjk_font() is None, reason="no CJK font installed to embed")
def test_the_embedded_font_covers_every_chinese_character(chinese_page: str) -> None:
    from fontTools.ttLib import TTFont

    face = re.search(r"url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", chinese_page)
    assert face is not None, "no embedded font"
    font = TTFont(io.BytesIO(base64.b64decode(face[1])))
    covered = set(font.getBestCmap())
    needed = {ord(c) for c in _visible_text(chinese_page) if needs_cjk(c)}
    assert needed and needed <= covered, sorted(chr(c) for c in needed - covered)
    assert len(face[1]) < 2_000_000  # a subset, not the whole font


def test_the_risk_register_of_a_chinese_comparison_is_chinese(
    comparisons: dict[str, Comparison], chinese: Forecast
) -> None:
    risks = simsales.risk_contribution(SCENARIOS / "zh-system-integration.yaml", replications=20)
    page = render_compare_html(comparisons["zh-CN"], risks)
    register = re.search(r"<h3>风险登记册</h3>(.*?)</table>", page, re.S)
    assert register is not None, "no risk register on the page"
    text = html.unescape(re.sub(r"<[^>]+>", " ", register[1]))
    assert "缓解前概率" in text and "%" in text
    assert not _english_words(text, chinese), sorted(_english_words(text, chinese))
