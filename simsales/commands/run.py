"""``simsales run``: simulate a scenario and print the forecast (or its JSON summary)."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from simsales.commands.common import (
    AllowPath,
    Force,
    Replications,
    Seed,
    Yes,
    console,
    esc,
    inputs_of,
    print_warnings,
    reading,
    run_options,
)
from simsales.errors import SimsalesError
from simsales.io.outputs import claim

if TYPE_CHECKING:
    from simsales.results.summary import Summary


__all__ = ["register", "render_summary", "run"]


def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    replications: Replications = None,
    seed: Seed = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes or Dask tasks.")] = 1,
    executor: Annotated[
        str, typer.Option(help="serial | process | dask (same numbers for every choice).")
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
            help="Save the forecast (Parquet + provenance) in this folder; an existing "
            "folder is replaced only if simsales made it."
        ),
    ] = None,
    force: Force = False,
    allow_path: AllowPath = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the JSON summary on stdout.")
    ] = False,
    yes: Yes = False,
) -> None:
    """Simulate SCENARIO and show per-deal, portfolio and resource forecasts."""
    from simsales.api import simulate
    from simsales.results.budget import go_on
    from simsales.results.forecast import FILES
    from simsales.results.rollups import portfolio_views
    from simsales.results.summary import summarize
    from simsales.scenario.load import load

    if executor not in ("serial", "process", "dask"):
        raise typer.BadParameter(
            f"{executor!r} is not one of serial, process, dask", param_hint="--executor"
        )
    options = run_options(
        replications,
        seed,
        workers,
        executor,  # type: ignore[arg-type]
        scheduler=scheduler,
        security=_security(tls_ca_file, tls_cert, tls_key),
    )
    with reading(allow_path):
        s = load(scenario, variant=variant, overrides=overrides or (), overlays=overlays or ())
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
    with go_on(yes), target as output:  # simulate checks the memory/time budget
        forecast = simulate(s, options=options)
        if output is not None:
            forecast.save(output)
    summary = summarize(forecast)
    if as_json:
        data = summary.to_json()
        data["portfolio"].update(portfolio_views(forecast, s))  # categories, roll-ups
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    render_summary(summary, console())
    if out is not None:
        console(stderr=True, markup=False).print(f"saved the forecast to {out}")


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


def _money(v: Any) -> str:
    """Short enough for a terminal: 845,934 / 10.25M."""
    if v is None or v != v:
        return "–"
    return f"{v / 1e6:,.2f}M" if abs(v) >= 1e6 else f"{v:,.0f}"


def _date(v: Any) -> str:
    return "after horizon" if v is None else str(v)


def render_summary(summary: Summary, console: Console) -> None:
    """Rich tables: live deals, revenue per period with targets, pools."""
    console.print(
        f"[bold]{esc(summary.scenario)}[/bold]  ·  {summary.replications} replications  ·  "
        f"seed {summary.seed}  ·  95% intervals in brackets",
        highlight=False,
    )
    deals = Table(title=f"Live deals (revenue in {summary.currency})", title_justify="left")
    columns = ("deal", "win probability", "P50 close", "P80 close", "expected revenue")
    for col in columns:
        deals.add_column(col, justify="left" if col == "deal" else "right")
    for _, r in summary.deals.iterrows():
        deals.add_row(
            esc(r["deal"]),
            f"{r['win_probability']:.0%} "
            f"[{r['win_probability_low']:.0%}–{r['win_probability_high']:.0%}]",
            _date(r["close_p50"]),
            _date(r["close_p80"]),
            _money(r["expected_revenue"]),
        )
    console.print(deals)
    periods = Table(title=f"Won revenue per period ({summary.currency})", title_justify="left")
    for col in ("period", "mean", "P10", "P50", "P90", "target", "P(meet target)"):
        periods.add_column(col, justify="left" if col == "period" else "right")
    for _, r in summary.periods.iterrows():
        has_target = r["target"] == r["target"]
        periods.add_row(
            esc(r["period"]),
            _money(r["mean"]),
            _money(r["p10"]),
            _money(r["p50"]),
            _money(r["p90"]),
            _money(r["target"]) if has_target else "",
            (
                f"{r['target_probability']:.0%} [{r['target_probability_low']:.0%}–"
                f"{r['target_probability_high']:.0%}]"
                if has_target
                else ""
            ),
        )
    console.print(periods)
    pools = Table(title="People pools", title_justify="left")
    for col in ("pool", "utilization", "mean wait (days)", "requests per run"):
        pools.add_column(col, justify="left" if col == "pool" else "right")
    for _, r in summary.resources.iterrows():
        wait = r["mean_wait_days"]
        pools.add_row(
            esc(r["pool"]),
            f"{r['utilization']:.0%}",
            "–" if wait != wait else f"{wait:.1f}",
            f"{r['requests']:.1f}",
        )
    console.print(pools)
