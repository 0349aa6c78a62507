"""Forecast categories and roll-ups against analytic truth.

Five live deals worth 100k, each in one stage of fixed length with no people (continuous
calendar, Q1 = days [0, 90)): A, B, C, D take 10 days and win with p 0.9, 0.6, 0.2, 0.05; E
takes 120 days (decided in Q2) and wins with p 0.9. So P(win in Q1) is 0.9, 0.6, 0.2, 0.05, 0:
commit, best case, pipeline, omitted, omitted. A and B belong to Ann (team East), C and D to Bo
(team West); E has no owner. Tolerances: K standard errors.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simsales
from simsales.api import simulate
from simsales.errors import ScenarioError, SimsalesError
from simsales.results.categories import forecast_categories
from simsales.results.forecast import Forecast
from simsales.results.rollups import portfolio_views, rollup
from simsales.results.summary import summarize
from simsales.scenario.schema import Scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

K = 4.5
V, REPS, TARGET = 1e5, 400, 3e5
P = {"A": 0.9, "B": 0.6, "C": 0.2, "D": 0.05, "E": 0.9}


def _data() -> dict:
    deals = []
    for deal in P:
        owner = {"A": "Ann", "B": "Ann", "C": "Bo", "D": "Bo"}.get(deal)
        team = {"Ann": "East", "Bo": "West"}.get(owner or "")
        deal_data = {"id": deal, "type": f"t{deal}", "stage": "s", "value": V}
        if owner:
            deal_data |= {"owner": owner, "team": team}
        deals.append(deal_data)
    deals[0] |= {"probability": 0.5, "forecast_category": "best_case", "target_close": "2027-01-05"}
    deals[1] |= {"forecast_category": "best_case", "target_close": "2027-02-01"}
    return {
        "name": "categories",
        "start": "2027-01-01",
        "horizon": "2027-12-31",
        "calendar": {"continuous": True},
        "stages": [{"id": "s", "duration": {"fixed": 10}}],
        "deal_types": {
            f"t{deal}": {
                "stages": {"s": {"advance": p, "duration": {"fixed": 120 if deal == "E" else 10}}}
            }
            for deal, p in P.items()
        },
        "pipeline": deals,
        "targets": {
            "revenue": {"2027Q1": TARGET},
            "owners": {"Ann": {"2027Q1": 2 * V}},
            "teams": {"West": {"2027Q1": V}},
        },
    }


@pytest.fixture(scope="module")
def run() -> tuple[Scenario, Forecast]:
    scenario = simsales.load_dict(_data())
    return scenario, simulate(scenario, REPS, 11, precision=None, progress=False)


def _close(estimate: float, truth: float, sd: float) -> None:
    assert abs(estimate - truth) <= K * sd / math.sqrt(REPS), (estimate, truth)


def test_deals_fall_into_the_categories_their_odds_say(run: tuple[Scenario, Forecast]) -> None:
    scenario, forecast = run
    c = forecast_categories(forecast, "2027Q1", scenario)
    deals = c.deals.set_index("deal")
    assert list(deals["category"]) == ["commit", "best_case", "pipeline", "omitted", "omitted"]
    for deal, p in P.items():
        truth = 0.0 if deal == "E" else p
        _close(deals.loc[deal, "win_in_period"], truth, math.sqrt(p * (1 - p)))
    # the rep's own call beside the simulated one: A is called best case but is commit
    assert deals.loc["A", "rep_category"] == "best_case" and deals.loc["A", "disagrees"]
    assert deals.loc["B", "rep_category"] == "best_case" and not deals.loc["B", "disagrees"]
    assert deals.loc["A", "rep_probability"] == 0.5
    # A is decided on day 10 (Jan 10) in every future: after the rep's Jan 5, before B's Feb 1
    assert deals.loc["A", "slip_probability"] == 1.0
    assert deals.loc["B", "slip_probability"] == 0.0
    assert math.isnan(deals.loc["C", "slip_probability"])  # no close date given
    assert c.coverage == pytest.approx(5 * V / TARGET)


def test_category_rollup_cumulates_to_the_period_revenue(run: tuple[Scenario, Forecast]) -> None:
    scenario, forecast = run
    r = forecast_categories(forecast, "2027Q1", scenario).rollup.set_index("category")
    _close(r.loc["commit", "mean"], 0.9 * V, V * math.sqrt(0.09))
    _close(r.loc["best_case", "cumulative_mean"], 1.5 * V, V * math.sqrt(0.09 + 0.24))
    period = summarize(forecast).periods.set_index("period").loc["2027Q1", "mean"]
    assert r["cumulative_mean"].iloc[-1] == pytest.approx(period, rel=1e-12)
    assert r.loc["omitted", "deals"] == 2


def test_rollups_by_owner_and_team_with_quota_probabilities(
    run: tuple[Scenario, Forecast],
) -> None:
    scenario, forecast = run
    owners = rollup(forecast, "owner", scenario, ["2027Q1"]).set_index("group")
    _close(owners.loc["Ann", "revenue"], 1.5 * V, V * math.sqrt(0.09 + 0.24))
    _close(owners.loc["Ann", "wins"], 1.5, math.sqrt(0.09 + 0.24))
    # Ann's quota of 200k needs both A and B
    _close(owners.loc["Ann", "quota_probability"], 0.9 * 0.6, math.sqrt(0.54 * 0.46))
    assert math.isnan(owners.loc["Bo", "quota"])
    assert owners.loc["(unassigned)", "deals"] == 1  # E, no owner
    teams = rollup(forecast, "team", scenario, ["2027Q1"]).set_index("group")
    p_west = 1 - 0.8 * 0.95  # West's 100k quota: C or D wins
    _close(teams.loc["West", "quota_probability"], p_west, math.sqrt(p_west * (1 - p_west)))
    views = portfolio_views(forecast, scenario)
    assert set(views["by"]) == {"owner", "team", "type", "region"}
    assert views["categories"][0]["period"] == "2027Q1"


def test_a_one_group_rollup_is_the_portfolio_and_its_sums_are_shared(
    run: tuple[Scenario, Forecast],
) -> None:
    # no deal has a region or a customer: one group, whose sums (worked out once for every
    # such attribute) must be the portfolio's own per period, to the last bit, whichever
    # periods the roll-ups sharing them ask for
    from simsales.results.stats import mean_interval
    from simsales.results.summary import period_revenue

    scenario, forecast = run
    t0, t1 = forecast.model.calendar.period_bounds("2027Q2")  # type: ignore[union-attr]
    want = mean_interval(period_revenue(forecast, t0, t1))
    won = (forecast.deals["outcome"] == "won").to_numpy()
    wins = mean_interval(np.bincount(forecast.deals["replication"].to_numpy()[won], minlength=REPS))
    shared: dict = {}
    first = rollup(forecast, "region", scenario, ["2027Q2"], revenue_in=shared)
    again = rollup(forecast, "customer", scenario, revenue_in=shared)
    for table in (first, again, rollup(forecast, "region", scenario)):
        row = table.set_index("period").loc["2027Q2"]
        assert row["group"] == "(unassigned)" and row["deals"] == len(P)
        assert (row["revenue"], row["revenue_low"], row["revenue_high"]) == want
        assert (row["wins"], row["wins_low"], row["wins_high"]) == wins
    alone = rollup(forecast, "customer", scenario).drop(columns="group")
    pd.testing.assert_frame_equal(again.drop(columns="group"), alone, check_exact=True)


def test_the_forecast_gives_categories_rollups_and_s_curves_itself(
    run: tuple[Scenario, Forecast],
) -> None:
    _, forecast = run  # the public entry points: the scenario comes from the provenance
    call = forecast.categories("2027Q1").deals.set_index("deal")
    assert list(call["category"]) == ["commit", "best_case", "pipeline", "omitted", "omitted"]
    _close(call.loc["A", "win_in_period"], 0.9, math.sqrt(0.9 * 0.1))
    owners = forecast.rollup("owner", periods=["2027Q1"]).set_index("group")
    _close(owners.loc["Ann", "quota_probability"], 0.9 * 0.6, math.sqrt(0.54 * 0.46))
    curves = forecast.s_curves(["E"]).set_index("date")
    assert set(forecast.s_curves(["E"])["deal"]) == {"E"}
    decided = curves["decided"]  # E is decided on day 120 (2027-05-01) in every replication
    assert decided[decided.index < date(2027, 4, 26)].max() == 0.0
    assert decided[decided.index > date(2027, 5, 8)].min() == 1.0
    _close(curves["won"].iloc[-1], 0.9, math.sqrt(0.9 * 0.1))
    with pytest.raises(SimsalesError, match=r"no live deal 'F'; known: 'A'"):
        forecast.s_curves(["F"])
    with pytest.raises(SimsalesError, match="did you mean 'owner'"):
        forecast.rollup("ownr")


def test_quota_names_are_checked_with_did_you_mean() -> None:
    data = _data()
    data["targets"]["owners"] = {"Anne": {"2027Q1": V}}
    with pytest.raises(ScenarioError, match="no deal in the pipeline has owner 'Anne'") as info:
        simsales.load_dict(data)
    assert "did you mean 'Ann'?" in str(info.value)


def test_category_thresholds_must_be_ordered() -> None:
    data = _data() | {"forecast_categories": {"commit": 0.4, "best_case": 0.5}}
    with pytest.raises(ScenarioError, match=r"commit .* >= best_case"):
        simsales.load_dict(data)


@pytest.mark.parametrize("grouped", [False, True])
def test_sums_of_all_zero_values_are_the_zeros_grouping_gives(grouped: bool) -> None:
    # by_replication_many skips the grouping of a value that is zero on every row (not the
    # first value, which it always groups): its table must be exactly what grouping gives
    from simsales.results.deal_view import by_replication_many

    forecast = simulate(SCENARIOS / "enterprise-it.yaml", replications=12, seed=5)
    d = forecast.deals
    groups = d["deal"].astype(str).to_numpy() if grouped else None
    zeros = np.zeros(len(d))
    values = {"won": (d["outcome"] == "won").to_numpy(float), "none": zeros,
              "revenue": d["revenue"].to_numpy(), "also none": zeros}  # fmt: skip
    fast = by_replication_many(forecast, values, groups)
    assert list(fast) == list(values)
    for name, v in values.items():
        grouped_alone = by_replication_many(forecast, {name: v}, groups)[name]
        pd.testing.assert_frame_equal(fast[name], grouped_alone, check_exact=True)
    assert fast["none"].shape == fast["won"].shape


def test_grouping_by_attribute_codes_sums_exactly_as_by_the_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # roll-ups group by integer codes of the attribute; the sums must be the ones grouping by
    # the names gives, to the last bit (the codes follow the names' sorted order); the groups
    # worked out per deal (or type) and spread to the rows are those of every row's group, and
    # so is every roll-up frame
    import simsales.results.rollups as rollups
    from simsales.results.deal_view import (
        ATTRIBUTES,
        attribute_codes,
        by_replication_many,
        deal_attributes,
        factorized_groups,
        factorized_values,
        row_attribute,
        row_attribute_codes,
        scenario_of,
    )

    forecast = simulate(SCENARIOS / "enterprise-it.yaml", replications=15, seed=2)
    attrs = deal_attributes(scenario_of(forecast))
    values = {"revenue": forecast.deals["revenue"].to_numpy()}
    won = np.flatnonzero((forecast.deals["outcome"] == "won").to_numpy())
    by_values = {}
    for by in ATTRIBUTES:
        codes, names = row_attribute_codes(forecast, attrs, by)
        assert list(names) == sorted(set(names))
        assert (names[codes] == row_attribute(forecast, attrs, by)).all()
        by_code = by_replication_many(forecast, values, codes)["revenue"]
        by_name = by_replication_many(forecast, values, names[codes])["revenue"]
        by_code.columns = names[by_code.columns.to_numpy()]
        assert np.array_equal(by_code.to_numpy(), by_name.to_numpy()), by
        assert list(by_code.columns) == list(by_name.columns)
        per_value, value_codes, _ = attribute_codes(forecast, attrs, by)
        assert np.array_equal(per_value[value_codes], codes)
        if by != "stage":
            for rows in (None, won):
                got = factorized_values(per_value, value_codes, rows)
                assert got is not None
                want = factorized_groups(codes, rows)
                assert np.array_equal(got[0], want[0]) and got[1].equals(want[1]), by
        by_values[by] = rollup(forecast, by)
    monkeypatch.setattr(rollups, "factorized_values", lambda *args: None)
    for by in ATTRIBUTES:
        pd.testing.assert_frame_equal(by_values[by], rollup(forecast, by), check_exact=True)


def test_sums_by_replication_agree_with_pandas_grouped_sums() -> None:
    # the sums are np.bincount's running sums; pandas' grouped sums (compensated) are the
    # oracle: the same groups and replications, equal to rounding; NaN counts as 0 in both
    from simsales.results.deal_view import by_replication_many

    forecast = simulate(SCENARIOS / "enterprise-it.yaml", replications=20, seed=4)
    d = forecast.deals
    groups = d["deal"].astype(str).to_numpy()
    revenue = d["revenue"].to_numpy().copy()
    revenue[::7] = np.nan
    got = by_replication_many(forecast, {"revenue": revenue}, groups)["revenue"]
    want = (
        pd.DataFrame({"v": revenue})
        .groupby([d["replication"].to_numpy(), groups])["v"]
        .sum()
        .unstack(fill_value=0.0)
        .reindex(range(forecast.replications), fill_value=0.0)
    )
    assert list(got.columns) == list(want.columns)
    assert list(got.index) == list(want.index)
    scale = np.nanmax(np.abs(revenue))
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12, atol=1e-12 * scale)
    assert not np.isnan(got.to_numpy()).any()
