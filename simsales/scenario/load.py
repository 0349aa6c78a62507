"""Loading scenarios: YAML file -> (overlays) -> validated, frozen :class:`Scenario`.

Every problem in a file is collected and raised together as one :class:`ScenarioError`, each
located by file, line, column and key path.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from simsales.errors import Problem, ScenarioError, format_path
from simsales.io.inputs import excerpt, read_user_text, resolve_inside
from simsales.scenario.distributions import clean_loc as clean_distribution_loc
from simsales.scenario.overlay import OverlayError, merge
from simsales.scenario.references import check_references, did_you_mean
from simsales.scenario.schema import ID_PATTERN, PERIOD_PATTERN, PipelineDeal, Scenario
from simsales.scenario.yaml_source import Loc, SourceMap, parse_yaml, read_yaml

__all__ = ["load", "load_dict", "parse_override", "scenario_hash", "with_overlay"]


def load(
    path: str | Path,
    variant: str | None = None,
    overrides: Sequence[str] = (),
) -> Scenario:
    """Read, validate and return the scenario in ``path``.

    ``variant`` applies one of the file's ``variants:``; ``overrides`` are quick changes such as
    ``"resources.presales.capacity=5"`` (validated like the file; errors name the override).
    """
    data, source = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError([source.problem((), "a scenario must be a mapping of keys to values")])
    scenario = _validate(data, source, Path(path).parent)
    if variant is not None:
        scenario = with_overlay(scenario, variant)
    for text in overrides:
        scenario = with_overlay(scenario, parse_override(text), name=f"--set {text}")
    return scenario


def load_dict(
    data: Mapping[str, Any], name: str = "<dict>", base_dir: Path | None = None
) -> Scenario:
    """Validate a scenario given as Python data (e.g. built in a notebook)."""
    return _validate(json_safe(data), SourceMap(name), base_dir or Path.cwd())


def with_overlay(
    scenario: Scenario, overlay: str | Mapping[str, Any], name: str | None = None
) -> Scenario:
    """The scenario with a variant (by name) or an overlay mapping deep-merged onto it."""
    raw, source = scenario_raw(scenario)
    prefix: Loc
    if isinstance(overlay, str):
        if overlay not in scenario.variants:
            hint = did_you_mean(overlay, scenario.variants) or "the scenario defines no variants"
            raise ScenarioError([Problem(f"unknown variant {overlay!r}", "variants", hint=hint)])
        name = name or f"variant {overlay}"
        patch, prefix = scenario.variants[overlay], ("variants", overlay)
    else:
        patch, prefix = json_safe(overlay), ()
    merged_source = SourceMap(
        source.file, dict(source.values), dict(source.keys), dict(source.files)
    )
    label = name or "overlay"

    def record(at: Loc, frm: Loc) -> None:
        if not prefix:  # a Python or --set overlay: it has a name but no lines
            merged_source.files[at] = label
            merged_source.values.pop(at, None)
            merged_source.keys.pop(at, None)
            return
        full = (*prefix, *frm)
        if full in source.values:
            merged_source.values[at] = source.values[full]
        if full in source.keys:
            merged_source.keys[at] = source.keys[full]

    base = {k: v for k, v in raw.items() if k != "variants"}
    try:
        merged = merge(base, patch, record)
    except OverlayError as exc:
        raise ScenarioError(
            [source.problem((*prefix, *exc.loc), exc.message, exc.hint)]
            if prefix
            else [Problem(exc.message, format_path(exc.loc), label, hint=exc.hint)]
        ) from None
    merged["variants"] = raw.get("variants", {})
    base_dir = Path(source.file).parent if source.file and Path(source.file).exists() else None
    return _validate(merged, merged_source, base_dir or Path.cwd())


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
        return source.problem(
            loc, f"unknown key {loc[-1]!r}", did_you_mean(str(loc[-1]), allowed), key=True
        )
    if kind == "missing":
        return source.problem(loc[:-1], f"missing required key {loc[-1]!r}", hint)
    if kind != "simsales" and "input" in err and not isinstance(err["input"], dict | list):
        message = f"{message} (got {excerpt(err['input'])})"  # short: it may come from a file
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
