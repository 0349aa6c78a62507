"""A self-contained, offline HTML page of a what-if comparison.

One file, no network: plotly.js is inlined once, the charts are plotly figures, and every text
that comes from the scenario (names, ids, descriptions) goes through Jinja2's autoescape (and
is escaped again before plotly renders it as a label). The page shows why pairing matters: the
paired interval of the revenue difference beside the interval two independent runs would give.
"""

from __future__ import annotations

import html
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from simsales.io.outputs import Output, write_text
from simsales.report.compare_format import format_row, is_key_metric, locale_of
from simsales.report.i18n import fmt_money
from simsales.results.compare import Comparison
from simsales.results.forecast import Forecast
from simsales.results.risk_contribution import RiskContribution
from simsales.results.risk_register import risk_register
from simsales.scenario.schema import Scenario

__all__ = ["deltas_table_html", "render_compare_html", "write_compare_html"]

_TEMPLATE = "compare.html.j2"
_BASE_COLOR, _VARIANT_COLOR = "#1f4e79", "#c0504d"


def write_compare_html(
    comparison: Comparison, path: str | Path | Output, risks: RiskContribution | None = None
) -> Path:
    """Write the comparison page to ``path`` atomically (see :mod:`simsales.io.outputs`)."""
    return write_text(path, render_compare_html(comparison, risks))


def render_compare_html(comparison: Comparison, risks: RiskContribution | None = None) -> str:
    """The page as a string (see :func:`write_compare_html`)."""
    import plotly.offline

    base = comparison.scenarios.get("")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.from_string(
        resources.files("simsales").joinpath("report", "templates", _TEMPLATE).read_text("utf-8")
    )
    locale = locale_of(comparison)
    variants = []
    for name in comparison.variants:
        rows = comparison.deltas[comparison.deltas["name"] == name].to_dict("records")
        formatted = [format_row(r, comparison) for r in rows]
        variants.append(
            {
                "name": name,
                "key": [
                    f for f, r in zip(formatted, rows, strict=True) if is_key_metric(r["metric"])
                ],
                "deals": [
                    f
                    for f, r in zip(formatted, rows, strict=True)
                    if not is_key_metric(r["metric"])
                ],
            }
        )
    return template.render(
        lang=locale,
        title=base.name if base is not None else "Comparison",
        description=base.description if base is not None else None,
        seed=comparison.seed,
        replications=comparison.replications,
        currency=base.currency if base is not None else "",
        plotly_js=plotly.offline.get_plotlyjs(),
        pairing_chart=_pairing_chart(comparison),
        fans=_fan_charts(comparison),
        variants=variants,
        risks=_risk_rows(risks, locale) if risks is not None else None,
        main_target=_main_target(risks) if risks is not None else None,
        mitigations=_mitigation_rows(risks, locale) if risks is not None else None,
        risk_register=_register_html(risks, base, locale) if risks is not None else "",
    )


def deltas_table_html(comparison: Comparison, full: bool = False) -> str:
    """An escaped HTML table of the deltas (for notebooks): key metrics, or all with ``full``."""
    rows = [r for r in comparison.deltas.to_dict("records") if full or is_key_metric(r["metric"])]
    cells = [
        "variant",
        "metric",
        "base",
        "variant",
        "difference",
        "95% CI",
        "significant",
        "± paired",
        "± unpaired",
    ]
    out = ["<table><thead><tr>", *(f"<th>{c}</th>" for c in cells), "</tr></thead><tbody>"]
    for r in rows:
        f = format_row(r, comparison)
        values = [
            f["name"],
            f["label"],
            f["base"],
            f["variant"],
            f["difference"],
            f["ci"],
            f["significant"],
            f["half_width"],
            f["unpaired_half_width"],
        ]
        out.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in values) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


# --- charts -----------------------------------------------------------------------------


def _figure_html(fig: Any) -> str:
    return str(
        fig.to_html(
            include_plotlyjs=False,
            full_html=False,
            config={"displaylogo": False, "responsive": True},
        )
    )


def _label(text: str) -> str:
    # plotly renders a few HTML tags in labels; escaped text shows as written
    return html.escape(text)


def _pairing_chart(comparison: Comparison) -> str:
    """Expected revenue difference per variant: paired interval above the unpaired one."""
    import plotly.graph_objects as go

    d = comparison.deltas[comparison.deltas["metric"] == "revenue"]
    if d.empty:
        return ""
    y = np.arange(len(d), dtype=float)
    diff = d["difference"].to_numpy()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=diff,
            y=y - 0.12,
            mode="markers",
            name="paired (common random numbers)",
            marker={"color": _VARIANT_COLOR, "size": 9},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": d["ci_high"].to_numpy() - diff,
                "arrayminus": diff - d["ci_low"].to_numpy(),
                "color": _VARIANT_COLOR,
            },
        )
    )
    fig.add_trace(
        go.Scatter(
            x=diff,
            y=y + 0.12,
            mode="markers",
            name="two independent runs would give",
            marker={"color": "#888888", "size": 7, "symbol": "diamond-open"},
            error_x={
                "type": "data",
                "array": d["unpaired_half_width"].to_numpy(),
                "color": "#888888",
            },
        )
    )
    fig.add_vline(x=0, line_dash="dot", line_color="#444444")
    currency = comparison.base.model.currency if comparison.base.model else ""
    fig.update_layout(
        height=140 + 55 * len(d),
        margin={"l": 10, "r": 10, "t": 20, "b": 40},
        xaxis_title=f"Expected revenue: variant − base ({_label(currency)})",
        yaxis={
            "tickvals": y,
            "ticktext": [_label(n) for n in d["name"]],
            "autorange": "reversed",
            "zeroline": False,
        },
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0},
        template="plotly_white",
    )
    return _figure_html(fig)


def _fan_charts(comparison: Comparison) -> list[dict[str, str]]:
    """Cumulative won revenue over the year, P10-P90 and P25-P75 bands and the median."""
    import plotly.graph_objects as go

    from simsales.report.data import ReportData

    runs: list[tuple[str, Forecast]] = [("Base", comparison.base), *comparison.variants.items()]
    curves = [(name, ReportData(f).s_curve) for name, f in runs]
    top = max((float(c["p90"].max()) for _, c in curves if len(c)), default=0.0) * 1.05
    out = []
    for i, (name, c) in enumerate(curves):
        color = _BASE_COLOR if i == 0 else _VARIANT_COLOR
        x = [str(d) for d in c["date"]]
        fig = go.Figure()
        for lo, hi, alpha in (("p10", "p90", 0.15), ("p25", "p75", 0.3)):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=c[hi],
                    mode="lines",
                    line={"width": 0},
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=c[lo],
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor=_rgba(color, alpha),
                    name=f"{lo.upper()}–{hi.upper()}",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=x, y=c["p50"], mode="lines", line={"color": color, "width": 2}, name="median"
            )
        )
        fig.update_layout(
            title={"text": _label(name), "font": {"size": 14}},
            height=300,
            margin={"l": 10, "r": 10, "t": 40, "b": 30},
            showlegend=i == 0,
            yaxis={"range": [0, top or 1], "title": "cumulative won revenue"},
            legend={"orientation": "h", "y": -0.15},
            template="plotly_white",
        )
        out.append({"name": name, "html": _figure_html(fig)})
    return out


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# --- risk tables ------------------------------------------------------------------------


def _pp(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:+.1f} pp"


def _days(x: float) -> str:
    if x is None or math.isnan(x):
        return "–"
    return "∞" if math.isinf(x) else f"{x:+.0f} d"


def _money(x: float, locale: str) -> str:
    return fmt_money(x, locale)


def _bounds(r: dict[str, Any], key: str, locale: str) -> str:
    """``[low, high]`` of the columns ``key_low`` and ``key_high``."""
    return f"[{_money(r[f'{key}_low'], locale)}, {_money(r[f'{key}_high'], locale)}]"


def _interval(r: dict[str, Any], key: str, locale: str) -> str:
    return f"{_money(r[key], locale)} {_bounds(r, key, locale)}"


def _register_html(risks: RiskContribution, base: Scenario | None, locale: str) -> Markup:
    """The risk register section, rendered from its own template."""
    if base is None or not base.risks:
        return Markup("")

    def money(x: float) -> str:
        return "–" if not math.isfinite(x) else _money(x, locale)

    def pct(p: float) -> str:
        return "–" if not math.isfinite(p) else f"{p:.0%}"

    table = risk_register(risks, base)
    rows = [
        {
            "name": r.name,
            "risk": r.risk,
            "p_before": pct(r.p_before),
            "impact_before": money(r.impact_before),
            "cost_before": money(r.expected_cost_before),
            "p_after": pct(r.p_after),
            "impact_after": money(r.impact_after),
            "cost_after": money(r.expected_cost_after),
            "spend": money(r.mitigation_cost),
            "gain": f"{money(r.margin_gain)} [{money(r.margin_gain_low)}, "
            f"{money(r.margin_gain_high)}]"
            if math.isfinite(r.margin_gain)
            else "–",
            "verdict": r.verdict,
        }
        for r in table.itertuples()
    ]
    env = Environment(loader=PackageLoader("simsales.report", "templates"), autoescape=True)
    return Markup(env.get_template("risk_register.html.j2").render(rows=rows))


def _main_target(risks: RiskContribution) -> str | None:
    """The target of the longest period (the year, usually): the one leadership watches."""
    model = risks.comparison.base.model
    targets = sorted(model.targets, key=lambda t: t[1] - t[2]) if model is not None else []
    present = [t[0] for t in targets if f"target_probability_cost:{t[0]}" in risks.risks.columns]
    return present[0] if present else None


def _risk_rows(risks: RiskContribution, locale: str) -> list[dict[str, str]]:
    rows = []
    target = _main_target(risks)
    for r in risks.risks.to_dict("records"):
        rows.append(
            {
                "rank": str(r["rank"]),
                "risk": r["risk"],
                "name": r["name"],
                "scope": r["scope"],
                "revenue_cost": _money(r["revenue_cost"], locale),
                "ci": _bounds(r, "revenue_cost", locale),
                "significant": "yes" if r["revenue_cost_significant"] else "no",
                "delay": _days(r["p80_delay_days"]),
                "target": _pp(r[f"target_probability_cost:{target}"]) if target else "–",
            }
        )
    return rows


def _mitigation_rows(risks: RiskContribution, locale: str) -> list[dict[str, str]]:
    rows = []
    for r in risks.mitigations.to_dict("records"):
        rows.append(
            {
                "risk": r["risk"],
                "name": r["name"],
                "cost": _money(r["mitigation_cost"], locale),
                "revenue_gain": _interval(r, "revenue_gain", locale),
                "margin_gain": _interval(r, "margin_gain", locale),
                "ratio": "–"
                if math.isnan(r["benefit_cost_ratio"])
                else f"{r['benefit_cost_ratio']:.2f}",
                "verdict": r["verdict"],
            }
        )
    return rows
