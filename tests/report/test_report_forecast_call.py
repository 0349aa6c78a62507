"""The report's forecast-call sections: categories beside the rep's call, roll-ups by owner."""

from __future__ import annotations

from report_fixtures import SCENARIOS, XSS_NAME

import simsales
from simsales.report.html import render_report
from simsales.results.categories import forecast_categories
from simsales.results.forecast import Forecast


def test_the_report_shows_the_call_and_the_owner_rollup(enterprise: Forecast) -> None:
    html = render_report(enterprise)
    assert "Forecast call · Q1 2027" in html and "By owner and team · Q1 2027" in html
    c = forecast_categories(enterprise, "2027Q1")
    for deal in c.deals[c.deals["disagrees"]]["deal"]:
        assert f"<td>{deal}</td>" in html  # each deal is listed; disagreements flagged
    assert html.count("⚑") == int(c.deals["disagrees"].sum())
    assert "Zhang Min" in html and "East" in html


def test_owner_names_are_escaped() -> None:
    scenario = simsales.load(SCENARIOS / "enterprise-it.yaml")
    hostile = simsales.with_overlay(scenario, {"pipeline": {"D-1001": {"owner": XSS_NAME}}})
    hostile = simsales.with_overlay(hostile, {"targets": {"owners": {"Li Wei": None}}})
    forecast = simsales.simulate(hostile, replications=20, seed=1, progress=False)
    html = render_report(forecast)
    assert XSS_NAME not in html
    assert "&lt;img src=x" in html
