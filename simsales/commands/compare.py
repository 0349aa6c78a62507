"""``simsales compare``: the base and its variants with common random numbers, side by side."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from simsales.commands.common import (
    AllowPath,
    EngineChoice,
    LocaleOption,
    Replications,
    Seed,
    Workers,
    Xlsx,
    Yes,
    claim_file,
    console,
    esc,
    inputs_of,
    json_text,
    print_warnings,
    reading,
    run_options,
    with_locale,
)

if TYPE_CHECKING:
    from simsales.results.compare import Comparison
    from simsales.scenario.schema import Scenario

__all__ = ["compare", "register", "render_deltas"]

log = logging.getLogger(__name__)


def compare(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    variants: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            help="A variant of the scenario, or an overlay file such as plan.yaml "
            "(repeatable). Default: all of the scenario's.",
        ),
    ] = None,
    overlays: Annotated[
        list[Path] | None,
        typer.Option(
            "--overlay",
            help="Apply an overlay file to the base (and so to every variant) first (repeatable).",
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Quick change PATH=VALUE (repeatable); all --set together make one more "
            "variant, e.g. --set resources.presales.capacity=5.",
        ),
    ] = None,
    replications: Replications = None,
    seed: Seed = None,
    workers: Workers = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the JSON comparison on stdout.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write a self-contained HTML comparison here."),
    ] = None,
    risks: Annotated[
        bool,
        typer.Option(
            help="With -o: add what each risk costs and each mitigation saves (one more "
            "paired run per risk and mitigation; the count is announced before they start)."
        ),
    ] = True,
    xlsx: Xlsx = None,
    full: Annotated[
        bool, typer.Option("--full", help="Also list every live deal's P80 close date.")
    ] = False,
    explain_period: Annotated[
        str | None,
        typer.Option(
            "--explain",
            help="Explain each variant's change of this period's gap to target, e.g. 2027Q1 "
            "(the runs of 'simsales explain' for the base and every variant).",
        ),
    ] = None,
    yes: Yes = False,
    engine: EngineChoice = "auto",
    locale: LocaleOption = None,
    allow_path: AllowPath = None,
) -> None:
    """Simulate SCENARIO and its variants with the same random numbers; show the differences.

    Every variant meets the same luck as the base (common random numbers), so each
    difference comes with a sharp 95% interval; the unpaired half-width beside it is what two
    independent runs would have given.
    """
    from simsales.api import explain_comparison
    from simsales.engine.model import compile_model
    from simsales.engine.vectorized import default_engine
    from simsales.results.budget import check_budget, go_on
    from simsales.results.compare import compare_scenarios
    from simsales.results.risk_contribution import risk_runs
    from simsales.scenario.load import load

    err = console(stderr=True, markup=False)
    with reading(allow_path):
        base = with_locale(load(scenario, overlays=overlays or ()), locale)
        print_warnings(base, scenario)
        named = _variants(base, variants, overrides)
    n = base.simulation.replications if replications is None else replications
    first_seed = base.simulation.seed if seed is None else seed
    extra = len(risk_runs(base)) if out is not None and risks else 0
    check_budget(compile_model(base), n, first_seed, workers, runs=1 + len(named) + extra, yes=yes)
    options = run_options(replications, seed, workers)
    # claimed before simulating: an output that is an input, or unwritable, fails at once
    inputs = inputs_of(base, scenario, *(overlays or []))
    with (
        go_on(yes),
        default_engine(engine),
        claim_file(out, inputs) as output,
        claim_file(xlsx, inputs) as workbook,
    ):
        if extra:  # announced before any run, so it can be stopped and skipped
            err.print(
                f"-o adds {extra} paired simulations of {n:,} replications each (what each "
                "risk costs and each mitigation saves); --no-risks skips them"
            )
        comparison = compare_scenarios(base, named, options)
        if workbook is not None:
            from simsales.report.excel import comparison_sheets, write_workbook

            write_workbook(workbook, comparison_sheets(comparison), base.locale)
            err.print(f"wrote {xlsx}")
        if output is not None:
            from simsales.report.compare_html import write_compare_html
            from simsales.results.risk_contribution import contribution_of_risks

            contribution = None
            if extra:
                contribution = contribution_of_risks(
                    base,
                    options.replace(replications=comparison.replications, seed=comparison.seed),
                    base_forecast=comparison.base,
                )
            write_compare_html(comparison, output, contribution)
            err.print(f"wrote {out}")
    explained = (
        explain_comparison(comparison, explain_period, options=options)
        if explain_period is not None
        else {}
    )
    if as_json:
        data = comparison.to_json()
        for item in data["variants"]:
            if item["name"] in explained:
                item["explanation"] = explained[item["name"]].to_json()
        typer.echo(json_text(data))
        return
    render_deltas(comparison, console(), full=full)
    for delta in explained.values():
        for line in delta.findings:
            console().print(f"• {esc(line)}")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def _is_overlay_file(name: str) -> bool:
    """A ``--variant`` that names a YAML file rather than one of the scenario's variants."""
    return name.lower().endswith((".yaml", ".yml")) or Path(name).is_file()


def _variants(
    base: Scenario, names: list[str] | None, overrides: list[str] | None
) -> list[tuple[str, Scenario]]:
    """--variant names (all of the scenario's when no variant, file or --set is given), overlay
    files given as --variant (named by their file name), then --set."""
    from simsales.results.compare import resolve_variants
    from simsales.scenario.load import apply_overrides, with_overlay_files

    out: list[tuple[str, Scenario]] = []
    files = [n for n in names or [] if _is_overlay_file(n)]
    own = [n for n in names or [] if not _is_overlay_file(n)]
    if own or not (overrides or files):
        out.extend(resolve_variants(base, own or None))
    out.extend((Path(f).name, with_overlay_files(base, [f])) for f in files)
    if overrides:
        out.append((" ".join(f"--set {t}" for t in overrides), apply_overrides(base, overrides)))
    return out


def render_deltas(comparison: Comparison, console: Console, full: bool = False) -> None:
    """A table per variant: base, variant, paired difference [95% CI], paired vs unpaired width,
    in the base scenario's language (its ``locale``, or --locale)."""
    from simsales.i18n import translator
    from simsales.report.compare_format import format_row, is_key_metric, locale_of

    t = translator(locale_of(comparison))
    title = comparison.base.model.name if comparison.base.model else ""
    console.print(
        t("cmp_cli_header", name=f"[bold]{_escape(title)}[/bold]",
          replications=comparison.replications, seed=comparison.seed)
    )  # fmt: skip
    for name in comparison.variants:
        rows = comparison.deltas[comparison.deltas["name"] == name].to_dict("records")
        table = Table(title=t("cmp_vs_base", name=_escape(name)), title_justify="left")
        table.add_column(t("cmp_metric"))
        for key in ("cmp_base", "cmp_option", "cmp_difference", "ci95", "cmp_significant"):
            table.add_column(t(key), justify="right")
        table.add_column(f"{t('cmp_paired')} / {t('cmp_unpaired')}", justify="right")
        for r in rows:
            if not full and not is_key_metric(r["metric"]):
                continue
            f = format_row(r, comparison, t)
            table.add_row(
                _escape(f["label"]),
                f["base"],
                f["variant"],
                f["difference"],
                _escape(f["ci"]),
                f["significant"] if r["significant"] else "",
                f"{f['half_width']} / {f['unpaired_half_width']}",
                style="bold" if r["significant"] else None,
            )
        console.print(table)
    console.print(t("significant_note"), style="dim")


def _escape(text: str) -> str:
    return esc(text)
