"""Reading the user's files: regular files only, a size limit, paths kept inside a base.

Rules every reader of a user file goes through (scenario YAML, pipeline / people / fit CSVs,
a results folder's ``provenance.json``, CRM exports):

- Only a regular file is read. A FIFO, a device (``/dev/zero``), a socket or a directory is
  refused; the file is opened non-blocking, so a FIFO with no writer cannot hang the open.
- At most ``limit + 1`` bytes are read whatever size the file system reports (``/proc`` files
  report 0), so an endless file fails at the limit instead of eating memory.
- One limit for every kind of input: :data:`DEFAULT_MAX_BYTES`, or the environment variable
  ``SIMSALES_MAX_INPUT_BYTES``, or :func:`input_limit` in Python.
- A path written *inside a scenario* (``pipeline: {csv: ...}``) resolves inside the scenario's
  folder (symbolic links followed); an absolute or climbing path is refused unless it lies in a
  folder allowed with ``--allow-path`` (:func:`allowed_paths`).
- Messages never echo a file's content beyond a short escaped excerpt (:func:`excerpt`).
"""

from __future__ import annotations

import csv
import errno
import functools
import io
import itertools
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, NamedTuple

from simsales.errors import InputOutputError, Problem, ScenarioError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "WorkbookTable",
    "allowed_paths",
    "check_user_file",
    "excerpt",
    "input_limit",
    "max_input_bytes",
    "read_user_bytes",
    "read_user_table",
    "read_user_text",
    "resolve_inside",
    "sheet_rows",
    "sheet_table",
    "title_rows",
    "two_row_header",
    "workbook_table",
]

DEFAULT_MAX_BYTES = 20_000_000
_LIMIT_ENV = "SIMSALES_MAX_INPUT_BYTES"
_LIMIT: ContextVar[int | None] = ContextVar("simsales_input_limit", default=None)
_ALLOWED: ContextVar[tuple[Path, ...]] = ContextVar("simsales_allowed_paths", default=())
_CHUNK = 1 << 20
EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def max_input_bytes() -> int:
    """The size limit in force: :func:`input_limit`, else ``SIMSALES_MAX_INPUT_BYTES``, else
    :data:`DEFAULT_MAX_BYTES`."""
    limit = _LIMIT.get()
    if limit is not None:
        return limit
    text = os.environ.get(_LIMIT_ENV, "").strip().replace("_", "")
    if text:
        try:
            value = int(text)
        except ValueError:
            raise ScenarioError(
                [Problem(f"{_LIMIT_ENV}={excerpt(text)} is not a whole number of bytes")]
            ) from None
        if value < 1:
            raise ScenarioError([Problem(f"{_LIMIT_ENV} must be at least 1, got {value}")])
        return value
    return DEFAULT_MAX_BYTES


@contextmanager
def input_limit(limit: int) -> Iterator[None]:
    """Use ``limit`` bytes as the size limit of every input read inside the ``with`` block."""
    token = _LIMIT.set(limit)
    try:
        yield
    finally:
        _LIMIT.reset(token)


@contextmanager
def allowed_paths(folders: Iterable[str | Path]) -> Iterator[None]:
    """Also accept scenario paths that resolve inside ``folders`` (the CLI's ``--allow-path``)."""
    roots = tuple(Path(f).expanduser().resolve() for f in folders)
    token = _ALLOWED.set((*_ALLOWED.get(), *roots))
    try:
        yield
    finally:
        _ALLOWED.reset(token)


def excerpt(value: object, limit: int = 40) -> str:
    """A short, escaped quotation of user data for an error message: ``'abc…'``.

    ``repr`` escapes control characters (a NUL, an ANSI escape, a newline) so the excerpt is
    one harmless line; text over ``limit`` characters is cut with an ellipsis.
    """
    if not isinstance(value, str):  # a number or a date: shown as Python shows it, cut
        shown = repr(value)
        return shown if len(shown) <= limit else f"{shown[:limit]}…"
    cut = len(value) > limit
    shown = repr(value[:limit])
    return f"{shown[:-1]}…{shown[-1]}" if cut else shown


def resolve_inside(written: str, base: Path, *, what: str = "file") -> Path:
    """The file a scenario means by ``written``, refused when it leaves ``base``.

    ``base`` is the scenario's folder. Absolute paths, ``..`` and symbolic links are all judged
    by where they finally point: inside ``base`` or a folder of :func:`allowed_paths`.
    """
    path = Path(written).expanduser()
    candidate = path if path.is_absolute() else base / path
    real = candidate.resolve()
    roots = (base.resolve(), *_ALLOWED.get())
    if any(real == root or real.is_relative_to(root) for root in roots):
        return candidate
    raise ScenarioError(
        [
            Problem(
                f"the {what} {excerpt(written, 80)} is outside the scenario's folder {base}",
                hint="keep data files beside the scenario (or below it), or allow a folder "
                "with --allow-path DIR",
            )
        ]
    )


def check_user_file(path: str | Path, limit: int | None = None, *, what: str = "file") -> None:
    """Refuse, without opening it, a path that is not a regular file within the size limit.

    For readers that open the file themselves (e.g. pandas); they should still read at most
    the limit, as :func:`read_user_bytes` does.
    """
    name = str(path)
    limit = max_input_bytes() if limit is None else limit
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _open_error(exc, name, what) from None
    if stat.S_ISDIR(info.st_mode):
        raise ScenarioError([Problem(f"is a directory, not a {what}", file=name)])
    if not stat.S_ISREG(info.st_mode):
        raise ScenarioError(
            [
                Problem(
                    f"not a regular file ({_kind(info.st_mode)}); simsales reads only files",
                    file=name,
                )
            ]
        )
    if info.st_size > limit:
        raise ScenarioError([_too_big(name, limit)])


def _too_big(name: str, limit: int) -> Problem:
    return Problem(
        f"larger than the input limit of {limit:,} bytes",
        file=name,
        hint=f"raise it with {_LIMIT_ENV}=BYTES if the file is meant to be this big",
    )


def read_user_bytes(path: str | Path, limit: int | None = None, *, what: str = "file") -> bytes:
    """The bytes of a user's regular file, at most ``limit`` (default :func:`max_input_bytes`).

    Raises :class:`ScenarioError` (exit 2) for a missing, special, unreadable or too large file,
    and :class:`InputOutputError` (exit 74) when the device fails while reading. This is the
    entry point for any reader of user files (CSV importers decode the bytes themselves).
    """
    name = str(path)
    limit = max_input_bytes() if limit is None else limit
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _open_error(exc, name, what) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError([Problem(f"is a directory, not a {what}", file=name)])
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(
                [
                    Problem(
                        f"not a regular file ({_kind(info.st_mode)}); simsales reads only files",
                        file=name,
                        hint="give the path of the file itself",
                    )
                ]
            )
        parts: list[bytes] = []
        size = 0
        while size <= limit:
            block = os.read(fd, min(_CHUNK, limit + 1 - size))
            if not block:
                break
            parts.append(block)
            size += len(block)
    except OSError as exc:
        raise InputOutputError(f"{name}: reading failed: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise ScenarioError([_too_big(name, limit)])
    return b"".join(parts)


def read_user_text(path: str | Path, limit: int | None = None, *, what: str = "file") -> str:
    """:func:`read_user_bytes` decoded as UTF-8 (a byte-order mark is dropped)."""
    raw = read_user_bytes(path, limit, what=what)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            [
                Problem(
                    f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} on line {line})",
                    file=str(path),
                    hint="save the file as UTF-8",
                )
            ]
        ) from None


def read_user_table(path: str | Path, limit: int | None = None, *, what: str = "file") -> str:
    """A CSV file's text; for an ``.xlsx`` file, its first sheet as CSV text.

    Sheet row *n* becomes line *n* of the text, so a reader's line numbers point at the row
    to fix in Excel; cells read as :func:`sheet_rows` gives them.
    """
    if Path(path).suffix.lower() not in EXCEL_SUFFIXES:
        return read_user_text(path, limit, what=what)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        sheet_rows(read_user_bytes(path, limit, what=what), str(path))
    )
    return out.getvalue()


def sheet_rows(data: bytes, name: str, nrows: int | None = None) -> list[list[str]]:
    """The first sheet of a workbook as rows of text cells, the header padded/cut to one width.

    Dates become ISO text and whole numbers lose their ``.0``, so cells parse like CSV text;
    formulas give their last computed value.
    """
    return sheet_table(data, name, nrows)[0]


def sheet_table(data: bytes, name: str, nrows: int | None = None) -> tuple[list[list[str]], int]:
    """:func:`sheet_rows`, its header the first row of two or more cells within the first ten
    when the first has one at most (a report's title above the table), and that row's index."""
    book = _workbook(data, name)
    try:
        out, at = _sheet_rows(book.worksheets[0], nrows)
    finally:
        book.close()
    if not out:
        raise ScenarioError([Problem("the first sheet is empty", file=name, line=1)])
    return out, at


class WorkbookTable(NamedTuple):
    """A workbook's deals as one table (:func:`workbook_table`)."""

    rows: list[list[str]]  # the header, then the rows
    at: int  # rows above the header (a report's title)
    notes: list[tuple[str, str, int]]  # (action, message, rows)
    # by column, the rows (0: the first after the header) whose number the cell's format
    # shows scaled (#,##0,"K": the cell holds the whole amount), and those written with the
    # currency the format shows ("12500 EUR", :func:`_with_currency`)
    shown_scaled: dict[str, frozenset[int]]
    with_currency: dict[str, frozenset[int]]
    sheet_of: list[int]  # each row's sheet (0: the main one) where sheets were appended, else []


@dataclass
class _Shown:
    """The cells of a sheet (row, column; 0-based from its top) whose number format changes
    what they say: shown scaled, or in a currency."""

    scaled: set[tuple[int, int]] = field(default_factory=set)
    currency: set[tuple[int, int]] = field(default_factory=set)


def _by_column(
    cells: set[tuple[int, int]],
    header: list[str],
    body: int,
    offset: int,
    to: Callable[[str], str | None],
    into: dict[str, set[int]],
) -> None:
    """A sheet's ``cells`` below its header (its body begins on sheet row ``body``) into
    ``into``: the table's column ``to(name)`` -> the table's rows from 0, the sheet's first
    row of deals being row ``offset``."""
    for i, j in cells:
        column = to(header[j]) if i >= body and j < len(header) else None
        if column is not None:
            into.setdefault(column, set()).add(offset + i - body)


def workbook_table(
    data: bytes,
    name: str,
    nrows: int | None = None,
    score: Callable[[list[str]], int] | None = None,
    key: Callable[[list[str]], str | None] | None = None,
) -> WorkbookTable:
    """An export's table from a workbook of several sheets: the visible sheet whose header
    ``score`` rates highest (the columns it recognises), then the one with the most rows (the
    first on a tie: a summary or a hidden list of picklist values is not the data), and after
    it every other visible sheet whose header has all of its columns that name deal fields
    (one sheet per year, in any order, maybe with more or fewer others), in the workbook's
    order, its cells aligned by column name (blank where it lacks one), as one table; a sheet
    of deals (half the deal fields at least) with the same ``key`` column (``key(header)``:
    the one naming each row's deal) that lacks others is appended too, those blank (a
    quarter's sheet without amounts still has its deals' outcomes and dates). Its
    rows as :func:`sheet_table` gives them, the title rows above the header, and notes as
    (action, message, rows): which sheet was read, which were appended and at which lines
    (``info``; ``kept`` where fields are blank), and which sheets of deals were not, for lack
    of columns (``dropped``); and the cells whose numbers the workbook shows scaled
    (:func:`_shown_scale`: they hold whole amounts, whatever unit the header shows them in)
    or were written with the currency of their format, by column and row (a sheet of another
    layout differs cell by cell)."""
    book = _workbook(data, name)
    try:
        sheets = [w for w in book.worksheets if w.sheet_state == "visible"] or book.worksheets[:1]
        shown = {w.title: _Shown() for w in sheets}  # cells their formats change
        tables = {w.title: _sheet_rows(w, nrows, score, shown[w.title]) for w in sheets}
    finally:
        book.close()

    beside: dict[str, int] = {}  # sheet -> the columns of a side table left out
    for title, (rows, at) in tables.items():
        kept = _without_side_table(rows)
        if kept is not rows:
            beside[title] = len(rows[0]) - len(kept[0])
            tables[title] = (kept, at)

    def rank(w: Any) -> tuple[int, int]:
        rows = tables[w.title][0]
        return (score(rows[0]) if score is not None and rows else 0), len(rows)

    main = max(sheets, key=rank)
    (rows, at) = tables[main.title]
    if not rows or not rows[0]:
        raise ScenarioError([Problem(f"sheet {main.title!r} is empty", file=name, line=1)])
    notes: list[tuple[str, str, int]] = []
    if len(book.worksheets) > 1:
        why = "names the most deal fields in its header, then has " if score is not None else "has "
        notes.append(
            ("info", f"sheet {main.title!r} read (of the visible sheets, it {why}the most rows)", 1)
        )
    if main.title in beside:
        notes.append(("info", f"sheet {main.title!r}: the {beside[main.title]} columns right of "
                      f"its first empty column (after {rows[0][-1]!r}), a table beside the "
                      "data with fewer rows, are left out", 1))  # fmt: skip
    header = rows[0]
    parts: list[int] = []  # the appended sheets' rows: which sheet (1, 2, ...) each is of
    scaled: dict[str, set[int]] = {}
    currency: dict[str, set[int]] = {}
    ours = {_column_key(c): c for c in header}
    for cells, into in ((shown[main.title].scaled, scaled), (shown[main.title].currency, currency)):
        _by_column(cells, header, at + 1, 0, lambda c: ours.get(_column_key(c)), into)
    notes += _unsaved_formulas(data, name, main.title, rows, at)
    for w in (w for w in sheets if w is not main):
        more, above = tables[w.title]
        theirs = more[0] if more else []
        if not theirs or not all(header):
            continue
        # names as a reader compares them: "Close date" and "Amount " are "Close Date", "Amount"
        index = {_column_key(c): j for j, c in enumerate(theirs)}
        missing = [c for c in header if _column_key(c) not in index]
        lacks_fields = bool(missing) and (score is None or score(missing) > 0)
        # a sheet of deals (half the deal fields at least: not accounts, not a pivot)
        of_deals = score is not None and score(theirs) >= max(2, score(header) / 2)
        same_key = key is not None and (k := key(header)) is not None and k in theirs
        if (lacks_fields and not (of_deals and same_key)) or len(index) < len(theirs):
            if of_deals:
                notes.append(("dropped", f"sheet {w.title!r} not read: its header lacks "
                              f"{', '.join(repr(c) for c in missing[:5])} of sheet "
                              f"{main.title!r}'s (give it the same columns, or export each "
                              "sheet as a file of its own)", len(more) - 1))  # fmt: skip
            continue
        # its columns by name, in the main sheet's order (one sheet per year, reordered);
        # a column of no deal field it lacks is blank
        where = [index.get(_column_key(c), -1) for c in header]
        first = at + len(rows) + 1  # the next line of the joined table
        for cells, into in ((shown[w.title].scaled, scaled), (shown[w.title].currency, currency)):
            _by_column(cells, theirs, above + 1, len(rows) - 1,
                       lambda c: ours.get(_column_key(c)), into)  # fmt: skip
        rows = [*rows, *([r[i] if i >= 0 else "" for i in where] for r in more[1:])]
        parts += [parts[-1] + 1 if parts else 1] * (len(more) - 1)
        extra = [c for c in theirs if _column_key(c) not in {_column_key(h) for h in header}]
        said = "the same header" if theirs == header else "the same columns, matched by name"
        notes.append(("kept" if lacks_fields else "info", (
            f"sheet {w.title!r} has {said}: its rows appended as lines {first:,}-"
            f"{first + len(more) - 2:,} (its own row r is line r + {first - above - 2:,})"
            + (f"; its {', '.join(repr(c) for c in extra[:5])} not in sheet {main.title!r}: "
               "left out" if extra else "")
            + (f"; it has no {', '.join(repr(c) for c in missing[:5])}: blank there"
               if missing else "")
            + (" (unknown for its deals: give the sheet those columns to read them)"
               if lacks_fields else "")
        ), len(more) - 1 if lacks_fields else 1))  # fmt: skip
    sheet_of = [0] * (len(rows) - 1 - len(parts)) + parts if parts else []

    def frozen(cells: dict[str, set[int]]) -> dict[str, frozenset[int]]:
        return {c: frozenset(r) for c, r in cells.items()}

    return WorkbookTable(rows, at, notes, frozen(scaled), frozen(currency), sheet_of)


def _without_side_table(rows: list[list[str]]) -> list[list[str]]:
    """A sheet's rows (the header first) without a table beside its data: the columns right
    of its first empty column (no header, no cell), where fewer than half as many rows fill
    them as fill the columns left of it (a summary by stage or owner next to the deals; an
    empty column inside the table has the table's rows on both sides). ``rows`` itself when
    there is none."""
    header = rows[0] if rows else []
    filled = [[bool(c.strip()) for c in row] for row in rows[1:]]
    for j in range(1, len(header)):
        if header[j].strip() or any(row[j] for row in filled if j < len(row)):
            continue
        left = sum(any(row[:j]) for row in filled)
        right = sum(any(row[j + 1 :]) for row in filled)
        if not any(c.strip() for c in header[j + 1 :]) and right == 0:
            return rows  # nothing beside it
        return [row[:j] for row in rows] if 2 * right < left else rows
    return rows


def _column_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _unsaved_formulas(
    data: bytes, name: str, title: str, rows: list[list[str]], at: int
) -> list[tuple[str, str, int]]:
    """Columns left blank because their cells are formulas with no saved result (a workbook
    a program wrote and Excel never recalculated and saved): said, with what to do. Only
    blank columns are looked at again, in the formulas themselves (a second, lazy read)."""
    blank = [j for j, c in enumerate(rows[0]) if c and len(rows) > 1
             and all(not r[j] for r in rows[1:])]  # fmt: skip
    if not blank:
        return []
    book = _workbook(data, name, formulas=True)
    try:
        cells = itertools.islice(book[title].iter_rows(min_row=at + 2, values_only=True), 5)
        seen = list(cells)
    finally:
        book.close()
    out = []
    for j in blank:
        if any(len(r) > j and isinstance(r[j], str) and r[j].startswith("=") for r in seen):
            out.append(("kept", f"column {rows[0][j]!r} holds formulas with no saved results "
                        "(the workbook was written by a program and never recalculated): "
                        "open it in Excel and save it, or export the values",
                        len(rows) - 1))  # fmt: skip
    return out


def _workbook(data: bytes, name: str, formulas: bool = False) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=not formulas)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        if data.startswith(b"PK\x03\x04"):  # a workbook's zip, cut short or damaged
            problem = Problem(
                "cannot read the workbook: the file looks damaged or incomplete (a download "
                f"cut short?): {exc}", file=name,
                hint="download or export it again, or open it in Excel and save it as .xlsx",
            )  # fmt: skip
        else:
            problem = Problem(f"cannot read the workbook: {exc}", file=name,
                              hint="save it as .xlsx")  # fmt: skip
        raise ScenarioError([problem]) from None


def _sheet_rows(
    sheet: Any,
    nrows: int | None,
    score: Callable[[list[str]], int] | None = None,
    shown: _Shown | None = None,
) -> tuple[list[list[str]], int]:
    """One sheet's header and rows (as :func:`sheet_table`), and its title rows; with
    ``shown``, a number shown in a currency by its cell's format is written with it, and the
    cells of numbers written so, or shown scaled (``#,##0,"K"``), are put in ``shown``."""
    if shown is not None:
        marks = shown

        def as_shown(i: int, row: Sequence[Any]) -> list[Any]:
            out = []
            for j, c in enumerate(row):
                number_format = getattr(c, "number_format", None)
                if _shown_scale(c.value, number_format) > 1:
                    marks.scaled.add((i, j))
                value = _with_currency(c.value, number_format)
                if value is not c.value:
                    marks.currency.add((i, j))
                out.append(value)
            return out

        it: Iterator[Sequence[Any]] = (as_shown(i, r) for i, r in enumerate(sheet.iter_rows()))
    else:
        it = sheet.iter_rows(values_only=True)
    top = [[_sheet_cell(v) for v in row] for row in itertools.islice(it, 10)]
    at = title_rows(top, score)
    header = top[at] if top else []
    if score is not None:
        at, header = two_row_header(top, at, score)
    while header and not header[-1]:
        header.pop()
    out = [header]
    rest = ([_sheet_cell(v) for v in row] for row in it)
    for i, row in enumerate(itertools.chain(top[at + 1 :], rest)):
        if nrows is not None and i >= nrows:
            break
        cells = row[: len(header)]
        out.append(cells + [""] * (len(header) - len(cells)))
    return (out if header else []), at


def two_row_header(
    top: list[list[str]], at: int, score: Callable[[list[str]], int]
) -> tuple[int, list[str]]:
    """The header row ``at`` of the first rows ``top``, or a two-row header it is part of:
    names merged over both rows ("Deal ID" over A1:A2) are written in the upper row only,
    beside group captions ("Dates" over D1:E1) above the names they group. Two rows are one
    header where their merge (the lower row's name, else the upper's) names more deal fields
    than either row alone; then the lower row's index."""
    for upper in (at - 1, at):
        if upper < 0 or upper + 1 >= len(top):
            continue
        up, low = top[upper], top[upper + 1]
        merged = [lo if lo.strip() else u for u, lo in itertools.zip_longest(up, low, fillvalue="")]
        if score(merged) > max(score(up), score(low)):
            return upper + 1, merged
    return at, top[at] if top else []


def title_rows(top: list[list[str]], score: Callable[[list[str]], int] | None = None) -> int:
    """How many of a table's first rows ``top`` are above its header. The header is the first
    row with two or more non-blank cells when the first has one at most (a report's title, a
    blank line), else the first row; but with ``score`` (how many deal fields a row's cells
    name), a row further down that names more of them is the header (above it, a row of merged
    group captions such as "Deal | | Dates |" has two cells and names none)."""
    filled = [sum(1 for c in row if c.strip()) for row in top]
    at = 0 if not filled or filled[0] >= 2 else next((i for i, n in enumerate(filled) if n >= 2), 0)
    if score is None or not top:
        return at
    scores = [score(row) for row in top]
    best = max(range(len(top)), key=lambda i: (scores[i], -i))
    return best if scores[best] > scores[at] else at


# a number format's currency: "[$€-407]" / "[$EUR]" (Excel's currency tag), or a sign written
# as a literal ("€", "\€", '"¥"'); other text, and [colour] / [condition] tags, name none
_CURRENCY_TAG = re.compile(r"\[\$([^\]-]+)(?:-([^\]]*))?\]")
# the tag's Windows locale id decides a sign several currencies share (Excel writes
# "[$$-409]" for US dollars, "[$$-1009]" for Canadian ones, "[$¥-804]" for yuan)
_LOCALE_CURRENCY = {("$", "409"): "USD", ("$", "1009"): "CAD", ("$", "c09"): "AUD",
                    ("$", "1409"): "NZD", ("$", "4809"): "SGD", ("$", "c04"): "HKD",
                    ("$", "404"): "TWD", ("$", "80a"): "MXN", ("$", "2c0a"): "ARS",
                    ("$", "340a"): "CLP", ("$", "240a"): "COP", ("$", "3409"): "PHP",
                    ("¥", "804"): "CNY", ("¥", "411"): "JPY", ("￥", "804"): "CNY",
                    ("￥", "411"): "JPY", ("kr", "41d"): "SEK", ("kr", "414"): "NOK",
                    ("kr", "814"): "NOK", ("kr", "406"): "DKK", ("kr", "40f"): "ISK",
                    ("kr.", "406"): "DKK"}  # fmt: skip
_QUOTED = re.compile(r'"[^"]*"')
_SIGNS = {"€": "EUR", "£": "GBP", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY", "₪": "ILS",
          "₫": "VND", "₱": "PHP", "฿": "THB", "¥": "¥", "￥": "¥", "$": "$"}  # fmt: skip
# signs of more than one character a tag may hold ("[$R$-416]", Google Sheets' "[$CA$]")
_TAG_SIGNS = {"R$": "BRL", "zł": "PLN", "CA$": "CAD", "C$": "CAD", "A$": "AUD", "AU$": "AUD",
              "US$": "USD", "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "NT$": "TWD", "MX$": "MXN",
              "Kč": "CZK", "Ft": "HUF", "lei": "RON", "руб.": "RUB", "₴": "UAH", "Fr.": "CHF",
              "CHF": "CHF", "元": "CNY", "円": "JPY", "원": "KRW"}  # fmt: skip


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown_scale(value: Any, number_format: str | None) -> int:
    """How many times smaller a number's format shows it: 1000 for each comma right after
    its last digit placeholder (``#,##0,"K"``, ``0.0,,"M"``, the ``0!.0,"万"`` of Chinese
    sheets); 1 for text, or a format that does not scale."""
    if not number_format or not _is_number(value):
        return 1
    first = _QUOTED.sub("", number_format).split(";", 1)[0]
    plain = re.sub(r"\[[^\]]*\]|[\\!].", "", first)  # tags, and escaped characters
    m = re.search(r"[0#?](,+)(?![0#?,])", plain)
    return 1000 ** len(m.group(1)) if m else 1


def _with_currency(value: Any, number_format: str | None) -> Any:
    """A numeric cell's value with the currency its format shows it in (``12500.5 EUR``;
    ``¥`` and ``$``, each the sign of several currencies, as signs unless the tag's locale
    says which): Excel keeps the number and shows the currency only through the format, as
    a text export would write it."""
    if not number_format or not _is_number(value):
        return value
    tag = _CURRENCY_TAG.search(number_format)
    if tag is not None:
        found = tag.group(1).strip()
        lcid = (tag.group(2) or "").lower().removeprefix("x-")
        found = _LOCALE_CURRENCY.get((found, lcid), _TAG_SIGNS.get(found, found))
    else:
        quoted = [q[1:-1].strip() for q in _QUOTED.findall(number_format)]
        # "_€" pads by the width of a € and "*x" fills with x: layout, not a currency
        bare = re.sub(r"\[[^\]]*\]|[_*].", "", _QUOTED.sub("", number_format)).replace("\\", "")
        named = [q for q in quoted if q in _TAG_SIGNS or _is_currency_code(q)]
        found = named[0] if named else next((c for c in "".join(quoted) + bare if c in _SIGNS), "")
        found = _TAG_SIGNS.get(found, found)
    code = _SIGNS.get(found, found if _is_currency_code(found) else "")
    return value if not code else f"{_sheet_cell(value)} {code}"


@functools.cache
def _is_currency_code(text: str) -> bool:
    """Whether ``text`` is an ISO 4217 code (Babel's list: "EUR", not "PCS" or "QTY")."""
    if not re.fullmatch(r"[A-Z]{3}", text):
        return False
    from babel.numbers import list_currencies

    return text in list_currencies()


def _sheet_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _open_error(exc: OSError, name: str, what: str) -> ScenarioError:
    if exc.errno == errno.ENOENT:
        return ScenarioError([Problem("no such file", file=name, hint="check the path")])
    if exc.errno == errno.EISDIR:
        return ScenarioError([Problem(f"is a directory, not a {what}", file=name)])
    if exc.errno in (errno.EACCES, errno.EPERM):
        hint = "check the file's permissions"
        return ScenarioError([Problem("cannot be read (permission denied)", file=name, hint=hint)])
    return ScenarioError([Problem(f"cannot be read ({exc.strerror or exc})", file=name)])


def _kind(mode: int) -> str:
    kinds: Sequence[tuple[object, str]] = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    for test, label in kinds:
        if test(mode):  # type: ignore[operator]
            return label
    return "not a plain file"
