"""A small, safe expression language for rule conditions and queue priorities.

Examples::

    waited_days > 10
    value < 400000 and type == 'managed_service'
    stage in ['proposal', 'negotiation'] or not (customer == '华为')
    value * 0.5 + days_in_stage

User text is never handed to Python (no ``eval``, ``exec``, ``compile`` or ``ast``): our own
tokenizer and Pratt parser accept exactly this grammar, type-check it against the declared deal
attributes, and compile it once into nested closures for the simulation hot loop, plus a numpy
variant for many deals at once.

Grammar, loosest binding first::

    or  <  and  <  not  <  (< <= > >= == != in, not in; never chained)
        <  (+ -)  <  (* /)  <  unary -

Literals are numbers (``12``, ``1.5``, ``1e6``, ``1_000_000``), strings in single or double quotes,
``true``/``false``, and list literals, which may only follow ``in`` / ``not in``.

Semantics follow IEEE floats, the same in :meth:`CompiledExpression.evaluate` and
:meth:`CompiledExpression.evaluate_columns`: every number is a float; ``x / 0`` is ``±inf`` and
``0 / 0`` is ``nan`` (like numpy), never an exception; ``<``, ``<=``, ``>``, ``>=`` and ``==``
involving ``nan`` are false and ``!=`` is true. Strings support only ``==``, ``!=`` and ``in``.
"""

from __future__ import annotations

import difflib
import math
import operator
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

import numpy as np
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from simsales.errors import invalid

__all__ = [
    "ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "CompiledExpression",
    "Condition",
    "ExpressionField",
    "NumberExpression",
    "RuleSyntaxError",
    "parse_condition",
    "parse_number",
]

AttributeType = Literal["number", "string"]
Kind = Literal["bool", "number"]
_Type = Literal["bool", "number", "string"]

ATTRIBUTES: Final[Mapping[str, AttributeType]] = MappingProxyType(
    {
        "value": "number",
        "expected_value": "number",
        "win_probability": "number",
        "days_in_stage": "number",
        "waited_days": "number",
        "age_days": "number",
        "stage_index": "number",
        "priority": "number",
        "type": "string",
        "stage": "string",
        "customer": "string",
        "id": "string",
        "name": "string",
    }
)
"""The deal attributes an expression may use by default, with their types."""

MAX_LENGTH: Final = 500
"""Longest accepted expression, in characters."""
MAX_DEPTH: Final = 50
"""Deepest accepted nesting of parentheses and unary operators."""


class RuleSyntaxError(ValueError):
    """An expression that is not valid: what is wrong, where (1-based column) and how to fix it."""

    def __init__(self, message: str, column: int, hint: str | None = None) -> None:
        self.message = message
        self.column = column
        self.hint = hint
        super().__init__(f"{message} at column {column}" + (f" ({hint})" if hint else ""))


# ---------------------------------------------------------------------------------------------
# Tokenizer

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
_OPERATORS = ("<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", ",")
# Operators people bring from Python or other languages: refuse them with a pointer.
_FORBIDDEN: Final[dict[str, tuple[str, str | None]]] = {
    "**": ("'**' (power) is not supported", None),
    "//": ("'//' is not supported", "use '/'"),
    "&&": ("'&&' is not supported", "use 'and'"),
    "||": ("'||' is not supported", "use 'or'"),
    "=": ("'=' (assignment) is not allowed", "use '==' to compare"),
    "!": ("'!' is not supported", "use 'not'"),
    "&": ("'&' is not supported", "use 'and'"),
    "|": ("'|' is not supported", "use 'or'"),
    "%": ("'%' is not supported", None),
    ".": ("attribute access ('.') is not allowed", None),
    ";": ("';' is not allowed: an expression is a single formula", None),
    ":": ("':' is not allowed", None),
}
_ESCAPES: Final = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["num", "str", "name", "op", "eof", "bad"]
    text: str  # operator/keyword/name text; the decoded value for strings
    column: int  # 1-based
    number: float = 0.0
    error: RuleSyntaxError | None = None  # for "bad": raised when the parser reaches it


def _scan_digits(src: str, i: int) -> int:
    """End of a run of digits with single underscores between them (``1_000``)."""
    while i < len(src) and (
        src[i] in _DIGITS or (src[i] == "_" and i + 1 < len(src) and src[i + 1] in _DIGITS)
    ):
        i += 1
    return i


def _scan_number(src: str, start: int) -> tuple[_Token, int]:
    i = _scan_digits(src, start)
    if i < len(src) and src[i] == ".":
        i = _scan_digits(src, i + 1)
    if i < len(src) and src[i] in "eE":
        j = i + 1
        if j < len(src) and src[j] in "+-":
            j += 1
        if j < len(src) and src[j] in _DIGITS:
            i = _scan_digits(src, j)
    if i < len(src) and (src[i] in _NAME_CHARS or src[i] == "."):
        end = i
        while end < len(src) and (src[end] in _NAME_CHARS or src[end] == "."):
            end += 1
        raise RuleSyntaxError(f"invalid number '{src[start:end]}'", start + 1)
    text = src[start:i]
    return _Token("num", text, start + 1, float(text.replace("_", ""))), i


def _scan_string(src: str, start: int) -> tuple[_Token, int]:
    quote, i = src[start], start + 1
    out: list[str] = []
    while i < len(src):
        ch = src[i]
        if ch == quote:
            return _Token("str", "".join(out), start + 1), i + 1
        if ch == "\\":
            esc = src[i + 1] if i + 1 < len(src) else ""
            if esc not in _ESCAPES:
                raise RuleSyntaxError(
                    f"unknown escape '\\{esc}' in string", i + 1, "use \\\\, \\', \\\", \\n or \\t"
                )
            out.append(_ESCAPES[esc])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise RuleSyntaxError("unterminated string", start + 1, f"close it with {quote}")


def _unexpected_character(ch: str, column: int) -> RuleSyntaxError:
    ascii_form = unicodedata.normalize("NFKC", ch)
    if ch in "‘’“”":
        hint: str | None = "use straight quotes ' or \""
    elif ascii_form != ch and ascii_form.isascii():
        hint = f"did you mean '{ascii_form}'?"  # full-width punctuation from a Chinese keyboard
    elif not ch.isascii():
        hint = "names are ASCII; put text in quotes, e.g. customer == '华为'"
    else:
        hint = None
    return RuleSyntaxError(f"unexpected character {ch!r}", column, hint)


def _tokenize(src: str) -> list[_Token]:
    tokens: list[_Token] = []
    try:
        _scan(src, tokens)
    except RuleSyntaxError as e:
        # Report errors left to right: 'lambda: 1' is about 'lambda', not the ':' after it.
        tokens.append(_Token("bad", "", e.column, error=e))
    return tokens


def _scan(src: str, tokens: list[_Token]) -> None:
    i = 0
    while i < len(src):
        ch = src[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in _DIGITS or (ch == "." and src[i + 1 : i + 2] in _DIGITS and i + 1 < len(src)):
            tok, i = _scan_number(src, i)
            tokens.append(tok)
        elif ch in "'\"":
            tok, i = _scan_string(src, i)
            tokens.append(tok)
        elif ch in _NAME_START:
            j = i + 1
            while j < len(src) and src[j] in _NAME_CHARS:
                j += 1
            word = src[i:j]
            tokens.append(_Token("op" if word in _KEYWORDS else "name", word, i + 1))
            i = j
        else:
            two = src[i : i + 2]
            if two in _FORBIDDEN:
                message, hint = _FORBIDDEN[two]
                raise RuleSyntaxError(message, i + 1, hint)
            op = next((o for o in _OPERATORS if src.startswith(o, i)), None)
            if op is None:
                if ch in _FORBIDDEN:
                    message, hint = _FORBIDDEN[ch]
                    raise RuleSyntaxError(message, i + 1, hint)
                raise _unexpected_character(ch, i + 1)
            tokens.append(_Token("op", op, i + 1))
            i += len(op)
    tokens.append(_Token("eof", "", len(src) + 1))


# ---------------------------------------------------------------------------------------------
# Syntax tree (only lives between parsing and compiling)


@dataclass(frozen=True, slots=True)
class _Const:
    value: float | str | bool
    type: _Type


@dataclass(frozen=True, slots=True)
class _Name:
    name: str
    type: _Type


@dataclass(frozen=True, slots=True)
class _Unary:
    op: Literal["-", "not"]
    operand: _Node
    type: _Type


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str
    left: _Node
    right: _Node
    type: _Type


@dataclass(frozen=True, slots=True)
class _In:
    negated: bool
    left: _Node
    values: tuple[float | str, ...]
    type: _Type = "bool"


_Node = _Const | _Name | _Unary | _Binary | _In


def _safe_div(x: float, y: float) -> float:
    try:
        return x / y
    except ZeroDivisionError:  # numpy semantics: ±inf, or nan for 0/0 and nan/0
        if x == 0 or math.isnan(x):
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)


_ARITHMETIC: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
_COMPARISONS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_SCALAR_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    **_ARITHMETIC,
    **_COMPARISONS,
    "/": _safe_div,
}
_VECTOR_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    **_ARITHMETIC,
    **_COMPARISONS,
    "/": np.divide,
    "and": np.logical_and,
    "or": np.logical_or,
}
_DESCRIBE: Final[dict[_Type, str]] = {
    "number": "a number",
    "string": "a string",
    "bool": "a true/false condition",
}
# Binding powers: how tightly an infix operator holds its left operand.
_BP_OR, _BP_AND, _BP_NOT, _BP_CMP, _BP_ADD, _BP_MUL, _BP_UNARY, _BP_POSTFIX = (
    10,
    20,
    30,
    40,
    50,
    60,
    70,
    90,
)
_INFIX_BP: Final[dict[str, int]] = {
    "or": _BP_OR,
    "and": _BP_AND,
    "in": _BP_CMP,
    **dict.fromkeys(_COMPARISONS, _BP_CMP),
    "+": _BP_ADD,
    "-": _BP_ADD,
    "*": _BP_MUL,
    "/": _BP_MUL,
    "(": _BP_POSTFIX,  # only to refuse calls and subscripts with a precise message
    "[": _BP_POSTFIX,
}
# Python words people may try; refused by name rather than as unknown attributes.
_PYTHON_WORDS = frozenset(
    {"lambda", "if", "else", "elif", "for", "while", "import", "from", "def", "class", "return"}
    | {"yield", "is", "None", "True", "False", "with", "as", "assert", "del", "global", "pass"}
    | {"raise", "try", "except", "finally", "async", "await", "break", "continue", "nonlocal"}
)


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, source: str, attributes: Mapping[str, str]) -> None:
        self.tokens = _tokenize(source)
        self.pos = 0
        self.depth = 0
        self.attributes = attributes
        self.names: set[str] = set()

    def peek(self, ahead: int = 0) -> _Token:
        tok = self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]
        if tok.error is not None:
            raise tok.error
        return tok

    def advance(self) -> _Token:
        tok = self.peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def parse(self) -> _Node:
        if self.peek().kind == "eof":
            raise RuleSyntaxError("empty expression", 1)
        node = self.expression(0)
        tok = self.peek()
        if tok.kind == "name" and tok.text in _PYTHON_WORDS:
            raise RuleSyntaxError(f"'{tok.text}' is not part of the rule language", tok.column)
        if tok.kind != "eof":
            hint = "missing an operator?" if tok.kind in ("name", "num", "str") else None
            raise RuleSyntaxError(f"unexpected {_show(tok)}", tok.column, hint)
        return node

    def infix_bp(self, tok: _Token) -> int:
        if tok.kind != "op":
            return 0
        if tok.text == "not":  # only as 'not in'
            return _BP_CMP if self.peek(1).text == "in" and self.peek(1).kind == "op" else 0
        return _INFIX_BP.get(tok.text, 0)

    def expression(self, rbp: int) -> _Node:
        left = self.prefix(self.advance())
        while rbp < self.infix_bp(self.peek()):
            left = self.infix(self.advance(), left)
        return left

    def nested(self, tok: _Token, rbp: int) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleSyntaxError(
                f"expression is nested too deeply (over {MAX_DEPTH} levels)", tok.column
            )
        node = self.expression(rbp)
        self.depth -= 1
        return node

    def prefix(self, tok: _Token) -> _Node:
        if tok.kind == "num":
            return _Const(tok.number, "number")
        if tok.kind == "str":
            return _Const(tok.text, "string")
        if tok.kind == "name":
            return self.name(tok)
        if tok.text in ("true", "false"):
            return _Const(tok.text == "true", "bool")
        if tok.text == "(":
            node = self.nested(tok, 0)
            self.expect(")", tok)
            return node
        if tok.text == "-":
            operand = self.nested(tok, _BP_UNARY)
            self.require(operand, "number", tok, "unary '-'")
            return _fold(_Unary("-", operand, "number"))
        if tok.text == "not":
            operand = self.nested(tok, _BP_NOT)
            self.require(operand, "bool", tok, "'not'")
            return _fold(_Unary("not", operand, "bool"))
        if tok.text == "[":
            raise RuleSyntaxError(
                "a list is only allowed after 'in' or 'not in'",
                tok.column,
                "e.g. stage in ['proposal', 'negotiation']",
            )
        if tok.kind == "eof":
            raise RuleSyntaxError("expression ends too early: expected a value", tok.column)
        raise RuleSyntaxError(f"expected a value, got {_show(tok)}", tok.column)

    def name(self, tok: _Token) -> _Node:
        name = tok.text
        if name in _PYTHON_WORDS:
            hint = f"use '{name.lower()}'" if name in ("True", "False") else None
            raise RuleSyntaxError(f"'{name}' is not part of the rule language", tok.column, hint)
        if name.startswith("__"):
            raise RuleSyntaxError(
                f"name '{name}' is not allowed (double-underscore names are reserved)", tok.column
            )
        if self.peek().text == "(" and self.peek().kind == "op":
            raise RuleSyntaxError(f"calls are not allowed: '{name}(...)'", tok.column)
        kind = self.attributes.get(name)
        if kind is None:
            close = difflib.get_close_matches(name, list(self.attributes), n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else "known names: " + ", ".join(sorted(self.attributes))
            )
            raise RuleSyntaxError(f"unknown name '{name}'", tok.column, hint)
        self.names.add(name)
        return _Name(name, "number" if kind == "number" else "string")

    def infix(self, tok: _Token, left: _Node) -> _Node:
        op = tok.text
        if op == "(":
            raise RuleSyntaxError("calls are not allowed", tok.column)
        if op == "[":
            raise RuleSyntaxError("subscripts ('[...]') are not allowed", tok.column)
        if op in ("in", "not"):
            if op == "not":
                self.advance()  # the 'in' of 'not in'
            return self.membership(tok, left, negated=op == "not")
        right = self.expression(_INFIX_BP[op])
        shown = "'not in'" if op == "not" else f"'{op}'"
        if op in ("and", "or"):
            self.require(left, "bool", tok, shown)
            self.require(right, "bool", tok, shown)
            return _fold(_Binary(op, left, right, "bool"))
        if op in ("+", "-", "*", "/"):
            self.require(left, "number", tok, shown)
            self.require(right, "number", tok, shown)
            return _fold(_Binary(op, left, right, "number"))
        # A comparison: both sides of one type; strings only test (in)equality.
        self.no_chaining()
        if op in ("==", "!="):
            if left.type != right.type:
                raise RuleSyntaxError(
                    f"{shown} compares {_DESCRIBE[left.type]} with {_DESCRIBE[right.type]}",
                    tok.column,
                )
        else:
            for side in (left, right):
                if side.type == "string":
                    raise RuleSyntaxError(
                        f"{shown} needs numbers, got a string",
                        tok.column,
                        "strings can only be compared with ==, != or in",
                    )
                self.require(side, "number", tok, shown)
        return _fold(_Binary(op, left, right, "bool"))

    def membership(self, tok: _Token, left: _Node, negated: bool) -> _Node:
        shown = "'not in'" if negated else "'in'"
        if left.type == "bool":
            raise RuleSyntaxError(f"{shown} needs a number or string on the left", tok.column)
        start = self.advance()
        if start.text != "[" or start.kind != "op":
            raise RuleSyntaxError(
                f"{shown} needs a list literal", start.column, "e.g. stage in ['proposal', 'won']"
            )
        values: list[float | str] = []
        while not (self.peek().kind == "op" and self.peek().text == "]"):
            item = self.advance()
            sign = 1.0
            if item.kind == "op" and item.text == "-" and self.peek().kind == "num":
                sign, item = -1.0, self.advance()
            if item.kind not in ("num", "str"):
                if item.kind == "eof":
                    raise RuleSyntaxError("unclosed list: expected ']'", start.column)
                raise RuleSyntaxError(
                    f"list items must be numbers or strings, got {_show(item)}", item.column
                )
            item_type: _Type = "number" if item.kind == "num" else "string"
            if item_type != left.type:
                raise RuleSyntaxError(
                    f"{shown} compares {_DESCRIBE[left.type]} with a list item that is "
                    f"{_DESCRIBE[item_type]}",
                    item.column,
                )
            values.append(sign * item.number if item.kind == "num" else item.text)
            if self.peek().kind == "op" and self.peek().text == ",":
                self.advance()
            elif self.peek().kind == "eof":
                raise RuleSyntaxError("unclosed list: expected ']'", start.column)
            elif not (self.peek().kind == "op" and self.peek().text == "]"):
                raise RuleSyntaxError(
                    f"expected ',' or ']', got {_show(self.peek())}", self.peek().column
                )
        self.advance()  # ']'
        self.no_chaining()
        return _fold(_In(negated, left, tuple(values)))

    def no_chaining(self) -> None:
        nxt = self.peek()
        if self.infix_bp(nxt) == _BP_CMP:
            raise RuleSyntaxError(
                "comparisons cannot be chained",
                nxt.column,
                "write 'a < b and b < c' instead of 'a < b < c'",
            )

    def expect(self, text: str, opener: _Token) -> None:
        tok = self.advance()
        if tok.kind != "op" or tok.text != text:
            raise RuleSyntaxError(
                f"expected '{text}' to close the '{opener.text}' at column {opener.column}, "
                f"got {_show(tok)}",
                tok.column,
            )

    @staticmethod
    def require(node: _Node, wanted: _Type, tok: _Token, shown: str) -> None:
        if node.type != wanted:
            raise RuleSyntaxError(
                f"{shown} needs {_DESCRIBE[wanted]}, got {_DESCRIBE[node.type]}", tok.column
            )


def _show(tok: _Token) -> str:
    if tok.kind == "eof":
        return "end of expression"
    if tok.kind == "str":
        return f"string {tok.text!r}"
    return f"'{tok.text}'"


def _fold(node: _Node) -> _Node:
    """Pre-compute operations on constants once (``2 * 5`` -> ``10``)."""
    children: tuple[_Node, ...] = ()
    if isinstance(node, _Unary):
        children = (node.operand,)
    elif isinstance(node, _Binary):
        children = (node.left, node.right)
    elif isinstance(node, _In):
        children = (node.left,)
    if children and all(isinstance(child, _Const) for child in children):
        return _Const(_scalar(node)({}), node.type)
    return node


# ---------------------------------------------------------------------------------------------
# Compilation into closures: the node type is inspected here, once, never per evaluation.

_ScalarFn = Callable[[Mapping[str, Any]], Any]
_VectorFn = Callable[[Mapping[str, Any]], Any]


def _scalar(node: _Node) -> _ScalarFn:
    if isinstance(node, _Const):
        value = node.value

        def const(_: Mapping[str, Any]) -> Any:
            return value

        return const
    if isinstance(node, _Name):
        name = node.name
        if node.type == "number":

            def number(attrs: Mapping[str, Any]) -> Any:
                return float(attrs[name])  # ints would otherwise change float semantics

            return number

        def string(attrs: Mapping[str, Any]) -> Any:
            return attrs[name]

        return string
    if isinstance(node, _Unary):
        inner = _scalar(node.operand)
        if node.op == "-":
            return lambda attrs: -inner(attrs)
        return lambda attrs: not inner(attrs)
    if isinstance(node, _In):
        left, members, negated = _scalar(node.left), frozenset(node.values), node.negated
        if negated:
            return lambda attrs: left(attrs) not in members
        return lambda attrs: left(attrs) in members
    lhs, rhs = _scalar(node.left), _scalar(node.right)
    if node.op == "and":
        return lambda attrs: lhs(attrs) and rhs(attrs)
    if node.op == "or":
        return lambda attrs: lhs(attrs) or rhs(attrs)
    op = _SCALAR_OPS[node.op]
    if isinstance(node.right, _Const):  # the common 'name > 10': one call fewer
        constant = node.right.value
        return lambda attrs: op(lhs(attrs), constant)
    return lambda attrs: op(lhs(attrs), rhs(attrs))


def _vector(node: _Node) -> _VectorFn:
    if isinstance(node, _Const):
        value = node.value
        return lambda _: value
    if isinstance(node, _Name):
        name = node.name
        if node.type == "number":
            return lambda cols: np.asarray(cols[name], dtype=np.float64)
        return lambda cols: np.asarray(cols[name])
    if isinstance(node, _Unary):
        inner = _vector(node.operand)
        if node.op == "-":
            return lambda cols: np.negative(inner(cols))
        return lambda cols: np.logical_not(inner(cols))
    if isinstance(node, _In):
        left, members, negated = _vector(node.left), node.values, node.negated

        def member(cols: Mapping[str, Any]) -> Any:
            x = left(cols)
            hit = np.zeros(np.shape(x), dtype=bool)
            for m in members:  # lists are short; == works for str and object arrays alike
                hit |= x == m
            return ~hit if negated else hit

        return member
    lhs, rhs, op = _vector(node.left), _vector(node.right), _VECTOR_OPS[node.op]
    return lambda cols: op(lhs(cols), rhs(cols))


# ---------------------------------------------------------------------------------------------
# Public API


class CompiledExpression:
    """A checked expression, compiled once; evaluate it per deal or for many deals at once."""

    __slots__ = ("_attributes", "_scalar", "_vector", "kind", "names", "source")

    def __init__(self, source: str, kind: Kind, attributes: Mapping[str, str] = ATTRIBUTES) -> None:
        if not isinstance(source, str):
            raise TypeError(f"expression must be a string, got {type(source).__name__}")
        _check_attributes(attributes)
        if len(source) > MAX_LENGTH:
            raise RuleSyntaxError(
                f"expression is too long ({len(source)} characters, at most {MAX_LENGTH})",
                MAX_LENGTH + 1,
            )
        parser = _Parser(source, attributes)
        tree = parser.parse()
        if kind == "bool" and tree.type != "bool":
            raise RuleSyntaxError(
                f"a condition must be true or false, but this is {_DESCRIBE[tree.type]}",
                1,
                "compare it, e.g. 'value > 100000'",
            )
        if kind == "number" and tree.type != "number":
            raise RuleSyntaxError(
                f"expected a number, but this is {_DESCRIBE[tree.type]}",
                1,
                "e.g. 'expected_value' or 'value * 0.5 + days_in_stage'",
            )
        self.source: str = source
        self.kind: Kind = kind
        self.names: frozenset[str] = frozenset(parser.names)
        self._attributes: Mapping[str, str] = attributes
        self._scalar = _scalar(tree)
        self._vector = _vector(tree)

    def evaluate(self, attrs: Mapping[str, float | str]) -> bool | float:
        """The value for one deal; ``attrs`` must hold every name in :attr:`names`."""
        result = self._scalar(attrs)
        return float(result) if self.kind == "number" else bool(result)

    def evaluate_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Elementwise values for many deals given equal-length columns (same semantics)."""
        with np.errstate(all="ignore"):  # inf/nan are the documented results, not warnings
            out = np.asarray(
                self._vector(columns), dtype=bool if self.kind == "bool" else np.float64
            )
        if out.ndim == 0:  # a constant expression, or one that ignores every column
            return np.full(_length(columns, self.names), out[()], dtype=out.dtype)
        return out

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r}, kind={self.kind!r})"

    def __str__(self) -> str:
        return self.source

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompiledExpression):
            return NotImplemented
        return (self.source, self.kind) == (other.source, other.kind)

    def __hash__(self) -> int:
        return hash((self.source, self.kind))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # A bare annotation takes compiled objects only (parse strings via Condition or
        # NumberExpression); this also lets pydantic render defaults in JSON Schema.
        return core_schema.is_instance_schema(cls, serialization=_AS_SOURCE)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "description": "An expression over deal attributes"}

    def __reduce__(self) -> tuple[Any, ...]:
        # Closures do not pickle; ship the text and recompile on arrival (e.g. in a worker).
        return (CompiledExpression, (self.source, self.kind, dict(self._attributes)))


_AS_SOURCE: Final = core_schema.plain_serializer_function_ser_schema(
    str, return_schema=core_schema.str_schema()
)


def _length(columns: Mapping[str, Any], names: frozenset[str]) -> int:
    for name in sorted(names) or list(columns):
        return len(columns[name])
    return 0


def _check_attributes(attributes: Mapping[str, str]) -> None:
    if attributes is ATTRIBUTES:
        return
    for name, kind in attributes.items():
        if not (name and name[0] in _NAME_START and set(name) <= _NAME_CHARS):
            raise ValueError(f"attribute name {name!r} is not an ASCII identifier")
        if name in _KEYWORDS or name.startswith("__"):
            raise ValueError(f"attribute name {name!r} is reserved")
        if kind not in ("number", "string"):
            raise ValueError(f"attribute {name!r} has type {kind!r}; use 'number' or 'string'")


def parse_condition(source: str, attributes: Mapping[str, str] = ATTRIBUTES) -> CompiledExpression:
    """Parse a true/false expression such as ``"waited_days > 10"``; raises RuleSyntaxError."""
    return CompiledExpression(source, "bool", attributes)


def parse_number(source: str, attributes: Mapping[str, str] = ATTRIBUTES) -> CompiledExpression:
    """Parse a numeric expression such as ``"value * 0.5 + days_in_stage"``."""
    return CompiledExpression(source, "number", attributes)


class ExpressionField:
    """Pydantic marker: a string field parsed into a :class:`CompiledExpression` at load time.

    ``Annotated[CompiledExpression, ExpressionField("bool", my_attributes)]`` declares a field
    over other attributes than the default deal ones.
    """

    __slots__ = ("attributes", "kind")

    def __init__(self, kind: Kind, attributes: Mapping[str, str] = ATTRIBUTES) -> None:
        _check_attributes(attributes)
        self.kind: Kind = kind
        self.attributes: Mapping[str, str] = attributes

    def __repr__(self) -> str:
        return f"ExpressionField({self.kind!r})"

    def validate(self, value: object) -> CompiledExpression:
        if isinstance(value, CompiledExpression):
            if value.kind != self.kind:
                raise invalid(f"expected a {self.kind} expression, got a {value.kind} one")
            return value
        if not isinstance(value, str):
            raise invalid(
                f"expected an expression in a string, got {type(value).__name__}",
                'quote it, e.g. when: "value > 100000"',
            )
        try:
            return CompiledExpression(value, self.kind, self.attributes)
        except RuleSyntaxError as e:
            raise invalid(f"{e.message} at column {e.column}", e.hint) from None

    def __get_pydantic_core_schema__(
        self, source_type: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate, serialization=_AS_SOURCE)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if self.kind == "bool":
            description = (
                "A condition over deal attributes, "
                "e.g. \"value < 400000 and type == 'managed_service'\""
            )
        else:
            description = (
                'A numeric expression over deal attributes, e.g. "value * 0.5 + days_in_stage"'
            )
        return {"type": "string", "description": description}


Condition = Annotated[CompiledExpression, ExpressionField("bool")]
"""A pydantic field type: a true/false expression string, validated when the scenario loads."""
NumberExpression = Annotated[CompiledExpression, ExpressionField("number")]
"""A pydantic field type: a numeric expression string (e.g. a queue priority)."""
