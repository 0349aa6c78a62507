"""The numbers the charts draw, recomputed from the raw deals and pools tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simsales.report.data import ReportData
from simsales.results.forecast import Forecast


def _order_statistic(x: np.ndarray, q: float) -> float:
    """The inverted-CDF quantile: the ceil(q n)-th smallest value."""
    return float(np.sort(x)[max(0, math.ceil(q * len(x)) - 1)])


@pytest.mark.parametrize("name", ["enterprise", "chinese"])
def test_revenue_fan_quantiles_equal_those_recomputed_from_the_deals(
    name: str, request: pytest.FixtureRequest
) -> None:
    forecast: Forecast = request.getfixturevalue(name)
    model = forecast.model
    assert model is not None
    fan = ReportData(forecast).fan.set_index("period")
    won = forecast.deals[forecast.deals["outcome"] == "won"]
    quarter = model.calendar.period_labels(won["decision_t"].to_numpy(), "Q")
    reps = range(forecast.replications)
    assert len(fan) >= 3
    targets = {label: amount for label, _, _, amount in model.targets}
    for period, row in fan.iterrows():
        revenue = won["revenue"].where(quarter == period, 0.0).groupby(won["replication"]).sum()
        x = revenue.reindex(reps, fill_value=0.0).to_numpy()
        assert row["p50"] == pytest.approx(_order_statistic(x, 0.5))
        assert row["p10"] == pytest.approx(_order_statistic(x, 0.1))
        assert row["p90"] == pytest.approx(_order_statistic(x, 0.9))
        assert row["mean"] == pytest.approx(x.mean())
        assert row["p10"] <= row["p25"] <= row["p50"] <= row["p75"] <= row["p90"]
        if period in targets:
            assert row["target"] == targets[period]
            assert row["target_probability"] == pytest.approx(np.mean(x >= targets[period]))


def test_s_curve_ends_at_the_total_revenue_and_never_falls(enterprise: Forecast) -> None:
    curve = ReportData(enterprise).s_curve
    total = enterprise.deals.groupby("replication")["revenue"].sum()
    assert curve["mean"].iloc[-1] == pytest.approx(total.mean())
    assert curve["p50"].iloc[-1] == pytest.approx(_order_statistic(total.to_numpy(), 0.5))
    for column in ("p10", "p50", "p90", "mean"):
        assert (np.diff(curve[column]) >= -1e-9).all()
    # at each week's end: revenue won before it, in the median replication
    won = enterprise.deals[enterprise.deals["outcome"] == "won"]
    k = len(curve) // 2
    before = won[won["decision_t"] < curve["t"].iloc[k]].groupby("replication")["revenue"].sum()
    x = before.reindex(range(enterprise.replications), fill_value=0.0).to_numpy()
    assert curve["p50"].iloc[k] == pytest.approx(_order_statistic(x, 0.5))


def test_gantt_rows_are_the_live_deals_with_the_summary_dates(enterprise: Forecast) -> None:
    data = ReportData(enterprise)
    gantt, deals = data.gantt, data.summary.deals
    assert list(gantt["deal"]) == list(enterprise.model.deal_ids)  # type: ignore[union-attr]
    assert list(gantt["close_p50"]) == list(deals["close_p50"])
    signing = gantt.set_index("deal").loc["D-1005"]
    assert signing["exit_criteria"] == ("contract stamped (盖章) by both parties",)


def test_utilization_table_is_busy_over_capacity_per_pool_and_week(enterprise: Forecast) -> None:
    data = ReportData(enterprise)
    table = data.utilization
    weekly = data.bottlenecks.weekly
    assert list(table.index) == list(enterprise.model.pool_ids)  # type: ignore[union-attr]
    total = weekly.groupby("pool")[["busy_days", "capacity_days"]].sum()
    engine = enterprise.pools.astype({"pool": str}).groupby("pool")[["busy_days", "capacity_days"]]
    engine = engine.sum()
    for pool in table.index:
        ratio = total.loc[pool, "busy_days"] / total.loc[pool, "capacity_days"]
        expected = engine.loc[pool, "busy_days"] / engine.loc[pool, "capacity_days"]
        assert ratio == pytest.approx(expected, rel=1e-9)
        row = weekly[weekly["pool"] == pool].set_index("week_start")
        cells = table.loc[pool].dropna()
        np.testing.assert_allclose(
            cells, (row["busy_days"] / row["capacity_days"]).loc[cells.index], rtol=1e-12
        )


def test_labels_follow_the_locale(chinese: Forecast, enterprise: Forecast) -> None:
    zh, en = ReportData(chinese), ReportData(enterprise)
    assert zh.locale == "zh-CN" and en.locale == "en"
    assert zh.t("headline") == "概览" and en.t("headline") == "Headline"
    assert zh.output_label("revenue:2026Q2") == "2026年第2季度 收入"
    assert en.input_label("duration:negotiation") == "Negotiation: duration"
