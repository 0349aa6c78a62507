"""``simsales calibrate`` and ``simsales backtest``: learn a scenario from a CRM export, and
measure how well such scenarios forecast what really happened."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from simsales.calibrate.choices import ALL_PRESETS, BY, DURATIONS
from simsales.commands.common import (
    EngineChoice,
    Xlsx,
    Yes,
    console,
    esc,
    json_text,
    locale_option,
)
from simsales.errors import SimsalesError
from simsales.io.inputs import check_user_file
from simsales.io.outputs import Output, claim

if TYPE_CHECKING:
    from simsales.calibrate.backtest import BacktestResult
    from simsales.calibrate.calibrate import Calibration
    from simsales.calibrate.history import History
    from simsales.calibrate.quality import DataReport


__all__ = ["register", "render_backtest", "render_calibration", "render_report"]

EXIT_BAD_INPUT = 2

_Mapping = Annotated[
    Path | None,
    typer.Option("--mapping", help="Column mapping YAML: shape, columns, labels (see README)."),
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
        "to it and its day counts (default: each keeps its own wall-clock time).",
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
_Locale = Annotated[  # a CRM export has no locale: English unless asked
    str | None,
    typer.Option(
        "--locale",
        help="Language of the -o page and the --xlsx sheets: en or zh-CN (default: en).",
        show_default=False,
    ),
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
    from simsales.calibrate.importer import read_history

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
    # which column fed which field: one line, read before the table's notes on those columns
    issues = [i for i in report.issues if i.rule != "columns"]
    for i in report.issues:
        if i.rule == "columns":
            console.print(esc(i.message))
    if not issues:
        console.print("no data problems found")
        return
    table = Table(title="Data problems and notes", title_justify="left")
    for col in ("rule", "action", "rows", "what", "examples"):
        table.add_column(col, justify="right" if col == "rows" else "left", overflow="fold")
    for i in issues:
        examples = ", ".join(str(e) for e in i.examples[:3])
        table.add_row(esc(i.rule), esc(i.action), f"{i.rows:,}", esc(i.message), esc(examples))
    console.print(table)


def render_calibration(c: Calibration, console: Console) -> None:
    """What was fitted: stage durations and rates, deal types, arrivals, pipeline."""
    stages = Table(title=f"Stages (as of {c.as_of})", title_justify="left")
    for col in ("stage", "median days (Kaplan-Meier) [95% CI]", "P90 days",
                "finished / open / truncated", "advance (win) rate [95% CrI]"):  # fmt: skip
        stages.add_column(col, justify="left" if col == "stage" else "right")
    for s in c.stages:
        km = s.observed or s.duration
        lo, hi = km.median_interval
        alo, ahi = s.advance.interval
        stages.add_row(
            esc(s.id),
            f"{km.median:.1f} [{lo:.1f}, {hi:.1f}]",
            f"{s.duration.p90:.0f}",
            f"{s.duration.n_done:,} / {s.duration.n_open:,} / {s.duration.n_truncated:,}",
            f"{s.advance.mean:.3f} [{alo:.3f}, {ahi:.3f}] ({s.advance.successes:,}/"
            f"{s.advance.trials:,})",
        )
    console.print(stages)
    last = c.stages[-1].id
    types = Table(
        title=f"Deal types (by {c.by})" if c.by else "Deal types (all deals as one)",
        title_justify="left",
    )
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
        f"from {c.arrivals_from}; {c.agents_active} agent{'s' if c.agents_active != 1 else ''} "
        "active (not modelled as a pool)"
    )


def render_backtest(result: BacktestResult, console: Console, locale: str = "en") -> None:
    """Per-origin intervals of every forecast against the truth, then the scores, in the
    locale's words: one row per forecast (and one for the actual) so the tables fit an
    80-column terminal whatever the number of forecasts; revenue in compact money."""
    from simsales.calibrate.backtest import METRICS, SCORES
    from simsales.i18n import translator

    t = translator(locale)
    names = result.names

    def amount(metric: str, v: float) -> str:
        return t.money(v) if metric == "revenue" else t.number(v)

    def short(name: str) -> str:
        return t(f"bt_cli_{name}")

    per = Table(title=t("bt_cli_title"), title_justify="left")
    per.add_column(t("bt_cli_as_of"))
    per.add_column(t("bt_cli_forecast"))
    for metric in METRICS:
        per.add_column(t(f"bt_{metric}"), justify="right")
    for o in result.origins:
        actual = t("bt_cli_actual", n=t.number(o.pipeline))
        per.add_row(str(o.as_of), actual, *(amount(m, o.actual[m]) for m in METRICS))
        for i, name in enumerate(names):
            cells = []
            for metric in METRICS:
                lo, hi = o.interval(name, metric)
                mark = "" if o.inside(name, metric) else " ✗"
                pit = o.pit(name, metric)
                cells.append(f"{amount(metric, lo)}–{amount(metric, hi)} ({pit:.2f}){mark}")
            until = f"→ {o.until}" if i == 0 else ""
            per.add_row(until, short(name), *cells, end_section=i == len(names) - 1)
    console.print(per)
    console.print(t("bt_cli_pit_note"))
    short_history = [str(o.as_of) for o in result.origins if o.short_history]
    if short_history:
        console.print(t("bt_short_history", dates=t("list_sep").join(short_history)))
    for as_of, _, why in result.skipped:
        console.print(t("bt_skipped", date=str(as_of), reason=why), markup=False)
    summary = Table(title=t("bt_cli_scores", n=len(result.origins)), title_justify="left")
    summary.add_column(t("bt_cli_score"))
    for name in names:
        summary.add_column(short(name), justify="right")
    scores = {name: result.scores(name) for name in names}
    for key in SCORES:
        cells = []
        for name in names:
            v = scores[name][key]
            cells.append(
                "–" if v is None else t.percent(v) if key.startswith("coverage")
                else f"{v:.4f}" if key == "brier"
                else t.money(v) if key.endswith("revenue") else t.number(v, 1)
            )  # fmt: skip
        summary.add_row(t(f"bt_head_{key}"), *cells)
    summary.add_row(t("bt_cli_within"), *(t.percent(result.within(n)) for n in names))
    console.print(summary)
    console.print(t("bt_cli_legend"))
    for metric in METRICS:
        console.print(t("bt_cli_pit_hist", measure=t(f"bt_{metric}")))
        for name in names:
            counts = " ".join(f"{c:2d}" for c in result.pit_histogram(name, metric))
            console.print(f"  {short(name):<16} {counts}")


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
    from simsales.calibrate.calibrate import calibrate

    h = None
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
        if h is not None and not as_json:  # what the rows came to, before what stopped the fit
            render_report(h.report, _console(stderr=True))
        raise _fail(exc) from None
    if as_json:
        typer.echo(json_text(c.to_json(), default=str))
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


def backtest_cmd(
    history: _History,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="One forecast origin (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="End of the window after --as-of.")
    ] = None,
    origins: Annotated[
        str | None,
        typer.Option(
            help="Origins, comma-separated (rolling origin): each forecasts a window of "
            "--window (or as long as (--as-of, --until])."
        ),
    ] = None,
    every: Annotated[
        str | None,
        typer.Option(help="Rolling origins every month | week | 2W | 15D ... from --from to --to."),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="First rolling origin (with --every).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last rolling origin (with --every).")
    ] = None,
    window: Annotated[
        str | None, typer.Option(help="Window after each origin: 2M, 1Q, 8W, 60D.")
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
    xlsx: Xlsx = None,
    yes: Yes = False,
    engine: EngineChoice = "auto",
    locale: _Locale = None,
) -> None:
    """Calibrate on what was known at each origin, simulate its window, and score the
    forecast beside the baselines (stage-weighted pipeline, trailing three-month rate, the
    CRM's probability and forecast categories when the export has them)."""
    from simsales.calibrate.backtest import backtest
    from simsales.engine.vectorized import default_engine
    from simsales.results.budget import go_on

    language = locale_option(locale) or "en"  # a bad one is refused before any work
    try:
        windows = _windows(as_of, until, origins, every, start, end, window)
        with (
            go_on(yes),
            default_engine(engine),
            _output(out, history, mapping) as output,
            _output(xlsx, history, mapping) as book,
        ):
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
            if not windows:  # none named: the last month ends whose windows fit
                from simsales.calibrate.backtest import default_windows

                windows = default_windows(h, window or "2M")
                _console(stderr=True).print(
                    f"origins: the month ends {windows[0][0]} … {windows[-1][0]}, windows of "
                    f"{window or '2M'} (the default; --origins or --every/--from/--to name "
                    "others)"
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
            )
            if output is not None:
                from simsales.calibrate.backtest_html import write_backtest_html

                write_backtest_html(result, output, language)
            if book is not None:
                from simsales.report.excel import backtest_sheets, write_workbook

                write_workbook(book, backtest_sheets(result), language)
    except SimsalesError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json_text(result.to_json(), default=str))
        return
    console = _console()
    render_backtest(result, console, language)
    if out is not None:
        console.print(f"wrote {esc(out)}")
    if xlsx is not None:
        console.print(f"wrote {esc(xlsx)}")


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate_cmd)
    app.command("backtest")(backtest_cmd)


def _windows(
    as_of: str | None,
    until: str | None,
    origins: str | None,
    every: str | None,
    start: str | None,
    end: str | None,
    window: str | None,
) -> list[tuple[date, date]]:
    """The windows the options ask for: (--as-of, --until], --origins and --every/--from/--to,
    each later origin with a window of --window or as long as (--as-of, --until]."""
    from simsales.calibrate.backtest import parse_span, rolling_windows

    a, u = _date(as_of, "--as-of"), _date(until, "--until")
    if (a is None) != (u is None):
        raise SimsalesError("give --as-of and --until together (one window), or neither")
    if a is not None and u is not None and u <= a:
        raise SimsalesError(f"--until {u} must be after --as-of {a}")
    if window is not None:
        parse_span(window)  # checked before anything is read
    windows: list[tuple[date, date]] = [] if a is None or u is None else [(a, u)]

    def after(o: date) -> date:
        if window is not None:
            return rolling_windows(o, o, "1D", window)[0][1]
        if a is None or u is None:
            raise SimsalesError("give --window (e.g. 2M) for the windows after each origin")
        return window_end(a, u, o)

    for text in (origins or "").split(","):
        if text.strip():
            o = _date(text, "--origins")
            assert o is not None
            windows.append((o, after(o)))
    if every is not None or start is not None or end is not None:
        d1, d2 = _date(start, "--from"), _date(end, "--to")
        if every is None or d1 is None or d2 is None:
            raise SimsalesError("rolling origins need --every, --from and --to together")
        if window is None and (a is None or u is None):
            raise SimsalesError("give --window (e.g. 2M) for the windows after each origin")
        for o, w_end in rolling_windows(d1, d2, every, window or "1D"):
            windows.append((o, w_end if window is not None else after(o)))
    return sorted(set(windows))  # none asked for: the default (backtest.default_windows)


def window_end(as_of: date, until: date, origin: date) -> date:
    """The end of a window from ``origin`` as long as ``(as_of, until]``: whole months when
    both ends are month ends (2017-04-30 -> 2017-06-30 makes 2017-06-30 -> 2017-08-31), else
    the same number of days."""
    import pandas as pd

    a, u, o = pd.Timestamp(as_of), pd.Timestamp(until), pd.Timestamp(origin)
    if a.is_month_end and u.is_month_end and o.is_month_end:
        months = (u.year - a.year) * 12 + u.month - a.month
        return (o + pd.offsets.MonthEnd(months)).date()
    return (o + (u - a)).date()
