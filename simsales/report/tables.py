"""Display tables for notebooks: a forecast's summary and a comparison as DataFrames of text,
numbers formatted in the scenario's language (thousands separators, 2683万 or 26.8M, dates in
words, periods in calendar order) with headers from the catalogs. ``Summary.tables()``,
``Comparison.table()`` and their ``_repr_html_`` use them."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

from simsales.i18n import N_, translator
from simsales.report.compare_format import format_row, is_key_metric, locale_of
from simsales.results.compare import Comparison
from simsales.results.summary import Summary

__all__ = ["comparison_table", "summary_html", "summary_tables"]

_PORTFOLIO = {"won_deals": N_("won_deals"), "revenue": N_("m_revenue"), "cost": N_("m_cost"),
              "margin": N_("m_margin"), "open_deals": N_("open_at_horizon")}  # fmt: skip


def _interval(value: str, low: str, high: str) -> str:
    return f"{value} [{low} – {high}]"


def summary_tables(summary: Summary, locale: str | None = None) -> dict[str, pd.DataFrame]:
    """The summary's tables as text: ``portfolio``, ``deals``, ``periods``, ``pools`` and
    ``closing`` (when each share of the live pipeline is decided)."""
    t = translator(locale or summary.locale)
    portfolio = []
    for _, r in summary.portfolio.iterrows():
        money = r["metric"] in ("revenue", "cost", "margin")

        def fmt(x: Any, money: bool = money) -> str:
            return t.money(x) if money else t.number(x, 1)

        portfolio.append(
            {
                t("cmp_metric"): t(_PORTFOLIO.get(r["metric"], r["metric"])),
                t("mean"): _interval(fmt(r["mean"]), fmt(r["mean_low"]), fmt(r["mean_high"])),
                "P10": fmt(r["p10"]),
                "P50": fmt(r["p50"]),
                "P90": fmt(r["p90"]),
            }
        )
    deals = []
    for _, r in summary.deals.iterrows():
        deals.append(
            {
                t("deal"): r["deal"],
                t("customer"): r["customer"],
                t("stage"): r["stage"],
                t("value"): t.money(r["value"]),
                t("win_probability"): _interval(
                    t.percent(r["win_probability"]),
                    t.percent(r["win_probability_low"]),
                    t.percent(r["win_probability_high"]),
                ),
                t("close_p50"): t.date(r["close_p50"]),
                t("close_p90"): t.date(r["close_p90"]),
                t("won_p50"): t.date(r["win_p50"]) if r["win_p50"] is not None else "–",
                t("expected_revenue"): t.money(r["expected_revenue"]),
                t("expected_margin"): t.money(r["expected_margin"]),
            }
        )
    periods = []
    for _, r in summary.periods.iterrows():
        has_target = r["target"] == r["target"]
        periods.append(
            {
                t("period"): t.period(r["period"]),
                t("mean"): t.money(r["mean"]),
                "P10": t.money(r["p10"]),
                "P50": t.money(r["p50"]),
                "P90": t.money(r["p90"]),
                t("target"): t.money(r["target"]) if has_target else "",
                t("p_meet"): _interval(
                    t.percent(r["target_probability"]),
                    t.percent(r["target_probability_low"]),
                    t.percent(r["target_probability_high"]),
                )
                if has_target
                else "",
            }
        )
    pools = [
        {
            t("pool"): r["pool"],
            t("utilization"): t.percent(r["utilization"]),
            t("mean_wait"): t.number(r["mean_wait_days"], 1),
            t("requests_per_run"): t.number(r["requests"], 1),
            t("cost"): t.money(r["cost"]),
        }
        for _, r in summary.resources.iterrows()
    ]
    closing = [
        {
            t("nb_share"): t.percent(r["share"]),
            t("nb_decided_by"): _interval(
                t.date(r["date"]), t.date(r["date_low"]), t.date(r["date_high"])
            ),
        }
        for _, r in summary.closing.iterrows()
    ]
    return {
        "portfolio": pd.DataFrame(portfolio),
        "deals": pd.DataFrame(deals),
        "periods": pd.DataFrame(periods),
        "pools": pd.DataFrame(pools),
        "closing": pd.DataFrame(closing),
    }


def summary_html(summary: Summary, locale: str | None = None) -> str:
    """The summary for Jupyter: the headline first, then deals, periods and pools."""
    t = translator(locale or summary.locale)
    tables = summary_tables(summary, t.locale)
    head = t("nb_summary_head", scenario=summary.scenario, replications=summary.replications,
             seed=summary.seed, currency=summary.currency)  # fmt: skip
    parts = [f"<h4>{html.escape(head)}</h4>"]
    for key, title in (("portfolio", "nb_portfolio"), ("deals", "deals"),
                       ("periods", "run_periods_title"), ("pools", "pools"),
                       ("closing", "nb_closing")):  # fmt: skip
        parts.append(f"<p><b>{html.escape(t(title, currency=summary.currency))}</b></p>")
        parts.append(tables[key].to_html(index=False, border=0, escape=True))
    parts.append(f"<p>{html.escape(t('decided_means'))}</p>")
    return "\n".join(parts)


def comparison_table(
    comparison: Comparison,
    metrics: Sequence[str] | None = None,
    full: bool = False,
    locale: str | None = None,
) -> pd.DataFrame:
    """The comparison as text, one row per option and metric: base, option, difference, its
    95% interval, whether it is significant, paired and unpaired half-widths. ``metrics``
    picks metrics by name (``revenue``, ``target_probability:2027``...); by default the key
    ones (all with ``full``)."""
    t = translator(locale or locale_of(comparison))
    rows = []
    for r in comparison.deltas.to_dict("records"):
        if metrics is not None and r["metric"] not in metrics:
            continue
        if metrics is None and not full and not is_key_metric(r["metric"]):
            continue
        f = format_row(r, comparison, t)
        rows.append(
            {
                t("cmp_option_name"): f["name"],
                t("cmp_metric"): f["label"],
                t("cmp_base"): f["base"],
                t("cmp_option"): f["variant"],
                t("cmp_difference"): f["difference"],
                t("ci95"): f["ci"],
                t("cmp_significant"): f["significant"],
                t("cmp_paired"): f["half_width"],
                t("cmp_unpaired"): f["unpaired_half_width"],
            }
        )
    return pd.DataFrame(rows)
