"""``simsales explain``: why a period's expected revenue falls short of its target."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from simsales.commands.common import (
    AllowPath,
    EngineChoice,
    Replications,
    Seed,
    Workers,
    Yes,
    console,
    esc,
    inputs_of,
    json_text,
    print_warnings,
    reading,
    run_options,
)
from simsales.io.outputs import claim
from simsales.results.schema_version import SCHEMA_VERSION

if TYPE_CHECKING:
    from simsales.results.explain import Explanation


__all__ = ["explain", "register", "render_explanation"]

log = logging.getLogger(__name__)


def explain(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    period: Annotated[
        str,
        typer.Option(help="The target period to explain, e.g. 2027Q1.", show_default=False),
    ],
    target: Annotated[
        float | None,
        typer.Option(min=0, help="Explain against this target instead of the scenario's."),
    ] = None,
    variant: Annotated[
        str | None, typer.Option(help="Apply one of the scenario's variants.")
    ] = None,
    replications: Replications = None,
    seed: Seed = None,
    workers: Workers = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the JSON explanation on stdout.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the explanation as HTML here.")
    ] = None,
    yes: Yes = False,
    engine: EngineChoice = "auto",
    allow_path: AllowPath = None,
) -> None:
    """Split the gap between PERIOD's target and its expected revenue into what causes it.

    Pools (queueing, from runs with unlimited people), risks (runs without each), deals (lost),
    stages (deals still in them when the period ends) and coverage; they add up to the gap.
    """
    from simsales.api import explain as explain_gap
    from simsales.engine.model import compile_model
    from simsales.results.budget import check_budget, go_on
    from simsales.results.explain import relaxations
    from simsales.scenario.load import load

    err = console(stderr=True, markup=False)
    with reading(allow_path):
        s = load(scenario, variant=variant)
    print_warnings(s, scenario)
    n = s.simulation.replications if replications is None else replications
    first_seed = s.simulation.seed if seed is None else seed
    runs = 1 + len(relaxations(s))
    check_budget(compile_model(s), n, first_seed, workers, runs=runs, yes=yes)
    target_file = (
        claim(out, "file", inputs=inputs_of(s, scenario)) if out is not None else nullcontext(None)
    )
    from simsales.engine.vectorized import default_engine

    with (
        go_on(yes),
        default_engine(engine),
        target_file as output,
    ):  # every paired run inside goes on too
        log.info("explain %s: %d paired runs of %d replications", period, runs, n)
        explanation = explain_gap(
            s,
            period,
            target=target,
            options=run_options(replications, seed, workers),
        )
        if output is not None:
            from simsales.report.explain_html import write_explanation

            write_explanation(explanation, output, s.name)
            err.print(f"wrote {out}")
    if as_json:
        document = {"schema_version": SCHEMA_VERSION, **explanation.to_json()}
        typer.echo(json_text(document))
        return
    render_explanation(explanation)


def render_explanation(explanation: Explanation) -> None:
    from simsales.i18n import translator
    from simsales.report.explain_html import contribution_rows

    out = console()
    t = translator(explanation.locale)
    for line in explanation.findings:
        out.print(f"• {esc(line)}")
    table = Table(title=t("xp_table_title"), title_justify="left")
    table.add_column(t("xp_kind"))
    table.add_column(t("xp_what"))
    table.add_column(t("xp_contribution"), justify="right")
    table.add_column(t("xp_ci"), justify="right")
    for r in contribution_rows(explanation, t):
        table.add_row(r["kind"], esc(r["label"]), r["value"], r["ci"])
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
