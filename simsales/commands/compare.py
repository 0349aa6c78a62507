"""``simsales compare``: the base and its variants with common random numbers, side by side."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from simsales.commands.common import (
    AllowPath,
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
from simsales.engine.runner import Executor
from simsales.i18n import translator
from simsales.io.outputs import claim
from simsales.report.compare_format import format_row, is_key_metric, locale_of
from simsales.results.compare import Comparison, compare_scenarios, resolve_variants
from simsales.scenario.load import apply_overrides, load, with_overlay_files
from simsales.scenario.schema import Scenario

__all__ = ["register", "render_deltas"]


def register(app: typer.Typer) -> None:
    @app.command("compare")
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
                help="Apply an overlay file to the base (and so to every variant) first "
                "(repeatable).",
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
        replications: Annotated[
            int | None, typer.Option("--replications", "-n", min=1, help="Default: the scenario's.")
        ] = None,
        seed: Annotated[int | None, typer.Option(min=0, help="Default: the scenario's.")] = None,
        workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print only the JSON comparison on stdout.")
        ] = False,
        locale: LocaleOption = None,
        out: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Write a self-contained HTML comparison here."),
        ] = None,
        risks: Annotated[
            bool,
            typer.Option(help="With -o: add the risk contribution (one more run per risk)."),
        ] = True,
        full: Annotated[
            bool, typer.Option("--full", help="Also list every live deal's P80 close date.")
        ] = False,
        yes: Annotated[
            bool,
            typer.Option(
                "--yes", help="Go on even when the runs are estimated to need too much memory/time."
            ),
        ] = False,
        allow_path: AllowPath = None,
    ) -> None:
        """Simulate SCENARIO and its variants with the same random numbers; show the differences.

        Every variant meets the same luck as the base (common random numbers), so each
        difference comes with a sharp 95% interval; the unpaired half-width beside it is what two
        independent runs would have given.
        """
        language = locale_option(locale)
        err = console(stderr=True, markup=False)
        with reading(allow_path):
            base = load(scenario, overlays=overlays or ())
            print_warnings(base, scenario)
            named = _variants(base, variants, overrides)
        n = base.simulation.replications if replications is None else replications
        first_seed = base.simulation.seed if seed is None else seed
        check_budget(compile_model(base), n, first_seed, workers, runs=1 + len(named), yes=yes)
        mode: Executor = "process" if workers > 1 else "serial"
        progress = sys.stderr.isatty()
        # claimed before simulating: an output that is an input, or unwritable, fails at once
        target = (
            claim(out, "file", inputs=inputs_of(base, scenario, *(overlays or [])))
            if out is not None
            else nullcontext(None)
        )
        with target as output:
            comparison = compare_scenarios(
                base, named, replications, seed, workers, mode, progress, messages=err.print
            )
            if output is not None:
                from simsales.report.compare_html import write_compare_html
                from simsales.results.risk_contribution import risk_contribution

                contribution = None
                if risks and base.risks:
                    err.print("risk contribution: one paired run per risk and mitigation")
                    contribution = risk_contribution(
                        base,
                        comparison.replications,
                        comparison.seed,
                        workers,
                        mode,
                        progress,
                        messages=err.print,
                        base_forecast=comparison.base,
                    )
                write_compare_html(comparison, output, contribution, language)
                err.print(f"wrote {out}")
        if as_json:
            typer.echo(json.dumps(comparison.to_json(), ensure_ascii=False, indent=2))
            return
        render_deltas(comparison, console(), full=full, locale=language)


def _is_overlay_file(name: str) -> bool:
    """A ``--variant`` that names a YAML file rather than one of the scenario's variants."""
    return name.lower().endswith((".yaml", ".yml")) or Path(name).is_file()


def _variants(
    base: Scenario, names: list[str] | None, overrides: list[str] | None
) -> list[tuple[str, Scenario]]:
    """--variant names (all of the scenario's when no variant, file or --set is given), overlay
    files given as --variant (named by their file name), then --set."""
    out: list[tuple[str, Scenario]] = []
    files = [n for n in names or [] if _is_overlay_file(n)]
    own = [n for n in names or [] if not _is_overlay_file(n)]
    if own or not (overrides or files):
        out.extend(resolve_variants(base, own or None))
    out.extend((Path(f).name, with_overlay_files(base, [f])) for f in files)
    if overrides:
        out.append((" ".join(f"--set {t}" for t in overrides), apply_overrides(base, overrides)))
    return out


def render_deltas(
    comparison: Comparison, console: Console, full: bool = False, locale: str | None = None
) -> None:
    """A table per variant: base, variant, paired difference [95% CI], paired vs unpaired width,
    in the base scenario's language."""
    t = translator(locale or locale_of(comparison))
    name = comparison.base.model.name if comparison.base.model else ""
    console.print(
        t("cmp_cli_header", name=f"[bold]{_escape(name)}[/bold]",
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
