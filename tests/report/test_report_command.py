"""``simsales report`` on a scenario file and on saved results (tried through register(app))."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from report_fixtures import SCENARIOS
from typer.testing import CliRunner

from simsales.commands.report import register
from simsales.errors import SimsalesError
from simsales.results.forecast import Forecast


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")  # a second command, so typer keeps "report" as a sub-command
    def _noop() -> None: ...

    return app


def test_report_of_a_scenario(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "report",
            str(SCENARIOS / "minimal.yaml"),
            "-o",
            str(out),
            "--replications",
            "12",
            "--seed",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Minimal pipeline" in html and "12 replications (seed 5)" in html


def test_report_of_saved_results(app: typer.Typer, enterprise: Forecast, tmp_path: Path) -> None:
    saved = enterprise.save(tmp_path / "results")
    out = tmp_path / "from-results.html"
    result = CliRunner().invoke(app, ["report", str(saved), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert f"{enterprise.replications} replications" in html
    assert "Shanghai Electric" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such.yaml"], "no such scenario file or results directory"),
        (["RESULTS", "--seed", "3"], "only apply when SOURCE is a scenario file"),
    ],
)
def test_user_mistakes_are_simsales_errors(
    app: typer.Typer, enterprise: Forecast, tmp_path: Path, args: list[str], message: str
) -> None:
    if args[0] == "RESULTS":
        args = [str(enterprise.save(tmp_path / "r")), *args[1:]]
    result = CliRunner().invoke(app, ["report", *args, "-o", str(tmp_path / "x.html")])
    assert isinstance(result.exception, SimsalesError)  # the CLI's main() turns it into exit 2
    assert message in str(result.exception)
    assert not (tmp_path / "x.html").exists()


def test_output_is_required(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["report", str(SCENARIOS / "minimal.yaml")])
    assert result.exit_code == 2
