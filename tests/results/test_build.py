"""ForecastBuilder's deal codes: each chunk's local codes (live deals, then the chunk's new deals)
become the run's, whether or not the chunk brings new deals."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import simsales
from simsales.engine.model import compile_model
from simsales.engine.replication import run_replication
from simsales.engine.streams import replication_seeds
from simsales.results.build import ForecastBuilder, PackedChunk

ROOT = Path(__file__).resolve().parents[2]


def _chunk(codes: list[int], new_deals: list[str]) -> PackedChunk:
    deal = np.array(codes, np.int32)
    columns = {
        ("deals", "replication"): np.zeros(len(deal), np.int32),
        ("deals", "deal"): deal,
        ("risks", "deal"): np.where(deal == 0, -1, deal).astype(np.int32),  # -1: global
    }
    return PackedChunk(1, columns, new_deals)


def test_chunk_codes_become_the_runs_with_and_without_new_deals() -> None:
    model = compile_model(simsales.load(ROOT / "scenarios" / "minimal.yaml"))
    n = len(model.deal_ids)  # 3 live deals: codes 0, 1, 2
    builder = ForecastBuilder(model)
    builder.add_packed(_chunk([0, 1, 2, n, n + 1], ["A", "B"]))  # A -> 3, B -> 4
    builder.add_packed(_chunk([2, n, n + 1], ["B", "C"]))  # B -> 4, C -> 5
    builder.add_packed(_chunk([0, 1, 2, 1], []))  # none new: the same codes
    assert builder.names == [*model.deal_ids, "A", "B", "C"]
    deals = builder._chunks["deals"]["deal"]
    risks = builder._chunks["risks"]["deal"]
    want = [[0, 1, 2, 3, 4], [2, 4, 5], [0, 1, 2, 1]]
    for got, expected in zip(deals, want, strict=True):
        assert got.dtype == np.int32 and got.tolist() == expected
    for got, expected in zip(risks, want, strict=True):
        assert got.dtype == np.int32 and got.tolist() == [-1 if c == 0 else c for c in expected]


@pytest.mark.parametrize(
    ("name", "replications"), [("minimal.yaml", 1), ("minimal.yaml", 9), ("benchmark-200.yaml", 7)]
)
def test_live_pipeline_value_is_each_replications_sum_in_row_order(
    name: str, replications: int
) -> None:
    """Without arrivals the live pipeline is summed down (deal, replication) columns: the same
    floats as bincount's sum of each replication's rows in order, from 0.0."""
    forecast = simsales.simulate(ROOT / "scenarios" / name, replications, seed=3, progress=False)
    deals = forecast.deals
    want = np.bincount(
        deals["replication"].to_numpy(), weights=deals["value"].to_numpy(), minlength=replications
    )
    got = forecast.inputs["value:live_pipeline"].to_numpy()
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_tables_a_summary_never_reads_are_built_on_first_use() -> None:
    """The visits, capacity, risks and inputs tables of a simulated forecast are built when one
    is first read, all together, and equal what the builder builds at once; a forecast
    pickled before they are read carries them built."""
    path = ROOT / "scenarios" / "enterprise-it.yaml"
    model = compile_model(simsales.load(path))
    builder = ForecastBuilder(model)
    builder.add([run_replication(model, seq) for seq in replication_seeds(2, 0, 5)])
    eager = builder.build()
    later = {"visits", "capacity", "risks", "inputs"}
    forecast = simsales.simulate(path, 5, seed=2, progress=False)
    assert forecast.replications == 5 and later.isdisjoint(forecast.__dict__)
    visits = forecast.visits  # builds the four
    assert later <= set(forecast.__dict__) and "_later" not in forecast.__dict__
    for name, table in eager.items():
        assert (visits if name == "visits" else getattr(forecast, name)).equals(table), name
    unread = simsales.simulate(path, 5, seed=2, progress=False)
    again = pickle.loads(pickle.dumps(unread))
    assert later <= set(unread.__dict__) and again.visits.equals(eager["visits"])
    with pytest.raises(AttributeError):
        forecast.no_such_table  # noqa: B018 - an unknown name is still an AttributeError
