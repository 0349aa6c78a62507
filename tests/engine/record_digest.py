"""Digests of everything the engine produces, to show that a change keeps the numbers bit for bit.

Two sources, each digested to a JSON mapping of name -> sha256:

- ``scenarios``: every shipped scenario and engine fixture, several seeds, serial and process
  executors: the tables of the Forecast (deals, visits, pools, capacity, risks, inputs);
- ``tests``: every replication run by the engine tests (their inline scenarios cover exits,
  stale deals, rules, risks, uncertainty...): the RepRecords of each call, in call order, per test.

Run it on the old code (e.g. a ``git worktree`` of main on ``PYTHONPATH``) and on the new one,
then compare the two files::

    python tests/engine/record_digest.py scenarios new.json
    PYTHONPATH=/tmp/ref python tests/engine/record_digest.py scenarios old.json
    python tests/engine/record_digest.py compare old.json new.json
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "engine" / "fixtures").glob("*.yaml")
)
SEEDS = (1, 7, 20260101)
# the engine tests to replay; point it at main's copy when the tests themselves changed
TESTS = Path(os.environ.get("DIGEST_TESTS", ROOT / "tests" / "engine"))
TABLES = ("deals", "visits", "pools", "capacity", "risks", "inputs")


def _digest_array(h: Any, x: Any) -> None:
    if isinstance(x, np.ndarray) and x.dtype != object:
        h.update(f"{x.dtype}{x.shape}".encode())
        h.update(np.ascontiguousarray(x).tobytes())
    else:
        h.update(repr(x).encode())


def digest_frame(df: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(repr(list(df.columns)).encode())
    for col in df.columns:
        values = df[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(str)
        _digest_array(h, values.to_numpy())
    return h.hexdigest()


def digest_records(records: Any) -> str:
    h = hashlib.sha256()
    for f in dataclasses.fields(records):
        h.update(f.name.encode())
        _digest_array(h, getattr(records, f.name))
    return h.hexdigest()


def scenario_digests(replications: int) -> dict[str, str]:
    import simsales

    out: dict[str, str] = {}
    for path in SCENARIOS:
        scenario = simsales.load(path)
        for seed in SEEDS:
            for executor, workers in (("serial", 1), ("process", 2)):
                forecast = simsales.simulate(
                    scenario,
                    replications=replications,
                    seed=seed,
                    workers=workers,
                    executor=executor,  # type: ignore[arg-type]
                    progress=False,
                    precision=None,
                )
                for table in TABLES:
                    key = f"{path.name}:{seed}:{executor}:{table}"
                    out[key] = digest_frame(getattr(forecast, table))
                print(path.name, seed, executor, file=sys.stderr)
    return out


def test_digests(args: list[str]) -> dict[str, str]:
    """Digest every replication the engine tests run (serially), keyed by test and call."""
    import pytest

    import simsales.engine.replication as replication
    import simsales.engine.runner as runner

    out: dict[str, str] = {}
    current = {"test": "", "calls": 0}
    original = replication.run_replication

    def recording(model: Any, seq: Any) -> Any:
        records = original(model, seq)
        current["calls"] += 1
        out[f"{current['test']}#{current['calls']}"] = digest_records(records)
        return records

    class Plugin:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_call(self, item: Any) -> Any:
            current["test"], current["calls"] = item.nodeid, 0
            yield

    runner.run_replication = recording  # type: ignore[assignment]
    replication.run_replication = recording  # type: ignore[assignment]
    pytest.main(
        [
            str(TESTS),
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--hypothesis-seed=0",
            *args,
        ],
        plugins=[Plugin()],
    )
    return out


def compare(old_path: str, new_path: str) -> int:
    old, new = json.loads(Path(old_path).read_text()), json.loads(Path(new_path).read_text())
    differ = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
    missing = sorted(old.keys() ^ new.keys())
    for k in differ:
        print("differs:", k)
    for k in missing:
        print("only in one:", k)
    print(f"{len(old.keys() & new.keys())} compared, {len(differ)} differ, {len(missing)} unpaired")
    return 1 if differ or missing else 0


def main() -> int:
    what, path = sys.argv[1], sys.argv[2]
    if what == "compare":
        return compare(path, sys.argv[3])
    digests = scenario_digests(20) if what == "scenarios" else test_digests(sys.argv[3:])
    Path(path).write_text(json.dumps(digests, indent=0, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
