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
from collections.abc import Iterable, Iterator
from datetime import date

from simsales.scenario.schema import PipelineCsv, Scenario, Stage, period_kind

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
        *_pipeline(s),
        *_arrivals(s),
        *_risks(s),
        *_rules(s),
        *_targets(s),
        *_resources(s),
        *_working_window(s),
        *_loops(s),
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

_DECIDED = -1  # the node "won or lost" in the stage graph


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


def _next_stages(st: Stage, nxt: int, rework_to: int) -> list[int]:
    """Where a deal can go after stage ``st`` with positive probability (stage indices, or
    _DECIDED for won/lost). ``nxt``: the next stage the type goes through (_DECIDED after the
    last: won); ``rework_to``: where the stage's rework lands.

    The rework form: rework first, then advance vs lost. Competing exits (a stage's ``exits:``
    list) add one target per exit here, ``won`` and ``lost`` being _DECIDED.
    """
    stay = st.rework.p if st.rework is not None else 0.0
    out = [rework_to] if stay > 0 else []
    if stay < 1 and st.advance > 0:
        out.append(nxt)
    if stay < 1 and st.advance < 1:
        out.append(_DECIDED)
    return out


Graph = dict[int, list[int]]


def _graph(s: Scenario, type_name: str) -> tuple[Graph, dict[int, Stage], dict[int, Loc]]:
    """The stage graph of a deal type: stage index -> targets; plus each stage and its loc."""
    stages = _effective(s, type_name)
    order = [i for i, _, _ in stages]
    ids = s.stage_ids
    graph: Graph = {}
    by_index: dict[int, Stage] = {}
    where: dict[int, Loc] = {}
    for k, (i, st, loc) in enumerate(stages):
        nxt = order[k + 1] if k + 1 < len(order) else _DECIDED
        rework_to = _DECIDED
        if st.rework is not None:  # a rework to a skipped stage lands on the next one it has
            target = ids.index(st.rework.to)
            rework_to = next((j for j in order if j >= target), _DECIDED)
        graph[i], by_index[i], where[i] = _next_stages(st, nxt, rework_to), st, loc
    return graph, by_index, where


def _can_decide(graph: Graph) -> set[int]:
    """Stages from which a decision is reachable (fixed point over the edges)."""
    good: set[int] = set()
    changed = True
    while changed:
        changed = False
        for node, targets in graph.items():
            if node not in good and any(t == _DECIDED or t in good for t in targets):
                good.add(node)
                changed = True
    return good


def _loops(s: Scenario) -> Iterator[Finding]:
    stage_ids = set(s.stage_ids)
    if any(st.rework is not None and st.rework.to not in stage_ids for st in s.stages):
        return  # an unknown rework target is reported already
    reported: set[Loc] = set()
    for type_name in s.deal_types:
        graph, stages, where = _graph(s, type_name)
        trapped = sorted(set(graph) - _can_decide(graph))
        if not trapped:
            continue
        names = ", ".join(repr(stages[i].id) for i in trapped)
        last = trapped[-1]
        loc = (*where[last], "rework", "p")
        if loc in reported:
            continue
        reported.add(loc)
        whom = "" if len(s.deal_types) == 1 else f" (deal type {type_name!r})"
        yield (
            loc,
            f"a loop no deal can leave{whom}: a deal in {names} never reaches a decision "
            "(won or lost)",
            "give the rework a p below 1, or let a stage in the loop lose deals: advance below 1",
        )


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
