"""``simsales run``: simulate a scenario and print the forecast (or its JSON summary)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from simsales.commands.common import (
    AllowPath,
    EngineChoice,
    Force,
    LocaleOption,
    Replications,
    Seed,
    Xlsx,
    Yes,
    claim_file,
    console,
    inputs_of,
    json_text,
    print_warnings,
    reading,
    run_options,
    with_locale,
)
from simsales.errors import SimsalesError
from simsales.io.outputs import claim

if TYPE_CHECKING:
    pass


__all__ = ["register", "run"]


def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    replications: Replications = None,
    seed: Seed = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes or Dask tasks.")] = 1,
    executor: Annotated[
        Literal["serial", "process", "dask"],
        typer.Option(help="Where replications run (the same numbers for every choice)."),
    ] = "serial",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address, e.g. tcp://host:8786 or tls://host:8786 (with the "
            "--tls-* files). Dask pickles the model: connect only to trusted clusters."
        ),
    ] = None,
    tls_ca_file: Annotated[
        Path | None, typer.Option("--tls-ca-file", help="TLS: the cluster's CA certificate.")
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="TLS: this client's certificate.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="TLS: this client's private key.")
    ] = None,
    variant: Annotated[
        str | None, typer.Option(help="Apply one of the scenario's variants.")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Quick change PATH=VALUE, e.g. resources.sales.capacity=9."),
    ] = None,
    overlays: Annotated[
        list[Path] | None,
        typer.Option(
            "--overlay",
            help="Apply an overlay file, e.g. a plan from 'simsales optimize --out' "
            "(repeatable; applied in order, after --variant).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Save the forecast (Parquet + provenance) in this folder; an existing "
            "folder is replaced only if simsales made it.",
        ),
    ] = None,
    force: Force = False,
    xlsx: Xlsx = None,
    allow_path: AllowPath = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the JSON summary on stdout.")
    ] = False,
    yes: Yes = False,
    engine: EngineChoice = "auto",
    locale: LocaleOption = None,
) -> None:
    """Simulate SCENARIO and show per-deal, portfolio and resource forecasts."""
    from simsales.api import simulate
    from simsales.engine.vectorized import default_engine
    from simsales.results.budget import go_on
    from simsales.results.forecast import FILES
    from simsales.results.rollups import portfolio_views
    from simsales.results.summary import summarize
    from simsales.scenario.load import load

    options = run_options(  # --executor's choices are checked by the command line
        replications,
        seed,
        workers,
        executor,
        scheduler=scheduler,
        security=_security(tls_ca_file, tls_cert, tls_key),
    )
    with reading(allow_path):
        s = load(scenario, variant=variant, overrides=overrides or (), overlays=overlays or ())
    s = with_locale(s, locale)
    print_warnings(s, scenario)
    # claimed before simulating: a refused or unwritable --out is reported at once
    target = (
        claim(
            out,
            "dir",
            force=force,
            inputs=inputs_of(s, scenario, *(overlays or [])),
            legacy=FILES,
        )
        if out is not None
        else nullcontext(None)
    )
    with (
        go_on(yes),
        default_engine(engine),
        target as output,
        claim_file(xlsx, inputs_of(s, scenario, *(overlays or []))) as book,
    ):  # simulate checks the memory/time budget
        forecast = simulate(s, options=options)
        if output is not None:
            forecast.save(output)
        summary = summarize(forecast)
        if book is not None:
            from simsales.io.workbook import write_workbook

            write_workbook(book, summary.sheets(), s.locale)
    if as_json:
        data = summary.to_json()
        data["portfolio"].update(portfolio_views(forecast, s))  # categories, roll-ups
        typer.echo(json_text(data))
        return
    from simsales.report.terminal import render_summary

    hint = f"simsales report {scenario} -o report.html"
    render_summary(summary, console(), s.locale, next_step=hint)
    if out is not None:
        console(stderr=True, markup=False).print(f"saved the forecast to {out}")
    if xlsx is not None:
        console(stderr=True, markup=False).print(f"wrote {xlsx}")


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def _security(ca: Path | None, cert: Path | None, key: Path | None) -> Any:
    """A Dask TLS configuration from the --tls-* files (None: the Dask config's defaults)."""
    if ca is None and cert is None and key is None:
        return None
    missing = [flag for flag, v in (("--tls-ca-file", ca), ("--tls-cert", cert)) if v is None]
    if missing:
        raise SimsalesError(f"TLS needs {' and '.join(missing)} as well")
    for path in (ca, cert, key):
        if path is not None and not path.is_file():
            raise SimsalesError(f"{path}: no such TLS file")
    try:
        from distributed.security import Security
    except ImportError:
        raise SimsalesError(
            "the dask executor needs 'distributed': pip install 'simsales[dask]'"
        ) from None
    return Security(
        tls_ca_file=str(ca),
        tls_client_cert=str(cert),
        tls_client_key=None if key is None else str(key),
        require_encryption=True,
    )
