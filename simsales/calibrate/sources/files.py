"""Read an exported table (CSV or .xlsx) as text, whatever its encoding.

Encoding rule for CSV (stated, so a reader can predict it): ``encoding`` if given
(``--encoding``); else UTF-16 after a byte-order mark (Excel's "Unicode Text", tab-separated),
or without one when nine bytes in ten at odd (little-endian) or even places are zero; else
UTF-8 (a byte-order mark is dropped) if the bytes are valid UTF-8; else, when at least 90 % of
the bytes above 0x7F start a double-byte unit (followed by a trail byte, 0x40-0x7E or above
0x7F, or by the digit/high/digit tail of a GB18030 four-byte unit) and at least a quarter of
those units are two high bytes, the text is Chinese (or Japanese / Korean) and the first of
GB18030 (which covers GBK and GB2312), Big5 (as Windows code page 950 writes it: Excel on a
Traditional Chinese Windows), Shift-JIS (code page 932) and Korean (code page 949) that decodes
the whole file and puts at least half of its two-byte characters in that encoding's common
block is used; where more than one does (Korean hangul lie inside GB2312's table), the one in
which a line of the first ten names the most deal fields (the header, read in words), the first
of them on a tie. The common blocks, by lead and trail byte: GB2312's level-1 hanzi (B0-D7,
A1-FE), Big5's frequent hanzi (A4-C6, 40-7E or A1-FE), Shift-JIS's kana and level-1 kanji
(81-9F, any trail), KS X 1001's hangul (B0-C8, A1-FE); for GB2312 and KS X 1001 also their
full-width forms (A3, A1-FE: amounts and dates typed in an IME's full-width mode). The trail
bytes are what tell Big5 from GB18030, which decodes almost any pair: four Big5 characters
in ten have a trail below A1, where GB2312 has none, so GB18030 also needs all but one pair
in twenty inside GB2312's table (both bytes A1-FE; the rest are GBK's rarer characters).
Latin letters read as pairs, such as Portuguese "ção" or an accented capital before a
lower-case letter, fall outside every block.
Else Windows-1252 (the Western superset of Latin-1 that Excel and Salesforce write: its
accented letters stand alone between ASCII letters) if it decodes, or Windows-1251 (Excel on a
Russian Windows) where its header names more deal fields, else Latin-1, which decodes any
bytes; but Windows-1250 (Excel on a Polish, Czech or Hungarian Windows) where it decodes and
reads more of the non-ASCII characters than the one chosen as a lower-case letter after a
letter, inside a word or ending it, or as a currency sign beside a digit (zł and Wartość,
where Windows-1252 reads z³ and Wartoœæ; a Western file's £12 is no Ł12); and Mac Roman
(Excel for Mac's "CSV (Macintosh)") where it reads more of the
non-ASCII characters than the one chosen as a lower-case letter between two lower-case letters
or a currency sign beside a digit (Société and €12, where Windows-1252 reads SociŽtŽ and
Û12; a Windows file's é and ü read as È and ¸ in Mac Roman), or as many where every line ends
by CR alone (as Excel for Mac writes it); not where a Russian header decided.
In Shift-JIS (code page 932) a backslash is read as the yen sign, the character a
Japanese Windows shows for that byte (``\\1,234,000`` is ¥1,234,000). (Statistical guessing
was tried and rejected: on exports whose non-ASCII text is a few repeated names it mistakes
GB18030 for Central-European text.) The encoding used is returned, to be reported.

In any table, control characters other than tab and line ends (NUL bytes of a damaged export)
are left out of its names and cells.

``.xlsx`` / ``.xlsm`` files are read with openpyxl: its sheet (below), its first row the header;
dates become ISO text and whole numbers lose their ``.0``, so cells parse like CSV text. Line
numbers are the sheet's row numbers (the header is line 1), as in a CSV. In either, rows above
the header are left out: a report's title or a blank line (the header is the first of the first
ten rows with two or more cells when the first row has one at most), and a row of merged group
captions (a row among the first ten that names more deal fields is the header;
:func:`simsales.io.inputs.title_rows`); the frame's index then starts at the number left out
(line = index + 2 still), and
``attrs["title_rows"]`` says how many. A workbook's table is its visible sheet whose header names
the most deal fields (then the one with the most rows), and the other visible sheets with the
same header appended (``attrs["sheets"]`` says
which; :func:`simsales.io.inputs.workbook_table`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simsales.calibrate.headers import recognise
from simsales.calibrate.mapping import label_key
from simsales.errors import Problem, ScenarioError
from simsales.io.inputs import title_rows, two_row_header, workbook_table

__all__ = [
    "DOUBLE_BYTE",
    "JSON",
    "MAX_BYTES",
    "detect_encoding",
    "find_file",
    "json_table",
    "read_table",
]

MAX_BYTES = 200_000_000
DOUBLE_BYTE = ("gb18030", "cp950", "cp932", "cp949")
# a byte above 0x7F and what follows it in a double-byte text: the rest of a GB18030 four-byte
# unit (digit, high byte, digit), or a trail byte; alone, it is a single-byte letter
_HIGH = re.compile(rb"[\x80-\xff](?:[\x30-\x39][\x81-\xfe][\x30-\x39]|[\x40-\x7e\x80-\xff])?")
EXCEL = (".xlsx", ".xlsm")
JSON = (".json", ".jsonl", ".ndjson")  # a JSON value, or JSON Lines (json_table)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the compound file an Excel 97-2003 .xls is
_ANY_TRAIL = ((0x40, 0xFF),)
_HIGH_TRAIL = ((0xA1, 0xFE),)
# each double-byte encoding's commonest characters: lead byte range, trail byte ranges (see the
# module docstring)
_COMMON: dict[str, tuple[tuple[int, int], tuple[tuple[int, int], ...]]] = {
    "gb18030": ((0xB0, 0xD7), _HIGH_TRAIL),
    "cp950": ((0xA4, 0xC6), ((0x40, 0x7E), (0xA1, 0xFE))),
    "cp932": ((0x81, 0x9F), _ANY_TRAIL),
    "cp949": ((0xB0, 0xC8), _HIGH_TRAIL),
}
_GB2312 = ((0xA1, 0xFE), _HIGH_TRAIL)  # the whole table: both bytes A1-FE
_FULL_WIDTH = ((0xA3, 0xA3), _HIGH_TRAIL)  # ０-９, ，．／: GB2312's and KS X 1001's row 3


def _within(block: tuple[tuple[int, int], tuple[tuple[int, int], ...]], pairs: list[bytes]) -> int:
    (lo, hi), trails = block
    return sum(lo <= p[0] <= hi and any(a <= p[1] <= b for a, b in trails) for p in pairs)


def _common(name: str, pairs: list[bytes]) -> bool:
    """Whether at least half of the two-byte ``pairs`` are in the encoding's common block (and,
    for GB18030, all but one in twenty in GB2312's table: see the module docstring)."""
    common = _within(_COMMON[name], pairs)
    if name in ("gb18030", "cp949"):
        common += _within(_FULL_WIDTH, pairs)
    if 2 * common < len(pairs):
        return False
    return name != "gb18030" or 20 * _within(_GB2312, pairs) >= 19 * len(pairs)


def detect_encoding(data: bytes) -> str:
    """The encoding a CSV's bytes are read with (see the module docstring)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # Excel's "Unicode Text": UTF-16 after its byte-order mark
    head = data[:4000]
    for order, zeros in (("utf-16-le", head[1::2]), ("utf-16-be", head[::2])):
        if len(head) >= 8 and zeros.count(0) >= 0.9 * len(zeros) > 0:  # ASCII as 16-bit units
            return order
    try:
        data.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    units = _HIGH.findall(data[:4_000_000])
    pairs = [u for u in units if len(u) == 2]
    both_high = sum(u[1] >= 0x80 for u in pairs)
    if units and sum(len(u) > 1 for u in units) >= 0.9 * len(units) and 4 * both_high >= len(pairs):
        fits = [name for name in DOUBLE_BYTE if _common(name, pairs) and _decodes(data, name)]
        if len(fits) > 1:  # hangul lie inside GB2312's table: the header read in words decides
            return max(fits, key=lambda name: _header_score(data, name))  # ties: the first
        if fits:
            return fits[0]
    mac = b"\r" in head and b"\n" not in head  # lines ended by CR alone: Excel for Mac's CSV
    single = [name for name in ("cp1252", "cp1251") if _decodes(data, name)]
    # Cyrillic read as Western letters names nothing: the header decides (ties: Windows-1252)
    best = max(single, key=lambda name: _header_score(data, name)) if single else "latin-1"
    if best == "cp1251" and _header_score(data, best) > _header_score(data, "mac_roman"):
        return best
    western = _letters_score(data, best)
    # Central-European letters (ł, ą, ż, ť) read as Western signs (³, ¹, ¿) or controls (a
    # Windows-1251 here is one no Russian header chose)
    if _decodes(data, "cp1250") and _ending_score(data, "cp1250") > _ending_score(data, best):
        best, western = "cp1250", _letters_score(data, "cp1250")
    roman = _letters_score(data, "mac_roman")
    return "mac_roman" if roman > western or (mac and roman == western) else best


_IN_WORD = re.compile(r"(?<=[a-z])[^\x00-\x7f](?=[a-z])")
_BY_DIGIT = re.compile(r"[^\x00-\x7f](?=\d)|(?<=\d)[^\x00-\x7f]")


def _letters_score(data: bytes, name: str) -> int:
    """How plausibly ``data`` reads as ``name``: characters between two lower-case letters
    that are lower-case letters themselves (Société, not SociŽtŽ), and currency signs beside a
    digit (€12, not Û12)."""
    text = data[:1_000_000].decode(name, errors="replace")
    return sum(c.islower() for c in _IN_WORD.findall(text)) + sum(
        unicodedata.category(c) == "Sc" for c in _BY_DIGIT.findall(text)
    )


_AFTER_LOWER = re.compile(r"(?<=[^\W\d_])[^\x00-\x7f]")


def _ending_score(data: bytes, name: str) -> int:
    """How plausibly ``data`` reads as ``name`` by the non-ASCII characters after a letter that
    are lower-case letters themselves, inside a word or ending it (zł, Wartość, not z³,
    Wartoœæ), and currency signs beside a digit."""
    text = data[:1_000_000].decode(name, errors="replace")
    lower = sum(c.islower() for c in _AFTER_LOWER.findall(text))
    return lower + sum(unicodedata.category(c) == "Sc" for c in _BY_DIGIT.findall(text))


def _decodes(data: bytes, name: str) -> bool:
    try:
        data.decode(name)
        return True
    except UnicodeDecodeError:
        return False


# control characters but tab and line ends (a damaged export's NUL bytes, a vertical tab):
# no text, and a scenario's YAML cannot hold them
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def _printable(cells: pd.Series) -> pd.Series:
    """Cells without control characters (but tab and line ends)."""
    text = cells.astype(str)
    if not text.str.contains(_CONTROL).any():
        return cells
    return text.str.replace(_CONTROL, "", regex=True)


_EXCEL_TEXT = re.compile(r'^="(.*)"$', re.DOTALL)


def _unformula(cells: pd.Series) -> pd.Series:
    """Cells written ``="00123"`` (an export made "Excel-safe": a formula that keeps leading
    zeros and stops Excel reading a date) as the text inside."""
    wrapped = cells.str.startswith('="', na=False)
    return cells.where(~wrapped, cells[wrapped].str.replace(_EXCEL_TEXT, r"\1", regex=True))


def _lines(text: str) -> str:
    """``text`` with lines ended by LF where every line ends by CR alone (Excel for Mac's
    "CSV (Macintosh)")."""
    return text.replace("\r", "\n") if "\r" in text and "\n" not in text else text


def _header_score(data: bytes, name: str) -> int:
    """How many deal fields the first ten lines name at most, read in encoding ``name``."""
    lines = _lines(data[:20_000].decode(name, errors="replace")).split("\n", 10)[:10]
    return max((_deal_fields(_fields(line)) for line in lines), default=0)


def read_table(
    path: Path, encoding: str | None = None, nrows: int | None = None
) -> tuple[pd.DataFrame, str]:
    """The table's cells as stripped text (blank: ``""``) without control characters, and
    the encoding read with."""
    if not path.exists():
        raise ScenarioError([Problem("no such file", file=str(path), hint="check the path")])
    if path.is_dir() or path.stat().st_size > MAX_BYTES:
        raise ScenarioError(
            [Problem(f"not a CSV or .xlsx file under {MAX_BYTES:,} bytes", file=str(path))]
        )
    with path.open("rb") as f:
        head = f.read(512)
    legacy = head.startswith(_OLE2) or re.match(rb"\s*<(?:!doctype\s+)?(?:html|table)", head, re.I)
    # an .xls that is neither a workbook nor a web page is text a CRM named so (tab-separated,
    # as CloudCC and older exports write): read as any CSV
    if legacy:
        web = legacy and not head.startswith(_OLE2)
        kind = (
            'a web page (HTML, as some CRMs save an "Excel" export)'
            if web
            else "an Excel 97-2003 workbook (.xls)"
        )
        raise ScenarioError([Problem(
            f"{kind} cannot be read", file=str(path),
            hint="open it in Excel and save it as .xlsx, or as CSV UTF-8",
        )])  # fmt: skip
    sheets: list[tuple[str, str, int]] = []  # a workbook's: which sheets were read (or not)
    # and its cells of numbers shown scaled (#,##0,"K") or given their format's currency
    shown: dict[str, dict[str, frozenset[int]]] = {}
    sheet_of: list[int] = []  # and each row's sheet, where several were appended
    if path.suffix.lower() in JSON:  # an API's records (Pipedrive's /v1/deals page)
        frame, used, at = json_table(path, encoding), "json", 0
    elif path.suffix.lower() in EXCEL:  # at: rows above the header (a report's title)
        table = workbook_table(path.read_bytes(), str(path), nrows, _deal_fields, _id_column)
        (header, *body), at, sheets = table.rows, table.at, table.notes
        shown = {"shown_scaled": table.shown_scaled, "with_currency": table.with_currency}
        sheet_of = table.sheet_of
        frame, used = pd.DataFrame(body, columns=_unique(header), dtype=str), "xlsx"
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
        text = _lines(text.removeprefix("\ufeff"))
        if used == "cp932":  # Shift-JIS's byte 0x5C is the yen sign a Japanese Windows shows
            text = text.replace("\\", "¥")
        try:
            lines = text.split("\n", 10)[:10]
            top = [_fields(line) for line in lines]
            at = title_rows(top, _deal_fields)
            below, header = two_row_header(top, at, _deal_fields)
            if top and header != top[at]:  # a two-row header (merged names saved as CSV)
                sep = _delimiter(lines[below])
                line = io.StringIO()
                csv.writer(line, delimiter=sep, lineterminator="\n").writerow(header)
                text = line.getvalue() + text.split("\n", below + 1)[below + 1]
                at = below
            elif at:
                text = text.split("\n", at)[at]
            frame = pd.read_csv(
                io.StringIO(text), sep=_delimiter(text), dtype=str, keep_default_na=False,
                nrows=nrows,
            )  # fmt: skip
        except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
            raise ScenarioError([Problem(f"cannot read the CSV: {exc}", file=str(path))]) from None
    frame.columns = [_CONTROL.sub("", str(c)).strip() for c in frame.columns]
    if len(frame):
        frame = frame.apply(lambda s: _unformula(_printable(s).str.strip()))
    if at:  # the index stays "line - 2", as without a title; the caller says what was skipped
        frame.index = pd.RangeIndex(at, at + len(frame))
        frame.attrs["title_rows"] = at
    if sheets:
        frame.attrs["sheets"] = sheets
    for key, cells in shown.items():  # by column, the rows' labels (as the frame's index)
        if cells:
            frame.attrs[key] = {
                c: frozenset(frame.index[[i for i in sorted(r) if i < len(frame)]])
                for c, r in cells.items()
            }
    if sheet_of and len(sheet_of) == len(frame):  # a deal in two sheets: from the newest one
        frame.attrs["parts"] = np.array(sheet_of)
    return frame, used


def json_table(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """A JSON file as a table of text cells: a list of objects, or an API's page holding it
    (``{"data": [...]}``, ``{"values": [...]}``, ``{"items": [...]}``, ``{"result": [...]}``, or
    one level down as Bitrix24's ``{"result": {"items": [...]}}``; several such pages saved
    one after another, as a list or one a line, their records in order), or JSON Lines (one
    object per line, as BigQuery and Fivetran export a table: ``.jsonl``, ``.ndjson``, or a
    ``.json`` that is no one JSON value but whose every line is an object), or rows of cells
    under a header row (the Google Sheets API's ``values``); nested fields
    flattened with dots (``user_id.name``), a null blank, and Odoo's ``[id, name]`` links by
    their name and its false for a field not set blank. A page with no records is an error
    that says so."""
    try:
        text = path.read_text(encoding=encoding or "utf-8-sig")
        data: Any = _json_lines(text) if path.suffix.lower() != ".json" else None
        if data is None:
            try:
                data = json.loads(text)
            except ValueError:
                if (data := _json_lines(text)) is None:
                    raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(f"not a JSON file: {exc}", file=str(path))]) from None
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]  # one object (an API page saved on one line): as a .json holding it
    if isinstance(data, dict):
        data = _records_of(data)
    elif isinstance(data, list) and (records := _pages(data)) is not None:
        data = records
    data = _header_rows_as_records(data)
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ScenarioError([Problem(
            "expected a list of objects (one per deal), or an API page holding one under "
            '"data", "values" or "items"', file=str(path),
        )])  # fmt: skip
    if not data:
        raise ScenarioError([Problem(
            "no records: the JSON's list of deals is empty (an API page that found none: check "
            "the query, its filter or its page)", file=str(path),
        )])  # fmt: skip
    frame = pd.json_normalize([{k: _linked_name(v) for k, v in r.items()} for r in data])
    frame = frame.astype(object).where(frame.notna(), "")
    return frame.apply(_false_as_blank).astype(str)


def _linked_name(value: Any) -> Any:
    """A link written ``[id, name]`` (Odoo's many2one: ``"stage_id": [4, "Won"]``): its name."""
    linked = isinstance(value, list) and len(value) == 2 and isinstance(value[1], str)
    return value[1] if linked and isinstance(value[0], int) else value


def _false_as_blank(column: pd.Series) -> pd.Series:
    """A false in a column of other values than true and false is an empty field (Odoo
    writes false for a date or a link not set); a true / false column stays one."""
    false = column.map(lambda v: v is False)
    other = column.map(lambda v: not isinstance(v, bool) and v != "")
    return column.where(~false, "") if false.any() and other.any() else column


_PAGE_KEYS = ("values", "data", "items", "records", "results", "result")


def _records_of(page: dict[str, Any]) -> Any:
    """An API page's list of records: under one of its keys, or one level further down
    (Bitrix24's ``{"result": {"items": [...]}}``); else the page as one record."""
    for k in _PAGE_KEYS:
        if isinstance(page.get(k), list):
            return page[k]
    for k in _PAGE_KEYS:
        inner = page.get(k)
        if isinstance(inner, dict) and any(isinstance(inner.get(j), list) for j in _PAGE_KEYS):
            return next(inner[j] for j in _PAGE_KEYS if isinstance(inner.get(j), list))
    return [page]


def _pages(data: list[Any]) -> list[Any] | None:
    """The records of a paged API's answers saved one after another (a list of pages, or one
    a line), in order; None where an item is no page: one with an id of its own is a record
    (a deal holding its line items)."""
    out: list[Any] = []
    for page in data:
        if not isinstance(page, dict) or any(label_key(k) == "id" for k in page):
            return None
        records = _records_of(page)
        if len(records) == 1 and records[0] is page:
            return None
        out.extend(records)
    return out


def _header_rows_as_records(data: Any) -> Any:
    """A table written as rows of cells, its header first (the Google Sheets API's
    ``{"values": [["Deal ID", ...], ["D1", ...]]}``): a record per row, cells the API leaves
    out at a row's end blank; anything else as it is."""
    if not isinstance(data, list) or len(data) < 2 or not all(isinstance(r, list) for r in data):
        return data
    header = data[0]
    if not header or not all(isinstance(c, str) and c.strip() for c in header):
        return data
    if any(len(r) > len(header) for r in data[1:]):
        return data  # more cells than names: not a header row
    return [dict(zip(header, [*r, *[""] * (len(header) - len(r))], strict=True)) for r in data[1:]]


def _json_lines(text: str) -> list[Any] | None:
    """JSON Lines (one object per non-blank line) as a list of them; None where a line is no
    object."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        out.append(record)
    return out


def _unique(header: list[str]) -> list[str]:
    """A sheet's column names made unique as pandas reads a CSV's: a name again is
    ``Name.1``, ``Name.2`` (a sheet may repeat one, where a CSV reader would rename it)."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(f"{name}.{n}" if n else name)
    return out


def _deal_fields(header: list[str]) -> int:
    """How many deal fields a header's column names stand for (a workbook's sheets ranked)."""
    found = recognise(header)
    return len(found.columns) if found is not None else 0


def _id_column(header: list[str]) -> str | None:
    """The column a header names each row's deal by (its sheets of deals are compared by it)."""
    found = recognise(header)
    column = found.columns.get("id") if found is not None else None
    return column if isinstance(column, str) else None


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
