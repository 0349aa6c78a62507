"""Calendar seasonality of decisions (a stage's ``won_season``): the factor on a deal's chance to
win for the calendar month its decision day falls in.

A pure lookup, kept apart from the replication's hot loop: the month of a model time follows
the day convention of :mod:`simsales.scenario.calendar` (an end at ``t`` is on the day whose
interval ``(k, k + 1]`` holds ``t``).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date

from simsales.scenario.calendar import TIME_EPS, WorkCalendar
from simsales.scenario.schema import WonSeason


@dataclass(frozen=True)
class SeasonPlan:
    """The factor of every calendar month from the scenario's start month to past the horizon."""

    bounds: tuple[float, ...]  # model time at which each month begins (month i: bounds[i]...)
    factors: tuple[float, ...]

    def at(self, t: float) -> float:
        """The factor of the month in which something ending at model time ``t`` happened."""
        i = bisect_left(self.bounds, t - TIME_EPS) - 1
        return self.factors[min(max(i, 0), len(self.factors) - 1)]


def month_factor(season: WonSeason, month: int) -> float:
    """The factor of calendar month ``month`` (1 = January)."""
    f = 1.0
    if season.month_of_quarter is not None:
        f *= season.month_of_quarter[(month - 1) % 3]
    if season.month_of_year is not None:
        f *= season.month_of_year[month - 1]
    return f


def season_plan(
    season: WonSeason | None, calendar: WorkCalendar, start: date, horizon: date
) -> SeasonPlan | None:
    """``season`` over the scenario's months (None without one)."""
    if season is None:
        return None
    n_months = (horizon.year - start.year) * 12 + horizon.month - start.month + 2
    bounds = calendar.month_starts(n_months)
    months = [(start.month - 1 + i) % 12 + 1 for i in range(n_months)]
    return SeasonPlan(
        tuple(float(b) for b in bounds), tuple(month_factor(season, m) for m in months)
    )
