"""``simsales init``: a folder to start from, in English or Chinese.

It holds a commented scenario (``scenario.yaml``), its open deals (``pipeline.csv``), and a sample
CRM export (``history.csv``, one row per stage a deal entered, with ``history-mapping.yaml``
naming its columns) for ``simsales calibrate`` and ``backtest``: the stage changes the
scenario's own arrivals and stages make in the three years before its start (one seeded
replication). No existing file is replaced unless ``force``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from simsales.commands.common import console, esc
from simsales.errors import CannotCreateError
from simsales.io import outputs

__all__ = [
    "HISTORY_END",
    "HISTORY_START",
    "STARTER_FILES",
    "Locale",
    "init",
    "register",
    "write_starter",
]

STARTER_FILES = ("scenario.yaml", "pipeline.csv", "history.csv", "history-mapping.yaml")
HISTORY_START, HISTORY_END = date(2024, 1, 1), date(2026, 12, 31)  # the export's years
_SEED = 2026


def write_starter(folder: str | Path, locale: str = "en", *, force: bool = False) -> list[Path]:
    """Write the starter files into ``folder`` (made if missing); return their paths."""
    folder = Path(folder)
    existing = [folder / name for name in STARTER_FILES if (folder / name).exists()]
    if existing and not force:
        shown = ", ".join(p.name for p in existing)
        raise CannotCreateError(
            f"{folder} already holds {shown}; choose another folder, or pass --force to "
            "replace them"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise outputs.environment_error(exc, folder) from None
    data = resources.files("simsales").joinpath("data", "init")
    texts = {
        "scenario.yaml": data.joinpath(f"scenario.{locale}.yaml").read_text(encoding="utf-8"),
        "pipeline.csv": data.joinpath(f"pipeline.{locale}.csv").read_text(encoding="utf-8"),
        "history-mapping.yaml": data.joinpath("history-mapping.yaml").read_text(encoding="utf-8"),
    }
    written = [outputs.write_text(folder / name, text) for name, text in texts.items()]
    history = _history_csv(folder / "scenario.yaml")
    written.insert(2, outputs.write_text(folder / "history.csv", history))
    return written


def _history_csv(scenario_path: Path) -> str:
    """The stage changes the starter scenario's arrivals make from HISTORY_START to its end."""
    from simsales.calibrate.synthetic import stage_change_rows
    from simsales.scenario.load import load, load_dict, scenario_raw

    raw, _ = scenario_raw(load(scenario_path))
    past = {k: v for k, v in raw.items() if k not in ("pipeline", "targets", "variants")}
    past.update(start=HISTORY_START.isoformat(), horizon=HISTORY_END.isoformat())
    rows = stage_change_rows(load_dict(past), HISTORY_END, seed=_SEED)
    return str(rows.to_csv(index=False, lineterminator="\n"))


class Locale(StrEnum):
    en = "en"
    zh_cn = "zh-CN"


def init(
    folder: Annotated[Path, typer.Argument(help="Folder to write (made if missing).")],
    locale: Annotated[
        Locale, typer.Option("--locale", help="Language of the scenario and its names.")
    ] = Locale.en,
    force: Annotated[
        bool, typer.Option("--force", help="Replace starter files already in the folder.")
    ] = False,
) -> None:
    """Write a starter scenario, its pipeline and a sample CRM export into FOLDER.

    Example: simsales init demo && simsales run demo/scenario.yaml
    """
    written = write_starter(folder, locale.value, force=force)
    out = console()
    for path in written:
        out.print(f"wrote {esc(path)}")
    scenario = folder / "scenario.yaml"
    out.print(
        f"next: simsales run {esc(scenario)}   (then edit it: simsales validate {esc(scenario)})"
    )


def register(app: typer.Typer) -> None:
    app.command("init")(init)
