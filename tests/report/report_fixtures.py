"""Scenario text that would run in a browser if the report did not escape it."""

from __future__ import annotations

from pathlib import Path

import simsales

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# Each one sets window.__xss or opens a dialog if it ever runs.
XSS_ID = "<script>alert(1)</script>"
XSS_NAME = '<img src=x onerror="window.__xss=1">'
XSS_CUSTOMER = "<script>window.__xss=2</script>"


def hostile(path: Path, deal_type: str, stage: str) -> simsales.Scenario:
    """The scenario with one more live deal whose id, name and customer are markup."""
    scenario = simsales.load(path)
    deal = {
        "id": XSS_ID,
        "name": XSS_NAME,
        "customer": XSS_CUSTOMER,
        "type": deal_type,
        "stage": stage,
        "value": 1.0e6,
    }
    return simsales.with_overlay(scenario, {"pipeline": [deal]})
