"""``simsales schema``: the JSON Schema of what simsales reads (scenario files) and of each
machine-readable output (``--output run|compare|explain|backtest|optimize``: their
``--json`` documents), for editors and for tools that consume the outputs.

The output schemas are the contract of the ``--json`` documents, written out here rather than
derived from the code that makes them, so that a change to an output shows up as a failing
validation in the tests (tests/commands/test_schema_cli.py) instead of silently reaching the
tools downstream. Every document carries ``schema_version``
(:data:`simsales.results.schema_version.SCHEMA_VERSION`, as the saved tables); change
a document and raise it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from simsales.results.schema_version import SCHEMA_VERSION

__all__ = ["OUTPUTS", "output_json_schema", "register", "scenario_json_schema", "schema"]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def schema(
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            help="Print the schema of this command's --json output instead: run, compare, "
            "explain, backtest or optimize.",
        ),
    ] = None,
) -> None:
    """Print the JSON Schema of scenario files (for editors and other tools), or of an output."""
    if output is not None and output not in OUTPUTS:
        raise typer.BadParameter(
            f"{output!r} is not one of {', '.join(OUTPUTS)}", param_hint="--output"
        )
    document = scenario_json_schema() if output is None else output_json_schema(output)
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)


# --- the --json outputs ------------------------------------------------------------------------


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object with exactly these keys (``optional`` ones may be left out)."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
        "additionalProperties": False,
    }


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _map(values: dict[str, Any]) -> dict[str, Any]:
    """An object keyed by names (pools, forecasts, ...)."""
    return {"type": "object", "additionalProperties": values}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_NUMBER = {"type": ["number", "null"]}  # null: not finite, or not defined for this run
_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_INT = {"type": "integer"}
_DATE = {"type": "string", "format": "date"}
_VERSION = {"const": SCHEMA_VERSION}
_DISTRIBUTION = _object({k: _NUMBER for k in ("mean", "p10", "p50", "p90")})
_DATES = _nullable(_object({k: _nullable(_DATE) for k in ("p10", "p50", "p80", "p90")}))

_NONNEGATIVE = {"type": "integer", "minimum": 0}
_PROBABILITY = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_INTERVAL = _object({k: _NUMBER for k in ("mean", "low", "high")})
_CATEGORY = {"enum": ["commit", "best_case", "pipeline", "omitted"]}
_CATEGORIES = _object(  # simsales.results.categories.Categories.to_json
    {
        "period": _STRING,
        "target": _NUMBER,
        "coverage": _NUMBER,
        "open_value": _NUMBER,
        "thresholds": _object({k: _PROBABILITY for k in ("commit", "best_case", "pipeline")}),
        "categories": _array(
            _object(
                {
                    "category": {"enum": [*_CATEGORY["enum"], "new deals"]},
                    "deals": _NONNEGATIVE,
                    "value": _NUMBER,
                    "revenue": _INTERVAL,
                    "cumulative": _INTERVAL,
                }
            )
        ),
        "deals": _array(
            _object(
                {
                    "id": _STRING,
                    "category": _CATEGORY,
                    "win_in_period_probability": _PROBABILITY,
                    "rep_probability": _PROBABILITY,
                    "rep_category": _nullable(_CATEGORY),
                    "rep_close_date": _nullable(_DATE),
                    "slip_probability": _PROBABILITY,
                    "disagrees": _BOOL,
                }
            )
        ),
    }
)
_ROLLUP = _array(  # simsales.results.rollups.rollup_json: one item per group
    _object(
        {
            "id": _STRING,
            "deals": _NONNEGATIVE,
            "wins": _INTERVAL,
            "revenue_by_period": _array(_object({"period": _STRING, **_INTERVAL["properties"]})),
            "quotas": _array(
                _object(
                    {
                        "period": _STRING,
                        "quota": _NUMBER,
                        "probability": _PROBABILITY,
                        "low": _PROBABILITY,
                        "high": _PROBABILITY,
                    }
                )
            ),
        }
    )
)


def _summary(views: bool) -> dict[str, Any]:
    """A run's summary; ``views``: with the categories and roll-ups that ``run --json`` adds
    to the portfolio (compare's summaries go without them)."""
    portfolio = {
        "won_deals": _DISTRIBUTION,
        "revenue": _DISTRIBUTION,
        "revenue_by_period": _array(_object({"period": _STRING, **_DISTRIBUTION["properties"]})),
        "targets": _array(
            _object({"period": _STRING, "target": _NUMBER, "probability": _PROBABILITY})
        ),
    }
    if views:
        portfolio["categories"] = _array(_CATEGORIES)  # one per target period
        portfolio["by"] = _object({by: _ROLLUP for by in ("owner", "team", "type", "region")})
    return _object(
        {
            "schema_version": _VERSION,
            "scenario": _STRING,
            "seed": _INT,
            "replications": {"type": "integer", "minimum": 1},
            # replications per engine path (they add up to replications)
            "engine_paths": _object({"vectorized": _NONNEGATIVE, "simpy": _NONNEGATIVE}),
            "deals": _array(
                _object(
                    {
                        "id": _STRING,
                        "win_probability": _PROBABILITY,
                        "close_date": _DATES,
                        "win_date": _DATES,
                        "expected_revenue": _NUMBER,
                    }
                )
            ),
            "portfolio": _object(portfolio),
            "resources": _array(
                _object({"id": _STRING, "utilization": _NUMBER, "mean_wait_days": _NUMBER})
            ),
        }
    )


_RUN = _summary(views=True)

# simsales.results.explain.Explanation.to_json (compare --explain: of a variant's change)
_EXPLANATION = {
    "period": _STRING,
    "target": _NUMBER,
    "currency": _STRING,
    **{
        k: _NUMBER
        for k in (
            "total_gap",
            "total_gap_low",
            "total_gap_high",
            "expected_revenue",
            "expected_shortfall",
            "p50_gap",
            "target_probability",
        )
    },
    "contributions": _array(
        _object(
            {
                "kind": {"enum": ["pool", "risk", "interaction", "coverage", "deal", "stage"]},
                "id": _STRING,
                "value": _NUMBER,
                "low": _NUMBER,
                "high": _NUMBER,
            }
        )
    ),
    "findings": _array(_STRING),
}
_EXPLAIN = _object({"schema_version": _VERSION, **_EXPLANATION})

# a date metric gives base and variant as ISO dates (null: after the horizon), others numbers
_VALUE = {"anyOf": [{"type": "number"}, _DATE, {"type": "null"}]}
_DELTA = {
    "metric": _STRING,
    "base": _VALUE,
    "variant": _VALUE,
    "difference": _NUMBER,
    "ci_low": _NUMBER,
    "ci_high": _NUMBER,
    "significant": _BOOL,
}

_COMPARE = _object(
    {
        "schema_version": _VERSION,
        "base": {"$ref": "#/$defs/summary"},
        "variants": _array(
            _object(
                {
                    "name": _STRING,
                    "summary": {"$ref": "#/$defs/summary"},
                    "deltas": _array(_object(_DELTA)),
                },
                {"explanation": _object(_EXPLANATION)},  # with --explain PERIOD
            )
        ),
    }
)

_SCORES = (
    "coverage_won",
    "coverage_revenue",
    "crps_won",
    "crps_revenue",
    "mae_won",
    "mae_revenue",
    "bias_won",
    "brier",
)
_BACKTEST = _object(
    {
        "schema_version": _VERSION,
        "origins": _array(
            _object(
                {
                    "as_of": _DATE,
                    "until": _DATE,
                    "actual": _object({"won": {"type": "number"}, "revenue": {"type": "number"}}),
                    "forecasts": _map(_object({"won": _DISTRIBUTION, "revenue": _DISTRIBUTION})),
                }
            )
        ),
        "scores": _map(_object({name: _NUMBER for name in _SCORES})),
        # origins whose history could not be calibrated yet, and why
        "skipped": _array(_object({"as_of": _DATE, "until": _DATE, "reason": _STRING})),
    }
)

_PER_MONTH = _map(_array({"type": "number"}))
_VERIFICATION = _object(
    {
        "replications": _INT,
        "seed": _INT,
        "deltas": _array(
            _object(
                {
                    **_DELTA,
                    "label": _STRING,
                    "unit": _STRING,
                    "half_width": _NUMBER,
                    "unpaired_half_width": _NUMBER,
                }
            )
        ),
        "over_capacity": _map(_INT),
        "utilization": _map(_array(_NUMBER)),
        "margin_not_worse": _BOOL,
        "best": {"enum": ["plan", "current"]},
        "explanation": _nullable(_STRING),
        "floors": _array({"type": "object"}),
        "reconciliation": _nullable({"type": "object"}),
        "notes": _array(_STRING),
    }
)
_OPTIMIZE = _object(
    {
        "schema_version": _VERSION,
        "status": {"enum": ["optimal", "feasible", "infeasible", "unbounded", "not_solved"]},
        "objective": _NUMBER,
        "gap": _NUMBER,
        "best": {"enum": ["plan", "current", None]},
        "plan": _object(
            {
                "mode": {"enum": ["capacity", "assignment"]},
                "solver": _STRING,
                "bound": _NUMBER,
                "solve_seconds": {"type": "number"},
                "build_seconds": {"type": "number"},
                "currency": _STRING,
                "assumptions": {"type": "object"},
            },
            # only when a plan was found
            {
                "months": _array(_STRING),
                "headcount": _PER_MONTH,
                "base_headcount": _PER_MONTH,
                "work_days": _PER_MONTH,
                "deals": _array({"type": "object", "required": ["id"]}),
                "mitigations": _array({"type": "object"}),
                "assignments": _array({"type": "object"}),
                "changes": _map({"type": "object"}),
                "change_cost": {"type": "number"},
                "churn_penalty": {"type": "number"},
                "overlay": {"type": "object"},
            },
        ),
        "diagnosis": _array(_STRING),
        "verification": _nullable(_VERIFICATION),
        "robust": _array({"type": "object"}),
        "glossary": _map(_STRING),
    }
)

_OUTPUTS: dict[str, tuple[str, dict[str, Any]]] = {
    "run": ("simsales run --json: the forecast summary", _RUN),
    "compare": ("simsales compare --json: each variant against the base", _COMPARE),
    "explain": ("simsales explain --json: the gap to a period's target, split", _EXPLAIN),
    "backtest": ("simsales backtest --json: forecasts and scores per origin", _BACKTEST),
    "optimize": ("simsales optimize --json: the plan and its verification", _OPTIMIZE),
}
OUTPUTS = tuple(_OUTPUTS)


def output_json_schema(name: str) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the ``--json`` document of command ``name``."""
    title, body = _OUTPUTS[name]
    out: dict[str, Any] = {"$schema": _DRAFT, "title": title, **body}
    if name == "compare":
        out["$defs"] = {"summary": _summary(views=False)}
    return out


# --- scenario files ----------------------------------------------------------------------------


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a scenario file, as written in YAML.

    Pydantic describes the validated models; a few fields accept more in a file than their
    validated type says (a single name for a list, any case of a weekday), and some fields are
    internal. This widens or removes them so that every file the loader accepts also validates.
    """
    from simsales.scenario.calendar import WEEKDAYS
    from simsales.scenario.schema import Scenario

    schema = Scenario.model_json_schema(by_alias=True)
    defs = schema["$defs"]
    # A single name stands for a one-item list.
    applies = defs["AppliesTo"]["properties"]
    for key in ("type", "stage", "customer"):
        applies[key] = {**applies[key], "type": ["array", "string"]}
        _string_like(applies[key])
    workdays = defs["CalendarSpec"]["properties"]["workdays"]
    full = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    spellings = sorted({v for n in (*WEEKDAYS, *full) for v in (n, n.lower(), n.upper())})
    workdays["items"] = {"type": "string", "enum": spellings}
    workdays["anyOf"] = [{"type": "array"}, {"type": "string", "enum": spellings}]
    del workdays["type"]
    # Filled by the loader from 'priority'; not something a file sets.
    defs["QueueDiscipline"]["properties"].pop("expression", None)
    _name_keys(schema)
    return {
        "$schema": _DRAFT,
        "title": "simsales scenario",
        **schema,
    }


def _string_like(prop: dict[str, Any]) -> None:
    """Let a list-of-strings property also take one string with the items' constraints."""
    for key in ("pattern", "minLength", "maxLength"):
        if key in prop["items"]:
            prop[key] = prop["items"][key]


def _name_keys(node: Any) -> None:
    """Mappings keyed by ids: refuse keys that are not ids instead of silently skipping them."""
    if isinstance(node, dict):
        patterns = node.get("patternProperties")
        names = node.get("propertyNames")
        if isinstance(patterns, dict) and len(patterns) == 1 and isinstance(names, dict):
            names.setdefault("pattern", next(iter(patterns)))
        for value in node.values():
            _name_keys(value)
    elif isinstance(node, list):
        for value in node:
            _name_keys(value)
