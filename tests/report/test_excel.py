"""Excel out and in: workbooks read back with openpyxl, tables given as .xlsx read like CSVs."""

from __future__ import annotations

import io
import math
import shutil
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import simsales
from simsales.errors import ScenarioError
from simsales.io.workbook import Sheet, workbook_bytes
from simsales.optimize.people import read_people
from simsales.scenario.load import load

SCENARIOS = Path(__file__).parents[2] / "scenarios"
HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "plain"]


def _minimal_with_names(tmp_path: Path, names: list[str]) -> Path:
    """minimal.yaml whose three deals are called ``names`` (text a spreadsheet could run)."""
    text = (SCENARIOS / "minimal.yaml").read_text(encoding="utf-8")
    for i, name in enumerate(names, start=1):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
        text = text.replace(f"{{id: D-{i}, ", f'{{id: D-{i}, name: "{quoted}", ')
    path = tmp_path / "named.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def forecast(tmp_path_factory: pytest.TempPathFactory) -> simsales.Forecast:
    folder = tmp_path_factory.mktemp("excel")
    scenario = load(_minimal_with_names(folder, HOSTILE[:3]))
    return simsales.simulate(scenario, replications=60, seed=3)


def test_summary_round_trip(forecast: simsales.Forecast, tmp_path: Path) -> None:
    summary = forecast.summary()
    path = summary.to_excel(tmp_path / "s.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["summary", "deals", "periods", "pools", "closing", "about"]
    for ws in book.worksheets:
        assert ws.freeze_panes == "A2"  # the header row stays in view
        assert all(c.font.bold for c in ws[1])
    deals = book["deals"]
    header = [c.value for c in deals[1]]
    assert header == list(summary.deals.columns)
    rows = {r[0].value: r for r in deals.iter_rows(min_row=2)}
    for _, want in summary.deals.iterrows():
        got = rows[want["deal"]]
        cell = dict(zip(header, got, strict=True))
        assert cell["value"].data_type == "n" and cell["value"].value == pytest.approx(
            want["value"]
        )
        assert cell["win_probability"].value == pytest.approx(want["win_probability"])
        assert cell["win_probability"].number_format == "0.0%"
        if want["close_p50"] is not None:
            assert isinstance(cell["close_p50"].value, datetime)
            assert cell["close_p50"].value.date() == want["close_p50"]
            assert cell["close_p50"].number_format == "yyyy-mm-dd"
    revenue = next(r for r in book["summary"].iter_rows(min_row=2) if r[0].value == "revenue")
    mean = summary.portfolio.set_index("metric").loc["revenue", "mean"]
    assert revenue[1].value == pytest.approx(mean) and revenue[1].number_format == "#,##0"


def test_formula_injection_is_neutralised(forecast: simsales.Forecast, tmp_path: Path) -> None:
    path = forecast.to_excel(tmp_path / "f.xlsx")
    deals = openpyxl.load_workbook(path)["deals"]
    names = [r[1] for r in deals.iter_rows(min_row=2)]
    assert sorted(c.value for c in names) == sorted(HOSTILE[:3])  # written as given
    for cell in names:
        assert cell.data_type == "s"  # text, not a formula
        assert cell.quotePrefix  # and Excel keeps it text when the cell is edited


def test_every_formula_start_is_text() -> None:
    sheet = Sheet("deals", pd.DataFrame({"name": HOSTILE, "n": range(6)}))
    book = openpyxl.load_workbook(io.BytesIO(workbook_bytes([sheet])))
    cells = [r[0] for r in book["deals"].iter_rows(min_row=2)]
    assert [c.value for c in cells] == HOSTILE
    assert all(c.data_type == "s" for c in cells)
    assert [c.quotePrefix for c in cells] == [True] * 5 + [False]
    assert [r[1].value for r in book["deals"].iter_rows(min_row=2)] == list(range(6))


def test_chinese_sheet_names_follow_the_scenario(tmp_path: Path) -> None:
    scenario = load(SCENARIOS / "zh-system-integration.yaml")
    forecast = simsales.simulate(scenario, replications=20, seed=1)
    book = openpyxl.load_workbook(forecast.to_excel(tmp_path / "zh.xlsx"))
    assert book.sheetnames[:4] == ["汇总", "商机", "期间", "资源池"]
    english = openpyxl.load_workbook(forecast.to_excel(tmp_path / "en.xlsx", locale="en"))
    assert english.sheetnames[:4] == ["summary", "deals", "periods", "pools"]


def test_an_empty_cell_for_what_is_not_a_number(
    forecast: simsales.Forecast, tmp_path: Path
) -> None:
    summary = forecast.summary()
    book = openpyxl.load_workbook(summary.to_excel(tmp_path / "s.xlsx"))
    periods = book["periods"]
    header = [c.value for c in periods[1]]
    at = header.index("target")
    for row, (_, want) in zip(
        periods.iter_rows(min_row=2), summary.periods.iterrows(), strict=True
    ):
        if math.isnan(want["target"]):
            assert row[at].value is None  # no target: blank, not "nan"


# --- .xlsx inputs ---------------------------------------------------------------------------


def _sheet(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def test_a_pipeline_sheet_reads_like_its_csv(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["id", "type", "stage", "days_in_stage", "value", "target_close"],
        ["D-1", "standard", "qualify", 0, None, None],
        ["D-2", "standard", "propose", 4, 800000, date(2027, 3, 31)],
        ["D-3", "standard", "close", 2.5, 300000.0, None],
    ]
    text = (SCENARIOS / "minimal.yaml").read_text(encoding="utf-8")
    inline = text.split("pipeline:")[0]
    csv_lines = [",".join("" if v is None else str(v) for v in r) for r in rows]
    (tmp_path / "p.csv").write_text("\n".join(csv_lines) + "\n", encoding="utf-8")
    _sheet(tmp_path / "p.xlsx", rows)
    for name in ("csv", "xlsx"):
        (tmp_path / f"{name}.yaml").write_text(
            inline + f"pipeline: {{csv: p.{name}}}\n", encoding="utf-8"
        )
    from_csv, from_xlsx = load(tmp_path / "csv.yaml"), load(tmp_path / "xlsx.yaml")
    assert from_xlsx.deals() == from_csv.deals()
    assert from_xlsx.deals()[1].target_close == date(2027, 3, 31)


def test_a_bad_row_in_a_sheet_names_its_row(tmp_path: Path, main_cli) -> None:  # type: ignore[no-untyped-def]
    _sheet(
        tmp_path / "p.xlsx",
        [["id", "type", "stage", "days_in_stage"], ["D-1", "standard", "qualify", "many"]],
    )
    text = (SCENARIOS / "minimal.yaml").read_text(encoding="utf-8").split("pipeline:")[0]
    (tmp_path / "s.yaml").write_text(text + "pipeline: {csv: p.xlsx}\n", encoding="utf-8")
    result = main_cli("validate", tmp_path / "s.yaml")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.startswith(f"{tmp_path / 'p.xlsx'}:2:")
    assert "days_in_stage: write a number (got 'many')" in result.err


def test_a_people_sheet_reads_like_its_csv(tmp_path: Path) -> None:
    rows: list[list[object]] = [["person", "role", "hours_per_week"], ["王伟", "sales", 40]]
    (tmp_path / "people.csv").write_text("person,role,hours_per_week\n王伟,sales,40\n")
    _sheet(tmp_path / "people.xlsx", rows)
    assert read_people(tmp_path / "people.xlsx", ["sales"]) == read_people(
        tmp_path / "people.csv", ["sales"]
    )


def test_a_damaged_workbook_is_a_located_error(tmp_path: Path) -> None:
    broken = tmp_path / "people.xlsx"
    shutil.copyfile(SCENARIOS / "minimal.yaml", broken)  # not a zip: not a workbook
    with pytest.raises(ScenarioError, match="cannot read the workbook"):
        read_people(broken, ["sales"])
