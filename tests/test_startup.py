"""Start-up stays cheap: the heavy libraries are imported where they are used, not by
``simsales --version`` or ``simsales validate`` (docs/architecture.md, "Start-up").

Checked by the modules a fresh interpreter has imported (never by wall-clock time).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
HEAVY = ("pandas", "scipy.stats", "matplotlib", "plotly", "pulp", "pyarrow", "dask", "distributed")

# Runs the CLI in a fresh interpreter, then prints the modules it imported.
_PROBE = """
import json, sys
from simsales.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print("\\n" + json.dumps(sorted(sys.modules)))
"""


def _imported(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_version_imports_no_numerical_library() -> None:
    modules = _imported("--version")
    assert "simsales.cli" in modules  # the probe works
    assert _heavy(modules, (*HEAVY, "numpy", "scipy", "pydantic", "simpy")) == []


@pytest.mark.parametrize("name", ["minimal.yaml", "enterprise-it.yaml"])
def test_validate_imports_none_of_the_heavy_libraries(name: str) -> None:
    modules = _imported("validate", str(SCENARIOS / name))
    assert "simsales.scenario.load" in modules  # it did load the scenario
    assert _heavy(modules, (*HEAVY, "simpy")) == []


def test_import_simsales_is_cheap_and_its_names_still_work() -> None:
    probe = (
        "import json, sys, simsales; before = sorted(sys.modules); "
        "names = [callable(getattr(simsales, n)) for n in simsales.__all__]; "
        "print(json.dumps([before, names, simsales.optimize.__module__]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    before, names, optimize_module = json.loads(done.stdout)
    assert _heavy(set(before), (*HEAVY, "numpy", "scipy", "pydantic")) == []
    assert all(names)  # every public name resolves (classes and functions are callable)
    assert optimize_module == "simsales.api"  # the function, not the subpackage
