"""Backtests: scoring rules, no look-ahead, calibrated coverage on histories from a known
scenario, and the CLI's JSON and HTML outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from calib_helpers import write_history
from scipy import stats
from typer.testing import CliRunner

from simsales.calibrate.backtest import backtest
from simsales.calibrate.calibrate import calibrate
from simsales.calibrate.importer import read_history
from simsales.calibrate.scores import brier, inside80, interval80, pit
from simsales.commands.calibrate import window_end


def test_pit_counts_ties_half_and_interval_is_inclusive() -> None:
    sample = [1, 2, 2, 3, 4, 5, 6, 7, 8, 9]
    assert pit(sample, 2) == pytest.approx((1 + 0.5 * 2) / 10)
    assert pit(sample, 0) == 0.0 and pit(sample, 10) == 1.0
    assert interval80(sample) == (1.0, 8.0)  # inverted CDF: 10% -> 1st value, 90% -> 9th
    assert inside80(sample, 8) and not inside80(sample, 8.5)
    assert brier([1.0, 0.0, 0.5], [1, 0, 1]) == pytest.approx(0.25 / 3)


def test_pit_of_a_draw_from_the_forecast_itself_is_uniform() -> None:
    rng = np.random.default_rng(0)
    pits = [pit(rng.poisson(20, 200), rng.poisson(20)) for _ in range(400)]
    assert stats.kstest(pits, "uniform").pvalue > 0.001


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
        base_inside.append(o.inside("baseline", "won"))
        briers.append((o.brier("simsales", all_open=True), o.brier("baseline", all_open=True)))
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
    assert [o["as_of"] for o in out["origins"]] == ["2021-02-28", "2021-03-31", "2021-04-30"]
    assert [o["until"] for o in out["origins"]] == ["2021-03-31", "2021-04-30", "2021-05-31"]
    for method in ("simsales", "baseline"):
        s = out["summary"][method]
        assert 0 <= s["won"]["coverage80"] <= 1 and 0 <= s["brier"] <= 1
        assert len(s["revenue"]["pits"]) == 3
    o = out["origins"][0]
    assert o["simsales_won"]["p10"] <= o["simsales_won"]["p90"]
    page = html.read_text(encoding="utf-8")
    assert "Plotly" in page and "<table>" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from the web
    assert not list(tmp_path.glob(".*.tmp"))
    args = ["backtest", str(path), "--as-of", "2021-03-31", "--until", "2021-04-30", "-n", "10",
            "--exported", "2021-05-31"]  # fmt: skip
    text = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    assert "80% coverage" in text.output and "Brier" in text.output


def test_cli_backtest_refuses_windows_past_the_export(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_history(tmp_path / "h.csv", snapshot="2021-03-31", seed=5)
    res = CliRunner().invoke(
        cli, ["backtest", str(path), "--as-of", "2021-03-01", "--until", "2021-05-01"]
    )
    assert res.exit_code == 2 and "ends after the export's last date" in res.output
    res = CliRunner().invoke(
        cli, ["backtest", str(path), "--as-of", "2021-03-01", "--until", "2021-02-01"]
    )
    assert res.exit_code == 2 and "must be after --as-of" in res.output
    res = CliRunner().invoke(
        cli, ["backtest", str(path), "--as-of", "March", "--until", "2021-02-01"]
    )
    assert res.exit_code == 2 and "not a date" in res.output
