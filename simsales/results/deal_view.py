"""A forecast's deal rows seen per period and per deal attribute, shared by the categories,
roll-ups and explanation of a forecast.

The attributes of a live deal (owner, team, region, customer, the rep's own probability,
category and close date) come from the scenario as simulated (``provenance["scenario"]``); a
new deal (an arrival) has only its type, and its other attributes are :data:`UNASSIGNED`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from simsales.errors import SimsalesError
from simsales.results.records import decided_between, model_of, same_buffer
from simsales.scenario.load import load_dict
from simsales.scenario.references import did_you_mean
from simsales.scenario.schema import PERIOD_PATTERN, Scenario

if TYPE_CHECKING:  # only in annotations: forecast.py calls this module
    from simsales.results.forecast import Forecast

__all__ = [
    "ATTRIBUTES",
    "UNASSIGNED",
    "Sparse",
    "attribute_codes",
    "by_replication",
    "by_replication_many",
    "deal_attributes",
    "factorized_groups",
    "factorized_values",
    "live_blocks",
    "live_segments",
    "period_bounds",
    "replication_sums",
    "row_attribute",
    "row_attribute_codes",
    "scenario_of",
    "segment_blocks",
    "won_in",
]

FloatArray = npt.NDArray[np.float64]
# a per-row value given by its non-zero rows: (their positions, ascending; their values)
Sparse = tuple[npt.NDArray[np.int64], FloatArray]

# deal attributes a roll-up can group by (``type`` and ``stage`` also for new deals)
ATTRIBUTES = ("owner", "team", "type", "region", "customer", "stage")
UNASSIGNED = "(unassigned)"
_REP = ("probability", "forecast_category", "target_close")


def scenario_of(forecast: Forecast) -> Scenario:
    """The scenario a forecast was simulated from (re-validated from its provenance)."""
    raw = forecast.provenance.get("scenario")
    if not isinstance(raw, dict):
        raise ValueError("this forecast carries no scenario in its provenance")
    return load_dict(raw, name="provenance.json")


def deal_attributes(scenario: Scenario) -> pd.DataFrame:
    """One row per live deal (index: deal id): the :data:`ATTRIBUTES` and the rep's own
    ``probability``, ``forecast_category`` and ``target_close`` (None where not given)."""
    rows = [
        {
            "deal": d.id,
            "owner": d.owner,
            "team": d.team,
            "type": d.type,
            "region": d.region,
            "customer": d.customer,
            "stage": d.stage,
            **{k: getattr(d, k) for k in _REP},
        }
        for d in scenario.deals()
    ]
    columns = ["deal", *ATTRIBUTES, *_REP]
    return pd.DataFrame(rows, columns=columns).set_index("deal")


def period_bounds(forecast: Forecast, period: str) -> tuple[float, float]:
    """Model times of a period label; a label that is no period, or one outside the horizon,
    is a located error naming the periods the forecast has."""
    model = model_of(forecast)
    known = [label for label, *_ in model.targets]
    if not re.match(PERIOD_PATTERN, period):
        raise SimsalesError(
            f"--period {period!r}: not a period (write 2027, 2027H1, 2027Q1 or 2027-03)"
            + (f"; {did_you_mean(period, known)}" if known else "")
        )
    t0, t1 = model.calendar.period_bounds(period)
    if t1 <= 0 or t0 >= model.horizon_t:
        raise SimsalesError(
            f"--period {period}: lies outside the simulated {model.start}..{model.horizon}"
        )
    return t0, t1


def won_in(forecast: Forecast, t0: float, t1: float) -> npt.NDArray[np.bool_]:
    """Per row of ``forecast.deals``: won with its close date inside ``[t0, t1)`` (the calendar's
    one day convention, as :func:`simsales.results.summary.period_revenue` counts)."""
    decided = decided_between(forecast, t0, t1)
    return np.asarray((forecast.deals["outcome"] == "won").to_numpy() & decided, dtype=bool)


def by_replication(forecast: Forecast, values: npt.ArrayLike, groups: Any = None) -> pd.DataFrame:
    """Sum of a per-row value of ``forecast.deals`` per replication (rows) and group (columns;
    one column ``"all"`` without groups); every replication is present, 0 where it has none."""
    return by_replication_many(forecast, {0: values}, groups)[0]


def by_replication_many(
    forecast: Forecast,
    values: dict[Any, npt.ArrayLike | Sparse],
    groups: Any = None,
    rows: npt.NDArray[np.int64] | None = None,
    factorized: tuple[npt.NDArray[np.int64], pd.Index] | None = None,
) -> dict[Any, pd.DataFrame]:
    """:func:`by_replication` of several per-row values over the same groups, the groups
    found once.

    Each table: one row per replication (every one, 0 where it has no rows), one column per
    group value present (sorted), the sums of the rows' values (NaN counted as 0, as pandas
    sums skip it). Summed with ``np.bincount``, one pass in row order: a plain running sum
    (pandas' groupby sums are compensated; the two differ by rounding alone, a few units in
    the last place of sums of hundreds of rows). ``rows`` (ascending): the values are those of
    these rows of ``forecast.deals`` only, the others being zero, and the groups still those
    of every row; a running sum skips a zero exactly, so the sums are the same. A value may
    also be :data:`Sparse`: its non-zero positions (ascending, into ``rows`` where given) and
    values, zero elsewhere. ``factorized``: what :func:`factorized_groups` gives for ``groups``
    and ``rows``, already worked out (``groups`` is then not read)."""
    if factorized is not None:
        grouping = factorized
    elif groups is None:
        count = len(forecast.deals) if rows is None else len(rows)
        grouping = np.zeros(count, np.int64), pd.Index(["all"])
    else:
        grouping = factorized_groups(np.asarray(groups), rows)
    first = int(forecast.provenance.get("first_replication", 0))
    index = pd.RangeIndex(first, first + forecast.replications)
    return {
        name: pd.DataFrame(table.T, index=index, columns=grouping[1])
        for name, table in replication_sums(forecast, values, grouping, rows).items()
    }


def replication_sums(
    forecast: Forecast,
    values: dict[Any, npt.ArrayLike | Sparse],
    grouping: tuple[npt.NDArray[np.int64], pd.Index],
    rows: npt.NDArray[np.int64] | None = None,
) -> dict[Any, FloatArray]:
    """:func:`by_replication_many` as plain arrays, without a table per value: each value's
    sums as one (group, replication) array, a group's replications contiguous. ``grouping``:
    the summed rows' group codes and the groups (the tables' columns), as
    :func:`factorized_groups` gives them."""
    d = forecast.deals
    first = int(forecast.provenance.get("first_replication", 0))
    n_reps = forecast.replications
    # only the rows summed are gathered (the groups are still found over every row)
    rep = d["replication"].to_numpy()
    rep = (rep if rows is None else rep[rows]).astype(np.int64) - first
    codes, columns = grouping
    keep = (codes >= 0) & (rep >= 0) & (rep < n_reps)  # as groupby drops missing keys
    # group-major cells: a running sum per cell in row order whatever the cells' layout
    key = codes * n_reps + rep
    if not keep.all():
        key = key[keep]
    cells = n_reps * len(columns)
    out: dict[Any, FloatArray] = {}
    for name, v in values.items():
        sums: FloatArray = np.zeros(cells)
        if isinstance(v, tuple) and keep.all():  # the non-zero rows alone, as given
            at, x = key[v[0]], np.asarray(v[1], dtype=np.float64)
        else:
            if isinstance(v, tuple):  # spread out, then as any values
                positions, given = v
                v = np.zeros(len(keep))
                v[positions] = given
            x = np.asarray(v, dtype=np.float64)
            x = x if keep.all() else x[keep]
            nonzero = np.flatnonzero(x)  # NaN included
            if len(nonzero) * 2 < len(x):  # mostly zeros (a period's revenue): the others alone
                at, x = key[nonzero], x[nonzero]
            else:
                at = key
        if len(x):  # else a period no deal closes in: nothing to add
            x = np.where(np.isnan(x), 0.0, x) if np.isnan(x).any() else x
            sums = np.asarray(np.bincount(at, weights=x, minlength=cells), np.float64)
        out[name] = sums.reshape(len(columns), n_reps)
    return out


def factorized_groups(
    groups: npt.NDArray[Any], rows: npt.NDArray[np.int64] | None = None
) -> tuple[npt.NDArray[np.int64], pd.Index]:
    """``pd.factorize(groups, sort=True)`` as ``(codes, uniques)``, the codes of ``rows`` only
    when given (the uniques still of every row); small non-negative integers (codes already)
    counted rather than hashed."""
    if groups.dtype.kind == "i" and len(groups) and groups.min() >= 0 and groups.max() < 2**20:
        counts = np.bincount(groups)
        rank = np.cumsum(counts > 0) - 1  # each value's position among those present
        picked = groups if rows is None else groups[rows]
        return rank[picked], pd.Index(np.flatnonzero(counts).astype(groups.dtype))
    found, uniques = pd.factorize(groups, sort=True)
    codes = np.asarray(found, np.int64)
    return codes if rows is None else codes[rows], pd.Index(uniques)


def factorized_values(
    per_value: npt.NDArray[np.int64],
    codes: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64] | None = None,
) -> tuple[npt.NDArray[np.int64], pd.Index] | None:
    """:func:`factorized_groups` of ``per_value[codes]`` (of :func:`attribute_codes`), worked
    out from the values' codes: every value being on some row, the groups present are those of
    the values, with no pass over every row. None where :func:`factorized_groups` would hash
    them."""
    if not len(codes) or not len(per_value) or int(per_value.max()) >= 2**20:
        return None
    present = np.zeros(int(per_value.max()) + 1, bool)
    present[per_value] = True
    rank = (np.cumsum(present) - 1)[per_value]  # each value's group among those present
    return rank[codes if rows is None else codes[rows]], pd.Index(np.flatnonzero(present))


Segments = list[npt.NDArray[np.int64]]
Blocks = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]


def live_blocks(forecast: Forecast) -> tuple[Segments, pd.Index, Blocks]:
    """:func:`live_segments` of ``forecast.deals`` and their :func:`segment_blocks`, worked out
    once per table (a summary and each period's forecast categories ask for them). The cache
    holds the deal and live columns it came from: under pandas' copy-on-write, writing into
    the table then gives it a new buffer, so a changed table is worked out afresh."""
    d = forecast.deals
    key = (d["deal"], d["live"])
    cached = forecast.__dict__.get("_live_blocks")
    if cached is None or not all(same_buffer(a, b) for a, b in zip(cached[0], key, strict=True)):
        segments, names = live_segments(d)
        cached = (key, (segments, names, segment_blocks(segments)))
        forecast.__dict__["_live_blocks"] = cached
    out: tuple[Segments, pd.Index, Blocks] = cached[1]
    return out


def _deal_codes(forecast: Forecast) -> tuple[npt.NDArray[np.int64], Any]:
    """``pd.factorize(forecast.deals["deal"], use_na_sentinel=False)``, once per table (each
    roll-up by a deal attribute asks), cached as :func:`live_blocks` is."""
    column = forecast.deals["deal"]
    cached = forecast.__dict__.get("_deal_codes")
    if cached is None or not same_buffer(cached[0], column):
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        cached = (column, (np.asarray(codes, dtype=np.int64), uniques))
        forecast.__dict__["_deal_codes"] = cached
    out: tuple[npt.NDArray[np.int64], Any] = cached[1]
    return out


def live_segments(d: pd.DataFrame) -> tuple[list[npt.NDArray[np.int64]], pd.Index]:
    """The live rows of each deal of ``d`` (ascending) and the deals, in order of first
    appearance: what ``d[d["live"]].groupby("deal", observed=True, sort=False)`` iterates."""
    deal = d["deal"].astype("category") if d["deal"].dtype != "category" else d["deal"]
    live = np.flatnonzero(d["live"].to_numpy())
    codes = deal.cat.codes.to_numpy()  # -1 for a missing deal: no group, as groupby
    codes = codes if len(live) == len(codes) else codes[live]  # every row live: no gather
    kept = codes >= 0
    live, codes = (live, codes) if kept.all() else (live[kept], codes[kept])
    tiled = _tiled(codes)
    if tiled:  # each deal's rows are a column of the (replication, deal) grid: no sort
        rows = np.ascontiguousarray(live.reshape(-1, tiled).T)
        return list(rows), deal.cat.categories[codes[:tiled]]
    n_cats = len(deal.cat.categories)
    # a stable sort of small integers (a radix sort for 16 bits): each deal's rows ascending
    small = np.int16 if n_cats <= np.iinfo(np.int16).max else np.int64
    order = live[np.argsort(codes.astype(small), kind="stable")]
    counts = np.bincount(codes, minlength=n_cats)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    present = np.flatnonzero(counts)
    # deals in order of first appearance: by the first (lowest) row of each
    present = present[np.argsort(order[bounds[present]], kind="stable")]
    segments = [order[bounds[k] : bounds[k + 1]] for k in present]
    return segments, deal.cat.categories[present]


def _tiled(codes: npt.NDArray[Any]) -> int:
    """k where ``codes`` is its first k (distinct) codes over and over (every replication's live
    rows the same deals in the same order, as the engine writes them), else 0."""
    if not len(codes):
        return 0
    again = np.flatnonzero(codes == codes[0])
    k = int(again[1]) if len(again) > 1 else len(codes)
    if len(codes) % k or len(again) * k != len(codes):
        return 0
    first = codes[:k]
    if len(np.unique(first)) != k or not (codes.reshape(-1, k) == first).all():
        return 0
    return k


def segment_blocks(
    segments: list[npt.NDArray[np.int64]],
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """:func:`live_segments`' segments grouped by length, as ``(positions, rows)``: the
    positions of the segments in ``segments`` and their rows stacked into one matrix (one
    block when every deal has a row in every replication), so that per-deal statistics are
    worked out a block at a time rather than a deal at a time."""
    lengths = np.array([len(x) for x in segments], dtype=np.int64)
    blocks = []
    for length in np.unique(lengths):
        where = np.flatnonzero(lengths == length)
        stacked = np.stack([segments[k] for k in where])
        blocks.append((where, stacked.astype(np.int64, copy=False)))  # no second copy
    return blocks


def row_attribute(forecast: Forecast, attributes: pd.DataFrame, by: str) -> npt.NDArray[Any]:
    """The value of attribute ``by`` on every row of ``forecast.deals`` (:data:`UNASSIGNED`
    where the deal has none, e.g. an owner for a new deal)."""
    codes, names = row_attribute_codes(forecast, attributes, by)
    return names[codes]


def row_attribute_codes(
    forecast: Forecast, attributes: pd.DataFrame, by: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """:func:`row_attribute` as ``(codes, names)``: ``names[codes]`` is the value on every row,
    the names distinct and sorted. Grouping by the integer codes spares hashing a string per row."""
    per_value, codes, names = attribute_codes(forecast, attributes, by)
    return per_value[codes], names


def attribute_codes(
    forecast: Forecast, attributes: pd.DataFrame, by: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[Any]]:
    """:func:`row_attribute_codes` in two steps, ``(per_value, codes, names)``: each row's code
    into the distinct values of the column the attribute comes from (the deal, or the type),
    and each value's code into ``names``, so that ``per_value[codes]`` is the rows' codes.
    Every value is on some row but for ``by="stage"`` (where new deals have their own)."""
    if by not in ATTRIBUTES:
        raise SimsalesError(f"cannot roll up by {by!r}; {did_you_mean(by, ATTRIBUTES)}")
    d = forecast.deals
    # worked out once per distinct value, then spread to the rows: the same strings
    if by == "type":
        codes, uniques = pd.factorize(d["type"], use_na_sentinel=False)
        named = np.asarray(pd.Series(uniques).astype(str).to_numpy())
    else:
        codes, uniques = _deal_codes(forecast)
        deal = pd.Series(uniques).astype(str)
        mapped = deal.map(attributes[by]) if len(attributes) else pd.Series(None, index=deal.index)
        named = np.asarray(mapped.where(mapped.notna(), UNASSIGNED).astype(str).to_numpy())
    codes = np.asarray(codes, dtype=np.int64)
    if by == "stage":  # new deals start in their own stage: the stage they were in at the start
        named = np.append(named, UNASSIGNED)
        codes = np.where(d["live"].to_numpy(), codes, len(named) - 1)
    # one code per distinct name (many deals share an owner), in the names' sorted order: the
    # order grouping by the names themselves gives, so sums run in the same order (same bits)
    per_name, names = pd.factorize(named, sort=True, use_na_sentinel=False)
    return np.asarray(per_name, dtype=np.int64), codes, np.asarray(names, dtype=object)
