"""YAML syntax errors in the words of someone writing a scenario, not of the parser.

The parser reports where it gave up and in its grammar's terms (``expected <block end>, but found
'?'``). What went wrong is nearly always one of a few things: a line indented more or less than
its neighbours, a bracket or quote left open, a value that needs quotes. :func:`explain` looks at
the lines around the parser's position and says which, pointing at the line to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ruamel.yaml.error import MarkedYAMLError

__all__ = ["Explanation", "explain"]


@dataclass(frozen=True)
class Explanation:
    line: int  # 0-based
    column: int  # 0-based
    message: str
    hint: str | None = None


_CANNOT_START = re.compile(r"found character '(.)' that cannot start any token")
_UNDEFINED_ALIAS = re.compile(r"found undefined alias '([^']*)'")
_FLOW = {"flow sequence": ("[", "]", "list"), "flow mapping": ("{", "}", "mapping")}


def explain(exc: MarkedYAMLError, lines: list[str]) -> Explanation | None:
    """What the user should change for a YAML syntax error, or None when we cannot tell."""
    problem = exc.problem or ""
    context = exc.context or ""
    mark, start = exc.problem_mark, exc.context_mark
    if mark is None:
        return None
    at, col = mark.line, mark.column

    for kind, (opener, closer, what) in _FLOW.items():
        if f"parsing a {kind}" in context and start is not None and "expected ','" in problem:
            return Explanation(
                start.line,
                start.column,
                f"the {what} opened with '{opener}' here is not closed",
                f"end it with '{closer}' on the same line, and separate its items with ','",
            )
    if "quoted scalar" in context and start is not None:
        return Explanation(
            start.line,
            start.column,
            "this quote is never closed",
            "end the value with the same quote character on the same line",
        )
    if "simple key" in context and start is not None:
        key = lines[start.line].strip() if start.line < len(lines) else ""
        return Explanation(
            start.line,
            start.column,
            f"{key!r} has no ':' after it",
            f"write a key, a colon and a space, then its value: {key}: VALUE",
        )
    if match := _UNDEFINED_ALIAS.search(problem):
        name = match[1]
        return Explanation(
            at,
            col,
            f"*{name} refers to no anchor &{name} above it",
            f"define &{name} first, or quote the value if a literal '*' is meant",
        )
    if match := _CANNOT_START.search(problem):
        char = match[1]
        value = _value_text(lines, at, col)
        return Explanation(
            at,
            col,
            f"a value cannot start with '{char}' unquoted",
            f'quote it: "{value}"' if value else "quote the value",
        )
    if problem.startswith("expected the node content") and "'-'" in problem:
        return Explanation(
            at,
            col,
            "a '- ' item inside brackets",
            "inside [ ... ] separate the items with ','; or drop the brackets and write one "
            "'- ' item per line",
        )
    if problem == "mapping values are not allowed here":
        return _mapping_value(lines, at, col)
    if problem.startswith("expected <block end>"):
        return _block_end(problem, lines, at, col)
    return None


def _mapping_value(lines: list[str], at: int, col: int) -> Explanation:
    prev = _previous(lines, at)
    indent = _indent(lines[at])
    if prev is not None and indent > _key_column(lines[prev]) and _has_value(lines[prev]):
        return _more_indented(lines, at, prev)
    key, _, value = lines[at].strip().partition(": ")
    return Explanation(
        at,
        col,
        "a value holds ': ', which YAML reads as the start of another key",
        f'quote the value: {key}: "{value.strip()}"' if value else "quote the value",
    )


def _block_end(problem: str, lines: list[str], at: int, col: int) -> Explanation:
    found = problem.rpartition("but found ")[2].strip("'")
    prev = _previous(lines, at)
    if found == "<scalar>" and col > _indent(lines[at]):  # text after a closing quote
        return Explanation(
            at, col, "text after the closing quote", "quote the whole value, or remove the text"
        )
    if found in ("]", "}"):
        return Explanation(at, col, f"a '{found}' that closes nothing", f"remove the '{found}'")
    if prev is None:
        return Explanation(at, col, "this line does not fit the structure above it")
    indent = _indent(lines[at])
    if indent > _key_column(lines[prev]) and _has_value(lines[prev]):
        return _more_indented(lines, at, prev)
    if found == "-" and indent == _indent(lines[prev]):
        key = _key(lines[prev])
        return Explanation(
            at,
            col,
            "a list item ('- ') where a key was expected",
            f"put the list under its key, indented: {key}: then '  - ...' on the lines below"
            if key
            else "indent the list under the key it belongs to",
        )
    levels = _levels(lines, at)
    if indent in levels and found == "?":  # a key at the column of a '- ' above
        item = _item_line(lines, at, indent)
        if item is not None:
            key_col = indent + 2
            return Explanation(
                at,
                indent,
                f"this key is at the column of the '- ' on line {item + 1}, not of its keys",
                f"indent it {key_col} spaces to continue that item, or start a new item with '- '",
            )
    # the nearest level; on a tie, the key column of the line just above
    above = _key_column(lines[prev])
    near = min(
        (lv for lv in levels if lv != indent),
        key=lambda lv: (abs(lv - indent), lv != above),
        default=0,
    )
    where = _line_at_level(lines, at, near)
    like = f", like line {where + 1}" if where is not None else ""
    return Explanation(
        at,
        indent,
        f"this line is indented {_spaces(indent)}, which lines up with no line above it",
        f"start it at column {near + 1}{like}: the keys of one mapping line up",
    )


def _more_indented(lines: list[str], at: int, prev: int) -> Explanation:
    key = _key(lines[prev])
    return Explanation(
        at,
        _indent(lines[at]),
        f"this line is indented more than the one above (line {prev + 1}), "
        "whose key already has a value",
        f"start it at column {_key_column(lines[prev]) + 1}, under {key!r}"
        if key
        else "line it up with the line above",
    )


def _significant(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def _previous(lines: list[str], at: int) -> int | None:
    for i in range(min(at, len(lines)) - 1, -1, -1):
        if _significant(lines[i]):
            return i
    return None


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _key_column(text: str) -> int:
    """Column of the first key on a line (after any '- ' item markers)."""
    column = _indent(text)
    while text[column : column + 2] == "- ":
        column += 2
        column += _indent(text[column:])
    return column


def _levels(lines: list[str], at: int) -> set[int]:
    """Columns where lines above ``at`` start a key or an item, up to the top-level line."""
    out: set[int] = set()
    for i in range(min(at, len(lines)) - 1, -1, -1):
        if not _significant(lines[i]):
            continue
        out.add(_indent(lines[i]))
        out.add(_key_column(lines[i]))
        if _indent(lines[i]) == 0:
            break
    return out


def _item_line(lines: list[str], at: int, column: int) -> int | None:
    """The nearest line above with a '- ' at ``column``."""
    for i in range(min(at, len(lines)) - 1, -1, -1):
        if lines[i][column : column + 2] == "- " and _indent(lines[i]) == column:
            return i
        if _significant(lines[i]) and _indent(lines[i]) < column:
            return None
    return None


def _line_at_level(lines: list[str], at: int, column: int) -> int | None:
    for i in range(min(at, len(lines)) - 1, -1, -1):
        if _significant(lines[i]) and column in (_indent(lines[i]), _key_column(lines[i])):
            return i
    return None


def _key(text: str) -> str:
    code = text[_key_column(text) :]
    key, sep, _ = code.partition(":")
    return key.strip() if sep and key.strip() and " " not in key.strip() else ""


def _has_value(text: str) -> bool:
    """``key: value`` with the value on the key's line (a block scalar or an anchor opens one)."""
    code = text.split(" #", 1)[0].rstrip()
    _, sep, value = code[_key_column(text) :].partition(": ")
    value = value.strip()
    return bool(sep and value) and value[0] not in "|>&!"


def _value_text(lines: list[str], at: int, col: int) -> str:
    if at >= len(lines):
        return ""
    return lines[at][col:].split(" #", 1)[0].strip().replace('"', '\\"')


def _spaces(n: int) -> str:
    return f"{n} space" if n == 1 else f"{n} spaces"
