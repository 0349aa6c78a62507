"""``simsales run``: the JSON contract, and the same JSON whatever the workers or executor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simsales.cli import app

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scenarios" / "enterprise-it.yaml"
ARGS = ["run", str(DEFAULT), "--replications", "200", "--json"]


def _run(*extra: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, [*ARGS, *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def serial() -> dict:  # type: ignore[type-arg]
    return _run()


def test_json_follows_the_contract(serial: dict) -> None:  # type: ignore[type-arg]
    assert set(serial) == {
        "schema_version",
        "scenario",
        "seed",
        "replications",
        "engine_paths",
        "deals",
        "portfolio",
        "resources",
    }
    paths = serial["engine_paths"]  # which engine computed how many replications
    assert set(paths) == {"vectorized", "simpy"}
    assert paths["vectorized"] + paths["simpy"] == serial["replications"]
    assert isinstance(serial["scenario"], str) and isinstance(serial["seed"], int)
    assert 0 < serial["replications"] <= 200
    assert len(serial["deals"]) == 15  # the live pipeline only
    for deal in serial["deals"]:
        assert set(deal) == {"id", "win_probability", "close_date", "win_date", "expected_revenue"}
        assert 0 <= deal["win_probability"] <= 1
        assert set(deal["close_date"]) == {"p10", "p50", "p80", "p90"}
        dates = [d for d in deal["close_date"].values() if d is not None]
        assert dates == sorted(dates), "percentile dates are ordered"
        if deal["win_date"] is not None:
            assert set(deal["win_date"]) == {"p10", "p50", "p80", "p90"}
    portfolio = serial["portfolio"]
    for key in ("won_deals", "revenue"):
        stats = portfolio[key]
        assert set(stats) == {"mean", "p10", "p50", "p90"}
        assert stats["p10"] <= stats["p50"] <= stats["p90"]
    periods = {p["period"] for p in portfolio["revenue_by_period"]}
    assert {"2027Q1", "2027H1", "2027"} <= periods
    for target in portfolio["targets"]:
        assert set(target) == {"period", "target", "probability"}
        assert target["period"] in periods and 0 <= target["probability"] <= 1
    pools = {r["id"] for r in serial["resources"]}
    assert pools == {"sales", "presales", "legal", "partner_engineers"}
    for r in serial["resources"]:
        assert 0 <= r["utilization"] <= 1 and r["mean_wait_days"] >= 0
    # expected revenue of a deal is its win probability times its value, at most the value
    assert all(
        d["expected_revenue"] >= 0 and not math.isnan(d["expected_revenue"])
        for d in serial["deals"]
    )


def test_process_workers_print_identical_json(serial: dict) -> None:  # type: ignore[type-arg]
    assert _run("--workers", "2", "--executor", "process") == serial


def test_dask_cluster_prints_identical_json(serial: dict) -> None:  # type: ignore[type-arg]
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        assert _run("--executor", "dask", "--scheduler", cluster.scheduler_address) == serial


def test_bad_arguments_exit_2() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["run", str(DEFAULT), "--executor", "threads"]).exit_code == 2
    assert runner.invoke(app, ["run", str(DEFAULT), "--replications", "0"]).exit_code == 2
    assert runner.invoke(app, ["run", str(DEFAULT), "--workers", "x"]).exit_code == 2
    missing = runner.invoke(app, ["run", "no/such.yaml"])
    assert missing.exit_code != 0 and "Traceback" not in missing.output


def test_both_engines_print_the_same_json_but_for_their_paths() -> None:
    # the Must-show, at fewer replications: pools that never bind, so auto takes the
    # vectorized path for every replication and SimPy none, and nothing else may differ
    sets = [f"resources.{pool}.capacity=1000" for pool in ("sales", "presales", "legal")]
    args = ["run", str(ROOT / "scenarios" / "benchmark-200.yaml"), "-n", "40", "--json"]
    for item in sets:
        args += ["--set", item]
    out = {}
    for engine in ("auto", "simpy"):
        result = CliRunner().invoke(app, [*args, "--engine", engine])
        assert result.exit_code == 0, result.output
        out[engine] = json.loads(result.stdout)
    assert out["auto"].pop("engine_paths") == {"vectorized": 40, "simpy": 0}
    assert out["simpy"].pop("engine_paths") == {"vectorized": 0, "simpy": 40}
    assert out["auto"] == out["simpy"]
