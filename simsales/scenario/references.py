"""Cross-reference checks: every name a scenario uses must exist, and the pieces must fit.

Each check yields ``(loc, message, hint)``; the loader locates them in the file and reports all
of them at once. :func:`check_references` finds errors; :func:`check_warnings` finds what is
valid but most likely a mistake (the CLI prints those and goes on).

Rules beyond names:

- *A loop no deal can leave* is an error: a set of stages from which no path of positive
  probability reaches a decision (won or lost), e.g. a stage reworking to itself with p = 1, or
  to an earlier stage whose stages in between always advance. The engine would run such a deal
  forever and the win probabilities would be a singular system.
- *A rework with p = 1* that can be left (a stage in the loop can lose the deal) is a warning:
  no deal ever advances past that stage.
- *The working window* start..horizon must hold at least one working day of the calendar.
- *A far horizon* is a warning: more than :data:`FAR_HORIZON_YEARS` years after start (a typo
  like 2127 for 2027), or, without arrivals, more than :data:`FAR_HORIZON_FACTOR` times the
  time the live pipeline needs (see :func:`_pipeline_span`: the slowest deal's remaining mean
  path, or a pool's remaining person-days over its capacity, whichever is longer), when every
  live deal is long decided and the extra years only cost run time.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from datetime import date

from simsales.scenario.schema import (
    EXIT_OUTCOMES,
    Exit,
    HazardExit,
    PipelineCsv,
    Scenario,
    Stage,
    period_kind,
)

__all__ = [
    "FAR_HORIZON_FACTOR",
    "FAR_HORIZON_YEARS",
    "Finding",
    "check_references",
    "check_warnings",
    "did_you_mean",
]

FAR_HORIZON_YEARS = 20
FAR_HORIZON_FACTOR = 10

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
        *_working_window(s),
    ]


def check_warnings(s: Scenario) -> list[Finding]:
    """Valid but most likely wrong: a rework with p = 1, a horizon far beyond the pipeline."""
    return [*_sure_rework(s), *_far_horizon(s)]


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
        if st.hazards is not None:
            yield from _exit_targets(("stages", i, "hazards", "exits"), st.hazards.exits, s)


def _exit_targets(loc: Loc, exits: Sequence[Exit | HazardExit], s: Scenario) -> Iterator[Finding]:
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
        elif st.hazards is not None:
            nxt.add(_ABSORBED)  # a deal that reaches the last age is lost there
            for hx in st.hazards.exits:
                if any(x > 0 for row in hx.per_day for x in row):
                    nxt.add(_ABSORBED if hx.to not in index else land(index[hx.to]))
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
    when its times are zero): every stage must have a way to won or lost. One finding per
    loop, at the last stage of it, naming every stage a deal would be caught in."""
    reported: set[str] = set()
    trapped = _trapped(s.stages, [True] * len(s.stages))
    if trapped:
        reported.update(s.stages[i].id for i in trapped)
        st = s.stages[trapped[-1]]
        loc: Loc = ("stages", trapped[-1], *_form_loc(st))
        yield loc, _trap_message([s.stages[i] for i in trapped]), _trap_hint(st)
    for name, dt in s.deal_types.items():
        if not dt.stages and not dt.skip:
            continue
        stages = s.stages_of(name)
        caught = _trapped(stages, [st.id not in dt.skip for st in stages])
        if not caught or all(stages[i].id in reported for i in caught):
            continue
        reported.update(stages[i].id for i in caught)
        st = stages[caught[-1]]
        override = dt.stages.get(st.id)
        loc = ("deal_types", name, "skip")
        if override is not None and (override.exits is not None or override.rework is not None):
            loc = ("deal_types", name, "stages", st.id, *_form_loc(st))
        yield (
            loc,
            _trap_message([stages[i] for i in caught], f" for deal type {name!r}"),
            _trap_hint(st),
        )


def _form_loc(st: Stage) -> tuple[str, ...]:
    if st.exits is not None:
        return ("exits",)
    return ("rework", "p") if st.rework is not None else ("advance",)


def _trap_hint(st: Stage) -> str:
    if st.exits is not None:
        return "give a stage of the loop an exit to won, lost or a later stage with p > 0"
    return "give the rework a p below 1, or let a stage in the loop lose deals: advance below 1"


def _trap_message(caught: list[Stage], who: str = "") -> str:
    st = caught[-1]
    alone = len(caught) == 1 and st.exits is not None
    if alone and all(e.to == st.id for e in st.exits or () if e.p > 0):
        return f"stage {st.id!r}{who} sends every deal back to itself: a loop no deal can leave"
    names = ", ".join(repr(c.id) for c in caught)
    return (
        f"a loop no deal can leave{who}: a deal in {names} never reaches a decision (won or lost)"
    )


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
            if override.hazards is not None:
                yield from _exit_targets((*loc, "hazards", "exits"), override.hazards.exits, s)
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
    quotas: list[tuple[Loc, dict[str, float]]] = [(("targets", "revenue"), s.targets.revenue)]
    named = {"owners": ("owner", "owner"), "teams": ("team", "team")}
    for section, (what, attribute) in named.items():
        known = list(dict.fromkeys(_deal_attribute(s, attribute)))
        for name, periods in getattr(s.targets, section).items():
            quotas.append((("targets", section, name), periods))
            if not isinstance(s.pipeline, PipelineCsv) and name not in known:
                yield (
                    ("targets", section, name),
                    f"no deal in the pipeline has {what} {name!r}",
                    did_you_mean(name, known) or f"give deals '{attribute}: {name}'",
                )
    for loc, periods in quotas:
        for label in periods:
            year = int(label[:4])
            kind = period_kind(label)
            if year < s.start.year or year > s.horizon.year:
                yield (
                    (*loc, label),
                    f"period {label} ({kind}) lies outside start..horizon ({s.start}..{s.horizon})",
                    None,
                )


def _deal_attribute(s: Scenario, attribute: str) -> Iterator[str]:
    if isinstance(s.pipeline, PipelineCsv):
        return
    for deal in s.pipeline:
        value = getattr(deal, attribute)
        if value is not None:
            yield value


def _resources(s: Scenario) -> Iterator[Finding]:
    for name, pool in s.resources.items():
        for j, change in enumerate(pool.capacity_changes):
            if not s.start <= change.from_ <= s.horizon:
                yield (
                    ("resources", name, "capacity_changes", j, "from"),
                    f"date {change.from_} lies outside start..horizon ({s.start}..{s.horizon})",
                    None,
                )


def _working_window(s: Scenario) -> Iterator[Finding]:
    calendar = s.calendar.build(s.start, s.horizon)
    first = calendar.to_model_time(s.start)
    if calendar.to_model_time(s.horizon) + (1 if calendar.is_workday(s.horizon) else 0) <= first:
        yield (
            ("horizon",),
            f"no working day between start ({s.start:%a} {s.start}) and horizon "
            f"({s.horizon:%a} {s.horizon}) in this calendar",
            "move the horizon to a working day after start, or add extra_workdays",
        )


# --- loops: every stage must be able to reach a decision ----------------------------------


def _effective(s: Scenario, type_name: str) -> list[tuple[int, Stage, Loc]]:
    """The stages a deal type goes through, with its overrides applied, and where each is set."""
    dt = s.deal_types[type_name]
    out = []
    for i, st in enumerate(s.stages):
        if st.id in dt.skip:
            continue
        loc: Loc = ("stages", i)
        override = dt.stages.get(st.id)
        if override is not None:
            changes = {k: v for k, v in override if v is not None}
            if changes.keys() & {"advance", "rework"}:
                loc = ("deal_types", type_name, "stages", st.id)
            st = st.model_copy(update=changes)
        out.append((i, st, loc))
    return out


def _sure_rework(s: Scenario) -> Iterator[Finding]:
    for i, st in enumerate(s.stages):
        if st.rework is not None and st.rework.p >= 1.0 and st.rework.to != st.id:
            yield (
                ("stages", i, "rework", "p"),
                f"rework p = 1: no deal ever advances past {st.id!r}; deals only leave the loop "
                f"back to {st.rework.to!r} by being lost",
                "a rework probability is usually well below 1",
            )


def _far_horizon(s: Scenario) -> Iterator[Finding]:
    years = (s.horizon - s.start).days / 365.25
    if years > FAR_HORIZON_YEARS:
        yield (
            ("horizon",),
            f"the horizon {s.horizon} is {years:.0f} years after start ({s.start})",
            f"a sales forecast rarely looks past {FAR_HORIZON_YEARS} years; is the year a typo?",
        )
        return
    if s.arrivals or isinstance(s.pipeline, PipelineCsv) or not s.pipeline:
        return
    span = _pipeline_span(s)
    days = (s.horizon - s.start).days * (1 if s.calendar.continuous else 5 / 7)
    if span > 0 and days > FAR_HORIZON_FACTOR * span:
        yield (
            ("horizon",),
            f"the horizon is about {days:,.0f} working days after start, more than "
            f"{FAR_HORIZON_FACTOR} times the ~{span:,.0f} days the live deals need (no "
            "arrivals): they are long decided by then",
            "bring the horizon closer, or add arrivals: the extra time only makes the run longer",
        )


def _pipeline_span(s: Scenario) -> float:
    """A rough time for the live pipeline to finish, in (working) days: the longer of the
    slowest deal's path (mean durations of the stages left, no waiting) and, for each pool, the
    person-days all live deals still need from it divided by its capacity (everyone queued)."""
    path = 0.0
    load: dict[str, float] = dict.fromkeys(s.resources, 0.0)
    plans = {name: _effective(s, name) for name in s.deal_types}
    for deal in s.deals():
        left = [st for i, st, _ in plans[deal.type] if i >= s.stage_ids.index(deal.stage)]
        means = [st.duration.sampler().mean() for st in left]
        path = max(path, sum(means))
        for st, mean in zip(left, means, strict=True):
            for pool, people in st.needs.items():
                if pool in load:
                    load[pool] += people * mean
    queued = [load[p] / pool.capacity for p, pool in s.resources.items() if pool.capacity > 0]
    return max([path, *queued])
