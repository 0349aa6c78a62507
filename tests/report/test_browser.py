"""Open each page in Debian's headless Chromium (Playwright, file:// URL, no network): no
console errors, every chart drawn, nothing fetched from anywhere, the scenario's markup never
runs, the sortable table sorts; a full-page screenshot is kept. The report, comparison and
backtest pages are each opened in both locales; a Chinese page draws its text with the font
subset it embeds.

Skips when /usr/bin/chromium is absent, unless SIMSALES_REQUIRE_BROWSER=1 (as in CI), where a
missing browser fails the test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from simsales.calibrate.backtest import BacktestResult
from simsales.calibrate.backtest_html import write_backtest_html
from simsales.i18n import translator
from simsales.report.compare_html import write_compare_html
from simsales.report.data import ReportData
from simsales.report.fonts import EMBEDDED_FAMILY, find_cjk_font
from simsales.report.html import write_report
from simsales.results.compare import Comparison
from simsales.results.forecast import Forecast

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path("/tmp")  # one copy per report, for people to look at


def _keep(shot: Path, name: str) -> None:
    """Copy a screenshot to SCREENSHOTS/name whole: through a temporary file and a rename, so a
    test run beside this one (another checkout, parallel workers) never leaves a torn image."""
    fd, tmp = tempfile.mkstemp(dir=SCREENSHOTS, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(shot, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the copy is for people to look at
        os.replace(tmp, SCREENSHOTS / name)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _unavailable(reason: str) -> None:
    if os.environ.get("SIMSALES_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and SIMSALES_REQUIRE_BROWSER=1 requires the browser test")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Any:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("fixture", ["hostile_enterprise", "hostile_chinese"])
def test_report_in_chromium(
    fixture: str, browser: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    forecast: Forecast = request.getfixturevalue(fixture)
    report = write_report(forecast, tmp_path / f"{fixture}.html")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto(report.as_uri(), wait_until="load")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('div.chart'))"
        ".every(d => d.querySelector('svg.main-svg'))",
        timeout=20_000,
    )
    charts = page.evaluate(
        "Array.from(document.querySelectorAll('div.chart')).map(d => "
        "[d.id, d.querySelectorAll('svg.main-svg').length,"
        " d.querySelectorAll('.trace, .hm image').length])"
    )
    assert len(charts) == 7
    for chart_id, svgs, traces in charts:
        assert svgs > 0 and traces > 0, f"{chart_id} did not render"
    assert errors == []
    assert dialogs == []
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []
    # the hostile deal is shown, as text, in the deals table and on the chart's axis
    first_cells = page.eval_on_selector_all(
        "#deals-table tbody tr td:first-child", "cells => cells.map(c => c.textContent)"
    )
    assert any("<script>alert(1)</script>" in c for c in first_cells)
    labels = page.eval_on_selector_all(
        "#chart-deals .ytick text", "ts => ts.map(t => t.textContent)"
    )
    assert any(label.startswith("<script>alert(1)</script>") for label in labels)
    shot = tmp_path / f"{fixture}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    _keep(shot, f"simsales-report-{fixture}.png")
    # sorting by win chance (5th column) orders the rows
    page.click("#deals-table thead th:nth-child(5)")
    values = page.eval_on_selector_all(
        "#deals-table tbody tr td:nth-child(5)",
        "cells => cells.map(c => parseFloat(c.getAttribute('data-sort')))",
    )
    assert values == sorted(values)
    page.close()


def _open(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".every(d => d.querySelector('svg.main-svg'))",
        timeout=30_000,
    )
    page.evaluate("document.fonts.ready.then(() => true)")
    return page, errors, requests


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("kind", ["report", "compare", "backtest"])
def test_each_page_in_each_locale(
    kind: str,
    locale: str,
    browser: Any,
    tmp_path: Path,
    enterprise: Forecast,
    comparisons: dict[str, Comparison],
    backtest_result: BacktestResult,
) -> None:
    path = tmp_path / f"{kind}-{locale}.html"
    if kind == "report":
        write_report(ReportData(enterprise, locale), path)  # the English scenario, either way
    elif kind == "compare":
        write_compare_html(comparisons[locale], path)  # each scenario in its own language
    else:
        write_backtest_html(backtest_result, path, locale)
    page, errors, requests = _open(browser, path)
    assert page.evaluate("document.documentElement.lang") == locale
    charts = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
    assert charts >= (7 if kind == "report" else 2)
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []
    label = {"report": "key_findings", "compare": "cmp_differences", "backtest": "bt_scores"}[kind]
    assert translator(locale)(label) in page.inner_text("body")
    if locale == "zh-CN" and find_cjk_font() is not None:
        faces = page.evaluate(
            "Array.from(document.fonts).map(f => [f.family.replace(/\"/g, ''), f.status])"
        )
        assert [EMBEDDED_FAMILY, "loaded"] in faces, faces
    shot = tmp_path / f"{kind}-{locale}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    _keep(shot, f"simsales-{kind}-{locale}.png")
    page.close()
