"""The backtest as one self-contained, offline HTML page: plotly.js inlined (with the web
addresses in its bundle neutralised, as in :mod:`simsales.report.html`), no external files."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simsales.calibrate.backtest import METHODS, BacktestResult
from simsales.io.outputs import Output, write_text
from simsales.report.html import plotly_js  # the bundle with its web addresses neutralised

__all__ = ["backtest_html", "write_backtest_html"]

COLORS = {"simsales": "#1f77b4", "baseline": "#ff7f0e", "actual": "#111111"}
LABELS = {"simsales": "simsales (calibrated)", "baseline": "stage-weighted pipeline"}
_MAX_PANELS = 12


def _intervals(result: BacktestResult, metric: str, title: str) -> go.Figure:
    fig = go.Figure()
    dates = [o.until for o in result.origins]
    for k, method in enumerate(METHODS):
        shifted = [d + timedelta(days=2 * k - 1) for d in dates]  # side by side
        lo = [o.interval(method, metric)[0] for o in result.origins]
        hi = [o.interval(method, metric)[1] for o in result.origins]
        mid = [(a + b) / 2 for a, b in zip(lo, hi, strict=True)]
        fig.add_trace(
            go.Scatter(
                x=shifted,
                y=mid,
                mode="markers",
                marker={"symbol": "line-ew", "size": 14, "color": COLORS[method],
                        "line": {"width": 2, "color": COLORS[method]}},
                error_y={"type": "data", "symmetric": False,
                         "array": [h - m for h, m in zip(hi, mid, strict=True)],
                         "arrayminus": [m - low for m, low in zip(mid, lo, strict=True)],
                         "thickness": 6, "width": 0, "color": COLORS[method]},
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
        lo, hi = o.interval("baseline", metric)
        fig.add_trace(
            go.Scatter(
                x=[c["date"].iloc[-1]] * 2, y=[lo, hi], mode="lines+markers",
                line={"color": COLORS["baseline"], "width": 6}, name="pipeline P10-P90 (no timing)",
                showlegend=first, legendgroup="base",
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


def _table(result: BacktestResult) -> str:
    j = result.to_json()
    rows = []
    for method in METHODS:
        s = j["summary"][method]
        cells = [LABELS[method]]
        for metric in ("won", "revenue"):
            m = s[metric]
            cells.append(f"{m['coverage80']:.0%} [{m['low']:.0%}, {m['high']:.0%}]")
        cells += [f"{s['brier']:.4f}", f"{s['brier_all']:.4f}"]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = ("<tr><th>forecast</th><th>80% coverage: won deals</th><th>80% coverage: revenue</th>"
            "<th>Brier (closed by until)</th>"
            "<th>Brier (all open, won by until)</th></tr>")  # fmt: skip
    per = []
    for o in j["origins"]:
        cells = [o["as_of"], o["until"], str(o["pipeline"]), f"{o['actual_won']:.0f}"]
        for method in METHODS:
            x = o[f"{method}_won"]
            cells.append(f"{x['p10']:.0f}-{x['p90']:.0f} (PIT {x['pit']:.2f})")
        cells.append(f"{o['actual_revenue']:,.0f}")
        for method in METHODS:
            x = o[f"{method}_revenue"]
            cells.append(f"{x['p10']:,.0f}-{x['p90']:,.0f} (PIT {x['pit']:.2f})")
        per.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    per_head = ("<tr><th>as of</th><th>until</th><th>open deals</th><th>won</th>"
                "<th>simsales 80%</th><th>pipeline 80%</th><th>revenue</th>"
                "<th>simsales 80%</th><th>pipeline 80%</th></tr>")  # fmt: skip
    return (
        f"<table>{head}{''.join(rows)}</table>"
        f"<h2>Per origin</h2><table>{per_head}{''.join(per)}</table>"
    )


def backtest_html(result: BacktestResult) -> str:
    """The whole page as a string."""
    figs: list[Any] = [
        _intervals(result, "won", "Deals won in each window: 80% intervals against the truth"),
        _intervals(
            result, "revenue", "Revenue won in each window: 80% intervals against the truth"
        ),
        _cumulative(result, "revenue", "won revenue"),
        _cumulative(result, "won", "deals won"),
    ]
    body = "\n".join(
        f.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
        for f in figs
    )
    defs = result.to_json()["definitions"]
    notes = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in defs.items())
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
deal types by {html.escape(str(result.by))}. Each origin calibrates on what the export knew at
its as-of date only, then forecasts the window after it.</p>
{_table(result)}
<ul>{notes}</ul>
{body}
</body></html>
"""


def write_backtest_html(result: BacktestResult, path: str | Path | Output) -> None:
    """Write the page atomically (see :mod:`simsales.io.outputs`)."""
    write_text(path, backtest_html(result))
