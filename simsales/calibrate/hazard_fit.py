"""Calendar x age hazards of a stage's exits, and their pace under the stage's load, kept
only when they predicted the stage's own recent exits better than age alone (the
``hazards:`` form, ``by: month_of_quarter``).

Some pipelines decide by the calendar: at a quarter's end deals of every age close, at its
start only young ones. Exits that depend only on the time in the stage cannot say that. And
some teams decide about as many deals a month however many are open: when the pipeline grows
faster than the team, each deal waits longer (Maven's open deals grew from about 1,400 to
1,900 over 2017 while its monthly decisions kept their quarterly pattern, so its decisions per
open deal fell by about a sixth). Exits independent of one another cannot say that either. The
candidate models are piecewise-exponential (constant hazards per age band, per exit):

- **age only**: ``rate[b][k] = D[b][k] / E[b]`` (exits k over the days at risk in age band b);
- **age with a won share by month**: the age-only rates with the won / lost split of each
  month of the quarter moved as the engine's ``won_season`` moves it (:func:`_won_share_rates`).
  These two stand for the stage's current model (age-based exits, and ``won_season`` when its
  own test keeps it), which is kept when either wins;
- **calendar x age**: one rate per (month of the quarter r, band b, exit k), each shrunk
  by a Gamma prior of ``m`` pseudo-exits, ``rate = (D[r][b][k] + m) / (E[r][b] + m /
  prior[r][b][k])``, ``m`` in ``PSEUDO``; the prior is the age-only rate, or the age-only
  total hazard of band b split with each exit weighted by its share of row r's decisions
  against its share of all (:func:`_split_prior`: a sparse cell keeps its month's won share,
  not the busy months'; on 20 simulated quarter-end pushes, won at 0.25 in a quarter's first
  two months and 0.55 in its last, the age-only prior had pulled the first months' cells to
  0.35-0.48); or age only again (``m`` infinite) with the weights below;
- each of those with the days at risk and the exits weighted by recency ``0.5 ** (age of the
  month / half-life)``, a half-life in ``HALF_LIVES`` (none, a quarter, half a quarter; the
  prior weighted alike), and with a **load elasticity** gamma in ``LOADS`` (0 to 1): every
  rate is ``base * (N / N_now) ** -gamma``, N the stage's load (its visits at risk, a month's
  mean: its days at risk over its days) and ``N_now`` the load at the end of the known
  history, so the days at risk of each month count ``(N_month / N_now) ** -gamma`` times and
  the rates fitted are those at today's load (:func:`_at_load`). gamma 0 is visits deciding
  on their own; 1, a team that decides as many a day however many wait. The forecast holds
  today's load (deals stay independent in the engine): the rates are the pace of the next
  months as the pipeline stands, not the history's average pace. 134 candidates.

**The rule** (no threshold tuned to any file). At an as-of date t, the history as known at
``c = t - H`` months (H = 3, a whole quarter so that every month of the quarter is tested;
else 2 or 1, the longest that leaves three months of exits before ``c``; with fewer, no test
and age only) is used to fit every candidate (at the load at ``c``); each is scored by the
censored (Poisson) log-likelihood of what happened in the stage during ``(c, t]``: the exits
seen there against the days at risk there, at the ages and in the months they were at risk,
at the rates fitted at ``c``'s load (as the forecast will use them). The best candidate is
kept only when it beats both references by more than ``MARGIN`` = 8 nats. Why 8: on
stationary simulated histories (exponential exits constant over the calendar; 4 x 150
histories, 1 or 2 months held out, 0.5k to 3k exits, 12 candidates) the best calendar
candidate's gain had 99th percentiles of 2.6 to 3.4 nats (1 of 600 above 4), and with three
months held out and 24 candidates 2.8 to 3.1 (3 x 150 histories, 0.5k to 5k exits; the
largest 5.7); with the 134 candidates, 4.8 and 5.7 on 2 x 150 stationary histories (3 and 10
entries a day; the largest 5.8), and 4.6 and 4.8 on 2 x 150 histories whose arrivals triple
while each visit's exits stay its own (a growing load with gamma 0; the largest 6.7, no load
elasticity chosen); on synthetic histories with every other effect (lognormal and point-mass
exit times, trend, a quarter cycle of arrivals and of the won share, but no calendar timing of
decisions) the coarse age bands misfit the age shape and the arrival cycle moves the age mix
within a band by month, and the gain reached 4.0 to 5.3 in 5 of about 200 stage fits; 8 sits
above all of them, so a history without calendar timing or load keeps its exits but at a
false-positive rate under 1% (tests/calibrate/test_cal_hazard_fit.py checks it, and that a
team deciding at a fixed pace under tripling arrivals is read at today's load). The winner is
refitted on everything known at t. The age bands are the quantiles ``j / B`` of the stage's
exit times, ``B = clip(exits // 100, 2, 10)``, up to the longest time any visit spent (where a
visit that has not left is lost: the data's conversion horizon, as for the exits; such visits
are no load).

Times: a history known to the day places each entry and exit at mid-day (the days in the stage
are unchanged), so an exit on the first of a month counts in that month.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["MARGIN", "HazardFit", "choose_hazards"]

FloatArray = npt.NDArray[np.float64]
ROWS = 3  # month of the quarter: the cycle every CRM's quarter-end forecast call shares
PSEUDO = (30.0, 10.0, 3.0, 1.0)  # prior strengths tried, in pseudo-events per cell
HALF_LIVES = (math.inf, 91.0, 45.0)  # days: none, a quarter, half a quarter
# elasticity of the pace of exits to the stage's load: 0, each visit on its own; 1, the team
# decides as many a day however many are open (the rest wait)
LOADS = (0.0, 0.25, 0.5, 0.75, 1.0)
EXITS_PER_BAND, MAX_BANDS = 100, 10  # age bands: quantiles of the exit times
MARGIN = 8.0  # nats a calendar fit must gain on the held-out months: < 1% false positives
MIN_MONTHS = 3  # months of exits before the hold-out: every month of the quarter seen once
RATE_FLOOR = 1e-9  # per day: a band with no exits yet (the log-likelihood stays finite)
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class HazardFit:
    """A stage's chosen calendar x age hazards, or the reason age only was kept."""

    chosen: bool  # True: write ``hazards:``; False: keep the age-based exits
    note: str  # the rule's evidence, for the scenario's comments
    ages: tuple[float, ...] = ()
    exits: tuple[str, ...] = ()  # targets, in the rates' last axis
    rates: tuple[tuple[tuple[float, ...], ...], ...] = ()  # [row][band][exit], per day
    pseudo: float = math.inf
    half_life: float = math.inf
    load: float = 0.0  # the elasticity gamma: rates at the as-of date's load (open visits)
    open_at: float = 0.0  # that load: visits at risk at the end of the as-of date
    gain: float = 0.0  # held-out log-likelihood gained over age only (nats)
    months_held_out: int = 0
    # the refit's tables (recency-weighted): days at risk [row][band], exits [row][band][exit],
    # and the prior rates [row][band][exit] the cells are shrunk towards (_split_prior)
    exposure: FloatArray | None = field(default=None, compare=False, repr=False)
    events: FloatArray | None = field(default=None, compare=False, repr=False)
    prior_rates: FloatArray | None = field(default=None, compare=False, repr=False)
    # wins expected in each calendar month known at the as-of date (from the history's first
    # month) at rates constant per (month of the quarter, age band): what win-odds drift is
    # measured against, so the calendar is not counted as drift
    won_expected: dict[pd.Period, float] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class _Visits:
    """A stage's visits as arrays: where each is in calendar days (from an epoch) and age."""

    start: FloatArray  # calendar day the visit began (mid-day for date-only histories)
    a0: FloatArray  # age at which it enters the risk set (late entry)
    a1: FloatArray  # age at its exit, or at the end of the known history
    exit: npt.NDArray[np.int64]  # exit index, -1 while open


def _arrays(
    v: pd.DataFrame, end: pd.Timestamp, epoch: pd.Timestamp, exits: list[str], date_only: bool
) -> _Visits:
    """The visits as known at the end of the day ``end``: a later exit is still open then."""
    entered = v["entered"]
    known = (entered < end + DAY).to_numpy()
    v = v[known]
    shift = 0.5 if date_only else 0.0
    start = ((v["entered"] - epoch) / DAY).to_numpy(dtype=np.float64) + shift
    left = v["left"]
    done = (v["to"] != "").to_numpy() & (left < end + DAY).fillna(False).to_numpy(dtype=bool)
    stop = ((end + DAY - epoch) / DAY) - start  # age at the end of the known history
    days = v["days"].to_numpy(dtype=np.float64)
    a1 = np.where(done, days, np.maximum(stop, 0.0))
    idx = {k: i for i, k in enumerate(exits)}
    code = np.array([idx.get(str(x), -1) for x in v["to"]], dtype=np.int64)
    a0 = np.maximum(v["entry"].to_numpy(dtype=np.float64), 0.0)
    return _Visits(start, np.minimum(a0, a1), a1, np.where(done, code, -1))


def _tables(
    x: _Visits, edges: FloatArray, bounds: FloatArray, n_exits: int, lo: float, hi: float
) -> tuple[FloatArray, FloatArray]:
    """Days at risk ``E[segment][band]`` and exits ``D[segment][band][exit]`` between calendar
    days ``lo`` and ``hi``, by calendar segment (``bounds``) and age band (``edges``)."""
    n_seg, n_band = len(bounds) - 1, len(edges) - 1
    exposure = np.zeros((n_seg, n_band))
    for j in range(n_seg):
        s_lo, s_hi = max(bounds[j], lo), min(bounds[j + 1], hi)
        if s_hi <= s_lo:
            continue
        for b in range(n_band):
            top = np.minimum(np.minimum(x.a1, edges[b + 1]), s_hi - x.start)
            bottom = np.maximum(np.maximum(x.a0, edges[b]), s_lo - x.start)
            exposure[j, b] = float(np.clip(top - bottom, 0.0, None).sum())
    events = np.zeros((n_seg, n_band, n_exits))
    at = x.start + x.a1
    ok = (x.exit >= 0) & (at > lo) & (at <= hi) & (x.a1 <= edges[-1]) & (x.a1 >= x.a0)
    seg = np.searchsorted(bounds, at[ok], side="right") - 1
    band = np.clip(np.searchsorted(edges, x.a1[ok], side="left") - 1, 0, n_band - 1)
    inside = (seg >= 0) & (seg < n_seg)
    np.add.at(events, (seg[inside], band[inside], x.exit[ok][inside]), 1.0)
    return exposure, events


def _rates(
    exposure: FloatArray, events: FloatArray, rows: npt.NDArray[np.int64], weight: FloatArray,
    pseudo: float, by_month: bool = True,
) -> FloatArray:  # fmt: skip
    """``[row][band][exit]`` rates: age-only when ``pseudo`` is infinite, else the shrunk
    calendar cells (see the module docstring), towards the age-only rates split by the month's
    shares (``by_month``) or as they are."""
    e = exposure * weight[:, None]
    d = events * weight[:, None, None]
    age = d.sum(axis=0) / np.maximum(e.sum(axis=0), 1e-12)[:, None]  # [band][exit]
    age = np.maximum(age, RATE_FLOOR)
    if math.isinf(pseudo):
        return np.broadcast_to(age, (ROWS, *age.shape)).copy()
    er = np.zeros((ROWS, e.shape[1]))
    dr = np.zeros((ROWS, *d.shape[1:]))
    np.add.at(er, rows, e)
    np.add.at(dr, rows, d)
    prior = _split_prior(age, dr) if by_month else age[None, :, :]
    return (dr + pseudo) / (er[:, :, None] + pseudo / prior)


def _split_prior(age: FloatArray, dr: FloatArray) -> FloatArray:
    """The cells' prior ``[row][band][exit]``: each band's age-only total hazard, split as its
    age-only rates are but with each exit weighted by how much more (or less) often it ends
    the row's decisions than all decisions (half an exit added to each count), so a month of
    the quarter whose deals are rarely won keeps that in its sparse cells, and its pace is
    the data's alone."""
    by_row = dr.sum(axis=1) + 0.5  # [row][exit]
    share = by_row / by_row.sum(axis=1, keepdims=True)
    pooled = dr.sum(axis=(0, 1)) + 0.5
    weight = share / (pooled / pooled.sum())  # [row][exit]
    split = age[None, :, :] * weight[:, None, :]
    total = age.sum(axis=1)[None, :, None]
    return np.maximum(split * total / np.maximum(split.sum(axis=2, keepdims=True), 1e-300),
                      RATE_FLOOR)  # fmt: skip


def _won_share_rates(
    exposure: FloatArray, events: FloatArray, rows: npt.NDArray[np.int64], won: int, lost: int
) -> FloatArray:
    """Age-only rates whose won / lost split follows the month of the quarter as the engine's
    ``won_season`` makes it: in row r a factor c < 1 turns each win into a loss with chance
    1 - c; c > 1 turns each loss into a win with chance q = (c - 1) p_won / p_lost (the
    stage's shares), at most 1. c (or q) makes row r's expected wins its observed ones."""
    age = _rates(exposure, events, rows, np.ones(len(rows)), math.inf)
    out = age.copy()
    if won < 0 or lost < 0:
        return out
    for r in range(ROWS):
        seen = rows == r
        w_exp = float((exposure[seen] * age[0, :, won]).sum())
        l_exp = float((exposure[seen] * age[0, :, lost]).sum())
        observed = float(events[seen][:, :, won].sum())
        if w_exp <= 0 or l_exp <= 0:
            continue
        lw, ll = age[r, :, won], age[r, :, lost]
        if observed <= w_exp:
            c = observed / w_exp
            out[r, :, won], out[r, :, lost] = c * lw, ll + (1 - c) * lw
        else:
            q = min((observed - w_exp) / l_exp, 1.0)
            out[r, :, won], out[r, :, lost] = lw + q * ll, (1 - q) * ll
    return np.maximum(out, RATE_FLOOR)


def _loglik(rates: FloatArray, exposure: FloatArray, events: FloatArray,
            rows: npt.NDArray[np.int64]) -> float:  # fmt: skip
    r = np.maximum(rates[rows], RATE_FLOOR)  # [segment][band][exit]
    return float((events * np.log(r)).sum() - (r * exposure[:, :, None]).sum())


def _segments(
    first: pd.Timestamp, last: pd.Timestamp, epoch: pd.Timestamp, cut: pd.Timestamp | None
) -> tuple[FloatArray, npt.NDArray[np.int64], FloatArray]:
    """Calendar segments (month starts, split at ``cut``) as day numbers, each one's month of
    the quarter and midpoint."""
    months = pd.period_range(first.to_period("M"), last.to_period("M"))
    days = [(m.start_time - epoch) / DAY for m in months] + [
        ((months[-1] + 1).start_time - epoch) / DAY
    ]
    if cut is not None:
        days.append((cut - epoch) / DAY)
    bounds = np.unique(np.array(days, dtype=np.float64))
    month_of = [(epoch + pd.Timedelta(days=float(b))).month for b in bounds[:-1]]
    rows = np.array([(m - 1) % ROWS for m in month_of], dtype=np.int64)
    return bounds, rows, (bounds[:-1] + bounds[1:]) / 2


def _open(x: _Visits, edges: FloatArray) -> float:
    """The stage's load at the end of the known history: visits open then, not yet stale."""
    return float(((x.exit < 0) & (x.a1 < edges[-1])).sum())


def _at_load(exposure: FloatArray, bounds: FloatArray, now: float, gamma: float) -> FloatArray:
    """Each calendar segment's factor ``(its mean load / now) ** -gamma`` on its days at risk:
    rates fitted on days so weighted are the rates at load ``now`` (its mean load: its days
    at risk over its days; a segment without any keeps 1)."""
    load = exposure.sum(axis=1) / np.maximum(np.diff(bounds), 1e-12)
    if gamma == 0 or now <= 0:
        return np.ones(len(load))
    return np.where(load > 0, np.power(np.maximum(load, 1e-12) / now, -gamma), 1.0)


def _weights(mid: FloatArray, now: float, half_life: float) -> FloatArray:
    if math.isinf(half_life):
        return np.ones(len(mid))
    return np.power(0.5, np.maximum(now - mid, 0.0) / half_life)


def _edges(x: _Visits, longest: float) -> FloatArray:
    times = x.a1[x.exit >= 0]
    bands = int(np.clip(len(times) // EXITS_PER_BAND, 2, MAX_BANDS))
    inner = np.quantile(times, np.arange(1, bands) / bands) if len(times) else np.zeros(0)
    edges = np.unique(np.concatenate([[0.0], inner[(inner > 0) & (inner < longest)], [longest]]))
    return edges.astype(np.float64)


def _months_before(first: pd.Timestamp, cut: pd.Timestamp) -> int:
    return (cut.year - first.year) * 12 + cut.month - first.month + (1 if cut.is_month_end else 0)


def choose_hazards(
    visits: pd.DataFrame,
    as_of: pd.Timestamp,
    observed_from: pd.Timestamp,
    longest: float,
    date_only: bool,
) -> HazardFit:
    """The rule of the module docstring for one stage's visits (``_visit_table`` rows: entered,
    left, to, days, entry), as known at the end of ``as_of``."""
    exits = sorted({str(k) for k in visits["to"] if k != ""})
    if not exits or not math.isfinite(longest) or longest <= 0:
        return HazardFit(False, "no exits to time")
    first = observed_from.normalize()
    hold = next(
        (h for h in (3, 2, 1) if _months_before(first, _cut(as_of, h)) >= MIN_MONTHS), 0
    )  # a whole quarter held out when the history allows
    if hold == 0:
        return HazardFit(False, f"age only: fewer than {MIN_MONTHS} months of exits before a "
                                "held-out month to test a calendar cycle")  # fmt: skip
    cut = _cut(as_of, hold)
    epoch = first
    lo = 0.0
    end_t = float((as_of + DAY - epoch) / DAY)
    end_c = float((cut + DAY - epoch) / DAY)
    train = _arrays(visits, cut, epoch, exits, date_only)
    test = _arrays(visits, as_of, epoch, exits, date_only)
    edges = _edges(train, longest)
    bounds, rows, mid = _segments(first, as_of, epoch, cut + DAY)
    e_tr, d_tr = _tables(train, edges, bounds, len(exits), lo, end_c)
    e_te, d_te = _tables(test, edges, bounds, len(exits), end_c, end_t)
    won = exits.index("won") if "won" in exits else -1
    lost = exits.index("lost") if "lost" in exits else -1
    ref = max(
        _loglik(_rates(e_tr, d_tr, rows, np.ones(len(mid)), math.inf), e_te, d_te, rows),
        _loglik(_won_share_rates(e_tr, d_tr, rows, won, lost), e_te, d_te, rows),
    )
    scores: dict[tuple[float, float, bool, float], float] = {}
    for gamma in LOADS:
        # the days at risk at each month's load, as the held-out months' at the cut's
        e_at = e_tr * _at_load(e_tr, bounds, _open(train, edges), gamma)[:, None]
        for hl in HALF_LIVES:
            w = _weights(mid, end_c, hl)
            for m in (*PSEUDO, math.inf):
                for split in (False, True) if math.isfinite(m) else (False,):
                    if math.isinf(m) and math.isinf(hl) and gamma == 0:
                        continue  # the age-only reference itself
                    fit = _rates(e_at, d_tr, rows, w, m, split)
                    scores[(m, hl, split, gamma)] = _loglik(fit, e_te, d_te, rows) - ref
    (m, hl, split, gamma), gain = max(scores.items(), key=lambda kv: kv[1])
    tried = len(scores)
    towards = "the month's split" if split else "the pooled split"
    prior = f"prior {m:g} pseudo-exits per cell towards {towards}, " if math.isfinite(m) else ""
    evidence = (
        f"held out {cut.date() + pd.Timedelta(days=1)}..{as_of.date()} ({hold} month(s), "
        f"{int(d_te.sum()):,} exits): best fit {'by age' if math.isinf(m) else 'by calendar'} "
        f"({prior}half-life {'none' if math.isinf(hl) else f'{hl:g} d'}, load elasticity "
        f"{gamma:g}; best of {tried}) scored {gain:+.1f} nats against age only or age with a "
        f"won share by month (needs > {MARGIN:g})"
    )
    if gain <= MARGIN:
        return HazardFit(False, "age only: " + evidence, gain=gain, months_held_out=hold)
    # refit on everything known at the as-of date, at its load
    full_edges = _edges(test, longest)
    bounds, rows, mid = _segments(first, as_of, epoch, None)
    e_all, d_all = _tables(test, full_edges, bounds, len(exits), lo, end_t)
    now_open = _open(test, full_edges)
    e_all = e_all * _at_load(e_all, bounds, now_open, gamma)[:, None]
    w = _weights(mid, end_t, hl)
    rates = _rates(e_all, d_all, rows, w, m, split)
    exposure = np.zeros((ROWS, len(full_edges) - 1))
    events = np.zeros((ROWS, len(full_edges) - 1, len(exits)))
    np.add.at(exposure, rows, e_all * w[:, None])
    np.add.at(events, rows, d_all * w[:, None, None])
    table = tuple(tuple(tuple(float(f"{x:.6g}") for x in band) for band in row) for row in rates)
    age = _rates(e_all, d_all, rows, w, math.inf)[0]
    won_expected: dict[pd.Period, float] = {}
    if won >= 0:
        # each cell's own rate (no prior, no recency weights; the days at risk at the fit's
        # load): the null model of the win-odds
        # dispersion test, rates constant per (month of the quarter, age band) over time
        with np.errstate(invalid="ignore"):
            cells = np.nan_to_num(_rates(e_all, d_all, rows, np.ones(len(mid)), 0.0))
        per_segment = (e_all * cells[rows][:, :, won]).sum(axis=1)
        for b, x in zip(bounds[:-1], per_segment, strict=True):
            month = (epoch + pd.Timedelta(days=float(b))).to_period("M")
            won_expected[month] = won_expected.get(month, 0.0) + float(x)
    at_load = (f"; rates at the load of {now_open:,.0f} open visits at the as-of date, held "
               "over the forecast" if gamma else "")  # fmt: skip
    return HazardFit(
        True, ("age" if math.isinf(m) else "month of quarter x age") + ": " + evidence + at_load,
        ages=tuple(float(f"{a:.6g}") for a in full_edges), exits=tuple(exits), rates=table,
        pseudo=m, half_life=hl, load=gamma, open_at=now_open, gain=gain, months_held_out=hold,
        exposure=exposure, events=events,
        prior_rates=(
            _split_prior(age, events) if split else np.broadcast_to(age, events.shape).copy()
        ),
        won_expected=won_expected,
    )  # fmt: skip


def _cut(as_of: pd.Timestamp, months: int) -> pd.Timestamp:
    """The as-of date ``months`` calendar months earlier (a month end stays a month end)."""
    cut = as_of - pd.DateOffset(months=months)
    if as_of.is_month_end:
        cut = cut + pd.offsets.MonthEnd(0)
    return pd.Timestamp(cut).normalize()
