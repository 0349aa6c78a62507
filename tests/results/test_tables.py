"""The one declaration of the Forecast's tables (simsales.results.tables): what the builder makes,
what is saved and what load accepts all follow it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import simsales
from simsales.engine.replication import RepRecords
from simsales.errors import InputOutputError
from simsales.results import tables
from simsales.results.forecast import Forecast

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("deals", "visits", "pools", "capacity", "risks", "inputs")

# record fields no column copies as they are: deal names and row links become deal codes, the
# per-replication inputs become the inputs table's columns
NOT_COPIED = {
    "deal_id",
    "visit_deal",
    "risk_deal",
    "global_cost",
    "global_risk_occurred",
    "arrivals_by_source",
    "uncertainty",
}


@pytest.fixture(scope="module")
def forecast() -> Forecast:
    return simsales.simulate(ROOT / "scenarios" / "enterprise-it.yaml", 4, progress=False)


def test_every_record_field_is_declared_once() -> None:
    record = {f.name for f in dataclasses.fields(RepRecords)}
    copied = [field for name in NAMES for field in tables.record_fields(name)]
    assert len(copied) == len(set(copied))  # no field feeds two columns
    assert set(copied) <= record  # a renamed record field fails here, not in a run
    assert set(copied) | NOT_COPIED == record  # and none is forgotten


def test_built_tables_are_the_declared_ones(forecast: Forecast) -> None:
    for name in NAMES:
        frame = getattr(forecast, name)
        declared = tables.TABLES[name].names
        assert list(frame.columns[: len(declared)]) == declared, name
        assert tables.problems(name, tables.to_arrow(name, frame).schema) == [], name
    assert len(forecast.risks) > 0  # the risks table is checked with rows too


def test_saved_tables_carry_the_schema_version_and_load_back(
    forecast: Forecast, tmp_path: Path
) -> None:
    forecast.save(tmp_path / "run")
    for name in NAMES:
        meta = pq.read_schema(tmp_path / "run" / f"{name}.parquet").metadata
        assert meta[b"schema_version"] == str(tables.SCHEMA_VERSION).encode(), name
    back = Forecast.load(tmp_path / "run")
    for name in NAMES:
        assert list(getattr(back, name).columns) == list(getattr(forecast, name).columns)
    saved = json.loads((tmp_path / "run" / "provenance.json").read_text(encoding="utf-8"))
    assert saved["schema_version"] == tables.SCHEMA_VERSION
    assert back.provenance.keys() == forecast.provenance.keys()  # the version is not a setting


def _rewrite(path: Path, change: pa.Table) -> None:
    pq.write_table(change, path)


def test_load_refuses_another_schema_version_or_a_changed_table(
    forecast: Forecast, tmp_path: Path
) -> None:
    forecast.save(tmp_path / "run")
    path = tmp_path / "run" / "visits.parquet"
    table = pq.read_table(path)
    meta = dict(table.schema.metadata) | {b"schema_version": b"99"}
    _rewrite(path, table.replace_schema_metadata(meta))
    with pytest.raises(InputOutputError, match="schema version 99, but this simsales reads"):
        Forecast.load(tmp_path / "run")
    _rewrite(path, table.drop_columns(["exit"]))
    with pytest.raises(InputOutputError, match=r"not a visits table .*missing column 'exit'"):
        Forecast.load(tmp_path / "run")
    _rewrite(path, table.set_column(3, "visit", table["visit"].cast(pa.string())))
    with pytest.raises(InputOutputError, match="column 'visit' is string, not int32"):
        Forecast.load(tmp_path / "run")


def test_describe_lists_every_column_with_its_meaning() -> None:
    text = tables.describe("deals")
    assert text.splitlines()[0].startswith("replication: int32 - ")
    assert len(text.splitlines()) == len(tables.TABLES["deals"])
