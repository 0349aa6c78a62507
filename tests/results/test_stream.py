"""Tables streamed to disk beyond a memory bound (simsales.results.stream): the forecast, and so
every summary, equals the one collected in memory, row for row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import simsales
from simsales.engine.model import compile_model
from simsales.errors import SimsalesError
from simsales.results import stream
from simsales.results.forecast import Forecast
from simsales.results.summary import summarize

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("deals", "visits", "pools", "capacity", "risks", "inputs")


def _run(path: Path, n: int, **kw: object) -> Forecast:
    return simsales.simulate(path, n, seed=11, progress=False, precision=None, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scenario", "workers"),
    [("enterprise-it.yaml", 1), ("minimal.yaml", 1), ("enterprise-it.yaml", 2)],
)
def test_a_streamed_run_equals_the_one_in_memory(
    monkeypatch: pytest.MonkeyPatch, scenario: str, workers: int
) -> None:
    path = ROOT / "scenarios" / scenario
    executor = "process" if workers > 1 else "serial"
    memory = _run(path, 120, workers=workers, executor=executor)
    segments: list[int] = []
    real_build = stream.StreamingBuilder.build

    def build(self: stream.StreamingBuilder) -> dict[str, pd.DataFrame]:
        out = real_build(self)
        segments.append(self.segments)
        return out

    monkeypatch.setattr(stream.StreamingBuilder, "build", build)
    monkeypatch.setenv(stream.ENV, "1")  # byte: every chunk of replications is a segment
    streamed = _run(path, 120, workers=workers, executor=executor)
    assert segments and segments[0] >= 3  # it did stream: a segment per chunk of replications
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(streamed, name), getattr(memory, name), obj=name)
    a, b = summarize(streamed), summarize(memory)
    pd.testing.assert_frame_equal(a.deals, b.deals)
    pd.testing.assert_frame_equal(a.periods, b.periods)
    assert a.to_json() == b.to_json()


def test_no_bound_collects_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(stream.ENV, raising=False)
    model = compile_model(simsales.load(ROOT / "scenarios" / "minimal.yaml"))
    assert not isinstance(stream.collector(model), stream.StreamingBuilder)
    assert isinstance(stream.collector(model, bound=1e6), stream.StreamingBuilder)


def test_a_bad_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(stream.ENV, "lots")
    with pytest.raises(SimsalesError, match="SIMSALES_TABLE_MEMORY='lots': give the table"):
        _run(ROOT / "scenarios" / "minimal.yaml", 3)
