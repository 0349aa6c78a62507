"""Outputs never destroy a user's file: real files in a temporary folder, the real entry point.

Each test is one break found by the attack on main (issue 14): ``--out DIR`` deleting what DIR
held, an output overwriting its input, concurrent writers, stale temporaries, unwritable
folders found only after the simulation, one mode policy for every output.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from io_helpers import MINIMAL, ROOT, copy_minimal

import simsales
from simsales.errors import CannotCreateError, TemporaryFailureError
from simsales.io import outputs
from simsales.results.forecast import FILES, Forecast


@pytest.fixture(scope="module")
def old() -> Forecast:
    return simsales.simulate(MINIMAL, replications=12, seed=1, progress=False)


@pytest.fixture(scope="module")
def new() -> Forecast:
    return simsales.simulate(MINIMAL, replications=15, seed=2, progress=False)


def _same(a: Forecast, b: Forecast) -> bool:
    """Same provenance (as JSON) and the same rows in every table that has rows here."""
    as_json = [json.loads(json.dumps(f.provenance, default=str)) for f in (a, b)]
    return as_json[0] == as_json[1] and all(
        getattr(a, t).equals(getattr(b, t)) for t in ("deals", "visits", "pools", "capacity")
    )


# --- a folder simsales did not make is never replaced -----------------------------------------


def test_out_refuses_a_folder_with_a_users_file(tmp_path: Path, main_cli) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    thesis = folder / "thesis.docx"
    thesis.write_text("four years of work", encoding="utf-8")
    r = main_cli("run", MINIMAL, "-n", "20", "--out", folder)
    assert r.code == 73, r.err
    assert "did not make" in r.err and "thesis.docx" in r.err and "--force" in r.err
    assert thesis.read_text(encoding="utf-8") == "four years of work"
    assert sorted(os.listdir(folder)) == ["thesis.docx"]
    assert sorted(os.listdir(tmp_path)) == ["p"], "no temporaries, no lock file left"


def test_out_refuses_the_folder_holding_the_scenario_even_with_force(
    tmp_path: Path, main_cli, monkeypatch
) -> None:
    scenario = copy_minimal(tmp_path / "project")
    monkeypatch.chdir(scenario.parent)
    for extra in ([], ["--force"]):
        r = main_cli("run", scenario.name, "-n", "20", "--out", os.getcwd(), *extra)
        assert r.code == 73, r.err
        assert "holds an input" in r.err
        assert scenario.read_bytes() == MINIMAL.read_bytes()
    assert os.listdir(scenario.parent) == ["minimal.yaml"]


def test_force_replaces_a_foreign_folder(tmp_path: Path, main_cli) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "notes.txt").write_text("x", encoding="utf-8")
    r = main_cli("run", MINIMAL, "-n", "20", "--out", folder, "--force")
    assert r.code == 0, r.err
    assert set(os.listdir(folder)) == {*FILES, outputs.MARKER}
    assert Forecast.load(folder).replications == 20


def test_a_forecast_folder_is_replaced_and_an_old_one_without_marker_too(
    tmp_path: Path, old: Forecast, new: Forecast
) -> None:
    target = tmp_path / "out"
    old.save(target)
    assert (target / outputs.MARKER).is_file()
    new.save(target)
    assert _same(Forecast.load(target), new)
    (target / outputs.MARKER).unlink()  # as written before the marker existed
    old.save(target)
    assert _same(Forecast.load(target), old)
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_an_empty_folder_may_be_used(tmp_path: Path, old: Forecast) -> None:
    (tmp_path / "empty").mkdir()
    old.save(tmp_path / "empty")
    assert _same(Forecast.load(tmp_path / "empty"), old)


def test_a_file_is_not_replaced_by_a_results_folder(tmp_path: Path, old: Forecast) -> None:
    target = tmp_path / "out"
    target.write_text("mine", encoding="utf-8")
    with pytest.raises(CannotCreateError, match="is a file, not a results folder"):
        old.save(target)
    assert target.read_text(encoding="utf-8") == "mine"


# --- an output that is an input -------------------------------------------------------------


def test_report_refuses_to_overwrite_its_scenario(tmp_path: Path, main_cli) -> None:
    scenario = copy_minimal(tmp_path)
    r = main_cli("report", scenario, "-n", "20", "-o", scenario)
    assert r.code == 73 and "also an input" in r.err, r.err
    assert scenario.read_bytes() == MINIMAL.read_bytes()


def test_an_input_reached_by_another_name_is_refused(tmp_path: Path, main_cli) -> None:
    scenario = copy_minimal(tmp_path)
    (tmp_path / "link.yaml").symlink_to(scenario)
    os.link(scenario, tmp_path / "hard.yaml")
    for name in ("link.yaml", "hard.yaml"):
        r = main_cli("report", scenario, "-n", "20", "-o", tmp_path / name)
        assert r.code == 73 and "also an input" in r.err, r.err
    assert scenario.read_bytes() == MINIMAL.read_bytes()


def test_report_refuses_to_overwrite_a_file_of_its_results_folder(
    tmp_path: Path, main_cli, old: Forecast
) -> None:
    old.save(tmp_path / "res")
    before = (tmp_path / "res" / "deals.parquet").read_bytes()
    r = main_cli("report", tmp_path / "res", "-o", tmp_path / "res" / "deals.parquet")
    assert r.code == 73, r.err
    assert (tmp_path / "res" / "deals.parquet").read_bytes() == before


def test_optimize_refuses_to_overwrite_its_scenario(tmp_path: Path, main_cli) -> None:
    scenario = copy_minimal(tmp_path)
    r = main_cli("optimize", scenario, "--no-verify", "--out", scenario)
    assert r.code == 73 and "also an input" in r.err, r.err
    assert scenario.read_bytes() == MINIMAL.read_bytes()


def test_optimize_refuses_to_overwrite_its_people_csv(tmp_path: Path, main_cli) -> None:
    scenario = copy_minimal(tmp_path)
    people = tmp_path / "people.csv"
    people.write_text("person,role,hours_per_week\nAnn,sales,40\n", encoding="utf-8")
    args = ("optimize", scenario, "--mode", "assignment", "--people", people, "--no-verify")
    r = main_cli(*args, "--out", people)
    assert r.code == 73 and "also an input" in r.err, r.err
    assert people.read_text(encoding="utf-8").startswith("person,role")


def test_calibrate_refuses_to_overwrite_its_export(tmp_path: Path, main_cli) -> None:
    history = tmp_path / "h.csv"
    history.write_text("not even read\n", encoding="utf-8")
    r = main_cli("calibrate", history, "-o", history)
    assert r.code == 73 and "also an input" in r.err, r.err
    assert history.read_text(encoding="utf-8") == "not even read\n"


def test_compare_refuses_to_overwrite_its_scenario(tmp_path: Path, main_cli) -> None:
    scenario = copy_minimal(tmp_path)
    r = main_cli("compare", scenario, "--set", "resources.sales.capacity=3", "-o", scenario)
    assert r.code == 73 and "also an input" in r.err, r.err
    assert scenario.read_bytes() == MINIMAL.read_bytes()


def test_the_pipeline_csv_is_an_input_too(tmp_path: Path, main_cli) -> None:
    (tmp_path / "deals.csv").write_text("id,type,stage\nD-1,standard,qualify\n", encoding="utf-8")
    text = MINIMAL.read_text(encoding="utf-8").split("pipeline:")[0]
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text + "pipeline: {csv: deals.csv}\n", encoding="utf-8")
    r = main_cli("report", scenario, "-n", "20", "-o", tmp_path / "deals.csv")
    assert r.code == 73 and "also an input" in r.err, r.err


# --- writability is checked before simulating ------------------------------------------------


def _no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the output should have been refused before simulating")

    # run and report import simulate from simsales.api when they run (lazy imports)
    monkeypatch.setattr("simsales.api.simulate", fail)


def test_an_unwritable_folder_is_reported_before_simulating(
    tmp_path: Path, main_cli, monkeypatch
) -> None:
    _no_simulation(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    r = main_cli("run", MINIMAL, "--out", blocker / "out")
    assert r.code == 73 and "cannot" in r.err, r.err
    r = main_cli("report", MINIMAL, "-o", blocker / "r.html")
    assert r.code == 73, r.err


def test_a_read_only_folder_is_reported_before_simulating(
    tmp_path: Path, main_cli, monkeypatch
) -> None:
    """A read-only tmpfs when it can be mounted (root), else a folder without write permission
    (an ordinary user), else an injected EROFS."""
    _no_simulation(monkeypatch)
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = _mount(folder, "ro,size=64k")
    try:
        if not mounted:
            if os.geteuid() != 0:
                folder.chmod(0o555)
            else:
                _inject_erofs(monkeypatch)
        r = main_cli("run", MINIMAL, "--out", folder / "out")
        assert r.code == 73, r.err
        assert "cannot write there" in r.err and str(folder / "out") in r.err
        assert "internal error" not in r.err
    finally:
        if mounted:
            _umount(folder)
        folder.chmod(0o755)


def _inject_erofs(monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    original = os.open

    def failing(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_CREAT:  # creating anything: what a read-only file system refuses
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return original(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outputs.os, "open", failing)


def _mount(folder: Path, options: str) -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    return done.returncode == 0


def _umount(folder: Path) -> None:
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)  # busy: detach


# --- disk full: an I/O error, the old result kept -------------------------------------------


def test_disk_full_keeps_the_old_result_on_a_small_tmpfs(
    tmp_path: Path, main_cli, old: Forecast
) -> None:
    folder = tmp_path / "small"
    folder.mkdir()
    if not _mount(folder, "size=400k"):
        pytest.skip("cannot mount a tmpfs here (not root); see the injected ENOSPC test")
    try:
        old.save(folder / "out")
        with open(folder / "filler", "wb", buffering=0) as f:  # fill what is left
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        r = main_cli("run", MINIMAL, "-n", "200", "--out", folder / "out")
        assert r.code == 74, r.err
        assert "disk is full" in r.err and str(folder / "out") in r.err
        assert _same(Forecast.load(folder / "out"), old)
        assert sorted(os.listdir(folder)) == ["filler", "out"]
    finally:
        _umount(folder)


def test_disk_full_injected_keeps_the_old_result(
    tmp_path: Path, main_cli, monkeypatch, old: Forecast
) -> None:
    old.save(tmp_path / "out")

    def full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(outputs, "_write_file", full)
    r = main_cli("run", MINIMAL, "-n", "20", "--out", tmp_path / "out")
    assert r.code == 74 and "disk is full" in r.err and "internal error" not in r.err, r.err
    assert _same(Forecast.load(tmp_path / "out"), old)
    assert sorted(os.listdir(tmp_path)) == ["out"]
    r = main_cli("report", MINIMAL, "-n", "20", "-o", tmp_path / "r.html")
    assert r.code == 74 and "disk is full" in r.err, r.err


# --- one writer at a time ---------------------------------------------------------------------


def test_a_second_writer_of_the_same_output_fails_clearly(
    tmp_path: Path, main_cli, old: Forecast
) -> None:
    target = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from simsales.io.outputs import claim
                with claim({str(target)!r}, "dir"):
                    print("locked", flush=True)
                    sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        r = main_cli("run", MINIMAL, "-n", "20", "--out", target)
        assert r.code == 75, r.err
        assert f"pid {holder.pid}" in r.err and "another simsales process" in r.err
        with pytest.raises(TemporaryFailureError):
            old.save(target)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    old.save(target)  # free again
    assert _same(Forecast.load(target), old)
    assert sorted(os.listdir(tmp_path)) == ["out"], "the lock file is removed"


def test_stale_temporaries_of_a_killed_writer_are_cleaned(tmp_path: Path, old: Forecast) -> None:
    old.save(tmp_path / "out")
    stale = tmp_path / ".out.tmp-999999-0badf00d"
    stale.mkdir()
    (stale / "visits.parquet").write_bytes(b"PAR1 truncated")
    (tmp_path / ".out.old-999999-0badf00d").mkdir()
    (tmp_path / ".other.tmp-1-2").mkdir()  # another output's: not ours to clean
    old.save(tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == [".other.tmp-1-2", "out"]


# --- one mode policy --------------------------------------------------------------------------


def test_every_output_follows_the_umask(tmp_path: Path, main_cli, umask_027: int) -> None:
    file_mode, dir_mode = 0o666 & ~umask_027, 0o777 & ~umask_027
    scenario = copy_minimal(tmp_path / "in")
    assert main_cli("run", scenario, "-n", "20", "--out", tmp_path / "out").code == 0
    assert main_cli("report", scenario, "-n", "20", "-o", tmp_path / "r.html").code == 0
    plan = main_cli("optimize", scenario, "--no-verify", "--out", tmp_path / "plan.yaml")
    assert plan.code == 0, plan.err
    compare = ("compare", scenario, "--set", "resources.sales.capacity=3", "-n", "20")
    assert main_cli(*compare, "--no-risks", "-o", tmp_path / "c.html").code == 0
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == dir_mode
    for name in os.listdir(tmp_path / "out"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == file_mode, name
    for name in ("r.html", "plan.yaml", "c.html"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == file_mode, name


def test_only_the_io_edge_swaps_files_in() -> None:
    """Every writer goes through simsales/io/outputs.py: no other module renames a temporary
    file into place or makes one of its own (issue 15, item 3)."""
    package = Path(simsales.__file__).parent
    edge = package / "io" / "outputs.py"
    found = [
        f"{path.relative_to(package)}:{n}"
        for path in sorted(package.rglob("*.py"))
        if path != edge
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(word in line for word in ("os.replace", "os.rename", "mkstemp", "NamedTemporary"))
    ]
    assert found == []
    assert "os.replace" in edge.read_text(encoding="utf-8")


def test_a_replaced_file_keeps_nothing_half_written(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    outputs.write_text(target, "one")
    outputs.write_text(target, "two")
    assert target.read_text(encoding="utf-8") == "two"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_tables_are_read_back_equal(tmp_path: Path, new: Forecast) -> None:
    new.save(tmp_path / "out")
    back = Forecast.load(tmp_path / "out")
    pd.testing.assert_frame_equal(back.deals, new.deals)


def test_a_users_file_added_to_a_results_folder_is_not_deleted(
    tmp_path: Path, main_cli, old: Forecast
) -> None:
    old.save(tmp_path / "res")
    notes = tmp_path / "res" / "my-notes.txt"
    notes.write_text("what I concluded", encoding="utf-8")
    r = main_cli("run", MINIMAL, "-n", "20", "--out", tmp_path / "res")
    assert r.code == 73 and "my-notes.txt" in r.err and "--force" in r.err, r.err
    assert notes.read_text(encoding="utf-8") == "what I concluded"
    assert _same(Forecast.load(tmp_path / "res"), old)


def test_temporaries_of_earlier_versions_are_cleaned_but_not_a_users_folder(
    tmp_path: Path, old: Forecast
) -> None:
    """Saves killed before this version left ``.out.XXXXXXXX/`` with a truncated table."""
    old.save(tmp_path / "out")
    (tmp_path / ".out.k3j4h5g6").mkdir()
    (tmp_path / ".out.k3j4h5g6" / "visits.parquet").write_bytes(b"PAR1 trunc")
    (tmp_path / ".out.old-4242").mkdir()
    (tmp_path / ".out.old-4242" / "deals.parquet").write_bytes(b"PAR1")
    (tmp_path / ".out.settings").mkdir()  # looks alike, but holds a file of the user's
    (tmp_path / ".out.settings" / "mine.txt").write_text("x", encoding="utf-8")
    old.save(tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == [".out.settings", "out"]
