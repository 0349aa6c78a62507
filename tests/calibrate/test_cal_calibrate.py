"""Calibration recovers the parameters of the scenario that generated the history, within the
uncertainty it states; the written scenario is commented, loads and runs."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from calib_helpers import TRUTH, add_dirty_rows, truth
from scipy import special, stats
from typer.testing import CliRunner

import simsales
from simsales.calibrate.calibrate import Calibration, calibrate
from simsales.calibrate.importer import read_history
from simsales.calibrate.synthetic import opportunity_rows, stage_change_rows

AS_OF = "2021-03-31"
Z999 = float(special.ndtri(0.9995))


def _lognormal_median_p90(spec: dict) -> tuple[float, float]:  # type: ignore[type-arg]
    p = spec["lognormal"]
    return float(p["p50"]), float(p["p90"])


@pytest.fixture(scope="module")
def dirty_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("h") / "history.csv"
    # The export is taken later than the as-of date: calibration must use only what was known.
    add_dirty_rows(opportunity_rows(truth(), "2021-09-30", seed=7)).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted(dirty_history: Path) -> Calibration:
    return calibrate(read_history(dirty_history), AS_OF)


def test_win_rates_within_their_binomial_error(fitted: Calibration) -> None:
    """The won exit's share per type (Aalen-Johansen, shrunk towards the pooled share with a
    fixed strength of 10 pseudo-visits for two types) against the truth: within 3 binomial
    standard errors plus the largest pull the shrinkage can give (10 / (n + 10))."""
    (stage,) = fitted.stages
    pooled = {e.to: e.p for e in stage.exits}["won"]
    for g in fitted.groups:
        true = TRUTH["deal_types"][g.name]["stages"]["engaging"]["advance"]
        n = g.advance["engaging"].trials
        assert n > 300
        won = {e.to: e.p for e in g.exits["engaging"]}["won"]
        se = math.sqrt(true * (1 - true) / n)
        assert abs(won - true) < 3 * se + 10 / (n + 10) * abs(pooled - true), (g.name, won, true)


def test_median_duration_inside_the_fitted_interval(fitted: Calibration) -> None:
    (stage,) = fitted.stages
    lo, hi = stage.duration.median_interval
    assert lo <= 30.0 <= hi
    assert stage.duration.n_open > 50  # open deals were used, not dropped
    # The tail too: the true P90 (90 days) within the sampling error of the fitted P90.
    se_log_p90 = math.hypot(stage.duration.se_mu, stage.duration.sigma * 0.1)
    assert abs(math.log(stage.duration.p90 / 90.0)) < 4 * se_log_p90 + 0.05


def test_arrival_rates_inside_their_poisson_intervals(fitted: Calibration) -> None:
    for g in fitted.groups:
        true = {a["type"]: a["per_month"] for a in TRUTH["arrivals"]}[g.name]
        assert g.arrivals.low <= true <= g.arrivals.high, (g.name, g.arrivals)
    # counted from the first close to the as-of date, in calendar months
    assert fitted.arrivals_from > pd.Timestamp(TRUTH["start"]).date()


def test_values_inside_their_intervals(fitted: Calibration) -> None:
    for g in fitted.groups:
        p50, _ = _lognormal_median_p90(TRUTH["deal_types"][g.name]["value"])
        assert g.value is not None
        lo, hi = g.value.median_interval
        assert lo <= p50 <= hi, (g.name, lo, p50, hi)


def test_pipeline_is_what_was_open_at_as_of(fitted: Calibration, dirty_history: Path) -> None:
    rows = pd.read_csv(dirty_history, dtype=str, keep_default_na=False)
    # the clean deals and the open one with a close date (its expected close, not a decision)
    rows = rows[rows["opportunity_id"].str.startswith("S") | (rows["opportunity_id"] == "DIRTY041")]
    engaged = pd.to_datetime(rows["engage_date"])
    decided = rows["deal_stage"].isin(["Won", "Lost"]) & (rows["close_date"] != "")
    closed = pd.to_datetime(rows["close_date"].where(decided))
    as_of = pd.Timestamp(AS_OF)
    open_then = rows[(engaged <= as_of) & ~(closed <= as_of)]
    assert {d["_source"] for d in fitted.pipeline} == set(open_then["opportunity_id"])
    days = {d["_source"]: d["days_in_stage"] for d in fitted.pipeline}
    first = open_then.iloc[0]
    assert days[first["opportunity_id"]] == (as_of - pd.Timestamp(first["engage_date"])).days + 0.5
    # values of deals closed after as-of are not known then
    assert all("value" not in d for d in fitted.pipeline)


def test_written_scenario_is_commented_loads_and_runs(fitted: Calibration, tmp_path: Path) -> None:
    out = tmp_path / "calibrated.yaml"
    fitted.write(out)
    text = out.read_text(encoding="utf-8")
    s = simsales.load(out)
    assert s.start == pd.Timestamp("2021-04-01").date()
    assert s.calendar.continuous
    assert len(s.deals()) == len(fitted.pipeline)
    # every fitted number carries its sample size
    for key in ("duration:", "value:", "per_month:", "left this way", "sd:"):
        lines = [ln for ln in text.splitlines() if key in ln and not ln.lstrip().startswith("#")]
        assert lines, key
        for ln in lines:
            assert re.search(r"#.*(\d[\d,]* (of|finished|entered|left)|n = \d)", ln), ln
    assert "bad_date: 4 rows dropped" in text  # the data report is in the header
    f = simsales.simulate(s, replications=3, seed=1, progress=False)
    assert (f.deals["outcome"] == "won").any()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file


def test_cli_calibrate_writes_the_scenario(cli, dirty_history: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "s.yaml"
    res = CliRunner().invoke(
        cli, ["calibrate", str(dirty_history), "--as-of", AS_OF, "--by", "owner", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "product_spelling" in res.output and f"wrote {out}" in res.output
    s = simsales.load(out)
    assert len(s.deal_types) == 8  # the generator's eight agents
    bad = CliRunner().invoke(cli, ["calibrate", str(dirty_history), "--as-of", "2030-01-01"])
    assert bad.exit_code == 2 and "after the export's last date" in bad.output
    bad = CliRunner().invoke(cli, ["calibrate", str(dirty_history), "--by", "segment"])
    assert bad.exit_code == 2 and "no segment column" in bad.output


def test_stage_changes_recover_each_stage(tmp_path: Path) -> None:
    stages = [
        {"id": "qualify", "duration": {"lognormal": {"p50": 8, "p90": 20}}, "advance": 0.7},
        {"id": "propose", "duration": {"lognormal": {"p50": 15, "p90": 40}}, "advance": 0.8},
        {"id": "close", "duration": {"lognormal": {"p50": 10, "p90": 30}}, "advance": 0.6},
    ]
    s = truth(
        stages=stages,
        deal_types={"alpha": {"value": {"lognormal": {"p50": 5000, "p90": 9000}}}},
        arrivals=[{"type": "alpha", "per_month": 60}],
        horizon="2021-06-30",
    )
    path = tmp_path / "changes.csv"
    stage_change_rows(s, "2021-06-30", seed=4).to_csv(path, index=False)
    h = read_history(path, preset="stage-changes", columns={"product": "product", "value": "value"})
    c = calibrate(h, "2021-04-30")
    assert [st.id for st in c.stages] == ["qualify", "propose", "close"]
    # Seven checks at once: each at 99.9% (z = 3.29) so that the test is not flaky, while a
    # real bias of a few standard errors still fails it.
    for st, true in zip(c.stages, stages, strict=True):
        p50 = true["duration"]["lognormal"]["p50"]  # type: ignore[index]
        z = (st.duration.mu - math.log(p50)) / st.duration.se_mu
        assert abs(z) < Z999, (st.id, st.duration.median, p50, z)
        alo, ahi = stats.beta.ppf([0.0005, 0.9995], st.advance.alpha, st.advance.beta)
        assert alo <= true["advance"] <= ahi, (st.id, alo, true["advance"], ahi)  # type: ignore[operator]
    (g,) = c.groups
    assert stats.poisson.ppf(0.0005, 60 * g.arrivals.exposure_months) <= g.arrivals.count
    assert g.arrivals.count <= stats.poisson.ppf(0.9995, 60 * g.arrivals.exposure_months)
    # the pipeline holds deals in every stage, each with its own days in stage
    assert {d["stage"] for d in c.pipeline} == {"qualify", "propose", "close"}
    simsales.load_dict(c.scenario())


def test_z90_used_for_p90_matches_scipy() -> None:
    from simsales.calibrate.fit import Z90

    assert float(special.ndtri(0.9)) == Z90  # exactly: the same sampler as before


def test_empirical_durations_recover_the_median_and_load(
    dirty_history: Path, tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    c = calibrate(read_history(dirty_history), AS_OF, durations="empirical")
    (stage,) = c.stages
    lo, hi = stage.duration.median_interval
    assert lo - 1 <= 30.0 <= hi + 1  # whole days: the median is known to a day
    out = tmp_path / "km.yaml"
    c.write(out)
    assert "Kaplan-Meier on" in out.read_text(encoding="utf-8")
    s = simsales.load(out)
    sampler = s.stages[0].duration
    assert "discrete" in sampler.model_dump(exclude_none=True)
    bad = CliRunner().invoke(cli, ["calibrate", str(dirty_history), "--durations", "weibull"])
    assert bad.exit_code == 2 and "lognormal, empirical" in bad.output


def test_timestamped_stage_changes_use_exact_durations(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    n = 600
    t0 = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.uniform(0, 200, n), unit="D")
    d = np.exp(math.log(6.0) + 0.5 * rng.standard_normal(n))
    t1 = t0 + pd.to_timedelta(d, unit="D")
    won = rng.random(n) < 0.4
    as_of = pd.Timestamp("2022-07-01")
    rows = [("id", "stage", "entered_at")]
    for i in range(n):
        if t0[i] >= as_of:
            continue
        rows.append((f"D{i}", "Demo", t0[i].strftime("%Y-%m-%d %H:%M:%S")))
        if t1[i] < as_of:
            rows.append((f"D{i}", "Won" if won[i] else "Lost", t1[i].strftime("%Y-%m-%d %H:%M:%S")))
    path = tmp_path / "ts.csv"
    pd.DataFrame(rows[1:], columns=list(rows[0])).to_csv(path, index=False)
    h = read_history(path, preset="stage-changes")
    assert not h.date_only
    c = calibrate(h, "2022-06-30")
    lo, hi = c.stages[0].duration.median_interval
    assert lo <= 6.0 <= hi
    assert hi / lo < 1.2  # exact times: a narrow interval
    alo, ahi = c.stages[0].advance.interval
    assert alo <= 0.4 <= ahi
    assert c.by is None and [g.name for g in c.groups] == ["all"]  # no product column


def test_atomic_write_keeps_the_old_file_when_the_check_fails(tmp_path: Path) -> None:
    from simsales.io.outputs import write_text

    target = tmp_path / "s.yaml"
    target.write_text("old", encoding="utf-8")

    def refuse(tmp: Path) -> None:
        assert tmp.read_text(encoding="utf-8") == "new"
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        write_text(target, "new", check=refuse)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.yaml"]
    write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
