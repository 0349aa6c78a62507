"""Worktile: the tasks of a sales project, their state changes and workloads, exported as
.xlsx or CSV with the Chinese column names of Worktile's export (or JSON with those names).

Assumption (stated): Worktile's documented open API gives tasks and project workloads but no
transition-history export format we could verify, so this reader expects three files in one
folder, named and headed as a Worktile task export is (:data:`TASK`, :data:`CHANGE`,
:data:`WORKLOAD`): ``tasks`` (任务编号, 任务状态, 创建时间, 负责人, 合同金额, 任务类型),
``state_changes`` (任务编号, 原状态, 新状态, 变更时间) and optional ``workloads`` (任务编号,
登记人, 工时 in hours, 登记日期). Times without a zone are local time of the scenario's
``--timezone``. Everything else (first state entered at creation, states as stage labels,
``--mapping``) works as for PingCode (:mod:`simsales.calibrate.sources.pingcode`), from the
same company's product line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simsales.calibrate.sources.files import find_file
from simsales.calibrate.sources.pingcode import SUFFIXES, read_any, records
from simsales.calibrate.sources.records import Records
from simsales.errors import Problem, ScenarioError

__all__ = ["CHANGE", "TASK", "WORKLOAD", "detect", "detect_folder", "read"]

TASK = {
    "id": "任务编号",
    "stage": "任务状态",
    "created": "创建时间",
    "owner": "负责人",
    "value": "合同金额",
    "product": "任务类型",
}
CHANGE = {"id": "任务编号", "from": "原状态", "stage": "新状态", "entered": "变更时间"}
WORKLOAD = {"deal": "任务编号", "person": "登记人", "hours": "工时", "at": "登记日期"}
FILES = {"tasks": "work_items", "state_changes": "transition_histories", "workloads": "workloads"}


def detect(header: list[str]) -> bool:
    return {"原状态", "新状态"} <= set(header)


def detect_folder(path: Path) -> bool:
    return find_file(path, "tasks", SUFFIXES) is not None and (
        find_file(path, "state_changes", SUFFIXES) is not None
    )


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
    if files["tasks"] is None or files["state_changes"] is None:
        raise ScenarioError(
            [Problem("a Worktile export needs tasks and state_changes files", file=str(folder))]
        )
    tables = {FILES[n]: read_any(p, encoding) if p else None for n, p in files.items()}
    return records(
        str(folder), tables, (TASK, CHANGE, WORKLOAD),
        {FILES[n]: p.name if p else "" for n, p in files.items()}, timezone,
        currency or "CNY", columns, mapping_file,
    )  # fmt: skip
