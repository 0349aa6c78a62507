"""Shared pieces of the calibration tests: a known scenario, synthetic exports made from it, and
dirty rows with a known count per rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

import simsales
from simsales.calibrate.synthetic import opportunity_rows

MAVEN = Path(__file__).resolve().parents[3] / "shared" / "data" / "maven-crm" / "sales_pipeline.csv"

# The known truth. Continuous calendar, so durations are calendar days as in a CRM export.
TRUTH: dict[str, Any] = {
    "name": "truth",
    "start": "2020-01-01",
    "horizon": "2021-12-31",
    "currency": "USD",
    "calendar": {"continuous": True},
    "stages": [
        {"id": "engaging", "duration": {"lognormal": {"p50": 30, "p90": 90}}, "advance": 0.6}
    ],
    "deal_types": {
        "alpha": {
            "value": {"lognormal": {"p50": 10000, "p90": 20000}},
            "stages": {"engaging": {"advance": 0.7}},
        },
        "beta": {
            "value": {"lognormal": {"p50": 3000, "p90": 5000}},
            "stages": {"engaging": {"advance": 0.45}},
        },
    },
    "arrivals": [{"type": "alpha", "per_month": 40}, {"type": "beta", "per_month": 25}],
}


def truth(**changes: Any) -> simsales.Scenario:
    return simsales.load_dict({**TRUTH, **changes})


def write_history(path: Path, snapshot: str = "2021-03-31", seed: int = 1, **changes: Any) -> Path:
    """A synthetic export taken on ``snapshot`` (read it with ``exported=snapshot``)."""
    opportunity_rows(truth(**changes), snapshot, seed=seed).to_csv(path, index=False)
    return path


# Dirty rows: each has exactly one defect, so each rule's count is known.
DIRTY_COUNTS = {
    "blank_id": 2,
    "duplicate_row": 1,
    "duplicate_id": 2,
    "unknown_stage": 3,
    "bad_date": 4,
    "close_before_open": 2,
    "closed_without_date": 1,
    "open_with_close_date": 1,
    "bad_value": 1,
    "won_without_value": 1,  # the row with the bad value is a won deal
    "blank_account": 5,
    "product_spelling": 6,
}


def add_dirty_rows(clean: pd.DataFrame) -> pd.DataFrame:
    rows = clean.copy()
    won = rows[rows["deal_stage"] == "Won"]
    base = won.iloc[0].to_dict()
    extra: list[dict[str, Any]] = []

    def bad(i: int, **fields: Any) -> None:
        extra.append({**base, "opportunity_id": f"DIRTY{i:03d}", **fields})

    bad(0, opportunity_id="")
    bad(1, opportunity_id="  ")
    extra.append(dict(won.iloc[1]))  # exact copy
    extra.append({**won.iloc[2].to_dict(), "close_value": "1"})  # same id, different row
    extra.append({**won.iloc[3].to_dict(), "sales_agent": "Someone Else"})
    for i, label in enumerate(["Negotiation", "Closed-ish", "Qualified"]):
        bad(10 + i, deal_stage=label)
    for i, (col, text) in enumerate(
        [("engage_date", "31/02/2021"), ("engage_date", "soon"), ("close_date", "2021-13-01"),
         ("close_date", "2020-02-30")]
    ):  # fmt: skip
        bad(20 + i, **{col: text})
    bad(30, engage_date="2020-06-10", close_date="2020-06-01")
    bad(31, engage_date="2020-07-10", close_date="2020-05-01")
    bad(40, close_date="")
    bad(41, deal_stage="Engaging", close_value="")
    bad(50, close_value="lots")
    rows = pd.concat([rows, pd.DataFrame(extra)], ignore_index=True)
    # Kept-with-a-note defects on existing clean rows.
    rows.loc[rows.index[5:10], "account"] = ""
    alphas = rows.index[(rows["product"] == "alpha") & rows["opportunity_id"].str.startswith("S")]
    rows.loc[alphas[20:23], "product"] = "Alpha"
    rows.loc[alphas[23:26], "product"] = " ALPHA "
    return rows
