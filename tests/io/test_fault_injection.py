"""Fault injection: kill the writer at every step of replacing an existing forecast.

A child process saves a new forecast over an old one and SIGKILLs itself at one step (the
steps are those :func:`simsales.io.outputs.checkpoint` marks, recorded from a real save, so a
step added later is covered too). After each kill the folder must hold the old forecast or the
new one, complete (every table equal to what was saved), never neither and never a mix; the
next save must clean up everything the killed one left. Both swap methods are tried: the atomic
exchange (``renameat2``) and the fallback used where it is unavailable (versioned sub-folder and
a marker switch).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import simsales
from simsales.io import outputs
from simsales.results.forecast import FILES, Forecast

MINIMAL = Path(__file__).resolve().parents[2] / "scenarios" / "minimal.yaml"
# a fork server imports simsales once; each child is then a cheap, clean fork of it (forking
# pytest itself could inherit locks held by pyarrow's threads)
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(
    ["pytest", "simsales", "simsales.results.forecast", "pyarrow.parquet", __name__]
)


@pytest.fixture(scope="module")
def old() -> Forecast:
    return simsales.simulate(MINIMAL, replications=12, seed=1, progress=False)


@pytest.fixture(scope="module")
def new() -> Forecast:
    return simsales.simulate(MINIMAL, replications=15, seed=2, progress=False)


def _without_exchange() -> None:
    outputs._RENAMEAT2[:] = [None]


def _save_and_die(forecast: Forecast, target: str, step: str, fallback: bool) -> None:
    """In the child: save, and SIGKILL ourselves when the write reaches ``step``."""
    if fallback:
        _without_exchange()

    def hook(name: str) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    outputs._on_step = hook
    forecast.save(target)


@pytest.fixture
def no_exchange() -> Iterator[None]:
    saved = list(outputs._RENAMEAT2)
    _without_exchange()
    try:
        yield
    finally:
        outputs._RENAMEAT2[:] = saved


def _steps(forecast: Forecast, target: Path) -> list[str]:
    seen: list[str] = []
    outputs._on_step = seen.append
    try:
        forecast.save(target)
    finally:
        outputs._on_step = None
    return seen


def _which(loaded: Forecast, old: Forecast, new: Forecast) -> str:
    as_json = json.loads(json.dumps(loaded.provenance, default=str))
    for name, f in (("old", old), ("new", new)):
        if as_json == json.loads(json.dumps(f.provenance, default=str)) and all(
            getattr(loaded, t).equals(getattr(f, t)) for t in ("deals", "visits", "pools")
        ):
            return name
    raise AssertionError("the folder holds neither the old nor the new forecast, complete")


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "fallback"])
def test_kill_at_every_step_leaves_the_old_or_the_new_forecast(
    tmp_path: Path, old: Forecast, new: Forecast, fallback: bool, request: pytest.FixtureRequest
) -> None:
    if fallback:
        request.getfixturevalue("no_exchange")
    elif outputs._renameat2() is None:
        pytest.skip("no renameat2 on this system: the fallback case covers it")
    old.save(tmp_path / "probe")
    steps = _steps(new, tmp_path / "probe")
    swap = "fallback: marker switched" if fallback else "dir: exchanged"
    assert swap in steps and len(steps) >= 10, steps
    outcomes: dict[str, str] = {}
    children = []
    for i, step in enumerate(steps):  # one folder per step, the children run side by side
        target = tmp_path / f"case{i}" / "out"
        old.save(target)
        child = _CONTEXT.Process(target=_save_and_die, args=(new, str(target), step, fallback))
        child.start()
        children.append((step, target, child))
    for step, target, child in children:
        child.join(timeout=120)
        assert child.exitcode == -signal.SIGKILL, f"the child was not killed at {step!r}"
        assert target.is_dir(), f"killed at {step!r}: the result is absent"
        outcomes[step] = _which(Forecast.load(target), old, new)
        # before the swap the old result stands, from it on the new one
        expected = "new" if steps.index(step) >= steps.index(swap) else "old"
        assert outcomes[step] == expected, (step, outcomes)
        new.save(target)  # the next write cleans what the killed one left
        assert _which(Forecast.load(target), old, new) == "new"
        assert os.listdir(target.parent) == ["out"], (step, os.listdir(target.parent))
        inside = set(os.listdir(target))
        if fallback:
            assert outputs.MARKER in inside and len(inside) == 2, (step, inside)
        else:
            assert inside == {*FILES, outputs.MARKER}, (step, inside)
    assert set(outcomes) == set(steps)


def test_the_fallback_then_the_exchange_read_the_same_layouts(
    tmp_path: Path, old: Forecast, new: Forecast, no_exchange: None
) -> None:
    target = tmp_path / "out"
    old.save(target)
    new.save(target)  # in place: a versioned sub-folder named by the marker
    assert outputs.result_folder(target) != target
    assert _which(Forecast.load(target), old, new) == "new"
