"""Per-owner scorecards: raw figures from the history, shrunk towards the team by as much as the
data say (nothing when owners truly differ, nearly all the way when they do not)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simsales
from simsales.calibrate.calibrate import calibrate
from simsales.calibrate.history import DEAL_COLUMNS, SNAPSHOT_COLUMNS, VISIT_COLUMNS, History, empty
from simsales.calibrate.importer import read_history
from simsales.calibrate.quality import DataReport
from simsales.calibrate.scorecards import owner_scorecards, shrink
from simsales.calibrate.synthetic import (
    CRM_CATEGORY,
    CRM_PROBABILITY,
    synthetic_history,
    synthetic_mapping,
)

T0 = pd.Timestamp("2024-01-01")


def _history(owners: dict[str, tuple[int, float, float]], seed: int = 0) -> History:
    """owner -> (closed deals, true win rate, mean days in the one stage 's')."""
    rng = np.random.default_rng(seed)
    deals, visits, snaps = [], [], []
    k = 0
    for owner, (n, p, days) in owners.items():
        for _ in range(n):
            k += 1
            d = rng.exponential(days)
            closed = T0 + pd.Timedelta(days=d)
            won = rng.random() < p
            row = dict.fromkeys(DEAL_COLUMNS)
            row |= {"deal": f"D{k}", "owner": owner, "opened": T0, "closed": closed,
                    "outcome": "won" if won else "lost", "stage": "s",
                    "forecast_category": "commit" if k % 2 else "pipeline"}  # fmt: skip
            deals.append(row)
            end = "won" if won else "lost"
            visits.append({"deal": f"D{k}", "stage": "s", "entered": T0, "left": closed,
                           "exit": end, "to": end})  # fmt: skip
            # first promised 10 days after opening; it closes d days after opening
            snaps.append({"deal": f"D{k}", "at": T0, "value": 1.0,
                          "expected_close": T0 + pd.Timedelta(days=10), "crm_probability": 0.5,
                          "forecast_category": row["forecast_category"], "stage": "s"})  # fmt: skip
    deals_df = pd.DataFrame(deals, columns=list(DEAL_COLUMNS))
    for c in ("opened", "closed", "expected_close", "created"):
        deals_df[c] = deals_df[c].astype("datetime64[ns]")
    return History(
        deals=deals_df,
        visits=pd.DataFrame(visits, columns=list(VISIT_COLUMNS)),
        stages=("s",),
        report=DataReport("test"),
        snapshot=T0 + pd.Timedelta(days=1000),
        observed_from=T0,
        snapshots=pd.DataFrame(snaps, columns=list(SNAPSHOT_COLUMNS))
        if snaps
        else empty(SNAPSHOT_COLUMNS),
    )


def _card(h: History) -> pd.DataFrame:
    return owner_scorecards(h).set_index(["metric", "owner"])


def test_owners_who_truly_differ_keep_their_own_figures() -> None:
    card = _card(_history({"Ann": (400, 0.2, 20.0), "Bo": (400, 0.8, 60.0)}))
    for owner, p in (("Ann", 0.2), ("Bo", 0.8)):
        row = card.loc[("win_rate", owner)]
        assert row["weight"] > 0.95
        assert abs(row["shrunk"] - p) <= 4.5 * np.sqrt(p * (1 - p) / 400)
    # cycle time: exponential means 20 and 60 days, well apart
    assert card.loc[("cycle_days:s", "Ann"), "weight"] > 0.95
    assert abs(card.loc[("cycle_days:s", "Bo"), "shrunk"] - 60) <= 4.5 * 60 / np.sqrt(400)


def test_a_small_sample_is_pulled_towards_the_team() -> None:
    # everyone wins half their deals; Cy won his only 3 deals by luck
    h = _history({"Ann": (300, 0.5, 30.0), "Bo": (300, 0.5, 30.0), "Cy": (3, 1.0, 30.0)})
    card = _card(h)
    cy = card.loc[("win_rate", "Cy")]
    assert cy["raw"] == 1.0
    team = cy["team_value"]
    assert abs(team - 0.5) < 0.1
    assert abs(cy["shrunk"] - team) < 0.5 * abs(cy["raw"] - team)  # most of the way back
    assert cy["n"] == 3
    # slippage: promised day 10, closed after ~30 days on average
    slip = card.loc[("slip_days", "Ann")]
    assert abs(slip["shrunk"] - 20) <= 4.5 * 30 / np.sqrt(300)
    assert set(card.index.get_level_values("metric")) == {
        "win_rate", "cycle_days:s", "slip_days", "commit_accuracy",
    }  # fmt: skip


def test_shrink_estimates_no_spread_when_owners_differ_by_chance_only() -> None:
    x = np.array([0.5, 0.52, 0.48, 0.5])
    shrunk, mean, weight = shrink(x, np.full(4, 0.01))  # SE 0.1: the differences are noise
    assert mean == pytest.approx(0.5)
    assert np.allclose(weight, 0.0) and np.allclose(shrunk, 0.5)


def test_calibrated_pipeline_keeps_the_crms_own_call(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    synthetic_history("2021-01-01", "2021-06-30", seed=2, crm_fields=True).to_csv(path, index=False)
    fit = calibrate(read_history(path, mapping=synthetic_mapping(crm_fields=True)), "2021-06-30")
    assert fit.pipeline
    for deal in fit.pipeline:
        # the synthetic CRM sets them by stage, and a close date a month after the stage began
        assert deal["probability"] == pytest.approx(CRM_PROBABILITY[deal["stage"]])
        assert deal["forecast_category"] == CRM_CATEGORY[deal["stage"]].replace(" ", "_")
        assert "target_close" in deal
    scenario = simsales.load_dict(fit.scenario())  # the scenario language takes them
    assert any(d.forecast_category is not None for d in scenario.deals())
