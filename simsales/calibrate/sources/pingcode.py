"""PingCode: the work items of a sales project with their state transition histories and
workloads, as the open API returns them (JSON) or as CSV / .xlsx with the same field names.

Files in the folder (or given alone, the others looked for beside it): ``work_items``,
``transition_histories``, ``workloads`` (``.json``, ``.csv`` or ``.xlsx``). A JSON file is a
list of objects or an API page ``{"values": [...]}``; nested fields are flattened with dots
(``state.name``). Variables (:data:`WORK_ITEM`, :data:`TRANSITION`, :data:`WORKLOAD`):

- work item: ``identifier``, ``state.name``, ``created_at`` (unix seconds), ``assignee.name``,
  and the custom properties ``properties.amount`` (value) and ``properties.deal_type``
  (product), when present; ``--column FIELD=COLUMN`` names others;
- transition history: ``work_item.identifier``, ``from_state.name``, ``to_state.name``,
  ``created_at`` (unix seconds);
- workload: ``principal.identifier``, ``report_by.name``, ``duration`` (hours), ``report_at``.

Assumption (stated, from the open API's documented shape): a work item entered its first state
(the ``from_state`` of its earliest transition by time, file order breaking ties; else its
current state) when it was created, and each transition enters ``to_state`` at its
``created_at``. States are the stage labels;
``--mapping`` may rename them (``states: {需求确认: 需求分析}``; a state no item or transition
has is a warning with the nearest one), order them
(``stage_order``) and name the won / lost ones (``labels``; defaults include 赢单 / 输单); a
state no label names whose type is ``completed`` is won, ``closed`` lost (the API's state
types beside each name; said).
Workloads give people's hours per deal and stage (``History.efforts``). Timestamps are UTC and
the scenario's ``--timezone`` (e.g. Asia/Shanghai) decides their day.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from simsales.calibrate.mapping import label_key
from simsales.calibrate.sources.closed import said, with_verdicts
from simsales.calibrate.sources.files import find_file, json_table, read_table
from simsales.calibrate.sources.generic import canonical, mapping_options
from simsales.calibrate.sources.parse import parse_times, unix_times
from simsales.calibrate.sources.records import Records
from simsales.errors import Problem, ScenarioError

__all__ = ["TRANSITION", "WORKLOAD", "WORK_ITEM", "detect", "detect_folder", "read", "records"]

WORK_ITEM = {
    "id": "identifier",
    "stage": "state.name",
    "created": "created_at",
    "owner": "assignee.name",
    "value": "properties.amount",
    "product": "properties.deal_type",
}
TRANSITION = {
    "id": "work_item.identifier",
    "from": "from_state.name",
    "stage": "to_state.name",
    "entered": "created_at",
}
WORKLOAD = {
    "deal": "principal.identifier",
    "person": "report_by.name",
    "hours": "duration",
    "at": "report_at",
}
FILES = ("work_items", "transition_histories", "workloads")
SUFFIXES = (".json", ".csv", ".xlsx")


def detect(header: list[str]) -> bool:
    return {"from_state.name", "to_state.name"} <= set(header)


def detect_folder(path: Path) -> bool:
    return find_file(path, FILES[0], SUFFIXES) is not None


def read_any(path: Path, encoding: str | None) -> pd.DataFrame:
    """A JSON list / API page (flattened) or a CSV / .xlsx table, as text cells."""
    if path.suffix.lower() != ".json":
        return read_table(path, encoding)[0]
    return json_table(path, encoding)


def read(
    path: Path,
    *,
    encoding: str | None = None,
    timezone: str | None = None,
    currency: str | None = None,
    columns: dict[str, str] | None = None,
    mapping_file: str | Path | None = None,
    **options: Any,
) -> Records:
    folder = path if path.is_dir() else path.parent
    files = {n: find_file(folder, n, SUFFIXES) for n in FILES}
    if files["work_items"] is None or files["transition_histories"] is None:
        raise ScenarioError(
            [
                Problem(
                    "a PingCode export needs work_items and transition_histories files "
                    "(.json, .csv or .xlsx)",
                    file=str(folder),
                )
            ]
        )
    tables = {n: read_any(p, encoding) if p else None for n, p in files.items()}
    for name in ("work_items", "transition_histories", "workloads"):
        t = tables[name]
        if t is None:
            continue
        for col in ("created_at", "report_at"):
            if col in t:
                t[col] = unix_times(t[col])
    return records(
        str(folder), tables, (WORK_ITEM, TRANSITION, WORKLOAD),
        {n: p.name if p else "" for n, p in files.items()}, timezone,
        currency or "CNY", columns, mapping_file,
    )  # fmt: skip


def records(
    source: str,
    tables: dict[str, pd.DataFrame | None],
    variables: tuple[dict[str, str], dict[str, str], dict[str, str]],
    names: dict[str, str],
    timezone: str | None,
    currency: str,
    columns: dict[str, str] | None,
    mapping_file: str | Path | None,
) -> Records:
    """Records of a work-item export: items, transitions and workloads under ``variables``."""
    item_vars, move_vars, load_vars = variables
    items, moves = tables[FILES[0]], tables[FILES[1]]
    assert items is not None and moves is not None
    item_vars = {f: c for f, c in {**item_vars, **(columns or {})}.items() if c in items}
    for need, frame, table in (
        (("id", "stage"), items, item_vars),
        (("id", "stage", "entered", "from"), moves, move_vars),
    ):
        missing = [table[f] for f in need if table.get(f) not in frame]
        if missing:
            raise ScenarioError([Problem(f"no column {missing[0]!r}", file=source)])
    attributes = canonical(items, item_vars, names[FILES[0]])
    steps = canonical(moves, move_vars, names[FILES[1]])
    efforts = None
    loads = tables.get(FILES[2])
    if loads is not None and all(c in loads for c in load_vars.values()):
        efforts = canonical(loads, load_vars, names[FILES[2]])
    rec = Records(
        source=source,
        shape="stage_changes",
        rows=steps,
        names={**{f: f"{names[FILES[1]]}:{c}" for f, c in move_vars.items()},
               **{f: f"{names[FILES[0]]}:{c}" for f, c in item_vars.items()}},
        attributes=attributes,
        currency=currency,
        timezone=timezone,
        efforts=efforts,
        open_values=True,
    )  # fmt: skip
    # the mapping file may set the time zone and date format the transitions are ordered by
    rec = mapping_options(rec, mapping_file, REFUSED)
    rec = replace(rec, timezone=rec.timezone or "UTC")  # the API's instants: UTC's day, unsaid
    rec = _closed_by_type(rec, items, moves)
    return replace(rec, rows=_rows(steps, attributes, rec.date_format, rec.timezone))


# the mapping keys a PingCode (or Worktile) export has no use for, and why (refused, not ignored)
_NAMES = "its work items and transitions are read by the open API's field names"
REFUSED = {
    "columns": f"{_NAMES}; name another field with --column FIELD=COLUMN",
    "shape": f"{_NAMES}: always work items with their state transitions",
    "catalog": "a work item's value is its own amount property (properties.amount)",
}


# a state's type, as the open API gives it beside its name: completed ends the work done (the
# deal signed), closed ends it undone (given up); pending and in_progress are open
_TYPE_KIND = {"completed": "won", "closed": "lost"}


def _closed_by_type(rec: Records, items: pd.DataFrame, moves: pd.DataFrame) -> Records:
    """``rec`` with the states no label names closed by their type (``state.type``,
    ``to_state.type``, ``from_state.type``: completed won, closed lost), where every mention
    of the state gives it one type; said."""
    pairs = [
        frame[[f"{side}.name", f"{side}.type"]].set_axis(["name", "type"], axis=1)
        for frame, side in ((items, "state"), (moves, "to_state"), (moves, "from_state"))
        if f"{side}.name" in frame and f"{side}.type" in frame
    ]
    if not pairs or rec.labels.open is not None:
        return rec
    seen = pd.concat(pairs).astype(str).map(str.strip)
    seen = seen[(seen["name"] != "") & (seen["type"] != "")]
    named = {label_key(x) for x in (*rec.labels.won, *rec.labels.lost)}
    verdict: dict[str, str] = {}
    for name, types in seen.groupby("name")["type"]:
        kinds = set(types.str.lower())
        kind = _TYPE_KIND.get(kinds.pop()) if len(kinds) == 1 else None
        if kind is not None and label_key(name) not in named:
            verdict[str(name)] = kind
    if not verdict:
        return rec
    note = ("closed_stages", f"closed states by their type (completed: won, closed: lost): "
            f"{said(verdict)}; labels: {{won: [...], lost: [...]}} in a --mapping file reads "
            "them otherwise")  # fmt: skip
    return replace(rec, labels=with_verdicts(rec.labels, verdict), notes=[*rec.notes, note])


def _rows(
    steps: pd.DataFrame, attributes: pd.DataFrame, fmt: str | None, timezone: str | None
) -> pd.DataFrame:
    """The transitions, plus each item's first state (the ``from`` of its earliest transition,
    entered when the item was created) and the items with no transition (in their current
    state since creation)."""
    # earliest by the parsed time, not the text ("2022/5/20" < "2022/5/9", "+08:00" vs "Z");
    # file order breaks ties; unparseable times last (the importer drops them)
    at = parse_times(steps["entered"], fmt, timezone)
    steps = steps.assign(_at=at).sort_values(["id", "_at", "_line"], kind="stable",
                                             na_position="last").drop(columns="_at")  # fmt: skip
    # an identifier listed twice: use its first row here; the importer drops the others
    # (duplicate_id) when it reads the attributes
    items = attributes[~attributes["id"].duplicated() | (attributes["id"] == "")]
    known = set(items["id"]) - {""}
    # only items of the work-item file get a first state: an orphan transition stays one row
    # (unknown_deal), a blank id one row (blank_id)
    first = steps.groupby("id", sort=False).head(1)
    first = first[first["id"].isin(known)]
    created = items[items["id"] != ""].set_index("id")["created"] if "created" in items else None
    start = pd.DataFrame(
        {
            "id": first["id"],
            "stage": first["from"],
            "entered": first["id"].map(created) if created is not None else first["entered"],
            "_line": first["_line"],
            "_file": first["_file"],
        }
    )
    lone = items[~items["id"].isin(set(steps["id"]))]
    lone = lone.assign(entered=lone.get("created", ""))[["id", "stage", "entered", "_line",
                                                         "_file"]]  # fmt: skip
    return pd.concat([start, steps.drop(columns=["from"]), lone], ignore_index=True)
