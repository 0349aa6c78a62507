"""The bad-input corpus: every broken scenario gets a clear, located ScenarioError.

Each file in ``bad/`` starts with its expectation::

    # expect: 9: low (12) must be <= mode (9)
    # expect-file: data/bad_row.csv        (only when the problem is in another file)

``9`` is the 1-based line of the problem (``-`` when no line applies) and the rest is a fragment of
its text. A file's variants are applied too, since a broken variant is a broken scenario.
Inputs that cannot be committed as text (bad bytes, a directory, ...) are built in ``tmp_path``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simsales.cli import app
from simsales.errors import Problem, ScenarioError
from simsales.scenario.load import load, with_overlay

BAD = Path(__file__).parent / "bad"
CASES = sorted(BAD.glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (-|\d+): (.+)$")


def _expectation(path: Path) -> tuple[int | None, str, Path]:
    lines = path.read_bytes().decode("utf-8").splitlines()
    match = _EXPECT.match(lines[0])
    assert match, f"{path.name} must start with '# expect: LINE: fragment'"
    line = None if match[1] == "-" else int(match[1])
    file = path
    if len(lines) > 1 and lines[1].startswith("# expect-file: "):
        file = path.parent / lines[1].removeprefix("# expect-file: ").strip()
    return line, match[2], file


def _problems(path: Path) -> tuple[Problem, ...]:
    with pytest.raises(ScenarioError) as info:
        scenario = load(path)
        for name in scenario.variants:
            with_overlay(scenario, name)
    return info.value.problems


def _assert_reported(
    problems: tuple[Problem, ...], line: int | None, fragment: str, file: Path
) -> None:
    shown = "\n".join(str(p) for p in problems)
    hits = [p for p in problems if fragment in str(p)]
    assert hits, f"no problem mentions {fragment!r}:\n{shown}"
    problem = hits[0]
    assert problem.file is not None and Path(problem.file) == file, shown
    assert problem.line == line, shown
    assert str(problem).startswith(problem.file)
    assert all(p.file is not None and str(p).startswith(p.file) for p in problems), shown


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 45


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_bad_scenario(path: Path) -> None:
    line, fragment, file = _expectation(path)
    _assert_reported(_problems(path), line, fragment, file)


# --- inputs built at test time ----------------------------------------------------------------


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: bad\nstart: 2027-01-04\ndescription: caf\xe9\n")
    _assert_reported(_problems(path), 3, "not valid UTF-8 (byte 0xe9)", path)


def test_utf8_with_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    text = (BAD.parent.parent.parent / "scenarios" / "minimal.yaml").read_text(encoding="utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load(path).name == "Minimal pipeline"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("", "the file is empty"), ("  \n\n", "the file is empty"), ("# a comment\n", "a mapping")],
    ids=["empty", "blank", "comment-only"],
)
def test_empty_file(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(content)
    _assert_reported(_problems(path), None, fragment, path)


def test_directory(tmp_path: Path) -> None:
    _assert_reported(_problems(tmp_path), None, "is a directory", tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    _assert_reported(_problems(path), None, "no such file", path)


def test_unknown_variant_name() -> None:
    scenario = load(BAD.parent.parent.parent / "scenarios" / "enterprise-it.yaml")
    with pytest.raises(ScenarioError, match="unknown variant 'hire_presale'") as info:
        with_overlay(scenario, "hire_presale")
    assert "did you mean 'hire_presales'?" in str(info.value)


# --- the same through the command line --------------------------------------------------------

CLI_CASES = [
    "triangular_unordered",
    "typo_stage_key",
    "yaml_tab_indent",
    "yaml_billion_laughs",
    "yaml_python_object_tag",
    "bad_date",
    "csv_bad_row",
    "variant_typo_key",
]


@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_reports_bad_file(name: str) -> None:
    path = BAD / f"{name}.yaml"
    line, fragment, file = _expectation(path)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert fragment in result.stderr
    where = f"{file}:{line}:" if line is not None else f"{file}: "
    assert any(row.startswith(where) for row in result.stderr.splitlines()), result.stderr
    assert "Traceback" not in result.output


def test_cli_good_and_bad_files_together(tmp_path: Path) -> None:
    good = BAD.parent.parent.parent / "scenarios" / "minimal.yaml"
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(
        app, ["validate", str(good), str(BAD / "negative_capacity.yaml"), str(missing)]
    )
    assert result.exit_code == 2
    assert result.stdout.startswith(f"OK {good} (3 stages, 3 live deals, 0 variants)")
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"{BAD / 'negative_capacity.yaml'}:6:21: resources.sales.capacity")
    assert errors[1] == f"{missing}: no such file (check the path)"
    assert "Traceback" not in result.output


def test_cli_directory_and_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.stderr
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2 and "Missing argument" in result.output
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_main_turns_simsales_errors_into_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import simsales.cli

    def broken() -> None:
        raise ScenarioError([Problem("capacity must be >= 0", "resources.sales", "x.yaml", 3, 5)])

    monkeypatch.setattr(simsales.cli, "app", broken)
    with pytest.raises(SystemExit) as info:
        simsales.cli.main()
    assert info.value.code == 2
    assert capsys.readouterr().err == "x.yaml:3:5: resources.sales: capacity must be >= 0\n"


def test_console_script_on_a_bad_file() -> None:
    script = Path(sys.executable).parent / "simsales"
    if not script.exists():
        pytest.skip("the simsales console script is not installed")
    path = BAD / "rule_function_call.yaml"
    done = subprocess.run(
        [str(script), "validate", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"{path}:18:11: rules[0].when: calls are not allowed")
    assert "Traceback" not in done.stderr
