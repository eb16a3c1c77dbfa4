from datetime import UTC, date, datetime, timedelta

import holidays
import pytest

from hanport.calendar import (
    OSLO,
    InvalidInstant,
    WorkingCalendar,
    format_local,
    format_local_offset,
    isoformat_utc,
    parse_instant,
    to_utc,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def oslo(text: str) -> datetime:
    """An unambiguous Oslo local time from test text (refuses gap/overlap like the real code)."""
    return parse_instant(text)


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


# --- parse_instant -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-17T09:30:00Z", utc(2026, 5, 17, 9, 30)),
        ("2026-03-29T00:00:00+01:00", utc(2026, 3, 28, 23, 0)),
        ("2026-10-25T02:30+02:00", utc(2026, 10, 25, 0, 30)),  # first 02:30
        ("2026-10-25T02:30+01:00", utc(2026, 10, 25, 1, 30)),  # second 02:30
        ("2026-03-29T02:30+01:00", utc(2026, 3, 29, 1, 30)),  # with an offset, any instant
        ("2026-01-15T12:00", utc(2026, 1, 15, 11, 0)),  # local, CET
        ("2026-07-15T12:00", utc(2026, 7, 15, 10, 0)),  # local, CEST
        ("2026-05-17", utc(2026, 5, 16, 22, 0)),  # a date is local midnight
        ("2026-03-29T01:59", utc(2026, 3, 29, 0, 59)),  # just before the gap
        ("2026-03-29T03:00", utc(2026, 3, 29, 1, 0)),  # just after the gap
        ("2026-10-25T01:59", utc(2026, 10, 24, 23, 59)),  # just before the overlap
        ("2026-10-25T03:00", utc(2026, 10, 25, 2, 0)),  # just after the overlap
        ("  2026-05-17T09:30:00+02:00 ", utc(2026, 5, 17, 7, 30)),
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-03-29T02:30", "2026-03-29T02:00", "2027-03-28T02:30"])
def test_parse_instant_refuses_local_time_in_spring_gap(text: str) -> None:
    with pytest.raises(InvalidInstant, match="does not exist") as err:
        parse_instant(text)
    assert "offset" in str(err.value)


@pytest.mark.parametrize("text", ["2026-10-25T02:30", "2026-10-25T02:00", "2026-10-25T02:59:59"])
def test_parse_instant_refuses_ambiguous_local_time_in_autumn(text: str) -> None:
    with pytest.raises(InvalidInstant, match="happens twice") as err:
        parse_instant(text)
    assert "offset" in str(err.value)


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-02-30", "2026-05-17 25:00", "17.05.2026"])
def test_parse_instant_refuses_garbage(text: str) -> None:
    with pytest.raises(InvalidInstant, match="ISO 8601"):
        parse_instant(text)


def test_dst_days_have_23_and_25_hours() -> None:
    assert parse_instant("2026-03-30") - parse_instant("2026-03-29") == timedelta(hours=23)
    assert parse_instant("2026-10-26") - parse_instant("2026-10-25") == timedelta(hours=25)
    assert parse_instant("2026-05-18") - parse_instant("2026-05-17") == timedelta(hours=24)


# --- conversions and formatting -------------------------------------------------------------


def test_to_utc_and_isoformat_utc() -> None:
    local = datetime(2026, 3, 29, 3, 0, tzinfo=OSLO)
    assert to_utc(local) == utc(2026, 3, 29, 1, 0)
    assert to_utc(local).tzinfo is UTC
    assert isoformat_utc(local) == "2026-03-29T01:00:00+00:00"


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2026, 3, 29, 1, 0), "2026-03-29 03:00 CEST"),
        (utc(2026, 3, 29, 0, 59), "2026-03-29 01:59 CET"),
        (utc(2026, 10, 25, 0, 30), "2026-10-25 02:30 CEST"),
        (utc(2026, 10, 25, 1, 30), "2026-10-25 02:30 CET"),
    ],
)
def test_format_local(instant: datetime, expected: str) -> None:
    assert format_local(instant) == expected


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (
            utc(2026, 3, 2, 8, 15) + timedelta(seconds=30, microseconds=123456),
            "2026-03-02 09:15 +01:00",
        ),
        (utc(2026, 3, 29, 1, 0), "2026-03-29 03:00 +02:00"),
        (utc(2026, 10, 25, 0, 30), "2026-10-25 02:30 +02:00"),
        (utc(2026, 10, 25, 1, 30), "2026-10-25 02:30 +01:00"),
    ],
)
def test_format_local_offset(instant: datetime, expected: str) -> None:
    assert format_local_offset(instant) == expected


@pytest.mark.parametrize("func", [to_utc, isoformat_utc, format_local])
def test_naive_datetimes_are_refused(func: object) -> None:
    with pytest.raises(InvalidInstant, match="no time zone"):
        func(datetime(2026, 5, 17, 12, 0))  # type: ignore[operator]


# --- holidays -------------------------------------------------------------------------------


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm), independent of `holidays`."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _expected_holidays(year: int) -> set[date]:
    easter = _easter(year)
    return {
        date(year, 1, 1),
        easter - timedelta(days=3),  # Maundy Thursday
        easter - timedelta(days=2),  # Good Friday
        easter,
        easter + timedelta(days=1),  # Easter Monday
        date(year, 5, 1),
        date(year, 5, 17),
        easter + timedelta(days=39),  # Ascension Day
        easter + timedelta(days=49),  # Whit Sunday
        easter + timedelta(days=50),  # Whit Monday
        date(year, 12, 25),
        date(year, 12, 26),
    }


def test_holidays_2026_are_exactly_the_norwegian_public_holidays(cal: WorkingCalendar) -> None:
    assert set(cal.public_holidays(2026)) == {
        date(2026, 1, 1),
        date(2026, 4, 2),  # Maundy Thursday
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 5),  # Easter Sunday
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 1),
        date(2026, 5, 14),  # Ascension Day
        date(2026, 5, 17),  # Constitution Day, a Sunday in 2026
        date(2026, 5, 24),  # Whit Sunday
        date(2026, 5, 25),  # Whit Monday
        date(2026, 12, 25),
        date(2026, 12, 26),
    }


@pytest.mark.parametrize("year", range(2000, 2101))
def test_holidays_match_an_independent_computation(year: int) -> None:
    assert set(WorkingCalendar().public_holidays(year)) == _expected_holidays(year)


def test_easter_2027_is_on_the_dst_day(cal: WorkingCalendar) -> None:
    assert _easter(2027) == date(2027, 3, 28)
    assert date(2027, 3, 28) in cal.public_holidays(2027)


def test_holidays_package_with_include_sundays_adds_every_sunday() -> None:
    # Documents why the calendar passes include_sundays=False and handles Sundays itself.
    with_sundays = holidays.country_holidays("NO", years=2026, include_sundays=True)
    assert len(with_sundays) > 50
    assert date(2026, 1, 4) in with_sundays  # an ordinary Sunday


# --- working days ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 27), True),  # Friday
        (date(2026, 3, 28), False),  # Saturday
        (date(2026, 3, 29), False),  # Sunday, DST starts
        (date(2026, 3, 30), True),
        (date(2026, 4, 2), False),  # Maundy Thursday
        (date(2026, 4, 3), False),  # Good Friday
        (date(2026, 4, 4), False),  # Easter Saturday: not a holiday, but a Saturday
        (date(2026, 4, 6), False),  # Easter Monday
        (date(2026, 4, 7), True),
        (date(2026, 5, 1), False),
        (date(2026, 5, 14), False),  # Ascension Day
        (date(2026, 5, 17), False),  # Sunday and Constitution Day
        (date(2026, 5, 18), True),
        (date(2026, 5, 25), False),  # Whit Monday
        (date(2026, 12, 24), True),  # Christmas Eve is not a public holiday
        (date(2026, 12, 31), True),
        (date(2027, 1, 1), False),
    ],
)
def test_is_working_day(cal: WorkingCalendar, day: date, working: bool) -> None:
    assert cal.is_working_day(day) is working


def test_is_working_day_refuses_datetime(cal: WorkingCalendar) -> None:
    with pytest.raises(TypeError):
        cal.is_working_day(utc(2026, 4, 2, 10, 0))


def test_friday_before_easter_week_plus_3_working_days(cal: WorkingCalendar) -> None:
    # Fri 27 March (CET) → Mon 30, Tue 31, Wed 1 April (CEST); Thu 2 April is Maundy Thursday.
    request = oslo("2026-03-27T15:00")
    due = cal.add_working_days(request, 3)
    assert format_local(due) == "2026-04-01 15:00 CEST"
    assert due == utc(2026, 4, 1, 13, 0)
    assert due - request == timedelta(days=5, hours=-1)  # a day of 23 hours in between


def test_wednesday_before_easter_plus_3_working_days(cal: WorkingCalendar) -> None:
    # After Wed 1 April: Thu 2, Fri 3 holidays; Sat 4, Sun 5 weekend; Mon 6 holiday;
    # Tue 7 (1), Wed 8 (2), Thu 9 (3). The 3rd working day is Thursday 9 April.
    due = cal.add_working_days(oslo("2026-04-01T10:00"), 3)
    assert format_local(due) == "2026-04-09 10:00 CEST"


def test_working_days_skip_easter_sunday_on_the_dst_day_2027(cal: WorkingCalendar) -> None:
    # Maundy Thursday 25, Good Friday 26, Easter Sunday 28 (DST starts), Easter Monday 29 March.
    due = cal.add_working_days(oslo("2027-03-24T09:00"), 1)
    assert format_local(due) == "2027-03-30 09:00 CEST"


def test_working_days_over_17_may_2026(cal: WorkingCalendar) -> None:
    # Ascension Thu 14 May; 17 May on a Sunday gives no extra day off; Whit Monday 25 May.
    assert format_local(cal.add_working_days(oslo("2026-05-13T08:00"), 1)) == (
        "2026-05-15 08:00 CEST"
    )
    assert format_local(cal.add_working_days(oslo("2026-05-15T08:00"), 1)) == (
        "2026-05-18 08:00 CEST"
    )
    assert format_local(cal.add_working_days(oslo("2026-05-22T08:00"), 1)) == (
        "2026-05-26 08:00 CEST"
    )


def test_request_on_a_holiday_counts_from_the_next_working_day(cal: WorkingCalendar) -> None:
    due = cal.add_working_days(oslo("2026-04-05T12:00"), 1)  # Easter Sunday
    assert format_local(due) == "2026-04-07 12:00 CEST"


def test_zero_and_negative_working_days(cal: WorkingCalendar) -> None:
    start = oslo("2026-04-07T10:00")
    assert cal.add_working_days(start, 0) == start
    assert format_local(cal.add_working_days(start, -1)) == "2026-04-01 10:00 CEST"


def test_local_date_is_used_not_the_utc_date(cal: WorkingCalendar) -> None:
    # 23:30 UTC on Thursday 2026-04-09 is already Friday 10 April in Oslo.
    due = cal.add_working_days(utc(2026, 4, 9, 23, 30), 1)
    assert format_local(due) == "2026-04-13 01:30 CEST"


def test_saturday_option(cal: WorkingCalendar) -> None:
    with_saturday = WorkingCalendar(saturday_is_working_day=True)
    assert with_saturday.is_working_day(date(2026, 3, 28))
    assert with_saturday.is_working_day(date(2026, 4, 4))  # Easter Saturday is no holiday
    assert not with_saturday.is_working_day(date(2026, 12, 26))  # a holiday on a Saturday
    assert not with_saturday.is_working_day(date(2026, 3, 29))  # Sundays never
    assert not cal.is_working_day(date(2026, 3, 28))

    due = with_saturday.add_working_days(oslo("2026-03-27T15:00"), 3)
    assert format_local(due) == "2026-03-31 15:00 CEST"  # Sat 28, Mon 30, Tue 31
    due = with_saturday.add_working_days(oslo("2026-04-01T10:00"), 3)
    assert format_local(due) == "2026-04-08 10:00 CEST"  # Sat 4, Tue 7, Wed 8


def test_years_are_loaded_lazily_beyond_the_preloaded_range() -> None:
    cal = WorkingCalendar(years=range(2026, 2027))
    assert not cal.is_working_day(date(2035, 3, 22))  # Thursday: Maundy Thursday 2035
    assert cal.is_working_day(date(2035, 3, 21))
    assert date(2035, 3, 25) in cal.public_holidays(2035)  # Easter Sunday 2035


# --- calendar days across DST ---------------------------------------------------------------


def test_add_days_keeps_local_clock_time_across_spring_change(cal: WorkingCalendar) -> None:
    start = oslo("2026-03-28T12:00")
    end = cal.add_days(start, 1)
    assert format_local(end) == "2026-03-29 12:00 CEST"
    assert end - start == timedelta(hours=23)


def test_add_days_keeps_local_clock_time_across_autumn_change(cal: WorkingCalendar) -> None:
    start = oslo("2026-10-24T12:00")
    end = cal.add_days(start, 1)
    assert format_local(end) == "2026-10-25 12:00 CET"
    assert end - start == timedelta(hours=25)


def test_add_days_into_the_spring_gap_gives_first_instant_after_it(cal: WorkingCalendar) -> None:
    end = cal.add_days(oslo("2026-03-28T02:30"), 1)
    assert end == utc(2026, 3, 29, 1, 0)
    assert format_local(end) == "2026-03-29 03:00 CEST"
    end_2027 = cal.add_days(oslo("2027-03-27T02:30"), 1)  # Easter Sunday 2027
    assert format_local(end_2027) == "2027-03-28 03:00 CEST"


def test_add_days_into_the_autumn_overlap_takes_first_occurrence(cal: WorkingCalendar) -> None:
    end = cal.add_days(oslo("2026-10-24T02:30"), 1)
    assert end == utc(2026, 10, 25, 0, 30)
    assert format_local(end) == "2026-10-25 02:30 CEST"


def test_add_days_from_second_occurrence_keeps_clock_time(cal: WorkingCalendar) -> None:
    end = cal.add_days(utc(2026, 10, 25, 1, 30), 1)  # 02:30 CET, the second 02:30
    assert format_local(end) == "2026-10-26 02:30 CET"


def test_add_days_returns_utc(cal: WorkingCalendar) -> None:
    assert cal.add_days(oslo("2026-05-17T09:00"), 3).tzinfo is UTC
    assert cal.add_working_days(oslo("2026-05-17T09:00"), 3).tzinfo is UTC


def test_add_refuses_naive_datetimes(cal: WorkingCalendar) -> None:
    with pytest.raises(InvalidInstant):
        cal.add_days(datetime(2026, 5, 17, 9, 0), 1)


# --- add() ----------------------------------------------------------------------------------


def test_add_hours_are_elapsed_time(cal: WorkingCalendar) -> None:
    end = cal.add(oslo("2026-03-28T12:00"), hours=24)
    assert format_local(end) == "2026-03-29 13:00 CEST"
    end = cal.add(oslo("2026-10-25T01:00"), hours=2)
    assert format_local(end) == "2026-10-25 02:00 CET"  # through both 02:00s


def test_add_applies_working_days_then_days_then_hours(cal: WorkingCalendar) -> None:
    # Fri 27 March 10:00: +1 working day → Mon 30; +1 day → Tue 31; +1 hour → 11:00.
    # (Days first would give Sat 28 → Mon 30.)
    end = cal.add(oslo("2026-03-27T10:00"), hours=1, days=1, working_days=1)
    assert format_local(end) == "2026-03-31 11:00 CEST"


def test_add_nothing_is_identity(cal: WorkingCalendar) -> None:
    start = oslo("2026-05-17T09:00")
    assert cal.add(start) == start
