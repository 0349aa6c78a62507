"""Revenue lands in the period of the close date the forecast reports, also at a quarter end of
China's calendar and exactly at the horizon (issue: a whole-day decision was dated 03-31 but
booked in Q2, and a decision exactly at the horizon was reported open)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., tuple[int, str, str]]  # the simsales_cli fixture of conftest.py

# CN 2027: Mon 29, Tue 30, Wed 31 March are working days 0, 1, 2; Q2 starts Thursday 1 April.
# A fixed 3-day stage started at time 0 ends at t = 3.0: the end of Wednesday 31 March.
QUARTER_END = """\
name: quarter end
start: 2027-03-29
horizon: {horizon}
calendar: {{holidays: CN}}
stages:
  - {{id: sign, duration: {duration}}}
deal_types:
  std: {{value: {{fixed: 1000}}}}
pipeline:
  - {{id: D1, type: std, stage: sign}}
targets:
  revenue: {{2027Q1: 1000}}
"""


def _run(cli: Cli, tmp_path: Path, horizon: str, duration: str) -> dict:  # type: ignore[type-arg]
    path = tmp_path / "q.yaml"
    path.write_text(QUARTER_END.format(horizon=horizon, duration=duration), encoding="utf-8")
    code, out, err = cli("run", str(path), "-n", "20", "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def _periods(summary: dict) -> dict[str, float]:  # type: ignore[type-arg]
    return {p["period"]: p["mean"] for p in summary["portfolio"]["revenue_by_period"]}


def test_a_whole_day_decision_at_a_quarter_end_is_booked_in_that_quarter(
    simsales_cli: Cli, tmp_path: Path
) -> None:
    for duration in ("{fixed: 3}", "{discrete: {values: [3], p: [1]}}", "{empirical: [3, 3]}"):
        out = _run(simsales_cli, tmp_path, "2027-06-30", duration)
        [deal] = out["deals"]
        assert set(deal["close_date"].values()) == {"2027-03-31"}, duration
        assert _periods(out) == {"2027Q1": 1000.0, "2027Q2": 0.0}, duration
        [target] = out["portfolio"]["targets"]
        assert target == {"period": "2027Q1", "target": 1000.0, "probability": 1.0}


def test_a_decision_exactly_at_the_horizon_is_inside(simsales_cli: Cli, tmp_path: Path) -> None:
    out = _run(simsales_cli, tmp_path, "2027-03-31", "{fixed: 3}")
    [deal] = out["deals"]
    assert deal["win_probability"] == 1.0  # decided, not open
    assert set(deal["close_date"].values()) == {"2027-03-31"}
    assert _periods(out) == {"2027Q1": 1000.0}
    assert out["portfolio"]["targets"][0]["probability"] == 1.0
    # one more working day of work and it is after the horizon: open
    late = _run(simsales_cli, tmp_path, "2027-03-31", "{fixed: 3.5}")
    assert late["deals"][0]["close_date"] is None
    assert _periods(late) == {"2027Q1": 0.0}
