"""Pydantic's validation messages said in the scenario language.

Pydantic speaks of Python types (``Input should be a valid tuple``); someone writing a scenario
writes YAML, so each message says what to write instead (``write a list: [negotiate]``), with the
value that was found. Messages our own validators raise (type ``simsales``) are already worded.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from pydantic_core import ErrorDetails

from simsales.io.inputs import excerpt

__all__ = ["in_scenario_terms"]

_DATE_HINT = "write a date that exists, as YYYY-MM-DD"
_DATE_REASONS = {  # speedate's reasons -> the words the YAML reader uses for the same mistake
    "month value is outside expected range of 1-12": "month must be in 1..12",
    "day value is outside expected range": "day is out of range for month",
}


def in_scenario_terms(err: ErrorDetails) -> tuple[str, str | None] | None:
    """(message, hint) for a pydantic error, or None to keep pydantic's own words."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    got = f" (got {_shown(value)})"
    if value is None and kind.endswith(("_type", "_parsing")):
        return "needs a value here", "write the value after the ':'; an empty value is null"
    if kind in ("tuple_type", "list_type", "set_type") and err["loc"][-1:] == ("window",):
        return f"write [first date, last date]{got}", None
    if kind in ("tuple_type", "list_type", "set_type"):
        if isinstance(value, dict):
            return "write a list (one '- ' item per entry), not a mapping", None
        return f"write a list: [{_plain(value)}]", "a list holds its items in [ ], even one"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        bound = "at least" if kind == "too_short" else "at most"
        items = "item" if n == 1 else "items"
        return f"needs {bound} {n} {items}, got {ctx.get('actual_length')}", None
    if kind in ("date_parsing", "date_from_datetime_parsing", "datetime_parsing"):
        reason = str(ctx.get("error", ""))
        for raw, words in _DATE_REASONS.items():
            if reason.startswith(raw):
                return f"{_plain(value)} is not a valid date: {words}", _DATE_HINT
        return f"not a date{got}", _DATE_HINT
    if kind in ("date_type", "date_from_datetime_inexact"):
        return f"not a date{got}", _DATE_HINT
    if kind == "less_than_equal":
        limit = float(ctx["le"])
        if limit == 1 and isinstance(value, int | float) and 2 <= value <= 100:  # a percentage
            return f"probabilities are 0–1: write {value / 100:g} for {value:g}%", None
        if limit == 1:
            return f"probabilities are 0–1: write 0.7 for 70%{got}", None
        return f"must be at most {limit:g}{got}", None
    if kind == "less_than":
        return f"must be less than {float(ctx['lt']):g}{got}", None
    if kind == "greater_than_equal":
        limit = float(ctx["ge"])
        if limit == 0:
            return f"must not be negative{got}", None
        return f"must be at least {limit:g}{got}", None
    if kind == "greater_than":
        return f"must be more than {float(ctx['gt']):g}{got}", None
    if kind in ("int_from_float", "int_parsing", "int_type"):
        return f"write a whole number{got}", None
    if kind in ("float_parsing", "float_type"):
        return f"write a number{got}", None
    if kind == "finite_number":
        return f"write a finite number{got}", ".inf and .nan are not amounts or durations"
    if kind in ("bool_parsing", "bool_type"):
        return f"write true or false{got}", None
    if kind == "string_type":
        return (
            f"write text{got}",
            "quote it if it holds [ ] { } or ': ', e.g. \"a: b\"",
        )
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"write a mapping of keys to values{got}", None
    if kind in ("literal_error", "enum"):
        return f"must be {ctx.get('expected', 'one of the listed values')}{got}", None
    if kind == "string_too_short":
        return "must not be empty", None
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters", None
    return None


def _plain(value: Any) -> str:
    """The value as the user wrote it in YAML (dates ISO, floats short)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    text = excerpt(value)  # short and escaped: the value may come from a CSV
    return text[1:-1] if text[:1] in "'\"" and text[-1:] == text[:1] else text


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return excerpt(value) if isinstance(value, str) else _plain(value)
