"""Tests for the safe rule expression language."""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from simsales.scenario import rules
from simsales.scenario.rules import (
    ATTRIBUTES,
    CompiledExpression,
    Condition,
    NumberExpression,
    RuleSyntaxError,
    parse_condition,
    parse_number,
)

DEAL: dict[str, float | str] = {
    "value": 300_000,
    "expected_value": 150_000.0,
    "win_probability": 0.5,
    "days_in_stage": 12,
    "waited_days": 11,
    "age_days": 40,
    "stage_index": 2,
    "priority": 1,
    "type": "managed_service",
    "stage": "proposal",
    "customer": "华为",
    "id": "D-1",
    "name": "系统集成",
}


def columns_of(deals: list[Mapping[str, float | str]]) -> dict[str, np.ndarray]:
    """Deals as columns: floats for numbers, object arrays for strings (as pandas gives them)."""
    out: dict[str, np.ndarray] = {}
    for name, kind in ATTRIBUTES.items():
        values = [deal[name] for deal in deals]
        out[name] = np.array(values, dtype=np.float64 if kind == "number" else object)
    return out


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# --- valid expressions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("waited_days > 10", True),
        ("waited_days > 11", False),
        ("value < 400000 and type == 'managed_service'", True),
        ("value < 400000 and type != 'managed_service'", False),
        ("stage in ['proposal', 'negotiation'] or not (customer == '华为')", True),
        ("stage not in ['proposal', 'negotiation']", False),
        ("value * win_probability > 1e6", False),
        ("value * win_probability >= 150_000", True),
        ("days_in_stage >= 2 * 5", True),
        ("customer == '华为'", True),
        ('name == "系统集成"', True),
        ("stage_index in [1, 2, 3]", True),
        ("stage_index in [-1, 0]", False),
        ("stage_index not in []", True),
        ("true", True),
        ("not false and true", True),
        ("false or value == 300000", True),
        ("-value < 0", True),
        ("value / 0 > 1e300", True),
        ("value != value", False),
        ("  waited_days\n  > 10\t", True),
    ],
)
def test_conditions(source: str, expected: bool) -> None:
    expr = parse_condition(source)
    assert expr.kind == "bool"
    assert expr.source == source
    result = expr.evaluate(DEAL)
    assert type(result) is bool
    assert result is expected
    vector = expr.evaluate_columns(columns_of([DEAL, DEAL]))
    assert vector.dtype == np.bool_
    assert vector.tolist() == [expected, expected]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("expected_value", 150_000.0),
        ("value * 0.5 + days_in_stage", 150_012.0),
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("10 - 4 - 3", 3.0),
        ("12 / 3 / 2", 2.0),
        ("-2 * -3", 6.0),
        ("--2", 2.0),
        ("1_000_000", 1e6),
        ("1.5e3 + .5 + 2.", 1502.5),
        ("2E-1", 0.2),
        ("value / 0", math.inf),
        ("-value / 0", -math.inf),
        ("value / -0.0", -math.inf),
        ("0 / 0", math.nan),
        ("(0 * value) / 0", math.nan),
    ],
)
def test_numbers(source: str, expected: float) -> None:
    expr = parse_number(source)
    assert expr.kind == "number"
    result = expr.evaluate(DEAL)
    assert type(result) is float
    assert same(result, expected)
    vector = expr.evaluate_columns(columns_of([DEAL]))
    assert vector.dtype == np.float64
    assert same(float(vector[0]), expected)


def test_names_are_collected() -> None:
    expr = parse_condition("value > 1 and (stage == 'x' or value < days_in_stage)")
    assert expr.names == frozenset({"value", "stage", "days_in_stage"})
    assert parse_number("2 * 5").names == frozenset()


def test_precedence_matches_python() -> None:
    # 'not' binds looser than comparisons, 'and' tighter than 'or'.
    assert parse_condition("not value == 1").evaluate(DEAL) is True
    assert parse_condition("true or false and false").evaluate(DEAL) is True
    assert parse_condition("(true or false) and false").evaluate(DEAL) is False
    assert parse_number("-2 + 3").evaluate(DEAL) == 1.0


def test_nan_comparisons_are_false_except_not_equal() -> None:
    deal = {**DEAL, "value": math.nan}
    for op, expected in [("<", False), ("<=", False), (">", False), (">=", False), ("==", False)]:
        expr = parse_condition(f"value {op} 1")
        assert expr.evaluate(deal) is expected
        assert expr.evaluate_columns(columns_of([deal])).tolist() == [expected]
    assert parse_condition("value != 1").evaluate(deal) is True
    assert parse_condition("value in [1]").evaluate(deal) is False


def test_string_escapes_and_quotes() -> None:
    assert parse_condition(r"name == 'it\'s'").evaluate({"name": "it's"}) is True
    assert parse_condition(r'name == "say \"hi\""').evaluate({"name": 'say "hi"'}) is True
    assert parse_condition(r"name == 'a\\b'").evaluate({"name": "a\\b"}) is True
    assert parse_condition("name == 'a\"b'").evaluate({"name": 'a"b'}) is True


def test_integer_attributes_follow_float_semantics() -> None:
    expr = parse_number("value / waited_days")
    assert expr.evaluate({"value": 7, "waited_days": 0}) == math.inf
    assert expr.evaluate({"value": 0, "waited_days": 0}) != expr.evaluate(
        {"value": 0, "waited_days": 0}
    )
    ints = {"value": np.array([7, 0, 6]), "waited_days": np.array([0, 0, 3])}
    out = expr.evaluate_columns(ints)
    assert out[0] == math.inf and math.isnan(out[1]) and out[2] == 2.0


def test_columns_of_unicode_strings_and_constants() -> None:
    cols = {"customer": np.array(["华为", "阿里", "华为"]), "value": np.array([1.0, 2.0, 3.0])}
    assert parse_condition("customer == '华为'").evaluate_columns(cols).tolist() == [
        True,
        False,
        True,
    ]
    assert parse_condition("customer in ['阿里']").evaluate_columns(cols).tolist() == [
        False,
        True,
        False,
    ]
    # A constant still yields one value per deal.
    assert parse_condition("true").evaluate_columns(cols).tolist() == [True] * 3
    assert parse_number("2 * 5").evaluate_columns(cols).tolist() == [10.0] * 3
    assert parse_condition("false").evaluate_columns({}).shape == (0,)


def test_custom_attributes() -> None:
    attrs = {"headcount": "number", "region": "string"}
    expr = parse_condition("headcount > 3 and region == 'east'", attrs)
    assert expr.evaluate({"headcount": 4, "region": "east"}) is True
    with pytest.raises(RuleSyntaxError, match="unknown name 'value'"):
        parse_condition("value > 1", attrs)
    with pytest.raises(ValueError, match="ASCII identifier"):
        parse_condition("true", {"价值": "number"})
    with pytest.raises(ValueError, match="'number' or 'string'"):
        parse_condition("true", {"x": "bool"})


def test_long_but_legal_expression() -> None:
    source = "+".join(["waited_days"] * 41)  # 491 characters, a deep left-nested tree
    assert len(source) <= rules.MAX_LENGTH
    assert parse_number(source).evaluate(DEAL) == 41 * 11.0
    nested = "(" * rules.MAX_DEPTH + "value" + ")" * rules.MAX_DEPTH
    assert parse_number(nested).evaluate(DEAL) == 300_000.0


# --- refused expressions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("__import__('os').system('ls')", "name '__import__' is not allowed", 1),
        ("value.__class__", "attribute access ('.') is not allowed", 6),
        ("open('/etc/passwd')", "calls are not allowed: 'open(...)'", 1),
        ("value > len(stage)", "calls are not allowed: 'len(...)'", 9),
        ("(value)(1) > 0", "calls are not allowed", 8),
        ("[x for x in ()]", "a list is only allowed after 'in' or 'not in'", 1),
        ("lambda: 1", "'lambda' is not part of the rule language", 1),
        ("value; import os", "';' is not allowed", 6),
        ("().__class__.__bases__", "expected a value, got ')'", 2),
        ("value if value else 1", "'if' is not part of the rule language", 7),
        ("a = 1", "'=' (assignment) is not allowed", 3),
        ('"x" * 10**10', "'**' (power) is not supported", 9),
        ("9**9**9", "'**' (power) is not supported", 2),
        ("value[0] > 1", "subscripts ('[...]') are not allowed", 6),
        ("`ls`", "unexpected character '`'", 1),
        ("value > 1 # comment", "unexpected character '#'", 11),
        ("{1: 2}", "unexpected character '{'", 1),
        ("value > 1 && true", "'&&' is not supported", 11),
        ("!(value > 1)", "'!' is not supported", 1),
        ("value % 2 == 0", "'%' is not supported", 7),
        ("value // 2 > 1", "'//' is not supported", 7),
        ("True", "'True' is not part of the rule language", 1),
        ("value is 1", "'is' is not part of the rule language", 7),
        ("0x10 > 1", "invalid number '0x10'", 1),
        ("1e > 1", "invalid number '1e'", 1),
        ("1__000 > 1", "invalid number '1__000'", 1),
        ("stage == 'open", "unterminated string", 10),
        (r"stage == 'a\q'", "unknown escape '\\q'", 12),
        ("customer == 华为", "unexpected character '华'", 13),
        ("value （ 1", "unexpected character '（'", 7),
        ("", "empty expression", 1),
        ("   ", "empty expression", 1),
        ("value >", "expression ends too early", 8),
        ("(value > 1", "expected ')' to close the '(' at column 1", 11),
        ("value > 1)", "unexpected ')'", 10),
        ("value 1", "unexpected '1'", 7),
        ("stage not 'x'", "unexpected 'not'", 7),
        ("value < 1 < 2", "comparisons cannot be chained", 11),
        ("stage in ['a'] == true", "comparisons cannot be chained", 16),
        ("stage in 'abc'", "'in' needs a list literal", 10),
        ("stage in [value]", "list items must be numbers or strings, got 'value'", 11),
        ("stage in ['a'", "unclosed list", 10),
        ("stage in ['a' 'b']", "expected ',' or ']'", 15),
    ],
)
def test_refused(source: str, message: str, column: int) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_condition(source)
    assert message in info.value.message
    assert info.value.column == column, info.value
    assert f"at column {column}" in str(info.value)


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("type > 5", "'>' needs numbers, got a string", 6),
        ("stage < 'b'", "'<' needs numbers, got a string", 7),
        ("value == 'x'", "'==' compares a number with a string", 7),
        ("stage in [1, 2]", "'in' compares a string with a list item that is a number", 11),
        ("value not in ['a']", "'not in' compares a number with a list item that is a string", 15),
        ("(value > 1) in [1]", "'in' needs a number or string on the left", 13),
        ("value > 1 and value", "'and' needs a true/false condition, got a number", 11),
        ("not stage", "'not' needs a true/false condition, got a string", 1),
        ("-stage == 'x'", "unary '-' needs a number, got a string", 1),
        ("value > (stage == 'x')", "'>' needs a number, got a true/false condition", 7),
        ("value", "a condition must be true or false, but this is a number", 1),
        ("stage", "a condition must be true or false, but this is a string", 1),
    ],
)
def test_type_errors_in_conditions(source: str, message: str, column: int) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_condition(source)
    assert message in info.value.message
    assert info.value.column == column


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("value + 'x'", "'+' needs a number, got a string", 7),
        ("stage", "expected a number, but this is a string", 1),
        ("value > 1", "expected a number, but this is a true/false condition", 1),
    ],
)
def test_type_errors_in_numbers(source: str, message: str, column: int) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_number(source)
    assert message in info.value.message
    assert info.value.column == column


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_condition("value > 1 and vaule < 10")
    err = info.value
    assert (err.message, err.column, err.hint) == (
        "unknown name 'vaule'",
        15,
        "did you mean 'value'?",
    )
    assert str(err) == "unknown name 'vaule' at column 15 (did you mean 'value'?)"
    with pytest.raises(RuleSyntaxError, match=r"did you mean 'waited_days'\?"):
        parse_condition("wait_days > 10")
    with pytest.raises(RuleSyntaxError) as info:
        parse_condition("zzz > 1")
    assert info.value.hint is not None and "known names: age_days" in info.value.hint


def test_hints_for_habits_from_other_languages() -> None:
    cases = {
        "a = 1": "use '==' to compare",
        "True": "use 'true'",
        "value > 1 || true": "use 'or'",
        "value （ 1": "did you mean '('?",
        "customer == ‘华为’": "use straight quotes ' or \"",
        "customer == 华为": "put text in quotes",
    }
    for source, hint in cases.items():
        with pytest.raises(RuleSyntaxError) as info:
            parse_condition(source)
        assert info.value.hint is not None and hint in info.value.hint, source


def test_too_long() -> None:
    source = "value > " + "1" * (rules.MAX_LENGTH - 7)
    with pytest.raises(RuleSyntaxError) as info:
        parse_condition(source)
    assert "too long" in info.value.message
    assert info.value.column == rules.MAX_LENGTH + 1


@pytest.mark.parametrize(
    ("source", "column"),
    [
        ("(" * 60 + "value > 1" + ")" * 60, 51),
        ("not " * 60 + "true", 201),
        ("-" * 60 + "value > 1", 51),
        ("value > " + "(-" * 30 + "1" + ")" * 30, 59),
    ],
)
def test_too_deep(source: str, column: int) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_condition(source)
    assert "nested too deeply" in info.value.message
    assert info.value.column == column


@given(st.text(max_size=80))
def test_any_text_parses_or_fails_cleanly(source: str) -> None:
    try:
        parse_condition(source)
    except RuleSyntaxError as e:
        assert 1 <= e.column <= len(source) + 1


SOUP = ["value", "stage", "1", "2.5", "'a'", "(", ")", "[", "]", ",", "+", "-", "*", "/"]
SOUP += ["<", "<=", "==", "!=", "and", "or", "not", "in", "true", " ", ".", "=", "**", "__x"]


@given(
    st.lists(
        st.sampled_from(SOUP),
        max_size=30,
    )
)
def test_grammar_soup_parses_or_fails_cleanly(parts: list[str]) -> None:
    source = " ".join(parts)
    try:
        expr = parse_condition(source)
    except RuleSyntaxError as e:
        assert 1 <= e.column <= len(source) + 1
    else:
        deal: dict[str, float | str] = {"value": 2.0, "stage": "a"}
        assert expr.evaluate(deal) == bool(expr.evaluate_columns(columns_of([{**DEAL, **deal}]))[0])


def test_no_eval_exec_compile_or_ast() -> None:
    source = Path(rules.__file__).read_text(encoding="utf-8")
    assert not re.search(r"\b(eval|exec|compile)\s*\(", source)
    assert not re.search(r"^\s*(import ast|from ast\b)", source, re.MULTILINE)


# --- property: random arithmetic/comparison trees agree with a structural reference -------------

NUMBER_NAMES = ["value", "win_probability", "days_in_stage", "waited_days"]
ARITH_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}
BOOL_PREC = {"or": 1, "and": 2}
# Trees are tuples: ("lit", float, text) | ("var", name) | ("neg", t) | ("op", op, l, r)
# for numbers, and ("cmp", op, l, r) | ("not", b) | ("and"/"or", l, r) for conditions.
Tree = tuple[Any, ...]

literals = st.one_of(
    st.floats(min_value=0, max_value=1e300, allow_nan=False).map(lambda f: ("lit", f, repr(f))),
    st.integers(min_value=0, max_value=10**9).map(lambda n: ("lit", float(n), f"{n:_}")),
)
arith: st.SearchStrategy[Tree] = st.recursive(
    literals | st.sampled_from(NUMBER_NAMES).map(lambda n: ("var", n)),
    lambda inner: st.one_of(
        inner.map(lambda t: ("neg", t)),
        st.tuples(st.just("op"), st.sampled_from(list(ARITH_PREC)), inner, inner),
    ),
    max_leaves=12,
)
comparisons = st.tuples(
    st.just("cmp"), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), arith, arith
)
conditions: st.SearchStrategy[Tree] = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        inner.map(lambda t: ("not", t)),
        st.tuples(st.sampled_from(["and", "or"]), inner, inner),
    ),
    max_leaves=4,
)
attribute_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5]),
)
deals = st.lists(
    st.fixed_dictionaries({n: attribute_values for n in NUMBER_NAMES}), min_size=1, max_size=4
)


def render(t: Tree) -> tuple[str, int]:
    """Source text with only the parentheses precedence requires, and its precedence."""
    tag = t[0]
    if tag == "lit":
        return t[2], 9
    if tag == "var":
        return t[1], 9
    if tag == "neg":
        text, prec = render(t[1])
        return "-" + (text if prec >= 3 else f"({text})"), 3
    if tag == "op":
        p = ARITH_PREC[t[1]]
        (lt, lp), (rt, rp) = render(t[2]), render(t[3])
        left = lt if lp >= p else f"({lt})"
        right = rt if rp > p else f"({rt})"  # left-associative
        return f"{left} {t[1]} {right}", p
    if tag == "cmp":
        return f"{render(t[2])[0]} {t[1]} {render(t[3])[0]}", 4
    if tag == "not":
        text, prec = render(t[1])
        return "not " + (text if prec >= 3 else f"({text})"), 3
    p = BOOL_PREC[tag]
    (lt, lp), (rt, rp) = render(t[1]), render(t[2])
    return f"{lt if lp >= p else f'({lt})'} {tag} {rt if rp > p else f'({rt})'}", p


def reference_div(x: float, y: float) -> float:
    if y != 0:
        return x / y
    if x == 0 or math.isnan(x):
        return math.nan
    return math.copysign(math.inf, x) * math.copysign(1.0, y)


def reference(t: Tree, deal: Mapping[str, float]) -> Any:
    tag = t[0]
    if tag == "lit":
        return t[1]
    if tag == "var":
        return deal[t[1]]
    if tag == "neg":
        return -reference(t[1], deal)
    if tag == "op":
        x, y = reference(t[2], deal), reference(t[3], deal)
        return {"+": x + y, "-": x - y, "*": x * y}[t[1]] if t[1] != "/" else reference_div(x, y)
    if tag == "cmp":
        x, y = reference(t[2], deal), reference(t[3], deal)
        ops = {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y, "!=": x != y}
        return ops[t[1]]
    if tag == "not":
        return not reference(t[1], deal)
    if tag == "and":
        return reference(t[1], deal) and reference(t[2], deal)
    return reference(t[1], deal) or reference(t[2], deal)


def evaluations(expr: CompiledExpression, rows: list[dict[str, float]]) -> tuple[list[Any], Any]:
    cols = {n: np.array([row[n] for row in rows], dtype=np.float64) for n in NUMBER_NAMES}
    return [expr.evaluate(row) for row in rows], expr.evaluate_columns(cols)


@settings(max_examples=300, deadline=None)
@given(arith, deals)
def test_arithmetic_matches_reference(tree: Tree, rows: list[dict[str, float]]) -> None:
    assume(len(render(tree)[0]) <= rules.MAX_LENGTH)  # longer ones are refused, tested apart
    expr = parse_number(render(tree)[0])
    scalar, vector = evaluations(expr, rows)
    for row, got, got_vector in zip(rows, scalar, vector, strict=True):
        want = reference(tree, row)
        assert same(got, want), (render(tree)[0], row)
        assert same(float(got_vector), want)


@settings(max_examples=300, deadline=None)
@given(conditions, deals)
def test_conditions_match_reference(tree: Tree, rows: list[dict[str, float]]) -> None:
    assume(len(render(tree)[0]) <= rules.MAX_LENGTH)  # longer ones are refused, tested apart
    expr = parse_condition(render(tree)[0])
    scalar, vector = evaluations(expr, rows)
    want = [reference(tree, row) for row in rows]
    assert scalar == want, render(tree)[0]
    assert vector.tolist() == want


# --- pydantic integration -----------------------------------------------------------------------


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True)

    when: Condition
    priority: NumberExpression = parse_number("expected_value")


def test_pydantic_field_parses_and_serializes() -> None:
    rule = Rule.model_validate({"when": "waited_days > 10", "priority": "value * 0.5"})
    assert isinstance(rule.when, CompiledExpression)
    assert rule.when.evaluate(DEAL) is True
    assert rule.priority.evaluate(DEAL) == 150_000.0
    assert rule.model_dump() == {"when": "waited_days > 10", "priority": "value * 0.5"}
    assert rule.model_dump_json() == '{"when":"waited_days > 10","priority":"value * 0.5"}'
    assert Rule.model_validate(rule.model_dump()) == rule
    assert hash(rule) == hash(
        Rule(when=parse_condition("waited_days > 10"), priority="value * 0.5")
    )


def test_pydantic_errors_carry_column_and_hint() -> None:
    with pytest.raises(ValidationError) as info:
        Rule.model_validate({"when": "vaule > 1"})
    (error,) = info.value.errors()
    assert error["loc"] == ("when",)
    assert error["type"] == "simsales"
    assert error["msg"] == "unknown name 'vaule' at column 1"
    assert error["ctx"]["hint"] == "did you mean 'value'?"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"when": "value"}, "a condition must be true or false"),
        ({"when": "true", "priority": "stage == 'x'"}, "expected a number"),
        ({"when": True}, "expected an expression in a string, got bool"),
        ({"when": "value > $x"}, "unexpected character '$' at column 9"),
        ({"when": parse_number("value")}, "expected a bool expression, got a number one"),
    ],
)
def test_pydantic_refuses(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Rule.model_validate(data)
    assert message in info.value.errors()[0]["msg"]


def test_json_schema_is_a_string() -> None:
    props = Rule.model_json_schema()["properties"]
    assert props["when"]["type"] == "string"
    assert "condition" in props["when"]["description"].lower()
    assert set(props["when"]) <= {"type", "description", "title"}  # pydantic adds the title
    assert props["priority"]["type"] == "string"
    assert "numeric" in props["priority"]["description"].lower()


def test_pickle_recompiles() -> None:
    expr = parse_condition(
        "customer == '华为' and value > 1", {"customer": "string", "value": "number"}
    )
    clone = pickle.loads(pickle.dumps(expr))
    assert clone == expr and clone.names == expr.names
    assert clone.evaluate({"customer": "华为", "value": 2}) is True
    rule = Rule(when="waited_days > 10")
    assert pickle.loads(pickle.dumps(rule)) == rule


def test_json_schema_renders_default_as_source() -> None:
    assert Rule.model_json_schema()["properties"]["priority"]["default"] == "expected_value"
