"""What every source reader hands to the shared cleaning rules of the importer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd

from simsales.calibrate.mapping import Labels, Shape
from simsales.calibrate.quality import Action
from simsales.calibrate.sources.currency import Rates

__all__ = ["Note", "Records"]


class Note(NamedTuple):
    """A data-quality entry a source made itself (a plain ``(rule, message)`` pair is an info
    note on one row); ``action`` as the report's (dropped, kept, info)."""

    rule: str
    message: str
    action: Action = "info"
    rows: int = 1
    examples: tuple[str, ...] = ()


@dataclass
class Records:
    """A source's rows under canonical field names (text as exported), before cleaning.

    ``rows`` has a column per canonical field the source has, plus ``_line`` (line in its
    file) and ``_file``. ``shape`` says what a row is: one opportunity, or one stage change
    (then ``attributes``, if given, holds one row per deal: its current owner, account, ...).
    """

    source: str
    shape: Shape
    rows: pd.DataFrame
    names: dict[str, str]  # field -> the export's column, for messages
    labels: Labels = field(default_factory=Labels)
    stage_order: tuple[str, ...] | None = None  # open stage labels in process order
    order_reason: str = "given by the mapping"
    attributes: pd.DataFrame | None = None
    currency: str | None = "USD"  # None: the export's commonest code (see importer._convert)
    rates: Rates | None = None
    date_format: str | None = None
    timezone: str | None = None
    stage_probability: dict[str, float] = field(default_factory=dict)  # label -> 0-1
    stage_forecast: dict[str, str] = field(default_factory=dict)  # label -> category
    efforts: pd.DataFrame | None = None  # deal, person, hours, at (text)
    open_values: bool = False
    notes: Sequence[tuple[str, str] | Note] = field(default_factory=list)  # (rule, message): info
    catalog: dict[str, float] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)  # source state -> stage label
    # a workbook's cells whose numbers it shows scaled (#,##0,"K"): whole amounts; by column,
    # the rows' labels
    shown_scaled: Mapping[str, frozenset[int]] = field(default_factory=dict)
