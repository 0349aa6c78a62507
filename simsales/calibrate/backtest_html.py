"""The backtest as one self-contained, offline HTML page: plotly.js inlined (with the web
addresses in its bundle neutralised, as in :mod:`simsales.report.html`), no external files."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simsales.calibrate.backtest import LABELS, METRICS, SCORES, BacktestResult
from simsales.io.outputs import Output, write_text
from simsales.report.html import plotly_js  # the bundle with its web addresses neutralised

__all__ = ["backtest_html", "write_backtest_html"]

COLORS = {"simsales": "#1f77b4", "stage_weighted": "#ff7f0e", "trailing_rate": "#2ca02c",
          "crm_probability": "#9467bd", "commit": "#8c564b", "best_case": "#e377c2",
          "actual": "#111111"}  # fmt: skip
HEADS = {
    "coverage_won": "80% range held the deals won",
    "coverage_revenue": "80% range held the revenue",
    "crps_won": "CRPS, deals won",
    "crps_revenue": "CRPS, revenue",
    "mae_won": "typical miss, deals won (MAE)",
    "mae_revenue": "typical miss, revenue (MAE)",
    "bias_won": "average over-forecast, deals won",
    "brier": "Brier score per deal",
}
# What each score means, in the words of the page.
MEANINGS = {
    "coverage_won": "share of windows whose 80% range of deals won held what happened "
    "(about 80% is right; far less means overconfident)",
    "coverage_revenue": "the same for revenue won",
    "crps_won": "CRPS, deals won: how far the whole forecast was from what happened (lower is "
    "better; a single number scores its plain error)",
    "crps_revenue": "CRPS of revenue won, in the currency",
    "mae_won": "mean absolute error of the middle (P50) forecast of deals won",
    "mae_revenue": "mean absolute error of the middle (P50) forecast of revenue",
    "bias_won": "mean of forecast minus actual, deals won (positive: too optimistic)",
    "brier": "Brier score per open deal, 'won by the window's end' (0 perfect, 0.25 a coin)",
}
_MAX_PANELS = 12


def _intervals(result: BacktestResult, metric: str, title: str) -> go.Figure:
    fig = go.Figure()
    dates = [o.until for o in result.origins]
    names = result.names
    for k, method in enumerate(names):
        shifted = [d + timedelta(days=2 * k - len(names) + 1) for d in dates]  # side by side
        lo = [o.interval(method, metric)[0] for o in result.origins]
        hi = [o.interval(method, metric)[1] for o in result.origins]
        mid = [(a + b) / 2 for a, b in zip(lo, hi, strict=True)]
        fig.add_trace(
            go.Scatter(
                x=shifted,
                y=mid,
                mode="markers",
                marker={"symbol": "line-ew", "size": 14, "color": COLORS.get(method, "#7f7f7f"),
                        "line": {"width": 2, "color": COLORS.get(method, "#7f7f7f")}},
                error_y={"type": "data", "symmetric": False,
                         "array": [h - m for h, m in zip(hi, mid, strict=True)],
                         "arrayminus": [m - low for m, low in zip(mid, lo, strict=True)],
                         "thickness": 6, "width": 0, "color": COLORS.get(method, "#7f7f7f")},
                name=f"{LABELS[method]}: 80% interval",
            )
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=[o.actual[metric] for o in result.origins],
            mode="markers",
            marker={"size": 10, "color": COLORS["actual"], "symbol": "diamond"},
            name="what happened",
        )
    )
    fig.update_layout(
        title=title, xaxis_title="end of the window (until)", height=420,
        legend={"orientation": "h", "y": -0.2},
    )  # fmt: skip
    return fig


def _cumulative(result: BacktestResult, metric: str, unit: str) -> go.Figure:
    origins = result.origins[:_MAX_PANELS]
    fig = make_subplots(
        rows=len(origins), cols=1, shared_xaxes=False, vertical_spacing=0.06,
        subplot_titles=[f"as of {o.as_of}" for o in origins],
    )  # fmt: skip
    for i, o in enumerate(origins, start=1):
        c = o.cumulative
        first = i == 1
        fig.add_trace(
            go.Scatter(x=c["date"], y=c[f"{metric}_p90"], line={"width": 0}, showlegend=False,
                       hoverinfo="skip"),
            row=i, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=c["date"], y=c[f"{metric}_p10"], fill="tonexty", line={"width": 0},
                fillcolor="rgba(31,119,180,0.25)", name="simsales P10-P90", showlegend=first,
                legendgroup="band",
            ),
            row=i, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=c["date"], y=c[f"{metric}_p50"], line={"color": COLORS["simsales"]},
                       name="simsales P50", showlegend=first, legendgroup="p50"),
            row=i, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=c["date"], y=c[f"actual_{metric}"], line={"color": COLORS["actual"]},
                       name="what happened", showlegend=first, legendgroup="actual"),
            row=i, col=1,
        )  # fmt: skip
        lo, hi = o.interval("stage_weighted", metric)
        fig.add_trace(
            go.Scatter(
                x=[c["date"].iloc[-1]] * 2, y=[lo, hi], mode="lines+markers",
                line={"color": COLORS["stage_weighted"], "width": 6},
                name="pipeline P10-P90 (no timing)", showlegend=first, legendgroup="base",
            ),
            row=i, col=1,
        )  # fmt: skip
    fig.update_layout(
        height=260 * len(origins) + 160,
        title={
            "text": f"Cumulative {unit} after each as-of date: forecast against what happened",
            "y": 0.995,
            "yanchor": "top",
        },
        margin={"t": 150},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom"},
    )
    return fig


def _pit_histograms(result: BacktestResult) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=[f"PIT, {m}" for m in METRICS])
    centers = [0.05 + 0.1 * k for k in range(10)]
    for j, metric in enumerate(METRICS, start=1):
        for name in result.names:
            fig.add_trace(
                go.Bar(x=centers, y=result.pit_histogram(name, metric), name=LABELS.get(name, name),
                       marker_color=COLORS.get(name, "#7f7f7f"), showlegend=j == 1,
                       legendgroup=name),
                row=1, col=j,
            )  # fmt: skip
    fig.update_layout(
        title="Where the truth fell in each forecast (PIT): flat is calibrated, a U means "
        "intervals too narrow, a slope means bias",
        barmode="group", height=380, legend={"orientation": "h", "y": -0.25},
    )  # fmt: skip
    return fig


def _cell(key: str, v: float | None) -> str:
    if v is None:
        return "–"
    if key.startswith("coverage"):
        return f"{v:.0%}"
    return f"{v:.4f}" if key == "brier" else f"{v:,.1f}"


def _table(result: BacktestResult) -> str:
    names = result.names
    head = (
        "<tr><th>forecast</th>"
        + "".join(f"<th title='{html.escape(MEANINGS[k])}'>{html.escape(k)}</th>" for k in SCORES)
        + "<th>P50 revenue within ±10%</th></tr>"
    )
    rows = []
    for name in names:
        s = result.scores(name)
        cells = [LABELS.get(name, name), *(_cell(k, s[k]) for k in SCORES),
                 f"{result.within(name):.0%}"]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    per_head = (
        "<tr><th>as of</th><th>until</th><th>open deals</th><th>measure</th>"
        "<th>what happened</th>"
        + "".join(f"<th>{html.escape(LABELS.get(n, n))}: P10-P90 (P50)</th>" for n in names)
        + "</tr>"
    )
    per = []
    for o in result.origins:
        for metric in METRICS:
            cells = [str(o.as_of), str(o.until), f"{o.pipeline:,}",
                     "deals won" if metric == "won" else "revenue won",
                     f"{o.actual[metric]:,.0f}"]  # fmt: skip
            for n in names:
                q = o.quantiles(n, metric)
                mark = "" if o.inside(n, metric) else " ✗"
                cells.append(f"{q['p10']:,.0f}-{q['p90']:,.0f} ({q['p50']:,.0f}){mark}")
            per.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    best = _plain_words(result)
    return (
        f"<p>{best}</p><table>{head}{''.join(rows)}</table>"
        f"<h2>Per window</h2><p>✗: what happened fell outside the 80% range.</p>"
        f"<table>{per_head}{''.join(per)}</table>"
    )


def _plain_words(result: BacktestResult) -> str:
    """The headline in a sentence: coverage, and whether simsales beat every baseline."""
    s = result.scores("simsales")
    others = [n for n in result.names if n != "simsales"]
    parts = [
        f"Over {len(result.origins)} windows the simsales 80% range held the deals won in "
        f"{s['coverage_won']:.0%} of them and the revenue in {s['coverage_revenue']:.0%}."
    ]
    checks = (
        ("crps_won", "CRPS of deals won"),
        ("mae_won", "typical miss of deals won"),
        ("crps_revenue", "CRPS of revenue"),
        ("mae_revenue", "typical miss of revenue"),
    )
    for key, what in checks:
        worse = [LABELS.get(n, n) for n in others if result.scores(n)[key] <= (s[key] or 0)]  # type: ignore[operator]
        parts.append(
            f"On {what} it beat every other forecast."
            if not worse
            else f"On {what} it did not beat: {', '.join(worse)}."
        )
    return " ".join(html.escape(p) for p in parts)


def backtest_html(result: BacktestResult) -> str:
    """The whole page as a string."""
    figs: list[Any] = [
        _intervals(result, "won", "Deals won in each window: 80% intervals against the truth"),
        _intervals(
            result, "revenue", "Revenue won in each window: 80% intervals against the truth"
        ),
        _pit_histograms(result),
        _cumulative(result, "revenue", "won revenue"),
        _cumulative(result, "won", "deals won"),
    ]
    body = "\n".join(
        f.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
        for f in figs
    )
    notes = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in MEANINGS.items()
    )
    title = f"Backtest of {Path(result.source).name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; white-space: nowrap; }}
th {{ background: #f3f3f3; }}
</style>
<script type="text/javascript">{plotly_js()}</script>
</head><body>
<h1>{html.escape(title)}</h1>
<p>{len(result.origins)} origins, {result.replications} replications each, seed {result.seed};
deal types by {html.escape(result.by or "nothing (one type)")}. Each origin calibrates on what the
export knew at its as-of date only, then forecasts the window after it.</p>
{_table(result)}
<ul>{notes}</ul>
{body}
</body></html>
"""


def write_backtest_html(result: BacktestResult, path: str | Path | Output) -> None:
    """Write the page atomically (see :mod:`simsales.io.outputs`)."""
    write_text(path, backtest_html(result))
