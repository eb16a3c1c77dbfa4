"""Focused properties (no database): the address normalisation and the working-day calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hanport.address import addresses_match, normalise_street
from hanport.calendar import OSLO, WorkingCalendar

# --- the address normalisation ----------------------------------------------------------------

# Street lines as people write them: Norwegian letters, digits, spaces, the odd dot, dash or
# accented letter, and the abbreviations the normalisation knows.
_WORDS = st.sampled_from(
    ["gt.", "gt", "GT.", "vn.", "Vn", "v.", "V.", "v", "b", "B", "å", "Ø", "gate", "veien", "vei"]
)
_CHUNKS = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzæøåABCDEFGHIJKLMNOPQRSTUVWXYZÆØÅéüÉÜ", max_size=8),
    st.integers(0, 300).map(str),
    _WORDS,
    st.sampled_from([" ", "  ", "\t", ".", "-", "'"]),
)
streets = st.lists(_CHUNKS, max_size=8).map(" ".join) | st.lists(_CHUNKS, max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(streets, st.text(max_size=30)))
@example("storgata  12 b")
@example("Kongens gt. 5")
@example("a 1 b v. 2")
@example("x v. v. 1")
@example("Storgt. 5")
@example("12 b c")
def test_normalise_street_is_idempotent(street: str) -> None:
    once = normalise_street(street)
    assert normalise_street(once) == once


@settings(max_examples=300, deadline=None)
@given(streets)
@example("Storgata 12B")
@example("Hønengata 7")
@example("KONGENS GT. 5")
def test_normalise_street_ignores_case(street: str) -> None:
    expected = normalise_street(street)
    assert normalise_street(street.upper()) == expected
    assert normalise_street(street.lower()) == expected
    assert normalise_street(street.swapcase()) == expected


@settings(deadline=None)
@given(streets, streets, st.sampled_from(["3510", "3511", " 3510 ", "351", ""]))
@example("storgata  12 b", "Storgata 12B", "3510")
@example("Kongens gt. 5", "Kongens gate 5", "3510")
def test_address_match_is_symmetric_and_reflexive(a: str, b: str, postal: str) -> None:
    assert addresses_match(a, postal, b, "3510") == addresses_match(b, "3510", a, postal)
    valid = postal.strip() == "3510"
    assert addresses_match(a, postal, a, "3510") == valid


def test_design_table() -> None:
    """design.md's normalisation table, row by row."""
    rows = [
        ("storgata  12 b", "3510", "Storgata 12B", "3510", True),
        ("STORGATA 12B", "3510", "Storgata 12B", "3510", True),
        ("Kongens gt. 5", "3510", "Kongens gate 5", "3510", True),
        ("Storgata 12", "3510", "Storgata 12B", "3510", False),
        ("Honengata 7", "3510", "Hønengata 7", "3510", False),
        ("Storgata 12B", "3511", "Storgata 12B", "3510", False),
    ]
    for given_street, given_postal, street, postal, match in rows:
        assert addresses_match(given_street, given_postal, street, postal) is match, given_street


# --- the working-day calendar -----------------------------------------------------------------

_CALENDARS = {False: WorkingCalendar(), True: WorkingCalendar(saturday_is_working_day=True)}

instants = st.one_of(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
    ),
    # Oslo wall-clock times, the ambiguous autumn hour (either fold) included
    st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=datetime(2035, 12, 31),
        timezones=st.just(OSLO),
        allow_imaginary=False,
    ),
)
# Around the DST changes, Easter and Christmas, where mistakes hide.
instants = instants | st.sampled_from(
    [
        datetime(2026, 3, 27, 2, 30, tzinfo=OSLO),  # the Friday before the spring gap
        datetime(2026, 3, 28, 2, 30, tzinfo=OSLO),  # Saturday
        datetime(2026, 10, 24, 2, 30, tzinfo=OSLO),  # the Saturday before the autumn overlap
        datetime(2026, 10, 25, 2, 30, tzinfo=OSLO),  # in the overlap, first time
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=OSLO),  # in the overlap, second time
        datetime(2026, 4, 1, 9, 0, tzinfo=OSLO),  # before Easter
        datetime(2026, 12, 23, 23, 59, tzinfo=OSLO),
    ]
)


def _exists(day: date, clock: datetime) -> bool:
    """Whether the Oslo wall-clock time ``clock`` exists on ``day`` (not in the spring gap)."""
    naive = datetime.combine(day, clock.time())
    back = naive.replace(tzinfo=OSLO).astimezone(UTC).astimezone(OSLO).replace(tzinfo=None)
    return back == naive


@settings(max_examples=300, deadline=None)
@given(instants, st.integers(-25, 25), st.booleans())
def test_add_working_days_lands_on_a_working_day_at_the_same_clock_time(
    instant: datetime, n: int, saturday: bool
) -> None:
    cal = _CALENDARS[saturday]
    got = cal.add_working_days(instant, n)
    assert got.utcoffset() == timedelta(0), "results are UTC"
    start = instant.astimezone(OSLO)
    local = got.astimezone(OSLO)
    if n == 0:
        # (compare instants: PEP 495 makes == between zones False for an ambiguous local time)
        assert got.timestamp() == instant.timestamp()
        return
    assert cal.is_working_day(local.date()), local
    if _exists(local.date(), start):
        assert local.time() == start.time().replace(fold=0), (start, local)
    else:  # the first instant after the gap: 03:00 summer time
        assert (local.hour, local.minute) == (3, 0), (start, local)
    # exactly n working days from the start date (exclusive) to the result's date (inclusive)
    lo, hi = sorted((start.date(), local.date()))
    days = [lo + timedelta(days=i) for i in range(1, (hi - lo).days + 1)]
    if n < 0:  # counting backwards: the start date is excluded, the result's date included
        days = [lo + timedelta(days=i) for i in range(0, (hi - lo).days)]
    assert sum(cal.is_working_day(d) for d in days) == abs(n), (start, local, n)


@settings(max_examples=200, deadline=None)
@given(instants, st.integers(-20, 20), st.integers(-20, 20), st.booleans())
def test_add_working_days_is_monotonic_in_n(
    instant: datetime, a: int, b: int, saturday: bool
) -> None:
    cal = _CALENDARS[saturday]
    lo, hi = sorted((a, b))
    first, second = cal.add_working_days(instant, lo), cal.add_working_days(instant, hi)
    if lo == hi:
        assert first == second
    else:
        assert first < second, (instant, lo, first, hi, second)
