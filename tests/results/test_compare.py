"""What-if comparisons with common random numbers: exact zeros where nothing changes, paired
intervals checked against an independent computation from the raw per-replication tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import simsales
from simsales.api import compare
from simsales.errors import ScenarioError, SimsalesError
from simsales.results.compare import DELTA_COLUMNS, Comparison
from simsales.results.summary import summarize

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
DEFAULT = SCENARIOS / "enterprise-it.yaml"
SEED = 11


@pytest.fixture(scope="module")
def default() -> simsales.Scenario:
    return simsales.load(DEFAULT)


@pytest.fixture(scope="module")
def same(default: simsales.Scenario) -> Comparison:
    """The default scenario against an empty overlay, and against a new pool that signing also
    needs but that is never short (a new pool must be used: an unused one is refused)."""
    spare = {
        "resources": {"spare": {"capacity": 1000, "cost_per_day": 0}},
        "stages": {"signing": {"needs": {"spare": 1}}},
    }
    return compare(default, {"same": {}, "spare_pool": spare}, replications=40, seed=SEED)


@pytest.fixture(scope="module")
def legal(default: simsales.Scenario) -> Comparison:
    return compare(default, ["faster_legal", "hire_presales"], replications=120, seed=SEED)


def _revenue_by_replication(forecast: simsales.Forecast) -> np.ndarray:
    by_rep = forecast.deals.groupby("replication")["revenue"].sum()
    return by_rep.reindex(range(forecast.replications), fill_value=0.0).to_numpy()


# --- exact zeros --------------------------------------------------------------------------


def test_identical_variant_differs_by_exactly_zero_on_every_metric(same: Comparison) -> None:
    d = same.deltas[same.deltas["name"] == "same"]
    kinds = {m.split(":")[0] for m in d["metric"]}
    assert {
        "revenue",
        "target_probability",
        "won_deals",
        "cost",
        "margin",
        "p80_close",
        "utilization",
        "mean_wait_days",
    } <= kinds
    assert len(d) > 40  # every period, target, live deal and pool
    for row in d.itertuples():
        assert row.difference == 0.0, row
        assert row.ci_low == 0.0 and row.ci_high == 0.0, row
        assert row.half_width == 0.0, row
        assert not row.significant, row
        assert row.base == row.variant, row  # also two "after the horizon" (inf)
    # the unpaired comparison is not zero: two independent runs would disagree
    assert (d["unpaired_half_width"] > 0).any()
    variant_json = same.to_json()["variants"][0]
    assert all(x["difference"] == 0 for x in variant_json["deltas"])


def test_capacity_nobody_runs_short_of_changes_no_figure(same: Comparison) -> None:
    d = same.deltas[same.deltas["name"] == "spare_pool"]
    assert not d["metric"].str.endswith(":spare").any()  # not in the base: not compared
    assert len(d) == (same.deltas["name"] == "same").sum()
    assert (d["difference"] == 0).all() and (d["ci_low"] == 0).all() and (d["ci_high"] == 0).all()


def _pool_scenario(legal_capacity: int) -> simsales.Scenario:
    """Sales is scarce; legal only signs, alone, and has room to spare."""
    return simsales.load_dict(
        {
            "name": "quiet legal",
            "start": "2027-01-01",
            "horizon": "2027-12-31",
            "calendar": {"continuous": True},
            "resources": {
                "sales": {"capacity": 2, "cost_per_day": 100},
                "legal": {"capacity": legal_capacity, "cost_per_day": 300},
            },
            "stages": [
                {
                    "id": "pitch",
                    "duration": {"triangular": [5, 15, 40]},
                    "needs": {"sales": 1},
                    "advance": 0.6,
                    "rework": {"to": "pitch", "p": 0.2},
                },
                {
                    "id": "sign",
                    "duration": {"uniform": [1, 4]},
                    "needs": {"legal": 1},
                    "advance": 0.9,
                },
            ],
            "deal_types": {"t": {"value": {"lognormal": {"p50": 1e5, "p90": 4e5}}}},
            "pipeline": [{"id": f"D{i:02d}", "type": "t", "stage": "pitch"} for i in range(12)],
            "arrivals": [{"type": "t", "per_month": 1.0}],
            "risks": [
                {
                    "id": "slip",
                    "scope": "deal",
                    "p": 0.3,
                    "during": ["pitch"],
                    "impact": {"delay": {"uniform": [5, 30]}},
                }
            ],
            "targets": {"revenue": {"2027H1": 5e5, "2027": 9e5}},
        }
    )


def test_raising_a_pool_that_never_waits_changes_no_revenue() -> None:
    base = _pool_scenario(legal_capacity=6)
    variant = _pool_scenario(legal_capacity=9)
    c = compare(base, {"more_legal": variant}, replications=60, seed=SEED)
    # the premise, from the base's raw records: nobody ever waited for legal, and sales waits
    pools = c.base.pools.groupby("pool", observed=True)["wait_days"].sum()
    assert pools["legal"] == 0.0 and pools["sales"] > 0
    signing = c.base.visits[c.base.visits["stage"] == "sign"]
    assert len(signing) > 0 and (signing["start_t"] == signing["ready_t"]).all()
    d = c.deltas.set_index("metric")
    money = [m for m in d.index if m.startswith(("revenue", "target_probability"))]
    assert len(money) >= 6
    assert (d.loc[money, "difference"] == 0).all()
    assert (d.loc[money, ["ci_low", "ci_high"]] == 0).all().all()
    assert d.loc["won_deals", "difference"] == 0 and d.loc["margin", "difference"] == 0
    # ... while the change is real: legal's utilization drops
    assert d.loc["utilization:legal", "difference"] < 0
    assert d.loc["utilization:legal", "significant"]


# --- paired against unpaired, computed independently ----------------------------------------


@pytest.mark.parametrize("variant", ["faster_legal", "hire_presales"])
def test_paired_interval_is_narrower_and_matches_the_raw_tables(
    legal: Comparison, variant: str
) -> None:
    a = _revenue_by_replication(legal.base)
    b = _revenue_by_replication(legal.variants[variant])
    n = len(a)
    assert n == 120 == legal.replications
    d = b - a
    paired = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
    unpaired = stats.norm.ppf(0.975) * math.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n)
    assert paired < unpaired
    # scipy's paired t interval is a third, independent computation of the same interval
    ci = stats.ttest_rel(b, a).confidence_interval(0.95)
    row = legal.deltas[(legal.deltas["name"] == variant) & (legal.deltas["metric"] == "revenue")]
    r = row.iloc[0]
    assert r["base"] == pytest.approx(a.mean(), rel=1e-12)
    assert r["variant"] == pytest.approx(b.mean(), rel=1e-12)
    assert r["difference"] == pytest.approx(d.mean(), rel=1e-9, abs=1e-6)
    assert r["half_width"] == pytest.approx(paired, rel=1e-9)
    assert r["unpaired_half_width"] == pytest.approx(unpaired, rel=1e-9)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert r["significant"] == (ci.low > 0 or ci.high < 0)


def test_target_probability_is_the_paired_difference_of_indicators(legal: Comparison) -> None:
    model = legal.base.model
    assert model is not None
    label, t0, t1, target = next(t for t in model.targets if t[0] == "2027Q1")

    def hits(f: simsales.Forecast) -> np.ndarray:
        d = f.deals
        won = (d["outcome"] == "won") & (d["decision_t"] >= t0) & (d["decision_t"] < t1)
        by_rep = d["revenue"].where(won, 0.0).groupby(d["replication"]).sum()
        return (by_rep.reindex(range(f.replications), fill_value=0) >= target).to_numpy(float)

    a, b = hits(legal.base), hits(legal.variants["faster_legal"])
    ci = stats.ttest_rel(b, a).confidence_interval(0.95)
    r = legal.deltas.set_index(["name", "metric"]).loc[
        ("faster_legal", f"target_probability:{label}")
    ]
    assert (r["base"], r["variant"]) == pytest.approx((a.mean(), b.mean()))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_p80_dates_match_the_summary(legal: Comparison) -> None:
    """Each live deal's base P80 close date is the summary's close_p80."""
    s = summarize(legal.base).deals.set_index("deal")
    d = legal.deltas[legal.deltas["name"] == "faster_legal"].set_index("metric")
    for deal, p80 in s["close_p80"].items():
        assert legal.as_date(d.loc[f"p80_close:{deal}", "base"]) == (
            p80.isoformat() if p80 is not None else None
        )


def test_mean_wait_matches_the_summary(legal: Comparison) -> None:
    s = summarize(legal.base).resources.set_index("pool")
    d = legal.deltas[legal.deltas["name"] == "hire_presales"].set_index("metric")
    for pool, wait in s["mean_wait_days"].items():
        assert d.loc[f"mean_wait_days:{pool}", "base"] == pytest.approx(wait, rel=1e-12)


def test_common_random_numbers_same_deal_same_luck(legal: Comparison) -> None:
    """More presales changes timing, not luck: each deal keeps its value and stage durations."""

    def first_visits(f: simsales.Forecast) -> pd.Series:
        v = f.visits[(f.visits["visit"] == 0) & f.visits["exit_t"].notna()]
        return (v["exit_t"] - v["start_t"]).set_axis(
            pd.MultiIndex.from_frame(v[["replication", "deal", "stage"]].astype(str))
        )

    a, b = first_visits(legal.base), first_visits(legal.variants["hire_presales"])
    joined = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner")
    assert len(joined) > 0.8 * len(a)
    np.testing.assert_allclose(joined["a"], joined["b"], rtol=1e-12)
    values = [
        f.deals.set_index(["replication", "deal"])["value"]
        for f in (legal.base, legal.variants["hire_presales"])
    ]
    both = pd.concat(values, axis=1, join="inner")
    # value factors (price war) depend on when a deal is in negotiation, so a few may differ
    assert np.isclose(both.iloc[:, 0], both.iloc[:, 1]).mean() > 0.99


# --- the contract ---------------------------------------------------------------------------


def test_json_contract(same: Comparison) -> None:
    out = same.to_json()
    text = json.dumps(out, allow_nan=False)  # no NaN or Infinity leaks into the JSON
    assert set(json.loads(text)) == {"schema_version", "base", "variants"}
    assert out["base"] == summarize(same.base).to_json()
    assert [v["name"] for v in out["variants"]] == ["same", "spare_pool"]
    for v in out["variants"]:
        assert set(v) == {"name", "summary", "deltas"}
        assert set(v["summary"]) == set(out["base"])
        for d in v["deltas"]:
            assert set(d) == {
                "metric",
                "base",
                "variant",
                "difference",
                "ci_low",
                "ci_high",
                "significant",
            }
            assert isinstance(d["significant"], bool)
    dates = [d for d in out["variants"][0]["deltas"] if d["metric"].startswith("p80_close:")]
    assert dates and all(d["base"] is None or len(d["base"]) == 10 for d in dates)
    assert list(same.deltas.columns) == DELTA_COLUMNS


def test_repr_html_escapes_names() -> None:
    s = simsales.load_dict(
        {
            "name": "<script>alert('x')</script>",
            "start": "2027-01-01",
            "horizon": "2027-06-30",
            "stages": [{"id": "a", "duration": {"fixed": 3}, "advance": 0.5}],
            "deal_types": {"t": {"value": {"fixed": 1}}},
            "pipeline": [{"id": "D1", "type": "t", "stage": "a"}],
        }
    )
    c = compare(s, {"<b>bold</b>": {}}, replications=5, seed=1)
    text = c._repr_html_()
    assert "<script>alert" not in text and "<b>bold" not in text
    assert "&lt;b&gt;bold" in text


# --- variants ----------------------------------------------------------------------------------


def test_unknown_variant_names_the_nearest(default: simsales.Scenario) -> None:
    with pytest.raises(ScenarioError, match=r"unknown variant 'hire_presale'.*hire_presales"):
        compare(default, ["hire_presale"], replications=2)


def test_no_variants_to_compare() -> None:
    with pytest.raises(SimsalesError, match="defines no variants"):
        compare(SCENARIOS / "minimal.yaml", replications=2)


def test_overlay_errors_name_the_variant(default: simsales.Scenario) -> None:
    with pytest.raises(ScenarioError, match=r"variant big_team.*capacity"):
        compare(default, {"big_team": {"resources": {"sales": {"capacity": -3}}}}, replications=2)


def test_variants_default_to_all_and_share_seed_and_replications(
    default: simsales.Scenario,
) -> None:
    c = compare(default, replications=3, seed=5)
    assert list(c.variants) == list(default.variants)
    for f in (c.base, *c.variants.values()):
        assert f.replications == 3 and f.provenance["seed"] == 5
