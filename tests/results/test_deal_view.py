"""The row groupings the summary, categories and roll-ups share, against pandas' own."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simsales.results.deal_view import (
    by_replication_many,
    factorized_groups,
    live_blocks,
    live_segments,
    segment_blocks,
)

_ROWS = st.lists(st.tuples(st.integers(0, 8), st.booleans()), max_size=120)


@given(rows=_ROWS, unused=st.integers(0, 3))
def test_live_segments_are_the_groups_of_the_live_rows(
    rows: list[tuple[int, bool]], unused: int
) -> None:
    deals = [f"D{k}" for k, _ in rows]
    categories = sorted({*deals, *(f"X{k}" for k in range(unused))}, reverse=True)
    d = pd.DataFrame(
        {
            "deal": pd.Categorical(deals, categories=categories),
            "live": np.array([x for _, x in rows], dtype=bool),
        }
    )
    segments, names = live_segments(d)
    groups = d[d["live"]].groupby("deal", observed=True, sort=False)
    assert list(names) == [k for k, _ in groups]
    assert [list(s) for s in segments] == [list(g.index) for _, g in groups]
    blocks = segment_blocks(segments)
    again: list[list[int]] = [[] for _ in segments]
    for where, matrix in blocks:
        assert matrix.shape == (len(where), len(segments[where[0]]))
        for k, row in zip(where, matrix, strict=True):
            again[k] = list(row)
    assert again == [list(s) for s in segments]


def _grid(order: list[list[str]], arrivals: int) -> pd.DataFrame:
    """Replications' rows: their live deals in the given order, then ``arrivals`` new deals."""
    deals, live = [], []
    for r, mine in enumerate(order):
        deals += mine + [f"N{r}-{j}" for j in range(arrivals)]
        live += [True] * len(mine) + [False] * arrivals
    return pd.DataFrame({"deal": pd.Categorical(deals), "live": np.array(live, dtype=bool)})


@pytest.mark.parametrize(
    "order",
    [
        [["B", "A", "C"]] * 4,  # the engine's grid: one column per deal
        [["B", "A", "C"]] * 3 + [["A", "B", "C"]],  # one replication in another order
        [["B", "A", "B"]] * 2,  # a deal twice in a replication
        [["B", "A"], ["B", "A"], ["B"]],  # a deal missing from one
        [["A"]] * 5,
    ],
)
@pytest.mark.parametrize("arrivals", [0, 2])
def test_live_segments_of_a_grid_are_the_groups_of_the_live_rows(
    order: list[list[str]], arrivals: int
) -> None:
    """Where every replication has the same live deals in the same order, each deal's rows
    are read off the grid (no sort): the same segments and names as grouping gives."""
    d = _grid(order, arrivals)
    segments, names = live_segments(d)
    groups = d[d["live"]].groupby("deal", observed=True, sort=False)
    assert list(names) == [k for k, _ in groups]
    assert [s.tolist() for s in segments] == [list(g.index) for _, g in groups]
    assert all(s.dtype == np.int64 for s in segments)


@given(
    codes=st.lists(st.integers(0, 40), max_size=200),
    dtype=st.sampled_from([np.int64, np.int32, np.int16]),
)
def test_counted_codes_are_pandas_factorize(codes: list[int], dtype: type) -> None:
    groups = np.array(codes, dtype=dtype)
    found, uniques = pd.factorize(groups, sort=True)
    mine, columns = factorized_groups(groups)
    assert mine.tolist() == found.tolist()
    assert columns.equals(pd.Index(uniques)) and columns.dtype == pd.Index(uniques).dtype
    # the codes of some rows only: those rows' codes, the groups still those of every row
    rows = np.arange(0, len(groups), 3)
    some, same = factorized_groups(groups, rows)
    assert some.tolist() == found[rows].tolist() and same.equals(columns)
    texts, text_columns = factorized_groups(groups.astype(str), rows)  # hashed by pandas
    assert texts.tolist() == pd.factorize(groups.astype(str), sort=True)[0][rows].tolist()
    assert len(text_columns) == len(columns)


@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 4),
            st.integers(0, 3),
            st.sampled_from([0.0, 0.0, 1.5, 2.5e5, 1e-3, float("nan")]),
        ),
        max_size=80,
    ),
    subset=st.booleans(),
)
def test_sums_of_sparse_values_are_those_of_the_dense_ones(
    rows: list[tuple[int, int, float]], subset: bool
) -> None:
    # a period's revenue given by its won rows alone sums to the same bits as with its zeros
    deals = pd.DataFrame({"replication": np.array([r for r, _, _ in rows], dtype=np.int32)})
    forecast = SimpleNamespace(deals=deals, provenance={}, replications=5)
    groups = np.array([g for _, g, _ in rows], dtype=np.int64)
    picked = np.arange(0, len(rows), 2) if subset else None
    values = np.array([v for _, _, v in rows])[picked if subset else slice(None)]
    positions = np.flatnonzero(values)
    dense = by_replication_many(forecast, {0: values}, groups, rows=picked)[0]  # type: ignore[arg-type]
    sparse = by_replication_many(
        forecast,  # type: ignore[arg-type]
        {0: (positions, values[positions])},
        groups,
        rows=picked,
    )[0]
    assert dense.columns.equals(sparse.columns)
    assert [x.hex() for x in dense.to_numpy().ravel()] == [
        x.hex() for x in sparse.to_numpy().ravel()
    ]


def test_live_blocks_are_worked_out_once_per_table() -> None:
    """live_blocks: the segments and blocks of forecast.deals, the same objects when asked
    again, worked out afresh once the live column is written into."""
    d = pd.DataFrame(
        {
            "deal": pd.Categorical(["A", "B", "A", "B", "C"]),
            "live": np.array([True, True, True, True, False]),
        }
    )
    forecast = SimpleNamespace(deals=d)
    segments, names, blocks = live_blocks(forecast)  # type: ignore[arg-type]
    assert [s.tolist() for s in segments] == [[0, 2], [1, 3]] and list(names) == ["A", "B"]
    assert [(w.tolist(), m.tolist()) for w, m in blocks] == [([0, 1], [[0, 2], [1, 3]])]
    assert live_blocks(forecast)[2] is blocks  # type: ignore[arg-type]
    d.loc[3, "live"] = False  # copy-on-write: a new buffer for the column
    again, _, _ = live_blocks(forecast)  # type: ignore[arg-type]
    assert [s.tolist() for s in again] == [[0, 2], [1]]
