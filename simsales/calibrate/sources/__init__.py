"""One reader per source, each a declared variable map onto the canonical fields.

- :mod:`~simsales.calibrate.sources.salesforce`: a data-export folder (Opportunity.csv,
  OpportunityHistory.csv, CurrencyType.csv, DatedConversionRate.csv, OpportunityStage.csv);
- :mod:`~simsales.calibrate.sources.hubspot`: a deals export with ``hs_v2_date_entered_*``;
- :mod:`~simsales.calibrate.sources.pingcode` / :mod:`~simsales.calibrate.sources.worktile`:
  work items with their state transition histories and workloads;
- :mod:`~simsales.calibrate.sources.generic`: the column-mapping presets (maven,
  opportunities, stage-changes) and any ``--mapping`` file.

A source is recognised from its headers (or the folder's file names) unless ``--preset`` names
it. Every reader returns :class:`~simsales.calibrate.importer.Records`; the shared cleaning
rules of :mod:`simsales.calibrate.importer` turn them into a History.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from types import ModuleType
from typing import Any

from simsales.calibrate.choices import ALL_PRESETS, SOURCE_NAMES
from simsales.calibrate.mapping import load_mapping
from simsales.calibrate.sources import closed, generic, hubspot, pingcode, salesforce, worktile
from simsales.calibrate.sources.files import read_table
from simsales.calibrate.sources.records import Records
from simsales.errors import Problem, ScenarioError

__all__ = ["ALL_PRESETS", "SOURCES", "read_records"]

SOURCES: dict[str, ModuleType] = {
    "salesforce": salesforce,
    "hubspot": hubspot,
    "pingcode": pingcode,
    "worktile": worktile,
}
assert tuple(SOURCES) == SOURCE_NAMES  # the CLI lists the names without importing the readers


_TABLES = (".csv", ".xlsx", ".xlsm", ".json", ".jsonl", ".ndjson", ".txt")


def read_records(
    path: Path,
    mapping: Any = None,
    *,
    preset: str | None = None,
    mapping_file: str | Path | None = None,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    timezone: str | None = None,
    currency: str | None = None,
) -> Records:
    """The source's records: ``preset`` names the source, else it is recognised; closed stages
    with names no label knows are then read from their rows' CRM fields
    (:mod:`~simsales.calibrate.sources.closed`)."""
    return closed.by_evidence(_read(path, mapping, preset, mapping_file, columns, encoding,
                                    timezone, currency))  # fmt: skip


def _read(
    path: Path,
    mapping: Any,
    preset: str | None,
    mapping_file: str | Path | None,
    columns: dict[str, str] | None,
    encoding: str | None,
    timezone: str | None,
    currency: str | None,
) -> Records:
    if preset is not None and preset not in ALL_PRESETS:
        hint = difflib.get_close_matches(preset, ALL_PRESETS, n=1)
        raise ScenarioError(
            [
                Problem(
                    f"unknown preset {preset!r}",
                    hint=f"did you mean {hint[0]!r}?"
                    if hint
                    else f"use one of {', '.join(ALL_PRESETS)}",
                )
            ]
        )
    options = {"encoding": encoding, "timezone": timezone, "currency": currency,
               "mapping_file": mapping_file, "columns": columns}  # fmt: skip
    if path.is_dir():
        if preset is None:
            preset = next((n for n, s in SOURCES.items() if s.detect_folder(path)), None)
        if preset not in SOURCES:
            tables = sorted(p.name for p in path.iterdir() if p.suffix.lower() in _TABLES)
            has = f"it has {', '.join(tables[:6])}{' ...' if len(tables) > 6 else ''}; "
            stems = {Path(t).stem.lower() for t in tables}
            for needs, beside in (("work_items", "transition_histories"),
                                  ("tasks", "state_changes")):  # fmt: skip
                if beside in stems and needs not in stems:
                    has += f"{beside} needs {needs} beside it; "
            raise ScenarioError(
                [
                    Problem(
                        "a folder is read only as a Salesforce data export (Opportunity.csv, "
                        "OpportunityHistory.csv, ...), a PingCode export (work_items and "
                        "transition_histories) or a Worktile one (tasks and state_changes)",
                        file=str(path),
                        hint=(has if tables else "it has no CSV, .xlsx or .json file; ")
                        + "give one export file instead, or the folder of a whole export",
                    )
                ]
            )
        return SOURCES[preset].read(path, **options)
    if preset in SOURCES:
        return SOURCES[preset].read(path, **options)
    frame, used = read_table(path, encoding)
    # a mapping file that names no columns (states, labels, timezone ...) is a source's too: it
    # must not turn a Salesforce or HubSpot export into a generic one, read as something else
    generic_mapping = mapping_file is not None and bool(
        {"columns", "shape"} & set(load_mapping(mapping_file))
    )
    if preset is None and mapping is None and not generic_mapping:
        header = list(frame.columns)
        found = next((n for n, s in SOURCES.items() if s.detect(header)), None)
        # a PingCode / Worktile file is one of its export's files: alone, a log read generically
        folder_only = found in ("pingcode", "worktile") and not SOURCES[found].detect_folder(
            path.parent
        )
        # a Salesforce Opportunity file with no history beside it: one row per deal
        folder_only |= found == "salesforce" and not salesforce.has_history(path, header)
        if found is not None and not folder_only:
            return SOURCES[found].read(path, frame=frame, **options)
    note = None if used == "utf-8-sig" else f"read as {used}"
    return generic.read(path, frame, note, mapping, preset, mapping_file, columns, timezone,
                        currency, encoding)  # fmt: skip
