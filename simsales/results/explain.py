"""Why the forecast falls short of a period's target, and where the money goes.

The gap explained is the **mean gap** ``G = T - E[R]``: the period's target ``T`` minus its
expected won revenue ``R`` (deals won with their close date in the period). The expected
shortfall ``E[max(T - R, 0)]`` and the P50 gap ``T - P50(R)`` are reported beside it; they are
not linear in the deals, so they are not split.

Decomposition (an accounting identity per replication, so the contributions add up to the total
exactly in every replication, and their means to ``G`` up to rounding). All runs share common
random numbers (the same seed and replications: replication *k* meets the same luck in each).
``R[S]`` is the period revenue with the pools in ``S`` given unlimited people, the rest
unchanged; ``P`` is the set of every pool a stage needs. The gap is walked in three steps:

1. ``R[P] - R``, what queueing costs, split among the pools by their **Shapley values**: pool
   *p* gets the mean over every order of relaxing the pools of what relaxing *p* adds at its
   turn, ``sum over S not holding p of |S|! (|P|-|S|-1)! / |P|! (R[S + p] - R[S])``, so a pool
   that only binds once another is relaxed (legal behind presales) gets its share, and the
   shares add up to ``R[P] - R`` (one run per subset of ``P``: with more than
   :data:`SHAPLEY_POOLS` pools, each pool's own relaxation instead, and the rest as ``interaction``
   "pools together");
2. ``R[ideal] - R[P]``, what the risks cost once nobody queues: ``risk`` *r* gets
   ``R[P, r never occurs] - R[P]`` and ``interaction`` "risks together" the rest (risks that
   strike the same deals overlap);
3. the *ideal* run's own gap ``T - R[ideal]`` (every pool relaxed, no risk), split per live deal
   *i* with value ``v_i`` and revenue in the period ``r_i``:
   ``T - R[ideal] = (T - sum_i v_i - N) + sum_i (v_i - r_i)``, ``N`` the revenue of new deals
   (arrivals) won in the period:

   - ``coverage`` "pipeline": ``T - sum_i v_i - N``, negative when the live pipeline and the
     new deals could cover the target;
   - ``deal`` *i*: ``v_i`` when the deal is lost (or won before the period): its odds;
   - ``stage`` *s*: ``v_i`` of the deals won after the period or still open, by the stage they
     are in when the period ends: the time the stages take, with no waiting and no risks.

Each contribution's 95% interval is the normal interval of its per-replication values (paired
differences for the pool, risk and interaction terms, hence narrow). Contributions are in
money; positive ones widen the gap, negative ones close it.

:func:`explain_delta` explains a variant's change of the gap the same way: the per-replication
differences of each contribution between the variant and the base (again paired).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.errors import SimsalesError
from simsales.i18n import N_, Translator, translator
from simsales.results.deal_view import by_replication, period_bounds, won_in
from simsales.results.forecast import Forecast
from simsales.results.records import model_of
from simsales.results.risk_contribution import without_risk
from simsales.results.stats import mean_interval, percentile_interval, wilson
from simsales.scenario.references import did_you_mean
from simsales.scenario.schema import Scenario

__all__ = [
    "IDEAL",
    "KINDS",
    "Explanation",
    "explain_delta",
    "explain_forecasts",
    "relaxations",
]

FloatArray = npt.NDArray[np.float64]
KINDS = ("pool", "risk", "interaction", "coverage", "deal", "stage")
IDEAL = "ideal"  # the run with every pool relaxed and no risk
UNLIMITED = 100_000  # people in a relaxed pool: the schema's largest capacity
SHAPLEY_POOLS = 5  # up to this many pools, one run per subset (31 runs for 5)
_FINDINGS = 6


@dataclass
class Explanation:
    """The gap to a period's target and its contributions (see the module docstring).

    ``contributions``: one row per (kind, id) with ``value`` (mean, in money), ``low``/``high``
    (95%) and ``label``; ``per_replication``: the contributions per replication (columns
    ``kind:id``), whose row sums are the per-replication gaps ``T - R``.
    """

    period: str
    target: float
    currency: str
    total_gap: tuple[float, float, float]  # mean gap T - E[R] with its 95% interval
    expected_revenue: float
    expected_shortfall: float  # E[max(T - R, 0)]
    p50_gap: float  # T - P50(R)
    target_probability: float
    contributions: pd.DataFrame
    per_replication: pd.DataFrame = field(repr=False)
    findings: list[str] = field(default_factory=list)
    late: pd.Series = field(default_factory=pd.Series)  # live deal -> P(decided after period)
    locale: str = "en"  # the language of the labels and findings (the scenario's)

    def to_json(self) -> dict[str, Any]:
        gap, low, high = self.total_gap
        return {
            "period": self.period,
            "target": _num(self.target),
            "currency": self.currency,
            "total_gap": _num(gap),
            "total_gap_low": _num(low),
            "total_gap_high": _num(high),
            "expected_revenue": _num(self.expected_revenue),
            "expected_shortfall": _num(self.expected_shortfall),
            "p50_gap": _num(self.p50_gap),
            "target_probability": _num(self.target_probability),
            "contributions": contributions_json(self.contributions),
            "findings": list(self.findings),
        }


def contributions_json(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "kind": r.kind,
            "id": r.id,
            "value": _num(r.value),
            "low": _num(r.low),
            "high": _num(r.high),
        }
        for r in table.itertuples()
    ]


def _num(v: Any) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


# --- the runs -------------------------------------------------------------------------------


def _relaxed(pools: Any) -> dict[str, Any]:
    return {
        "resources": {p: {"capacity": UNLIMITED, "capacity_changes": []} for p in pools},
    }


def _needed_pools(scenario: Scenario) -> list[str]:
    needed = {p for st in scenario.stages for p in st.needs} | {
        p
        for dt in scenario.deal_types.values()
        for o in dt.stages.values()
        for p in (o.needs or {})
    }
    return [p for p in scenario.resources if p in needed]


def _pool_run(pools: Sequence[str]) -> str:
    return "pools:" + ",".join(pools)  # a comma is never part of an id


def relaxations(scenario: Scenario) -> list[tuple[str, dict[str, Any]]]:
    """(run name, overlay) of every run an explanation needs besides the base: ``pools:a,b``
    per subset of the pools some stage needs (each pool alone and all of them together when
    there are more than :data:`SHAPLEY_POOLS`), ``risk:<id>`` per risk (with every pool
    relaxed) and :data:`IDEAL` (every pool relaxed, no risk; only when there are risks)."""
    pools = _needed_pools(scenario)
    if len(pools) <= SHAPLEY_POOLS:
        subsets = [list(s) for s in _subsets(pools) if s]
    else:
        subsets = [[p] for p in pools] + [pools]
    runs = [(_pool_run(s), _relaxed(s)) for s in subsets]
    everyone = _relaxed(pools)
    runs += [(f"risk:{r.id}", {**everyone, **without_risk(r)}) for r in scenario.risks]
    if scenario.risks:
        never = {"risks": {r.id: without_risk(r)["risks"][r.id] for r in scenario.risks}}
        runs.append((IDEAL, {**everyone, **never}))
    return runs


def _pool_terms(
    revenue: Mapping[frozenset[str], FloatArray], pools: list[str]
) -> dict[tuple[str, str], FloatArray]:
    """Shapley values of the pools (every subset run), else each pool alone and the rest."""
    n = len(pools)
    base = revenue[frozenset()]
    total = revenue[frozenset(pools)] - base if pools else np.zeros_like(base)
    out: dict[tuple[str, str], FloatArray] = {}
    if all(frozenset(s) in revenue for s in _subsets(pools)):
        for p in pools:
            value = np.zeros_like(base)
            for s in _subsets([q for q in pools if q != p]):
                weight = math.factorial(len(s)) * math.factorial(n - len(s) - 1) / math.factorial(n)
                value += weight * (revenue[frozenset(s) | {p}] - revenue[frozenset(s)])
            out["pool", p] = value
        return out
    for p in pools:
        out["pool", p] = revenue[frozenset([p])] - base
    out["interaction", "pools together"] = total - sum(out.values(), np.zeros_like(base))
    return out


def _subsets(items: list[str]) -> list[tuple[str, ...]]:
    return [
        tuple(x for j, x in enumerate(items) if mask >> j & 1) for mask in range(2 ** len(items))
    ]


# --- the decomposition ----------------------------------------------------------------------


def _target(forecast: Forecast, period: str, target: float | None) -> float:
    if target is not None:
        return float(target)
    targets = {label: t for label, _, _, t in model_of(forecast).targets}
    if period not in targets:
        hint = did_you_mean(period, targets) if targets else "add targets.revenue"
        raise SimsalesError(
            f"--period {period}: the scenario has no revenue target for this period ({hint}; "
            f"or give one: targets: {{revenue: {{{period}: AMOUNT}}}})"
        )
    return targets[period]


def _period_revenue(forecast: Forecast, t0: float, t1: float) -> FloatArray:
    d = forecast.deals
    col = by_replication(forecast, np.where(won_in(forecast, t0, t1), d["revenue"], 0.0))["all"]
    return np.asarray(col.to_numpy(), dtype=np.float64)


def _stage_at(forecast: Forecast, t1: float) -> pd.Series:
    """(replication, deal) -> the stage a live deal is in when the period ends at ``t1``: the
    last stage it entered before ``t1`` (its starting stage if it entered none)."""
    v = forecast.visits
    live = set(forecast.live_deals)
    entered = v[(v["entry_t"] < t1) & v["deal"].astype(str).isin(live)]
    last = entered.sort_values("entry_t", kind="stable").groupby(
        [entered["replication"], entered["deal"].astype(str)], observed=True
    )["stage"]
    return last.last().astype(str)


def _ideal_split(
    ideal: Forecast, t0: float, t1: float, target: float
) -> dict[tuple[str, str], FloatArray]:
    """Coverage, deal and stage terms of the ideal run's gap, per replication."""
    model = model_of(ideal)
    d = ideal.deals
    n = ideal.replications
    live = d["live"].to_numpy()
    value = d["value"].to_numpy(dtype=np.float64)
    inside = won_in(ideal, t0, t1)
    outcome = d["outcome"].astype(str).to_numpy()
    end_day = model.calendar.end_day(d["decision_t"].to_numpy())
    with np.errstate(invalid="ignore"):
        early = (outcome == "won") & (end_day < t0)
    lost_or_early = live & ((outcome == "lost") | early)
    late = live & ~inside & ~lost_or_early  # won after the period, or still open
    out: dict[tuple[str, str], FloatArray] = {}
    new_revenue = by_replication(ideal, np.where(inside & ~live, d["revenue"], 0.0))["all"]
    pipeline = by_replication(ideal, np.where(live, value, 0.0))["all"]
    out["coverage", "pipeline"] = target - pipeline.to_numpy() - new_revenue.to_numpy()
    deal_ids = d["deal"].astype(str).to_numpy()
    per_deal = by_replication(ideal, np.where(lost_or_early, value, 0.0), deal_ids)
    for deal in model.deal_ids:
        out["deal", deal] = per_deal[deal].to_numpy() if deal in per_deal else np.zeros(n)
    stage_at = _stage_at(ideal, t1)
    key = pd.MultiIndex.from_arrays([d["replication"], d["deal"].astype(str)])
    stage = stage_at.reindex(key).to_numpy(dtype=object)
    start_stage = d["stage"].astype(str).to_numpy()  # never entered a stage: where it stands
    stage = np.where(pd.isna(stage), start_stage, stage)
    per_stage = by_replication(ideal, np.where(late, value, 0.0), np.where(late, stage, ""))
    for s in model.stage_ids:
        out["stage", s] = per_stage[s].to_numpy() if s in per_stage else np.zeros(n)
    return out


def explain_forecasts(
    base: Forecast,
    runs: Mapping[str, Forecast],
    period: str,
    *,
    target: float | None = None,
    labels: Mapping[str, str] | None = None,
    locale: str | None = None,
) -> Explanation:
    """The explanation of ``base``'s gap for ``period`` from the runs of :func:`relaxations`
    (``runs``: run name -> its forecast, simulated with the base's seed and replications), its
    labels and findings in ``locale`` (default: the scenario's)."""
    t0, t1 = period_bounds(base, period)
    goal = _target(base, period, target)
    model = model_of(base)
    for name, f in runs.items():
        if f.replications != base.replications or f.provenance["seed"] != base.provenance["seed"]:
            raise SimsalesError(f"run {name!r} was not simulated with the base's seed and size")
    r_base = _period_revenue(base, t0, t1)
    revenue: dict[frozenset[str], FloatArray] = {frozenset(): r_base}
    pools: list[str] = []
    for name, f in runs.items():
        if name.startswith("pools:"):
            members = name.removeprefix("pools:").split(",")
            revenue[frozenset(members)] = _period_revenue(f, t0, t1)
            pools = members if len(members) > len(pools) else pools
    terms = _pool_terms(revenue, pools)
    relaxed = revenue[frozenset(pools)]  # R[P]: nobody queues
    ideal = runs.get(IDEAL) or runs.get(_pool_run(pools)) or base
    r_ideal = _period_revenue(ideal, t0, t1)
    risk_terms = {
        ("risk", name.removeprefix("risk:")): _period_revenue(f, t0, t1) - relaxed
        for name, f in runs.items()
        if name.startswith("risk:")
    }
    terms.update(risk_terms)
    if risk_terms:
        rest = r_ideal - relaxed - sum(risk_terms.values(), np.zeros_like(r_base))
        terms["interaction", "risks together"] = rest
    terms.update(_ideal_split(ideal, t0, t1, goal))
    per_rep = pd.DataFrame({f"{k}:{i}": v for (k, i), v in terms.items()})
    rows = []
    for (kind, ident), x in terms.items():
        mean, lo, hi = mean_interval(x)
        rows.append({"kind": kind, "id": ident, "value": mean, "low": lo, "high": hi})
    table = pd.DataFrame(rows, columns=["kind", "id", "value", "low", "high"])
    t = translator(locale or _locale_of(base))
    table["label"] = [_label(r.kind, r.id, labels or {}, t) for r in table.itertuples()]
    gap = goal - r_base
    late = _late(base, t1)
    explanation = Explanation(
        period=period,
        target=goal,
        currency=model.currency,
        total_gap=mean_interval(gap),
        expected_revenue=float(r_base.mean()),
        expected_shortfall=float(np.maximum(gap, 0.0).mean()),
        p50_gap=goal - percentile_interval(r_base, 0.5)[0],
        target_probability=wilson(float(np.sum(r_base >= goal)), len(r_base))[0],
        contributions=table,
        per_replication=per_rep,
        late=late,
        locale=t.locale,
    )
    explanation.findings = _findings(explanation)
    return explanation


def _locale_of(forecast: Forecast) -> str:
    scenario = forecast.provenance.get("scenario")
    return str(scenario.get("locale", "en")) if isinstance(scenario, dict) else "en"


def _late(forecast: Forecast, t1: float) -> pd.Series:
    """Per live deal: P(not decided by the end of the period) in this run."""
    d = forecast.deals[forecast.deals["live"]]
    day = model_of(forecast).calendar.end_day(d["decision_t"].to_numpy())
    with np.errstate(invalid="ignore"):
        undecided = (d["outcome"] == "open").to_numpy() | (day >= t1)
    return pd.Series(undecided, index=d["deal"].astype(str).to_numpy()).groupby(level=0).mean()


def explain_delta(base: Explanation, variant: Explanation, name: str) -> Explanation:
    """The change of the gap from ``base`` to ``variant`` (same period, target, seed and
    replications), split into the changes of each contribution, paired per replication."""
    if base.period != variant.period or len(base.per_replication) != len(variant.per_replication):
        raise ValueError("explanations of different periods or sizes cannot be paired")
    columns = list(dict.fromkeys([*base.per_replication, *variant.per_replication]))
    a = base.per_replication.reindex(columns=columns, fill_value=0.0)
    b = variant.per_replication.reindex(columns=columns, fill_value=0.0)
    diff = b - a
    labels = {
        f"{r.kind}:{r.id}": r.label
        for table in (base.contributions, variant.contributions)
        for r in table.itertuples()
    }
    rows = []
    for col in columns:
        kind, _, ident = col.partition(":")
        mean, lo, hi = mean_interval(diff[col].to_numpy())
        rows.append(
            {
                "kind": kind,
                "id": ident,
                "value": mean,
                "low": lo,
                "high": hi,
                "label": labels.get(col, ident),
            }
        )
    total = diff.sum(axis=1).to_numpy()
    out = Explanation(
        period=base.period,
        target=base.target,
        currency=base.currency,
        total_gap=mean_interval(total),
        expected_revenue=variant.expected_revenue - base.expected_revenue,
        expected_shortfall=variant.expected_shortfall - base.expected_shortfall,
        p50_gap=variant.p50_gap - base.p50_gap,
        target_probability=variant.target_probability - base.target_probability,
        contributions=pd.DataFrame(rows),
        per_replication=diff,
        late=variant.late - base.late.reindex(variant.late.index),
        locale=base.locale,
    )
    out.findings = _delta_findings(out, name)
    return out


# --- plain words ----------------------------------------------------------------------------


def _label(kind: str, ident: str, labels: Mapping[str, str], t: Translator) -> str:
    name = labels.get(f"{kind}:{ident}", ident)
    if kind == "interaction":
        name = t(_TOGETHER[ident]) if ident in _TOGETHER else name
    key = _KIND_LABELS.get(kind)
    return t(key, name=name) if key else name


_KIND_LABELS = {"pool": N_("xp_label_pool"), "risk": N_("xp_label_risk"),
                "interaction": N_("xp_label_interaction"), "coverage": N_("xp_label_coverage"),
                "deal": N_("xp_label_deal"), "stage": N_("xp_label_stage")}  # fmt: skip
_TOGETHER = {"pools together": N_("xp_pools_together"),
             "risks together": N_("xp_risks_together")}  # fmt: skip


def _interval(row: Any, t: Translator) -> str:
    return t("xp_interval", low=t.money(row.low), high=t.money(row.high))


def _findings(e: Explanation) -> list[str]:
    t = translator(e.locale)
    c = e.contributions
    gap = e.total_gap[0]
    period = t.period(e.period)
    out = [
        t(
            N_("xp_head_short") if gap > 0 else N_("xp_head_above"),
            period=period,
            revenue=t.money(e.expected_revenue),
            target=t.money(e.target),
            gap=t.money(abs(gap)),
            p50=t.money(e.p50_gap),
            p=t.percent(e.target_probability),
        )
    ]
    movers = c[c["kind"].isin(["pool", "risk", "interaction", "stage"])]
    movers = movers[(movers["low"] > 0) | (movers["high"] < 0)]  # beyond Monte Carlo noise
    for r in (
        movers.reindex(movers["value"].abs().sort_values(ascending=False).index)
        .head(_FINDINGS - 2)
        .itertuples()
    ):
        if r.value > 0:
            key = N_("xp_costs")
        elif r.kind == "pool":  # relaxing it alone would crowd the pools after it
            key = N_("xp_holds_back")
        else:
            key = N_("xp_adds")
        amount = t.money(abs(r.value))
        out.append(t(key, label=r.label, amount=amount, period=period, ci=_interval(r, t)))
    late = e.late.sort_values(ascending=False)
    for deal, p in late.head(2).items():
        if p >= 0.5:
            out.append(t("xp_late", deal=deal, period=period, p=t.percent(p)))
    cover = c[c["kind"] == "coverage"]
    if len(cover):
        pipeline = e.target - float(cover["value"].iloc[0])
        ratio = pipeline / e.target if e.target > 0 else math.nan
        amount = t.money(pipeline)
        if math.isfinite(ratio):
            out.append(t("xp_pipeline_ratio", period=period, amount=amount,
                         ratio=t.number(ratio, 1)))  # fmt: skip
        else:
            out.append(t("xp_pipeline", period=period, amount=amount))
    return out


def _delta_findings(d: Explanation, name: str) -> list[str]:
    t = translator(d.locale)
    period = t.period(d.period)
    change = -d.total_gap[0]  # revenue change = minus the gap change
    c = d.contributions
    c = c[(c["low"] > 0) | (c["high"] < 0)]
    c = c.reindex(c["value"].abs().sort_values(ascending=False).index)
    because = t("xp_list_separator").join(
        f"{r.label} {'+' if r.value > 0 else '-'}{t.money(abs(r.value))}"
        for r in c.head(3).itertuples()
    )
    key = N_("xp_delta_raises") if change > 0 else N_("xp_delta_lowers")
    text = t(key, name=name, period=period, amount=t.money(abs(change)))
    out = [
        t("xp_delta_because", change=text, because=because)
        if because
        else t("xp_sentence", text=text)
    ]
    worse = c[(c["kind"] == "pool") & (c["value"] > 0)]
    if change < 0 and len(worse):  # the pool whose queue grew most explains a loss
        out.append(t("xp_bottleneck", name=name, pool=worse.iloc[0]["id"]))
    return out
