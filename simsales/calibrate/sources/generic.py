"""The column-mapping shapes: Maven's ``sales_pipeline.csv``, a generic one-row-per-opportunity
export and a generic stage-changes file (see :mod:`simsales.calibrate.mapping`): the mapping is
the declared variable map from the export's columns to the canonical fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simsales.calibrate.mapping import ColumnMapping, resolve_mapping
from simsales.calibrate.sources.files import read_table
from simsales.calibrate.sources.parse import parse_numbers
from simsales.calibrate.sources.records import Records
from simsales.errors import Problem, ScenarioError

__all__ = ["canonical", "read"]


def canonical(frame: pd.DataFrame, variables: dict[str, str], file: str = "") -> pd.DataFrame:
    """The rows under canonical field names (``variables``: field -> column), with their line
    numbers (the header is line 1)."""
    out = pd.DataFrame({f: frame[c] for f, c in variables.items() if c in frame.columns})
    out["_line"] = np.arange(len(frame)) + 2
    out["_file"] = file
    return out


def read(
    path: Path,
    frame: pd.DataFrame,
    encoding_note: str | None,
    mapping: ColumnMapping | dict[str, Any] | None,
    preset: str | None,
    mapping_file: str | Path | None,
    columns: dict[str, str] | None,
    timezone: str | None,
    currency: str | None,
    encoding: str | None,
) -> Records:
    header = list(frame.columns)
    if isinstance(mapping, ColumnMapping):
        m = mapping
    else:
        m = resolve_mapping(preset, mapping if mapping is not None else mapping_file, columns,
                            header=header)  # fmt: skip
    notes = [("encoding", encoding_note)] if encoding_note else []
    return Records(
        source=str(path),
        shape=m.shape,
        rows=canonical(frame, m.columns),
        names=dict(m.columns),
        labels=m.labels,
        stage_order=m.stage_order,
        currency=currency or m.currency,
        date_format=m.date_format,
        timezone=timezone or m.timezone,
        catalog=_catalog(path, m, encoding),
        notes=notes,
    )


def _catalog(path: Path, m: ColumnMapping, encoding: str | None) -> dict[str, float]:
    spec = m.catalog
    if spec is None:
        return {}
    file = path.parent / spec.file
    if not file.exists():
        if spec.optional:
            return {}
        raise ScenarioError([Problem("catalog file not found", "catalog.file", str(file))])
    cat, _ = read_table(file, encoding)
    for col in (spec.product, spec.price):
        if col is not None and col not in cat.columns:
            raise ScenarioError(
                [Problem(f"no column {col!r} in the catalog", "catalog", str(file))]
            )
    prices = parse_numbers(cat[spec.price]) if spec.price else pd.Series(np.nan, index=cat.index)
    return {str(n): float(p) for n, p in zip(cat[spec.product], prices, strict=True) if n}
