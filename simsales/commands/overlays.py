"""``--overlay FILE``: apply what-if overlay files (e.g. a plan written by ``simsales optimize``).

An overlay file is a partial scenario in YAML (safe YAML, as every scenario file), deep-merged
onto the scenario exactly like a variant; several files apply in the order given. Its mistakes
are reported with the overlay file's name and the key path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from simsales.errors import ScenarioError
from simsales.scenario.load import with_overlay
from simsales.scenario.schema import Scenario
from simsales.scenario.yaml_source import read_yaml

__all__ = ["is_overlay_file", "with_overlay_files"]


def is_overlay_file(name: str) -> bool:
    """A ``--variant`` that names a YAML file rather than one of the scenario's variants."""
    return name.lower().endswith((".yaml", ".yml")) or Path(name).is_file()


def with_overlay_files(scenario: Scenario, paths: Sequence[str | Path]) -> Scenario:
    """``scenario`` with each overlay file merged onto it, in order."""
    for path in paths:
        data, source = read_yaml(path)
        if data is None:
            data = {}  # an empty plan (nothing to change) is a valid overlay
        if not isinstance(data, dict):
            raise ScenarioError(
                [
                    source.problem(
                        (), "an overlay must be a mapping of scenario keys (a partial scenario)"
                    )
                ]
            )
        if "variants" in data:
            raise ScenarioError(
                [
                    source.problem(
                        ("variants",),
                        "an overlay cannot define variants",
                        "put variants in the scenario file; an overlay is one what-if",
                        key=True,
                    )
                ]
            )
        scenario = with_overlay(scenario, data, name=str(path))
    return scenario
