"""``simsales report``: the self-contained HTML report of a scenario or of saved results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from simsales.commands.common import (
    AllowPath,
    Replications,
    Seed,
    Yes,
    console,
    inputs_of,
    reading,
    run_options,
)
from simsales.errors import SimsalesError
from simsales.io.outputs import claim, result_folder

if TYPE_CHECKING:
    from simsales.results.forecast import Forecast
    from simsales.scenario.schema import Scenario

__all__ = ["load_or_simulate", "register", "report"]


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
    from simsales.api import simulate
    from simsales.results.forecast import Forecast
    from simsales.scenario.load import load
    from simsales.scenario.schema import Scenario

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
    return simulate(scenario, options=run_options(replications, seed))


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
    replications: Replications = None,
    seed: Seed = None,
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
    yes: Yes = False,
) -> None:
    """Write one self-contained HTML report (works offline) of a forecast."""
    from simsales.report.html import write_report
    from simsales.results.budget import go_on
    from simsales.results.forecast import FILES
    from simsales.scenario.load import load

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
    with go_on(yes), claim(output, "file", inputs=inputs) as out:
        forecast = load_or_simulate(what, replications, seed, variant, overlays or [])
        write_report(forecast, out)
    console(stderr=True, markup=False).print(f"wrote the report to {output}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
