"""Plotly figures for the HTML report, drawn from the same chart data as the matplotlib plots.

Plotly renders a pseudo-HTML subset in every text it draws, so every string that can come from
a scenario is HTML-escaped here (``<`` becomes ``&lt;``, which plotly shows as ``<``): a deal
named ``<b>x</b>`` or ``<script>`` shows as typed.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from simsales.report.data import ReportData
from simsales.report.fonts import EMBEDDED_FAMILY
from simsales.results.sensitivity import tornado as tornado_rows

__all__ = [
    "FONT_STACK",
    "close_dates",
    "figures",
    "revenue_fan",
    "revenue_s_curve",
    "stage_funnel",
    "tornado",
    "utilization_heatmap",
    "waiting_by_week",
]

# the page's embedded CJK subset first (see fonts.font_face_css), then what viewers may have
FONT_STACK = (
    f'"{EMBEDDED_FAMILY}", system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", '
    '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "Helvetica Neue", Arial, sans-serif'
)
BLUE, BAND80, BAND50 = "#1d4ed8", "rgba(147,197,253,0.35)", "rgba(59,130,246,0.35)"
RED, GREY, ORANGE = "#dc2626", "#6b7280", "#ea580c"
# utilization: pale below 50%, yellow to orange 70-90% (queues build), dark red when full
UTILIZATION_SCALE = [
    [0.0, "#f8fafc"],
    [0.5, "#bfdbfe"],
    [0.7, "#fde68a"],
    [0.85, "#fb923c"],
    [0.95, "#dc2626"],
    [1.0, "#7f1d1d"],
]
POOL_COLORS = ("#1d4ed8", "#ea580c", "#059669", "#7c3aed", "#db2777", "#0891b2", "#ca8a04")


def esc(value: Any) -> str:
    return html.escape(str(value), quote=False)


def _layout(fig: go.Figure, title: str, height: int, **extra: Any) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        title={"text": esc(title), "x": 0.0, "xanchor": "left", "font": {"size": 15}},
        height=height,
        margin={"l": 10, "r": 10, "t": 48, "b": 40},
        font={"family": FONT_STACK, "size": 12, "color": "#1f2937"},
        hoverlabel={"font": {"family": FONT_STACK}},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        **extra,
    )
    fig.update_yaxes(automargin=True)
    fig.update_xaxes(automargin=True)
    return fig


def _date_axis(fig: go.Figure, data: ReportData, **extra: Any) -> None:
    """Dates on x; Chinese reports write months as numbers (plotly's names are English)."""
    fig.update_xaxes(
        type="date", **({"tickformat": "%Y-%m"} if data.locale == "zh-CN" else {}), **extra
    )


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def close_dates(data: ReportData) -> go.Figure:
    """Live deals: P10–P90 close dates as bars, coloured by win chance; P50 as diamonds."""
    g = data.gantt
    horizon = data.model.horizon
    labels = [esc(x) for x in g["label"]]
    base, span, mids, mid_y, beyond = [], [], [], [], []
    hover = []
    for label, (_, row) in zip(labels, g.iterrows(), strict=True):
        lo = row["close_p10"] or horizon
        hi = row["close_p90"] or horizon
        base.append(lo.isoformat())
        span.append(max((hi - lo).days, 1) * 86_400_000)  # bar length in ms on a date axis
        if row["close_p50"] is not None:
            mids.append(row["close_p50"].isoformat())
            mid_y.append(label)
        if row["close_p90"] is None:
            beyond.append(label)
        criteria = "<br>".join("· " + esc(c) for c in row["exit_criteria"]) or "–"
        hover.append(
            f"<b>{esc(row['deal'])}</b> {esc(row['customer'])}<br>"
            f"{esc(data.t('stage'))}: {esc(row['stage_name'])}<br>"
            f"{esc(data.t('exit_criteria'))}:<br>{criteria}<br>"
            f"{esc(data.t('win_probability'))}: {data.t.percent(row['win_probability'])}<br>"
            f"P10 {data.t.date(row['close_p10'])} · P50 {data.t.date(row['close_p50'])} · "
            f"P90 {esc(data.t.date(row['close_p90']))}"
        )
    fig = go.Figure()
    # colours as strings: plotly.js warns about numeric bar colours; a hidden marker carries
    # the colour bar instead
    colors = sample_colorscale("RdYlGn", [float(p) for p in g["win_probability"]])
    fig.add_trace(
        go.Bar(
            y=labels,
            x=span,
            base=base,
            orientation="h",
            name=esc(data.t("gantt_legend_bar")),
            marker={"color": colors, "line": {"color": "#374151", "width": 0.6}},
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            width=0.6,
            showlegend=False,
            hoverlabel={"bgcolor": "#ffffff"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            showlegend=False,
            hoverinfo="skip",
            marker={
                "color": [0.0],
                "colorscale": "RdYlGn",
                "cmin": 0,
                "cmax": 1,
                "showscale": True,
                "colorbar": {
                    "title": {"text": esc(data.t("win_probability"))},
                    "tickformat": ".0%",
                    "len": 0.6,
                    "thickness": 12,
                },
            },
        )
    )
    fig.add_trace(
        go.Scatter(
            x=mids,
            y=mid_y,
            mode="markers",
            name=esc(data.t("gantt_legend_p50")),
            marker={"symbol": "diamond", "color": "#111827", "size": 8},
            hoverinfo="skip",
        )
    )
    if beyond:
        fig.add_trace(
            go.Scatter(
                x=[horizon.isoformat()] * len(beyond),
                y=beyond,
                mode="markers",
                name=esc(data.t("gantt_legend_open")),
                marker={"symbol": "triangle-right", "color": GREY, "size": 10},
                hoverinfo="skip",
            )
        )
    fig.add_vline(x=horizon.isoformat(), line={"color": GREY, "dash": "dash", "width": 1})
    fig.update_yaxes(autorange="reversed", type="category")
    _date_axis(
        fig,
        data,
        title=esc(data.t("gantt_x")),
        range=[data.model.start.isoformat(), horizon.isoformat()],
    )
    return _layout(fig, data.t("gantt_title"), 140 + 26 * max(len(g), 1), bargap=0.35)


def _band(
    fig: go.Figure,
    x: Sequence[Any],
    lo: Sequence[float],
    hi: Sequence[float],
    color: str,
    name: str,
) -> None:
    fig.add_trace(
        go.Scatter(
            x=list(x),
            y=list(hi),
            mode="lines",
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=list(x),
            y=list(lo),
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=color,
            name=esc(name),
            hoverinfo="skip",
        )
    )


def revenue_fan(data: ReportData) -> go.Figure:
    """Revenue per quarter: bands over replications, the median, and the targets."""
    f = data.fan
    unit = data.unit
    scale = unit.scale
    x = [data.t.period(p) for p in f["period"]]
    fig = go.Figure()
    _band(fig, x, f["p10"] / scale, f["p90"] / scale, BAND80, data.t("fan_band80"))
    _band(fig, x, f["p25"] / scale, f["p75"] / scale, BAND50, data.t("fan_band50"))
    hover = [
        f"<b>{data.t.period(p)}</b><br>{esc(data.t('median'))}: {data.t.money(m)}<br>"
        f"P10–P90: {data.t.money(a)} – {data.t.money(b)}"
        for p, m, a, b in zip(f["period"], f["p50"], f["p10"], f["p90"], strict=True)
    ]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=f["p50"] / scale,
            mode="lines+markers",
            name=esc(data.t("median")),
            line={"color": BLUE, "width": 3},
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    has = f["target"].notna()
    if has.any():
        marked = f[has]
        text = [
            f"{esc(data.t('target'))} {data.t.money(v)}: {data.t.percent(p)}"
            for v, p in zip(marked["target"], marked["target_probability"], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=[data.t.period(p) for p in marked["period"]],
                y=marked["target"] / scale,
                mode="markers+text",
                name=esc(data.t("target")),
                text=[data.t.percent(p) for p in marked["target_probability"]],
                textposition="top center",
                textfont={"color": RED, "size": 13},
                marker={
                    "symbol": "line-ew-open",
                    "size": 46,
                    "color": RED,
                    "line": {"width": 4, "color": RED},
                },
                customdata=text,
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    fig.update_yaxes(title=esc(data.t("money_axis", unit=unit.name)), rangemode="tozero")
    return _layout(fig, data.t("fan_title"), 380)


def revenue_s_curve(data: ReportData) -> go.Figure:
    """Cumulative won revenue: bands and median over replications, cumulative targets."""
    s = data.s_curve
    scale = data.unit.scale
    x = [d.isoformat() for d in s["date"]]
    fig = go.Figure()
    _band(fig, x, s["p10"] / scale, s["p90"] / scale, BAND80, data.t("fan_band80"))
    _band(fig, x, s["p25"] / scale, s["p75"] / scale, BAND50, data.t("fan_band50"))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=s["p50"] / scale,
            mode="lines",
            name=esc(data.t("median")),
            line={"color": BLUE, "width": 3},
            hovertemplate="%{x}: %{y:,.1f}<extra></extra>",
        )
    )
    targets = data.cumulative_targets
    if len(targets):
        fig.add_trace(
            go.Scatter(
                x=[d.isoformat() for d in targets["date"]],
                y=targets["target"] / scale,
                mode="markers+text",
                text=[esc(data.t.period(p)) for p in targets["period"]],
                textposition="top left",
                textfont={"color": RED},
                name=esc(data.t("cumulative_target")),
                marker={
                    "symbol": "line-ew-open",
                    "size": 30,
                    "color": RED,
                    "line": {"width": 4, "color": RED},
                },
                hovertemplate="%{text}: %{y:,.1f}<extra></extra>",
            )
        )
    fig.update_yaxes(title=esc(data.t("money_axis", unit=data.unit.name)), rangemode="tozero")
    _date_axis(fig, data)
    return _layout(fig, data.t("scurve_title"), 380)


def utilization_heatmap(data: ReportData) -> go.Figure:
    """Pool x week utilization; hover shows the queue and the waiting blamed on the pool."""
    w = data.bottlenecks.weekly
    pools = list(data.model.pool_ids)
    weeks = sorted(w["week_start"].unique())
    z, hover = [], []
    for pool in pools:
        rows = w[w["pool"] == pool].set_index("week_start").reindex(weeks)
        z.append([None if not np.isfinite(u) else round(float(u), 4) for u in rows["utilization"]])
        hover.append(
            [
                f"{esc(data.pool_name(pool))} · {wk.isoformat()}<br>"
                f"{esc(data.t('utilization'))}: {data.t.percent(u)}<br>"
                f"{esc(data.t('queue'))}: {q:.1f}<br>{esc(data.t('wait_days'))}: {d:.1f}"
                for wk, u, q, d in zip(
                    weeks, rows["utilization"], rows["queue_length"], rows["wait_days"], strict=True
                )
            ]
        )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[wk.isoformat() for wk in weeks],
            y=[esc(data.pool_name(p)) for p in pools],
            zmin=0,
            zmax=1,
            colorscale=UTILIZATION_SCALE,
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            xgap=1,
            ygap=2,
            colorbar={
                "title": {"text": esc(data.t("utilization"))},
                "tickformat": ".0%",
                "thickness": 12,
            },
        )
    )
    fig.update_yaxes(autorange="reversed")
    _date_axis(fig, data)
    return _layout(fig, data.t("heatmap_title"), 120 + 44 * len(pools))


def waiting_by_week(data: ReportData) -> go.Figure:
    """Stacked bars: deal-days of waiting per week, by the pool it is blamed on."""
    w = data.bottlenecks.weekly
    fig = go.Figure()
    for i, pool in enumerate(data.model.pool_ids):
        rows = w[w["pool"] == pool]
        fig.add_trace(
            go.Bar(
                x=[d.isoformat() for d in rows["week_start"]],
                y=rows["wait_days"].round(2),
                name=esc(data.pool_name(pool)),
                marker={"color": POOL_COLORS[i % len(POOL_COLORS)]},
                hovertemplate=f"{esc(data.pool_name(pool))} · %{{x}}: %{{y:.1f}}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", bargap=0.1)
    fig.update_yaxes(title=esc(data.t("wait_days")))
    _date_axis(fig, data)
    return _layout(fig, data.t("waiting_title"), 340)


def tornado(data: ReportData, top: int = 10) -> go.Figure:
    """One tornado per output, switched with a menu (the first output shows first)."""
    fig = go.Figure()
    outputs = data.outputs
    buttons = []
    per_output = 1
    for k, output in enumerate(outputs):
        rows = tornado_rows(data.sensitivity, output, top)
        labels = [esc(data.input_label(i)) for i in rows["input"]]
        fig.add_trace(
            go.Bar(
                x=rows["rho"].round(4),
                y=labels,
                orientation="h",
                visible=k == 0,
                marker={"color": [BLUE if r >= 0 else ORANGE for r in rows["rho"]]},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (rows["rho_high"] - rows["rho"]).round(4),
                    "arrayminus": (rows["rho"] - rows["rho_low"]).round(4),
                    "color": "#111827",
                    "thickness": 1.2,
                },
                hovertemplate="%{y}: %{x:.2f}<extra></extra>",
                showlegend=False,
            )
        )
        visible = [j == k for j in range(len(outputs))]
        title = esc(data.t("tornado_title", output=data.output_label(output)))
        buttons.append(
            {
                "label": esc(data.output_label(output)),
                "method": "update",
                "args": [{"visible": visible}, {"title.text": title}],
            }
        )
    first = data.t("tornado_title", output=data.output_label(outputs[0])) if outputs else ""
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(
        title=esc(data.t("rank_correlation")), range=[-1, 1], zeroline=True, zerolinecolor="#111827"
    )
    height = 140 + 30 * top * per_output
    _layout(fig, first, height)
    if len(buttons) > 1:
        fig.update_layout(
            updatemenus=[
                {
                    "buttons": buttons,
                    "direction": "down",
                    "x": 1.0,
                    "xanchor": "right",
                    "y": 1.12,
                    "yanchor": "bottom",
                    "showactive": True,
                }
            ],
            margin={"t": 80},
        )
    return fig


def stage_funnel(data: ReportData) -> go.Figure:
    """Deals worked per stage (left) and conversion: simulated with 95% interval vs input."""
    f = data.funnel
    names = [esc(data.stage_name(s)) for s in f["stage"]]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        column_widths=[0.55, 0.45],
        subplot_titles=(esc(data.t("funnel_deals")), esc(data.t("conversion"))),
    )
    fig.add_trace(
        go.Bar(
            x=f["deals"].round(2),
            y=names,
            orientation="h",
            showlegend=False,
            marker={"color": "#93c5fd", "line": {"color": BLUE, "width": 1}},
            text=[f"{v:.1f}" for v in f["deals"]],
            textposition="outside",
            hovertemplate="%{y}: %{x:.1f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=f["conversion"].round(4),
            y=names,
            mode="markers",
            name=esc(data.t("simulated")),
            marker={"color": BLUE, "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (f["conversion_high"] - f["conversion"]).fillna(0).round(4),
                "arrayminus": (f["conversion"] - f["conversion_low"]).fillna(0).round(4),
            },
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(
            x=f["input_advance"].round(4),
            y=names,
            mode="markers",
            name=esc(data.t("input_advance")),
            marker={"symbol": "diamond-open", "color": RED, "size": 11, "line": {"width": 2}},
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(tickformat=".0%", range=[0, 1.05], row=1, col=2)
    return _layout(fig, "", 120 + 48 * len(f))


def figures(data: ReportData) -> dict[str, go.Figure]:
    """Every chart of the report, by the id of the element it is drawn in."""
    out = {
        "chart-fan": revenue_fan(data),
        "chart-scurve": revenue_s_curve(data),
        "chart-funnel": stage_funnel(data),
    }
    if data.model.pool_ids:
        out["chart-heatmap"] = utilization_heatmap(data)
        out["chart-waiting"] = waiting_by_week(data)
    if len(data.gantt):
        out["chart-deals"] = close_dates(data)
    if data.outputs:
        out["chart-tornado"] = tornado(data)
    return out
