"""Running the real console entry point (exit codes, stderr) and building inputs in tmp_path."""

from __future__ import annotations

import shutil
import signal
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from simsales.cli import main

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "scenarios" / "minimal.yaml"


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Result:
    """``simsales ARGS`` through :func:`simsales.cli.main`: its exit code and printed text."""
    saved = sys.argv, signal.getsignal(signal.SIGTERM), warnings.showwarning
    sys.argv = ["simsales", *map(str, args)]
    capsys.readouterr()
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved[0]
        signal.signal(signal.SIGTERM, saved[1])
        warnings.showwarning = saved[2]
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def copy_minimal(folder: Path, name: str = "minimal.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(MINIMAL, folder / name))
