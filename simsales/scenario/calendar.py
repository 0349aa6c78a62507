"""Working calendars: model time (working days since ``start``) <-> calendar dates.

The simulation clock is a float in working days of the scenario's calendar (plain days when
``continuous``); ``0.0`` is the start of the scenario's ``start`` date. Working days are numbered
0, 1, 2, ... from ``start`` (working day 0 is the first working day on or after ``start``) and the
model-time interval ``[k, k + 1)`` is working day ``k``.

**Which day is this model time** — the one convention every table, summary, report and target
uses (:meth:`WorkCalendar.start_day` and :meth:`WorkCalendar.end_day`):

* something that *starts* at ``t`` (an arrival, a stage start, a risk) starts on working day
  ``floor(t)``;
* something that *ends* at ``t`` — a stage, and so a decision (won or lost) — happened on working
  day ``ceil(t) - 1``: the day whose interval ``(k, k + 1]`` holds ``t``. Integer ``t`` closes at
  the end of day ``t - 1``: a stage occupying working days 0..4 ends at ``t = 5.0``, on day 4.
  An end at exactly ``t = 0`` (decided before any work) falls on day 0, the start.

A decision belongs to a period (a month, quarter, target period) when its *day* lies in it, so the
close date shown for a deal and the period its revenue is booked in always agree
(:meth:`WorkCalendar.decided_in`). The horizon is the end of its day (``horizon_t``), and a
decision exactly at ``horizon_t`` falls on the horizon day: inside. Times within
:data:`TIME_EPS` of a whole day count as that whole day (float sums of durations land a hair off).

Holidays come from the `holidays` package (national holidays, and for countries such as China the
adjusted working weekends, 调休, which the package exposes as ``HolidayBase.weekend_workdays``), or
from a list of dates. Dates are prepared from January of the year before ``start`` to three full
years past the horizon; outside that range only the weekly rule applies.
"""

from __future__ import annotations

import difflib
import math
import re
from datetime import date
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simsales.errors import invalid

__all__ = ["TIME_EPS", "WEEKDAYS", "CalendarSpec", "Freq", "Weekday", "WorkCalendar"]

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_ALIASES: dict[str, Weekday] = {
    **{d.lower(): d for d in WEEKDAYS},
    **dict(zip(_FULL_NAMES, WEEKDAYS, strict=True)),
}

Freq = Literal["M", "Q", "H", "Y"]
_PERIOD_RE = re.compile(r"^(\d{4})(?:-(\d{2})|Q(\d)|H(\d))?$")
TIME_EPS = 1e-9  # float sums of durations land a hair off whole days; treat those as whole

DateArray = npt.NDArray[np.datetime64]
FloatArray = npt.NDArray[np.float64]


class CalendarSpec(BaseModel):
    """The ``calendar:`` section of a scenario: which days are working days."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    workdays: tuple[Weekday, ...] = Field(
        default=("Mon", "Tue", "Wed", "Thu", "Fri"),
        description="working weekdays: Mon..Sun or full names, any case",
    )
    holidays: str | list[date] | None = Field(
        default=None,
        description="a country code known to the `holidays` package (e.g. CN, which includes "
        "adjusted working weekends), or a list of dates",
    )
    extra_holidays: list[date] = Field(default_factory=list, description="more days off")
    extra_workdays: list[date] = Field(
        default_factory=list, description="days worked although otherwise off (make-up days)"
    )
    continuous: bool = Field(default=False, description="plain calendar days: every day counts")

    @field_validator("workdays", mode="before")
    @classmethod
    def _parse_workdays(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            return value  # let pydantic report the type error
        days: set[Weekday] = set()
        for item in value:
            if not isinstance(item, str):
                raise invalid(f"weekday must be a name like Mon, not {item!r}")
            key = item.strip().lower()
            if key not in _WEEKDAY_ALIASES:
                raise invalid(f"unknown weekday {item!r}", _did_you_mean(key, _WEEKDAY_ALIASES))
            days.add(_WEEKDAY_ALIASES[key])
        if not days:
            raise invalid("workdays is empty", "list at least one weekday, e.g. [Mon, Tue]")
        return tuple(d for d in WEEKDAYS if d in days)  # canonical order, no duplicates

    @field_validator("holidays")
    @classmethod
    def _check_country(cls, value: str | list[date] | None) -> str | list[date] | None:
        if not isinstance(value, str):
            return value
        code = value.strip().upper()
        import holidays as holidays_pkg  # only for scenarios that name a country

        supported = holidays_pkg.list_supported_countries()
        if code not in supported:
            raise invalid(f"unknown holiday country code {value!r}", _country_hint(value))
        return code

    @model_validator(mode="after")
    def _check_consistency(self) -> CalendarSpec:
        if self.continuous:
            given = sorted(
                {"workdays", "holidays", "extra_holidays", "extra_workdays"} & self.model_fields_set
            )
            if given:
                raise invalid(
                    f"continuous: true counts plain calendar days, so {', '.join(given)} "
                    "must not be given",
                    "remove them, or set continuous: false",
                )
        both = sorted(set(self.extra_holidays) & set(self.extra_workdays))
        if both:
            raise invalid(
                f"{', '.join(map(str, both))} listed in both extra_holidays and extra_workdays",
                "keep each date in one list",
            )
        return self

    @property
    def weekmask(self) -> str:
        """The numpy busday weekmask, Monday first: ``"1111100"`` for Mon-Fri."""
        if self.continuous:
            return "1111111"
        return "".join("1" if d in self.workdays else "0" for d in WEEKDAYS)

    def build(self, start: date, end: date) -> WorkCalendar:
        """Prepare the calendar for a scenario running from ``start`` to the horizon ``end``."""
        if end < start:
            raise ValueError(f"end ({end}) is before start ({start})")
        first = date(start.year - 1, 1, 1)  # pipeline deals started before `start`
        stop = date(end.year + 4, 1, 1)  # deals run past the horizon in the model
        years = range(first.year, stop.year)
        off: set[date] = set(self.extra_holidays)
        on: set[date] = set(self.extra_workdays)
        known: set[int] = set(years)
        if isinstance(self.holidays, list):
            off |= set(self.holidays) - on
        elif isinstance(self.holidays, str):
            import holidays as holidays_pkg

            country = holidays_pkg.country_holidays(self.holidays, years=years)
            national_on = {d for d in country.weekend_workdays if first <= d < stop}
            off |= (set(country) - national_on) - on
            # Extras win over national data: a company may work a holiday or skip a make-up day.
            on |= national_on - set(self.extra_holidays)
            known = _known_years(country) & known
        all_days = np.arange(np.datetime64(first), np.datetime64(stop), dtype="datetime64[D]")
        work = np.is_busday(all_days, weekmask=self.weekmask)
        work[np.isin(all_days, _as_days(off))] = False
        work[np.isin(all_days, _as_days(on))] = True
        estimated = tuple(y for y in range(start.year, end.year + 1) if y not in known)
        return WorkCalendar(
            start,
            all_days[work],
            weekmask=self.weekmask,
            prepared=(first, stop),
            known_years=frozenset(known),
            estimated_years=estimated,
            continuous=self.continuous,
        )


class WorkCalendar:
    """Converts between model time (working days since ``start``) and dates.

    Build it with :meth:`CalendarSpec.build`. Model times before ``start`` are negative. Dates
    outside :attr:`prepared` follow the weekly rule only (no holidays, no make-up days).
    """

    def __init__(
        self,
        start: date,
        working_days: DateArray,
        *,
        weekmask: str,
        prepared: tuple[date, date],
        known_years: frozenset[int],
        estimated_years: tuple[int, ...],
        continuous: bool = False,
    ) -> None:
        self.start = start
        self.weekmask = weekmask
        self.prepared = prepared  # [first, stop): dates where holidays are applied
        # Years whose holidays come from authoritative data. For a country with yearly decreed
        # arrangements (CN) that is only the years the installed `holidays` has decrees for.
        self.known_years = known_years
        # Years in [start, horizon] that are not known: the loader should warn about these.
        self.estimated_years = estimated_years
        self.continuous = continuous
        self._days = np.asarray(working_days, dtype="datetime64[D]")
        self._first = np.datetime64(prepared[0], "D")
        self._stop = np.datetime64(prepared[1], "D")
        # Position of working day 0 in `_days`; `_to_index` gives the same for any date.
        self._origin = int(self._to_index(np.array([np.datetime64(start, "D")]))[0])

    def __repr__(self) -> str:
        kind = "continuous" if self.continuous else self.weekmask
        return f"WorkCalendar(start={self.start}, {kind}, prepared={self.prepared})"

    # --- dates -> model time -------------------------------------------------------------

    def is_workday(self, d: date) -> bool:
        """Whether ``d`` is a working day of this calendar."""
        day = np.datetime64(d, "D")
        if self._first <= day < self._stop:
            i = int(np.searchsorted(self._days, day))
            return i < len(self._days) and self._days[i] == day
        return bool(np.is_busday(day, weekmask=self.weekmask))

    @overload
    def to_model_time(self, d: date) -> float: ...
    @overload
    def to_model_time(self, d: DateArray) -> FloatArray: ...
    def to_model_time(self, d: date | DateArray) -> float | FloatArray:
        """Working days from ``start`` to ``d``: the index of the first working day on/after ``d``.

        So a working day maps to its own index and a day off to the next working day's index;
        ``to_model_time(start)`` is 0.0 when ``start`` is a working day. NaT maps to NaN.
        """
        if isinstance(d, date):
            return float(self._to_index(np.array([np.datetime64(d, "D")]))[0] - self._origin)
        days = np.asarray(d, dtype="datetime64[D]")
        out = (self._to_index(days) - self._origin).astype(np.float64)
        out[np.isnat(days)] = np.nan
        return out

    def workdays_between(self, a: date, b: date) -> int:
        """Working days in ``[a, b)``; negative when ``b`` is before ``a``, like busday_count."""
        return int(self.to_model_time(b) - self.to_model_time(a))

    def _to_index(self, days: DateArray) -> npt.NDArray[np.int64]:
        """Position in `_days` of the first working day on/after each date (extrapolating)."""
        pos = np.searchsorted(self._days, days, side="left").astype(np.int64)
        before = days < self._first
        after = days >= self._stop
        if before.any():
            pos[before] = -np.busday_count(days[before], self._first, weekmask=self.weekmask)
        if after.any():
            pos[after] = len(self._days) + np.busday_count(
                self._stop, days[after], weekmask=self.weekmask
            )
        return pos

    # --- model time -> dates -------------------------------------------------------------

    @overload
    def to_date(self, t: float) -> date: ...
    @overload
    def to_date(self, t: npt.ArrayLike) -> DateArray: ...
    def to_date(self, t: float | npt.ArrayLike) -> date | DateArray:
        """The date of the *instant* ``t``: working day ``floor(t)``.

        A float gives a ``date`` (NaN/inf raise ValueError); an array gives ``datetime64[D]``
        with NaT where ``t`` is not finite (e.g. deals still open).
        """
        return self._convert(t, np.floor)

    @overload
    def end_date(self, t: float) -> date: ...
    @overload
    def end_date(self, t: npt.ArrayLike) -> DateArray: ...
    def end_date(self, t: float | npt.ArrayLike) -> date | DateArray:
        """The date on which work *ending* at ``t`` finished: working day :meth:`end_day`.

        Work occupying working days 0..4 ends at ``t = 5.0`` and finished on working day 4;
        ``t = 4.3`` also finishes on day 4. Use this for stage ends and close dates.
        """
        return self._convert(t, _end_rule)

    def start_day(self, t: npt.ArrayLike) -> FloatArray:
        """Working-day index on which something *starting* at ``t`` starts: ``floor(t)``.

        NaN where ``t`` is not finite. :meth:`to_date` gives its date.
        """
        return self._day_index(t, np.floor)

    def end_day(self, t: npt.ArrayLike) -> FloatArray:
        """Working-day index on which something *ending* (or decided) at ``t`` happened.

        ``ceil(t) - 1``, and day 0 for ``t = 0`` (see the module docstring); NaN where
        ``t`` is not finite. :meth:`end_date` gives its date.
        """
        return self._day_index(t, _end_rule)

    def end_days_and_dates(self, t: npt.ArrayLike) -> tuple[FloatArray, DateArray]:
        """:meth:`end_day` and :meth:`end_date` of an array of times, the day worked out once
        (a forecast's close dates and the decision days its periods are counted by)."""
        day = self.end_day(t)
        finite = ~np.isnan(day)  # NaN exactly where t is not finite
        every = bool(finite.all())
        index = (day if every else np.where(finite, day, 0.0)).astype(np.int64)
        dates = self._index_to_dates(index + self._origin)
        if not every:
            dates[~finite] = np.datetime64("NaT")
        return day, dates

    def decided_in(self, t: npt.ArrayLike, t0: float, t1: float) -> npt.NDArray[np.bool_]:
        """Whether decisions at model times ``t`` fall in the period ``[t0, t1)`` of
        :meth:`period_bounds`: their :meth:`end_day` lies in it (False where ``t`` is NaN)."""
        day = self.end_day(t)
        with np.errstate(invalid="ignore"):
            return np.asarray((day >= t0) & (day < t1), dtype=bool)

    def _day_index(self, t: npt.ArrayLike, rule: Any) -> FloatArray:
        times = np.asarray(t, dtype=np.float64)
        finite = np.isfinite(times)
        if finite.all():  # every time (e.g. every deal decided): no masks
            return np.asarray(rule(_snap(times)), np.float64)
        out = np.full(times.shape, np.nan)
        out[finite] = rule(_snap(times[finite]))
        return out

    def _convert(self, t: float | npt.ArrayLike, rule: Any) -> date | DateArray:
        if isinstance(t, int | float | np.integer | np.floating):
            if not math.isfinite(t):
                raise ValueError(f"model time must be finite, got {t}")
            day = self._convert_array(np.array([float(t)]), rule)[0]
            return date.fromisoformat(str(day))
        return self._convert_array(np.asarray(t, dtype=np.float64), rule)

    def _convert_array(self, times: FloatArray, rule: Any) -> DateArray:
        finite = np.isfinite(times)
        if finite.all():  # every time (e.g. every deal decided): the same days, no masks
            return self._index_to_dates(rule(_snap(times)).astype(np.int64) + self._origin)
        index = np.zeros(times.shape, dtype=np.int64)
        index[finite] = rule(_snap(times[finite])).astype(np.int64)
        out = self._index_to_dates(index + self._origin)
        out[~finite] = np.datetime64("NaT")
        return out

    def _index_to_dates(self, pos: npt.NDArray[np.int64]) -> DateArray:
        """Dates of working-day positions in `_days`, extrapolating past both ends."""
        n = len(self._days)
        inside = (pos >= 0) & (pos < n)
        if inside.all():  # within the calendar's days: a plain look-up
            return self._days[pos]
        out = np.empty(pos.shape, dtype="datetime64[D]")
        out[inside] = self._days[pos[inside]]
        before, after = pos < 0, pos >= n
        if before.any():
            out[before] = np.busday_offset(
                self._first, pos[before], roll="forward", weekmask=self.weekmask
            )
        if after.any():
            out[after] = np.busday_offset(
                self._stop, pos[after] - n, roll="forward", weekmask=self.weekmask
            )
        return out

    # --- calendar periods ----------------------------------------------------------------

    def month_starts(self, n_months: int) -> FloatArray:
        """Model times at which ``n_months`` calendar months, from ``start``'s month, begin.

        Month ``i`` spans ``[starts[i], starts[i + 1])``; ask for ``n_months + 1`` to get the end
        of the last one. ``starts[0] <= 0`` when ``start`` is not the month's first working day:
        the first month is partly before the simulation (scale its arrivals accordingly).
        """
        first = np.datetime64(self.start, "M")
        months = first + np.arange(n_months)
        return self.to_model_time(months.astype("datetime64[D]"))

    def period_labels(self, times: npt.ArrayLike, freq: Freq) -> npt.NDArray[np.object_]:
        """Labels of the calendar periods that instants fall in: "2027-03", "2027Q1", "2027H1",
        "2027" for freq M, Q, H, Y. Non-finite times get None."""
        if freq not in ("M", "Q", "H", "Y"):
            raise ValueError(f"unknown period frequency {freq!r}: use one of M, Q, H, Y")
        days = self.to_date(np.atleast_1d(np.asarray(times, dtype=np.float64)))
        months = days.astype("datetime64[M]")
        valid = ~np.isnat(months)
        codes = np.where(valid, months.astype(np.int64), 0)  # months since 1970-01
        unique, inverse = np.unique(codes, return_inverse=True)
        names = np.array([_label(int(c) // 12 + 1970, int(c) % 12 + 1, freq) for c in unique])
        out = names.astype(object)[inverse].reshape(days.shape)
        out[~valid] = None
        return out

    def period_of(self, t: float, freq: Freq) -> str:
        """The label of the period that the instant ``t`` falls in (see :meth:`period_labels`)."""
        return str(self.period_labels([t], freq)[0])

    def period_bounds(self, label: str | int) -> tuple[float, float]:
        """Model times ``(t0, t1)`` of a period label: instants ``t0 <= t < t1`` fall in it.

        ``t0`` is the model time of the period's first day (the first working day on/after it);
        it is negative for a period that begins before ``start``. Labels: "2027", "2027H1",
        "2027Q1", "2027-03".
        """
        first, after = _parse_period(str(label))
        return self.to_model_time(first), self.to_model_time(after)


def _snap(times: FloatArray) -> FloatArray:
    """Times within TIME_EPS of a whole day, as that whole day."""
    rounded = np.rint(times)
    return np.where(np.abs(times - rounded) < TIME_EPS, rounded, times)


def _end_rule(times: FloatArray) -> FloatArray:
    """The working day of an end at ``times`` (already snapped): see the module docstring."""
    return np.where(times == 0, 0.0, np.ceil(times) - 1)


def _label(year: int, month: int, freq: Freq) -> str:
    if freq == "M":
        return f"{year:04d}-{month:02d}"
    if freq == "Q":
        return f"{year:04d}Q{(month - 1) // 3 + 1}"
    if freq == "H":
        return f"{year:04d}H{(month - 1) // 6 + 1}"
    return f"{year:04d}"


def _parse_period(label: str) -> tuple[date, date]:
    """First day of the period and first day after it."""
    text = label.strip().upper()
    match = _PERIOD_RE.match(text)
    if match is None:
        raise ValueError(
            f"invalid period label {label!r}: use YYYY, YYYYH1-2, YYYYQ1-4 or YYYY-MM "
            "(e.g. 2027, 2027H1, 2027Q1, 2027-03)"
        )
    year = int(match[1])
    month, quarter, half = match[2], match[3], match[4]
    first_month, length = 1, 12
    if month is not None:
        first_month, length = int(month), 1
        if not 1 <= first_month <= 12:
            raise ValueError(f"invalid period label {label!r}: month must be 01..12")
    elif quarter is not None:
        if not 1 <= int(quarter) <= 4:
            raise ValueError(f"invalid period label {label!r}: quarter must be Q1..Q4")
        first_month, length = 3 * int(quarter) - 2, 3
    elif half is not None:
        if not 1 <= int(half) <= 2:
            raise ValueError(f"invalid period label {label!r}: half must be H1 or H2")
        first_month, length = 6 * int(half) - 5, 6
    end_year, end_month = divmod(first_month - 1 + length, 12)
    return date(year, first_month, 1), date(year + end_year, end_month + 1, 1)


def _as_days(dates: set[date]) -> DateArray:
    return np.array(sorted(dates), dtype="datetime64[D]")


def _known_years(country: Any) -> set[int]:
    """Years for which a `holidays` country object has authoritative data.

    Rule-based holidays are known for the package's supported years. Countries whose days off
    are decreed yearly with substituted (make-up) days, like China's 调休, are only known up to
    the last year with such a decree; later years hold statutory days only.
    """
    years = set(range(country.start_year, country.end_year + 1))
    decrees = getattr(country, "special_public_holidays", None) or {}
    substituted = [
        year
        for year, entries in decrees.items()
        if any(len(e) >= 4 for e in _entries(entries))  # (to_m, to_d, from_m, from_d[, year])
    ]
    if substituted:
        years = {y for y in years if y <= max(substituted)}
    return years


def _entries(entries: Any) -> tuple[tuple[Any, ...], ...]:
    # The package stores a single entry as a bare tuple and several as a tuple of tuples.
    if entries and isinstance(entries[0], tuple):
        return tuple(entries)
    return (tuple(entries),) if entries else ()


def _did_you_mean(word: str, choices: Any) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    if not close:
        return None
    suggestion = _WEEKDAY_ALIASES.get(close[0], close[0])
    return f"did you mean {suggestion!r}? use Mon, Tue, Wed, Thu, Fri, Sat or Sun"


def _country_hint(value: str) -> str:
    """Suggest a country code: by code similarity or by country name (e.g. "China" -> CN)."""
    import holidays as holidays_pkg
    from holidays.registry import COUNTRIES  # a plain dict: module name -> (class, codes...)

    by_name = {name.replace("_", " "): entry[1] for name, entry in COUNTRIES.items()}
    key = value.strip().lower().replace("_", " ")
    if key in by_name:
        return f"did you mean {by_name[key]!r}? holidays takes ISO 3166 country codes"
    codes = list(holidays_pkg.list_supported_countries())
    close = difflib.get_close_matches(value.strip().upper(), codes, n=3, cutoff=0.5)
    close += [by_name[n] for n in difflib.get_close_matches(key, by_name, n=2, cutoff=0.8)]
    if close:
        listed = " or ".join(repr(c) for c in list(dict.fromkeys(close))[:3])
        return f"did you mean {listed}? or give a list of dates"
    return "use an ISO 3166 country code such as CN, US, DE, or give a list of dates"
