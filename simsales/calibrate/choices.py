"""The names a user picks from: deal-type grouping, duration models, sources and presets.

Kept free of pandas and the readers, so that the CLI lists them in its help without importing
what reads the exports (docs/architecture.md, "Start-up").
"""

from __future__ import annotations

from typing import Literal

from simsales.calibrate.presets import PRESETS

__all__ = ["ALL_PRESETS", "BY", "DURATIONS", "SOURCE_NAMES", "By", "Durations"]

BY = ("product", "owner", "segment")
By = Literal["product", "owner", "segment"]
DURATIONS = ("lognormal", "empirical")
Durations = Literal["lognormal", "empirical"]
SOURCE_NAMES = ("salesforce", "hubspot", "pingcode", "worktile")  # each a sources/ module
ALL_PRESETS = (*SOURCE_NAMES, *PRESETS)
