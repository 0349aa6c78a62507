"""``simsales run``: simulate a scenario and print the forecast (or its JSON summary)."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from simsales.commands.common import (
    AllowPath,
    Force,
    LocaleOption,
    console,
    esc,
    inputs_of,
    locale_option,
    print_warnings,
    reading,
)
from simsales.engine.budget import check_budget
from simsales.engine.model import compile_model
from simsales.engine.runner import Executor, simulate
from simsales.errors import SimsalesError
from simsales.i18n import translator
from simsales.io.outputs import claim
from simsales.results.forecast import FILES
from simsales.results.summary import Summary, summarize
from simsales.scenario.load import load

__all__ = ["register", "render_summary"]


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
        replications: Annotated[
            int | None, typer.Option("--replications", "-n", min=1, help="Default: the scenario's.")
        ] = None,
        seed: Annotated[int | None, typer.Option(min=0, help="Default: the scenario's.")] = None,
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
        yes: Annotated[
            bool,
            typer.Option(
                "--yes", help="Go on even when the run is estimated to need too much memory/time."
            ),
        ] = False,
        locale: LocaleOption = None,
    ) -> None:
        """Simulate SCENARIO and show per-deal, portfolio and resource forecasts."""
        language = locale_option(locale)
        if executor not in ("serial", "process", "dask"):
            raise typer.BadParameter(
                f"{executor!r} is not one of serial, process, dask", param_hint="--executor"
            )
        security = _security(tls_ca_file, tls_cert, tls_key)
        with reading(allow_path):
            s = load(scenario, variant=variant, overrides=overrides or (), overlays=overlays or ())
        print_warnings(s, scenario)
        n = s.simulation.replications if replications is None else replications
        check_budget(
            compile_model(s), n, s.simulation.seed if seed is None else seed, workers, yes=yes
        )
        mode: Executor = executor  # type: ignore[assignment]
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
        with target as output:
            forecast = simulate(
                s,
                replications=replications,
                seed=seed,
                workers=workers,
                executor=mode,
                progress=sys.stderr.isatty(),
                scheduler=scheduler,
                security=security,
            )
            if output is not None:
                forecast.save(output)
        summary = summarize(forecast)
        if as_json:
            typer.echo(json.dumps(summary.to_json(), ensure_ascii=False, indent=2))
            return
        render_summary(summary, console(), language)
        if out is not None:
            message = translator(language or summary.locale)("saved_forecast", path=out)
            console(stderr=True, markup=False).print(message)


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


def render_summary(summary: Summary, console: Console, locale: str | None = None) -> None:
    """Rich tables in the scenario's language (or ``locale``): live deals, revenue per period
    with targets, pools."""
    t = translator(locale or summary.locale)
    console.print(
        t("run_header", scenario=f"[bold]{esc(summary.scenario)}[/bold]",
          replications=summary.replications, seed=summary.seed),
        highlight=False,
    )  # fmt: skip
    deals = Table(title=t("run_deals_title", currency=summary.currency), title_justify="left")
    columns = ("deal", "win_probability", "close_p50", "close_p80", "expected_revenue")
    for col in columns:
        deals.add_column(t(col), justify="left" if col == "deal" else "right")
    for _, r in summary.deals.iterrows():
        deals.add_row(
            esc(r["deal"]),
            f"{t.percent(r['win_probability'])} "
            f"[{t.percent(r['win_probability_low'])}–{t.percent(r['win_probability_high'])}]",
            t.date(r["close_p50"]),
            t.date(r["close_p80"]),
            t.money(r["expected_revenue"]),
        )
    console.print(deals)
    console.print(t("decided_means"), style="dim")
    periods = Table(title=t("run_periods_title", currency=summary.currency), title_justify="left")
    for key, col in (("period", t("period")), ("mean", t("mean")), ("p10", "P10"),
                     ("p50", "P50"), ("p90", "P90"), ("target", t("target")),
                     ("p", t("p_meet"))):  # fmt: skip
        periods.add_column(col, justify="left" if key == "period" else "right")
    for _, r in summary.periods.iterrows():
        has_target = r["target"] == r["target"]
        periods.add_row(
            esc(t.period(r["period"])),
            t.money(r["mean"]),
            t.money(r["p10"]),
            t.money(r["p50"]),
            t.money(r["p90"]),
            t.money(r["target"]) if has_target else "",
            (
                f"{t.percent(r['target_probability'])} [{t.percent(r['target_probability_low'])}–"
                f"{t.percent(r['target_probability_high'])}]"
                if has_target
                else ""
            ),
        )
    console.print(periods)
    pools = Table(title=t("run_pools_title"), title_justify="left")
    for col in ("pool", "utilization", "mean_wait", "requests_per_run"):
        pools.add_column(t(col), justify="left" if col == "pool" else "right")
    for _, r in summary.resources.iterrows():
        pools.add_row(
            esc(r["pool"]),
            t.percent(r["utilization"]),
            t.number(r["mean_wait_days"], 1),
            t.number(r["requests"], 1),
        )
    console.print(pools)
