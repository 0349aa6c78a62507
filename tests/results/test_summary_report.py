"""The summary's report figures (margin per deal, cost per pool, when the pipeline is decided)
and the risk summary, recomputed from the raw tables and the scenario."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import simsales
from simsales.results.forecast import Forecast
from simsales.results.risks import risk_summary
from simsales.results.summary import summarize

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
K = 4.5


@pytest.fixture(scope="module")
def scenario() -> simsales.Scenario:
    return simsales.load(SCENARIOS / "enterprise-it.yaml")


@pytest.fixture(scope="module")
def forecast(scenario: simsales.Scenario) -> Forecast:
    return simsales.simulate(scenario, replications=120, seed=9, progress=False, precision=None)


def test_expected_margin_per_deal_from_the_deals_table(
    scenario: simsales.Scenario, forecast: Forecast
) -> None:
    summary = summarize(forecast)
    live = forecast.deals[forecast.deals["live"]].astype({"deal": str, "type": str})
    margin_share = live["type"].map({k: t.margin for k, t in scenario.deal_types.items()})
    margin = live["revenue"] * margin_share - live["cost"]
    expected = margin.groupby(live["deal"]).mean()
    got = summary.deals.set_index("deal")["expected_margin"]
    np.testing.assert_allclose(got, expected.reindex(got.index), rtol=1e-12)
    assert (summary.deals["expected_margin_low"] <= summary.deals["expected_margin"]).all()
    assert (summary.deals["expected_margin"] <= summary.deals["expected_margin_high"]).all()
    names = {d.id: d.customer for d in scenario.deals()}
    assert list(summary.deals["customer"]) == [names[d] for d in summary.deals["deal"]]


def test_cost_per_pool_is_busy_days_times_the_day_rate(
    scenario: simsales.Scenario, forecast: Forecast
) -> None:
    resources = summarize(forecast).resources.set_index("pool")
    busy = forecast.pools.astype({"pool": str}).groupby("pool")["busy_days"].mean()
    for pool, spec in scenario.resources.items():
        assert resources.loc[pool, "cost"] == pytest.approx(busy[pool] * spec.cost_per_day)
        assert resources.loc[pool, "cost_low"] < resources.loc[pool, "cost"]


def test_closing_dates_are_the_median_of_each_replications_quantile(forecast: Forecast) -> None:
    model = forecast.model
    assert model is not None
    closing = summarize(forecast).closing.set_index("share")
    for share in (0.5, 0.8):
        per_rep = []
        for _, g in forecast.deals[forecast.deals["live"]].groupby("replication"):
            t = np.sort(np.where(g["outcome"] == "open", np.inf, g["decision_t"]))
            per_rep.append(t[math.ceil(share * len(t)) - 1])  # the deal that crosses the share
        median = np.sort(per_rep)[math.ceil(0.5 * len(per_rep)) - 1]
        assert closing.loc[share, "date"] == model.calendar.end_date(float(median))
        assert closing.loc[share, "date_low"] <= closing.loc[share, "date"]
        assert closing.loc[share, "date"] <= closing.loc[share, "date_high"]


def test_risk_summary_counts_and_rates(scenario: simsales.Scenario, forecast: Forecast) -> None:
    table = risk_summary(forecast).set_index("risk")
    hits = forecast.risks.astype({"risk": str}).groupby("risk").size()
    for risk in scenario.risks:
        assert table.loc[risk.id, "hits"] * forecast.replications == pytest.approx(
            hits.get(risk.id, 0)
        )
    # a resource risk strikes once per replication with its input probability
    quits = table.loc["key_engineer_quits"]
    se = math.sqrt(0.15 * 0.85 / forecast.replications)
    assert abs(quits["occurred"] - 0.15) <= K * se
    assert quits["occurred_low"] <= quits["occurred"] <= quits["occurred_high"]
    # deals a 'lost' risk hits are never won (nan when it never struck)
    veto = table.loc["compliance_veto"]
    assert veto["hit_win_rate"] == 0.0 or (
        veto["hit_deals"] == 0 and np.isnan(veto["hit_win_rate"])
    )


def test_to_json_keeps_the_run_contract(forecast: Forecast) -> None:
    out = summarize(forecast).to_json()
    assert set(out) == {
        "schema_version",
        "scenario",
        "seed",
        "replications",
        "engine_paths",
        "deals",
        "portfolio",
        "resources",
    }
    assert set(out["deals"][0]) == {
        "id",
        "win_probability",
        "close_date",
        "win_date",
        "expected_revenue",
    }
    assert set(out["resources"][0]) == {"id", "utilization", "mean_wait_days"}


def test_summary_renders_in_jupyter(forecast: Forecast) -> None:
    html = forecast._repr_html_()
    assert "<table" in html and "Expected margin" in html and "Share of the live pipeline" in html
    assert "e+0" not in html and "nan" not in html  # numbers formatted, missing ones as –


@pytest.mark.parametrize("name", ["minimal.yaml", "benchmark-200.yaml"])
def test_portfolio_close_times_are_each_replications_inverted_cdf_quantiles(name: str) -> None:
    """The rows sorted once and read at np.quantile's rank: the same times as np.quantile of
    each replication's live deals (open ones as +inf)."""
    from simsales.results.summary import CLOSE_SHARES, portfolio_close_times

    forecast = simsales.simulate(SCENARIOS / name, 13, seed=4, progress=False)
    got = portfolio_close_times(forecast)
    d = forecast.deals[forecast.deals["live"]]
    t = np.where(d["outcome"] == "open", np.inf, d["decision_t"])
    for rep, rows in d.groupby("replication").indices.items():
        for share, q in CLOSE_SHARES.items():
            want = np.quantile(t[rows], q, method="inverted_cdf")
            assert got.loc[rep, share] == want


def test_margin_without_costs_at_a_margin_of_one_is_the_formula_bit_for_bit() -> None:
    # benchmark-200: every type keeps the whole value as margin and nothing costs, so each
    # deal's margin is its revenue; the summary's intervals are the formula's, to the last bit
    from simsales.results.stats import mean_interval

    forecast = simsales.simulate(SCENARIOS / "benchmark-200.yaml", 40, 2, progress=False)
    assert forecast.model is not None
    assert all(t.margin == 1.0 for t in forecast.model.types)
    deals = summarize(forecast).deals.set_index("deal")
    d = forecast.deals[forecast.deals["live"]]
    for deal in ["B-001", "B-077", "B-200"]:
        mine = d[d["deal"] == deal]
        x = mine["revenue"].to_numpy() * 1.0 - mine["cost"].to_numpy()
        got = deals.loc[deal, ["expected_margin", "expected_margin_low", "expected_margin_high"]]
        assert tuple(got) == mean_interval(x), deal
