"""Inputs never leak a file and never hang: paths inside the scenario's folder, regular files
only, one size limit read as bytes (not as the reported size), short escaped excerpts.

Each test is one break found by the attack on main (issue 14); the FIFO tests run the real
command in a subprocess with a timeout, so a regression fails instead of hanging CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from io_helpers import MINIMAL, ROOT, copy_minimal

import simsales
from simsales.errors import ScenarioError
from simsales.io.inputs import DEFAULT_MAX_BYTES, excerpt, input_limit, read_user_bytes
from simsales.results.forecast import Forecast

SECRET = "SIMSALES_TEST_SECRET=hunter2-very-secret-value"
_HEAD = MINIMAL.read_text(encoding="utf-8").split("pipeline:")[0]


def _scenario_with_csv(folder: Path, csv: str, name: str = "s.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(_HEAD + f"pipeline: {{csv: {json.dumps(csv)}}}\n", encoding="utf-8")
    return path


def _secret_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{SECRET}\nANOTHER_SECRET=also-private\n", encoding="utf-8")
    return path


# --- paths in a scenario stay inside its folder ---------------------------------------------


def test_an_absolute_pipeline_path_is_refused_without_reading_it(tmp_path: Path, main_cli) -> None:
    secret = _secret_file(tmp_path / "elsewhere" / "env")
    scenario = _scenario_with_csv(tmp_path / "project", str(secret))
    r = main_cli("validate", scenario)
    assert r.code == 2
    assert "outside the scenario's folder" in r.err and "--allow-path" in r.err
    assert "hunter2" not in r.err + r.out and "ANOTHER_SECRET" not in r.err + r.out


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_proc_self_environ_is_never_printed(tmp_path: Path, main_cli, monkeypatch) -> None:
    monkeypatch.setenv("SIMSALES_TEST_SECRET", "hunter2")
    scenario = _scenario_with_csv(tmp_path, "/proc/self/environ")
    r = main_cli("validate", scenario)
    assert r.code == 2 and "outside the scenario's folder" in r.err
    assert "hunter2" not in r.err and "PATH=" not in r.err


def test_a_climbing_pipeline_path_is_refused(tmp_path: Path, main_cli) -> None:
    _secret_file(tmp_path / "secret.env")
    scenario = _scenario_with_csv(tmp_path / "project", "../secret.env")
    r = main_cli("validate", scenario)
    assert r.code == 2 and "outside the scenario's folder" in r.err, r.err
    assert "hunter2" not in r.err


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path: Path, main_cli) -> None:
    secret = _secret_file(tmp_path / "secret.env")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "deals.csv").symlink_to(secret)
    scenario = _scenario_with_csv(tmp_path / "project", "deals.csv")
    r = main_cli("validate", scenario)
    assert r.code == 2 and "outside the scenario's folder" in r.err
    assert "hunter2" not in r.err


def test_allow_path_lets_a_shared_data_folder_in(tmp_path: Path, main_cli) -> None:
    data = tmp_path / "shared"
    data.mkdir()
    (data / "deals.csv").write_text("id,type,stage\nD-9,standard,propose\n", encoding="utf-8")
    scenario = _scenario_with_csv(tmp_path / "project", "../shared/deals.csv")
    assert main_cli("validate", scenario).code == 2
    r = main_cli("validate", scenario, "--allow-path", data)
    assert r.code == 0, r.err
    r = main_cli("run", scenario, "-n", "5", "--json", "--allow-path", data)
    assert r.code == 0 and [d["id"] for d in json.loads(r.out)["deals"]] == ["D-9"]


def test_a_csv_inside_the_folder_still_works(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.csv").write_text("id,type,stage\nD-1,standard,close\n", "utf-8")
    assert [d.id for d in simsales.load(_scenario_with_csv(tmp_path, "data/d.csv")).deals()] == [
        "D-1"
    ]


# --- messages quote file content only as a short escaped excerpt -----------------------------


def test_a_bad_cell_is_quoted_short_and_escaped(tmp_path: Path, main_cli) -> None:
    long_secret = "x" * 30 + "-TAIL-NOT-SHOWN-" + "y" * 200
    (tmp_path / "d.csv").write_text(
        f"id,type,stage,value\nD-1,standard,close,{long_secret}\n", encoding="utf-8"
    )
    r = main_cli("validate", _scenario_with_csv(tmp_path, "d.csv"))
    assert r.code == 2 and "(got 'xxxxxxxx" in r.err, r.err
    assert "TAIL-NOT-SHOWN" not in r.err and "yyyyy" not in r.err and "…" in r.err


def test_a_header_of_secrets_is_not_listed_whole(tmp_path: Path, main_cli) -> None:
    header = "A" * 30 + "LEAKED-PART" + "B" * 100
    (tmp_path / "d.csv").write_text(f"{header}\nvalue\n", encoding="utf-8")
    text = _HEAD + "pipeline: {csv: d.csv, columns: {id: deal_id}}\n"
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    r = main_cli("validate", tmp_path / "s.yaml")
    assert r.code == 2 and "deal_id" in r.err
    assert "LEAKED-PART" not in r.err


def test_excerpt_escapes_control_characters() -> None:
    assert excerpt("a\x00b\x1b[31mc\n") == "'a\\x00b\\x1b[31mc\\n'"
    assert excerpt("z" * 100, 10) == "'zzzzzzzzzz…'"
    assert excerpt(-1) == "-1"


def test_a_crafted_provenance_cannot_make_report_read_a_file(
    tmp_path: Path, main_cli, monkeypatch
) -> None:
    forecast = simsales.simulate(MINIMAL, replications=5, seed=1, progress=False)
    forecast.save(tmp_path / "res")
    secret = _secret_file(tmp_path / "secret.env")
    prov = json.loads((tmp_path / "res" / "provenance.json").read_text(encoding="utf-8"))
    prov["scenario"]["pipeline"] = {"csv": str(secret)}
    (tmp_path / "res" / "provenance.json").write_text(json.dumps(prov), encoding="utf-8")
    r = main_cli("report", tmp_path / "res", "-o", tmp_path / "r.html")
    assert r.code == 74, r.err
    assert "damaged results folder" in r.err and "provenance.json" in r.err
    assert "hunter2" not in r.err and not (tmp_path / "r.html").exists()


# --- only regular files, and never more than the limit ---------------------------------------


def _fifo(path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    os.mkfifo(path)
    return path


def _cli(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed entry point in a subprocess: a hang fails the test at ``timeout``."""
    code = "from simsales.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_a_fifo_as_scenario_fails_at_once(tmp_path: Path) -> None:
    done = _cli("validate", _fifo(tmp_path / "s.yaml"))
    assert done.returncode == 2 and "named pipe" in done.stderr, done.stderr


def test_a_fifo_as_pipeline_csv_fails_at_once(tmp_path: Path) -> None:
    _fifo(tmp_path / "d.csv")
    done = _cli("validate", _scenario_with_csv(tmp_path, "d.csv"))
    assert done.returncode == 2 and "named pipe" in done.stderr, done.stderr


def test_a_fifo_as_people_csv_fails_at_once(tmp_path: Path) -> None:
    scenario = copy_minimal(tmp_path)
    people = _fifo(tmp_path / "people.csv")
    done = _cli("optimize", scenario, "--mode", "assignment", "--people", people, "--no-verify")
    assert done.returncode == 2 and "named pipe" in done.stderr, done.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused(device: str, tmp_path: Path, main_cli) -> None:
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    r = main_cli("validate", device)
    assert r.code == 2 and "character device" in r.err
    (tmp_path / "d.csv").symlink_to(device)
    scenario = _scenario_with_csv(tmp_path, "d.csv")
    r = main_cli("validate", scenario)  # the link leads out of the folder
    assert r.code == 2 and "outside the scenario's folder" in r.err, r.err
    r = main_cli("validate", scenario, "--allow-path", Path(device).parent)
    assert r.code == 2 and "character device" in r.err, r.err
    r = main_cli("calibrate", device)
    assert r.code == 2 and "character device" in r.err, r.err


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_the_limit_counts_bytes_read_not_the_reported_size() -> None:
    """/proc files report size 0 and have more: reading stops at limit + 1 bytes."""
    assert os.stat("/proc/self/maps").st_size == 0
    with input_limit(64), pytest.raises(ScenarioError, match="larger than the input limit of 64"):
        read_user_bytes("/proc/self/maps")
    assert len(read_user_bytes("/proc/self/maps", 10_000_000)) > 64


def test_one_limit_for_every_input_kind(tmp_path: Path, main_cli, monkeypatch) -> None:
    scenario = copy_minimal(tmp_path)
    rows = "".join(f"D-{i},standard,close\n" for i in range(50))
    (tmp_path / "d.csv").write_text("id,type,stage\n" + rows, "utf-8")
    csv_scenario = _scenario_with_csv(tmp_path, "d.csv", "c.yaml")
    people = tmp_path / "people.csv"
    people.write_text("person,role,hours_per_week\n" + "Ann,sales,40\n" * 200, "utf-8")
    limit = 600  # the pipeline CSV, the people CSV and the scenario are all over it
    assert min(p.stat().st_size for p in (people, tmp_path / "d.csv")) > limit
    monkeypatch.setenv("SIMSALES_MAX_INPUT_BYTES", str(limit))
    for args in (
        ("validate", scenario),
        ("validate", csv_scenario),
        ("optimize", scenario, "--mode", "assignment", "--people", people, "--no-verify"),
    ):
        r = main_cli(*args)
        assert r.code == 2 and "larger than the input limit of 600 bytes" in r.err, (args, r.err)
        assert "SIMSALES_MAX_INPUT_BYTES" in r.err
    monkeypatch.setenv("SIMSALES_MAX_INPUT_BYTES", "10000")
    assert main_cli("validate", csv_scenario).code == 0


# --- a damaged results folder is an I/O error, located -----------------------------------------


def test_a_truncated_parquet_is_a_located_io_error(tmp_path: Path, main_cli) -> None:
    forecast = simsales.simulate(MINIMAL, replications=5, seed=1, progress=False)
    forecast.save(tmp_path / "res")
    visits = tmp_path / "res" / "visits.parquet"
    visits.write_bytes(visits.read_bytes()[:100])
    r = main_cli("report", tmp_path / "res", "-o", tmp_path / "r.html")
    assert r.code == 74, r.err
    assert str(visits) in r.err and "damaged results folder" in r.err
    assert "internal error" not in r.err


def test_a_missing_table_or_bad_json_is_a_located_io_error(tmp_path: Path) -> None:
    forecast = simsales.simulate(MINIMAL, replications=5, seed=1, progress=False)
    forecast.save(tmp_path / "res")
    (tmp_path / "res" / "pools.parquet").unlink()
    with pytest.raises(simsales.SimsalesError, match=r"pools\.parquet: damaged results folder"):
        Forecast.load(tmp_path / "res")
    (tmp_path / "res" / "provenance.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(simsales.SimsalesError, match=r"provenance\.json: damaged"):
        Forecast.load(tmp_path / "res")


def test_the_default_limit_applies_to_a_pipeline_csv(tmp_path: Path, main_cli) -> None:
    """A 200 MB pipeline CSV was accepted while a scenario had a limit: now one limit."""
    big = tmp_path / "d.csv"
    with open(big, "wb") as f:  # sparse: no disk used, and read only up to the limit
        f.write(b"id,type,stage\n")
        f.truncate(DEFAULT_MAX_BYTES + 1)
    r = main_cli("validate", _scenario_with_csv(tmp_path, "d.csv"))
    assert r.code == 2 and f"larger than the input limit of {DEFAULT_MAX_BYTES:,}" in r.err
    r = main_cli("calibrate", big)
    assert r.code == 2 and f"larger than the input limit of {DEFAULT_MAX_BYTES:,}" in r.err


def test_a_fifo_in_a_results_folder_cannot_hang_report(tmp_path: Path) -> None:
    forecast = simsales.simulate(MINIMAL, replications=5, seed=1, progress=False)
    forecast.save(tmp_path / "res")
    for name in (".simsales-output", "visits.parquet"):
        (tmp_path / "res" / name).unlink()
        _fifo(tmp_path / "res" / name)
    done = _cli("report", tmp_path / "res", "-o", tmp_path / "r.html")
    assert done.returncode == 74 and "visits.parquet" in done.stderr, done.stderr
    assert "not a regular file" in done.stderr
