"""PingCode / Worktile exports that are valid but awkward: transitions whose text does not sort
in time order, dates written as numbers, an identifier listed twice, orphan transitions.

Small exports are written to ``tmp_path`` with the columns of ``tests/data/pingcode`` and
``tests/data/worktile``; the assertions are on the imported history and its data report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from simsales.calibrate.history import History
from simsales.calibrate.importer import read_history

ZONE = "Asia/Shanghai"


def _item(ident: str, state: str, created: Any, amount: str = "100000") -> dict[str, Any]:
    return {
        "id": f"5f{ident}",
        "identifier": ident,
        "type": "deal",
        "state": {"name": state},
        "assignee": {"name": "005A01"},
        "created_at": created,
        "properties": {"amount": amount, "deal_type": "New Business"},
    }


def _move(ident: str, src: str, dst: str, at: Any) -> dict[str, Any]:
    return {
        "work_item": {"identifier": ident, "type": "deal"},
        "from_state": {"name": src},
        "to_state": {"name": dst},
        "created_at": at,
    }


# two plain deals so every export has a won and a lost one besides the deal under test
_OTHERS = (
    [_item("SAL-2", "赢单", 1672534800), _item("SAL-3", "输单", 1672538400)],
    [
        _move("SAL-2", "线索", "需求分析", 1673139600),
        _move("SAL-2", "需求分析", "赢单", 1673744400),
        _move("SAL-3", "线索", "输单", 1673226000),
    ],
)


def _pingcode(folder: Path, items: list[dict[str, Any]], moves: list[dict[str, Any]]) -> Path:
    folder.mkdir()
    for name, rows in (("work_items", items), ("transition_histories", moves)):
        text = json.dumps({"values": rows}, ensure_ascii=False)
        (folder / f"{name}.json").write_text(text, encoding="utf-8")
    return folder


def _pingcode_csv(folder: Path, items: list[dict[str, Any]], moves: list[dict[str, Any]]) -> Path:
    """The same export as CSV files (flattened field names), every cell as written."""
    folder.mkdir()
    for name, rows in (("work_items", items), ("transition_histories", moves)):
        pd.json_normalize(rows).to_csv(folder / f"{name}.csv", index=False)
    return folder


def _deal(h: History, ident: str) -> pd.Series:
    return h.deals.set_index("deal").loc[ident]


def _visits(h: History, ident: str) -> list[tuple[str, pd.Timestamp]]:
    v = h.visits[h.visits["deal"] == ident].sort_values("entered")
    return list(zip(v["stage"], v["entered"], strict=True))


def _examples(h: History, rule: str) -> list[str]:
    return [e for i in h.report.issues if i.rule == rule for e in i.examples]


# --- A5: the first transition is the earliest by time, not by text ----------------------------


def test_worktile_unpadded_dates_order_by_time_not_text(tmp_path: Path) -> None:
    """Chinese Excel writes 2022/5/9: as text it sorts after 2022/5/20; the first state must
    still be the from-state of the 5/9 transition."""
    folder = tmp_path / "wt"
    folder.mkdir()
    (folder / "tasks.csv").write_text(
        "任务编号,任务状态,负责人,创建时间,合同金额,任务类型\n"
        "CRM-1,赢单,005A01,2022/5/1 10:00:00,10万,New Business\n"
        "CRM-2,输单,005A02,2022/5/2 10:00:00,5万,New Business\n",
        encoding="utf-8",
    )
    (folder / "state_changes.csv").write_text(
        "任务编号,原状态,新状态,变更时间\n"
        "CRM-1,需求分析,赢单,2022/5/20 10:00:00\n"  # later, but first as text
        "CRM-1,线索,需求分析,2022/5/9 10:00:00\n"
        "CRM-2,线索,输单,2022/5/12 10:00:00\n",
        encoding="utf-8",
    )
    h = read_history(folder, timezone=ZONE)
    deal = _deal(h, "CRM-1")
    assert deal["entry_stage"] == "线索"
    assert deal["outcome"] == "won"
    assert deal["opened"] == pd.Timestamp("2022-05-01 10:00")
    assert _visits(h, "CRM-1") == [
        ("线索", pd.Timestamp("2022-05-01 10:00")),
        ("需求分析", pd.Timestamp("2022-05-09 10:00")),
    ]
    assert h.report.count("no_open_stage") == 0


def test_pingcode_mixed_offsets_order_by_instant_then_file_order(tmp_path: Path) -> None:
    """09:00+08:00 and 01:00Z are one instant (text puts the Z row first): file order decides,
    so the first state is the from-state of the +08:00 row; 00:30Z is then the earliest."""
    items = [_item("SAL-1", "赢单", "2023-01-01T09:00:00+08:00"), *_OTHERS[0]]
    moves = [
        _move("SAL-1", "线索", "需求分析", "2023-01-05T09:00:00+08:00"),
        _move("SAL-1", "需求分析", "方案报价", "2023-01-05T01:00:00Z"),
        _move("SAL-1", "方案报价", "赢单", "2023-01-09T10:00:00+08:00"),
        *_OTHERS[1],
    ]
    h = read_history(_pingcode(tmp_path / "pc", items, moves), timezone=ZONE)
    assert _deal(h, "SAL-1")["entry_stage"] == "线索"
    assert [s for s, _ in _visits(h, "SAL-1")] == ["线索", "需求分析", "方案报价"]
    assert _visits(h, "SAL-1")[0][1] == pd.Timestamp("2023-01-01 09:00")

    moves[0:0] = [_move("SAL-1", "方案报价", "线索", "2023-01-05T00:30:00Z")]  # 08:30 local
    h = read_history(_pingcode(tmp_path / "pc2", items, moves), timezone=ZONE)
    assert _deal(h, "SAL-1")["entry_stage"] == "方案报价"


# --- A4 / C6: dates written as numbers that are not Unix times --------------------------------


def test_pingcode_csv_yyyymmdd_and_excel_day_numbers_are_dates_not_1970(tmp_path: Path) -> None:
    """20230105 is an ISO basic date and 44931.5 Excel's day number (2023-01-05 12:00), not
    seconds since 1970; Unix seconds in the same export still read as such."""
    items = [_item("SAL-1", "赢单", "20230102"), _item("SAL-4", "输单", 1672534800)]
    moves = [
        _move("SAL-1", "线索", "需求分析", "44931.5"),
        _move("SAL-1", "需求分析", "赢单", "20230110"),
        _move("SAL-4", "线索", "输单", 1673226000),  # 2023-01-09 09:00 Asia/Shanghai
    ]
    for folder in (
        _pingcode_csv(tmp_path / "csv", items, moves),
        _pingcode(tmp_path / "json", items, moves),
    ):
        h = read_history(folder, timezone=ZONE)
        deal = _deal(h, "SAL-1")
        assert deal["opened"] == pd.Timestamp("2023-01-02")
        assert deal["closed"] == pd.Timestamp("2023-01-10")
        assert _visits(h, "SAL-1") == [
            ("线索", pd.Timestamp("2023-01-02")),
            ("需求分析", pd.Timestamp("2023-01-05 12:00")),
        ]
        assert _deal(h, "SAL-4")["closed"] == pd.Timestamp("2023-01-09 09:00")
        assert h.report.count("bad_date") == 0
        assert h.snapshot.year == 2023


# --- B4: an identifier listed twice ------------------------------------------------------------


def test_pingcode_duplicate_identifier_keeps_the_first_and_reports_it(tmp_path: Path) -> None:
    items = [
        _item("SAL-1", "赢单", 1672534800, amount="100000"),  # 2023-01-01 09:00 local
        *_OTHERS[0],
        _item("SAL-1", "输单", 1672707600, amount="999"),  # listed again (line 5)
        _item("SAL-5", "线索", 1672707600, amount="5000"),  # no transitions: lone
        _item("SAL-5", "需求分析", 1672794000, amount="7000"),  # listed again (line 7)
    ]
    moves = [
        _move("SAL-1", "线索", "需求分析", 1673139600),
        _move("SAL-1", "需求分析", "赢单", 1673744400),
        *_OTHERS[1],
    ]
    h = read_history(_pingcode(tmp_path / "pc", items, moves), timezone=ZONE)
    one, five = _deal(h, "SAL-1"), _deal(h, "SAL-5")
    assert (one["entry_stage"], one["outcome"], one["value"]) == ("线索", "won", 100000)
    assert one["opened"] == pd.Timestamp("2023-01-01 09:00")
    assert (five["stage"], five["value"]) == ("线索", 5000)
    assert _visits(h, "SAL-5") == [("线索", pd.Timestamp("2023-01-03 09:00"))]
    assert h.report.count("duplicate_id") == 2
    assert _examples(h, "duplicate_id") == [
        "line 5 of work_items.json (id SAL-1)",
        "line 7 of work_items.json (id SAL-5)",
    ]
    assert len(h.deals) == 4


# --- D3: an orphan transition is one dropped row ----------------------------------------------


def test_pingcode_orphan_and_blank_id_transitions_count_once(tmp_path: Path) -> None:
    items = list(_OTHERS[0])
    moves = [
        *_OTHERS[1],
        _move("SAL-99", "线索", "需求分析", 1673139600),  # line 5: no such work item
        _move("", "线索", "需求分析", 1673139600),  # line 6: no identifier
    ]
    h = read_history(_pingcode(tmp_path / "pc", items, moves), timezone=ZONE)
    assert h.report.count("unknown_deal") == 1
    assert _examples(h, "unknown_deal") == ["line 5 of transition_histories.json (id SAL-99)"]
    assert h.report.count("blank_id") == 1
    assert sorted(h.deals["deal"]) == ["SAL-2", "SAL-3"]
