"""``simsales init``: a starter folder (scenario, pipeline, sample CRM export) to run at once."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from simsales.commands.common import console, esc
from simsales.scenario.starter import write_starter

__all__ = ["Locale", "init", "register"]


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
