"""Demand measured from a forecast, against what the scenario implies analytically."""

from __future__ import annotations

import math

import pytest

from simsales import load_dict
from simsales.optimize.demand import demand_from_forecast, forecast_demand
from simsales.optimize.mitigation import mitigation_options

N = 400

# Plain days: January 31, February 28, March 31 days; model time 0 = Jan 1.
SCENARIO = {
    "name": "demand truth",
    "start": "2027-01-01",
    "horizon": "2027-03-31",
    "calendar": {"continuous": True},
    "resources": {"x": {"capacity": 2}, "y": {"capacity": 1}},
    "stages": [
        {"id": "a", "duration": {"fixed": 10}, "needs": {"x": 2}, "advance": 0.5},
        {"id": "b", "duration": {"fixed": 40}, "needs": {"y": 1}, "cost": 100},
    ],
    "deal_types": {"t": {"value": {"fixed": 1000}, "margin": 0.4}},
    "pipeline": [
        {"id": "D1", "type": "t", "stage": "a"},
        {"id": "D2", "type": "t", "stage": "b", "days_in_stage": 30, "value": 2000},
    ],
    "arrivals": [{"type": "t", "per_month": 2, "window": ["2027-02-01", "2027-02-28"]}],
}


@pytest.fixture(scope="module")
def measured():  # type: ignore[no-untyped-def]
    scenario = load_dict(SCENARIO)
    return demand_from_forecast(forecast_demand(scenario, N, seed=7), periods=("2027Q1", "2027-01"))


def test_live_deal_effort(measured) -> None:  # type: ignore[no-untyped-def]
    x, y = measured.pools.index("x"), measured.pools.index("y")
    d1, d2 = measured.deals.index("D1"), measured.deals.index("D2")
    e = measured.effort
    # D1: two x-people for days 0-10, for sure.
    assert e[d1, x] == pytest.approx([20.0, 0.0, 0.0])
    # D1 reaches b with probability 1/2 and then holds one y from day 10 to 50.
    se = 0.5 / math.sqrt(N)  # standard error of the share that advances
    assert e[d1, y, 0] == pytest.approx(0.5 * 21, abs=4 * 21 * se)
    assert e[d1, y, 1] == pytest.approx(0.5 * 19, abs=4 * 19 * se)
    assert e[d1, y, 0] / 21 == pytest.approx(e[d1, y, 1] / 19)  # the same replications
    # D2 has 10 of its 40 days left (conditioned on the 30 spent), then it is won.
    assert e[d2, y] == pytest.approx([10.0, 0.0, 0.0])
    assert e[d2, x].sum() == 0.0


def test_value_and_revenue(measured) -> None:  # type: ignore[no-untyped-def]
    d1, d2 = measured.deals.index("D1"), measured.deals.index("D2")
    p = measured.win_probability[d1]
    assert p == pytest.approx(0.5, abs=4 * 0.5 / math.sqrt(N))
    # gross margin 40% of 1000 when won, minus the stage-b cost (paid once b completes)
    assert measured.value[d1] == pytest.approx(p * (0.4 * 1000 - 100))
    assert measured.value[d2] == pytest.approx(0.4 * 2000 - 100)
    assert measured.revenue_in["2027Q1"][d1] == pytest.approx(p * 1000)
    assert measured.revenue_in["2027-01"][d1] == 0.0  # won on day 50, in February
    assert measured.revenue_in["2027-01"][d2] == pytest.approx(2000.0)


def test_arrivals_are_background(measured) -> None:  # type: ignore[no-untyped-def]
    x = measured.pools.index("x")
    assert measured.background[:, 0].sum() == 0.0  # nothing arrives in January
    # Poisson(2) arrivals in February, each holding two x-people for 10 days (within March).
    se = 20 * math.sqrt(2 / N)
    assert measured.background[x].sum() == pytest.approx(40.0, abs=4 * se)
    assert measured.grid.labels == ("2027-01", "2027-02", "2027-03")
    assert list(measured.grid.days) == [31.0, 28.0, 31.0]


def test_mitigation_value_is_paired() -> None:
    data = {
        **SCENARIO,
        "arrivals": [],
        "risks": [
            {
                "id": "freeze",
                "scope": "global",
                "p": 1.0,
                "impact": {"win_factor": 0.5},
                "mitigation": {"cost": 300, "impact": {"win_factor": 1.0}},
            }
        ],
    }
    scenario = load_dict(data)
    base = forecast_demand(scenario, N, seed=3)
    [option] = mitigation_options(scenario, base, N, 3)
    assert option.risk == "freeze" and not option.funded_now
    assert option.cost == pytest.approx(300.0)  # a global mitigation is paid once per run
    # D2 in stage b: the freeze at a uniform time in the horizon halves its chance to win
    # only if it strikes before D2's decision on day 10, i.e. with probability 10/90.
    # D1 is decided on day 10 (lost) or day 50 (b ends): hit if the freeze comes first.
    expected = 0.4 * (2000 * 0.5 * 10 / 90 + 1000 * 0.5 * 0.5 * 50 / 90)
    se = (option.benefit_high - option.benefit_low) / (2 * 1.96)
    assert 0 < se < 0.3 * expected  # paired: a sharp estimate
    assert option.benefit == pytest.approx(expected, abs=4 * se)
