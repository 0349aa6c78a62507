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

One pure function of its inputs, so both engines (SimPy and the fast path) give the same floats.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date

from simsales.scenario.calendar import TIME_EPS, WorkCalendar
from simsales.scenario.schema import HAZARD_ROWS, Hazards

__all__ = ["REACHED_LAST_AGE", "HazardPlan", "hazard_plan"]

REACHED_LAST_AGE = -1  # the exit index of a deal that reached the last age: lost there


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
            rates = self.rates[self.month_row[min(month, len(self.month_row) - 1)]][band]
            age_end = t + (ages[band + 1] - a) * scale
            month_end = bounds[month + 1] if month + 1 < len(bounds) else math.inf
            end = min(age_end, month_end)
            total = math.fsum(rates) / scale
            if total > 0.0 and t + e / total <= end:
                return self._choose(rates, u_exit, odds), t + e / total - start, self._ratio(rates)
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

    def _choose(self, rates: tuple[float, ...], u: float, odds: float) -> int:
        w = [r * odds if fwd else r for r, fwd in zip(rates, self.towards_win, strict=True)]
        total = math.fsum(w)
        acc = 0.0
        for k, x in enumerate(w):
            acc += x
            if u * total < acc:
                return k
        return max(k for k, x in enumerate(w) if x > 0)  # u * total rounding to the sum

    def _ratio(self, rates: tuple[float, ...]) -> float:
        won = math.fsum(r for r, w in zip(rates, self.won, strict=True) if w)
        lost = math.fsum(r for r, x in zip(rates, self.lost, strict=True) if x)
        return won / lost if lost > 0 else math.inf


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
