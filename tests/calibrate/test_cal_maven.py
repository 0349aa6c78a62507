"""The real Maven CRM export (skipped when ../shared/data is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from calib_helpers import MAVEN
from typer.testing import CliRunner

import simsales

pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(not MAVEN.exists(), reason=f"real data not found at {MAVEN}"),
]


def test_calibrate_reports_the_data_problems_and_the_scenario_runs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "m.yaml"
    res = CliRunner().invoke(
        cli, ["calibrate", str(MAVEN), "--as-of", "2017-06-30", "-o", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)["data"]
    issues = {i["rule"]: i for i in report["issues"]}
    assert issues["blank_account"]["rows"] == 1425
    assert issues["product_spelling"]["rows"] == 1480
    assert "'GTXPro' merged into 'GTX Pro'" in issues["product_spelling"]["message"]
    assert issues["undated_open"]["rows"] == 500  # Prospecting: no dates at all
    assert "2017-03-01" in issues["observation_start"]["message"]
    text = out.read_text(encoding="utf-8")
    assert "1,425 rows kept" in text  # the report is in the scenario's header too
    s = simsales.load(out)
    assert str(s.start) == "2017-07-01" and len(s.deal_types) == 7
    f = simsales.simulate(s, replications=2, seed=0, progress=False)
    assert (f.deals["outcome"] == "won").sum() > 0


@pytest.mark.slow
def test_backtest_prints_coverage_and_brier_for_both_forecasts(cli) -> None:  # type: ignore[no-untyped-def]
    args = ["backtest", str(MAVEN), "--as-of", "2017-05-31", "--until", "2017-06-30",
            "--origins", "2017-07-31,2017-09-30", "-n", "10"]  # fmt: skip
    res = CliRunner().invoke(cli, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [o["as_of"] for o in out["origins"]] == ["2017-05-31", "2017-07-31", "2017-09-30"]
    sim, base = out["scores"]["simsales"], out["scores"]["stage_weighted"]
    for s in (sim, base):
        assert 0 <= s["coverage_won"] <= 1 and 0 < s["brier"] < 1
    # The pipeline forecast has no notion of timing: on "won by the end of the window" it is
    # clearly worse than a forecast that knows how long deals take.
    assert sim["brier"] < base["brier"]
    table = CliRunner().invoke(cli, [*args[:6], "-n", "5"], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert "stage-weighted pipeline" in table.output and "Brier" in table.output
