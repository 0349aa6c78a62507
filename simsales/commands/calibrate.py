"""``simsales calibrate`` and ``simsales backtest``: learn a scenario from a CRM export, and
measure how well such scenarios forecast what really happened."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from simsales.calibrate.backtest import METHODS, BacktestResult, backtest
from simsales.calibrate.calibrate import BY, DURATIONS, Calibration, calibrate
from simsales.calibrate.history import History
from simsales.calibrate.importer import read_history
from simsales.calibrate.quality import DataReport
from simsales.calibrate.sources import ALL_PRESETS
from simsales.commands.common import console, esc
from simsales.errors import SimsalesError
from simsales.io.inputs import check_user_file
from simsales.io.outputs import Output, claim

__all__ = ["register", "render_backtest", "render_calibration", "render_report"]

EXIT_BAD_INPUT = 2

_Mapping = Annotated[
    Path | None, typer.Option("--mapping", help="Column mapping YAML (see simsales.calibrate).")
]
_Preset = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help=f"Source (default: recognised from the headers): {', '.join(ALL_PRESETS)}.",
    ),
]
_Encoding = Annotated[
    str | None,
    typer.Option("--encoding", help="CSV encoding, e.g. gb18030, latin-1 (default: detected)."),
]
_Timezone = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        help="Scenario time zone, e.g. Asia/Shanghai: timestamps with an offset are converted "
        "to it and its day counts (default: UTC).",
    ),
]
_Currency = Annotated[
    str | None,
    typer.Option(
        "--currency", help="Scenario currency values are converted to (default: the export's)."
    ),
]
_History = Annotated[
    Path,
    typer.Argument(
        help="CRM export: a CSV / .xlsx file, or a folder (Salesforce data export, PingCode, "
        "Worktile).",
        show_default=False,
    ),
]
_Columns = Annotated[
    list[str] | None,
    typer.Option("--column", help="FIELD=COLUMN, e.g. --column id='Opportunity ID' (repeatable)."),
]
_By = Annotated[str, typer.Option("--by", help=f"Deal types by {' | '.join(BY)} | none.")]
_Durations = Annotated[
    str,
    typer.Option(
        "--durations",
        help="Stage durations: lognormal (censored ML) | empirical (Kaplan-Meier).",
    ),
]
_Exported = Annotated[
    str | None,
    typer.Option("--exported", help="Date the export was taken (default: its latest date)."),
]
_Strict = Annotated[
    bool, typer.Option("--strict", help="Refuse (exit 2) if the export has data problems.")
]


def _console(stderr: bool = False) -> Console:
    return console(stderr)


def _fail(exc: SimsalesError) -> typer.Exit:
    console(stderr=True, markup=False).print(str(exc))
    return typer.Exit(exc.exit_code)


def _output(out: Path | None, *inputs: Path | None) -> Output | nullcontext[None]:
    """Claim -o before the long work: an output that is an input, or unwritable, fails at once."""
    return claim(out, "file", inputs=inputs) if out is not None else nullcontext(None)


def _columns(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in pairs or []:
        field, sep, col = text.partition("=")
        if not sep or not field.strip() or not col.strip():
            raise SimsalesError(f"--column {text!r}: write FIELD=COLUMN, e.g. id=opportunity_id")
        out[field.strip()] = col.strip()
    return out


def _by(text: str) -> Any:
    if text == "none":
        return None
    if text not in BY:
        raise SimsalesError(f"--by {text!r}: use one of {', '.join(BY)}, none")
    return text


def _durations(text: str) -> Any:
    if text not in DURATIONS:
        raise SimsalesError(f"--durations {text!r}: use one of {', '.join(DURATIONS)}")
    return text


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise SimsalesError(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None


def _read(
    history: Path,
    mapping: Path | None,
    preset: str | None,
    columns: list[str] | None,
    strict: bool,
    exported: str | None,
    encoding: str | None = None,
    timezone: str | None = None,
    currency: str | None = None,
) -> History:
    if timezone is not None:
        _check_timezone(timezone)
    # a folder export (Salesforce, PingCode, Worktile): each file in it is a user file
    files = sorted(f for f in history.iterdir() if f.is_file()) if history.is_dir() else [history]
    for f in files:
        check_user_file(f, what="CRM export")  # a regular file within the input limit
    return read_history(
        history,
        preset=preset,
        mapping_file=mapping,
        columns=_columns(columns),
        strict=strict,
        exported=_date(exported, "--exported"),
        encoding=encoding,
        timezone=timezone,
        currency=currency.upper() if currency else None,
    )


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SimsalesError(
            f"--timezone {name!r} is not a time zone; use an IANA name such as Asia/Shanghai, "
            "Europe/Berlin or UTC"
        ) from None


def _checked_yaml(c: Calibration) -> str:
    """The scenario text, after checking that it loads (the same check as ``-o``)."""
    import tempfile

    from simsales.errors import ScenarioError
    from simsales.scenario.load import load

    text = c.to_yaml()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calibrated.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load(path)
        except ScenarioError as exc:
            raise SimsalesError(
                f"the calibrated scenario does not load (not printed):\n{exc}"
            ) from None
    return text


def render_report(report: DataReport, console: Console) -> None:
    """The data-quality report as a table."""
    console.print(
        f"[bold]{esc(report.source)}[/bold]: {report.rows_read:,} rows read, "
        f"{report.deals_used:,} deals used"
    )
    if not report.issues:
        console.print("no data problems found")
        return
    table = Table(title="Data problems and notes", title_justify="left")
    for col in ("rule", "action", "rows", "what", "examples"):
        table.add_column(col, justify="right" if col == "rows" else "left", overflow="fold")
    for i in report.issues:
        examples = ", ".join(str(e) for e in i.examples[:3])
        table.add_row(esc(i.rule), esc(i.action), f"{i.rows:,}", esc(i.message), esc(examples))
    console.print(table)


def render_calibration(c: Calibration, console: Console) -> None:
    """What was fitted: stage durations and rates, deal types, arrivals, pipeline."""
    stages = Table(title=f"Stages (as of {c.as_of})", title_justify="left")
    for col in ("stage", "median days [95% CI]", "P90 days", "finished / open / truncated",
                "advance (win) rate [95% CrI]"):  # fmt: skip
        stages.add_column(col, justify="left" if col == "stage" else "right")
    for s in c.stages:
        lo, hi = s.duration.median_interval
        alo, ahi = s.advance.interval
        stages.add_row(
            esc(s.id),
            f"{s.duration.median:.1f} [{lo:.1f}, {hi:.1f}]",
            f"{s.duration.p90:.0f}",
            f"{s.duration.n_done:,} / {s.duration.n_open:,} / {s.duration.n_truncated:,}",
            f"{s.advance.mean:.3f} [{alo:.3f}, {ahi:.3f}] ({s.advance.successes:,}/"
            f"{s.advance.trials:,})",
        )
    console.print(stages)
    last = c.stages[-1].id
    types = Table(title=f"Deal types (by {c.by or 'nothing'})", title_justify="left")
    for col in ("type", "deals", "win rate [95% CrI]", "new per month [95% CI]",
                f"median value ({c.currency})", "won values"):  # fmt: skip
        types.add_column(col, justify="left" if col == "type" else "right")
    for g in c.groups:
        r = g.advance[last]
        lo, hi = r.interval
        a = g.arrivals
        types.add_row(
            esc(g.name),
            f"{g.deals:,}",
            f"{r.mean:.3f} [{lo:.3f}, {hi:.3f}]",
            f"{a.per_month:.1f} [{a.low:.1f}, {a.high:.1f}]",
            f"{g.value.median:,.0f}" if g.value else "–",
            f"{g.value.n:,}" if g.value else "0",
        )
    console.print(types)
    console.print(
        f"open pipeline at the end of {c.as_of}: {len(c.pipeline):,} deals; arrivals counted "
        f"from {c.arrivals_from}; {c.agents_active} agents active (not modelled as a pool)"
    )


def render_backtest(result: BacktestResult, console: Console) -> None:
    """Per-origin intervals against the truth, then coverage and Brier scores."""
    per = Table(
        title="Backtest: forecast 80% intervals against what happened", title_justify="left"
    )
    for col in ("as of", "until", "open", "won", "simsales", "pipeline", "revenue",
                "simsales ", "pipeline "):  # fmt: skip
        per.add_column(col, justify="right")
    for o in result.origins:
        cells = [str(o.as_of), str(o.until), f"{o.pipeline:,}", f"{o.actual['won']:.0f}"]
        for method in METHODS:
            lo, hi = o.interval(method, "won")
            mark = "" if o.inside(method, "won") else " ✗"
            cells.append(f"{lo:.0f}–{hi:.0f} ({o.pit(method, 'won'):.2f}){mark}")
        cells.append(f"{o.actual['revenue']:,.0f}")
        for method in METHODS:
            lo, hi = o.interval(method, "revenue")
            mark = "" if o.inside(method, "revenue") else " ✗"
            cells.append(f"{lo:,.0f}–{hi:,.0f} ({o.pit(method, 'revenue'):.2f}){mark}")
        per.add_row(*cells)
    console.print(per)
    console.print("(in brackets: PIT, the share of the forecast below the truth; ✗: outside)")
    summary = Table(title=f"Scores over {len(result.origins)} origins", title_justify="left")
    for col in ("forecast", "80% coverage: won", "80% coverage: revenue",
                "Brier (closed by until)", "Brier (all open)"):  # fmt: skip
        summary.add_column(
            col, justify="left" if col == "forecast" else "right", no_wrap=col == "forecast"
        )
    for method in METHODS:
        cells = ["simsales" if method == "simsales" else "stage-weighted pipeline"]
        for metric in ("won", "revenue"):
            c, lo, hi = result.coverage(method, metric)
            cells.append(f"{c:.0%} [{lo:.0%}, {hi:.0%}]")
        cells += [f"{result.brier(method):.4f}", f"{result.brier(method, all_open=True):.4f}"]
        summary.add_row(*cells)
    console.print(summary)


def register(app: typer.Typer) -> None:
    @app.command("calibrate")
    def calibrate_cmd(
        history: _History,
        out: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Scenario YAML to write (default: stdout)."),
        ] = None,
        mapping: _Mapping = None,
        preset: _Preset = None,
        columns: _Columns = None,
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="Use what was known then (default: the end).")
        ] = None,
        by: _By = "product",
        durations: _Durations = "lognormal",
        horizon: Annotated[
            str | None, typer.Option(help="Scenario horizon (default: six months after as-of).")
        ] = None,
        strict: _Strict = False,
        exported: _Exported = None,
        encoding: _Encoding = None,
        timezone: _Timezone = None,
        currency: _Currency = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the fits and the data report as JSON.")
        ] = False,
    ) -> None:
        """Fit a commented scenario to a CRM export: durations, win rates, values, arrivals and
        the open pipeline, as known at --as-of."""
        try:
            with _output(out, history, mapping) as output:
                h = _read(
                    history,
                    mapping,
                    preset,
                    columns,
                    strict,
                    exported,
                    encoding,
                    timezone,
                    currency,
                )
                c = calibrate(
                    h,
                    _date(as_of, "--as-of"),
                    by=_by(by),
                    horizon=_date(horizon, "--horizon"),
                    durations=_durations(durations),
                )
                if output is not None:
                    c.write(output)
                text = _checked_yaml(c) if out is None and not as_json else ""
        except SimsalesError as exc:
            raise _fail(exc) from None
        if as_json:
            typer.echo(json.dumps(c.to_json(), ensure_ascii=False, indent=2, default=str))
            if out is None:
                _console(stderr=True).print("(no -o: scenario not written)")
            return
        console = _console(stderr=out is None)
        render_report(h.report, console)
        render_calibration(c, console)
        if out is None:
            typer.echo(text, nl=False)
        else:
            console.print(f"wrote {esc(out)}")

    @app.command("backtest")
    def backtest_cmd(
        history: _History,
        as_of: Annotated[str, typer.Option("--as-of", help="Forecast origin (YYYY-MM-DD).")],
        until: Annotated[str, typer.Option("--until", help="End of the forecast window.")],
        origins: Annotated[
            str | None,
            typer.Option(
                help="More origins, comma-separated (rolling origin): each forecasts a window "
                "as long as (--as-of, --until]."
            ),
        ] = None,
        mapping: _Mapping = None,
        preset: _Preset = None,
        columns: _Columns = None,
        by: _By = "product",
        durations: _Durations = "lognormal",
        replications: Annotated[
            int, typer.Option("--replications", "-n", min=2, help="Per origin.")
        ] = 200,
        seed: Annotated[int, typer.Option(min=0)] = 0,
        workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
        strict: _Strict = False,
        exported: _Exported = None,
        encoding: _Encoding = None,
        timezone: _Timezone = None,
        currency: _Currency = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
        out: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Write a self-contained HTML report here."),
        ] = None,
    ) -> None:
        """Calibrate on what was known at --as-of, simulate to --until, and score the forecast
        (and the CRM's stage-weighted pipeline) against what really happened."""
        try:
            with _output(out, history, mapping) as output:
                h = _read(
                    history,
                    mapping,
                    preset,
                    columns,
                    strict,
                    exported,
                    encoding,
                    timezone,
                    currency,
                )
                windows = _windows(as_of, until, origins)
                log: Callable[[str], None] | None = (
                    (lambda msg: _console(stderr=True).print(msg)) if sys.stderr.isatty() else None
                )
                result = backtest(
                    h,
                    windows,
                    replications=replications,
                    seed=seed,
                    by=_by(by),
                    durations=_durations(durations),
                    workers=workers,
                    executor="process" if workers > 1 else "serial",
                    progress=log,
                )
                if output is not None:
                    from simsales.calibrate.backtest_html import write_backtest_html

                    write_backtest_html(result, output)
        except SimsalesError as exc:
            raise _fail(exc) from None
        if as_json:
            typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2, default=str))
            return
        console = _console()
        render_backtest(result, console)
        if out is not None:
            console.print(f"wrote {esc(out)}")


def _windows(as_of: str, until: str, origins: str | None) -> list[tuple[date, date]]:
    a, u = _date(as_of, "--as-of"), _date(until, "--until")
    assert a is not None and u is not None
    if u <= a:
        raise SimsalesError(f"--until {u} must be after --as-of {a}")
    windows = [(a, u)]
    for text in (origins or "").split(","):
        if text.strip():
            o = _date(text, "--origins")
            assert o is not None
            w = (o, window_end(a, u, o))
            if w not in windows:
                windows.append(w)
    return sorted(windows)


def window_end(as_of: date, until: date, origin: date) -> date:
    """The end of a window from ``origin`` as long as ``(as_of, until]``: whole months when
    both ends are month ends (2017-04-30 -> 2017-06-30 makes 2017-06-30 -> 2017-08-31), else
    the same number of days."""
    a, u, o = pd.Timestamp(as_of), pd.Timestamp(until), pd.Timestamp(origin)
    if a.is_month_end and u.is_month_end and o.is_month_end:
        months = (u.year - a.year) * 12 + u.month - a.month
        return (o + pd.offsets.MonthEnd(months)).date()
    return (o + (u - a)).date()
