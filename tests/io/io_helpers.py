"""Paths and inputs built in tmp_path for the I/O tests."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "scenarios" / "minimal.yaml"


def copy_minimal(folder: Path, name: str = "minimal.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(MINIMAL, folder / name))
