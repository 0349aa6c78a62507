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
    assert _heavy(modules, (*HEAVY, "simpy", "scipy.special")) == []
    # the other commands are not even built: their modules are imported when they run
    assert _heavy(modules, ("simsales.commands.run", "simsales.commands.calibrate")) == []


def test_run_imports_neither_the_optimizer_nor_scipy_stats(tmp_path: Path) -> None:
    out = tmp_path / "forecast.json"
    modules = _imported("run", str(SCENARIOS / "minimal.yaml"), "-n", "3", "-o", str(out))
    assert out.exists()  # it did simulate and write the forecast
    assert "simsales.results.summary" in modules
    assert _heavy(modules, ("pulp", "scipy.stats", "simsales.optimize.planner")) == []


def test_help_still_lists_every_command() -> None:
    modules = _imported("--help")
    assert {"simsales.commands.run", "simsales.commands.calibrate"} <= modules


# Every pydantic model of the scenario language, and which of them are built (their validator
# made), before and after loading a scenario.
_BUILT = """
import json
from pydantic import BaseModel
import simsales.scenario.load as load

def models(cls=BaseModel):
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("simsales.scenario."):
            yield sub
        yield from models(sub)

def built():
    return sorted({m.__qualname__ for m in models() if m.__pydantic_complete__})

before = built()
load.load(%r)
print(json.dumps([sorted({m.__qualname__ for m in models()}), before, built()]))
"""


def test_models_are_built_when_first_used_not_at_import() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _BUILT % str(SCENARIOS / "minimal.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    models, before, after = json.loads(done.stdout)
    assert {"Scenario", "Stage", "Triangular", "CalendarSpec"} <= set(models)  # the probe works
    assert before == []  # importing the language builds none of them
    assert "Scenario" in after  # loading a scenario builds what it uses


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


def test_python_dash_m_runs_the_same_command_line() -> None:
    """``python -m simsales`` where the script is not on the path: the same commands, exit
    codes and start-up."""
    done = subprocess.run(
        [sys.executable, "-m", "simsales", "validate", str(SCENARIOS / "minimal.yaml")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "OK" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "simsales", "validate", str(SCENARIOS / "no-such.yaml")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
