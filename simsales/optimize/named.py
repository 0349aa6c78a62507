"""The named assignment as a scenario overlay, so the engine simulates who works on what.

The rules, each stated once:

- **The named people take their places in the role's pool.** A role with n named people gets
  ``max(0, planned - n) + FTE`` as its capacity, where FTE = ``round(sum of their
  hours_per_week / full_week)`` half up (at least 1) and ``full_week`` is hours_per_day x working
  days per week: the named people count by their hours, the people not named stay as planned.
  The pool's planned capacity changes get the same treatment, so a hire already signed still
  joins. Every deal of the role, live or arriving, is worked by this pool.
- **Effort sets the pace.** A deal's stage that needs an owner's role takes
  ``duration x effort_multiplier(owner, deal)``: a 0.8 multiplier needs 20% less time (and so
  20% fewer of the owner's hours). A stage that needs several owners takes as long as the
  slowest: the largest of their multipliers. Such a deal gets a deal type of its own
  (``type@deal``, a full copy of its type with the scaled stage durations).
- **Value uplift is a rule.** The owners' ``value_uplift`` u of a deal multiply the deal's value
  by ``1 + sum u`` (one rule per deal, ``when: id == 'deal'``), as the optimizer counts it.
- **A deal's type stays its type for everything else.** Rules, risks and the queue discipline
  that test ``type`` are rewritten so that a ``type@deal`` deal is tested as its original type
  (``id in [...] and (expression with type = 'T')``), and risks listing types in ``applies_to``
  list the per-deal types too: every rule and risk hits the same deals as before.
- Deals the plan leaves unstaffed are removed from the pipeline (``pipeline: {id: null}``).

What the engine cannot hold: a deal's stage holds *some* person of the role, not the named owner,
so one person's overload shows as the role's queueing, not as that person's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from simsales.optimize.people import Fit, Person
from simsales.scenario.load import scenario_raw
from simsales.scenario.schema import Scenario

__all__ = ["assignment_overlay", "scaled"]


def scaled(spec: Any, factor: float) -> Any:
    """A distribution as written (JSON form) with every duration multiplied by ``factor``.

    All numbers scale (bounds, modes, means, sds, quantiles, observed values) except the
    probabilities ``p`` of a discrete distribution.
    """
    if isinstance(spec, bool):
        return spec
    if isinstance(spec, int | float):
        return float(spec) * factor
    if isinstance(spec, list | tuple):
        return [scaled(v, factor) for v in spec]
    if isinstance(spec, Mapping):
        return {k: (v if k == "p" else scaled(v, factor)) for k, v in spec.items()}
    return spec


def _quote(text: str) -> str:
    return f'"{text}"' if "'" in text else f"'{text}'"


def _literal_type(expression: str, type_id: str) -> str:
    """``expression`` with the attribute ``type`` (outside quotes) replaced by a literal."""
    out: list[str] = []
    i, quote = 0, ""
    segment: list[str] = []
    while i < len(expression):
        ch = expression[i]
        if quote:
            out.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            out.append(re.sub(r"(?<![\w])type(?![\w])", _quote(type_id), "".join(segment)))
            segment = []
            out.append(ch)
            quote = ch
        else:
            segment.append(ch)
            i += 1
            continue
        i += 1
    out.append(re.sub(r"(?<![\w])type(?![\w])", _quote(type_id), "".join(segment)))
    return "".join(out)


def _retyped(expression: str, deals_of: Mapping[str, Sequence[str]]) -> str:
    """An expression that tests each per-deal-type deal as its original type (see docstring)."""
    moved = sorted(d for ds in deals_of.values() for d in ds)
    parts = [
        f"(id in [{', '.join(_quote(d) for d in deals)}] and ({_literal_type(expression, t)}))"
        for t, deals in sorted(deals_of.items())
    ]
    parts.append(f"(id not in [{', '.join(_quote(d) for d in moved)}] and ({expression}))")
    return " or ".join(parts)


def _stage_needs(scenario: Scenario, type_id: str) -> dict[str, dict[str, int]]:
    dt = scenario.deal_types[type_id]
    out = {}
    for stage in scenario.stages:
        if stage.id in dt.skip:
            continue
        override = dt.stages.get(stage.id)
        needs = override.needs if override is not None and override.needs is not None else None
        out[stage.id] = dict(stage.needs if needs is None else needs)
    return out


def _stage_duration(scenario: Scenario, type_id: str, stage_id: str) -> Any:
    override = scenario.deal_types[type_id].stages.get(stage_id)
    stage = next(s for s in scenario.stages if s.id == stage_id)
    spec = override.duration if override is not None and override.duration else stage.duration
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def assignment_overlay(
    scenario: Scenario,
    people: Sequence[Person],
    fit: Mapping[tuple[str, str], Fit],
    owners: Mapping[str, Sequence[Person]],
    unstaffed: Sequence[str],
    full_week: float,
) -> dict[str, Any]:
    """The overlay that makes the engine simulate ``owners`` (deal -> its owners, one per role).

    Split assignments (several people sharing a role on one deal) give the deal to the person with
    the largest share; the caller passes that person. See the module docstring for every rule.
    """
    raw, _ = scenario_raw(scenario)
    deals = {d.id: d for d in scenario.deals()}
    resources: dict[str, Any] = {}
    by_role: dict[str, list[float]] = {}
    for person in people:
        by_role.setdefault(person.role, []).append(person.hours_per_week)
    for role, hours in by_role.items():
        pool = scenario.resources[role]
        fte = max(1, math.floor(sum(hours) / full_week + 0.5))  # half up
        named = len(hours)
        resources[role] = {
            "capacity": max(0, pool.capacity - named) + fte,
            "capacity_changes": [
                {"from": c.from_.isoformat(), "capacity": max(0, c.capacity - named) + fte}
                for c in pool.capacity_changes
            ],
        }
    deal_types: dict[str, Any] = {}
    pipeline: dict[str, Any] = {d: None for d in unstaffed}
    rules: list[dict[str, Any]] = []
    deals_of: dict[str, list[str]] = {}
    for deal_id, deal_owners in sorted(owners.items()):
        if not deal_owners:
            continue
        deal = deals[deal_id]
        base_type = deal.type
        new_type = f"{base_type}@{deal_id}"
        definition = dict(raw["deal_types"][base_type])
        stages = {k: dict(v) for k, v in (definition.get("stages") or {}).items()}
        owner_of = {p.role: p for p in deal_owners}
        for stage_id, needs in _stage_needs(scenario, base_type).items():
            factors = [
                f.effort_multiplier
                for r in needs
                if r in owner_of and (f := fit.get((owner_of[r].name, deal_id))) is not None
            ]
            factor = max(factors) if factors else 1.0
            if factor != 1.0:
                entry = stages.setdefault(stage_id, {})
                entry["duration"] = scaled(_stage_duration(scenario, base_type, stage_id), factor)
        uplift = sum(
            f.value_uplift for p in deal_owners if (f := fit.get((p.name, deal_id))) is not None
        )
        if uplift:
            rules.append(
                {
                    "id": f"value_uplift@{deal_id}",
                    "when": f"id == {_quote(deal_id)}",
                    "then": {"value_factor": max(0.0, 1.0 + uplift)},
                }
            )
        if stages == (definition.get("stages") or {}):
            continue  # the pace is unchanged: the deal keeps its type
        definition["stages"] = stages
        deal_types[new_type] = definition
        pipeline[deal_id] = {"type": new_type}
        deals_of.setdefault(base_type, []).append(deal_id)
    overlay: dict[str, Any] = {}
    if resources:
        overlay["resources"] = resources
    if deal_types:
        overlay["deal_types"] = deal_types
    if pipeline:
        overlay["pipeline"] = pipeline
    if deals_of:
        rules += _retyped_rules(scenario, deals_of)
        risks = _retyped_risks(scenario, deals_of)
        if risks:
            overlay["risks"] = risks
        qd = scenario.queue_discipline
        if qd.expression is not None and "type" in qd.expression.names:
            overlay["queue_discipline"] = {"priority": _retyped(qd.priority, deals_of)}
    if rules:
        overlay["rules"] = rules
    return overlay


def _retyped_rules(scenario: Scenario, deals_of: Mapping[str, Sequence[str]]) -> list[Any]:
    return [
        {"id": rule.id, "when": _retyped(rule.when.source, deals_of)}
        for rule in scenario.rules
        if "type" in rule.when.names
    ]


def _retyped_risks(scenario: Scenario, deals_of: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for risk in scenario.risks:
        to = risk.applies_to
        if to is None:
            continue
        change: dict[str, Any] = {}
        if to.type:
            extra = [f"{t}@{d}" for t in to.type for d in deals_of.get(t, ())]
            if extra:
                change["type"] = [*to.type, *extra]
        if to.when is not None and "type" in to.when.names:
            change["when"] = _retyped(to.when.source, deals_of)
        if change:
            out[risk.id] = {"applies_to": change}
    return out
