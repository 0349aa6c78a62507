"""The report's own words in each supported locale, and number/date formats that go with them.

Only the report's labels are translated; names from the scenario (deals, stages, pools) are shown
as written. ``text(locale, key, **values)`` formats a label with ``str.format``.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

__all__ = ["LOCALES", "MoneyUnit", "fmt_date", "fmt_money", "fmt_pct", "money_unit", "text"]

LOCALES = ("en", "zh-CN")

_EN: dict[str, str] = {
    "title": "Sales forecast",
    "generated": "Generated {created} from {replications} replications (seed {seed}).",
    "amounts_in": "Amounts in {currency}.",
    "nav_headline": "Headline",
    "nav_deals": "Deals",
    "nav_revenue": "Revenue",
    "nav_bottlenecks": "Bottlenecks",
    "nav_risks": "Risks",
    "nav_sensitivity": "Sensitivity",
    "nav_funnel": "Funnel",
    "nav_stages": "Stages",
    "nav_assumptions": "Assumptions",
    "headline": "Headline",
    "key_findings": "Key findings",
    "expected_revenue": "Expected revenue",
    "expected_revenue_note": "won by {horizon}; 80% range {p10} – {p90}",
    "won_deals": "Deals won",
    "won_deals_note": "of {live} live deals plus new arrivals",
    "pipeline_p50": "Half the live deals decided by",
    "pipeline_p80": "80% of the live deals decided by",
    "decided_note": "95% interval {low} – {high}",
    "after_horizon": "after the horizon",
    "top_bottleneck": "Biggest bottleneck",
    "top_bottleneck_note": "{days} deal-days of waiting per run",
    "targets": "Targets",
    "period": "Period",
    "target": "Target",
    "p_meet": "Chance to meet",
    "median_revenue": "Median revenue",
    "range_80": "80% range",
    "ci95": "95% interval",
    "finding_target": "The {period} target of {target} is met in {p} of the simulated futures.",
    "finding_target_best": "Most likely target: {period} ({p}); least likely: {worst} ({pw}).",
    "finding_bottleneck": "{pool} costs the most waiting: {days} deal-days per run, worst in the "
    "weeks of {weeks}.",
    "finding_driver": "{output} depends most on {input} (rank correlation {rho}).",
    "finding_risk": "{risk} strikes in {p} of runs; deals it hits are won {w} of the time.",
    "finding_open": "{n} deals are still open at the horizon on average.",
    "deals": "Live deals",
    "deals_intro": "Close dates are when a deal is decided (won or lost). Bars: 80% of the "
    "simulated close dates (P10–P90); diamond: the median (P50). Click a column to sort.",
    "deal": "Deal",
    "customer": "Customer",
    "type": "Type",
    "stage": "Stage",
    "value": "Value",
    "win_probability": "Win chance",
    "close_p10": "Close P10",
    "close_p50": "Close P50",
    "close_p90": "Close P90",
    "expected_margin": "Expected margin",
    "open_at_horizon": "Still open",
    "gantt_title": "When each live deal is decided",
    "gantt_x": "Close date",
    "gantt_legend_bar": "P10–P90 close date",
    "gantt_legend_p50": "P50 (median) close date",
    "gantt_legend_open": "may close after the horizon",
    "exit_criteria": "Exit criteria",
    "revenue": "Revenue",
    "revenue_intro": "Won revenue per quarter across the simulated futures: the dark band holds "
    "half of them, the light band 80%; the line is the median. Red marks are targets.",
    "fan_title": "Revenue per quarter",
    "fan_band80": "P10–P90",
    "fan_band50": "P25–P75",
    "median": "Median",
    "mean": "Mean",
    "scurve_title": "Cumulative won revenue",
    "scurve_intro": "Revenue won from the start of the forecast up to each date.",
    "cumulative_target": "Target (cumulative)",
    "money_axis": "Revenue ({unit})",
    "date": "Date",
    "bottlenecks": "Bottlenecks",
    "bottlenecks_intro": "Utilization is people-days busy over people-days available per week. "
    "Waiting is the time deals queue for people; it is blamed on the pools that were short while "
    "a deal waited.",
    "heatmap_title": "Pool utilization per week",
    "waiting_title": "Deal-days of waiting per week, by the pool that held it up",
    "week": "Week",
    "pool": "Pool",
    "utilization": "Utilization",
    "peak_utilization": "Peak week",
    "wait_days": "Waiting (deal-days per run)",
    "share_of_waiting": "Share of waiting",
    "worst_weeks": "Worst weeks",
    "mean_wait": "Mean wait per request (days)",
    "queue": "Mean queue (deals)",
    "cost": "People cost",
    "rank": "#",
    "waiting_per_stage": "Waiting per stage",
    "visits": "Visits per run",
    "waited_share": "Visits that waited",
    "wait_per_visit": "Mean wait per visit (days)",
    "queued_at_horizon": "Queued at the horizon",
    "risks": "Risks",
    "risks_intro": "How often each risk struck in the simulation and what became of the deals "
    "it hit.",
    "risk": "Risk",
    "scope": "Scope",
    "input_p": "Input chance",
    "occurred": "Struck in (share of runs)",
    "hits": "Hits per run",
    "mean_delay": "Mean delay (days)",
    "hit_win_rate": "Win rate of hit deals",
    "impact": "Impact",
    "mitigation": "Mitigation",
    "mitigated": "mitigated",
    "not_mitigated": "available, not applied",
    "none": "none",
    "scope_deal": "per deal",
    "scope_global": "all matching deals at once",
    "scope_resource": "pool capacity",
    "impact_delay": "delay {d}",
    "impact_win": "win chance ×{f}",
    "impact_value": "value ×{f}",
    "impact_lost": "deal lost",
    "impact_capacity": "{c:+d} people for {d}",
    "sensitivity": "Sensitivity",
    "sensitivity_intro": "Which uncertain inputs move each result: Spearman rank correlation "
    "between each run's sampled inputs and its outcome (bars) with 95% intervals. Choose the "
    "result in the menu.",
    "tornado_title": "What drives {output}",
    "rank_correlation": "Rank correlation",
    "out_revenue": "total revenue",
    "out_revenue_period": "revenue in {period}",
    "out_close_p80": "the date 80% of live deals are decided",
    "in_duration": "{stage}: duration",
    "in_risk": "risk: {risk}",
    "in_arrivals": "new {type} deals",
    "in_value": "live pipeline value",
    "in_uncertainty": "uncertainty of {what}",
    "unc_arrivals": "arrival rates",
    "unc_win_odds": "win odds",
    "unc_duration": "stage times",
    "unc_value": "deal values",
    "input": "Input",
    "funnel": "Stage funnel",
    "funnel_intro": "Simulated conversion of each stage (advanced / decided) against the "
    "scenario's advance probability. Differences come from risks, rules and win factors.",
    "funnel_deals": "Deals worked per run",
    "conversion": "Conversion",
    "simulated": "Simulated",
    "input_advance": "Input",
    "rework_rate": "Rework",
    "stages": "Stages and exit criteria",
    "stage_id": "Id",
    "name": "Name",
    "duration": "Duration (working days)",
    "needs": "Needs",
    "advance": "Advance",
    "rework": "Rework",
    "stage_cost": "Cost per visit",
    "assumptions": "Assumptions and provenance",
    "scenario": "Scenario",
    "description": "Description",
    "start": "Start",
    "horizon": "Horizon",
    "calendar": "Calendar",
    "working_days": "working days {days}",
    "holidays": "holidays {h}",
    "continuous": "plain calendar days",
    "currency": "Currency",
    "replications": "Replications",
    "stopped_early": "stopped early at the precision target ({n} requested)",
    "seed": "Seed",
    "scenario_hash": "Scenario fingerprint",
    "created": "Created",
    "versions": "Versions",
    "queue_discipline": "Queue discipline",
    "pools": "People pools",
    "capacity": "Capacity",
    "capacity_changes": "Planned changes",
    "cost_per_day": "Cost per day",
    "external": "external",
    "deal_types": "Deal types",
    "margin": "Margin",
    "skips": "Skips",
    "arrivals": "New deals per month",
    "per_month": "Per month",
    "seasonality": "Seasonality",
    "window": "Window",
    "rules": "Rules",
    "rule_when": "When",
    "rule_then": "Then",
    "mean_short": "mean {m}",
    "yes": "yes",
    "no": "no",
    "sort_hint": "sort",
}

_ZH: dict[str, str] = {
    "title": "销售预测",
    "generated": "生成于 {created}，共 {replications} 次仿真（随机种子 {seed}）。",
    "amounts_in": "金额单位：{currency}。",
    "nav_headline": "概览",
    "nav_deals": "项目",
    "nav_revenue": "收入",
    "nav_bottlenecks": "瓶颈",
    "nav_risks": "风险",
    "nav_sensitivity": "敏感性",
    "nav_funnel": "漏斗",
    "nav_stages": "阶段",
    "nav_assumptions": "假设",
    "headline": "概览",
    "key_findings": "要点",
    "expected_revenue": "预期收入",
    "expected_revenue_note": "截至 {horizon} 赢单；80% 区间 {p10} – {p90}",
    "won_deals": "赢单数",
    "won_deals_note": "在手 {live} 个项目及新增项目",
    "pipeline_p50": "半数在手项目定局日期",
    "pipeline_p80": "80% 在手项目定局日期",
    "decided_note": "95% 区间 {low} – {high}",
    "after_horizon": "预测期之后",
    "top_bottleneck": "最大瓶颈",
    "top_bottleneck_note": "每次仿真等待 {days} 项目·天",
    "targets": "目标",
    "period": "期间",
    "target": "目标",
    "p_meet": "达成概率",
    "median_revenue": "收入中位数",
    "range_80": "80% 区间",
    "ci95": "95% 区间",
    "finding_target": "{period} 目标 {target}：在 {p} 的仿真中达成。",
    "finding_target_best": "最有把握的目标：{period}（{p}）；最难达成：{worst}（{pw}）。",
    "finding_bottleneck": "{pool}造成的等待最多：每次仿真 {days} 项目·天，最紧张的是 {weeks} "
    "开始的几周。",
    "finding_driver": "{output}受「{input}」影响最大（秩相关 {rho}）。",
    "finding_risk": "{risk}在 {p} 的仿真中发生；受影响项目的赢单率为 {w}。",
    "finding_open": "预测期末平均仍有 {n} 个项目未定局。",
    "deals": "在手项目",
    "deals_intro": "定局日期指项目赢单或丢单的日期。横条：80% 的仿真定局日期（P10–P90）；"
    "菱形：中位数（P50）。点击表头可排序。",
    "deal": "项目",
    "customer": "客户",
    "type": "类型",
    "stage": "阶段",
    "value": "金额",
    "win_probability": "赢单概率",
    "close_p10": "定局 P10",
    "close_p50": "定局 P50",
    "close_p90": "定局 P90",
    "expected_margin": "预期毛利",
    "open_at_horizon": "期末未定局",
    "gantt_title": "各在手项目的定局时间",
    "gantt_x": "定局日期",
    "gantt_legend_bar": "定局日期 P10–P90",
    "gantt_legend_p50": "定局日期中位数 P50",
    "gantt_legend_open": "可能在预测期后定局",
    "exit_criteria": "退出标准",
    "revenue": "收入",
    "revenue_intro": "各季度赢单收入在所有仿真中的分布：深色带包含一半的仿真，浅色带包含 80%；"
    "折线为中位数，红色标记为目标。",
    "fan_title": "各季度收入",
    "fan_band80": "P10–P90",
    "fan_band50": "P25–P75",
    "median": "中位数",
    "mean": "均值",
    "scurve_title": "累计赢单收入",
    "scurve_intro": "从预测起点到各日期累计赢得的收入。",
    "cumulative_target": "目标（累计）",
    "money_axis": "收入（{unit}）",
    "date": "日期",
    "bottlenecks": "资源瓶颈",
    "bottlenecks_intro": "利用率 = 每周忙碌人天 / 可用人天。等待指项目排队等人的时间，"
    "按等待期间人手不足的资源池分摊。",
    "heatmap_title": "各资源池每周利用率",
    "waiting_title": "每周等待（项目·天），按造成等待的资源池",
    "week": "周",
    "pool": "资源池",
    "utilization": "利用率",
    "peak_utilization": "峰值周",
    "wait_days": "等待（每次仿真 项目·天）",
    "share_of_waiting": "等待占比",
    "worst_weeks": "最紧张的周",
    "mean_wait": "每次请求平均等待（天）",
    "queue": "平均排队（项目数）",
    "cost": "人力成本",
    "rank": "#",
    "waiting_per_stage": "各阶段等待",
    "visits": "每次仿真进入次数",
    "waited_share": "需要排队的比例",
    "wait_per_visit": "每次平均等待（天）",
    "queued_at_horizon": "期末仍在排队",
    "risks": "风险",
    "risks_intro": "各风险在仿真中的发生频率，以及受影响项目的结果。",
    "risk": "风险",
    "scope": "范围",
    "input_p": "输入概率",
    "occurred": "发生比例（仿真次数）",
    "hits": "每次仿真影响次数",
    "mean_delay": "平均延误（天）",
    "hit_win_rate": "受影响项目赢单率",
    "impact": "影响",
    "mitigation": "缓解措施",
    "mitigated": "已启用",
    "not_mitigated": "可用，未启用",
    "none": "无",
    "scope_deal": "逐个项目",
    "scope_global": "同时影响所有符合条件的项目",
    "scope_resource": "资源池人数",
    "impact_delay": "延误 {d}",
    "impact_win": "赢单概率 ×{f}",
    "impact_value": "金额 ×{f}",
    "impact_lost": "直接丢单",
    "impact_capacity": "人数 {c:+d}，持续 {d}",
    "sensitivity": "敏感性分析",
    "sensitivity_intro": "哪些不确定输入影响各项结果：每次仿真的抽样输入与结果之间的 Spearman "
    "秩相关（横条）及 95% 区间。可在菜单中切换结果。",
    "tornado_title": "影响{output}的因素",
    "rank_correlation": "秩相关系数",
    "out_revenue": "总收入",
    "out_revenue_period": "{period} 收入",
    "out_close_p80": "80% 在手项目定局日期",
    "in_duration": "{stage}：工期",
    "in_risk": "风险：{risk}",
    "in_arrivals": "新增 {type} 项目数",
    "in_value": "在手项目总金额",
    "in_uncertainty": "{what}的不确定性",
    "unc_arrivals": "新增项目速率",
    "unc_win_odds": "赢单几率",
    "unc_duration": "阶段用时",
    "unc_value": "项目金额",
    "input": "输入",
    "funnel": "阶段漏斗",
    "funnel_intro": "各阶段的仿真转化率（推进 / 已定）与场景输入的推进概率对比。"
    "差异来自风险、规则和赢单系数。",
    "funnel_deals": "每次仿真经过的项目数",
    "conversion": "转化率",
    "simulated": "仿真",
    "input_advance": "输入",
    "rework_rate": "返工",
    "stages": "阶段与退出标准",
    "stage_id": "编号",
    "name": "名称",
    "duration": "工期（工作日）",
    "needs": "占用人员",
    "advance": "推进概率",
    "rework": "返工",
    "stage_cost": "每次费用",
    "assumptions": "假设与来源",
    "scenario": "场景",
    "description": "说明",
    "start": "起点",
    "horizon": "预测期末",
    "calendar": "日历",
    "working_days": "工作日 {days}",
    "holidays": "节假日 {h}",
    "continuous": "自然日",
    "currency": "币种",
    "replications": "仿真次数",
    "stopped_early": "达到精度目标后提前停止（计划 {n} 次）",
    "seed": "随机种子",
    "scenario_hash": "场景指纹",
    "created": "生成时间",
    "versions": "版本",
    "queue_discipline": "排队规则",
    "pools": "资源池",
    "capacity": "人数",
    "capacity_changes": "计划变化",
    "cost_per_day": "每人每天成本",
    "external": "外部",
    "deal_types": "项目类型",
    "margin": "毛利率",
    "skips": "跳过阶段",
    "arrivals": "每月新增项目",
    "per_month": "每月",
    "seasonality": "季节系数",
    "window": "时间窗",
    "rules": "规则",
    "rule_when": "条件",
    "rule_then": "效果",
    "mean_short": "均值 {m}",
    "yes": "是",
    "no": "否",
    "sort_hint": "排序",
}

_TABLES = {"en": _EN, "zh-CN": _ZH}


def text(locale: str, key: str, **values: Any) -> str:
    """The label ``key`` in ``locale`` (English when the locale or key is unknown)."""
    table = _TABLES.get(locale, _EN)
    template = table.get(key, _EN.get(key, key))
    return template.format(**values) if values else template


class MoneyUnit:
    """The unit money axes are drawn in: millions in English, 万 (10k) in Chinese."""

    def __init__(self, locale: str, currency: str) -> None:
        self.zh = locale == "zh-CN"
        self.scale = 1e4 if self.zh else 1e6
        if self.zh:
            self.name = "万元" if currency == "CNY" else f"万 {currency}"
        else:
            self.name = f"{currency} M"


def money_unit(locale: str, currency: str) -> MoneyUnit:
    return MoneyUnit(locale, currency)


def fmt_money(x: float | None, locale: str) -> str:
    """Compact money: 26.8M / 950k in English, 2,683万 / 1.23亿 in Chinese."""
    if x is None or not math.isfinite(x):
        return "–"
    a = abs(x)
    if locale == "zh-CN":
        if a >= 1e8:
            return f"{x / 1e8:,.2f}亿"
        if a >= 1e4:
            return f"{x / 1e4:,.0f}万" if a >= 1e6 else f"{x / 1e4:,.1f}万"
        return f"{x:,.0f}"
    if a >= 1e6:
        return f"{x / 1e6:,.1f}M" if a >= 1e7 else f"{x / 1e6:,.2f}M"
    if a >= 1e3:
        return f"{x / 1e3:,.0f}k"
    return f"{x:,.0f}"


def fmt_pct(p: float | None, digits: int = 0) -> str:
    if p is None or not math.isfinite(p):
        return "–"
    return f"{100 * p:.{digits}f}%"


def fmt_date(d: date | None, locale: str) -> str:
    if d is None:
        return text(locale, "after_horizon")
    return d.isoformat()
