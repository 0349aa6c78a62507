"""``compare -o`` says how many extra simulations the risk contribution adds, before it runs
them, and ``--no-risks`` leaves them out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCENARIOS = Path(__file__).parents[2] / "scenarios"


def test_the_extra_runs_are_announced_and_can_be_skipped(tmp_path: Path, main_cli: Any) -> None:
    scenario = SCENARIOS / "enterprise-it.yaml"
    args = ("compare", scenario, "--variant", "hire_presales", "-n", "20", "--yes")
    with_risks = main_cli(*args, "-o", tmp_path / "with.html")
    assert with_risks.code == 0, with_risks.err
    first = with_risks.err.splitlines()[0]
    assert first.startswith("-o adds ") and "paired simulations of 20 replications" in first
    assert "--no-risks skips them" in first
    count = int(first.split()[2])
    assert count >= 2 * 3  # enterprise-it: several risks, most with a mitigation
    assert with_risks.err.count("simulating variant") == 1 + count  # the variant + the extra
    without = main_cli(*args, "-o", tmp_path / "without.html", "--no-risks")
    assert without.code == 0 and "-o adds" not in without.err
    assert without.err.count("simulating variant") == 1
