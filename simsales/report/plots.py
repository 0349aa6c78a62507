"""Matplotlib figures of a forecast. Every function takes a Forecast (or a ReportData, to share
its computations) and returns a :class:`matplotlib.figure.Figure`; nothing touches pyplot's
global state, so a notebook shows a figure by displaying it and a script saves it with
``fig.savefig(path)``. Labels follow the scenario's locale; Chinese text gets a CJK font when
one is installed (see :mod:`simsales.report.fonts`).
"""

from __future__ import annotations

import math
import textwrap
from datetime import date

import matplotlib.dates as mdates
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, PercentFormatter

from simsales.i18n import format_money
from simsales.report.data import ReportData
from simsales.report.fonts import apply_fonts
from simsales.results.forecast import Forecast
from simsales.results.sensitivity import tornado as tornado_rows

__all__ = [
    "ForecastPlots",
    "deal_close_dates",
    "revenue_fan",
    "revenue_s_curve",
    "stage_funnel",
    "tornado",
    "utilization_heatmap",
]

Source = Forecast | ReportData

BLUE, BAND80, BAND50 = "#1d4ed8", "#dbeafe", "#93c5fd"
RED, GREY, ORANGE = "#dc2626", "#6b7280", "#ea580c"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def _style(ax: Axes) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="both", color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)


def _money_axis(ax: Axes, locale: str) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_money(v, locale=locale)))


def _num(d: date | None) -> float:
    return math.nan if d is None else float(mdates.date2num(d))


def deal_close_dates(source: Source) -> Figure:
    """Gantt-like chart of the live deals: P10–P90 close dates, the median, the win chance, and
    the exit criteria of each deal's current stage below."""
    data = ReportData.of(source)
    g = data.gantt
    horizon = _num(data.model.horizon)
    start = _num(data.model.start)
    stages = list(data.model.stage_ids)
    n = len(g)
    rows_text = [
        f"[{i + 1}] {data.stage_name(s)}: " + "; ".join(data.exit_criteria(s))
        for i, s in enumerate(stages)
        if data.exit_criteria(s)
    ]
    chart_h, text_h = 1.0 + 0.32 * max(n, 1), 0.15 * (len(rows_text) + 1)
    fig = _figure(11, chart_h + text_h + 0.3)
    grid = fig.add_gridspec(2, 1, height_ratios=[chart_h, text_h])
    ax = fig.add_subplot(grid[0])
    cmap = colormaps["RdYlGn"]
    norm = Normalize(0.0, 1.0)
    y = np.arange(n)[::-1]
    for yi, (_, row) in zip(y, g.iterrows(), strict=True):
        lo, mid, hi = _num(row["close_p10"]), _num(row["close_p50"]), _num(row["close_p90"])
        color = cmap(norm(row["win_probability"]))
        left = start if math.isnan(lo) else lo
        right = horizon if math.isnan(hi) else hi
        if math.isnan(lo):  # decided after the horizon in 90% of runs
            ax.plot([horizon], [yi], marker=">", color=GREY, markersize=8)
            continue
        ax.barh(
            yi,
            max(right - left, 0.8),
            left=left,
            height=0.55,
            color=color,
            edgecolor="#374151",
            linewidth=0.6,
        )
        if math.isnan(hi):
            ax.plot([horizon], [yi], marker=">", color=GREY, markersize=7)
        if not math.isnan(mid):
            ax.plot([mid], [yi], marker="D", color="#111827", markersize=5)
    labels = [
        f"{lab} [{stages.index(s) + 1}]" for lab, s in zip(g["label"], g["stage"], strict=True)
    ]
    ax.set_yticks(y, labels=labels, fontsize=8)
    ax.axvline(horizon, color=GREY, linestyle="--", linewidth=1)
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.set_xlim(start - 3, horizon + 8)
    ax.set_xlabel(data.t("gantt_x"))
    ax.set_title(data.t("gantt_title"), loc="left", fontsize=12, fontweight="bold")
    _style(ax)
    ax.grid(axis="y", visible=False)
    handles = [
        Patch(facecolor=cmap(0.75), edgecolor="#374151", label=data.t("gantt_legend_bar")),
        Line2D([], [], marker="D", color="#111827", linestyle="", label=data.t("gantt_legend_p50")),
        Line2D([], [], marker=">", color=GREY, linestyle="", label=data.t("gantt_legend_open")),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.9)
    bar = fig.colorbar(_mappable(cmap, norm), ax=ax, shrink=0.6, pad=0.01)
    bar.set_label(data.t("win_probability"))
    bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    text_ax = fig.add_subplot(grid[1])
    text_ax.axis("off")
    lines = [f"{data.t('exit_criteria')}:"] + [
        textwrap.shorten(r, width=150, placeholder="…") for r in rows_text
    ]
    text_ax.text(
        0.0,
        1.0,
        "\n".join(lines),
        va="top",
        ha="left",
        fontsize=8,
        color="#374151",
        transform=text_ax.transAxes,
    )
    return apply_fonts(fig)


def _mappable(cmap: Colormap, norm: Normalize) -> ScalarMappable:
    return ScalarMappable(norm=norm, cmap=cmap)


def revenue_fan(source: Source) -> Figure:
    """Revenue per quarter: median, P25–P75 and P10–P90 bands, targets with their chance."""
    data = ReportData.of(source)
    f = data.fan
    fig = _figure(9, 4.8)
    ax = fig.add_subplot()
    x = np.arange(len(f))
    ax.fill_between(x, f["p10"], f["p90"], color=BAND80, label=data.t("fan_band80"), step=None)
    ax.fill_between(x, f["p25"], f["p75"], color=BAND50, label=data.t("fan_band50"))
    ax.plot(x, f["p50"], color=BLUE, marker="o", linewidth=2, label=data.t("median"))
    has_target = f["target"].notna()
    if has_target.any():
        ax.scatter(
            x[has_target],
            f["target"][has_target],
            marker="_",
            s=900,
            linewidths=3,
            color=RED,
            label=data.t("target"),
            zorder=5,
        )
        for xi, (_, row) in zip(x[has_target], f[has_target].iterrows(), strict=True):
            ax.annotate(
                data.t.percent(row["target_probability"]),
                (xi, row["target"]),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                color=RED,
                fontsize=9,
                fontweight="bold",
            )
    ax.set_xticks(x, labels=list(f["period"]))
    ax.set_xlim(-0.4, len(f) - 0.6)
    ax.set_ylim(bottom=0)
    _money_axis(ax, data.locale)
    ax.set_ylabel(data.t("revenue") + f" ({data.model.currency})")
    ax.set_title(data.t("fan_title"), loc="left", fontsize=12, fontweight="bold")
    _style(ax)
    ax.legend(loc="upper left", fontsize=8, ncols=4, frameon=False)
    return apply_fonts(fig)


def revenue_s_curve(source: Source) -> Figure:
    """Cumulative won revenue over time: median and bands over replications, with the targets
    of periods that begin at the start as markers."""
    data = ReportData.of(source)
    s = data.s_curve
    fig = _figure(9, 4.8)
    ax = fig.add_subplot()
    x = [mdates.date2num(d) for d in s["date"]]
    ax.fill_between(x, s["p10"], s["p90"], color=BAND80, label=data.t("fan_band80"))
    ax.fill_between(x, s["p25"], s["p75"], color=BAND50, label=data.t("fan_band50"))
    ax.plot(x, s["p50"], color=BLUE, linewidth=2, label=data.t("median"))
    targets = data.cumulative_targets
    if len(targets):
        tx = [mdates.date2num(d) for d in targets["date"]]
        ax.scatter(
            tx,
            targets["target"],
            marker="_",
            s=500,
            linewidths=3,
            color=RED,
            label=data.t("cumulative_target"),
            zorder=5,
        )
        for xi, (_, row) in zip(tx, targets.iterrows(), strict=True):
            ax.annotate(
                row["period"],
                (xi, row["target"]),
                textcoords="offset points",
                xytext=(-4, 6),
                ha="right",
                fontsize=8,
                color=RED,
            )
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.set_ylim(bottom=0)
    _money_axis(ax, data.locale)
    ax.set_ylabel(data.t("revenue") + f" ({data.model.currency})")
    ax.set_title(data.t("scurve_title"), loc="left", fontsize=12, fontweight="bold")
    _style(ax)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return apply_fonts(fig)


def tornado(source: Source, output: str | None = None, top: int = 10) -> Figure:
    """Rank correlation of the top inputs with one output (default: the first target period,
    else total revenue), with 95% intervals."""
    data = ReportData.of(source)
    outputs = data.outputs
    if output is None:
        output = outputs[0] if outputs else "revenue"
    if outputs and output not in outputs:
        raise ValueError(f"unknown output {output!r}: use one of {', '.join(outputs)}")
    rows = tornado_rows(data.sensitivity, output, top)
    fig = _figure(9, 1.4 + 0.38 * max(len(rows), 1))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    colors = [BLUE if r >= 0 else ORANGE for r in rows["rho"]]
    ax.barh(y, rows["rho"], color=colors, height=0.6)
    err = np.vstack([rows["rho"] - rows["rho_low"], rows["rho_high"] - rows["rho"]])
    ax.errorbar(rows["rho"], y, xerr=err, fmt="none", ecolor="#111827", elinewidth=1, capsize=3)
    ax.set_yticks(y, labels=[data.input_label(i) for i in rows["input"]], fontsize=9)
    ax.axvline(0, color="#111827", linewidth=0.8)
    limit = min(
        1.0,
        max(
            0.2,
            float(np.nanmax(np.abs(rows[["rho_low", "rho_high"]].to_numpy())))
            if len(rows)
            else 0.2,
        )
        * 1.1,
    )
    ax.set_xlim(-limit, limit)
    ax.set_xlabel(data.t("rank_correlation"))
    ax.set_title(
        data.t("tornado_title", output=data.output_label(output)),
        loc="left",
        fontsize=12,
        fontweight="bold",
    )
    _style(ax)
    ax.grid(axis="y", visible=False)
    return apply_fonts(fig)


def utilization_heatmap(source: Source) -> Figure:
    """Pool x week utilization; weeks without working days are blank."""
    data = ReportData.of(source)
    u = data.utilization
    fig = _figure(11, 1.2 + 0.45 * len(u))
    ax = fig.add_subplot()
    if not len(u):  # a scenario without people pools
        ax.axis("off")
        ax.set_title(data.t("heatmap_title"), loc="left", fontsize=12, fontweight="bold")
        ax.text(0.5, 0.5, data.t("none"), ha="center", va="center", color=GREY)
        return apply_fonts(fig)
    cmap = colormaps["YlOrRd"].with_extremes(bad="#f3f4f6")
    weeks = list(u.columns)
    img = ax.imshow(
        np.ma.masked_invalid(u.to_numpy(dtype=float)),
        aspect="auto",
        cmap=cmap,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
    )
    months = [i for i, w in enumerate(weeks) if i == 0 or w.month != weeks[i - 1].month]
    ax.set_xticks(months, labels=[weeks[i].strftime("%Y-%m") for i in months], fontsize=8)
    ax.set_yticks(range(len(u)), labels=[data.pool_name(p) for p in u.index], fontsize=9)
    ax.set_xlabel(data.t("week"))
    ax.set_title(data.t("heatmap_title"), loc="left", fontsize=12, fontweight="bold")
    bar = fig.colorbar(img, ax=ax, shrink=0.9, pad=0.01)
    bar.set_label(data.t("utilization"))
    bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    return apply_fonts(fig)


def stage_funnel(source: Source) -> Figure:
    """Deals worked per stage, and each stage's simulated conversion against the input."""
    data = ReportData.of(source)
    f = data.funnel
    fig = _figure(10, 1.4 + 0.5 * len(f))
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=[1.2, 1])
    y = np.arange(len(f))[::-1]
    names = [data.stage_name(s) for s in f["stage"]]
    left.barh(y, f["deals"], color=BAND50, edgecolor=BLUE, height=0.6)
    for yi, v in zip(y, f["deals"], strict=True):
        left.annotate(
            f"{v:.1f}", (v, yi), textcoords="offset points", xytext=(4, 0), va="center", fontsize=8
        )
    left.set_yticks(y, labels=names)
    left.set_xlabel(data.t("funnel_deals"))
    _style(left)
    left.grid(axis="y", visible=False)
    err = np.vstack([f["conversion"] - f["conversion_low"], f["conversion_high"] - f["conversion"]])
    right.errorbar(
        f["conversion"],
        y,
        xerr=np.nan_to_num(err),
        fmt="o",
        color=BLUE,
        ecolor=BLUE,
        capsize=3,
        label=data.t("simulated"),
    )
    right.scatter(
        f["input_advance"],
        y,
        marker="D",
        facecolors="none",
        edgecolors=RED,
        s=40,
        label=data.t("input_advance"),
        zorder=5,
    )
    right.set_xlim(0, 1.02)
    right.xaxis.set_major_formatter(PercentFormatter(1.0))
    right.set_xlabel(data.t("conversion"))
    right.legend(loc="lower left", fontsize=8, frameon=False)
    _style(right)
    fig.suptitle(data.t("funnel"), x=0.01, ha="left", fontsize=12, fontweight="bold")
    return apply_fonts(fig)


class ForecastPlots:
    """``forecast.plot``: the figures of one forecast, sharing one set of computations."""

    def __init__(self, forecast: Forecast) -> None:
        self.data = ReportData(forecast)

    def close_dates(self) -> Figure:
        return deal_close_dates(self.data)

    def revenue_fan(self) -> Figure:
        return revenue_fan(self.data)

    def s_curve(self) -> Figure:
        return revenue_s_curve(self.data)

    def tornado(self, output: str | None = None, top: int = 10) -> Figure:
        return tornado(self.data, output, top)

    def utilization(self) -> Figure:
        return utilization_heatmap(self.data)

    def funnel(self) -> Figure:
        return stage_funnel(self.data)
