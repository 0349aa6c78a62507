"""A self-contained, offline HTML page of a what-if comparison, in the base scenario's language.

One file, no network: plotly.js is inlined once (see :mod:`simsales.report.pages`), the charts
are plotly figures, and every text that comes from the scenario (names, ids, descriptions) goes
through Jinja2's autoescape (and is escaped again before plotly renders it as a label). The
page shows why pairing matters: the paired interval of the revenue difference beside the
interval two independent runs would give.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from simsales.i18n import N_, MoneyUnit, Translator, translator
from simsales.io.outputs import Output, write_text
from simsales.report.compare_format import format_row, is_key_metric, locale_of
from simsales.report.data import SCOPES
from simsales.report.interactive import FONT_STACK
from simsales.report.pages import environment, render_page
from simsales.results.compare import Comparison
from simsales.results.forecast import Forecast
from simsales.results.risk_contribution import RiskContribution
from simsales.results.risk_register import risk_register
from simsales.scenario.schema import Scenario

__all__ = ["render_compare_html", "write_compare_html"]

_BASE_COLOR, _VARIANT_COLOR = "#1f4e79", "#c0504d"
_VERDICTS = {"pays off": N_("verdict_pays_off"), "does not pay off": N_("verdict_does_not_pay_off"),
             "unclear": N_("verdict_unclear"),
             "no mitigation": N_("verdict_no_mitigation")}  # fmt: skip


def write_compare_html(
    comparison: Comparison,
    path: str | Path | Output,
    risks: RiskContribution | None = None,
    locale: str | None = None,
) -> Path:
    """Write the comparison page to ``path`` atomically (see :mod:`simsales.io.outputs`)."""
    return write_text(path, render_compare_html(comparison, risks, locale))


def render_compare_html(
    comparison: Comparison, risks: RiskContribution | None = None, locale: str | None = None
) -> str:
    """The page as a string (see :func:`write_compare_html`), in ``locale`` (default: the base
    scenario's)."""
    base = comparison.scenarios.get("")
    t = translator(locale or locale_of(comparison))
    variants = []
    for name in comparison.variants:
        rows = comparison.deltas[comparison.deltas["name"] == name].to_dict("records")
        formatted = [(format_row(r, comparison, t), is_key_metric(r["metric"])) for r in rows]
        variants.append(
            {
                "name": name,
                "key": [f for f, key in formatted if key],
                "deals": [f for f, key in formatted if not key],
            }
        )
    return render_page(
        "compare.html.j2",
        t,
        title=base.name if base is not None else t("cmp_untitled"),
        description=base.description if base is not None else None,
        seed=comparison.seed,
        replications=comparison.replications,
        currency=base.currency if base is not None else "",
        pairing_chart=_pairing_chart(comparison, t),
        fans=_fan_charts(comparison, t),
        variants=variants,
        risks=_risk_rows(risks, t) if risks is not None else None,
        main_target=_main_target(risks, t) if risks is not None else None,
        mitigations=_mitigation_rows(risks, t) if risks is not None else None,
        risk_register=_register_html(risks, base, t) if risks is not None else "",
    )


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


def _layout(fig: Any) -> None:
    fig.update_layout(font={"family": FONT_STACK}, template="plotly_white")


def _pairing_chart(comparison: Comparison, t: Translator) -> str:
    """Expected revenue difference per variant: paired interval above the unpaired one."""
    import plotly.graph_objects as go

    d = comparison.deltas[comparison.deltas["metric"] == "revenue"]
    if d.empty:
        return ""
    y = np.arange(len(d), dtype=float)
    currency = comparison.base.model.currency if comparison.base.model else ""
    unit = MoneyUnit(t.locale, currency)  # 万元 in Chinese, millions in English
    diff = d["difference"].to_numpy() / unit.scale
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=diff,
            y=y - 0.12,
            mode="markers",
            name=_label(t("cmp_paired_legend")),
            marker={"color": _VARIANT_COLOR, "size": 9},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": d["ci_high"].to_numpy() / unit.scale - diff,
                "arrayminus": diff - d["ci_low"].to_numpy() / unit.scale,
                "color": _VARIANT_COLOR,
            },
        )
    )
    fig.add_trace(
        go.Scatter(
            x=diff,
            y=y + 0.12,
            mode="markers",
            name=_label(t("cmp_unpaired_legend")),
            marker={"color": "#888888", "size": 7, "symbol": "diamond-open"},
            error_x={
                "type": "data",
                "array": d["unpaired_half_width"].to_numpy() / unit.scale,
                "color": "#888888",
            },
        )
    )
    fig.add_vline(x=0, line_dash="dot", line_color="#444444")
    fig.update_layout(
        height=140 + 55 * len(d),
        margin={"l": 10, "r": 10, "t": 20, "b": 40},
        xaxis_title=_label(t("cmp_pairing_axis", currency=unit.name)),
        yaxis={
            "tickvals": y,
            "ticktext": [_label(n) for n in d["name"]],
            "autorange": "reversed",
            "zeroline": False,
        },
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0},
    )
    _layout(fig)
    return _figure_html(fig)


def _fan_charts(comparison: Comparison, t: Translator) -> list[dict[str, str]]:
    """Cumulative won revenue over the year, P10-P90 and P25-P75 bands and the median."""
    import plotly.graph_objects as go

    from simsales.report.data import ReportData

    runs: list[tuple[str, Forecast]] = [
        (t("cmp_base"), comparison.base),
        *comparison.variants.items(),
    ]
    curves = [(name, ReportData(f).s_curve) for name, f in runs]
    currency = comparison.base.model.currency if comparison.base.model else ""
    unit = MoneyUnit(t.locale, currency)
    top = max((float(c["p90"].max()) for _, c in curves if len(c)), default=0.0) * 1.05
    top /= unit.scale
    out = []
    for i, (name, c) in enumerate(curves):
        color = _BASE_COLOR if i == 0 else _VARIANT_COLOR
        x = [str(d) for d in c["date"]]
        fig = go.Figure()
        for lo, hi, alpha in (("p10", "p90", 0.15), ("p25", "p75", 0.3)):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=c[hi] / unit.scale,
                    mode="lines",
                    line={"width": 0},
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=c[lo] / unit.scale,
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor=_rgba(color, alpha),
                    name=f"{lo.upper()}–{hi.upper()}",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=c["p50"] / unit.scale,
                mode="lines",
                line={"color": color, "width": 2},
                name=_label(t("median")),
            )
        )
        fig.update_layout(
            title={"text": _label(name), "font": {"size": 14}},
            height=300,
            margin={"l": 10, "r": 10, "t": 40, "b": 30},
            showlegend=i == 0,
            yaxis={"range": [0, top or 1], "title": _label(t("money_axis", unit=unit.name))},
            # plotly.js names months in English only; in Chinese, numbers say it
            xaxis={"tickformat": "%Y-%m"} if t.zh else {},
            legend={"orientation": "h", "y": -0.15},
        )
        _layout(fig)
        out.append({"name": name, "html": _figure_html(fig)})
    return out


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# --- risk tables ------------------------------------------------------------------------


def _bounds(r: dict[str, Any], key: str, t: Translator) -> str:
    """``[low, high]`` of the columns ``key_low`` and ``key_high``."""
    return f"[{t.money(r[f'{key}_low'])}, {t.money(r[f'{key}_high'])}]"


def _interval(r: dict[str, Any], key: str, t: Translator) -> str:
    return f"{t.money(r[key])} {_bounds(r, key, t)}"


def _register_html(risks: RiskContribution, base: Scenario | None, t: Translator) -> Markup:
    """The risk register section, rendered from its own template."""
    if base is None or not base.risks:
        return Markup("")

    money, pct = t.money, t.percent
    rows = [
        {
            "name": r["name"],
            "risk": r["risk"],
            "p_before": pct(r["p_before"]),
            "impact_before": money(r["impact_before"]),
            "cost_before": money(r["expected_cost_before"]),
            "p_after": pct(r["p_after"]),
            "impact_after": money(r["impact_after"]),
            "cost_after": money(r["expected_cost_after"]),
            "spend": money(r["mitigation_cost"]),
            "gain": _interval(r, "margin_gain", t) if math.isfinite(r["margin_gain"]) else "–",
            "verdict": t(_VERDICTS[r["verdict"]]),
        }
        for r in risk_register(risks, base).to_dict("records")
    ]
    return Markup(environment().get_template("risk_register.html.j2").render(rows=rows, t=t))


def _target_period(risks: RiskContribution) -> str | None:
    """The target of the longest period (the year, usually): the one leadership watches."""
    model = risks.comparison.base.model
    targets = sorted(model.targets, key=lambda t: t[1] - t[2]) if model is not None else []
    present = [t[0] for t in targets if f"target_probability_cost:{t[0]}" in risks.risks.columns]
    return present[0] if present else None


def _main_target(risks: RiskContribution, t: Translator) -> str | None:
    period = _target_period(risks)
    return t.period(period) if period else None


def _risk_rows(risks: RiskContribution, t: Translator) -> list[dict[str, str]]:
    rows = []
    target = _target_period(risks)
    for r in risks.risks.to_dict("records"):
        cost = r[f"target_probability_cost:{target}"] if target else math.nan
        rows.append(
            {
                "rank": str(r["rank"]),
                "risk": r["risk"],
                "name": r["name"],
                "scope": t(SCOPES[r["scope"]]),
                "revenue_cost": t.money(r["revenue_cost"]),
                "ci": _bounds(r, "revenue_cost", t),
                "significant": t("yes") if r["revenue_cost_significant"] else t("no"),
                "sig": "yes" if r["revenue_cost_significant"] else "no",
                "delay": t.days(r["p80_delay_days"], signed=True),
                "target": t.pp(cost),
            }
        )
    return rows


def _mitigation_rows(risks: RiskContribution, t: Translator) -> list[dict[str, str]]:
    rows = []
    for r in risks.mitigations.to_dict("records"):
        rows.append(
            {
                "risk": r["risk"],
                "name": r["name"],
                "cost": t.money(r["mitigation_cost"]),
                "revenue_gain": _interval(r, "revenue_gain", t),
                "margin_gain": _interval(r, "margin_gain", t),
                "ratio": t.number(r["benefit_cost_ratio"], 2),
                "verdict": t(_VERDICTS[r["verdict"]]),
            }
        )
    return rows
