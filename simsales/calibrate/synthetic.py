"""Synthetic CRM histories from a known scenario: the ground truth that calibration and
backtests are tested against.

One replication of a scenario with arrivals (and usually an empty pipeline) is turned into the
export a CRM would give on ``snapshot``: deals engaged by then, with close dates and outcomes for
those decided by then and blank ones for the rest (right-censoring).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from simsales.engine.options import RunOptions
from simsales.results.forecast import Forecast
from simsales.results.simulation import simulate_scenario
from simsales.scenario.calendar import WorkCalendar
from simsales.scenario.distributions import Z90
from simsales.scenario.schema import Scenario

__all__ = [
    "TRUTH_ENTRY",
    "TRUTH_EXITS",
    "opportunity_rows",
    "stage_change_rows",
    "synthetic_history",
    "synthetic_mapping",
]


def opportunity_rows(
    scenario: Scenario, snapshot: date | str, *, seed: int = 0, owners: int = 8
) -> pd.DataFrame:
    """A Maven-shaped export (opportunity_id, sales_agent, product, account, deal_stage,
    engage_date, close_date, close_value) of one replication, as known on ``snapshot``."""
    forecast, cal = _run(scenario, snapshot, seed)
    d = forecast.deals
    snap = np.datetime64(pd.Timestamp(snapshot).date(), "D")
    engaged = cal.to_date(d["arrival_t"].to_numpy())
    closed = cal.end_date(d["decision_t"].to_numpy())
    keep = engaged <= snap
    decided = keep & ~np.isnat(closed) & (closed <= snap)
    outcome = d["outcome"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    n = int(keep.sum())
    stage = np.where(decided, np.where(outcome == "won", "Won", "Lost"), "Engaging")[keep]
    value = np.where(decided & (outcome == "won"), np.round(d["value"].to_numpy()), 0.0)[keep]
    close = np.where(decided, closed.astype(str), "")[keep]
    return pd.DataFrame(
        {
            "opportunity_id": [f"S{i:06d}" for i in range(n)],
            "sales_agent": [f"Agent {k}" for k in rng.integers(1, owners + 1, n)],
            "product": d["type"].astype(str).to_numpy()[keep],
            "account": [f"Account {k}" for k in rng.integers(1, 60, n)],
            "deal_stage": stage,
            "engage_date": engaged[keep].astype(str),
            "close_date": close,
            "close_value": [
                f"{v:.0f}" if s != "Engaging" else "" for v, s in zip(value, stage, strict=True)
            ],
        }
    )


def stage_change_rows(scenario: Scenario, snapshot: date | str, *, seed: int = 0) -> pd.DataFrame:
    """A stage-change export (id, stage, entered_at, outcome, product, value) of one replication:
    a row per stage entered by ``snapshot`` and a Won / Lost row per deal decided by then."""
    forecast, cal = _run(scenario, snapshot, seed)
    snap = np.datetime64(pd.Timestamp(snapshot).date(), "D")
    v = forecast.visits
    entered = cal.to_date(v["entry_t"].to_numpy())
    rows = pd.DataFrame(
        {
            "id": v["deal"].astype(str).to_numpy(),
            "stage": v["stage"].astype(str).to_numpy(),
            "entered_at": entered,
            "outcome": "",
        }
    )[entered <= snap]
    d = forecast.deals
    closed = cal.end_date(d["decision_t"].to_numpy())
    done = ~np.isnat(closed) & (closed <= snap)
    ends = pd.DataFrame(
        {
            "id": d["deal"].astype(str).to_numpy()[done],
            "stage": np.where(d["outcome"].astype(str).to_numpy() == "won", "Won", "Lost")[done],
            "entered_at": closed[done],
            "outcome": np.where(d["outcome"].astype(str).to_numpy() == "won", "Won", "Lost")[done],
        }
    )
    out = pd.concat([rows, ends], ignore_index=True)
    info = d.assign(deal=d["deal"].astype(str)).set_index("deal")
    out["product"] = out["id"].map(info["type"].astype(str))
    won_value = info["value"].where(info["outcome"].astype(str) == "won")
    out["value"] = np.where(out["outcome"] == "Won", out["id"].map(won_value).round(), np.nan)
    out["entered_at"] = pd.to_datetime(out["entered_at"]).dt.strftime("%Y-%m-%d")
    return out.sort_values(["entered_at", "id"], kind="stable").reset_index(drop=True)


def _run(scenario: Scenario, snapshot: date | str, seed: int) -> tuple[Forecast, WorkCalendar]:
    if scenario.deals():
        raise ValueError("a synthetic history starts empty: give a scenario without a pipeline")
    if pd.Timestamp(snapshot).date() > scenario.horizon:
        raise ValueError(f"snapshot {snapshot} is after the scenario's horizon {scenario.horizon}")
    forecast = simulate_scenario(scenario, RunOptions(1, seed), precision=None)
    assert forecast.model is not None
    return forecast, forecast.model.calendar


# A known truth with every effect a real CRM history shows, generated without the engine (an
# independent implementation of the same semi-Markov mixture: exit k with probability p_k,
# then its own time in stage).
Exit = tuple[str, float, tuple[str, float, float]]  # to, p, (law, a, b) in days

TRUTH_STAGES = ("qualify", "propose", "negotiate")
TRUTH_ENTRY = {"qualify": 0.6, "propose": 0.25, "negotiate": 0.15}
CLICK_DAYS = 10 / 1440  # a click-through: ten minutes in the stage
TRUTH_EXITS: dict[str, tuple[Exit, ...]] = {
    # quick wins, slow losses: the outcome depends on the time spent
    "qualify": (
        ("propose", 0.40, ("lognormal", 12.0, 35.0)),  # p50, p90 in days
        ("negotiate", 0.10, ("lognormal", 20.0, 50.0)),  # a skip
        ("propose", 0.10, ("fixed", CLICK_DAYS, 0.0)),  # click-through
        ("lost", 0.40, ("lognormal", 45.0, 110.0)),
    ),
    "propose": (
        ("negotiate", 0.50, ("lognormal", 15.0, 40.0)),
        ("won", 0.10, ("lognormal", 3.0, 8.0)),
        ("qualify", 0.10, ("lognormal", 10.0, 25.0)),  # rework
        ("lost", 0.30, ("lognormal", 40.0, 100.0)),
    ),
    "negotiate": (
        ("won", 0.65, ("lognormal", 10.0, 30.0)),
        ("lost", 0.35, ("lognormal", 35.0, 80.0)),
    ),
}
CRM_PROBABILITY = {"qualify": 0.1, "propose": 0.3, "negotiate": 0.6}
CRM_CATEGORY = {"qualify": "pipeline", "propose": "best case", "negotiate": "commit"}
TRUTH_VALUE = {"alpha": (20000.0, 45000.0), "beta": (5000.0, 9000.0),
               "gamma": (9000.0, 15000.0)}  # lognormal p50, p90 # fmt: skip
TRUTH_PRODUCT_SHARE = {"alpha": 0.3, "beta": 0.5, "gamma": 0.2}


def _draw(rng: np.random.Generator, law: tuple[str, float, float]) -> float:
    kind, a, b = law
    if kind == "fixed":
        return a
    mu, sigma = np.log(a), np.log(b / a) / Z90
    return float(rng.lognormal(mu, sigma))


def synthetic_history(
    start: date | str = "2021-01-01",
    snapshot: date | str = "2022-12-31",
    *,
    per_month: float = 60.0,
    trend: float = 0.02,
    quarter_cycle: tuple[float, float, float] = (0.8, 0.9, 1.3),
    seed: int = 0,
    exits: dict[str, tuple[Exit, ...]] | None = None,
    entry: dict[str, float] | None = None,
    speed: dict[str, float] | None = None,
    crm_fields: bool = False,
    won_cycle: tuple[float, float, float] | None = None,
) -> pd.DataFrame:
    """A timestamped stage-change export (id, stage, entered_at, outcome, product, value) of
    deals arriving from ``start`` and seen on ``snapshot``, with a known truth:

    - arrivals: Poisson per calendar month at ``per_month x (1 + trend)^months x cycle``, the
      cycle by month of quarter (mean 1), arrival instants uniform within the month;
    - entry stages: ``entry`` shares (deals created directly in later stages);
    - competing exits per stage (``exits``: to, share, time law): quick wins and slow losses,
      a skip, a rework loop and ten-minute click-throughs;
    - values: a lognormal per product, known only for won deals; ``speed`` (product -> factor)
      multiplies a product's times in stage (default 1);
    - ``won_cycle``: a factor on the chance to win by month of quarter of the decision, as a
      stage's ``won_season`` acts in the engine (a win turned into a loss with chance 1 - c, a
      loss into a win with chance (c - 1) p_won / p_lost in stages with a won exit);
    - ``crm_fields``: also the CRM's probability, forecast category and expected close date on
      every row (by stage, as many CRMs set them).

    Deals still open on ``snapshot`` show their visits so far; later rows are not in the
    export. Read it with :func:`synthetic_mapping`."""
    rng = np.random.default_rng(seed)
    exits = exits or TRUTH_EXITS
    entry = entry or TRUTH_ENTRY
    stages = list(entry)
    t0, snap = pd.Timestamp(start), pd.Timestamp(snapshot) + pd.Timedelta(days=1)
    cycle = np.asarray(quarter_cycle, dtype=np.float64)
    cycle = cycle / cycle.mean()
    rows: list[tuple[str, str, pd.Timestamp, str, str, float]] = []
    month = t0.to_period("M")
    k = 0
    n_deal = 0
    products = list(TRUTH_PRODUCT_SHARE)
    share = np.array(list(TRUTH_PRODUCT_SHARE.values()))
    slow = speed or {}
    while month.start_time < snap:
        m0, m1 = max(month.start_time, t0), min((month + 1).start_time, snap)
        days = (m1 - m0) / pd.Timedelta(days=1)
        full = ((month + 1).start_time - month.start_time) / pd.Timedelta(days=1)
        rate = per_month * (1 + trend) ** k * cycle[(month.month - 1) % 3] * days / full
        for _ in range(int(rng.poisson(rate))):
            n_deal += 1
            deal = f"D{n_deal:06d}"
            product = products[int(rng.choice(len(products), p=share))]
            t = m0 + pd.Timedelta(days=float(rng.uniform(0, days)))
            stage = stages[int(rng.choice(len(stages), p=list(entry.values())))]
            p50, p90 = TRUTH_VALUE[product]
            value = round(_draw(rng, ("lognormal", p50, p90)))
            while t < snap:
                rows.append((deal, stage, t, "", product, np.nan))
                options = exits[stage]
                j = int(rng.choice(len(options), p=[o[1] for o in options]))
                to, _, law = options[j]
                t = t + pd.Timedelta(days=_draw(rng, law) * slow.get(product, 1.0))
                if to in ("won", "lost") and won_cycle is not None:
                    to = _seasonal(rng, to, options, won_cycle[(t.month - 1) % 3])
                if to in ("won", "lost"):
                    if t < snap:
                        label = "Won" if to == "won" else "Lost"
                        rows.append((deal, label, t, label, product,
                                     float(value) if to == "won" else np.nan))  # fmt: skip
                    break
                stage = to
        month += 1
        k += 1
    out = pd.DataFrame(rows, columns=["id", "stage", "entered_at", "outcome", "product", "value"])
    if crm_fields:
        # what a CRM shows on each stage change: its stage probability and forecast category,
        # and a close date a month ahead
        out["probability"] = out["stage"].map(CRM_PROBABILITY)  # blank on Won / Lost rows
        out["forecast_category"] = out["stage"].map(CRM_CATEGORY).fillna("")
        out["expected_close"] = (out["entered_at"] + pd.Timedelta(days=30)).dt.strftime("%Y-%m-%d")
    out["entered_at"] = out["entered_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return out.sort_values(["entered_at", "id"], kind="stable").reset_index(drop=True)


def _seasonal(rng: np.random.Generator, to: str, options: tuple[Exit, ...], c: float) -> str:
    """The decision ``to`` under the month's factor ``c`` (see ``won_cycle``)."""
    p_won = sum(o[1] for o in options if o[0] == "won")
    p_lost = sum(o[1] for o in options if o[0] == "lost")
    if to == "won" and c < 1 and rng.random() >= c:
        return "lost"
    if to == "lost" and c > 1 and p_lost > 0 and rng.random() < (c - 1) * p_won / p_lost:
        return "won"
    return to


def synthetic_mapping(crm_fields: bool = False) -> dict[str, object]:
    """The column mapping of :func:`synthetic_history`'s export."""
    crm = {"probability": "probability", "forecast_category": "forecast_category",
           "expected_close": "expected_close"} if crm_fields else {}  # fmt: skip
    return {
        "shape": "stage_changes",
        "columns": {"id": "id", "stage": "stage", "entered": "entered_at",
                    "outcome": "outcome", "product": "product", "value": "value", **crm},
        "labels": {"won": ["Won"], "lost": ["Lost"], "open": list(TRUTH_STAGES)},
        "stage_order": list(TRUTH_STAGES),
    }  # fmt: skip
