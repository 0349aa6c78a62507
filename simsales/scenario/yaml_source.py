"""Read YAML safely into plain Python data, keeping where every node came from.

Safety: UTF-8 only, a size limit, no tags that construct objects, duplicate keys refused, a bound
on the number of nodes after alias expansion (so a "billion laughs" file fails fast) and on the
nesting depth, also through aliases (so ``a: [[[...]]]`` fails fast instead of exhausting the
stack). Every problem is located (file:line:column and, where one exists, the key path): an
unquoted impossible date (``start: 2026-02-30``) names its key, a full-width colon (``：``) gets
a hint. Positions are 1-based ``(line, column)`` keyed by the node's key path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from simsales.errors import Problem, ScenarioError, format_path
from simsales.io.inputs import DEFAULT_MAX_BYTES, max_input_bytes, read_user_bytes
from simsales.scenario.yaml_words import explain

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "SourceMap",
    "full_width_fixed",
    "parse_yaml",
    "read_yaml",
]

MAX_BYTES = DEFAULT_MAX_BYTES  # the limit is simsales.io.inputs.max_input_bytes() (configurable)
MAX_NODES = 200_000
MAX_DEPTH = 40  # nesting levels; the deepest scenario key path needs about 10
_FULL_WIDTH_COLON = "\uff1a"

Loc = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Where each key path sits in a file: value positions and, for mapping keys, key positions."""

    file: str | None
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    files: dict[Loc, str] = field(default_factory=dict)  # subtrees read from another file

    def file_of(self, loc: Loc) -> str | None:
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.files:
                return self.files[loc[:n]]
        return self.file

    def locate(self, loc: Loc, *, key: bool = False) -> tuple[int | None, int | None]:
        """Position of ``loc``, or of its closest located ancestor."""
        if key and loc in self.keys:
            return self.keys[loc]
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.values:
                return self.values[loc[:n]]
            if loc[:n] in self.files:
                break  # the subtree came from elsewhere: its ancestors' lines would mislead
        return None, None

    def problem(
        self, loc: Loc, message: str, hint: str | None = None, *, key: bool = False
    ) -> Problem:
        line, column = self.locate(loc, key=key)
        return Problem(message, format_path(loc), self.file_of(loc), line, column, hint)


class _TooBigError(Exception):
    def __init__(self, loc: Loc, what: str) -> None:
        super().__init__(what)
        self.loc, self.what = loc, what


@dataclass(frozen=True)
class _BadDate:
    """An unquoted value that looks like a date but is none (2026-02-30): located later."""

    text: str
    reason: str


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that keeps impossible dates as markers instead of failing unmarked."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except ValueError as exc:
            return _BadDate(str(node.value), str(exc))


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


def read_yaml(path: str | Path) -> tuple[Any, SourceMap]:
    """Read a YAML file; raise :class:`ScenarioError` with a located message if it is unusable."""
    # regular files only, at most the input limit, never blocking on a FIFO
    raw = read_user_bytes(path, what="scenario file")
    return parse_yaml(raw, str(path))


def parse_yaml(raw: bytes | str, name: str | None = None) -> tuple[Any, SourceMap]:
    if isinstance(raw, bytes):
        if len(raw) > max_input_bytes():
            raise ScenarioError([Problem(f"input over {max_input_bytes():,} bytes", file=name)])
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise ScenarioError(
                [
                    Problem(
                        f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                        file=name,
                        line=line,
                        column=column,
                        hint="save the file as UTF-8",
                    )
                ]
            ) from None
    else:
        text = raw
    if not text.strip():
        raise ScenarioError(
            [Problem("the file is empty", file=name, hint="start from scenarios/minimal.yaml")]
        )
    reader = YAML(typ="rt", pure=True)  # round-trip: keeps positions, builds no Python objects
    reader.allow_duplicate_keys = False
    reader.max_depth = MAX_DEPTH  # the composer refuses deeper nesting, with its position
    reader.Constructor = _Constructor
    try:
        doc = reader.load(text)  # tags survive as markers; _plain refuses them
    except MarkedYAMLError as exc:
        raise ScenarioError([_syntax_problem(exc, name, text)]) from None
    except (YAMLError, ValueError) as exc:  # unmarked: rare, but never a traceback
        raise ScenarioError([Problem(f"YAML error: {exc}", file=name)]) from None
    source = SourceMap(name)
    lc = getattr(doc, "lc", None)
    if lc is not None and lc.line is not None:  # the document itself, for top-level problems
        source.values[()] = (lc.line + 1, (lc.col or 0) + 1)
    counter = [0]
    try:
        data = _plain(doc, (), source, counter)
    except _TooBigError as exc:
        # Point at the top-level key whose value blew up: deeper positions are the anchors'.
        top = exc.loc[:1]
        hint = (
            "a file this large is almost certainly an alias bomb"
            if exc.what == "nodes"
            else "a scenario needs only a few levels; check the brackets and the anchors/aliases"
        )
        what = (
            f"more than {MAX_NODES:,} values after expanding anchors and aliases"
            if exc.what == "nodes"
            else f"nested deeper than {MAX_DEPTH} levels (through aliases)"
        )
        raise ScenarioError([source.problem(top, what, hint, key=True)]) from None
    except ScenarioError as exc:
        raise ScenarioError([*exc.problems]) from None
    return data, source


def _syntax_problem(exc: MarkedYAMLError, name: str | None, text: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    what = exc.problem or exc.context or "invalid YAML"
    hint = None
    lines = text.splitlines()
    explained = explain(exc, lines)
    if explained is not None:  # the user's words, at the line to change
        what, hint = explained.message, explained.hint
        line, column = explained.line + 1, explained.column + 1
    if mark is not None and line is not None:
        bad = lines[mark.line] if mark.line < len(lines) else ""
        if "\t" in bad[: (column or 1)] or "'\\t'" in what:
            what, hint = "tab character in indentation", "indent with spaces, not tabs"
    if "duplicate key" in what:
        hint = "each key may appear once in a mapping; remove or rename one"
        what = what.replace("found ", "")
    if "could not determine a constructor" in what or ("tag" in what and "!" in what):
        hint = "YAML tags are not allowed in scenarios"
    if "maximum depth" in what:
        what = f"nested deeper than {MAX_DEPTH} levels"
        hint = "a scenario needs only a few levels; check the brackets"
    colon = _full_width_colon(lines, mark.line if mark is not None else len(lines) - 1)
    if colon is not None:  # the real mistake, usually lines before where the parser gives up
        line, column = colon[0] + 1, colon[1] + 1
        what = f"full-width colon '{_FULL_WIDTH_COLON}': YAML needs an ASCII ':' and a space"
        hint = f"write {full_width_fixed(lines[colon[0]])!r}"
    path = _top_key(lines, (line or 1) - 1)
    return Problem(f"YAML: {what}", path, file=name, line=line, column=column, hint=hint)


def _full_width_colon(lines: list[str], upto: int) -> tuple[int, int] | None:
    """(line, column), 0-based, of the last full-width colon used as a key's colon up to line
    ``upto``: outside comments and quotes, with no ASCII colon before it (so a value such as
    ``description: 客户：华为`` is not one)."""
    for i in range(min(upto, len(lines) - 1), -1, -1):
        code = lines[i].split("#", 1)[0]
        at = code.find(_FULL_WIDTH_COLON)
        if at >= 0 and ":" not in code[:at] and not {'"', "'"} & set(code[:at]):
            return i, at
    return None


def full_width_fixed(text: str) -> str:
    """``text`` with full-width colons made ASCII ``": "`` (for hints)."""
    out = text.strip().replace(_FULL_WIDTH_COLON + " ", ": ").replace(_FULL_WIDTH_COLON, ": ")
    return out.split("#", 1)[0].rstrip()


def _top_key(lines: list[str], line: int) -> str:
    """The top-level key whose block holds 0-based ``line`` (for locating syntax errors)."""
    for i in range(min(line, len(lines) - 1), -1, -1):
        text = lines[i]
        if text[:1].isalpha() or text[:1] == "_":
            key = text.split(":", 1)[0].split(_FULL_WIDTH_COLON, 1)[0].strip()
            return key if key and " " not in key else ""
    return ""


_PLAIN_TAGS = {
    f"{prefix}{name}"
    for prefix in ("tag:yaml.org,2002:", "!!")
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}
_TAG_HINT = "YAML tags (like !!python/object) are not allowed in scenarios; write plain values"


def _plain(node: Any, loc: Loc, source: SourceMap, counter: list[int]) -> Any:
    """Convert ruamel's round-trip nodes to dict/list/scalars, recording positions."""
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise _TooBigError(loc, "nodes")
    if len(loc) > MAX_DEPTH:  # aliases can nest deeper than the composer saw
        raise _TooBigError(loc, "depth")
    if isinstance(node, _BadDate):
        raise ScenarioError([_bad_date(source, loc, node)])
    tag = getattr(node, "tag", None)
    tag_value = getattr(tag, "value", tag) if tag is not None else None
    if isinstance(tag_value, str) and tag_value not in _PLAIN_TAGS:
        raise ScenarioError(
            [source.problem(loc, f"YAML tag {tag_value} is not allowed", _TAG_HINT)]
        )
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            if isinstance(key, _BadDate):
                raise ScenarioError([_bad_date(source, (*loc, key.text), key)])
            k = _scalar(key)
            if not isinstance(k, str | int | float | bool | dt.date):
                raise ScenarioError([source.problem(loc, "mapping keys must be plain values")])
            child = (*loc, str(k))
            try:
                kl, kc = node.lc.key(key)
                source.keys[child] = (kl + 1, kc + 1)
                vl, vc = node.lc.value(key)
                source.values[child] = (vl + 1, vc + 1)
            except (KeyError, TypeError, AttributeError):
                pass
            out[str(k) if not isinstance(k, str) else k] = _plain(value, child, source, counter)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            child = (*loc, i)
            try:
                il, ic = node.lc.item(i)
                source.values[child] = (il + 1, ic + 1)
            except (KeyError, TypeError, AttributeError, IndexError):
                pass
            items.append(_plain(value, child, source, counter))
        return items
    if isinstance(node, TaggedScalar):  # an explicit standard tag such as !!str
        return node.value
    try:
        return _scalar(node)
    except ScenarioError as exc:
        raise ScenarioError([source.problem(loc, exc.problems[0].message, _TAG_HINT)]) from None


def _bad_date(source: SourceMap, loc: Loc, bad: _BadDate) -> Problem:
    return source.problem(
        loc,
        f"{bad.text} is not a valid date: {bad.reason}",
        "write a date that exists, as YYYY-MM-DD",
    )


def _scalar(value: Any) -> Any:
    """ruamel's scalar subclasses -> builtins (dates stay dates)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dt.datetime):
        return value if (value.hour, value.minute, value.second) != (0, 0, 0) else value.date()
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    raise ScenarioError([Problem(f"unsupported YAML value of type {type(value).__name__}")])
