"""The canonical history: exits named by where a deal went, reopened closes, as-of cuts."""

from __future__ import annotations

import pandas as pd

from simsales.calibrate.history import History, settle_path, visits_from_path
from simsales.calibrate.quality import DataReport

STAGES = ("a", "b", "c")


def _path(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"deal": [r[0] for r in rows], "stage": [r[1] for r in rows],
         "at": pd.to_datetime([r[2] for r in rows])}
    )  # fmt: skip


PATH = _path(
    [
        ("d1", "a", "2023-01-01"), ("d1", "c", "2023-01-05"), ("d1", "won", "2023-01-09"),
        ("d2", "b", "2023-01-02"), ("d2", "a", "2023-01-03"), ("d2", "b", "2023-01-04"),
        ("d2", "lost", "2023-01-10"), ("d2", "b", "2023-02-01"), ("d2", "c", "2023-02-03"),
        ("d3", "a", "2023-01-02"), ("d3", "a", "2023-01-03"), ("d3", "b", "2023-01-04"),
    ]
)  # fmt: skip


def test_exits_are_named_by_where_the_deal_went() -> None:
    settled, undone = settle_path(PATH.sample(frac=1, random_state=1))  # file order is no order
    v = visits_from_path(settled, STAGES)
    got = {(d, s, str(e.date())): (x, t) for d, s, e, x, t in
           v[["deal", "stage", "entered", "exit", "to"]].itertuples(index=False)}  # fmt: skip
    assert got[("d1", "a", "2023-01-01")] == ("skip", "c")
    assert got[("d1", "c", "2023-01-05")] == ("won", "won")
    assert got[("d2", "b", "2023-01-02")] == ("rework", "a")
    assert got[("d2", "a", "2023-01-03")] == ("advance", "b")
    # the loss on 01-10 was undone by the reopening: the visit of b goes on to c
    assert got[("d2", "b", "2023-01-04")] == ("advance", "c")
    assert got[("d2", "c", "2023-02-03")] == ("open", None)
    assert got[("d3", "a", "2023-01-02")] == ("advance", "b")  # a repeat entry is one visit
    assert len(undone) == 1 and undone["stage"].iloc[0] == "lost"


def _history() -> History:
    settled, _ = settle_path(PATH)
    deals = pd.DataFrame(
        {
            "deal": ["d1", "d2", "d3"], "opened": pd.to_datetime(["2023-01-01", "2023-01-02",
                                                                 "2023-01-02"]),
            "closed": pd.to_datetime(["2023-01-09", None, None]),
            "outcome": ["won", "open", "open"],
            "value": [90.0, 50.0, 7.0], "stage": ["c", "c", "b"],
            "crm_probability": [1.0, 0.6, 0.2], "forecast_category": ["closed", "commit", None],
            "expected_close": pd.to_datetime(["2023-01-09", "2023-03-01", None]),
        }
    )  # fmt: skip
    snaps = pd.DataFrame(
        {
            "deal": ["d2", "d2", "d2"], "at": pd.to_datetime(["2023-01-02", "2023-01-10",
                                                             "2023-02-03"]),
            "value": [40.0, 40.0, 50.0], "expected_close": pd.to_datetime(["2023-01-31",
                                                                           "2023-01-10",
                                                                           "2023-03-01"]),
            "crm_probability": [0.2, 0.0, 0.6], "forecast_category": ["pipeline", "omitted",
                                                                      "commit"],
            "stage": ["b", "lost", "c"],
        }
    )  # fmt: skip
    return History(
        deals=deals, visits=visits_from_path(settled, STAGES), stages=STAGES,
        report=DataReport("x"), snapshot=pd.Timestamp("2023-02-03"),
        observed_from=pd.Timestamp("2023-01-03"), snapshots=snaps, path=PATH,
        stage_probability={"a": 0.1, "b": 0.3, "c": 0.5},
    )  # fmt: skip


def test_known_at_is_what_the_export_knew_that_day() -> None:
    h = _history().known_at("2023-01-20")
    d = h.deals.set_index("deal")
    # d2 was lost on 01-10 and reopened only on 02-01: on 01-20 it is lost
    assert d.loc["d2", "outcome"] == "lost" and d.loc["d2", "closed"] == pd.Timestamp("2023-01-10")
    assert d.loc["d2", "value"] == 40.0 and d.loc["d2", "forecast_category"] == "omitted"
    assert d.loc["d2", "expected_close"] == pd.Timestamp("2023-01-10")
    assert len(h.snapshots) == 2
    # d3 has no snapshots and nothing happened to it after 01-20: kept as it is
    assert d.loc["d3", "value"] == 7.0 and d.loc["d3", "stage"] == "b"
    v = h.visits.set_index(["deal", "stage"])
    assert v.loc[("d2", "b"), "exit"].tolist()[-1] == "lost"
    early = _history().known_at("2023-01-04").deals.set_index("deal")
    assert early.loc["d1", "outcome"] == "open" and early.loc["d1", "stage"] == "a"
    # d1 closed later and has no snapshots: its value is unknown (a close value), its
    # probability is its stage's
    assert pd.isna(early.loc["d1", "value"]) and early.loc["d1", "crm_probability"] == 0.1
    assert pd.isna(early.loc["d1", "expected_close"])
