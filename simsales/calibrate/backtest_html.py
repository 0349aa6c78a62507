"""The backtest as one self-contained, offline HTML page in the chosen language: the shared page
frame of :mod:`simsales.report.pages` (plotly.js inlined with its web addresses neutralised, the
CJK font subset embedded), no external files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simsales.calibrate.backtest import METRICS, SCORES, BacktestResult
from simsales.i18n import N_, Translator, translator
from simsales.io.outputs import Output, write_text
from simsales.report.interactive import FONT_STACK
from simsales.report.pages import render_page

__all__ = ["backtest_html", "method_label", "write_backtest_html"]

COLORS = {"simsales": "#1f77b4", "stage_weighted": "#ff7f0e", "trailing_rate": "#2ca02c",
          "crm_probability": "#9467bd", "commit": "#8c564b", "best_case": "#e377c2",
          "actual": "#111111"}  # fmt: skip
_METHODS = {"simsales": N_("bt_simsales"), "stage_weighted": N_("bt_stage_weighted"),
            "trailing_rate": N_("bt_trailing_rate"), "crm_probability": N_("bt_crm_probability"),
            "commit": N_("bt_commit"), "best_case": N_("bt_best_case")}  # fmt: skip
# each score's column head and what it means, in the words of the page
_SCORES = {
    "coverage_won": (N_("bt_head_coverage_won"), N_("bt_mean_coverage_won")),
    "coverage_revenue": (N_("bt_head_coverage_revenue"), N_("bt_mean_coverage_revenue")),
    "crps_won": (N_("bt_head_crps_won"), N_("bt_mean_crps_won")),
    "crps_revenue": (N_("bt_head_crps_revenue"), N_("bt_mean_crps_revenue")),
    "mae_won": (N_("bt_head_mae_won"), N_("bt_mean_mae_won")),
    "mae_revenue": (N_("bt_head_mae_revenue"), N_("bt_mean_mae_revenue")),
    "bias_won": (N_("bt_head_bias_won"), N_("bt_mean_bias_won")),
    "brier": (N_("bt_head_brier"), N_("bt_mean_brier")),
}
_MEASURES = {"won": N_("bt_won"), "revenue": N_("bt_revenue")}
_MAX_PANELS = 12


def method_label(name: str, t: Translator) -> str:
    """A forecast method in words: ``stage_weighted`` -> "stage-weighted pipeline"."""
    return t(_METHODS[name]) if name in _METHODS else name


def _layout(fig: go.Figure, t: Translator, dates: bool = True, **layout: Any) -> go.Figure:
    fig.update_layout(font={"family": FONT_STACK}, **layout)
    if dates and t.zh:  # plotly.js names months in English only; in Chinese, numbers say it
        fig.update_xaxes(tickformat="%Y-%m-%d")
    return fig


def _intervals(result: BacktestResult, metric: str, t: Translator) -> go.Figure:
    fig = go.Figure()
    dates = [o.until for o in result.origins]
    names = result.names
    for k, method in enumerate(names):
        shifted = [d + timedelta(days=2 * k - len(names) + 1) for d in dates]  # side by side
        lo = [o.interval(method, metric)[0] for o in result.origins]
        hi = [o.interval(method, metric)[1] for o in result.origins]
        mid = [(a + b) / 2 for a, b in zip(lo, hi, strict=True)]
        color = COLORS.get(method, "#7f7f7f")
        fig.add_trace(
            go.Scatter(
                x=shifted,
                y=mid,
                mode="markers",
                marker={"symbol": "line-ew", "size": 14, "color": color,
                        "line": {"width": 2, "color": color}},
                error_y={"type": "data", "symmetric": False,
                         "array": [h - m for h, m in zip(hi, mid, strict=True)],
                         "arrayminus": [m - low for m, low in zip(mid, lo, strict=True)],
                         "thickness": 6, "width": 0, "color": color},
                name=t("bt_interval_of", method=method_label(method, t)),
            )
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=[o.actual[metric] for o in result.origins],
            mode="markers",
            marker={"size": 10, "color": COLORS["actual"], "symbol": "diamond"},
            name=t("bt_actual"),
        )
    )
    title = t("bt_intervals_won") if metric == "won" else t("bt_intervals_revenue")
    return _layout(fig, t, title=title, xaxis_title=t("bt_window_end"), height=420,
                   legend={"orientation": "h", "y": -0.2})  # fmt: skip


def _cumulative(result: BacktestResult, metric: str, t: Translator) -> go.Figure:
    origins = result.origins[:_MAX_PANELS]
    fig = make_subplots(
        rows=len(origins), cols=1, shared_xaxes=False, vertical_spacing=0.06,
        subplot_titles=[t("bt_as_of", date=t.date(o.as_of)) for o in origins],
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
                fillcolor="rgba(31,119,180,0.25)", name=t("bt_band"), showlegend=first,
                legendgroup="band",
            ),
            row=i, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=c["date"], y=c[f"{metric}_p50"], line={"color": COLORS["simsales"]},
                       name=t("bt_p50"), showlegend=first, legendgroup="p50"),
            row=i, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=c["date"], y=c[f"actual_{metric}"], line={"color": COLORS["actual"]},
                       name=t("bt_actual"), showlegend=first, legendgroup="actual"),
            row=i, col=1,
        )  # fmt: skip
        lo, hi = o.interval("stage_weighted", metric)
        fig.add_trace(
            go.Scatter(
                x=[c["date"].iloc[-1]] * 2, y=[lo, hi], mode="lines+markers",
                line={"color": COLORS["stage_weighted"], "width": 6},
                name=t("bt_pipeline_band"), showlegend=first, legendgroup="base",
            ),
            row=i, col=1,
        )  # fmt: skip
    return _layout(
        fig,
        t,
        height=260 * len(origins) + 160,
        title={"text": t("bt_cumulative", measure=t(_MEASURES[metric])), "y": 0.995,
               "yanchor": "top"},
        margin={"t": 150},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom"},
    )  # fmt: skip


def _pit_histograms(result: BacktestResult, t: Translator) -> go.Figure:
    titles = [t("bt_pit_of", measure=t(_MEASURES[m])) for m in METRICS]
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles)
    centers = [0.05 + 0.1 * k for k in range(10)]
    for j, metric in enumerate(METRICS, start=1):
        for name in result.names:
            fig.add_trace(
                go.Bar(x=centers, y=result.pit_histogram(name, metric),
                       name=method_label(name, t), marker_color=COLORS.get(name, "#7f7f7f"),
                       showlegend=j == 1, legendgroup=name),
                row=1, col=j,
            )  # fmt: skip
    return _layout(fig, t, False, title=t("bt_pit_title"), barmode="group", height=380,
                   legend={"orientation": "h", "y": -0.25})  # fmt: skip


def _cell(key: str, v: float | None, t: Translator) -> str:
    if key.startswith("coverage"):
        return t.percent(v)
    return t.number(v, 4) if key == "brier" else t.number(v, 1)


def _plain_words(result: BacktestResult, t: Translator) -> list[str]:
    """The headline in sentences: coverage, and whether simsales beat every baseline."""
    s = result.scores("simsales")
    others = [n for n in result.names if n != "simsales"]
    parts = [
        t("bt_summary", n=len(result.origins), won=t.percent(s["coverage_won"]),
          revenue=t.percent(s["coverage_revenue"]))
    ]  # fmt: skip
    for key in ("crps_won", "mae_won", "crps_revenue", "mae_revenue"):
        what = t(_SCORES[key][0])
        worse = [method_label(n, t) for n in others if result.scores(n)[key] <= (s[key] or 0)]  # type: ignore[operator]
        parts.append(
            t("bt_beat_all", what=what)
            if not worse
            else t("bt_not_beat", what=what, names=t("list_sep").join(worse))
        )
    short = [t.date(o.as_of) for o in result.origins if o.short_history]
    if short:
        parts.append(t("bt_short_history", dates=t("list_sep").join(short)))
    parts += [t("bt_skipped", date=t.date(a), reason=why) for a, _, why in result.skipped]
    return parts


def backtest_html(result: BacktestResult, locale: str | None = None) -> str:
    """The whole page as a string, in ``locale`` (English by default)."""
    t = translator(locale)
    figs: list[go.Figure] = [
        _intervals(result, "won", t),
        _intervals(result, "revenue", t),
        _pit_histograms(result, t),
        _cumulative(result, "revenue", t),
        _cumulative(result, "won", t),
    ]
    charts = [
        f.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
        for f in figs
    ]
    scores = []
    for name in result.names:
        s = result.scores(name)
        scores.append(
            {
                "name": method_label(name, t),
                "cells": [_cell(k, s[k], t) for k in SCORES],
                "within": t.percent(result.within(name)),
            }
        )
    windows = []
    for o in result.origins:
        for metric in METRICS:
            cells = []
            for n in result.names:
                q = o.quantiles(n, metric)
                cells.append(
                    {
                        "text": t("bt_range", p10=t.number(q["p10"]), p90=t.number(q["p90"]),
                                  p50=t.number(q["p50"])),
                        "outside": not o.inside(n, metric),
                    }
                )  # fmt: skip
            windows.append(
                {
                    "as_of": t.date(o.as_of),
                    "until": t.date(o.until),
                    "pipeline": t.number(o.pipeline),
                    "measure": t(_MEASURES[metric]),
                    "actual": t.number(o.actual[metric]),
                    "cells": cells,
                }
            )
    return render_page(
        "backtest.html.j2",
        t,
        title=t("bt_title", source=Path(result.source).name),
        intro=t("bt_intro", n=len(result.origins), replications=result.replications,
                seed=result.seed, by=result.by or t("bt_by_nothing")),
        summary=_plain_words(result, t),
        heads=[{"head": t(_SCORES[k][0]), "meaning": t(_SCORES[k][1])} for k in SCORES],
        methods=[method_label(n, t) for n in result.names],
        scores=scores,
        windows=windows,
        charts=charts,
    )  # fmt: skip


def write_backtest_html(
    result: BacktestResult, path: str | Path | Output, locale: str | None = None
) -> None:
    """Write the page atomically (see :mod:`simsales.io.outputs`)."""
    write_text(path, backtest_html(result, locale))
