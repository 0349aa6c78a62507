"""Working calendars: China's Spring Festival, continuous time, periods, validation."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import numpy as np
import pytest
from pydantic import ValidationError

from simsales.scenario.calendar import CalendarSpec, WorkCalendar

START_2026 = date(2026, 1, 5)  # a Monday


@pytest.fixture(scope="module")
def cn_2026() -> holidays.HolidayBase:
    """The package's own view of China 2026: the independent source of truth for these tests."""
    return holidays.country_holidays("CN", years=[2025, 2026, 2027])


@pytest.fixture(scope="module")
def cal_2026() -> WorkCalendar:
    return CalendarSpec(holidays="CN").build(START_2026, date(2026, 12, 31))


def _days(a: date, b: date) -> list[date]:
    return [a + timedelta(days=i) for i in range((b - a).days)]


def _hint(err: ValidationError) -> str:
    return str(err.errors()[0].get("ctx", {}).get("hint", ""))


# --- Spring Festival 2026 -------------------------------------------------------------------


def test_spring_festival_2026_days_off_and_make_up_weekends(
    cn_2026: holidays.HolidayBase, cal_2026: WorkCalendar
) -> None:
    festival = [d for d in cn_2026 if date(2026, 2, 10) <= d <= date(2026, 2, 28)]
    make_up = [d for d in cn_2026.weekend_workdays if date(2026, 2, 1) <= d <= date(2026, 3, 1)]
    # Anchors from the State Council notice, so a data change in the package is noticed.
    assert date(2026, 2, 17) in festival and date(2026, 2, 23) in festival
    assert date(2026, 2, 14) in make_up and date(2026, 2, 14).weekday() == 5  # a Saturday
    for d in festival:
        assert not cal_2026.is_workday(d), d
    for d in make_up:
        assert cal_2026.is_workday(d), d
    for d in _days(date(2026, 2, 1), date(2026, 3, 10)):
        assert cal_2026.is_workday(d) == cn_2026.is_working_day(d), d


def test_round_trip_across_the_festival(cal_2026: WorkCalendar) -> None:
    for d in _days(date(2026, 1, 20), date(2026, 3, 15)):
        t = cal_2026.to_model_time(d)
        assert t == int(t)
        back = cal_2026.to_date(t)
        if cal_2026.is_workday(d):
            assert back == d
        else:  # a day off maps to the next working day
            assert back > d and cal_2026.is_workday(back)
            assert all(not cal_2026.is_workday(x) for x in _days(d, back))
    for k in range(10, 60):
        d = cal_2026.to_date(float(k))
        assert cal_2026.to_model_time(d) == k
        assert cal_2026.to_date(k + 0.75) == d  # the whole interval [k, k+1) is that day
        assert cal_2026.end_date(k + 1.0) == d  # work ending at k+1 finished on day k


def test_ten_working_days_over_the_festival(
    cn_2026: holidays.HolidayBase, cal_2026: WorkCalendar
) -> None:
    begin = date(2026, 2, 12)  # Thursday before the festival
    # Independent count straight from the package: the 10th working day from `begin` inclusive.
    d, counted = begin, 0
    while True:
        if cn_2026.is_working_day(d):
            counted += 1
            if counted == 10:
                break
        d += timedelta(days=1)
    assert d == date(2026, 3, 3)  # 12, 13, 14 (Sat, make-up), 24..28 (28: Sat, make-up), 2, 3

    t0 = cal_2026.to_model_time(begin)
    assert cal_2026.to_date(t0) == begin
    assert cal_2026.end_date(t0 + 10.0) == d
    assert cal_2026.end_date(t0 + 9.4) == d
    assert cal_2026.to_date(t0 + 10.0) == date(2026, 3, 4)  # the next work would start here
    assert cal_2026.workdays_between(begin, date(2026, 3, 4)) == 10


def test_vectorized_matches_scalar_and_nan_is_nat(cal_2026: WorkCalendar) -> None:
    times = np.array([0.0, 3.5, 27.0, 28.999999999999, 250.0, -3.0])
    dates = cal_2026.to_date(times)
    assert dates.dtype == np.dtype("datetime64[D]")
    assert [str(x) for x in dates] == [str(cal_2026.to_date(float(t))) for t in times]
    ends = cal_2026.end_date(np.array([5.0, 5.0000000001, np.nan]))
    assert str(ends[0]) == str(ends[1]) == str(cal_2026.to_date(4.0))  # float noise is snapped
    assert np.isnat(ends[2])
    back = cal_2026.to_model_time(dates)
    np.testing.assert_array_equal(back, np.floor(np.round(times, 6)))
    with pytest.raises(ValueError, match="finite"):
        cal_2026.to_date(float("nan"))


def test_beyond_the_prepared_range_uses_weekday_rules(cal_2026: WorkCalendar) -> None:
    far = date(2045, 3, 6)  # a Monday, long after the prepared years
    assert far >= cal_2026.prepared[1]
    t = cal_2026.to_model_time(far)
    assert cal_2026.to_date(t) == far
    assert cal_2026.to_date(t + 5) == far + timedelta(days=7)
    assert cal_2026.workdays_between(far, far + timedelta(days=14)) == 10
    assert not cal_2026.is_workday(date(2045, 3, 4))  # Saturday
    early = date(2020, 3, 2)  # before the prepared range: negative model time
    assert cal_2026.to_date(cal_2026.to_model_time(early)) == early


def test_start_on_a_day_off_counts_from_the_next_working_day() -> None:
    cal = CalendarSpec(holidays="CN").build(date(2026, 2, 16), date(2026, 6, 30))  # festival eve
    assert cal.to_model_time(date(2026, 2, 16)) == 0.0
    assert cal.to_date(0.0) == date(2026, 2, 24)


# --- other calendars ------------------------------------------------------------------------


def test_continuous_mode_is_plain_days() -> None:
    start = date(2027, 1, 4)
    cal = CalendarSpec(continuous=True).build(start, date(2027, 12, 31))
    for n in range(-40, 2500, 7):  # also far outside the prepared range
        d = start + timedelta(days=n)
        assert cal.is_workday(d)
        assert cal.to_model_time(d) == n
        assert cal.to_date(n + 0.3) == d
        assert cal.end_date(float(n + 1)) == d
    assert cal.workdays_between(start, date(2027, 3, 1)) == (date(2027, 3, 1) - start).days
    assert cal.estimated_years == ()


def test_dates_list_and_extras() -> None:
    spec = CalendarSpec(
        workdays=["mon", "Tuesday", "WED", "thu", "fri"],
        holidays=[date(2027, 1, 6)],
        extra_holidays=[date(2027, 1, 7)],
        extra_workdays=[date(2027, 1, 9)],  # a Saturday make-up day
    )
    cal = spec.build(date(2027, 1, 4), date(2027, 6, 30))
    worked = [d for d in _days(date(2027, 1, 4), date(2027, 1, 12)) if cal.is_workday(d)]
    assert worked == [date(2027, 1, d) for d in (4, 5, 8, 9, 11)]
    assert cal.to_date(3.0) == date(2027, 1, 9)


def test_extra_workdays_override_national_holidays() -> None:
    spec = CalendarSpec(holidays="CN", extra_workdays=[date(2026, 2, 20)])
    cal = spec.build(START_2026, date(2026, 12, 31))
    assert cal.is_workday(date(2026, 2, 20))
    assert not cal.is_workday(date(2026, 2, 19))


def test_weekend_only_for_a_year_the_package_does_not_know() -> None:
    cal = CalendarSpec(holidays="CN").build(date(2101, 1, 3), date(2101, 12, 31))
    assert 2101 in cal.estimated_years and 2101 not in cal.known_years
    for d in _days(date(2101, 1, 1), date(2102, 1, 1)):
        assert cal.is_workday(d) == (d.weekday() < 5), d
    known = CalendarSpec(holidays="CN").build(START_2026, date(2026, 12, 31))
    assert 2026 in known.known_years and known.estimated_years == ()


# --- periods --------------------------------------------------------------------------------


def test_period_labels_and_bounds() -> None:
    cal = CalendarSpec(holidays="CN").build(date(2027, 1, 4), date(2027, 12, 31))
    q1 = cal.period_bounds("2027Q1")
    assert q1 == (cal.to_model_time(date(2027, 1, 1)), cal.to_model_time(date(2027, 4, 1)))
    assert q1[0] == 0.0  # Jan 1 is a holiday, Jan 2-3 a weekend: Q1 starts with the scenario
    t_apr = q1[1]
    assert cal.to_date(t_apr) >= date(2027, 4, 1) > cal.to_date(t_apr - 1)
    times = np.array([0.0, t_apr - 0.01, t_apr, np.nan])
    assert list(cal.period_labels(times, "Q")) == ["2027Q1", "2027Q1", "2027Q2", None]
    assert list(cal.period_labels(times[:3], "M")) == ["2027-01", "2027-03", "2027-04"]
    assert list(cal.period_labels(times[:3], "H")) == ["2027H1"] * 3
    assert list(cal.period_labels(times[:3], "Y")) == ["2027"] * 3
    assert cal.period_of(cal.period_bounds("2027H2")[0], "H") == "2027H2"
    assert cal.period_bounds("2027") == (0.0, cal.to_model_time(date(2028, 1, 1)))
    assert cal.period_bounds(2027) == cal.period_bounds("2027")
    assert cal.period_bounds("2027-12")[1] == cal.period_bounds("2027H2")[1]
    m = cal.month_starts(13)
    assert m[0] == 0.0 and m[3] == q1[1] and m[12] == cal.period_bounds("2028-01")[0]


def test_period_bounds_count_the_first_working_day() -> None:
    # Plain weekends: 2027-01-01 is a Friday and a working day, four working days after start.
    cal = CalendarSpec().build(date(2026, 12, 28), date(2027, 12, 31))
    assert cal.period_bounds("2027Q1")[0] == 4.0
    assert cal.month_starts(2).tolist() == [-19.0, 4.0]  # Dec 1-27 holds 19 weekdays


@pytest.mark.parametrize("label", ["2027Q5", "2027Q0", "2027H3", "2027-13", "27Q1", "Q1", ""])
def test_invalid_period_label(cal_2026: WorkCalendar, label: str) -> None:
    with pytest.raises(ValueError, match="period label"):
        cal_2026.period_bounds(label)


def test_invalid_frequency(cal_2026: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="frequency"):
        cal_2026.period_labels([0.0], "W")  # type: ignore[arg-type]


# --- validation -----------------------------------------------------------------------------


def test_default_spec() -> None:
    spec = CalendarSpec()
    assert spec.workdays == ("Mon", "Tue", "Wed", "Thu", "Fri")
    assert spec.weekmask == "1111100"
    assert CalendarSpec(workdays=["sun", "Mon", "mon"]).workdays == ("Mon", "Sun")


def test_unknown_weekday_suggests_a_fix() -> None:
    with pytest.raises(ValidationError) as err:
        CalendarSpec(workdays=["Mon", "Tue", "Wendesday"])
    assert "unknown weekday 'Wendesday'" in str(err.value)
    assert "'Wed'" in _hint(err.value)


@pytest.mark.parametrize(("code", "suggestion"), [("CNN", "CN"), ("China", "CN"), ("ZZ", None)])
def test_unknown_country_code(code: str, suggestion: str | None) -> None:
    with pytest.raises(ValidationError) as err:
        CalendarSpec(holidays=code)
    assert "unknown holiday country code" in str(err.value)
    hint = _hint(err.value)
    if suggestion:
        assert repr(suggestion) in hint
    assert hint


def test_country_code_is_normalized() -> None:
    assert CalendarSpec(holidays=" cn ").holidays == "CN"


@pytest.mark.parametrize(
    "given",
    [{"holidays": "CN"}, {"workdays": ["Mon"]}, {"extra_holidays": [date(2027, 1, 5)]}],
)
def test_continuous_rejects_workday_settings(given: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="continuous") as err:
        CalendarSpec.model_validate({"continuous": True, **given})
    assert next(iter(given)) in str(err.value)


def test_same_date_in_both_extra_lists() -> None:
    with pytest.raises(ValidationError, match="both"):
        CalendarSpec(extra_holidays=[date(2027, 2, 15)], extra_workdays=[date(2027, 2, 15)])


def test_spec_is_frozen_and_strict() -> None:
    spec = CalendarSpec()
    with pytest.raises(ValidationError):
        spec.continuous = True  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        CalendarSpec.model_validate({"holiday": "CN"})


# --- which day is this model time: one convention for dates and periods ----------------------


def test_start_and_end_days_follow_the_convention(cal_2026: WorkCalendar) -> None:
    t = np.array([0.0, 0.5, 1.0, 4.3, 5.0, 5.0 + 1e-12, 5.0 - 1e-12, np.nan])
    np.testing.assert_array_equal(cal_2026.start_day(t), [0, 0, 1, 4, 5, 5, 5, np.nan])
    # an end at whole t closes at the end of day t - 1; an end at 0 is on day 0, not before it
    np.testing.assert_array_equal(cal_2026.end_day(t), [0, 0, 0, 4, 4, 4, 4, np.nan])
    ends = cal_2026.end_date(t[:-1])
    for day, d in zip(cal_2026.end_day(t[:-1]), ends, strict=True):
        assert str(d) == str(cal_2026.to_date(float(day)))


def test_a_decision_falls_in_the_period_of_its_close_date() -> None:
    # CN 2027: Q1 ends on Wednesday 2027-03-31, Q2 begins on Thursday 2027-04-01
    cal = CalendarSpec(holidays="CN").build(date(2027, 3, 29), date(2027, 6, 30))
    q1, q2 = cal.period_bounds("2027Q1"), cal.period_bounds("2027Q2")
    assert q2[0] == 3.0  # Mon 29, Tue 30, Wed 31 are working days 0, 1, 2
    decisions = np.array([2.5, 3.0, 3.0 + 1e-10, 3.2, 4.0])
    close = cal.end_date(decisions)
    in_q1 = cal.decided_in(decisions, *q1)
    in_q2 = cal.decided_in(decisions, *q2)
    assert [str(d) for d in close] == [
        "2027-03-31",
        "2027-03-31",
        "2027-03-31",
        "2027-04-01",
        "2027-04-01",
    ]
    assert in_q1.tolist() == [True, True, True, False, False]
    assert (in_q1 ^ in_q2).all()  # every decision in exactly one of the two quarters
    for d, a in zip(close, in_q1, strict=True):
        assert a == (np.datetime64("2027-01-01") <= d < np.datetime64("2027-04-01"))
    assert not cal.decided_in(np.array([np.nan]), *q1).any()


def test_end_days_and_dates_are_end_day_and_end_date(cal_2026: WorkCalendar) -> None:
    """Both at once, open (NaN) and infinite times included, and days past the prepared
    range on either side: the same days and dates as the two methods alone."""
    t = np.array([0.0, 0.2, 1.0, 4.3, 5.0, 5.0 + 1e-12, np.nan, np.inf, 300.0, 900.5, -3.5])
    for times in (t, t[np.isfinite(t)]):
        day, dates = cal_2026.end_days_and_dates(times)
        assert np.array_equal(day, cal_2026.end_day(times), equal_nan=True)
        want = cal_2026.end_date(times)
        assert dates.dtype == want.dtype and dates.tobytes() == want.tobytes()
