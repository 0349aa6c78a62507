"""Backtests: scoring rules, no look-ahead, calibrated coverage on histories from a known
scenario, and the CLI's JSON and HTML outputs."""

from __future__ import annotations

import json
import math
import re
from datetime import date
from pathlib import Path

import jsonschema
import numpy as np
import openpyxl
import pandas as pd
import pytest
from calib_helpers import write_history
from rich.console import Console
from scipy import stats
from typer.testing import CliRunner

from simsales.calibrate.backtest import (
    _mean_by_deal,
    backtest,
    default_windows,
    parse_span,
    rolling_windows,
    window_truth,
)
from simsales.calibrate.baseline import crm_baselines, trailing_rate
from simsales.calibrate.calibrate import calibrate
from simsales.calibrate.history import History
from simsales.calibrate.importer import read_history
from simsales.calibrate.quality import DataReport
from simsales.calibrate.scores import brier, crps, inside80, interval80, pit, pit_histogram
from simsales.commands.calibrate import window_end
from simsales.commands.schema import output_json_schema
from simsales.errors import SimsalesError
from simsales.i18n import translator


def test_pit_counts_ties_half_and_interval_is_inclusive() -> None:
    sample = [1, 2, 2, 3, 4, 5, 6, 7, 8, 9]
    assert pit(sample, 2) == pytest.approx((1 + 0.5 * 2) / 10)
    assert pit(sample, 0) == 0.0 and pit(sample, 10) == 1.0
    assert interval80(sample) == (1.0, 8.0)  # inverted CDF: 10% -> 1st value, 90% -> 9th
    assert inside80(sample, 8) and not inside80(sample, 8.5)
    assert brier([1.0, 0.0, 0.5], [1, 0, 1]) == pytest.approx(0.25 / 3)


def test_fair_brier_of_member_shares_is_unbiased_for_the_true_probabilities() -> None:
    # p true per deal, its estimate the share of m members (Binomial(m, p) / m), y ~ Bernoulli(p):
    # E[(p - y)^2] = p (1 - p); the raw score of the shares is higher by p (1 - p) / m on average,
    # the fair one is not. Tolerances: 4 standard errors of the mean over the deals.
    rng = np.random.default_rng(11)
    n, m = 200_000, 20
    p = rng.uniform(0.05, 0.95, n)
    share = rng.binomial(m, p) / m
    y = (rng.uniform(size=n) < p).astype(float)
    truth = float(np.mean(p * (1 - p)))
    fair_terms = (share - y) ** 2 - share * (1 - share) / (m - 1)
    se = float(np.std(fair_terms, ddof=1)) / math.sqrt(n)
    assert brier(share, y, members=m) == pytest.approx(truth, abs=4 * se)
    raw = brier(share, y)
    assert raw - truth > 8 * se  # what the noise adds: about E[p (1 - p)] / m
    assert raw - truth == pytest.approx(truth / m, abs=4 * se)
    assert brier(share, y, members=1) == raw  # one member: nothing to take out


def test_pit_of_a_draw_from_the_forecast_itself_is_uniform() -> None:
    rng = np.random.default_rng(0)
    pits = [pit(rng.poisson(20, 200), rng.poisson(20)) for _ in range(400)]
    assert stats.kstest(pits, "uniform").pvalue > 0.001


@pytest.mark.parametrize(
    "deal",
    [
        pd.Series(["b", "a", "c", "a", "b", "a"], dtype="category"),
        pd.Categorical(["b", "a", "c", "a", "b", "a"], categories=["z", "c", "b", "a"]),
        pd.Categorical([3, 1, 2, 1, 3, 1]),  # integer ids: grouped by their strings
        pd.Series(["b", "a", "c", "a", "b", "a"]),  # not categorical: the strings themselves
    ],
)
def test_per_deal_win_share_by_codes_equals_by_strings(deal: object) -> None:
    """Grouping the won flags by the deal's category codes gives each id's share as grouping
    by its string did (unused categories and rows that are not live left out)."""
    deal = pd.Series(deal)
    won = pd.Series([True, False, True, True, False, False])
    live = np.array([True, True, True, True, True, False])
    by_codes = _mean_by_deal(deal, won, live)
    by_strings = won[live].groupby(deal.astype(str)[live]).mean()
    assert sorted(by_codes.index) == sorted(by_strings.index)
    assert by_codes.reindex(by_strings.index).tolist() == by_strings.tolist()
    assert by_strings.tolist() != [by_strings.iloc[0]] * len(by_strings)  # shares that differ


def test_window_end_keeps_whole_months() -> None:
    d = pd.Timestamp
    assert window_end(d("2017-04-30"), d("2017-06-30"), d("2017-06-30")) == d("2017-08-31").date()
    assert window_end(d("2017-04-15"), d("2017-05-15"), d("2017-06-01")) == d("2017-07-01").date()


def test_calibration_uses_only_what_was_known_at_as_of(tmp_path: Path) -> None:
    later = read_history(write_history(tmp_path / "later.csv", snapshot="2021-06-30", seed=3))
    then = read_history(write_history(tmp_path / "then.csv", snapshot="2021-03-31", seed=3))
    a = calibrate(later, "2021-03-31", horizon="2021-06-30")
    b = calibrate(then, "2021-03-31", horizon="2021-06-30")
    assert a.stages == b.stages
    assert [(g.name, g.advance, g.value, g.arrivals) for g in a.groups] == [
        (g.name, g.advance, g.value, g.arrivals) for g in b.groups
    ]
    days = sorted(d["days_in_stage"] for d in a.pipeline)
    assert days == sorted(d["days_in_stage"] for d in b.pipeline)


@pytest.mark.slow
def test_backtests_of_the_generating_scenario_have_calibrated_coverage(tmp_path: Path) -> None:
    """K independent histories of the known scenario, one origin each: the 80% intervals of the
    calibrated forecast must hold the truth about 80% of the time (binomial tolerance)."""
    k = 30
    scenario_changes = {
        "horizon": "2021-03-31",
        "arrivals": [{"type": "alpha", "per_month": 16}, {"type": "beta", "per_month": 10}],
    }
    inside = {"won": [], "revenue": []}  # type: ignore[var-annotated]
    base_inside = []
    briers = []
    for i in range(k):
        path = write_history(tmp_path / f"h{i}.csv", seed=1000 + i, **scenario_changes)
        h = read_history(path, exported="2021-03-31")
        r = backtest(h, [("2021-01-31", "2021-03-31")], replications=50, seed=i)
        o = r.origins[0]
        for metric in inside:
            inside[metric].append(o.inside("simsales", metric))
        base_inside.append(o.inside("stage_weighted", "won"))
        briers.append((r.brier("simsales"), r.brier("stage_weighted")))
    # Central 99% acceptance region of Binomial(k, 0.8): a calibrated forecast fails it 1% of
    # the time; intervals that ignore half the spread (coverage ~50%) fail it almost surely.
    lo, hi = stats.binom.ppf([0.005, 0.995], k, 0.8)
    for metric, hits in inside.items():
        assert lo <= sum(hits) <= hi, (metric, sum(hits), k)
    # The stage-weighted pipeline ignores new deals: it is far from calibrated here.
    assert sum(base_inside) < lo
    # Knowing when deals close beats a timing-blind probability on "won by until".
    sim, base = np.array(briers).T
    assert sim.mean() < base.mean()


JSON_SCORES = {"coverage_won", "coverage_revenue", "crps_won", "crps_revenue", "mae_won",
               "mae_revenue", "bias_won", "brier"}  # fmt: skip


def test_cli_backtest_json_and_offline_html(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_history(tmp_path / "h.csv", snapshot="2021-05-31", seed=5, horizon="2021-05-31")
    html = tmp_path / "bt.html"
    res = CliRunner().invoke(
        cli,
        ["backtest", str(path), "--as-of", "2021-02-28", "--until", "2021-03-31",
         "--origins", "2021-03-31,2021-04-30", "-n", "20", "--json", "-o", str(html),
         "--exported", "2021-05-31"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    jsonschema.validate(out, output_json_schema("backtest"))  # the contract, in full
    assert set(out) == {"schema_version", "origins", "scores", "skipped"}
    assert out["skipped"] == []
    assert [o["as_of"] for o in out["origins"]] == ["2021-02-28", "2021-03-31", "2021-04-30"]
    assert [o["until"] for o in out["origins"]] == ["2021-03-31", "2021-04-30", "2021-05-31"]
    # no CRM probability or forecast categories in this export: only the three forecasts
    assert set(out["scores"]) == {"simsales", "stage_weighted", "trailing_rate"}
    for name, s in out["scores"].items():
        assert set(s) == JSON_SCORES, name
        assert 0 <= s["coverage_won"] <= 1 and s["crps_won"] >= 0
    assert out["scores"]["trailing_rate"]["brier"] is None  # no per-deal view
    assert 0 <= out["scores"]["simsales"]["brier"] <= 1
    o = out["origins"][0]
    assert set(o) == {"as_of", "until", "actual", "forecasts"}
    assert set(o["actual"]) == {"won", "revenue"}
    for f in o["forecasts"].values():
        for metric in ("won", "revenue"):
            q = f[metric]
            assert set(q) == {"mean", "p10", "p50", "p90"}
            assert q["p10"] <= q["p50"] <= q["p90"]
    page = html.read_text(encoding="utf-8")
    assert "Plotly" in page and "<table>" in page and "trailing three-month rate" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from the web
    assert not list(tmp_path.glob(".*.tmp"))
    args = ["backtest", str(path), "--every", "month", "--from", "2021-03-31", "--to",
            "2021-04-30", "--window", "1M", "-n", "10", "--exported", "2021-05-31"]  # fmt: skip
    text = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    assert "80% range held" in text.output and "CRPS" in text.output and "PIT" in text.output


def test_cli_backtest_page_and_sheets_speak_the_locale(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_history(tmp_path / "h.csv", snapshot="2021-05-31", seed=5, horizon="2021-05-31")
    html, book = tmp_path / "bt.html", tmp_path / "bt.xlsx"
    args = ["backtest", str(path), "--as-of", "2021-03-31", "--until", "2021-04-30", "-n", "10",
            "--exported", "2021-05-31", "-o", str(html), "--xlsx", str(book)]  # fmt: skip
    res = CliRunner().invoke(cli, [*args, "--locale", "zh_CN"])  # any common spelling
    assert res.exit_code == 0, res.output
    page = html.read_text(encoding="utf-8")
    zh = translator("zh-CN")
    assert '<html lang="zh-CN"' in page
    assert zh("bt_title", source="h.csv") in page and zh("bt_trailing_rate") in page
    assert "trailing three-month rate" not in page  # the English label, in the default page
    # the terminal's tables too
    assert zh("bt_cli_title") in res.output and zh("bt_head_crps_won") in res.output
    assert "what happened" not in res.output
    assert openpyxl.load_workbook(book).sheetnames[:2] == ["回测窗口", "评分"]
    res = CliRunner().invoke(cli, [*args, "--locale", "fr"])
    assert res.exit_code == 2 and "unknown locale 'fr'" in res.output


def test_cli_backtest_refuses_windows_past_the_export(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_history(tmp_path / "h.csv", snapshot="2021-03-31", seed=5)
    res = CliRunner().invoke(
        cli, ["backtest", str(path), "--as-of", "2021-03-01", "--until", "2021-05-01"]
    )
    assert res.exit_code == 2 and "end after the export's last date 2021-03-31" in res.output
    # every window is checked before the first is computed, and the last that fits is named
    res = CliRunner().invoke(
        cli, ["backtest", str(path), "--every", "month", "--from", "2021-01-31", "--to",
              "2021-03-31", "--window", "1M", "-n", "5"],
    )  # fmt: skip
    assert res.exit_code == 2 and "origin" not in res.output.split("windows end")[0]
    assert "1 of 3 windows end" in res.output and "whose window fits is 2021-02-28" in res.output
    res = CliRunner().invoke(
        cli, ["backtest", str(path), "--as-of", "2021-03-01", "--until", "2021-02-01"]
    )
    assert res.exit_code == 2 and "must be after --as-of" in res.output
    res = CliRunner().invoke(
        cli, ["backtest", str(path), "--as-of", "March", "--until", "2021-02-01"]
    )
    assert res.exit_code == 2 and "not a date" in res.output


def test_a_backtest_naming_no_window_takes_the_last_month_ends_that_fit(
    cli,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    path = write_history(tmp_path / "h.csv", snapshot="2021-03-31", seed=5)
    h = read_history(path)
    windows = default_windows(h)
    assert len(windows) == 6 and windows[-1] == (date(2021, 1, 31), date(2021, 3, 31))
    assert [a for a, _ in windows] == [
        date(2020, 8, 31), date(2020, 9, 30), date(2020, 10, 31), date(2020, 11, 30),
        date(2020, 12, 31), date(2021, 1, 31)]  # fmt: skip
    # a short history: origins only after three whole months of decisions
    first = h.deals["closed"].min().normalize()
    short = default_windows(h, "12M")
    assert short[0][0] >= (first + pd.offsets.MonthEnd(3)).date() and short[-1][1] <= date(
        2021, 3, 31
    )
    res = CliRunner().invoke(cli, ["backtest", str(path), "-n", "5", "--json"])
    assert res.exit_code == 0, res.output
    assert "origins: the month ends 2020-08-31 … 2021-01-31, windows of 2M" in res.stderr


def test_crps_of_a_sample_matches_the_normal_closed_form() -> None:
    """Closed form for N(mu, sigma) (Gneiting & Raftery 2007, as in properscoring's
    crps_gaussian): sigma * (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)). The sample estimator
    has a Monte Carlo error of order sigma / sqrt(n); with n = 20,000 a tolerance of 0.02 sigma
    is over five standard errors."""
    rng = np.random.default_rng(1)
    mu, sigma = 3.0, 2.0
    x = rng.normal(mu, sigma, 20_000)
    for y in (-1.0, 3.0, 4.5, 10.0):
        z = (y - mu) / sigma
        exact = sigma * (
            z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi)
        )
        assert crps(x, y) == pytest.approx(exact, abs=0.02 * sigma)
    # a point forecast scores its absolute error; a brute-force pair sum agrees exactly
    assert crps([5.0], 2.0) == pytest.approx(3.0)
    small = rng.normal(0, 1, 50)
    pairs = np.abs(small[:, None] - small[None, :]).sum() / (50 * 49)  # i != j: the diagonal is 0
    brute = np.mean(np.abs(small - 0.3)) - 0.5 * pairs
    assert crps(small, 0.3) == pytest.approx(brute, rel=1e-12)


def test_crps_of_a_few_draws_is_unbiased() -> None:
    """With n draws from the forecast distribution, the score's mean over many truths is the
    distribution's own: for N(0, 1) forecasts of N(0, 1) truths E[CRPS] = E|X - Y| - E|X - X'| / 2
    = 1 / sqrt(pi) exactly, whatever n; the plain estimator would add E|X - X'| / (2 n) =
    1 / (n sqrt(pi)), 0.113 at n = 5. Over 40,000 trials the standard error of the mean is
    about 0.003 (measured below); the bound is four of them, and the plain bias is 35 of them."""
    rng = np.random.default_rng(7)
    n, trials = 5, 40_000
    draws = rng.normal(0.0, 1.0, (trials, n))
    truths = rng.normal(0.0, 1.0, trials)
    scores = np.array([crps(d, y) for d, y in zip(draws, truths, strict=True)])
    se = scores.std(ddof=1) / np.sqrt(trials)
    assert abs(scores.mean() - 1 / np.sqrt(np.pi)) < 4 * se
    assert 1 / (n * np.sqrt(np.pi)) > 20 * se  # the test could tell the plain estimator apart


def test_pit_histogram_has_ten_bins_and_counts_every_value() -> None:
    assert pit_histogram([0.0, 0.05, 0.1, 0.55, 1.0, 0.99]) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]


def test_rolling_windows_keep_month_ends_and_spans() -> None:
    w = rolling_windows("2017-03-31", "2017-06-30", "month", "2M")
    assert [(str(a), str(b)) for a, b in w] == [
        ("2017-03-31", "2017-05-31"), ("2017-04-30", "2017-06-30"),
        ("2017-05-31", "2017-07-31"), ("2017-06-30", "2017-08-31"),
    ]  # fmt: skip
    w = rolling_windows("2017-03-15", "2017-04-20", "15D", "60D")
    assert [str(a) for a, _ in w] == ["2017-03-15", "2017-03-30", "2017-04-14"]
    assert str(w[0][1]) == "2017-05-14"
    with pytest.raises(SimsalesError, match="not a span"):
        parse_span("2 fortnights")


def _timestamped_history(tmp_path: Path) -> Path:
    """A stage-change export with exact timestamps; the deals W1..W4 are won around the
    one-day window (2021-03-10, 2021-03-11]."""
    rows = []
    for i in range(30):  # history to calibrate on: deals won or lost in February
        t0 = pd.Timestamp("2021-01-05 09:00") + pd.Timedelta(days=i)
        rows.append((f"H{i}", "Qualify", t0, ""))
        rows.append((f"H{i}", "Won" if i % 3 else "Lost", t0 + pd.Timedelta(days=30), "x"))
    for k, when in enumerate(["2021-03-10 23:59", "2021-03-11 00:01", "2021-03-11 23:59",
                              "2021-03-12 00:01"]):  # fmt: skip
        rows.append((f"W{k}", "Qualify", pd.Timestamp("2021-03-01 08:00"), ""))
        rows.append((f"W{k}", "Won", pd.Timestamp(when), "x"))
    frame = pd.DataFrame(rows, columns=["id", "stage", "entered_at", "v"])
    frame["outcome"] = frame["stage"].where(frame["stage"].isin(["Won", "Lost"]), "")
    frame["value"] = np.where(frame["stage"] == "Won", 100.0, np.nan)
    frame["entered_at"] = frame["entered_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    path = tmp_path / "stamped.csv"
    frame.drop(columns="v").to_csv(path, index=False)
    return path


def test_one_day_window_on_timestamped_data(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The window (as_of, until] is calendar days: a win at 23:59 on the as-of day is not in it
    (the calibration knew it), wins at 00:01 and 23:59 of the last day are, and 00:01 the day
    after is not."""
    cols = {"id": "id", "stage": "stage", "entered": "entered_at", "outcome": "outcome",
            "value": "value"}  # fmt: skip
    h = read_history(_timestamped_history(tmp_path), columns=cols, exported="2021-03-31")
    assert not h.date_only
    won = window_truth(h, "2021-03-10", "2021-03-11")
    assert sorted(won["deal"]) == ["W1", "W2"]
    res = CliRunner().invoke(
        cli,
        ["backtest", str(_timestamped_history(tmp_path)), "--as-of", "2021-03-10", "--until",
         "2021-03-11", "-n", "5", "--json", "--exported", "2021-03-31", "--preset",
         "stage-changes", "--column", "value=value"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    actual = json.loads(res.output)["origins"][0]["actual"]
    assert actual == {"won": 2.0, "revenue": 200.0}


def test_trailing_rate_is_the_mean_of_the_last_three_months(tmp_path: Path) -> None:
    h = read_history(write_history(tmp_path / "h.csv", snapshot="2021-06-30", seed=2))
    known = h.known_at("2021-04-30")
    f = trailing_rate(known, pd.Timestamp("2021-04-30"), pd.Timestamp("2021-06-30"), seed=0)
    won = known.deals[known.deals["outcome"] == "won"]
    day = won["closed"].dt.normalize()
    last3 = won[(day > pd.Timestamp("2021-01-31")) & (day <= pd.Timestamp("2021-04-30"))]
    months = (pd.Timestamp("2021-04-30") - pd.Timestamp("2021-01-31")).days / 3
    expect = len(last3) / 3 * (61 / months)  # a 61-day window in months of the mean length
    # the sample mean of 4,000 normal draws (cut at zero, far from it here): SE = sd / 63
    assert abs(f.won.mean() - expect) < 4 * f.won.std() / np.sqrt(len(f.won))
    assert f.p_deal is None


def test_crm_baselines_use_probability_and_categories_due_by_the_window() -> None:
    deals = pd.DataFrame(
        {
            "deal": ["a", "b", "c", "d"],
            "outcome": ["open"] * 4,
            "value": [100.0, 200.0, 300.0, 400.0],
            "product": ["p"] * 4,
            "crm_probability": [0.5, 0.2, 1.0, 0.9],
            "forecast_category": ["commit", "best_case", "pipeline", "commit"],
            "expected_close": pd.to_datetime(["2021-02-01", "2021-02-20", pd.NaT, "2021-05-01"]),
        }
    )
    visits = pd.DataFrame(columns=["deal", "stage", "entered", "left", "exit"])
    h = History(deals=deals, visits=visits, stages=("s",), report=DataReport("x"),
                snapshot=pd.Timestamp("2021-01-31"),
                observed_from=pd.Timestamp("2020-01-01"))  # fmt: skip
    out = {b.name: b for b in crm_baselines(h, pd.Timestamp("2021-03-31"), seed=0)}
    assert set(out) == {"crm_probability", "commit", "best_case"}
    # d is expected after the window: left out; c has no close date: counted
    p = out["crm_probability"]
    assert p.p_deal is not None and p.p_deal.to_dict() == {"a": 0.5, "b": 0.2, "c": 1.0, "d": 0.0}
    # Poisson-binomial mean 1.7 deals; sd of the mean of 4,000 draws < 0.012
    assert p.won.mean() == pytest.approx(1.7, abs=0.05)
    assert list(out["commit"].won) == [1.0] and list(out["commit"].revenue) == [100.0]
    assert list(out["best_case"].won) == [2.0] and list(out["best_case"].revenue) == [300.0]


def test_cli_backtest_scores_the_crm_forecasts_when_the_export_has_them(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from simsales.calibrate.synthetic import synthetic_history, synthetic_mapping

    path, mapping = tmp_path / "crm.csv", tmp_path / "map.yaml"
    synthetic_history("2021-01-01", "2021-12-31", seed=1, crm_fields=True).to_csv(path, index=False)
    mapping.write_text(yaml.safe_dump(synthetic_mapping(crm_fields=True)), encoding="utf-8")
    res = CliRunner().invoke(
        cli,
        ["backtest", str(path), "--mapping", str(mapping), "--origins", "2021-09-30,2021-10-31",
         "--window", "1M", "-n", "10", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    names = {"simsales", "stage_weighted", "trailing_rate", "crm_probability", "commit",
             "best_case"}  # fmt: skip
    assert set(out["scores"]) == names
    for o in out["origins"]:
        assert set(o["forecasts"]) == names
        commit, best = o["forecasts"]["commit"]["won"], o["forecasts"]["best_case"]["won"]
        # point forecasts: one value; commit + best case holds at least the commit deals
        assert commit["p10"] == commit["p90"] and best["mean"] >= commit["mean"]
    s = out["scores"]["commit"]
    assert s["crps_won"] == pytest.approx(s["mae_won"])  # CRPS of a point is its error


def test_cli_backtest_is_bounded_like_every_simulation(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simsales.results import budget

    monkeypatch.setattr(budget, "TIME_LIMIT_S", 0.0)  # every run is "too long" now
    path = write_history(tmp_path / "h.csv", snapshot="2021-05-31", seed=5, horizon="2021-05-31")
    html = tmp_path / "bt.html"
    n = str(budget.PILOT_FROM)
    args = ["backtest", str(path), "--as-of", "2021-03-31", "--until", "2021-04-30", "-n", n,
            "--json", "-o", str(html), "--exported", "2021-05-31"]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert "would need about" in res.output and "--yes" in res.output
    assert not html.exists() and not list(tmp_path.glob(".*.tmp"))
    res = CliRunner().invoke(cli, [*args, "--yes"])
    assert res.exit_code == 0, res.output
    assert html.exists()


def test_a_history_too_short_to_measure_drift_is_said(tmp_path: Path) -> None:
    # with fewer than two whole months of decisions the win odds' month-to-month drift
    # cannot be measured: the calibration's report, the backtest's text and its page say so
    from simsales.calibrate.backtest_html import backtest_html
    from simsales.commands.calibrate import render_backtest

    h = read_history(write_history(tmp_path / "h.csv", snapshot="2020-09-30", seed=2))
    early = calibrate(h, "2020-02-29", horizon="2020-04-30")
    later = calibrate(h, "2020-07-31", horizon="2020-09-30")
    notes = [i for i in early.history.report.issues if i.rule == "short_history"]
    assert len(notes) == 1 and notes[0].rows > 0
    assert re.search(r"only [01] whole months? of decisions before 2020-02-29", notes[0].message)
    assert not [i for i in later.history.report.issues if i.rule == "short_history"]
    result = backtest(
        h, [("2020-02-29", "2020-04-30"), ("2020-07-31", "2020-09-30")], replications=8, seed=1
    )
    assert [o.short_history for o in result.origins] == [True, False]
    console = Console(record=True, width=200)
    render_backtest(result, console)
    assert "As of 2020-02-29 the history had fewer than two whole months" in (
        console.export_text().replace("\n", " ")
    )
    # in a terminal of 80 columns nothing is cut: a row per forecast, revenue in compact money
    narrow = Console(record=True, width=80)
    render_backtest(result, narrow)
    text = narrow.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    o = result.origins[0]
    assert f"what happened ({o.pipeline:,} open)" in text and f"→ {o.until}" in text
    assert "fewer than two whole months of decisions" in backtest_html(result)
    assert "不足两个" in backtest_html(result, "zh_CN")


def test_an_origin_too_early_to_calibrate_is_skipped_and_said(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Of rolling origins, one whose history cannot be calibrated yet (here no visit has left
    the first stage three times) is left out of the scores and said, with why, in the
    terminal, the page and ``--json``; a backtest none of whose origins can be calibrated is
    an error, and a single such origin keeps its own error."""
    from simsales.calibrate.backtest_html import backtest_html

    path = write_history(tmp_path / "h.csv", snapshot="2020-09-30", seed=2)
    h = read_history(path)
    result = backtest(
        h, [("2020-01-15", "2020-03-15"), ("2020-07-31", "2020-09-30")], replications=8, seed=1
    )
    assert [str(o.as_of) for o in result.origins] == ["2020-07-31"]
    ((as_of, until, why),) = result.skipped
    assert (str(as_of), str(until)) == ("2020-01-15", "2020-03-15") and "visits left it" in why
    assert "As of Jan 15, 2020 the history could not be calibrated yet" in backtest_html(result)
    with pytest.raises(SimsalesError, match="no origin of the backtest could be calibrated"):
        backtest(h, [("2020-01-10", "2020-03-10"), ("2020-01-15", "2020-03-15")], replications=8)
    with pytest.raises(SimsalesError, match="no won or lost deal yet"):
        backtest(h, [("2020-01-10", "2020-03-10")], replications=8)
    args = ["backtest", str(path), "--origins", "2020-01-15,2020-07-31", "--window", "2M",
            "-n", "8", "--exported", "2020-09-30"]  # fmt: skip
    res = CliRunner().invoke(cli, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    jsonschema.validate(out, output_json_schema("backtest"))
    assert [o["as_of"] for o in out["origins"]] == ["2020-07-31"]
    assert [s["as_of"] for s in out["skipped"]] == ["2020-01-15"]
    assert "visits left it" in out["skipped"][0]["reason"]
    text = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert text.exit_code == 0 and "As of 2020-01-15 the history could not be calibrated yet" in (
        text.output.replace("\n", " ")
    )
    early = [*args[:2], "--origins", "2020-01-10,2020-01-15", *args[4:]]
    res = CliRunner().invoke(cli, early)
    assert res.exit_code == 2 and "choose later origins (--from, --origins)" in res.output
    assert "Traceback" not in res.output
