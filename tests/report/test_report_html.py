"""The HTML report: self-contained (no web resources), scenario text escaped, labels in the
scenario's language, written atomically."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_fixtures import XSS_CUSTOMER, XSS_ID, XSS_NAME

import simsales
from simsales.report import html as report_html
from simsales.report import plots
from simsales.report.data import ReportData
from simsales.report.html import render_report, script_json, write_report
from simsales.results.forecast import Forecast

_URL_IN_CSS = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"]?)\s*(?:https?:)?//""", re.I)


class _Resources(HTMLParser):
    """Everything an HTML page asks the browser to fetch, and every script it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.css: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in: str | None = None
        self._attrs: dict[str, str | None] = {}
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("src", "href", "srcset", "poster", "data", "action", "formaction"):
                self.refs.append(value or "")
            if key == "style":
                self.css.append(value or "")
        if tag in ("script", "style"):
            self._in, self._attrs, self._text = tag, dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            text = "".join(self._text)
            if tag == "style":
                self.css.append(text)
            else:
                self.scripts.append((self._attrs, text))
            self._in = None


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse(html: str) -> _Resources:
    parser = _Resources()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def reports(enterprise: Forecast, chinese: Forecast) -> dict[str, str]:
    return {
        "enterprise-it": render_report(enterprise),
        "zh-system-integration": render_report(chinese),
    }


@pytest.mark.parametrize("name", ["enterprise-it", "zh-system-integration"])
def test_the_report_references_no_web_resources(name: str, reports: dict[str, str]) -> None:
    html = reports[name]
    page = _parse(html)
    external = [r for r in page.refs if not (r.startswith("#") or r.startswith("data:"))]
    assert not external, external
    assert not [c for c in page.css if _URL_IN_CSS.search(c)]
    assert all("src" not in attrs for attrs, _ in page.scripts)  # every script is inline
    assert "<link" not in html.lower() and "<iframe" not in html.lower()
    # plotly's bundle names web sites in code and comments; the report neutralises them all
    assert "http://" not in html and "https://" not in html
    # and the charts' code is inside: plotly.js and every chart's data
    assert any("Plotly" in text and len(text) > 1_000_000 for _, text in page.scripts)


@pytest.mark.parametrize("name", ["enterprise-it", "zh-system-integration"])
def test_every_section_and_chart_is_there(name: str, reports: dict[str, str]) -> None:
    html = reports[name]
    for section in (
        "headline",
        "deals",
        "revenue",
        "bottlenecks",
        "risks",
        "sensitivity",
        "funnel",
        "stages",
        "assumptions",
    ):
        assert f'<section id="{section}">' in html
    page = _parse(html)
    data = next(text for attrs, text in page.scripts if attrs.get("id") == "report-charts")
    charts = json.loads(data, parse_constant=_no_constants)  # browsers reject NaN in JSON
    assert set(charts) == {
        "chart-deals",
        "chart-fan",
        "chart-scurve",
        "chart-heatmap",
        "chart-waiting",
        "chart-tornado",
        "chart-funnel",
    }
    for chart in charts:
        assert f'id="{chart}"' in html
    assert 'class="sortable"' in html


def test_labels_follow_the_scenario_locale(reports: dict[str, str]) -> None:
    zh, en = reports["zh-system-integration"], reports["enterprise-it"]
    assert '<html lang="zh-CN">' in zh and '<html lang="en">' in en
    for label in ("概览", "在手项目", "资源瓶颈", "敏感性分析", "阶段与退出标准", "假设与来源"):
        assert label in zh
    assert "Headline" not in zh and "Key findings" not in zh
    assert "Key findings" in en and "Stages and exit criteria" in en
    assert "预算已确认" in zh  # exit criteria from the scenario
    assert "budget confirmed" in en


@pytest.mark.parametrize("fixture", ["hostile_enterprise", "hostile_chinese"])
def test_scenario_text_is_escaped(fixture: str, request: pytest.FixtureRequest) -> None:
    html = render_report(request.getfixturevalue(fixture))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the deal id shows as text
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in html  # the customer too
    assert "&lt;img src=x onerror=" in html  # and the name
    for raw in (XSS_ID, XSS_CUSTOMER, XSS_NAME, "<img"):
        assert raw not in html
    page = _parse(html)
    inline = [text for attrs, text in page.scripts if attrs.get("type") != "application/json"]
    assert not any("alert(1)" in text or "__xss" in text for text in inline)
    # the chart data holds the names escaped twice: for JSON in <script>, then for plotly
    data = next(text for attrs, text in page.scripts if attrs.get("id") == "report-charts")
    assert "<" not in data and ">" not in data
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in json.dumps(json.loads(data))


def test_script_json_cannot_close_its_element() -> None:
    text = script_json({"x": "</script><script>alert(1)</script>", "y": "a & b\u2028"})
    assert "</" not in text and "<" not in text and "&" not in text
    assert json.loads(str(text)) == {"x": "</script><script>alert(1)</script>", "y": "a & b\u2028"}


def test_write_report_is_atomic(
    enterprise: Forecast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out" / "report.html"
    assert write_report(enterprise, target) == target
    first = target.read_text(encoding="utf-8")
    assert first.startswith("<!DOCTYPE html>") and first.rstrip().endswith("</html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]

    def broken(_forecast: object) -> str:
        raise RuntimeError("rendering failed half-way")

    monkeypatch.setattr(report_html, "render_report", broken)
    with pytest.raises(RuntimeError):
        write_report(enterprise, target)
    assert target.read_text(encoding="utf-8") == first  # the old report is untouched
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_a_bare_scenario_still_makes_a_report() -> None:
    """No people pools, risks, targets or live deals: sections stay, empty charts are left out."""
    scenario = simsales.load_dict(
        {
            "name": "bare",
            "start": "2027-01-04",
            "horizon": "2027-06-30",
            "stages": [{"id": "a", "duration": {"uniform": [5, 20]}, "advance": 0.5}],
            "deal_types": {"t": {"value": {"fixed": 1000.0}}},
            "arrivals": [{"type": "t", "per_month": 2}],
        }
    )
    forecast = simsales.simulate(scenario, replications=8, progress=False)
    html = render_report(forecast)
    assert 'id="chart-fan"' in html and 'id="chart-heatmap"' not in html
    assert 'id="chart-deals"' not in html
    for plot in (plots.deal_close_dates, plots.utilization_heatmap, plots.tornado):
        assert plot(ReportData(forecast)).axes
