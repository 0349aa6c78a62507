"""Exports as they come from the field: each case once gave an internal error or a silently
wrong answer. Built from the synthetic Maven-shaped export of ``calib_helpers``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from calib_helpers import truth
from typer.testing import CliRunner

from simsales.calibrate.calibrate import calibrate
from simsales.calibrate.importer import read_history
from simsales.calibrate.synthetic import opportunity_rows
from simsales.commands.common import json_text
from simsales.errors import ScenarioError, SimsalesError

SALESFORCE = Path(__file__).resolve().parents[1] / "data" / "salesforce"


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return opportunity_rows(truth(), "2021-03-31", seed=3)


def _write(frame: pd.DataFrame, path: Path, sep: str = ",") -> Path:
    frame.to_csv(path, index=False, sep=sep)
    return path


def test_an_export_without_open_deals_has_an_empty_pipeline(
    rows: pd.DataFrame, tmp_path: Path
) -> None:
    closed = rows[rows["deal_stage"] != "Engaging"]
    c = calibrate(read_history(_write(closed, tmp_path / "closed.csv")), "2021-03-31")
    assert list(c.pipeline) == [] and c.scenario()["pipeline"] == []


def test_nothing_usable_is_one_error_saying_what_was_dropped(
    rows: pd.DataFrame, tmp_path: Path
) -> None:
    bad = rows.head(6).assign(engage_date="someday", close_date="")
    with pytest.raises(
        ScenarioError, match="no usable deals in the export: every row was dropped: 6 bad_date"
    ):
        read_history(_write(bad, tmp_path / "bad.csv"))
    with pytest.raises(ScenarioError, match="it has no rows"):
        read_history(_write(rows.head(0), tmp_path / "header.csv"))


def test_an_as_of_before_any_close_is_an_error(rows: pd.DataFrame, tmp_path: Path) -> None:
    h = read_history(_write(rows, tmp_path / "h.csv"))
    first = h.deals["closed"].min()
    with pytest.raises(
        SimsalesError, match=f"no won or lost deal yet \\(its first close is on {first.date()}\\)"
    ):
        calibrate(h, str(first - pd.Timedelta(days=1)))


def test_a_semicolon_csv_with_decimal_commas_reads_like_the_comma_one(
    rows: pd.DataFrame, tmp_path: Path
) -> None:
    comma = read_history(_write(rows, tmp_path / "comma.csv"))
    european = rows.assign(close_value=rows["close_value"].str.replace(".", ",", regex=False))
    semi = read_history(_write(european, tmp_path / "semi.csv", sep=";"))
    pd.testing.assert_frame_equal(comma.deals, semi.deals)


def test_amounts_from_ten_to_the_fifteen_are_not_amounts(
    rows: pd.DataFrame, tmp_path: Path
) -> None:
    won = rows.index[rows["deal_stage"] == "Won"][:2]
    huge = rows.copy()
    huge.loc[won, "close_value"] = ["1e15", "99999999999999999999"]
    h = read_history(_write(huge, tmp_path / "huge.csv"))
    assert h.report.count("bad_value") == 2
    assert h.deals["value"].max() < 1e15


def test_currencies_an_export_has_no_rate_for_and_blank_codes(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="know only EUR, GBP, JPY, USD"):
        read_history(SALESFORCE, currency="XYZ")
    # no CurrencyIsoCode column (a single-currency org): amounts are in the corporate currency
    folder = tmp_path / "sf"
    shutil.copytree(SALESFORCE, folder)
    opp = pd.read_csv(
        folder / "Opportunity.csv", dtype=str, keep_default_na=False, encoding="latin-1"
    )
    opp.drop(columns="CurrencyIsoCode").to_csv(
        folder / "Opportunity.csv", index=False, encoding="latin-1"
    )
    h = read_history(folder)
    issue = next(i for i in h.report.issues if i.rule == "no_currency")
    assert issue.action == "info" and "corporate currency USD" in issue.message


def test_printed_json_is_standard_json() -> None:
    text = json_text({"a": float("nan"), "b": [1.5, float("inf")], "c": (2, "x")})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}")) == {
        "a": None, "b": [1.5, None], "c": [2, "x"],
    }  # fmt: skip


def test_backtest_json_with_an_empty_pipeline_origin(
    cli, rows: pd.DataFrame, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    closed = rows[rows["deal_stage"] != "Engaging"]
    path = _write(closed, tmp_path / "closed.csv")
    res = CliRunner().invoke(
        cli,
        [
            "backtest",
            str(path),
            "--as-of",
            "2021-01-31",
            "--until",
            "2021-03-31",
            "-n",
            "5",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output[res.output.index("{") :])
    assert doc["origins"][0]["actual"]["won"] >= 0
