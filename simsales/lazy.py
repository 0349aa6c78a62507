"""Lazy exports: a package names what it offers, and each name is imported on first use.

``import simsales`` (and every ``simsales ...`` command) then pays only for what it uses:
pandas, scipy, matplotlib, PuLP and the rest are imported by the modules that need them
(docs/architecture.md, "Start-up").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a name to its module.

    A name, once imported, is stored in the package's ``namespace``, so it is looked up only once.
    """

    def module_getattr(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def module_dir() -> list[str]:
        return sorted({*namespace, *exports})

    return module_getattr, module_dir
