"""Every case of "no silent wrong answer" through the real command line: exit code 2, one located
message (file:line:column and key), nothing written, never the internal-error path.

The broken files are the corpus of tests/scenario/bad (each states its line and message); the
others are built here. See test_revenue_period_cli.py for revenue in the right period.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import simsales.cli
import simsales.results.summary
from simsales.results import budget

Cli = Callable[..., tuple[int, str, str]]  # the simsales_cli fixture of conftest.py

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "scenario" / "bad"
DEFAULT = ROOT / "scenarios" / "enterprise-it.yaml"
MINIMAL = ROOT / "scenarios" / "minimal.yaml"
_EXPECT = re.compile(r"^# expect: (-|\d+): (.+)$")

CASES = [
    # 2. names that point at nothing, in variants; run refuses a file whose variants are broken
    "variant_new_pool_typo",
    "variant_field_on_unknown_pool",
    "variant_field_on_unknown_stage",
    "variant_new_deal_type_typo",
    # 3. crashes: deep nesting, loops no deal can leave (also one a variant makes)
    "yaml_deep_nesting",
    "yaml_deep_aliases",
    "rework_to_itself_p1",
    "rework_cycle_p1",
    "variant_loop_no_deal_can_leave",
    # 5. unlocated messages: bad unquoted dates, a full-width colon, the alias bomb
    "bad_date",
    "yaml_unquoted_month_13",
    "yaml_full_width_colon",
    "yaml_full_width_colon_in_flow",
    "yaml_billion_laughs",
    # 7. numbers at the edge, an empty working window
    "triangular_too_large",
    "lognormal_spread_too_wide",
    "deal_value_too_large",
    "rule_priority_infinite",
    "empty_working_window",
]


def _expectation(path: Path) -> tuple[int, str]:
    match = _EXPECT.match(path.read_text(encoding="utf-8").splitlines()[0])
    assert match and match[1] != "-", path
    return int(match[1]), match[2]


def _assert_refused(code: int, out: str, err: str, where: str, fragment: str) -> None:
    assert code == 2, err
    assert out == ""
    lines = err.splitlines()
    assert lines and lines[0].startswith(where), err
    assert fragment in err, err
    assert "internal error" not in err and "Traceback" not in err


@pytest.mark.parametrize("name", CASES)
def test_run_refuses_a_broken_file_located_and_writes_nothing(
    simsales_cli: Cli, tmp_path: Path, name: str
) -> None:
    path = BAD / f"{name}.yaml"
    line, fragment = _expectation(path)
    target = tmp_path / "forecast"
    began = time.perf_counter()
    code, out, err = simsales_cli("run", str(path), "-n", "5", "--out", str(target))
    _assert_refused(code, out, err, f"{path}:{line}:", fragment)
    # file:line:column, then the key path
    assert re.match(rf"{re.escape(str(path))}:{line}:\d+: [^ :]+: ", err), err
    assert not target.exists()
    # no case may take long (the 1000-level nesting used to take a minute)
    assert time.perf_counter() - began < 30


def test_validate_refuses_them_too(simsales_cli: Cli) -> None:
    paths = [BAD / f"{name}.yaml" for name in CASES]
    code, out, err = simsales_cli("validate", *map(str, paths))
    assert code == 2 and out == ""
    for path in paths:
        line, fragment = _expectation(path)
        rows = err.splitlines()
        assert any(r.startswith(f"{path}:{line}:") and fragment in r for r in rows), path
    assert "internal error" not in err


# --- 2. --set must name existing objects -----------------------------------------------------


def test_compare_set_on_a_typo_pool_is_refused(simsales_cli: Cli, tmp_path: Path) -> None:
    html = tmp_path / "compare.html"
    code, out, err = simsales_cli(
        "compare", str(DEFAULT), "--set", "resources.legl.capacity=4", "-n", "5", "-o", str(html)
    )
    where = "--set resources.legl.capacity=4: resources.legl: no pool 'legl' to change"
    _assert_refused(code, out, err, where, "did you mean 'legal'?")
    assert not html.exists()


def test_run_set_on_a_typo_pool_is_refused(simsales_cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out"
    args = ("run", str(MINIMAL), "-n", "5", "--out", str(target))
    code, out, err = simsales_cli(*args, "--set", "resources.sale.capacity=3")
    _assert_refused(code, out, err, "--set resources.sale.capacity=3: ", "did you mean 'sales'?")
    # a whole definition is explicit, but a pool nothing uses would change nothing
    code, out, err = simsales_cli(*args, "--set", "resources.sale={capacity: 3}")
    _assert_refused(code, out, err, "--set resources.sale={capacity: 3}: ", "used by no stage")
    assert not target.exists()


OVERLAYS = [
    # (overlay text, line:column of the problem, what is said)
    (
        "# a plan for a pool that is not there\nresources:\n  sale:\n"
        "    capacity_changes: [{from: 2027-03-01, capacity: 4}]\n",
        "3:3",
        "resources.sale: no pool 'sale' to change (did you mean 'sales'?",
    ),
    ("resources:\n  counsel: {capacity: 2}\n", "2:3", "new pool 'counsel' is used by no stage"),
    ("stages:\n  clos: {advance: 1}\n", "2:3", "no stage 'clos' to change (did you mean"),
    ("resources:\n  sales:\n    capcity: 3\n", "3:5", "unknown key 'capcity' (did you mean"),
]


@pytest.mark.parametrize(("text", "where", "fragment"), OVERLAYS)
@pytest.mark.parametrize("command", ["run", "compare", "report"])
def test_an_overlay_file_naming_nothing_is_refused_at_its_line(
    simsales_cli: Cli, tmp_path: Path, command: str, text: str, where: str, fragment: str
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    target = tmp_path / "written"
    output = {"run": "--out", "compare": "-o", "report": "-o"}[command]
    args = (command, str(MINIMAL), "--overlay", str(plan), "-n", "5", output, str(target))
    code, out, err = simsales_cli(*args)
    _assert_refused(code, out, err, f"{plan}:{where}: ", fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.yaml"]  # nothing written


def test_a_new_pool_that_is_used_is_fine(simsales_cli: Cli) -> None:
    code, out, err = simsales_cli(
        "run",
        str(MINIMAL),
        "-n",
        "5",
        "--json",
        "--set",
        "resources.counsel={capacity: 1}",
        "--set",
        "stages.close.needs.counsel=1",
    )
    assert code == 0, err
    assert '"id": "counsel"' in out


# --- 4. runaway runs -------------------------------------------------------------------------


def test_a_runaway_replication_count_is_refused_with_what_it_would_take(
    simsales_cli: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    code, out, err = simsales_cli("run", str(MINIMAL), "-n", "1000000000000", "--out", str(target))
    assert code == 2 and out == ""
    assert "1,000,000,000,000 replications would need about" in err
    assert "of memory" in err and "--yes" in err and "-n " in err
    assert not target.exists() and "internal error" not in err


def test_yes_goes_on(simsales_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "TIME_LIMIT_S", 0.0)  # every run is "too long" now
    args = ("run", str(MINIMAL), "-n", str(budget.PILOT_FROM), "--json")
    code, _, err = simsales_cli(*args)
    assert code == 2 and "the time limit is 0 s" in err
    code, out, err = simsales_cli(*args, "--yes")
    assert code == 0, err
    assert f'"replications": {budget.PILOT_FROM}' in out


@pytest.mark.parametrize(
    ("command", "output"),
    [
        ("run", ("--out", "forecast")),
        ("compare", ("--set", "resources.sales.capacity=5", "-o", "compare.html")),
        ("report", ("-o", "report.html")),
        ("optimize", ("--out", "plan.yaml")),  # its verification runs
    ],
)
def test_every_command_that_simulates_is_bounded(
    simsales_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str,
    output: tuple[str, str],
) -> None:  # fmt: skip
    monkeypatch.setattr(budget, "TIME_LIMIT_S", 0.0)  # every run is "too long" now
    written = tmp_path / output[-1]
    args = (command, str(MINIMAL), "-n", str(budget.PILOT_FROM), *output[:-1], str(written))
    code, out, err = simsales_cli(*args)
    assert code == 2 and out == "", err
    assert f"{budget.PILOT_FROM:,} replications" in err and "would need about" in err
    assert "the time limit is 0 s" in err and "--yes" in err
    assert "internal error" not in err and not written.exists()
    assert not list(tmp_path.iterdir())  # no temporary file left either
    code, out, err = simsales_cli(*args, "--yes")
    assert code == 0, err
    assert written.exists()


def test_simulate_in_python_is_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from simsales import simulate
    from simsales.errors import SimsalesError

    monkeypatch.setattr(budget, "TIME_LIMIT_S", 0.0)
    n = budget.PILOT_FROM
    with pytest.raises(SimsalesError, match=r"replications would need about .* yes=True"):
        simulate(MINIMAL, replications=n, progress=False)
    assert simulate(MINIMAL, replications=n, progress=False, yes=True).replications == n
    with budget.go_on():  # e.g. around a comparison or an optimization
        assert simulate(MINIMAL, replications=n, progress=False).replications == n
    with budget.go_on(False), pytest.raises(SimsalesError):
        simulate(MINIMAL, replications=n, progress=False)


def test_a_far_horizon_is_warned_with_its_line(simsales_cli: Cli, tmp_path: Path) -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace("horizon: 2027-06-30", "horizon: 2127-06-30")
    path = tmp_path / "typo.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = simsales_cli("run", str(path), "-n", "3", "--json")
    assert code == 0, err
    assert err.startswith(f"{path}:5:10: horizon: warning: the horizon 2127-06-30 is 100 years")
    code, out, err = simsales_cli("validate", str(path))
    assert code == 0 and out.startswith("OK ") and "warning: the horizon 2127-06-30" in err


def test_a_sure_rework_back_is_warned(simsales_cli: Cli, tmp_path: Path) -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace(
        "advance: 0.9}", "advance: 0.9, rework: {to: qualify, p: 1}}"
    )
    path = tmp_path / "loop.yaml"
    path.write_text(text, encoding="utf-8")
    code, _, err = simsales_cli("validate", str(path))
    assert code == 0
    assert err.startswith(f"{path}:13:")
    assert "stages[2].rework.p: warning: rework p = 1: no deal ever advances past 'close'" in err


# --- 6. honest internal errors ---------------------------------------------------------------


def test_an_internal_error_is_one_line_and_debug_shows_the_traceback(
    simsales_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    # the run command imports summarize when it runs (lazy imports), so it meets the broken one
    monkeypatch.setattr(simsales.results.summary, "summarize", broken)
    monkeypatch.delenv("SIMSALES_DEBUG", raising=False)
    code, out, err = simsales_cli("run", str(MINIMAL), "-n", "3")
    assert code == 1 and out == ""
    assert err.startswith("simsales: internal error: RuntimeError: boom")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    monkeypatch.setenv("SIMSALES_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        simsales_cli("run", str(MINIMAL), "-n", "3")
