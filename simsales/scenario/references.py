"""Cross-reference checks: every name a scenario uses must exist, and the pieces must fit.

Each check yields ``(loc, message, hint)``; the loader locates them in the file and reports all
of them at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from datetime import date

from simsales.scenario.schema import (
    EXIT_OUTCOMES,
    Exit,
    PipelineCsv,
    Scenario,
    Stage,
    period_kind,
)

__all__ = ["Finding", "check_references", "did_you_mean"]

Loc = tuple[str | int, ...]
Finding = tuple[Loc, str, str | None]


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if known:
        shown = ", ".join(repr(k) for k in known[:12])
        return f"known: {shown}" + (", ..." if len(known) > 12 else "")
    return None


def _unknown(loc: Loc, what: str, name: str, known: Iterable[str]) -> Finding:
    return loc, f"unknown {what} {name!r}", did_you_mean(name, known)


def check_references(s: Scenario) -> list[Finding]:
    return [
        *_stages(s),
        *_deal_types(s),
        *_loops(s),
        *_pipeline(s),
        *_arrivals(s),
        *_risks(s),
        *_rules(s),
        *_targets(s),
        *_resources(s),
    ]


def _stages(s: Scenario) -> Iterator[Finding]:
    seen: set[str] = set()
    order = {st.id: i for i, st in enumerate(s.stages)}
    for i, st in enumerate(s.stages):
        if st.id in seen:
            yield ("stages", i, "id"), f"duplicate stage id {st.id!r}", "stage ids must be unique"
        seen.add(st.id)
        yield from _needs(("stages", i, "needs"), st.needs, s)
        if st.rework is not None:
            loc: Loc = ("stages", i, "rework", "to")
            if st.rework.to not in order:
                yield _unknown(loc, "stage", st.rework.to, order)
            elif order[st.rework.to] > i:
                yield (
                    loc,
                    f"rework must loop back to an earlier stage; {st.rework.to!r} comes later",
                    "rework goes to this stage or one before it",
                )
        if st.exits is not None:
            yield from _exit_targets(("stages", i, "exits"), st.exits, s)


def _exit_targets(loc: Loc, exits: tuple[Exit, ...], s: Scenario) -> Iterator[Finding]:
    known = [*s.stage_ids, *EXIT_OUTCOMES]
    for j, ex in enumerate(exits):
        if ex.to not in known:
            yield _unknown((*loc, j, "to"), "exit target", ex.to, known)
        elif ex.to in EXIT_OUTCOMES and ex.to in s.stage_ids:
            yield (
                (*loc, j, "to"),
                f"{ex.to!r} names both a stage and the outcome of a deal",
                f"rename the stage {ex.to!r}; in exits, {ex.to!r} always means the outcome",
            )


_ABSORBED = -1  # won or lost: the deal has left the chain


def _successors(stages: tuple[Stage, ...], on: list[bool]) -> list[set[int]]:
    """Per stage, where a deal can go next (with p > 0): a stage, or ``_ABSORBED``.

    A target the type skips passes the deal on to the next stage it goes through (as the
    engine does); past the last stage the deal is won."""
    index = {st.id: i for i, st in enumerate(stages)}
    n = len(stages)

    def land(target: int) -> int:
        while target < n and not on[target]:
            target += 1
        return _ABSORBED if target >= n else target

    out: list[set[int]] = []
    for i, st in enumerate(stages):
        nxt: set[int] = set()
        if not on[i]:
            nxt.add(land(i + 1))
        elif st.exits is not None:
            for ex in st.exits:
                if ex.p > 0:
                    nxt.add(_ABSORBED if ex.to not in index else land(index[ex.to]))
        else:
            back = st.rework.p if st.rework is not None and st.rework.to in index else 0.0
            if back > 0 and st.rework is not None:
                nxt.add(land(index[st.rework.to]))
            if back < 1:
                if st.advance < 1:
                    nxt.add(_ABSORBED)
                if st.advance > 0:
                    nxt.add(land(i + 1))
        out.append(nxt)
    return out


def _trapped(stages: tuple[Stage, ...], on: list[bool]) -> list[int]:
    """Stages a deal goes through but can never leave for won or lost (a closed loop)."""
    succ = _successors(stages, on)
    free = [_ABSORBED in nxt for nxt in succ]
    changed = True
    while changed:
        changed = False
        for i, nxt in enumerate(succ):
            if not free[i] and any(t >= 0 and free[t] for t in nxt):
                free[i] = changed = True
    return [i for i in range(len(stages)) if on[i] and not free[i]]


def _loops(s: Scenario) -> Iterator[Finding]:
    """A loop no deal can leave would keep its deals cycling until the horizon (or forever,
    when its times are zero): the exits must give every stage a way to won or lost."""
    reported: set[str] = set()
    for i in _trapped(s.stages, [True] * len(s.stages)):
        st = s.stages[i]
        reported.add(st.id)
        yield ("stages", i, _form_key(st)), _trap_message(st), _TRAP_HINT
    for name, dt in s.deal_types.items():
        if not dt.stages and not dt.skip:
            continue
        stages = s.stages_of(name)
        for i in _trapped(stages, [st.id not in dt.skip for st in stages]):
            st = stages[i]
            if st.id in reported:
                continue
            reported.add(st.id)
            override = dt.stages.get(st.id)
            loc: Loc = ("deal_types", name, "skip")
            if override is not None:
                loc = ("deal_types", name, "stages", st.id)
                if override.exits is not None or override.rework is not None:
                    loc = (*loc, _form_key(st))
            yield loc, _trap_message(st, f" for deal type {name!r}"), _TRAP_HINT


_TRAP_HINT = "give a stage of the loop an exit to won, lost or a later stage with p > 0"


def _form_key(st: Stage) -> str:
    return "exits" if st.exits is not None else "rework" if st.rework is not None else "advance"


def _trap_message(st: Stage, who: str = "") -> str:
    if st.exits is not None:
        self_loop = all(e.to == st.id for e in st.exits if e.p > 0)
    else:
        self_loop = st.rework is not None and st.rework.to == st.id and st.rework.p >= 1
    if self_loop:
        return f"stage {st.id!r}{who} sends every deal back to itself: a loop no deal can leave"
    return f"no deal can leave stage {st.id!r}{who} for won or lost: a loop no deal can leave"


def _needs(loc: Loc, needs: dict[str, int], s: Scenario) -> Iterator[Finding]:
    for pool, count in needs.items():
        if pool not in s.resources:
            yield _unknown((*loc, pool), "resource pool", pool, s.resources)
            continue
        spec = s.resources[pool]
        most = max([spec.capacity, *(c.capacity for c in spec.capacity_changes)])
        if count > most:
            yield (
                (*loc, pool),
                f"needs {count} from {pool!r} but the pool never has more than {most}",
                f"raise {pool}'s capacity to at least {count} or lower the need",
            )


def _deal_types(s: Scenario) -> Iterator[Finding]:
    stage_ids = s.stage_ids
    for name, dt in s.deal_types.items():
        for sid in dt.skip:
            if sid not in stage_ids:
                yield _unknown(("deal_types", name, "skip"), "stage", sid, stage_ids)
        for sid, override in dt.stages.items():
            loc: Loc = ("deal_types", name, "stages", sid)
            if sid not in stage_ids:
                yield _unknown(loc, "stage", sid, stage_ids)
            if override.needs:
                yield from _needs((*loc, "needs"), override.needs, s)
            if override.exits is not None:
                yield from _exit_targets((*loc, "exits"), override.exits, s)
        if len(dt.skip) >= len(stage_ids) and set(dt.skip) >= set(stage_ids):
            yield ("deal_types", name, "skip"), "a deal type cannot skip every stage", None


def _pipeline(s: Scenario) -> Iterator[Finding]:
    if isinstance(s.pipeline, PipelineCsv):
        return
    seen: set[str] = set()
    for i, deal in enumerate(s.pipeline):
        loc: Loc = ("pipeline", i)
        if deal.id in seen:
            yield (*loc, "id"), f"duplicate deal id {deal.id!r}", "deal ids must be unique"
        seen.add(deal.id)
        if deal.type not in s.deal_types:
            yield _unknown((*loc, "type"), "deal type", deal.type, s.deal_types)
            continue
        dt = s.deal_types[deal.type]
        if deal.stage not in s.stage_ids:
            yield _unknown((*loc, "stage"), "stage", deal.stage, s.stage_ids)
        elif deal.stage in dt.skip:
            yield (
                (*loc, "stage"),
                f"deal type {deal.type!r} skips stage {deal.stage!r}",
                "put the deal in a stage its type goes through",
            )
        if deal.value is None and dt.value is None:
            yield (
                (*loc, "value"),
                "the deal has no value and its type has no value distribution",
                f"give the deal a value or deal_types.{deal.type}.value",
            )


def _arrivals(s: Scenario) -> Iterator[Finding]:
    for i, arrival in enumerate(s.arrivals):
        loc: Loc = ("arrivals", i)
        if arrival.type not in s.deal_types:
            yield _unknown((*loc, "type"), "deal type", arrival.type, s.deal_types)
        elif s.deal_types[arrival.type].value is None:
            yield (
                (*loc, "type"),
                f"new deals of type {arrival.type!r} need a value distribution",
                f"add deal_types.{arrival.type}.value",
            )
        if arrival.stage is not None and arrival.stage not in s.stage_ids:
            yield _unknown((*loc, "stage"), "stage", arrival.stage, s.stage_ids)
        if arrival.window is not None:
            yield from _window((*loc, "window"), arrival.window, s)


def _window(loc: Loc, window: tuple[date, date], s: Scenario) -> Iterator[Finding]:
    first, last = window
    if first > last:
        yield loc, "window must be [first date, last date]", "swap the two dates"
    if first < s.start or last > s.horizon:
        yield (
            loc,
            f"window {first}..{last} must lie inside start..horizon ({s.start}..{s.horizon})",
            None,
        )


def _risks(s: Scenario) -> Iterator[Finding]:
    seen: set[str] = set()
    for i, risk in enumerate(s.risks):
        loc: Loc = ("risks", i)
        if risk.id in seen:
            yield (*loc, "id"), f"duplicate risk id {risk.id!r}", "risk ids must be unique"
        seen.add(risk.id)
        for sid in risk.during:
            if sid not in s.stage_ids:
                yield _unknown((*loc, "during"), "stage", sid, s.stage_ids)
        if risk.window is not None:
            yield from _window((*loc, "window"), risk.window, s)
        if risk.resource is not None and risk.resource not in s.resources:
            yield _unknown((*loc, "resource"), "resource pool", risk.resource, s.resources)
        if risk.applies_to is not None:
            for t in risk.applies_to.type:
                if t not in s.deal_types:
                    yield _unknown((*loc, "applies_to", "type"), "deal type", t, s.deal_types)
            for sid in risk.applies_to.stage:
                if sid not in s.stage_ids:
                    yield _unknown((*loc, "applies_to", "stage"), "stage", sid, s.stage_ids)


def _rules(s: Scenario) -> Iterator[Finding]:
    seen: set[str] = set()
    for i, rule in enumerate(s.rules):
        if rule.id in seen:
            yield ("rules", i, "id"), f"duplicate rule id {rule.id!r}", "rule ids must be unique"
        seen.add(rule.id)
        for sid in rule.then.skip:
            if sid not in s.stage_ids:
                yield _unknown(("rules", i, "then", "skip"), "stage", sid, s.stage_ids)


def _targets(s: Scenario) -> Iterator[Finding]:
    for label in s.targets.revenue:
        year = int(label[:4])
        kind = period_kind(label)
        if year < s.start.year or year > s.horizon.year:
            yield (
                ("targets", "revenue", label),
                f"period {label} ({kind}) lies outside start..horizon ({s.start}..{s.horizon})",
                None,
            )


def _resources(s: Scenario) -> Iterator[Finding]:
    for name, pool in s.resources.items():
        for j, change in enumerate(pool.capacity_changes):
            if not s.start <= change.from_ <= s.horizon:
                yield (
                    ("resources", name, "capacity_changes", j, "from"),
                    f"date {change.from_} lies outside start..horizon ({s.start}..{s.horizon})",
                    None,
                )
