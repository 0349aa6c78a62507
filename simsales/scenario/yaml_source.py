"""Read YAML safely into plain Python data, keeping where every node came from.

Safety: UTF-8 only, a size limit, no tags that construct objects, duplicate keys refused, and a
bound on the number of nodes after alias expansion (so a "billion laughs" file fails fast).
Positions are 1-based ``(line, column)`` keyed by the node's key path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from simsales.errors import Problem, ScenarioError, format_path
from simsales.io.inputs import DEFAULT_MAX_BYTES, max_input_bytes, read_user_bytes

__all__ = ["MAX_BYTES", "MAX_NODES", "SourceMap", "parse_yaml", "read_yaml"]

MAX_BYTES = DEFAULT_MAX_BYTES  # the limit is simsales.io.inputs.max_input_bytes() (configurable)
MAX_NODES = 200_000

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
    pass


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
    try:
        doc = reader.load(text)  # tags survive as markers; _plain refuses them
    except MarkedYAMLError as exc:
        raise ScenarioError([_syntax_problem(exc, name, text)]) from None
    except (YAMLError, ValueError) as exc:  # unmarked (or a bad date such as 2027-02-30)
        raise ScenarioError([Problem(f"YAML error: {exc}", file=name)]) from None
    source = SourceMap(name)
    lc = getattr(doc, "lc", None)
    if lc is not None and lc.line is not None:  # the document itself, for top-level problems
        source.values[()] = (lc.line + 1, (lc.col or 0) + 1)
    counter = [0]
    try:
        data = _plain(doc, (), source, counter)
    except _TooBigError:
        raise ScenarioError(
            [
                Problem(
                    f"more than {MAX_NODES:,} values after expanding anchors and aliases",
                    file=name,
                    hint="a file this large is almost certainly an alias bomb",
                )
            ]
        ) from None
    except ScenarioError as exc:
        raise ScenarioError([*exc.problems]) from None
    return data, source


def _syntax_problem(exc: MarkedYAMLError, name: str | None, text: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    what = exc.problem or exc.context or "invalid YAML"
    hint = None
    if mark is not None and line is not None:
        bad = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
        if "\t" in bad[: (column or 1)] or "'\\t'" in what:
            what, hint = "tab character in indentation", "indent with spaces, not tabs"
    if "duplicate key" in what:
        hint = "each key may appear once in a mapping; remove or rename one"
        what = what.replace("found ", "")
    if "could not determine a constructor" in what or ("tag" in what and "!" in what):
        hint = "YAML tags are not allowed in scenarios"
    return Problem(f"YAML: {what}", file=name, line=line, column=column, hint=hint)


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
        raise _TooBigError
    tag = getattr(node, "tag", None)
    tag_value = getattr(tag, "value", tag) if tag is not None else None
    if isinstance(tag_value, str) and tag_value not in _PLAIN_TAGS:
        raise ScenarioError(
            [source.problem(loc, f"YAML tag {tag_value} is not allowed", _TAG_HINT)]
        )
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
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
