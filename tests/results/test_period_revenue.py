"""Property: revenue per period is exactly the revenue of the deals whose reported close date
falls in the period, replication by replication (hypothesis over random scenarios).

The scenarios favour whole-day durations (fixed, discrete, empirical of integers), calendars
with holidays and adjusted weekends (CN), horizons and targets at quarter and month ends: the
cases where a decision lands exactly on a period boundary or the horizon.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simsales
from simsales.results.forecast import Forecast
from simsales.results.summary import period_revenue, report_periods

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

WHOLE_DAYS = st.one_of(
    st.builds(lambda a: {"fixed": a}, st.integers(0, 15)),
    st.builds(
        lambda a, b: {"discrete": {"values": [a, a + b], "p": [0.5, 0.5]}},
        st.integers(0, 10),
        st.integers(1, 10),
    ),
    st.builds(lambda xs: {"empirical": xs}, st.lists(st.integers(1, 20), min_size=1, max_size=4)),
    st.builds(lambda a, w: {"uniform": [a, a + w]}, st.integers(1, 8), st.integers(1, 8)),
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n_stages = draw(st.integers(1, 3))
    stages = [
        {
            "id": f"s{i}",
            "duration": draw(WHOLE_DAYS),
            "needs": {"team": 1} if draw(st.booleans()) else {},
            "advance": draw(st.sampled_from([1.0, 0.8])),
        }
        for i in range(n_stages)
    ]
    start = draw(st.sampled_from(["2027-03-01", "2027-03-25", "2027-03-29", "2027-06-28"]))
    horizon = draw(st.sampled_from(["2027-03-31", "2027-04-30", "2027-06-30", "2027-09-30"]))
    if date.fromisoformat(horizon) <= date.fromisoformat(start):
        horizon = "2027-12-31"
    year = "2027"
    targets = {
        label: 1000.0
        for label in draw(
            st.lists(
                st.sampled_from([f"{year}Q1", f"{year}Q2", f"{year}Q3", f"{year}-03", f"{year}"]),
                unique=True,
                max_size=3,
            )
        )
    }
    return {
        "name": "periods",
        "start": start,
        "horizon": horizon,
        "calendar": draw(st.sampled_from([{"holidays": "CN"}, {}, {"continuous": True}])),
        "resources": {"team": {"capacity": draw(st.integers(1, 3))}},
        "stages": stages,
        "deal_types": {"a": {"value": {"discrete": {"values": [100, 300], "p": [0.5, 0.5]}}}},
        "pipeline": [
            {"id": f"D{k}", "type": "a", "stage": draw(st.sampled_from([s["id"] for s in stages]))}
            for k in range(draw(st.integers(1, 6)))
        ],
        "arrivals": [{"type": "a", "per_month": 3}] if draw(st.booleans()) else [],
        "targets": {"revenue": targets},
    }


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=scenarios())
def test_period_revenue_is_the_revenue_of_deals_closing_in_the_period(
    data: dict[str, Any],
) -> None:
    scenario = simsales.load_dict(data)
    forecast = simsales.simulate(scenario, replications=4, seed=3, progress=False)
    model = forecast.model
    assert model is not None
    deals = forecast.deals
    won = deals[deals["outcome"] == "won"]
    close = won["decision_date"].to_numpy().astype("datetime64[D]")
    reps = np.arange(forecast.replications)
    # nothing won after the horizon; every decided deal has a close date inside start..horizon
    assert (close <= np.datetime64(model.horizon)).all()
    decided = deals[deals["outcome"] != "open"]
    assert decided["decision_date"].notna().all()
    summary = forecast.summary().periods.set_index("period")
    for label, t0, t1, _ in report_periods(model):
        first, after = _period_dates(label)
        inside = (close >= first) & (close < after)
        truth = (
            pd.Series(won["revenue"].to_numpy()[inside])
            .groupby(won["replication"].to_numpy()[inside])
            .sum()
            .reindex(reps, fill_value=0.0)
            .to_numpy()
        )
        got = period_revenue(forecast, t0, t1)
        # a running sum against pandas' compensated one: equal but for rounding
        np.testing.assert_allclose(got, truth, rtol=1e-12, atol=0.0, err_msg=label)
        assert summary.loc[label, "mean"] == pytest.approx(np.mean(truth), rel=1e-12)
        target = summary.loc[label, "target"]
        if target == target:
            assert summary.loc[label, "target_probability"] == np.mean(truth >= target)


def _period_dates(label: str) -> tuple[np.datetime64, np.datetime64]:
    year = int(label[:4])
    if "Q" in label:
        q = int(label[-1])
        first, months = np.datetime64(f"{year}-{3 * q - 2:02d}", "M"), 3
    elif "-" in label:
        first, months = np.datetime64(label, "M"), 1
    else:
        first, months = np.datetime64(f"{year}-01", "M"), 12
    return first.astype("datetime64[D]"), (first + months).astype("datetime64[D]")


def _first_period() -> tuple[Forecast, tuple[str, float, float, float], np.ndarray]:
    """A small forecast, its first report period and that period's revenue per replication."""
    forecast = simsales.simulate(SCENARIOS / "minimal.yaml", replications=20, seed=3)
    assert forecast.model is not None
    period = report_periods(forecast.model)[0]
    return forecast, period, period_revenue(forecast, period[1], period[2])


def test_a_table_changed_after_a_first_sum_is_summed_afresh() -> None:
    # the decision days are computed once per deals table: writing into the table (a user's
    # what-if on a result) must not leave the old days in use
    forecast, (label, t0, t1, _), before = _first_period()
    won = forecast.deals.index[(forecast.deals["outcome"] == "won").to_numpy()]
    assert before.sum() > 0 and len(won) > 0, label
    forecast.deals.loc[won, "decision_t"] = t1 + 1.0  # every win after the period
    assert period_revenue(forecast, t0, t1).sum() == 0.0
    forecast.deals["decision_t"] = max(t0, 0.0) + 1.0  # a new column: every win inside
    assert period_revenue(forecast, t0, t1).sum() == forecast.deals["revenue"].sum()


def test_decided_counts_and_marks_the_days_inside_each_period() -> None:
    """records.Decided: the rows inside [t0, t1) by bisection of the sorted days, boundaries
    and open rows (NaN) included, as the direct comparison marks them."""
    from simsales.results.records import Decided

    rng = np.random.default_rng(5)
    days = rng.integers(0, 40, 300).astype(np.float64)
    days[rng.random(300) < 0.2] = np.nan  # still open
    decided = Decided(days)
    for t0, t1 in [(0, 10), (10, 10), (12, 5), (39, 40), (40, 90), (-5, 0), (3.5, 17.0)]:
        with np.errstate(invalid="ignore"):
            want = (days >= t0) & (days < t1)
        assert decided.count(t0, t1) == int(want.sum())
        assert decided.between(t0, t1).tolist() == want.tolist()


def test_the_kept_period_sums_follow_the_table_and_stay_the_callers_own() -> None:
    # each period's sums are kept with the won rows (the roll-ups ask again): a caller writing
    # into its array, or into the revenue or outcome columns, must not change the next answer
    forecast, (_, t0, t1, _), before = _first_period()
    assert before.sum() > 0
    want = before.copy()
    before[:] = -1.0
    assert np.array_equal(period_revenue(forecast, t0, t1), want)
    forecast.deals.loc[:, "revenue"] = forecast.deals["revenue"] * 2.0
    assert np.array_equal(period_revenue(forecast, t0, t1), 2.0 * want)
    forecast.deals["outcome"] = "lost"  # a new column: nothing is won
    assert period_revenue(forecast, t0, t1).sum() == 0.0


def test_the_won_rows_are_found_again_for_another_model() -> None:
    # the decision days come from the model's calendar: another model, another finding
    import dataclasses

    from simsales.results.records import won_rows

    forecast, (_, t0, t1, _), before = _first_period()
    assert forecast.model is not None
    first = won_rows(forecast)
    assert won_rows(forecast) is first
    forecast.model = dataclasses.replace(forecast.model)
    assert won_rows(forecast) is not first
    assert np.array_equal(period_revenue(forecast, t0, t1), before)
