"""``simsales optimize``: a staffing plan (or named assignment), solved honestly and verified.

Exit codes: 0 when a plan was found (``optimal`` or ``feasible``), 3 when there is none
(``infeasible``, ``unbounded``, or ``not_solved`` within the time limit), 2 for bad input.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from simsales.commands.common import (
    AllowPath,
    EngineChoice,
    Seed,
    Xlsx,
    Yes,
    claim_file,
    console,
    esc,
    inputs_of,
    json_text,
    reading,
)
from simsales.engine.options import RunOptions
from simsales.errors import OptimizationError
from simsales.optimize.options import DEFAULT_TIME_LIMIT, OptimizeOptions

if TYPE_CHECKING:
    from simsales.optimize.plan import Plan


__all__ = ["EXIT_NO_PLAN", "optimize_command", "register", "render_plan"]

EXIT_NO_PLAN = 3


def _floors(items: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for text in items or []:
        label, sep, amount = text.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = math.nan
        if not sep or not label.strip() or not math.isfinite(value):
            raise OptimizationError(
                f"--revenue-floor {text!r}: expected PERIOD=AMOUNT, e.g. 2027Q1=1.2e7"
            )
        out[label.strip()] = value
    return out


def optimize_command(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    mode: Annotated[
        Literal["capacity", "assignment"],
        typer.Option(help="Plan headcount per pool and month, or who covers which deal."),
    ] = "capacity",
    people: Annotated[
        Path | None, typer.Option(help="assignment: CSV of person, role, hours_per_week.")
    ] = None,
    fit: Annotated[
        Path | None,
        typer.Option(help="assignment: CSV of person, deal, effort_multiplier, value_uplift."),
    ] = None,
    solver: Annotated[Literal["cbc", "highs"], typer.Option(help="The MILP solver.")] = "cbc",
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            min=0.01,
            help="Seconds per solve; stopped early, the plan is 'feasible' with its gap.",
        ),
    ] = DEFAULT_TIME_LIMIT,
    gap: Annotated[
        float | None,
        typer.Option(min=0.0, max=0.999, help="Stop at this relative gap (default: prove)."),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(min=0.0, help="capacity: ceiling on staff + mitigation spend."),
    ] = None,
    revenue_floors: Annotated[
        list[str] | None,
        typer.Option(
            "--revenue-floor",
            help="PERIOD=AMOUNT expected revenue floor (repeatable), e.g. 2027Q1=1.2e7.",
        ),
    ] = None,
    require_all: Annotated[
        bool, typer.Option("--require-all", help="Every deal must be pursued / staffed.")
    ] = False,
    allow_split: Annotated[
        bool, typer.Option("--allow-split", help="assignment: a role may be split.")
    ] = False,
    utilization: Annotated[
        float | None,
        typer.Option(min=0.01, max=1.0, help="capacity: plan people up to this busy share."),
    ] = None,
    slip_months: Annotated[
        int | None,
        typer.Option("--slip-months", min=0, help="capacity: months work may slip (queue)."),
    ] = None,
    churn: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="capacity: person-months of a pool's cost per person hired or released, "
            "where the scenario gives no hire_cost/release_cost (default 1; 0 = off).",
        ),
    ] = None,
    change_every: Annotated[
        int | None,
        typer.Option(
            "--change-every", min=1, help="capacity: change headcount at most every N months."
        ),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(help="capacity: a live deal that must be pursued (repeatable, or a,b)."),
    ] = None,
    robust: Annotated[
        int | None,
        typer.Option(
            min=2,
            help="capacity: fit the plan to K simulated futures (sample average "
            "approximation) instead of the mean demand; e.g. --robust 50.",
        ),
    ] = None,
    target_probability: Annotated[
        float | None,
        typer.Option(
            "--target-probability",
            min=0.0,
            max=1.0,
            help="with --robust: meet every revenue target in at least this share of the "
            "futures (a chance constraint), e.g. 0.8.",
        ),
    ] = None,
    replications: Annotated[
        int | None,
        typer.Option(
            "--replications", "-n", min=1, help="Default: 200 (with --robust: fresh futures)."
        ),
    ] = None,
    seed: Seed = None,
    variant: Annotated[
        str | None, typer.Option(help="Plan for one of the scenario's variants.")
    ] = None,
    check: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Simulate the plan against the base.")
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the plan as a scenario overlay (YAML)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the JSON result on stdout.")
    ] = False,
    xlsx: Xlsx = None,
    allow_path: AllowPath = None,
    yes: Yes = False,
    engine: EngineChoice = "auto",
) -> None:
    """Plan headcount, deals and mitigations (or who covers which deal) for SCENARIO."""
    from simsales.api import optimize
    from simsales.engine.vectorized import default_engine
    from simsales.results.budget import go_on
    from simsales.scenario.load import load

    if mode == "assignment" and people is None:
        raise typer.BadParameter("assignment mode needs --people CSV", param_hint="--people")
    if mode == "capacity" and (people is not None or fit is not None or allow_split):
        raise typer.BadParameter(
            "--people, --fit and --allow-split are for --mode assignment", param_hint="--mode"
        )
    capacity_only = {
        "--budget": budget,
        "--revenue-floor": revenue_floors or None,
        "--utilization": utilization,
        "--slip-months": slip_months,
        "--churn": churn,
        "--change-every": change_every,
        "--keep": keep or None,
        "--robust": robust,
        "--target-probability": target_probability,
    }
    if mode == "assignment" and any(v is not None for v in capacity_only.values()):
        given = [k for k, v in capacity_only.items() if v is not None]
        raise typer.BadParameter(
            f"{', '.join(given)} only apply to --mode capacity: the named assignment staffs "
            "deals within people's hours and has no budget, revenue floor, utilization, "
            "slip, churn or kept deal; leave them out",
            param_hint="--mode",
        )
    with reading(allow_path):
        s = load(scenario, variant=variant)
    err = console(stderr=True, markup=False)
    # claimed before solving: an output that is an input, or unwritable, fails at once
    inputs = inputs_of(s, scenario, people, fit)
    # the verification runs are bounded too
    with (
        go_on(yes),
        default_engine(engine),
        claim_file(out, inputs) as output,
        claim_file(xlsx, inputs) as workbook,
    ):
        # the parameters are named as OptimizeOptions' fields: they are passed on, not re-listed
        options = OptimizeOptions.of(
            {
                **ctx.params,
                "revenue_floors": _floors(revenue_floors),
                "keep": [k.strip() for item in keep or [] for k in item.split(",") if k.strip()],
            }
        )
        plan = optimize(s, options=options, run=RunOptions(replications, seed))
        if output is not None:
            if plan.solved:
                plan.write(output)
                if not as_json:
                    err.print(f"wrote the plan overlay to {out}")
            else:
                err.print(f"no plan written to {out}: the status is {plan.status}")
        if workbook is not None:
            from simsales.report.excel import plan_sheets, write_workbook

            write_workbook(workbook, plan_sheets(plan), s.locale)
            if not as_json:
                err.print(f"wrote {xlsx}")
    if as_json:
        typer.echo(json_text(plan.to_json()))
    else:
        render_plan(plan, console())
    if not plan.solved:
        raise typer.Exit(EXIT_NO_PLAN)


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize_command)


def _money(v: Any) -> str:
    return "–" if v is None or v != v else f"{v:,.0f}"


def render_plan(plan: Plan, console: Console) -> None:
    """Rich tables: status, headcount or assignments, deals, mitigations, verification.

    When the simulated plan is worse than the current staffing, that comes first, with why.
    """
    v = plan.verification
    if v is not None and v.best == "current":
        console.print(
            "[bold red]The current staffing is better than this plan[/bold red] on the "
            "simulated plan margin: keep the current staffing (the plan below is shown for "
            "reference).",
        )
        if v.explanation:
            console.print(v.explanation, markup=False)
    for f in [] if v is None else [f for f in v.floors if not f["met"]]:
        console.print(
            f"[bold red]Revenue floor {f['period']} MISSED on the simulated plan[/bold red]: "
            f"{_money(f['plan'])} [{_money(f['plan_low'])}, {_money(f['plan_high'])}] against "
            f"{_money(f['floor'])} (the model's floor has no queueing; try --robust K)"
        )
    gap = "" if plan.gap is None else f", gap {plan.gap:.3%}"
    console.print(
        f"[bold]{plan.mode} plan: {plan.status}[/bold]{gap}  ·  solver {plan.solver}  ·  "
        f"expected {'margin' if plan.mode == 'capacity' else 'value'} "
        f"{_money(plan.objective)} {plan.currency}"
    )
    for line in plan.diagnosis:
        console.print(f"  - {line}", markup=False)
    if not plan.solved:
        return
    if plan.headcount:
        heads = Table(
            title="Headcount per month (scenario's plan in brackets where different)",
            title_justify="left",
        )
        heads.add_column("pool")
        for label in plan.months:
            heads.add_column(label[2:], justify="right")
        for pool, row in plan.headcount.items():
            base = plan.base_headcount.get(pool, row)
            heads.add_row(
                pool, *[str(v) if v == b else f"{v} ({b})" for v, b in zip(row, base, strict=True)]
            )
        console.print(heads)
        moves = sum(sum(c["hired"]) + sum(c["released"]) for c in plan.changes.values())
        console.print(
            f"{moves} hire(s) and release(s) in the plan; hiring and release cost "
            f"{_money(plan.change_cost)} {plan.currency}, churn penalty (a preference, not money) "
            f"{_money(plan.churn_penalty)}",
            markup=False,
        )
    deals = Table(title=f"Live deals (expected value in {plan.currency})", title_justify="left")
    for col in ("deal", "decision", "win probability", "expected value"):
        deals.add_column(col, justify="left" if col in ("deal", "decision") else "right")
    for d in plan.deals:
        on = d.get("pursue", d.get("staffed"))
        word = ("pursue" if on else "drop") if "pursue" in d else ("staff" if on else "unstaffed")
        deals.add_row(d["id"], word, f"{d['win_probability']:.0%}", _money(d["expected_value"]))
    console.print(deals)
    if plan.assignments:
        table = Table(title="Assignments", title_justify="left")
        for col in ("deal", "role", "person", "share", "hours"):
            table.add_column(col, justify="right" if col in ("share", "hours") else "left")
        for a in plan.assignments:
            table.add_row(
                a["deal"], a["role"], esc(a["person"]), f"{a['share']:.0%}", f"{a['hours']:,.0f}"
            )
        console.print(table)
    if plan.mitigations:
        table = Table(title="Mitigations", title_justify="left")
        for col in ("risk", "fund", "benefit [95%]", "cost"):
            table.add_column(col, justify="left" if col in ("risk", "fund") else "right")
        for m in plan.mitigations:
            table.add_row(
                m["risk"],
                "yes" if m["fund"] else "no",
                f"{_money(m['benefit'])} [{_money(m['benefit_low'])}, {_money(m['benefit_high'])}]",
                _money(m["cost"]),
            )
        console.print(table)
    if plan.robust:
        render_robust(plan, console)
    if v is None:
        return
    table = Table(
        title=f"Verification: plan vs base, paired ({v.replications} replications, seed {v.seed})",
        title_justify="left",
    )
    for col in ("metric", "base", "plan", "difference [95%]"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for r in v.deltas:
        fmt = _pct if "probability" in r["metric"] or "utilization" in r["metric"] else _short
        mark = " *" if r["significant"] else ""
        shown = _date if r.get("unit") == "date" else fmt  # dates: ISO, difference in days
        table.add_row(
            r["metric"],
            shown(r["base"]),
            shown(r["variant"]),
            f"{fmt(r['difference'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]{mark}",
        )
    console.print(table)
    over = {k: n for k, n in v.over_capacity.items() if n}
    console.print(
        "no stage started above its pool's capacity"
        if not over
        else f"stage starts above capacity: {over}"
    )
    if v.floors:
        floors = Table(title="Revenue floors on the simulated plan", title_justify="left")
        for col in ("period", "floor", "plan [95%]", "P(reach)", "verdict"):
            floors.add_column(col, justify="left" if col in ("period", "verdict") else "right")
        for f in v.floors:
            verdict = ("met" if f["sure"] else "met (not surely)") if f["met"] else "MISSED"
            floors.add_row(
                f["period"],
                _money(f["floor"]),
                f"{_money(f['plan'])} [{_money(f['plan_low'])}, {_money(f['plan_high'])}]",
                f"{f['probability']:.0%}",
                verdict,
            )
        console.print(floors)
    rec = v.reconciliation
    if rec is not None:
        console.print(
            f"the optimizer claimed a {rec['figure']} of {_money(rec['claimed'])} "
            f"{plan.currency}; simulated: {_money(rec['simulated'])} "
            f"[{_money(rec['simulated_low'])}, {_money(rec['simulated_high'])}]"
            + ("" if rec["within_interval"] else " (the claim is outside the interval)"),
            markup=False,
        )
    if v.explanation and v.best != "current":
        console.print(v.explanation, markup=False)
    console.print(
        "plan_margin = gross margin - direct costs - mitigation - staff paid by headcount "
        "(the optimizer's objective); margin = the comparison's, people charged by busy days.",
        style="dim",
    )


def render_robust(plan: Plan, console: Console) -> None:
    """The optimizer's optimism: model vs engine on the fitted futures vs fresh futures."""
    a = plan.assumptions
    table = Table(
        title=f"Robust plan: in-sample ({a.get('robust_futures')} futures it was fitted on, "
        f"seed {a.get('seed')}) vs out-of-sample ({a.get('replications')} fresh futures, "
        f"seed {a.get('out_of_sample_seed')}), 95% intervals",
        title_justify="left",
    )
    for col in ("metric", "model", "in-sample (simulated)", "out-of-sample (simulated)"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for r in plan.robust:
        fmt = _pct if r["metric"].startswith("P(") else _short

        def cell(name: str, fmt: Any = fmt, r: dict[str, Any] = r) -> str:
            return f"{fmt(r.get(name))} [{fmt(r.get(name + '_low'))}, {fmt(r.get(name + '_high'))}]"

        table.add_row(r["metric"], fmt(r.get("model")), cell("in_sample"), cell("out_of_sample"))
    console.print(table)


def _short(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def _date(v: Any) -> str:
    return "after horizon" if v is None else str(v)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.1%}"
