"""placeholder"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simsales.calibrate.sources.records import Records


def detect(header: list[str]) -> bool:
    return False


def detect_folder(path: Path) -> bool:
    return False


def read(path: Path, **options: Any) -> Records:
    raise NotImplementedError
