"""Loading scenarios: YAML file -> (overlays) -> validated, frozen :class:`Scenario`.

Every problem in a file is collected and raised together as one :class:`ScenarioError`, each
located by file, line, column and key path.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from simsales.errors import Problem, ScenarioError, format_path
from simsales.io.inputs import excerpt, read_user_text, resolve_inside
from simsales.scenario.distributions import MAX_MAGNITUDE
from simsales.scenario.distributions import clean_loc as clean_distribution_loc
from simsales.scenario.overlay import OverlayError, merge
from simsales.scenario.references import check_references, check_warnings, did_you_mean
from simsales.scenario.schema import (
    ID_PATTERN,
    PERIOD_PATTERN,
    Arrival,
    DealType,
    PipelineDeal,
    Pool,
    Risk,
    Rule,
    Scenario,
    Stage,
)
from simsales.scenario.yaml_source import (
    Loc,
    SourceMap,
    full_width_fixed,
    parse_yaml,
    read_yaml,
)

__all__ = [
    "apply_overrides",
    "load",
    "load_dict",
    "parse_override",
    "scenario_hash",
    "scenario_warnings",
    "with_overlay",
    "with_overlay_files",
]


def load(
    path: str | Path,
    variant: str | None = None,
    overrides: Sequence[str] = (),
    overlays: Sequence[str | Path] = (),
) -> Scenario:
    """Read, validate and return the scenario in ``path``.

    Every variant in the file is validated too: a file with a broken variant is a broken file,
    whichever variant is run. ``variant`` applies one of the file's ``variants:``;
    ``overrides`` are quick changes such as ``"resources.presales.capacity=5"`` (validated like
    the file; errors name the override). ``overlays`` are overlay files (e.g. a plan written by
    ``simsales optimize``) applied after the variant and before the overrides.
    """
    data, source = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError([source.problem((), "a scenario must be a mapping of keys to values")])
    scenario = _validate(data, source, Path(path).parent)
    problems: list[Problem] = []
    for name in scenario.variants:
        try:
            with_overlay(scenario, name)
        except ScenarioError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ScenarioError(problems)
    if variant is not None:
        scenario = with_overlay(scenario, variant)
    return apply_overrides(with_overlay_files(scenario, overlays), overrides)


def load_dict(
    data: Mapping[str, Any], name: str = "<dict>", base_dir: Path | None = None
) -> Scenario:
    """Validate a scenario given as Python data (e.g. built in a notebook)."""
    return _validate(json_safe(data), SourceMap(name), base_dir or Path.cwd())


def with_overlay(
    scenario: Scenario,
    overlay: str | Mapping[str, Any],
    name: str | None = None,
    *,
    source: SourceMap | None = None,
) -> Scenario:
    """The scenario with a variant (by name) or an overlay mapping deep-merged onto it.

    An overlay changes objects that exist; it names pools, deal types, stages, risks, rules,
    deals and arrival sources by their ids, and an id that is not there is an error with a
    did-you-mean. Adding an object must be explicit: its whole definition (every required key),
    and a new pool or deal type must be used by something (a stage's needs, a risk, a deal, an
    arrival), else it would change nothing: most likely a typo. ``source``: where the keys of
    an overlay mapping read from a file sit, so its problems name that file's lines.
    """
    result, added = _overlay(scenario, overlay, name, source)
    _refuse_unused(result, [added])
    return result


def _refuse_unused(scenario: Scenario, additions: Sequence[_NewObjects]) -> None:
    problems = [
        a.locate(frm, msg, hint) for a in additions for frm, msg, hint in a.unused(scenario)
    ]
    if problems:
        raise ScenarioError(problems)


def _overlay(
    scenario: Scenario,
    overlay: str | Mapping[str, Any],
    name: str | None,
    located: SourceMap | None = None,
) -> tuple[Scenario, _NewObjects]:
    """with_overlay without the check that new objects are used (see apply_overrides)."""
    raw, source = scenario_raw(scenario)
    prefix: Loc
    if isinstance(overlay, str):
        if overlay not in scenario.variants:
            hint = did_you_mean(overlay, scenario.variants) or "the scenario defines no variants"
            at = source.problem(("variants",), f"unknown variant {overlay!r}", hint, key=True)
            raise ScenarioError(
                [Problem(at.message, "variants", source.file, at.line, at.column, hint)]
            )
        name = name or f"variant {overlay}"
        patch, prefix = scenario.variants[overlay], ("variants", overlay)
    else:
        patch, prefix = json_safe(overlay), ()
    merged_source = SourceMap(
        source.file, dict(source.values), dict(source.keys), dict(source.files)
    )
    label = name or "overlay"

    def record(at: Loc, frm: Loc) -> None:
        if not prefix:  # an overlay file, or a Python or --set overlay with a name but no lines
            merged_source.files[at] = label
            merged_source.values.pop(at, None)
            merged_source.keys.pop(at, None)
            if located is not None:
                if frm in located.values:
                    merged_source.values[at] = located.values[frm]
                if frm in located.keys:
                    merged_source.keys[at] = located.keys[frm]
            return
        full = (*prefix, *frm)
        if full in source.values:
            merged_source.values[at] = source.values[full]
        if full in source.keys:
            merged_source.keys[at] = source.keys[full]

    def problem(frm: Loc, message: str, hint: str | None) -> Problem:
        if prefix:
            return source.problem((*prefix, *frm), message, hint)
        if located is not None:
            return located.problem(frm, message, hint, key=True)  # at the id it names
        return Problem(message, format_path(frm), label, hint=hint)

    base = {k: v for k, v in raw.items() if k != "variants"}
    added = _NewObjects(base, problem)
    try:
        merged = merge(base, patch, record, added.check)
    except OverlayError as exc:
        message = exc.message
        if exc.loc and exc.loc[0] in _OBJECTS:  # name the kind: "no stage 'x'", not "no item"
            message = message.replace("no item with id", f"no {_OBJECTS[str(exc.loc[0])][0]}")
        raise ScenarioError([problem(exc.loc, message, exc.hint)]) from None
    merged["variants"] = raw.get("variants", {})
    base_dir = Path(source.file).parent if source.file and Path(source.file).exists() else None
    return _validate(merged, merged_source, base_dir or Path.cwd()), added


# Objects a scenario names by id: section -> (what users call it, its model).
_OBJECTS: dict[str, tuple[str, type[BaseModel]]] = {
    "resources": ("pool", Pool),
    "deal_types": ("deal type", DealType),
    "stages": ("stage", Stage),
    "risks": ("risk", Risk),
    "rules": ("rule", Rule),
    "pipeline": ("deal", PipelineDeal),
    "arrivals": ("arrival source", Arrival),
}


class _NewObjects:
    """The objects an overlay adds: each must be whole, and new pools and deal types used."""

    def __init__(self, base: dict[str, Any], locate: Callable[[Loc, str, str | None], Problem]):
        self.base = base
        self.locate = locate  # overlay loc, message, hint -> a located Problem
        self.added: list[tuple[str, str, Loc]] = []  # (section, id, overlay loc)

    def known(self, section: str) -> list[str]:
        items = self.base.get(section) or {}
        if isinstance(items, dict):
            return [str(k) for k in items]
        return [str(x["id"]) for x in items if isinstance(x, dict) and "id" in x]

    def check(self, at: Loc, frm: Loc, value: Any) -> None:
        """merge's on_new: a key or item the overlay adds that the base does not have."""
        if not at or at[0] not in _OBJECTS:
            return
        section = str(at[0])
        if len(at) == 1:  # the whole section is new: every object in it is
            if isinstance(value, dict) and section in ("resources", "deal_types"):
                for key, item in value.items():
                    self._one(section, str(key), item, (*frm, key))
            elif isinstance(value, list) and section not in ("resources", "deal_types"):
                for i, item in enumerate(value):
                    if isinstance(item, dict) and "id" in item:
                        self._one(section, str(item["id"]), item, (*frm, i))
        elif len(at) == 2:
            key = at[1] if section in ("resources", "deal_types") else None
            if key is None:
                key = value.get("id") if isinstance(value, dict) else None
            if key is not None:
                self._one(section, str(key), value, frm)

    def _one(self, section: str, key: str, value: Any, frm: Loc) -> None:
        what, model = _OBJECTS[section]
        required = [f.alias or n for n, f in model.model_fields.items() if f.is_required()]
        missing = [k for k in required if not isinstance(value, dict) or k not in value]
        if missing:
            close = did_you_mean(key, self.known(section)) or f"the scenario has no {what}s yet"
            raise OverlayError(
                frm,
                f"no {what} {key!r} to change",
                _then(close, f"to add a {what}, give its whole definition: {', '.join(missing)}"),
            )
        self.added.append((section, key, frm))

    def unused(self, s: Scenario) -> Iterator[tuple[Loc, str, str | None]]:
        """New pools and deal types nothing uses: they would change nothing."""
        pools = {p for st in s.stages for p in st.needs}
        overrides = [o for t in s.deal_types.values() for o in t.stages.values()]
        pools |= {p for o in overrides for p in o.needs or {}}
        pools |= {r.resource for r in s.risks if r.resource is not None}
        types = {d.type for d in s.deals()} | {a.type for a in s.arrivals}
        for section, key, frm in self.added:
            if section == "resources" and key not in pools:
                used_by = "no stage's needs and no risk"
            elif section == "deal_types" and key not in types:
                used_by = "no deal and no arrival"
            else:
                continue
            what = _OBJECTS[section][0]
            close = did_you_mean(key, self.known(section))
            yield (
                frm,
                f"new {what} {key!r} is used by {used_by}: it would change nothing",
                _then(close, f"to change an existing {what}, use its id"),
            )


def _then(first: str | None, advice: str) -> str:
    """Two pieces of a hint in one sentence-like line."""
    if not first:
        return advice
    return f"{first} {advice}" if first.endswith("?") else f"{first}; {advice}"


def apply_overrides(scenario: Scenario, overrides: Sequence[str]) -> Scenario:
    """The scenario with ``--set PATH=VALUE`` changes applied in order (see :func:`parse_override`).

    A path may not run through an id that does not exist (``resources.legl.capacity=4``): one
    field on an unknown pool or deal type is a typo, not a new object. To add one, set its whole
    definition: ``resources.contractors={capacity: 2}``.
    """
    additions: list[_NewObjects] = []
    for text in overrides:
        raw, _ = scenario_raw(scenario)
        parts = [p for p in text.partition("=")[0].strip().split(".") if p]
        if len(parts) > 2 and parts[0] in ("resources", "deal_types"):
            known = [str(k) for k in raw.get(parts[0]) or {}]
            if parts[1] not in known:
                what = _OBJECTS[parts[0]][0]
                close = did_you_mean(parts[1], known) or f"the scenario has no {what}s"
                raise ScenarioError(
                    [
                        Problem(
                            f"no {what} {parts[1]!r} to change",
                            ".".join(parts[:2]),
                            f"--set {text}",
                            hint=_then(
                                close,
                                f"to add a {what}, set its whole definition: "
                                f"--set '{parts[0]}.{parts[1]}={{...}}'",
                            ),
                        )
                    ]
                )
        scenario, added = _overlay(scenario, parse_override(text), f"--set {text}")
        additions.append(added)
    _refuse_unused(scenario, additions)  # a pool added by one --set may be used by the next
    return scenario


def parse_override(text: str) -> dict[str, Any]:
    """``"resources.presales.capacity=5"`` -> ``{"resources": {"presales": {"capacity": 5}}}``."""
    where = f"--set {text}"
    key, sep, value = text.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not sep or not parts:
        raise ScenarioError(
            [Problem("expected PATH=VALUE", file=where, hint="e.g. resources.presales.capacity=5")]
        )
    parsed, _ = parse_yaml(f"v: {value.strip() or 'null'}\n", where)
    out: dict[str, Any] = {parts[-1]: parsed["v"]}
    for part in reversed(parts[:-1]):
        out = {part: out}
    return out


def scenario_raw(scenario: Scenario) -> tuple[dict[str, Any], SourceMap]:
    raw = scenario.__pydantic_private__ or {}
    data = raw.get("_raw")
    if data is None:  # built directly with Scenario(...): fall back to its own dump
        data = json_safe(scenario.model_dump(mode="json", by_alias=True, exclude_none=True))
    return data, raw.get("_source") or SourceMap(None)


def scenario_warnings(scenario: Scenario) -> list[Problem]:
    """What is valid but most likely a mistake, located like errors (message starts 'warning:')."""
    _, source = scenario_raw(scenario)
    return [
        source.problem(loc, f"warning: {message}", hint)
        for loc, message, hint in check_warnings(scenario)
    ]


def scenario_hash(scenario: Scenario) -> str:
    """A stable fingerprint of what the scenario says (for provenance)."""
    data, _ = scenario_raw(scenario)
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def json_safe(data: Any) -> Any:
    """Plain dicts/lists (tuples become lists), so overlays and hashing treat all input alike."""
    if isinstance(data, Mapping):
        return {str(k): json_safe(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_safe(v) for v in data]
    return data


# --- validation ---------------------------------------------------------------------------


def _validate(data: dict[str, Any], source: SourceMap, base_dir: Path) -> Scenario:
    problems: list[Problem] = []
    pipeline = data.get("pipeline")
    if isinstance(pipeline, dict) and "csv" in pipeline:
        data = {**data, "pipeline": _read_pipeline_csv(pipeline, base_dir, source, problems)}
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problem(err, data, source) for err in exc.errors())
        raise ScenarioError(_unique(problems)) from None
    problems.extend(source.problem(loc, msg, hint) for loc, msg, hint in check_references(scenario))
    if problems:
        raise ScenarioError(_unique(problems))
    scenario.__pydantic_private__ = {"_raw": data, "_source": source}
    return scenario


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    seen: dict[str, Problem] = {}
    for p in problems:
        seen.setdefault(str(p), p)
    return sorted(seen.values(), key=lambda p: (p.file or "", p.line or 0, p.column or 0))


_PATTERN_MESSAGES = {
    PERIOD_PATTERN: ("not a period label", "use 2027, 2027H1, 2027Q3 or 2027-03"),
    ID_PATTERN: (
        "not a valid id",
        "ids use letters (Chinese too), digits, '_' or '-', without dots, brackets or colons",
    ),
}


def _problem(err: ErrorDetails, data: Any, source: SourceMap) -> Problem:
    loc = clean_loc(clean_distribution_loc(err["loc"]), data)
    kind = err["type"]
    ctx = err.get("ctx") or {}
    hint = ctx.get("hint")
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERN_MESSAGES:
        message, hint = _PATTERN_MESSAGES[ctx["pattern"]]
    if kind == "extra_forbidden":
        allowed = allowed_keys(Scenario, loc[:-1])
        hint = did_you_mean(str(loc[-1]), allowed)
        if "\uff1a" in str(loc[-1]):  # `capacity：2` reads as one key without a value
            hint = f"a full-width colon; write {full_width_fixed(str(loc[-1]))!r}"
        return source.problem(loc, f"unknown key {loc[-1]!r}", hint, key=True)
    if kind == "missing":
        return source.problem(loc[:-1], f"missing required key {loc[-1]!r}", hint)
    if kind == "less_than_equal" and ctx.get("le") == MAX_MAGNITUDE:
        message = f"{err['input']:g} is too large: amounts must be at most {MAX_MAGNITUDE:g}"
        hint = "so that sums over deals and replications stay finite; check the exponent"
        return source.problem(loc, message, hint)
    if kind != "simsales" and "input" in err and not isinstance(err["input"], dict | list):
        message = f"{message} (got {excerpt(err['input'])})"  # short: it may come from a file
        if isinstance(err["input"], str) and "\uff1a" in err["input"]:
            hint = f"a full-width colon; write {full_width_fixed(err['input'])!r}"
    return source.problem(loc, message, hint)


def clean_loc(loc: Sequence[str | int], data: Any) -> Loc:
    """Drop pydantic's union and validator labels from an error location, keeping data keys.

    A label is a step that does not index the data: pydantic inserts the names of union members
    and tags (``'pert'``, ``'function-after[...]'``, ``'PipelineCsv'``) between real keys.
    """
    out: list[str | int] = []
    node = data
    for i, step in enumerate(loc):
        if _indexes(node, step):
            node = node[step]
        elif not (i == len(loc) - 1 and isinstance(node, dict) and _is_key(step)):
            continue  # a label, not a place in the data
        out.append(step)
    return tuple(out)


def _indexes(node: Any, step: str | int) -> bool:
    if isinstance(node, dict):
        return isinstance(step, str) and step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def _is_key(step: str | int) -> bool:
    return isinstance(step, str) and step[:1].islower() and "[" not in step


def allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys a mapping at ``loc`` may have, found by walking the model's field types."""
    types: list[Any] = [model]
    for step in loc:
        nxt: list[Any] = []
        for t in _flatten(types):
            if isinstance(t, type) and issubclass(t, BaseModel) and isinstance(step, str):
                for fname, f in t.model_fields.items():
                    if step in (fname, f.alias):
                        nxt.append(f.annotation)
            elif get_origin(t) is dict and isinstance(step, str):
                nxt.append(get_args(t)[1])
            elif get_origin(t) in (tuple, list) and isinstance(step, int):
                nxt.append(get_args(t)[0])
        types = nxt
    keys: list[str] = []
    for t in _flatten(types):
        if isinstance(t, type) and issubclass(t, BaseModel):
            keys.extend(f.alias or name for name, f in t.model_fields.items() if not f.exclude)
    return keys


def _flatten(types: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for t in types:
        origin = get_origin(t)
        if origin is Union or str(origin) in ("<class 'types.UnionType'>", "typing.Annotated"):
            out.extend(_flatten(get_args(t)[:1] if "Annotated" in str(origin) else get_args(t)))
        elif hasattr(t, "__metadata__"):
            out.extend(_flatten([t.__origin__]))
        else:
            out.append(t)
    return out


# --- CSV pipelines --------------------------------------------------------------------------

_CSV_FIELDS = tuple(PipelineDeal.model_fields)


def _read_pipeline_csv(
    spec: dict[str, Any], base_dir: Path, source: SourceMap, problems: list[Problem]
) -> list[dict[str, Any]]:
    """Rows of a pipeline CSV as deal mappings; their errors point at the CSV's lines."""
    loc: Loc = ("pipeline", "csv")
    try:  # inside the scenario's folder (or --allow-path): a scenario must not read any file
        path = resolve_inside(str(spec.get("csv", "")), base_dir, what="pipeline CSV")
    except ScenarioError as exc:
        problems.extend(source.problem(loc, p.message, p.hint) for p in exc.problems)
        return []
    columns = spec.get("columns") or {}
    if not isinstance(columns, dict):
        problems.append(source.problem(("pipeline", "columns"), "columns must be a mapping"))
        return []
    for field in columns:
        if field not in _CSV_FIELDS:
            problems.append(
                source.problem(
                    ("pipeline", "columns", field),
                    f"unknown deal field {field!r}",
                    did_you_mean(str(field), _CSV_FIELDS),
                    key=True,
                )
            )
    try:
        text = read_user_text(path, what="pipeline CSV")
    except ScenarioError as exc:
        for p in exc.problems:
            reason = p.message if p.message != "no such file" else "cannot be read"
            where = f":{p.line}" if p.line else ""
            message = f"pipeline CSV {path}{where} {reason}"
            problems.append(source.problem(loc, message, p.hint or "check the path"))
        return []
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    # the header is file content: hints quote it only as short escaped excerpts
    shown = [excerpt(h)[1:-1] for h in header]
    to_field = {str(col): str(field) for field, col in columns.items()}
    for field, col in columns.items():
        if col not in header:
            problems.append(
                Problem(
                    f"column {col!r} (for {field}) is not in the header",
                    "pipeline.columns",
                    str(path),
                    1,
                    hint=did_you_mean(str(col), shown),
                )
            )
    known = {to_field.get(c, c) for c in header}
    for required in ("id", "type", "stage"):
        if required not in known:
            problems.append(
                Problem(
                    f"no column for {required!r}",
                    "pipeline",
                    str(path),
                    1,
                    hint=f"add a column '{required}' or map one: columns: {{{required}: ...}}",
                )
            )
    deals: list[dict[str, Any]] = []
    for i, row in enumerate(reader):
        line = reader.line_num
        deal = {
            to_field.get(col, col): value.strip()
            for col, value in row.items()
            if col is not None
            and value is not None
            and value.strip() != ""
            and to_field.get(col, col) in _CSV_FIELDS
        }
        source.files[("pipeline", i)] = str(path)
        source.values[("pipeline", i)] = (line, 1)
        deals.append(deal)
    return deals


def with_overlay_files(scenario: Scenario, paths: Sequence[str | Path]) -> Scenario:
    """``scenario`` with each overlay file merged onto it, in order."""
    for path in paths:
        data, source = read_yaml(path)
        if data is None:
            data = {}  # an empty plan (nothing to change) is a valid overlay
        if not isinstance(data, dict):
            raise ScenarioError(
                [
                    source.problem(
                        (), "an overlay must be a mapping of scenario keys (a partial scenario)"
                    )
                ]
            )
        if "variants" in data:
            raise ScenarioError(
                [
                    source.problem(
                        ("variants",),
                        "an overlay cannot define variants",
                        "put variants in the scenario file; an overlay is one what-if",
                        key=True,
                    )
                ]
            )
        scenario = with_overlay(scenario, data, name=str(path), source=source)
    return scenario
