"""How a CRM export's columns and labels map to simsales' history fields.

Two shapes of export are understood:

- ``opportunities``: one row per opportunity, with the date it was created (optional), the date
  it was engaged (work began) and the date it closed, its current stage and its value. Two phases
  come out of it: ``prospecting`` (created -> engaged, only when a created column is mapped) and
  ``engaging`` (engaged -> closed).
- ``stage_changes``: one row per stage entered, with a timestamp (and optionally an outcome). The
  stages are the open stage labels in ``stage_order`` (or in order of first appearance).

A mapping is a small YAML file (or a preset, or CLI ``--column field=COLUMN`` flags)::

    shape: opportunities
    columns: {id: opportunity_id, owner: sales_agent, product: product, account: account,
              stage: deal_stage, engaged: engage_date, closed: close_date, value: close_value}
    labels: {won: [Won], lost: [Lost], open: [Prospecting, Engaging]}
    catalog: {file: products.csv, product: product, price: sales_price}   # optional
    teams: {file: sales_teams.csv, owner: sales_agent, team: manager}     # optional

A field may take a list of columns, whose first non-blank value is used: ``closed: [Won time,
Lost time]`` for an export (Pipedrive) that writes a deal's win and its loss in two columns.
Labels and column names are matched ignoring case, spaces and punctuation, and with Traditional
Chinese read as Simplified (an export from a Taiwan or Hong Kong CRM writes 商機名稱 and 贏單
where the defaults say 商机名称 and 赢单): OpenCC's ``t2s`` conversion, a well-kept table of
character and variant pairs, rather than a list of our own. Every default lives in this module.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from simsales.calibrate.presets import PRESETS
from simsales.errors import Problem, ScenarioError, format_path
from simsales.scenario.yaml_source import read_yaml

__all__ = [
    "FIELDS",
    "PRESETS",
    "Catalog",
    "ColumnMapping",
    "Labels",
    "Teams",
    "columns_text",
    "label_key",
    "label_key_plain",
    "label_keys",
    "load_mapping",
    "resolve_mapping",
]

Shape = Literal["opportunities", "stage_changes"]

# Every history field a column can feed, and what it means.
FIELDS: dict[str, str] = {
    "id": "opportunity id (required)",
    "stage": "stage label (required): an open stage, or a won / lost label",
    "created": "opportunities: date the opportunity was created (optional)",
    "engaged": "opportunities: date work on it began (required)",
    "closed": "opportunities: date it was won or lost",
    "entered": "stage_changes: timestamp the stage was entered (required)",
    "outcome": "stage_changes: won / lost label on the closing row (optional)",
    "from_stage": "stage_changes: the stage a change left (optional; a deal's first change "
    "gives the stage it began in, entered when it was created)",
    "status": "opportunities: open / won / lost, where the export keeps it apart from the stage "
    "(optional; it decides where it says won or lost)",
    "lost_reason": "opportunities: why a deal was lost (optional; with a close date, a deal "
    "not won that has one is lost)",
    "active": "opportunities: true / false, whether the deal is still active (optional; Odoo "
    "archives a lost deal: one not active, not won, with a date in an actual-close column such "
    "as Odoo's Closed Date, is lost)",
    "value": "contract value (of won deals; an estimate for open ones)",
    "product": "product or deal type",
    "owner": "sales agent / owner",
    "account": "customer account",
    "segment": "customer segment",
    "team": "sales team",
    "currency": "ISO code of the value's currency (default: the mapping's currency)",
    "expected_close": "the CRM's expected close date (as known in that row)",
    "probability": "the CRM's win probability, 0-1 or 0-100 %",
    "forecast_category": "the CRM's forecast category (pipeline, best case, commit, ...)",
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "opportunities": ("id", "stage", "engaged", "closed"),
    "stage_changes": ("id", "stage", "entered"),
}


# the fields only a stage_changes history reads, and what a row-per-deal export names instead
_HISTORY_ONLY: dict[str, str | None] = {
    "entered": None,
    "from_stage": None,
    "outcome": "status (won / lost / open: --column status=COLUMN)",
}

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")  # CJK ideographs (and compatibility forms)


def label_key(text: object) -> str:
    """The key two spellings of a label or name share: case, spaces and punctuation ignored,
    Traditional Chinese characters read as Simplified (see the module docstring)."""
    return _key(str(text))


@functools.lru_cache(maxsize=1 << 16)  # called per distinct label, often many times over
def _key(text: str) -> str:
    if _HAN.search(text):
        text = _simplified()(text)
    return label_key_plain(text)


def label_keys(*names: str) -> frozenset[str]:
    """The keys of several spellings (:func:`label_key`), to test a label against them."""
    return frozenset(map(label_key, names))


def label_key_plain(text: object) -> str:
    """:func:`label_key` without the Traditional-to-Simplified reading (where they differ, the
    text is written in Traditional characters)."""
    return "".join(ch for ch in str(text).casefold() if ch.isalnum())


@functools.cache
def _simplified() -> Callable[[str], str]:
    import opencc  # imported only when a label has hanzi

    convert: Callable[[str], str] = opencc.OpenCC("t2s").convert
    return convert


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Labels(_Frozen):
    """Stage labels as they appear in the export."""

    # English (Bitrix24's "Deal won"), Chinese, Japanese (Salesforce's 成立 / 不成立, 受注 /
    # 失注), Korean, Russian (Bitrix24, amoCRM), and German, French, Spanish and Portuguese
    # (Salesforce's and HubSpot's translated closed stages, Pipedrive's statuses) spellings
    # 中标 / 未中标: a tender won / not won (project sales by bid); 已赢得: Odoo's Chinese won
    # stage; Bitrix24's stage ids WON / LOSE / APOLOGY ("Analyze failure", Russian "Анализ
    # причины провала", its second lost one);
    # 战败 / 失单: a lost deal in Chinese dealer CRMs; Sold / Dead: a deal won / lost in
    # real-estate and dealer CRMs. A bare 签约 (signing) is no close: a stage may be named so
    # before the contract is signed (已签约: signed)
    won: tuple[str, ...] = ("Won", "Closed Won", "Deal won", "赢单", "成交", "已成交", "已赢单",
                            "已赢得", "中标", "已中标", "Win",
                            "成立", "受注", "成約", "수주", "성사", "성공", "Сделка успешна",
                            "Успешно реализовано", "Выиграна", "Gewonnen",
                            "Geschlossen und gewonnen", "Abgeschlossen und gewonnen", "Gagné",
                            "Gagnée", "Fermée gagnée", "Conclue gagnée", "Ganado", "Ganada",
                            "Cerrada ganada", "Cierre ganado", "Ganho", "Ganha",
                            "Fechado ganho", "Fechada ganha", "Negócio fechado",
                            # HubSpot's and Zoho's Chinese, Korean and Italian closed stages
                            "交易成功", "赢得", "已签约", "签约成功", "结束-赢单", "关闭-赢单",
                            "계약 성사", "Chiusa vinta", "Chiuso vinto", "Vinta", "Vinto",
                            # RD Station's Vendida, and Polish, Turkish, Swedish, Danish /
                            # Norwegian and Dutch words for a deal won
                            "Vendida", "Vendido", "Wygrana", "Wygrany", "Kazanıldı",
                            "Kazanılan", "Vunnen", "Vunnet", "Vundet", "Gesloten gewonnen",
                            "Sold")  # fmt: skip
    lost: tuple[str, ...] = ("Lost", "Closed Lost", "Deal lost", "Canceled", "Cancelled",
                             "Out-Sold", "Disqualified", "Unqualified", "Abandoned", "输单",
                             "丢单", "已输单", "已丢单", "失败", "成交失败", "丢失", "取消",
                             "已取消", "无效", "不成立", "未中标", "落标", "因竞争失败",
                             "失注", "실주", "실패",
                             "Сделка провалена", "Закрыто и не реализовано", "Проиграна",
                             "Verloren", "Geschlossen und verloren",
                             "Abgeschlossen und verloren", "Perdu", "Perdue", "Fermée perdue",
                             "Conclue perdue", "Perdido", "Perdida", "Cerrada perdida",
                             "Cierre perdido", "Fechado perdido", "Fechada perdida",
                             "Negócio perdido", "LOSE", "APOLOGY", "Loss",
                             "Analyze failure", "Анализ причины провала",
                             "交易失败", "已失败", "失单", "战败", "结束-丢单", "关闭-输单",
                             "关闭-丢单", "계약 실패", "Chiusa persa", "Chiuso perso", "Persa",
                             "Perso", "Przegrana", "Przegrany", "Kaybedildi", "Kaybedilen",
                             "Förlorad", "Förlorat", "Tabt", "Tapt", "Gesloten verloren",
                             "Dead")  # fmt: skip
    open: tuple[str, ...] | None = Field(
        None, description="open stage labels, in process order; None: any other label is open"
    )


class Catalog(_Frozen):
    """An optional product list (name, list price) that names products authoritatively."""

    file: str = Field(min_length=1, description="CSV path, relative to the history file")
    product: str = "product"
    price: str | None = "sales_price"
    optional: bool = Field(False, description="silently skip the catalog if the file is absent")


class Teams(_Frozen):
    """An optional owner -> team table (e.g. Maven's sales_teams.csv): fills ``team``."""

    file: str = Field(min_length=1, description="CSV path, relative to the history file")
    owner: str = "sales_agent"
    team: str = "manager"
    optional: bool = Field(False, description="silently skip the table if the file is absent")


class ColumnMapping(_Frozen):
    shape: Shape = "opportunities"
    columns: dict[str, str | tuple[str, ...]] = Field(
        default_factory=dict,
        description="field -> CSV column, or a list of columns whose first non-blank value is "
        "taken (closed: [Won time, Lost time], as Pipedrive writes the two)",
    )
    labels: Labels = Field(default_factory=Labels)
    stage_order: tuple[str, ...] | None = Field(
        None, description="stage_changes: open stage labels in process order"
    )
    date_format: str | None = Field(None, description="strftime format; default ISO 8601")
    catalog: Catalog | None = None
    teams: Teams | None = None
    currency: str = Field("USD", min_length=1, max_length=8)
    timezone: str | None = Field(None, description="IANA zone timestamps are converted to")
    states: dict[str, str] | None = Field(
        None, description="source state / stage label -> stage label (several may share one)"
    )
    pipeline: str | None = Field(
        None,
        description="the pipeline to read where the export mixes several, by its id or name "
        "(Bitrix24's CATEGORY_ID, its UI's Pipeline; default: the one with most deals)",
    )
    _recognised: bool = PrivateAttr(False)  # built on the columns recognised by their names
    _completed: dict[str, str] = PrivateAttr(default_factory=dict)  # added to a preset by name

    @property
    def recognised(self) -> bool:
        return self._recognised

    @property
    def completed(self) -> dict[str, str]:
        """The fields a preset lacked that columns recognised by their names gave."""
        return dict(self._completed)

    @field_validator("pipeline", mode="before")
    @classmethod
    def _pipeline_text(cls, value: object) -> object:
        # YAML reads `pipeline: 1` as a number; the export's ids are text
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _check(self) -> ColumnMapping:
        if self.date_format is not None:
            _check_date_format(self.date_format)
        unknown = [f for f in self.columns if f not in FIELDS]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], list(FIELDS), n=1)
            raise ValueError(
                f"unknown field {unknown[0]!r} in columns"
                + (f" (did you mean {hint[0]!r}?)" if hint else f"; fields: {', '.join(FIELDS)}")
            )
        # a stage history's own fields mean nothing in a row per deal: never read silently
        foreign = [f for f in _HISTORY_ONLY if f in self.columns and self.shape != "stage_changes"]
        if foreign:
            instead = _HISTORY_ONLY[foreign[0]]
            raise ValueError(
                f"{foreign[0]} is a field of stage_changes (a row per stage change); a row per "
                f"deal has no use for it" + (f": name the column as {instead}" if instead else "")
            )
        missing = [f for f in _REQUIRED[self.shape] if f not in self.columns]
        if missing:
            raise ValueError(
                f"shape {self.shape} needs a column for {', '.join(missing)}; "
                f"map it with columns: {{{missing[0]}: <CSV column>}} or --column {missing[0]}=..."
            )
        return self

    def column(self, field: str) -> str | tuple[str, ...] | None:
        return self.columns.get(field)

    def names(self) -> dict[str, str]:
        """Each field's column(s), as the user wrote them, for messages."""
        return {f: c if isinstance(c, str) else " / ".join(c) for f, c in self.columns.items()}


def load_mapping(path: str | Path) -> dict[str, Any]:
    """The raw mapping in a YAML file (validated later by :func:`resolve_mapping`)."""
    data, _ = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError([Problem("a column mapping must be a mapping of keys", file=str(path))])
    if isinstance(fmt := data.get("date_format"), str):  # every reader applies it: check it once
        try:
            _check_date_format(fmt)
        except ValueError as exc:
            raise ScenarioError([Problem(str(exc), "date_format", str(path))]) from None
    return data


def resolve_mapping(
    preset: str | None = None,
    mapping: str | Path | dict[str, Any] | None = None,
    columns: dict[str, str] | None = None,
    header: list[str] | None = None,
    fallback: dict[str, Any] | None = None,
) -> ColumnMapping:
    """Preset, then the mapping file, then column flags, each overriding the one before.

    With no preset and no mapping that names columns (one may set only ``date_format``,
    ``labels`` or ``timezone``), the first preset whose required columns all appear in
    ``header`` is used (``maven`` first), so a Maven export needs no flags; with none,
    ``fallback`` (the columns recognised by their names, :mod:`simsales.calibrate.headers`) is
    the base. A preset's optional columns that the header lacks are dropped, and the fields it
    lacks that the header's names give (of the same shape) are added: a stage-changes file's
    value and product columns; so are a mapping file's that names some columns (only
    ``closed: [date_won, date_lost]``). Columns named by a file or a flag must exist.
    """
    name: str | None = None  # a mapping file's name; None: the export's is said instead
    if mapping is not None and not isinstance(mapping, dict):
        name = str(mapping)
        mapping = load_mapping(mapping)
    names_columns = mapping is not None and ("columns" in mapping or "shape" in mapping)
    if preset is None and not names_columns and header is not None:
        preset = next((name for name, p in PRESETS.items() if _fits(p, header)), None)
    raw: dict[str, Any] = {}
    recognised = False
    completed: dict[str, str] = {}
    if preset is not None:
        if preset not in PRESETS:
            hint = difflib.get_close_matches(preset, list(PRESETS), n=1)
            raise ScenarioError(
                [
                    Problem(
                        f"unknown preset {preset!r}",
                        hint=f"did you mean {hint[0]!r}?"
                        if hint
                        else f"use one of {', '.join(PRESETS)}",
                    )
                ]
            )
        raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in PRESETS[preset].items()}
        if header is not None:
            required = _REQUIRED[raw["shape"]]
            raw["columns"] = {
                f: c for f, c in raw["columns"].items() if f in required or c in header
            }
        if fallback is not None and fallback.get("shape") == raw["shape"]:
            used = set(raw["columns"].values())
            for f, c in fallback.get("columns", {}).items():  # fields the preset lacks
                if f not in raw["columns"] and isinstance(c, str) and c not in used:
                    raw["columns"][f] = completed[f] = c
    elif recognised := (fallback is not None and not names_columns):
        raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in fallback.items()}
    if mapping is not None:
        raw = _merge(raw, mapping)
    if (
        names_columns
        and fallback is not None
        and fallback.get("shape") == raw.get("shape", "opportunities")
    ):  # a mapping file that names some columns: the others by their names, as for a preset
        cols = raw.setdefault("columns", {})
        used = {c for v in cols.values() for c in ((v,) if isinstance(v, str) else v)}
        used |= set((columns or {}).values())
        for f, c in fallback.get("columns", {}).items():
            if f not in cols and f not in (columns or {}) and isinstance(c, str) and c not in used:
                cols[f] = completed[f] = c
    if columns:
        raw = {**raw, "columns": {**raw.get("columns", {}), **columns}}
    if recognised and fallback is not None:
        _check_recognised(raw, fallback)
    if not raw:
        cols = header or []
        shown = f" ({', '.join(map(repr, cols[:6]))}{', ...' if len(cols) > 6 else ''})"
        raise ScenarioError(
            [
                Problem(
                    "no column mapping: the file's header (its first row)"
                    f"{shown if cols else ''} matches no preset and names no field by a name "
                    "known in English, Chinese, Japanese, Korean or Russian; one row per deal "
                    "needs id, stage, engaged and closed, one row per stage change id, stage "
                    "and entered",
                    hint="name them, e.g. --column id=COLUMN --column stage=COLUMN --column "
                    "engaged=COLUMN --column closed=COLUMN (or --mapping M.yaml, or --preset "
                    f"{' / '.join(PRESETS)})",
                )
            ]
        )
    try:
        result = ColumnMapping.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(
            [
                Problem(str(e["msg"]).removeprefix("Value error, "), format_path(e["loc"]), name)
                for e in exc.errors()
            ]
        ) from None
    if header is not None:
        _check_header(result, header, name, columns or {})
    result._recognised = recognised
    result._completed = {f: c for f, c in completed.items() if result.columns.get(f) == c}
    return result


def columns_text(columns: dict[str, str | tuple[str, ...]]) -> str:
    """``field ← 'Column'`` for each mapped field, for messages."""
    return ", ".join(
        f"{f} ← {c!r}" if isinstance(c, str) else f"{f} ← {' / '.join(map(repr, c))}"
        for f, c in columns.items()
    )


def _check_date_format(fmt: str) -> None:
    """A date_format that pandas and Python read a date back with (``%s``, Unix time, is no
    such code: Unix times are written as dates in the sheet first)."""
    from datetime import datetime

    import pandas as pd

    sample = datetime(2023, 1, 2, 13, 45, 6)
    try:
        pd.to_datetime(pd.Series([sample.strftime(fmt)]), format=fmt)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"date_format {fmt!r} is not a date format pandas reads ({exc}): use Python's "
            "strftime codes (%Y %m %d %H %M %S %b %y %I %p), e.g. '%d.%m.%Y %H:%M'; Unix times "
            "have none: write them as dates in the sheet (=A2/86400+DATE(1970,1,1))"
        ) from None


def _check_recognised(raw: dict[str, Any], fallback: dict[str, Any]) -> None:
    """Columns recognised by their names that leave a required field without one: an error
    that says what was recognised and what to name."""
    shape = raw.get("shape", "opportunities")
    missing = [f for f in _REQUIRED.get(shape, ()) if f not in raw.get("columns", {})]
    if not missing:
        return
    found = columns_text(fallback.get("columns", {}))
    raise ScenarioError(
        [
            Problem(
                f"the file's header (its first row) matches no preset and has no column "
                f"recognised as {f} ({FIELDS[f]}); recognised: {found}",
                f"columns.{f}",
                hint=f"name it with --column {f}=COLUMN or in a --mapping file"
                + (
                    " (a win's date and a loss's in two columns: both, in a --mapping file: "
                    "columns: {closed: [WON_COLUMN, LOST_COLUMN]})"
                    if f == "closed"
                    else ""
                ),
            )
            for f in missing
        ]
    )


def _fits(preset: dict[str, Any], header: list[str]) -> bool:
    cols = preset["columns"]
    if preset is PRESETS["maven"]:  # recognised by its full set of columns
        return all(c in header for c in cols.values())
    return all(cols[f] in header for f in _REQUIRED[preset["shape"]])


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _check_header(
    mapping: ColumnMapping, header: list[str], name: str | None, flags: dict[str, str]
) -> None:
    problems: list[Problem] = []
    # a report saved with a title row above the header: one named column, the rest blank
    named = [h for h in header if h and not h.startswith("Unnamed")]
    title = (
        f"the first row looks like a title ({named[0]!r}), not the header: delete the rows "
        "above the header"
        if len(named) <= 1 and len(mapping.columns) > 1
        else None
    )
    for field, cols in mapping.columns.items():
        for col in (cols,) if isinstance(cols, str) else cols:
            if col in header:
                continue
            hint = difflib.get_close_matches(col, header, n=1)
            flag = flags.get(field) == col  # named by --column, not by the mapping file
            problems.append(
                Problem(
                    f"column {col!r} (for {field}"
                    + (f", given by --column {field}={col}" if flag else "")
                    + ") is not in the file's header (its first row)",
                    f"columns.{field}",
                    None if flag else name,
                    hint=title
                    or (f"did you mean {hint[0]!r}?" if hint else f"columns: {', '.join(header)}"),
                )
            )
    if problems:
        raise ScenarioError(problems)
