"""A stage's competing exits as piecewise-constant hazards by age and calendar (``hazards:``).

While a deal's age in the stage is in band b and the day is in calendar row r (its month of the
quarter or of the year), exit k fires at rate ``rates[r][b][k]`` per day. The first exit to
fire ends the visit; a deal that reaches the last age without one is lost there (the stage's
conversion horizon). So the time in the stage and the way out depend on both the age and the
calendar: quarter-end pushes, quiet quarter starts.

Why our own sampler: no library draws competing risks whose rates change with two clocks at
once (the deal's age and the calendar). It is an exact walk by inversion of the cumulative
hazard: one exponential variable ``E = -log(1 - u)``, spent segment by segment (a segment ends
where an age band or a calendar month ends) until the total rate has used it up; then the exit
is chosen in proportion to the rates of that instant with a second uniform. Tested against the
closed forms (exponential times, cumulative incidence of competing constant hazards, a calendar
gate) in tests/engine/test_hazards.py.

One pure function of its inputs, so both engines (SimPy and the fast path) give the same floats:
SimPy calls :meth:`HazardPlan.draw` per visit; the fast path calls :meth:`HazardPlan.draw_many`,
the same walk over arrays (each step of the scalar walk elementwise, in its order; sums of rates
fixed per plan computed once for both; ``math.log1p`` for both, as numpy's may round otherwise).
Checked float for float against ``draw`` over random plans in tests/engine/test_hazards.py.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt

from simsales.scenario.calendar import TIME_EPS, WorkCalendar
from simsales.scenario.schema import HAZARD_ROWS, Hazards

__all__ = ["REACHED_LAST_AGE", "HazardPlan", "hazard_plan"]

REACHED_LAST_AGE = -1  # the exit index of a deal that reached the last age: lost there

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class HazardPlan:
    """One stage's hazards, compiled against the scenario's calendar."""

    ages: tuple[float, ...]  # band edges, days in the stage
    bounds: tuple[float, ...]  # model time at which each calendar month begins
    month_row: tuple[int, ...]  # the rates' row of each of those months
    rates: tuple[tuple[tuple[float, ...], ...], ...]  # [row][band] -> the rate of each exit
    towards_win: tuple[bool, ...]  # per exit: to won or to a later stage (what win_odds weights)
    won: tuple[bool, ...]  # per exit: to won
    lost: tuple[bool, ...]  # per exit: to lost
    lost_after: float = 0.0  # `stale: {lost_after: N}`: days after the last age until lost
    # per (row, band), computed once: the total rate (fsum) and p_won / p_lost, which depend
    # on the plan alone; both walks read these same floats
    _total: tuple[tuple[float, ...], ...] = field(init=False, repr=False, compare=False)
    _ratios: tuple[tuple[float, ...], ...] = field(init=False, repr=False, compare=False)
    _arrays: _Arrays = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        total = tuple(tuple(math.fsum(r) for r in row) for row in self.rates)
        ratios = tuple(tuple(self._ratio(r) for r in row) for row in self.rates)
        object.__setattr__(self, "_total", total)
        object.__setattr__(self, "_ratios", ratios)
        object.__setattr__(self, "_arrays", _Arrays(self, total, ratios))

    def draw(
        self, start: float, age: float, u_time: float, u_exit: float, scale: float, odds: float
    ) -> tuple[int, float, float]:
        """(exit index, time in the stage, p_won / p_lost of that instant) of a visit staffed at
        model time ``start`` by a deal already ``age`` days in the stage. ``scale`` stretches
        the stage's time (the ``duration`` multiplier: ages times it, rates over it); ``odds``
        weights the exits towards a win at the choice. The exit index is REACHED_LAST_AGE for a
        deal that reached the last age (lost there)."""
        ages, bounds = self.ages, self.bounds
        e = -math.log1p(-u_time)  # the cumulative hazard the visit lasts
        a = age / scale  # in the stage's own days
        band = bisect_right(ages, a) - 1
        last = len(ages) - 1
        if band >= last:
            return REACHED_LAST_AGE, 0.0, math.inf
        month = max(bisect_right(bounds, start + TIME_EPS) - 1, 0)
        t = start
        while True:
            row = self.month_row[min(month, len(self.month_row) - 1)]
            age_end = t + (ages[band + 1] - a) * scale
            month_end = bounds[month + 1] if month + 1 < len(bounds) else math.inf
            end = min(age_end, month_end)
            total = self._total[row][band] / scale
            if total > 0.0 and t + e / total <= end:
                k = self._choose(self.rates[row][band], u_exit, odds)
                return k, t + e / total - start, self._ratios[row][band]
            e -= total * (end - t)
            if age_end <= month_end:
                band += 1
                a = ages[band]
                if band >= last:
                    return REACHED_LAST_AGE, age_end + self.lost_after - start, math.inf
            else:
                a += (end - t) / scale
            if month_end <= age_end:
                month += 1
            t = end

    def draw_many(
        self,
        start: FloatArray,
        age: FloatArray,
        u_time: FloatArray,
        u_exit: FloatArray,
        scale: FloatArray,
        odds: FloatArray,
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        """:meth:`draw` of many visits at once (arrays of one length; the same floats): exit
        indices, times in the stage and ratios. Every still-walking visit advances by one
        segment per step, with the scalar walk's operations elementwise, in its order."""
        start, age, u_time, u_exit, scale, odds = (
            np.asarray(x, np.float64) for x in (start, age, u_time, u_exit, scale, odds)
        )
        n = len(start)
        z = self._arrays
        k = np.full(n, REACHED_LAST_AGE, np.int64)
        dur = np.zeros(n)
        ratio = np.full(n, math.inf)
        last = len(self.ages) - 1
        a = age / scale
        band = np.searchsorted(z.ages, a, side="right") - 1
        idx = np.flatnonzero(band < last)  # the others reached the last age before the start
        if len(idx) == 0:
            return k, dur, ratio
        # math.log1p per value, as draw: numpy's (SIMD) log1p may round differently
        e = -np.fromiter(map(math.log1p, (-u_time[idx]).tolist()), np.float64, len(idx))
        a, band, s, t0 = a[idx], band[idx], scale[idx], start[idx]
        month = np.maximum(np.searchsorted(z.bounds, t0 + TIME_EPS, side="right") - 1, 0)
        t = t0
        bands = z.total.shape[1]
        hit_cell = np.zeros(n, np.int64)  # the (row, band) cell, flat, each exit is chosen in
        left = np.zeros(n, bool)
        while len(idx):
            # month stays below len(month_row): it only moves on at a finite month end
            cell = z.month_row[month] * bands + band
            age_end = t + (z.ages[band + 1] - a) * s
            month_end = z.month_end[month]  # inf after the last month
            end = np.minimum(age_end, month_end)
            total = z.total_flat[cell] / s
            with np.errstate(divide="ignore", invalid="ignore"):  # total 0: never leaves here
                out = t + e / total
            hit = (total > 0.0) & (out <= end)
            if hit.any():
                i = np.flatnonzero(hit)
                h = idx[i]
                dur[h] = out[i] - t0[i]
                hit_cell[h] = cell[i]
                left[h] = True
            # the others spend the segment (what follows is discarded for the visits that left)
            e = e - total * (end - t)
            next_band = (age_end <= month_end) & ~hit
            band = band + next_band
            reached = next_band & (band >= last)
            if reached.any():
                i = np.flatnonzero(reached)
                dur[idx[i]] = age_end[i] + self.lost_after - t0[i]
            a = np.where(next_band, z.ages[band], a + (end - t) / s)
            month = month + (month_end <= age_end)
            t = end
            go = ~(hit | reached)
            if not go.all():
                i = np.flatnonzero(go)
                e, a, s, t0, t = (x[i] for x in (e, a, s, t0, t))
                idx, band, month = (x[i] for x in (idx, band, month))
        out_rows = np.flatnonzero(left)
        if len(out_rows):
            cells = hit_cell[out_rows]
            ratio[out_rows] = z.ratios.ravel()[cells]
            k[out_rows] = self._choose_many(
                cells // bands, cells % bands, u_exit[out_rows], odds[out_rows]
            )
        return k, dur, ratio

    def _weights(self, rates: tuple[float, ...], odds: float) -> tuple[float, list[float], int]:
        """The exits' weights at odds ``odds``: their total (fsum), running sums left to right
        and the last exit of positive weight."""
        w = [r * odds if fwd else r for r, fwd in zip(rates, self.towards_win, strict=True)]
        acc, running = 0.0, []
        for x in w:
            acc += x
            running.append(acc)
        return math.fsum(w), running, max((k for k, x in enumerate(w) if x > 0), default=-1)

    def _choose(self, rates: tuple[float, ...], u: float, odds: float) -> int:
        total, running, last = self._weights(rates, odds)
        x = u * total
        for k, acc in enumerate(running):
            if x < acc:
                return k
        return last  # u * total rounding to the sum

    def _choose_many(
        self, row: IntArray, band: IntArray, u: FloatArray, odds: FloatArray
    ) -> IntArray:
        """:meth:`_choose` of many visits. With one or two exits every step is elementwise (the
        fsum of two floats is their sum rounded, as ``+`` gives it); with more, the totals come
        from the weights' table of each distinct odds."""
        z = self._arrays
        if z.rates.shape[-1] > 2:
            values, which = np.unique(odds, return_inverse=True)
            total, running, last = z.weights([float(x) for x in values.tolist()])
            at = (which, row, band)
            total, running, last = total[at], running[at], last[at]
        else:
            running, last = _running(z.rates[row, band], z.towards_win, odds[:, None])
            total = running[:, -1]
        below = (u * total)[:, None] < running
        return np.where(below.any(axis=1), np.argmax(below, axis=1), last)

    def _ratio(self, rates: tuple[float, ...]) -> float:
        won = math.fsum(r for r, w in zip(rates, self.won, strict=True) if w)
        lost = math.fsum(r for r, x in zip(rates, self.lost, strict=True) if x)
        return won / lost if lost > 0 else math.inf


class _Arrays:
    """A plan's tables as arrays for :meth:`HazardPlan.draw_many`, and the exits' weights at
    each win odds seen so far (the same few odds in every call of a run: built once each)."""

    def __init__(
        self,
        plan: HazardPlan,
        total: tuple[tuple[float, ...], ...],
        ratios: tuple[tuple[float, ...], ...],
    ) -> None:
        self.ages = np.array(plan.ages, np.float64)
        self.bounds = np.array(plan.bounds, np.float64)
        self.month_end = np.append(self.bounds[1:], math.inf)  # of month i: bounds[i + 1]
        self.month_row = np.array(plan.month_row, np.int64)
        self.total = np.array(total, np.float64).reshape(len(plan.rates), -1)
        self.ratios = np.array(ratios, np.float64).reshape(len(plan.rates), -1)
        self.total_flat = self.total.ravel()
        self.rates = np.array(plan.rates, np.float64).reshape(*self.total.shape, -1)
        self.towards_win = np.array(plan.towards_win, bool)
        self._odds: dict[float, int] = {}
        self._tables: list[tuple[FloatArray, FloatArray, IntArray]] = []
        self._stacked: tuple[FloatArray, FloatArray, IntArray] | None = None

    def weights(self, odds: list[float]) -> tuple[FloatArray, FloatArray, IntArray]:
        """(total, running sums, last positive exit) by [position in ``odds``, row, band]."""
        if len(self._odds) > _MAX_ODDS:
            self._odds.clear()
            self._tables.clear()
        new = [x for x in odds if x not in self._odds]
        if new:
            for x in new:
                self._odds[x] = len(self._odds)
            self._tables.append(self._table(np.array(new, np.float64)))
            self._stacked = tuple(np.concatenate(c) for c in zip(*self._tables, strict=True))  # type: ignore[assignment]
        assert self._stacked is not None
        pick = np.array([self._odds[x] for x in odds], np.int64)
        total, running, last = self._stacked
        return total[pick], running[pick], last[pick]

    def _table(self, odds: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
        """HazardPlan._weights of every (odds, row, band) at once: the products and the running
        sums elementwise, column by column as its loop adds; the totals by math.fsum."""
        w = np.where(self.towards_win, self.rates[None] * odds[:, None, None, None], self.rates)
        running, last = _running(self.rates[None], self.towards_win, odds[:, None, None, None])
        flat = w.reshape(-1, w.shape[-1]).tolist()
        total = np.fromiter(map(math.fsum, flat), np.float64, len(flat)).reshape(w.shape[:-1])
        return total, running, last


def _running(
    rates: FloatArray, towards_win: npt.NDArray[np.bool_], odds: FloatArray
) -> tuple[FloatArray, IntArray]:
    """HazardPlan._weights' running sums and last positive exit over the last axis, for rates
    and odds that broadcast: each step elementwise, as its loop takes them."""
    w = np.where(towards_win, rates * odds, rates)
    running = np.empty_like(w)
    acc = np.zeros(w.shape[:-1])
    for j in range(w.shape[-1]):
        acc = acc + w[..., j]
        running[..., j] = acc
    positive = w > 0
    k = w.shape[-1] - 1 - np.argmax(positive[..., ::-1], axis=-1)
    return running, np.where(positive.any(axis=-1), k, -1)


_MAX_ODDS = 4096  # distinct win odds kept per plan (one per replication at most, in a run)


def hazard_plan(
    h: Hazards,
    lost_after: float,
    targets: tuple[int, ...],
    stage: int,
    to_won: int,
    to_lost: int,
    calendar: WorkCalendar,
    start: date,
    horizon: date,
) -> HazardPlan:
    """``h`` over the scenario's months, from its start month to well past the horizon (a visit
    that is still running then is open; what its rates would be later does not matter)."""
    months = (horizon.year - start.year) * 12 + horizon.month - start.month + 2
    bounds = calendar.month_starts(months + 1)
    rows = HAZARD_ROWS[h.by]
    month_of = [(start.month - 1 + i) % 12 for i in range(len(bounds))]  # 0 = January
    row = [m % 3 if rows == 3 else m if rows == 12 else 0 for m in month_of]
    n_bands = len(h.ages) - 1
    rates = tuple(
        tuple(tuple(float(e.per_day[r][b]) for e in h.exits) for b in range(n_bands))
        for r in range(rows)
    )
    return HazardPlan(
        ages=tuple(float(a) for a in h.ages),
        bounds=tuple(float(b) for b in bounds),
        month_row=tuple(row),
        rates=rates,
        towards_win=tuple(t == to_won or t > stage for t in targets),
        won=tuple(t == to_won for t in targets),
        lost=tuple(t == to_lost for t in targets),
        lost_after=max(lost_after, 0.0),
    )
