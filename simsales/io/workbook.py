"""Tables as an Excel workbook a sales manager can open, sort and filter.

One sheet per table (summary, deals, periods, pools, plan, ...): a bold, frozen header row,
numbers stored as numbers with a display format (thousands separators, percentages, dates),
columns sized to their content, and sheet names in the scenario's language. Text that a
spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return: deal names come from CRM exports) is stored as text with Excel's quote prefix,
so it is shown as written and never evaluated. Workbooks are written atomically through
:mod:`simsales.io.outputs`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from simsales.io import outputs

__all__ = [
    "DAY",
    "MONEY",
    "NUMBER",
    "PERCENT",
    "Sheet",
    "neutralised",
    "workbook_bytes",
    "write_workbook",
]

# Sheet names per locale (Excel allows 31 characters and no []:*?/\ in them).
_SHEET_NAMES: dict[str, dict[str, str]] = {
    "en": {},
    "zh-CN": {
        "about": "说明",
        "summary": "汇总",
        "deals": "商机",
        "periods": "期间",
        "pools": "资源池",
        "closing": "决定进度",
        "differences": "差异",
        "plan": "计划",
        "headcount": "人数",
        "plan_deals": "计划商机",
        "mitigations": "风险缓解",
        "assignments": "分配",
        "verification": "验证",
        "origins": "回测窗口",
        "scores": "评分",
    },
}

PERCENT, MONEY, NUMBER, WHOLE, DAY = "0.0%", "#,##0", "#,##0.00", "#,##0", "yyyy-mm-dd"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PERCENT_WORDS = ("probability", "utilization", "coverage", "share")
_MONEY_WORDS = ("value", "revenue", "margin", "cost", "target", "objective")
_MAX_WIDTH = 40


@dataclass(frozen=True)
class Sheet:
    """One table of a workbook: ``key`` names it (see the locale's sheet names)."""

    key: str
    table: pd.DataFrame
    formats: Mapping[str, str] = field(default_factory=dict)  # column -> Excel number format


def neutralised(value: str) -> bool:
    """Whether a spreadsheet would take this text for a formula (and we must keep it text)."""
    return value.startswith(_FORMULA_START)


def workbook_bytes(sheets: Sequence[Sheet], locale: str = "en") -> bytes:
    """The .xlsx file of ``sheets``, in order, named in ``locale``."""
    book = Workbook()
    book.remove(book.active)
    names = _SHEET_NAMES.get(locale, {})
    bold = Font(bold=True)
    for sheet in sheets:
        ws = book.create_sheet(names.get(sheet.key, sheet.key)[:31])
        table = sheet.table.reset_index(drop=True)
        columns = [str(c) for c in table.columns]
        ws.append(columns)
        for cell in ws[1]:
            cell.font = bold
        formats = [sheet.formats.get(c) or _format_of(c, table[c]) for c in columns]
        widths = [len(c) for c in columns]
        for r, row in enumerate(table.itertuples(index=False, name=None), start=2):
            for c, value in enumerate(row, start=1):
                cell = ws.cell(row=r, column=c)
                value = _cell_value(value)
                if value is None:
                    continue
                if isinstance(value, str):
                    cell.value = value
                    cell.data_type = "s"  # never a formula, whatever the text
                    if neutralised(value):
                        cell.quotePrefix = True  # shown as text when edited in Excel
                else:
                    cell.value = value
                    shown = DAY if isinstance(value, date) else formats[c - 1]
                    if shown:
                        cell.number_format = shown
                widths[c - 1] = max(widths[c - 1], _shown_width(value))
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions
        for c, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(c)].width = min(width + 2, _MAX_WIDTH)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_workbook(
    path: str | Path | outputs.Output,
    sheets: Sequence[Sheet],
    locale: str = "en",
    *,
    inputs: Iterable[str | Path | None] = (),
) -> Path:
    """Write the workbook to ``path`` atomically (a claimed output or a path)."""
    return outputs.write_bytes(path, workbook_bytes(sheets, locale), inputs=inputs)


def _cell_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # an empty cell: after the horizon, no target, ...
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, bool | int | float | date | datetime):
        return value
    return str(value)


def _format_of(column: str, values: pd.Series) -> str | None:
    name = column.lower()
    kinds = {type(v) for v in values.dropna().head(50)}
    if kinds and kinds <= {date, pd.Timestamp, datetime}:
        return DAY
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    if any(word in name for word in _PERCENT_WORDS):
        return PERCENT
    if any(word in name for word in _MONEY_WORDS):
        return MONEY
    if pd.api.types.is_integer_dtype(values):
        return WHOLE
    return NUMBER


def _shown_width(value: Any) -> int:
    if isinstance(value, date):
        return 10
    if isinstance(value, float):
        return len(f"{value:,.2f}")
    return len(str(value)) * (2 if isinstance(value, str) and not value.isascii() else 1)
