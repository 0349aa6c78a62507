"""The forecast as a person reads it in a terminal: one paragraph first, then tables that fit.

The paragraph answers the planner's questions before any table: how many wins to expect, the
revenue range (P10–P90) of each target period with the chance to meet its target, and the pool
that holds deals up most. Tables then fit the terminal's width: numbers are never cut or wrapped,
names wrap, and when the columns still do not fit the least important ones are left out (and
the table says so). Periods are listed in calendar order (2027Q1, 2027Q2, 2027H1, ...). A
deal's "decided" date is when it is won *or* lost; "won by" is the date of its win, in the
runs where it is won: a planner books revenue by the second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simsales.i18n import Translator, period_sort_key, translator
from simsales.results.summary import Summary

__all__ = ["Column", "fitted_table", "render_summary", "summary_paragraph"]


@dataclass(frozen=True)
class Column:
    """A table column: its header, how a row shows in it, and its priority (0 = always kept)."""

    header: str
    cell: Callable[[pd.Series], str]
    priority: int = 0
    number: bool = True  # numbers are right-aligned and never wrapped or cut


def fitted_table(
    title: str, columns: Sequence[Column], rows: pd.DataFrame, width: int
) -> tuple[Table, list[str]]:
    """A table of ``rows`` no wider than ``width``, and the headers of the columns left out."""
    cells = [[c.cell(r) for c in columns] for _, r in rows.iterrows()]
    need = [max([len_shown(c.header), *(len_shown(row[i]) for row in cells)]) for i, c in
            enumerate(columns)]  # fmt: skip
    keep = list(range(len(columns)))
    dropped: list[str] = []

    def total(kept: list[int]) -> int:  # rich: a border and a space either side of each cell
        text = [i for i in kept if not columns[i].number]
        return sum(need[i] if i not in text else min(need[i], 12) for i in kept) + 3 * len(kept) + 1

    while total(keep) > width and any(columns[i].priority for i in keep):
        worst = max(keep, key=lambda i: (columns[i].priority, i))
        keep.remove(worst)
        dropped.append(columns[worst].header)
    table = Table(title=title, title_justify="left")
    for i in keep:
        column = columns[i]
        if column.number:
            table.add_column(column.header, justify="right", no_wrap=True, min_width=need[i])
        else:
            table.add_column(column.header, overflow="fold")
    for row in cells:
        table.add_row(*(escape(row[i]) for i in keep))
    return table, dropped


def len_shown(text: str) -> int:
    """Terminal cells a text takes (CJK characters take two)."""
    from rich.cells import cell_len

    return cell_len(text)


def summary_paragraph(summary: Summary, t: Translator) -> str:
    """Expected wins, revenue P10–P90 per target period with P(target), the top bottleneck."""
    p = summary.portfolio.set_index("metric")
    wins = p.loc["won_deals"]
    parts = [
        t(
            "cli_expect_wins",
            wins=t.number(wins["mean"], 1),
            low=t.number(wins["mean_low"], 1),
            high=t.number(wins["mean_high"], 1),
        )
    ]
    periods = _calendar_order(summary.periods)
    targets = periods[periods["target"].notna()]
    # no target: the first period, or the next when the first is a stub of a few days
    first = periods.iloc[1:2] if summary.stub_first and len(periods) > 1 else periods.head(1)
    for _, r in (targets if len(targets) else first).iterrows():
        text = t(
            "cli_period_range",
            period=t.period(str(r["period"])),
            p10=t.money(r["p10"]),
            p90=t.money(r["p90"]),
        )
        if not math.isnan(r["target"]):
            text += t(
                "cli_period_target",
                target=t.money(r["target"]),
                chance=t.percent(r["target_probability"]),
            )
        parts.append(text)
    pools = summary.resources
    if len(pools):
        top = pools.sort_values(["utilization", "mean_wait_days"], ascending=False).iloc[0]
        wait = top["mean_wait_days"]
        parts.append(
            t(
                "cli_bottleneck",
                pool=str(top["pool"]),
                utilization=t.percent(top["utilization"]),
                wait=t.days(None if wait != wait else float(wait), 1),
            )
        )
    return t("cli_separator").join(parts) + t("cli_full_stop")


def render_summary(
    summary: Summary, console: Console, locale: str = "en", next_step: str | None = None
) -> None:
    """The paragraph, then live deals, revenue per period and pools, fitted to the console."""
    t = translator(locale)
    console.print(
        t(
            "cli_header",
            scenario=escape(summary.scenario),
            replications=t.number(summary.replications),
            seed=summary.seed,
            currency=summary.currency,
        ),
        highlight=False,
        soft_wrap=False,  # wrapped at the terminal's width, between words
    )
    console.print(escape(summary_paragraph(summary, t)), highlight=False, soft_wrap=False)
    width = console.width
    for title, columns, rows in (
        (t("cli_deals_title"), _deal_columns(t), summary.deals),
        (t("cli_periods_title"), _period_columns(t), _calendar_order(summary.periods)),
        (t("cli_pools_title"), _pool_columns(t), summary.resources),
    ):
        table, dropped = fitted_table(title, columns, rows, width)
        console.print(table)
        if dropped:
            text = t("cli_dropped", columns=", ".join(dropped))
            console.print(escape(text), style="dim", soft_wrap=False)
    console.print(escape(t("cli_dates_note")), style="dim", soft_wrap=False)
    if summary.engine_paths:  # which engine computed how many replications (same numbers)
        paths = {k: t.number(v) for k, v in summary.engine_paths.items()}
        console.print(escape(t("cli_engine_paths", **paths)), style="dim", soft_wrap=False)
    if next_step:
        console.print(escape(t("cli_next", command=next_step)), highlight=False)


def _calendar_order(periods: pd.DataFrame) -> pd.DataFrame:
    order = sorted(range(len(periods)), key=lambda i: period_sort_key(str(periods["period"][i])))
    return periods.iloc[order].reset_index(drop=True)


def _day(t: Translator, value: Any) -> str:
    return t("after_horizon") if not isinstance(value, date) else value.isoformat()


def _interval(t: Translator, r: pd.Series, key: str) -> str:
    return f"{t.percent(r[key])} [{t.percent(r[f'{key}_low'])}–{t.percent(r[f'{key}_high'])}]"


def _deal_columns(t: Translator) -> list[Column]:
    return [
        Column(t("deal"), lambda r: str(r["deal"]), number=False),
        Column(t("win_probability"), lambda r: _interval(t, r, "win_probability")),
        Column(
            t("cli_won_p50"),
            lambda r: _day(t, r["win_p50"]) if r["win_probability"] > 0 else "–",
            priority=1,
        ),
        Column(t("expected_revenue"), lambda r: t.money(r["expected_revenue"]), priority=2),
        Column(t("cli_decided_p50"), lambda r: _day(t, r["close_p50"]), priority=3),
        Column(t("cli_decided_p80"), lambda r: _day(t, r["close_p80"]), priority=4),
        Column(t("stage"), lambda r: str(r["stage"]), priority=5, number=False),
    ]


def _period_columns(t: Translator) -> list[Column]:
    def money(key: str) -> Callable[[pd.Series], str]:
        return lambda r: t.money(r[key]) if not math.isnan(r[key]) else ""

    return [
        Column(t("period"), lambda r: t.period(str(r["period"])), number=False),
        Column("P10", money("p10")),
        Column("P50", money("p50")),
        Column("P90", money("p90")),
        Column(t("target"), money("target"), priority=1),
        Column(
            t("p_meet"),
            lambda r: _interval(t, r, "target_probability") if r["target"] == r["target"] else "",
            priority=1,
        ),
        Column(t("mean"), money("mean"), priority=2),
    ]


def _pool_columns(t: Translator) -> list[Column]:
    return [
        Column(t("pool"), lambda r: str(r["pool"]), number=False),
        Column(t("utilization"), lambda r: t.percent(r["utilization"])),
        Column(t("mean_wait"), lambda r: t.number(r["mean_wait_days"], 1), priority=1),
        Column(t("cli_requests"), lambda r: t.number(r["requests"], 1), priority=2),
    ]
