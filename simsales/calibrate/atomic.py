"""Atomic text output: a temporary file beside the target, then a rename."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_text_atomic"]


def write_text_atomic(
    path: str | Path, text: str, check: Callable[[Path], None] | None = None
) -> Path:
    """Write ``text`` to ``path`` so that no reader ever sees a half-written file.

    ``check`` runs on the finished temporary file before it replaces the target (raise to keep
    the target as it was). ``open(..., "x")`` rather than ``mkstemp`` gives the file the usual
    permissions of the user's umask.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(text)
        if check is not None:
            check(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
