"""``simsales report``: the self-contained HTML report of a scenario or of saved results."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from simsales.commands.common import (
    AllowPath,
    LocaleOption,
    console,
    inputs_of,
    locale_option,
    reading,
)
from simsales.engine.runner import simulate
from simsales.errors import SimsalesError
from simsales.io.outputs import claim, result_folder
from simsales.report.data import ReportData
from simsales.report.html import write_report
from simsales.results.forecast import FILES, Forecast
from simsales.scenario.load import load
from simsales.scenario.schema import Scenario

__all__ = ["load_or_simulate", "register"]


def load_or_simulate(
    source: Path | Scenario,
    replications: int | None = None,
    seed: int | None = None,
    variant: str | None = None,
    overlays: Sequence[Path] = (),
) -> Forecast:
    """A results directory (written by ``Forecast.save`` / ``run --out``) is read as it is; a
    scenario is simulated first: one already loaded as it is, a file with its ``variant`` and
    ``overlays`` files applied."""
    if isinstance(source, Path) and source.is_dir():
        if replications is not None or seed is not None or variant is not None or overlays:
            raise SimsalesError(
                f"{source} holds saved results: --replications, --seed, --variant and --overlay "
                "only apply when SOURCE is a scenario file"
            )
        return Forecast.load(source)
    if isinstance(source, Path) and not source.exists():
        raise SimsalesError(f"{source}: no such scenario file or results directory")
    scenario = source if isinstance(source, Scenario) else load(source, variant, overlays=overlays)
    return simulate(
        scenario,
        replications=replications,
        seed=seed,
        progress=sys.stderr.isatty(),
    )


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        source: Annotated[
            Path,
            typer.Argument(
                help="Scenario YAML file (simulated first) or a results directory saved by "
                "'simsales run --out'.",
                show_default=False,
            ),
        ],
        output: Annotated[
            Path, typer.Option("--output", "-o", help="HTML file to write.", show_default=False)
        ],
        replications: Annotated[
            int | None, typer.Option("--replications", "-n", min=1, help="Default: the scenario's.")
        ] = None,
        seed: Annotated[int | None, typer.Option(min=0, help="Default: the scenario's.")] = None,
        variant: Annotated[
            str | None, typer.Option(help="Apply one of the scenario's variants.")
        ] = None,
        allow_path: AllowPath = None,
        overlays: Annotated[
            list[Path] | None,
            typer.Option(
                "--overlay", help="Apply an overlay file, e.g. plan.yaml (repeatable, in order)."
            ),
        ] = None,
        locale: LocaleOption = None,
    ) -> None:
        """Write one self-contained HTML report (works offline) of a forecast."""
        language = locale_option(locale)
        if output.exists() and output.is_dir():
            raise SimsalesError(f"{output} is a directory; give the HTML file to write with -o")
        what: Path | Scenario = source
        if source.is_dir():
            inputs = [source, *(result_folder(source) / name for name in FILES)]
        elif source.exists():
            with reading(allow_path):
                what = load(source, variant=variant, overlays=overlays or ())
            inputs = inputs_of(what, source, *(overlays or []))
        else:
            inputs = []
        # claimed before simulating: an output that is an input, or unwritable, fails at once
        with claim(output, "file", inputs=inputs) as out:
            forecast = load_or_simulate(what, replications, seed, variant, overlays or [])
            write_report(ReportData(forecast, language), out)
        console(stderr=True, markup=False).print(f"wrote the report to {output}")
