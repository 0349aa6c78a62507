"""Read an exported table (CSV or .xlsx) as text, whatever its encoding.

Encoding rule for CSV (stated, so a reader can predict it): ``encoding`` if given
(``--encoding``); else UTF-8 (a byte-order mark is dropped) if the bytes are valid UTF-8; else,
when at least 90 % of the bytes above 0x7F start a double-byte unit (followed by another such
byte, or by the digit/high/digit tail of a GB18030 four-byte unit), the text is Chinese (or
Japanese / Korean) and the first of GB18030 (which covers GBK and GB2312), Big5, Shift-JIS and
EUC-KR that decodes the whole file and puts at least half of its two-byte characters in that
encoding's common block (their lead bytes: GB2312's level-1 hanzi B0-D7, Big5's frequent hanzi
A4-C6, Shift-JIS's kana and level-1 kanji 81-9F, KS X 1001's hangul B0-C8; Latin letters read
as pairs, such as Portuguese "ção", fall outside all of them) is used; else Windows-1252 (the
Western superset of Latin-1 that Excel and Salesforce write: its accented letters stand alone
between ASCII letters) if it decodes, else Latin-1, which decodes any bytes. (Statistical
guessing was tried and rejected: on exports whose non-ASCII text is a few repeated names it
mistakes GB18030 for Central-European text.) The encoding used is returned, to be reported.

``.xlsx`` / ``.xlsm`` files are read with openpyxl: the first sheet, its first row the header;
dates become ISO text and whole numbers lose their ``.0``, so cells parse like CSV text. Line
numbers are the sheet's row numbers (the header is line 1), as in a CSV. In either, rows above
the header that have one cell at most (a report's title, a blank line) are left out: the header
is the first of the first ten rows with two or more cells when the first row has one at most;
the frame's index then starts at the number left out (line = index + 2 still), and
``attrs["title_rows"]`` says how many.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

from simsales.errors import Problem, ScenarioError
from simsales.io.inputs import sheet_table, title_rows

__all__ = ["DOUBLE_BYTE", "MAX_BYTES", "detect_encoding", "find_file", "read_table"]

MAX_BYTES = 200_000_000
DOUBLE_BYTE = ("gb18030", "big5", "shift_jis", "euc_kr")
# a byte above 0x7F and what follows it in a double-byte text: another such byte, or the rest of
# a GB18030 four-byte unit (digit, high byte, digit); alone, it is a single-byte letter
_HIGH = re.compile(rb"[\x80-\xff](?:[\x30-\x39][\x81-\xfe][\x30-\x39]|[\x80-\xff])?")
EXCEL = (".xlsx", ".xlsm")
# lead bytes of each double-byte encoding's commonest characters (see the module docstring)
_COMMON_LEADS = {"gb18030": (0xB0, 0xD7), "big5": (0xA4, 0xC6), "shift_jis": (0x81, 0x9F),
                 "euc_kr": (0xB0, 0xC8)}  # fmt: skip


def detect_encoding(data: bytes) -> str:
    """The encoding a CSV's bytes are read with (see the module docstring)."""
    try:
        data.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    units = _HIGH.findall(data[:4_000_000])
    if units and sum(len(u) > 1 for u in units) >= 0.9 * len(units):
        leads = [u[0] for u in units if len(u) == 2]
        for name in DOUBLE_BYTE:
            lo, hi = _COMMON_LEADS[name]
            if 2 * sum(lo <= b <= hi for b in leads) < len(leads):
                continue
            try:
                data.decode(name)
                return name
            except UnicodeDecodeError:
                continue
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def read_table(
    path: Path, encoding: str | None = None, nrows: int | None = None
) -> tuple[pd.DataFrame, str]:
    """The table's cells as stripped text (blank: ``""``) and the encoding read with."""
    if not path.exists():
        raise ScenarioError([Problem("no such file", file=str(path), hint="check the path")])
    if path.is_dir() or path.stat().st_size > MAX_BYTES:
        raise ScenarioError(
            [Problem(f"not a CSV or .xlsx file under {MAX_BYTES:,} bytes", file=str(path))]
        )
    if path.suffix.lower() in EXCEL:  # at: rows above the header (a report's title)
        (header, *body), at = sheet_table(path.read_bytes(), str(path), nrows)
        frame, used = pd.DataFrame(body, columns=header, dtype=str), "xlsx"
    else:
        data = path.read_bytes()
        used = encoding or detect_encoding(data)
        try:
            text = data.decode(used)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ScenarioError(
                [
                    Problem(
                        f"cannot decode the file as {used}: {exc}",
                        file=str(path),
                        hint="give the right one with --encoding (utf-8, gb18030, latin-1, ...)",
                    )
                ]
            ) from None
        text = text.removeprefix("\ufeff")
        lines = text.split("\n", 10)[:10]
        at = title_rows([sum(1 for c in _fields(line) if c.strip()) for line in lines])
        if at:
            text = text.split("\n", at)[at]
        try:
            frame = pd.read_csv(
                io.StringIO(text), sep=_delimiter(text), dtype=str, keep_default_na=False,
                nrows=nrows,
            )  # fmt: skip
        except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
            raise ScenarioError([Problem(f"cannot read the CSV: {exc}", file=str(path))]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame):
        frame = frame.apply(lambda s: s.str.strip())
    if at:  # the index stays "line - 2", as without a title; the caller says what was skipped
        frame.index = pd.RangeIndex(at, at + len(frame))
        frame.attrs["title_rows"] = at
    return frame, used


def _fields(line: str) -> list[str]:
    """A line's cells, split at the separator that line shows (see :func:`_delimiter`)."""
    return next(csv.reader(io.StringIO(line), delimiter=_delimiter(line)), [])


def _delimiter(text: str) -> str:
    """The header line's field separator: a comma, or the semicolon (Excel where the comma is
    the decimal mark), tab or bar when the header has one of those and no comma."""
    header = next(csv.reader(io.StringIO(text.partition("\n")[0])), [])
    if len(header) > 1:
        return ","
    line = text.partition("\n")[0]
    counts = {sep: line.count(sep) for sep in (";", "\t", "|")}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else ","


def find_file(
    folder: Path, stem: str, suffixes: tuple[str, ...] = (".csv", ".xlsx")
) -> Path | None:
    """``folder/stem.<suffix>`` for the first suffix that exists (names compared case-blind)."""
    names = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    for suffix in suffixes:
        hit = names.get(f"{stem}{suffix}".lower())
        if hit is not None:
            return hit
    return None
