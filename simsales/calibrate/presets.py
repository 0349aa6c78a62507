"""Presets: the column mappings of known exports, as plain data (validated by mapping.py).

Plain data, so that the CLI can list the presets' names without building the mapping models.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS"]

_MAVEN: dict[str, Any] = {
    "shape": "opportunities",
    "columns": {
        "id": "opportunity_id",
        "owner": "sales_agent",
        "product": "product",
        "account": "account",
        "stage": "deal_stage",
        "engaged": "engage_date",
        "closed": "close_date",
        "value": "close_value",
    },
    "labels": {"won": ["Won"], "lost": ["Lost"], "open": ["Prospecting", "Engaging"]},
    "catalog": {
        "file": "products.csv",
        "product": "product",
        "price": "sales_price",
        "optional": True,
    },
    # a team is a manager's agents (sales_teams.csv: sales_agent, manager, regional_office)
    "teams": {
        "file": "sales_teams.csv",
        "owner": "sales_agent",
        "team": "manager",
        "optional": True,
    },
    "currency": "USD",
}

PRESETS: dict[str, dict[str, Any]] = {
    # Maven Analytics' "CRM Sales Opportunities" export (sales_pipeline.csv).
    "maven": _MAVEN,
    # A generic one-row-per-opportunity export with plain column names.
    "opportunities": {
        "shape": "opportunities",
        "columns": {
            "id": "id",
            "stage": "stage",
            "engaged": "engaged",
            "closed": "closed",
            "value": "value",
            "product": "product",
            "owner": "owner",
            "account": "account",
        },
    },
    # One row per stage entered: id, stage, entered_at, outcome.
    "stage-changes": {
        "shape": "stage_changes",
        "columns": {"id": "id", "stage": "stage", "entered": "entered_at", "outcome": "outcome"},
    },
}
