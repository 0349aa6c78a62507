"""The self-contained HTML report: one file, readable offline, in the scenario's language.

- Everything is inside the file: CSS, the sortable-table script, plotly.js and the chart data.
  No external scripts, fonts, images or style sheets. Plotly's bundle mentions web addresses in
  code and comments (never fetched by these charts); they are neutralised, so the report adds no
  ``http(s)://`` text of its own.
- Jinja2 autoescaping is on, so any text from a scenario (a deal named
  ``<script>alert(1)</script>``) shows as text. Chart data goes to the page as JSON inside a
  ``<script type="application/json">`` element with ``<``, ``>`` and ``&`` written as
  ``\\u003c``-style escapes, so no string can end that element early.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io as pio
from markupsafe import Markup

from simsales.i18n import N_, Translator, weekday_names
from simsales.io.outputs import Output, write_text
from simsales.report.data import SCOPES, ReportData
from simsales.report.forecast_call import forecast_call_context
from simsales.report.interactive import figures
from simsales.report.pages import render_page
from simsales.results.forecast import Forecast
from simsales.scenario.schema import QueueDiscipline, Stage

__all__ = ["render_report", "script_json", "write_report"]

_PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["lasso2d", "select2d"],
}


def script_json(value: str | Any) -> Markup:
    """JSON (given as text, or as data to dump) that is safe inside a <script> element."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return Markup(text)


def render_report(forecast: Forecast | ReportData) -> str:
    """The report as one HTML string."""
    data = ReportData.of(forecast)
    charts = figures(data)
    chart_json = (
        "{"
        + ",".join(
            f"{json.dumps(key)}:{pio.to_json(fig, validate=False)}" for key, fig in charts.items()
        )
        + "}"
    )
    context = _context(data)
    context.update(
        charts=set(charts),
        chart_data=script_json(chart_json),
        plotly_config=script_json(_PLOTLY_CONFIG),
    )
    return render_page("report.html.j2", data.t, **context)


def write_report(forecast: Forecast | ReportData, path: str | Path | Output) -> Path:
    """Render the report and write it to ``path`` atomically (see :mod:`simsales.io.outputs`)."""
    return write_text(path, render_report(forecast))


# --- the template's context ----------------------------------------------------------------


def _num(x: Any) -> float | None:
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _sort_date(d: date | None) -> int:
    return d.toordinal() if d is not None else 10**7  # "after the horizon" sorts last


def _pct_range(t: Translator, low: Any, high: Any, digits: int = 0) -> str:
    return f"{t.percent(_num(low), digits)} – {t.percent(_num(high), digits)}"


def _level(p: float | None) -> str:
    if p is None:
        return ""
    return "good" if p >= 0.7 else ("warn" if p >= 0.4 else "bad")


def _context(data: ReportData) -> dict[str, Any]:
    prov = data.forecast.provenance

    def money(x: Any) -> str:
        return data.t.money(_num(x))

    return {
        "name": data.model.name,
        "description": data.scenario.description if data.scenario else None,
        "generated": data.t(
            "generated",
            created=str(prov.get("created_at", "")).replace("T", " "),
            replications=data.forecast.replications,
            seed=prov.get("seed", ""),
        ),
        "currency_note": data.t("amounts_in", currency=data.model.currency),
        "cards": _cards(data, money),
        "findings": _findings(data, money),
        "targets": _targets(data, money),
        "deals": _deals(data, money),
        "ranking": _ranking(data),
        "pools": _pools(data, money),
        "stage_waits": _stage_waits(data),
        "risks": _risks(data),
        "drivers": _drivers(data),
        "funnel": _funnel_rows(data),
        "stages": _stages(data, money),
        "assumptions": _assumptions(data, money),
        **forecast_call_context(data),  # categories and roll-ups: their own templates
    }


def _cards(data: ReportData, money: Any) -> list[dict[str, str]]:
    p = data.summary.portfolio.set_index("metric")
    rev, won = p.loc["revenue"], p.loc["won_deals"]
    cards = [
        {
            "label": data.t("expected_revenue"),
            "value": money(rev["mean"]),
            "note": data.t(
                "expected_revenue_note",
                horizon=data.t.date(data.model.horizon),
                p10=money(rev["p10"]),
                p90=money(rev["p90"]),
            ),
        },
        {
            "label": data.t("won_deals"),
            "value": f"{won['mean']:.1f}",
            "note": data.t("won_deals_note", live=len(data.model.deal_ids)),
        },
    ]
    closing = data.summary.closing
    for key, share in (("pipeline_p50", 0.5), ("pipeline_p80", 0.8)):
        row = closing[closing["share"] == share]
        if len(row) and len(data.model.deal_ids):
            r = row.iloc[0]
            cards.append(
                {
                    "label": data.t(key),
                    "value": data.t.date(r["date"]),
                    "note": data.t(
                        "decided_note",
                        low=data.t.date(r["date_low"]),
                        high=data.t.date(r["date_high"]),
                    ),
                }
            )
    ranking = data.bottlenecks.ranking
    if len(ranking) and ranking.iloc[0]["wait_days"] > 0:
        top = ranking.iloc[0]
        cards.append(
            {
                "label": data.t("top_bottleneck"),
                "value": data.pool_name(top["pool"]),
                "note": data.t("top_bottleneck_note", days=f"{top['wait_days']:,.0f}"),
            }
        )
    return cards


def _findings(data: ReportData, money: Any) -> list[str]:
    out: list[str] = []
    periods = data.summary.periods
    targets = periods[periods["target"].notna()]
    if len(targets):
        best = targets.loc[targets["target_probability"].idxmax()]
        worst = targets.loc[targets["target_probability"].idxmin()]
        year = targets[~targets["period"].str.contains(r"[QH-]", regex=True)]
        main = year.iloc[0] if len(year) else worst
        out.append(
            data.t(
                "finding_target",
                period=data.t.period(main["period"]),
                target=money(main["target"]),
                p=data.t.percent(main["target_probability"]),
            )
        )
        if len(targets) > 1:
            out.append(
                data.t(
                    "finding_target_best",
                    period=data.t.period(best["period"]),
                    p=data.t.percent(best["target_probability"]),
                    worst=data.t.period(worst["period"]),
                    pw=data.t.percent(worst["target_probability"]),
                )
            )
    ranking = data.bottlenecks.ranking
    if len(ranking) and ranking.iloc[0]["wait_days"] > 0:
        top = ranking.iloc[0]
        out.append(
            data.t(
                "finding_bottleneck",
                pool=data.pool_name(top["pool"]),
                days=f"{top['wait_days']:,.0f}",
                weeks=", ".join(top["worst_weeks"]),
            )
        )
    sens = data.sensitivity
    for output in data.outputs[:1] + [o for o in data.outputs if o == "close_p80"]:
        rows = sens[(sens["output"] == output) & ((sens["rho_low"] > 0) | (sens["rho_high"] < 0))]
        if len(rows):  # only drivers whose interval excludes zero
            r = rows.loc[rows["rho"].abs().idxmax()]
            out.append(
                data.t(
                    "finding_driver",
                    output=data.output_label(output),
                    input=data.input_label(r["input"]),
                    rho=f"{r['rho']:+.2f}",
                )
            )
    risks = data.risks[data.risks["hit_deals"] > 0]
    if len(risks):
        r = risks.loc[risks["hits"].idxmax()]
        out.append(
            data.t(
                "finding_risk",
                risk=data.risk_name(r["risk"]),
                p=data.t.percent(r["occurred"]),
                w=data.t.percent(r["hit_win_rate"]),
            )
        )
    p = data.summary.portfolio.set_index("metric")
    out.append(data.t("finding_open", n=f"{p.loc['open_deals', 'mean']:.1f}"))
    return [f[:1].upper() + f[1:] for f in out]


def _targets(data: ReportData, money: Any) -> list[dict[str, Any]]:
    rows = []
    for _, r in data.summary.periods.iterrows():  # in calendar order
        if not np.isfinite(r["target"]):
            continue
        prob = _num(r["target_probability"])
        rows.append(
            {
                "period": data.t.period(r["period"]),
                "target": money(r["target"]),
                "p": data.t.percent(prob),
                "p_width": round(100 * (prob or 0.0), 1),
                "level": _level(prob),
                "ci": _pct_range(data.t, r["target_probability_low"], r["target_probability_high"]),
                "median": money(r["p50"]),
                "range": f"{money(r['p10'])} – {money(r['p90'])}",
            }
        )
    return rows


def _deals(data: ReportData, money: Any) -> list[dict[str, Any]]:
    rows = []
    for _, r in data.summary.deals.iterrows():
        p = _num(r["win_probability"])
        rows.append(
            {
                "deal": r["deal"],
                "name": r["name"] if r["name"] != r["deal"] else "",
                "customer": r["customer"],
                "type": data.type_name(r["type"]),
                "stage": data.stage_name(r["stage"]),
                "stage_sort": data.model.stage_ids.index(r["stage"]),
                "value": money(r["value"]),
                "value_sort": _num(r["value"]) or 0.0,
                "p": data.t.percent(p),
                "p_sort": p or 0.0,
                "level": _level(p),
                "p_ci": _pct_range(data.t, r["win_probability_low"], r["win_probability_high"]),
                **{f"close_{k}": data.t.date(r[f"close_{k}"]) for k in ("p10", "p50", "p90")},
                **{f"close_{k}_sort": _sort_date(r[f"close_{k}"]) for k in ("p10", "p50", "p90")},
                "won_p50": data.t.date(r["win_p50"]) if r["win_p50"] is not None else "–",
                "won_p50_sort": _sort_date(r["win_p50"]),
                "revenue": money(r["expected_revenue"]),
                "revenue_sort": _num(r["expected_revenue"]) or 0.0,
                "margin": money(r["expected_margin"]),
                "margin_sort": _num(r["expected_margin"]) or 0.0,
                "open": data.t.percent(r["open_probability"]),
                "open_sort": float(r["open_probability"]),
            }
        )
    return rows


def _ranking(data: ReportData) -> list[dict[str, Any]]:
    rows = []
    for _, r in data.bottlenecks.ranking.iterrows():
        rows.append(
            {
                "rank": int(r["rank"]),
                "pool": data.pool_name(r["pool"]),
                "wait": f"{r['wait_days']:,.0f}",
                "ci": f"{r['wait_days_low']:,.0f} – {r['wait_days_high']:,.0f}"
                if np.isfinite(r["wait_days_low"])
                else "",
                "share": data.t.percent(_num(r["share"])),
                "share_width": round(100 * (_num(r["share"]) or 0.0), 1),
                "weeks": ", ".join(r["worst_weeks"]),
                "utilization": data.t.percent(_num(r["utilization"])),
                "peak": data.t.percent(_num(r["peak_utilization"])),
            }
        )
    return rows


def _pools(data: ReportData, money: Any) -> list[dict[str, Any]]:
    res = data.summary.resources.set_index("pool")
    rows = []
    for _, r in data.bottlenecks.pools.iterrows():
        pool = r["pool"]
        rows.append(
            {
                "pool": data.pool_name(pool),
                "utilization": data.t.percent(_num(res.loc[pool, "utilization"])),
                "requests": f"{r['requests']:.1f}",
                "mean_wait": f"{r['mean_wait_days']:.1f}"
                if np.isfinite(r["mean_wait_days"])
                else "–",
                "queue": f"{r['mean_queue_length']:.2f}",
                "cost": money(res.loc[pool, "cost"]),
            }
        )
    return rows


def _stage_waits(data: ReportData) -> list[dict[str, Any]]:
    rows = []
    for _, r in data.bottlenecks.stages.iterrows():
        rows.append(
            {
                "stage": data.stage_name(r["stage"]),
                "visits": f"{r['visits']:.1f}",
                "waited": data.t.percent(_num(r["waited_share"])),
                "per_visit": f"{r['mean_wait_days']:.1f}"
                if np.isfinite(r["mean_wait_days"])
                else "–",
                "total": f"{r['wait_days']:,.0f}",
                "queued": f"{r['queued_at_horizon']:.2f}",
            }
        )
    return rows


_KINDS = {"fixed": N_("dist_fixed"), "uniform": N_("dist_uniform"),
          "triangular": N_("dist_triangular"), "pert": N_("dist_pert"),
          "lognormal": N_("dist_lognormal"), "normal": N_("dist_normal"),
          "exponential": N_("dist_exponential"), "empirical": N_("dist_empirical"),
          "discrete": N_("dist_discrete")}  # fmt: skip


def _describe(spec: Any, t: Translator) -> str:
    """A distribution in the scenario's terms, its kind in words: ``PERT [5, 8, 15]``,
    ``对数正态 p50=12, p90=30``."""
    if spec is None:
        return ""
    dumped = spec.model_dump(mode="json", exclude_none=True)
    kind, params = next(iter(dumped.items()))
    if isinstance(params, dict) and {"low", "mode", "high"} <= set(params):
        extra = {k: v for k, v in params.items() if k not in ("low", "mode", "high")}
        if extra.get("lamb", 4) == 4:  # PERT's usual shape: write it like the short form
            params = [params["low"], params["mode"], params["high"]]
    if isinstance(params, dict):
        inner = ", ".join(f"{k}={_short(v, t)}" for k, v in params.items())
    elif isinstance(params, list):
        inner = "[" + ", ".join(_short(v, t) for v in params) + "]"
    else:
        inner = _short(params, t)
    return f"{t(_KINDS[kind]) if kind in _KINDS else kind} {inner}"


def _short(v: Any, t: Translator) -> str:
    if isinstance(v, float | int) and not isinstance(v, bool):
        if abs(v) >= 1e4:  # amounts of money: 1.2M / 120万 rather than 1.2e+06
            return t.money(float(v))
        return f"{v:g}"
    if isinstance(v, list):
        return "[" + ", ".join(_short(x, t) for x in v) + "]"
    return str(v)


def _risks(data: ReportData) -> list[dict[str, Any]]:
    scen = {r.id: r for r in data.scenario.risks} if data.scenario else {}
    rows = []
    for _, r in data.risks.iterrows():
        risk = scen.get(r["risk"])
        impact, mitigation = "", data.t("none")
        if risk is not None:
            imp = risk.impact
            if risk.mitigated and risk.mitigation is not None and risk.mitigation.impact:
                imp = risk.mitigation.impact
            parts = []
            if imp.delay is not None:
                parts.append(data.t("impact_delay", d=_describe(imp.delay, data.t)))
            if imp.win_factor is not None:
                parts.append(data.t("impact_win", f=f"{imp.win_factor:g}"))
            if imp.value_factor is not None:
                parts.append(data.t("impact_value", f=f"{imp.value_factor:g}"))
            if imp.lost:
                parts.append(data.t("impact_lost"))
            if imp.capacity is not None and imp.duration is not None:
                parts.append(
                    data.t("impact_capacity", c=imp.capacity, d=_describe(imp.duration, data.t))
                )
            impact = data.t("clause_sep").join(parts)
            if risk.mitigation is not None:
                state = data.t("mitigated") if risk.mitigated else data.t("not_mitigated")
                mitigation = f"{state} ({data.t.money(risk.mitigation.cost)})"
        hit_win = _num(r["hit_win_rate"])
        rows.append(
            {
                "risk": data.risk_name(r["risk"]),
                "id": r["risk"],
                "scope": data.t(SCOPES[r["scope"]]),
                "input_p": data.t.percent(r["input_p"], 1),
                "occurred": data.t.percent(r["occurred"]),
                "occurred_ci": _pct_range(data.t, r["occurred_low"], r["occurred_high"]),
                "hits": f"{r['hits']:.2f}",
                "delay": f"{r['mean_delay_days']:.1f}"
                if np.isfinite(r["mean_delay_days"]) and r["mean_delay_days"] > 0
                else "–",
                "hit_win": data.t.percent(hit_win) if hit_win is not None else "–",
                "impact": impact,
                "mitigation": mitigation,
            }
        )
    return rows


def _drivers(data: ReportData) -> list[dict[str, Any]]:
    from simsales.results.sensitivity import tornado

    rows = []
    for output in data.outputs:
        top = tornado(data.sensitivity, output, 3)
        rows.append(
            {
                "output": data.output_label(output),
                "inputs": [
                    {
                        "name": data.input_label(i),
                        "rho": f"{rho:+.2f}",
                        "significant": bool(lo > 0 or hi < 0),
                    }
                    for i, rho, lo, hi in zip(
                        top["input"], top["rho"], top["rho_low"], top["rho_high"], strict=True
                    )
                ],
            }
        )
    return rows


def _funnel_rows(data: ReportData) -> list[dict[str, Any]]:
    rows = []
    for _, r in data.funnel.iterrows():
        rows.append(
            {
                "stage": data.stage_name(r["stage"]),
                "deals": f"{r['deals']:.1f}",
                "conversion": data.t.percent(_num(r["conversion"]), 1),
                "ci": _pct_range(data.t, r["conversion_low"], r["conversion_high"], 1),
                "input": data.t.percent(_num(r["input_advance"]), 1),
                "rework": data.t.percent(_num(r["rework_rate"]), 1)
                if r["input_rework"] > 0
                else "–",
                "rework_input": data.t.percent(_num(r["input_rework"]), 1)
                if r["input_rework"] > 0
                else "",
            }
        )
    return rows


def _stages(data: ReportData, money: Any) -> list[dict[str, Any]]:
    if data.scenario is None:
        return [
            {
                "n": i + 1,
                "id": s,
                "name": data.stage_name(s),
                "criteria": [],
                "duration": "",
                "needs": "",
                "advance": "",
                "rework": "",
                "cost": "",
            }
            for i, s in enumerate(data.model.stage_ids)
        ]
    pools = data.scenario.resources
    rows = []
    for i, st in enumerate(data.scenario.stages):
        mean = st.duration.sampler().mean()
        rows.append(
            {
                "n": i + 1,
                "id": st.id,
                "name": st.name or st.id,
                "criteria": list(st.exit_criteria),
                "duration": f"{_describe(st.duration, data.t)} "
                f"({data.t('mean_short', m=data.t.number(mean, 1))})",
                "needs": ", ".join(
                    f"{(pools[p].name or p) if p in pools else p} ×{n}" for p, n in st.needs.items()
                ),
                **_way_out(data.t, st, data.scenario.stage_ids),
                "cost": money(st.cost) if st.cost else "",
            }
        )
    return rows


def _way_out(t: Translator, st: Stage, order: tuple[str, ...]) -> dict[str, str]:
    """A stage's advance and rework cells; with exits or hazards: the share towards a win (won
    or a later stage) and every other way out but lost, with its share."""
    if st.hazards is not None:  # shares of a deal entering at age 0 (Hazards.shares)
        shares, _ = st.hazards.shares()
        exits = [(e.to, p) for e, p in zip(st.hazards.exits, shares, strict=True)]
    elif st.exits is not None:
        exits = [(e.to, e.p) for e in st.exits]
    else:
        return {
            "advance": t.percent(st.advance),
            "rework": f"→ {st.rework.to} ({t.percent(st.rework.p)})" if st.rework else "",
        }
    here = order.index(st.id)
    ahead = [p for to, p in exits if to == "won" or (to in order and order.index(to) > here)]
    back = [(to, p) for to, p in exits if to in order and order.index(to) <= here]
    return {
        "advance": t.percent(sum(ahead)),
        "rework": ", ".join(f"→ {to} ({t.percent(p)})" for to, p in back),
    }


def _holidays(holidays: Any, t: Translator) -> str:
    """A country's public holidays by the country's name (``CN`` -> 中国), or how many dates."""
    if isinstance(holidays, str):
        return t("holidays", h=t.babel.territories.get(holidays.upper(), holidays))
    return t("holiday_dates", n=len(holidays))


def _queue(q: QueueDiscipline, t: Translator) -> str:
    if q.priority == "fifo":
        return t("queue_fifo")
    if q.priority == "earliest_target":
        return t("queue_earliest_target")
    order = t("order_desc") if q.order == "desc" else t("order_asc")
    return t("queue_expression", expression=q.priority, order=order)


def _assumptions(data: ReportData, money: Any) -> dict[str, Any]:
    sc = data.scenario
    prov = data.forecast.provenance
    facts: list[tuple[str, str]] = [(data.t("scenario"), data.model.name)]
    if sc is not None:
        cal = sc.calendar
        if cal.continuous:
            calendar = data.t("continuous")
        else:
            days = data.t("list_sep").join(weekday_names(cal.workdays, data.locale))
            calendar = data.t("working_days", days=days)
            if cal.holidays:
                calendar += data.t("clause_sep") + _holidays(cal.holidays, data.t)
        q = sc.queue_discipline
        facts += [
            (data.t("start"), data.t.date(sc.start)),
            (data.t("horizon"), data.t.date(sc.horizon)),
            (data.t("calendar"), calendar),
            (data.t("currency"), sc.currency),
            (data.t("queue_discipline"), _queue(q, data.t)),
        ]
    reps = str(data.forecast.replications)
    if prov.get("stopped_early"):
        reps += " — " + data.t("stopped_early", n=prov.get("replications_requested"))
    facts += [
        (data.t("replications"), reps),
        (data.t("seed"), str(prov.get("seed", ""))),
        (data.t("scenario_hash"), str(prov.get("scenario_hash", ""))),
        (data.t("created"), str(prov.get("created_at", ""))),
        (data.t("versions"), ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items())),
    ]
    out: dict[str, Any] = {"facts": facts, "pools": [], "types": [], "arrivals": [], "rules": []}
    if sc is None:
        return out
    for pid, pool in sc.resources.items():
        changes = data.t("list_sep").join(
            f"{data.t.date(c.from_)}: {c.capacity}" for c in pool.capacity_changes
        )
        out["pools"].append(
            {
                "id": pid,
                "name": pool.name or pid,
                "capacity": pool.capacity,
                "changes": changes,
                "cost": money(pool.cost_per_day),
                "external": data.t("yes") if pool.external else "",
            }
        )
    for tid, dt in sc.deal_types.items():
        out["types"].append(
            {
                "id": tid,
                "name": dt.name or tid,
                "value": _describe(dt.value, data.t),
                "margin": data.t.percent(dt.margin),
                "skip": ", ".join(dt.skip),
            }
        )
    for a in sc.arrivals:
        rate = (
            f"{a.per_month:g}" if a.per_month is not None else data.t("per_day", x=f"{a.per_day:g}")
        )
        out["arrivals"].append(
            {
                "type": data.type_name(a.type),
                "rate": rate,
                "seasonality": ", ".join(f"{k} ×{v:g}" for k, v in a.seasonality.items()),
                "window": f"{data.t.date(a.window[0])} – {data.t.date(a.window[1])}"
                if a.window
                else "",
            }
        )
    for rule in sc.rules:
        then = rule.then.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        out["rules"].append(
            {
                "id": rule.id,
                "when": str(getattr(rule.when, "source", rule.when)),
                "then": ", ".join(f"{k}: {_describe_any(v, data.t)}" for k, v in then.items()),
            }
        )
    return out


def _describe_any(v: Any, t: Translator) -> str:
    if isinstance(v, dict) and len(v) == 1:
        kind, params = next(iter(v.items()))
        return f"{t(_KINDS[kind]) if kind in _KINDS else kind} {_short(params, t)}"
    return _short(v, t)
