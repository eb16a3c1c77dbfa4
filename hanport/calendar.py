"""Instants, Oslo local time and working days.

Instants are stored and returned as aware datetimes in UTC; deadlines are reasoned about in
Europe/Oslo local time. Python silently accepts local times that do not exist (the spring gap,
02:00–03:00 on the last Sunday of March) or happen twice (the autumn overlap, the last Sunday of
October), so every conversion from a local wall-clock time goes through :func:`_resolve_local`,
which detects both by round-tripping through UTC with ``fold=0`` and ``fold=1``.

Nothing here reads the system clock: callers pass the instant they mean.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

__all__ = [
    "OSLO",
    "InvalidInstant",
    "WorkingCalendar",
    "format_local",
    "format_local_offset",
    "isoformat_utc",
    "last_day",
    "months_after",
    "parse_instant",
    "to_utc",
]

OSLO = ZoneInfo("Europe/Oslo")

_SATURDAY = 5
_SUNDAY = 6


class InvalidInstant(ValueError):
    """A text or datetime that does not denote exactly one instant; the message says why."""


class _LocalKind(Enum):
    NORMAL = "normal"
    GAP = "gap"  # the wall-clock time does not exist (clocks jumped forward over it)
    OVERLAP = "overlap"  # the wall-clock time happened twice (clocks were turned back)


def _classify_local(naive: datetime) -> tuple[_LocalKind, datetime, datetime]:
    """Classify an Oslo wall-clock time; return it with its UTC readings for fold=0 and fold=1.

    For a normal time both readings are equal. In an overlap both readings convert back to the
    same wall-clock time; in a gap neither does.
    """
    utc0 = naive.replace(tzinfo=OSLO, fold=0).astimezone(UTC)
    utc1 = naive.replace(tzinfo=OSLO, fold=1).astimezone(UTC)
    if utc0 == utc1:
        return _LocalKind.NORMAL, utc0, utc1
    if utc0.astimezone(OSLO).replace(tzinfo=None) == naive:
        return _LocalKind.OVERLAP, utc0, utc1
    return _LocalKind.GAP, utc0, utc1


def _first_instant_after_gap(before: datetime, after: datetime) -> datetime:
    """The UTC instant where Oslo's offset changes, between two UTC instants that straddle it.

    Bisection to the microsecond rather than assuming the transition falls on a whole hour.
    """
    target = after.astimezone(OSLO).utcoffset()
    lo, hi = before, after  # invariant: lo has the old offset, hi the new one
    while hi - lo > timedelta(microseconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(OSLO).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi


def _resolve_local(naive: datetime) -> datetime:
    """The UTC instant for an Oslo wall-clock time, for deadline arithmetic.

    A time in the spring gap becomes the first instant after the gap (03:00 CEST); an ambiguous
    autumn time becomes its first occurrence (the CEST one).
    """
    kind, utc0, utc1 = _classify_local(naive)
    if kind is _LocalKind.GAP:
        return _first_instant_after_gap(min(utc0, utc1), max(utc0, utc1))
    return min(utc0, utc1)


def _require_aware(dt: datetime) -> None:
    # A naive datetime is most often a bug (datetime.now() without tz); guessing its zone would
    # hide it, so it is refused.
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidInstant(
            f"{dt.isoformat()} has no time zone; give an aware datetime (for example in UTC)"
        )


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 date or date-time into an aware UTC datetime.

    With an offset (or ``Z``) the text is that instant. Without one it is Oslo local time, and a
    date alone means local midnight. A local time that does not exist or happens twice is refused
    rather than guessed, because either guess may be an hour off from what the writer meant.
    """
    stripped = text.strip()
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError as exc:
        raise InvalidInstant(
            f"{stripped!r} is not an ISO 8601 date or time (expected e.g. 2026-05-17T09:30+02:00)"
        ) from exc
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    kind, utc0, _ = _classify_local(parsed)
    if kind is _LocalKind.GAP:
        raise InvalidInstant(
            f"{stripped} does not exist in Norwegian local time: the clocks jump from 02:00 to "
            "03:00 that night. Give the time with an offset, e.g. +01:00 or +02:00"
        )
    if kind is _LocalKind.OVERLAP:
        raise InvalidInstant(
            f"{stripped} happens twice in Norwegian local time: the clocks go back from 03:00 to "
            "02:00 that night. Give the time with an offset: +02:00 for the first, +01:00 for "
            "the second"
        )
    return utc0


def to_utc(dt: datetime) -> datetime:
    """The same instant as an aware datetime in UTC; naive datetimes are refused."""
    _require_aware(dt)
    return dt.astimezone(UTC)


def isoformat_utc(dt: datetime) -> str:
    """ISO 8601 text of the instant in UTC, e.g. ``2026-03-29T01:00:00+00:00``."""
    return to_utc(dt).isoformat()


def format_local(dt: datetime) -> str:
    """The instant as Oslo wall-clock time for people, e.g. ``2026-03-29 03:00 CEST``.

    The zone abbreviation (CET/CEST) is included because in the autumn overlap the clock time
    alone would be ambiguous.
    """
    _require_aware(dt)
    return dt.astimezone(OSLO).strftime("%Y-%m-%d %H:%M %Z")


def format_local_offset(dt: datetime) -> str:
    """The instant as Oslo wall-clock time with its UTC offset, to the minute, e.g.
    ``2026-03-02 09:15 +01:00`` — for evidence read outside Norway, where CET/CEST may not be
    known; the offset also tells the two 02:30s of the autumn night apart."""
    _require_aware(dt)
    local = dt.astimezone(OSLO)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"


def months_after(dt: datetime, months: int) -> datetime:
    """The end of the same calendar day ``months`` months after ``dt``, in Oslo (the last day
    of a shorter month when it has no such day), as the first instant of the next local day:
    a deadline of "one month of receipt" (GDPR art. 12(3), counted as EU Regulation 1182/71
    counts months). 31 January + 1 month ends with 28 (or 29) February."""
    _require_aware(dt)
    local = dt.astimezone(OSLO).date()
    total = local.year * 12 + local.month - 1 + months
    year, m0 = divmod(total, 12)  # the month counted from 0
    first_of_next = date(year + (m0 + 1) // 12, (m0 + 1) % 12 + 1, 1)
    day = min(local.day, (first_of_next - timedelta(days=1)).day)
    end = date(year, m0 + 1, day) + timedelta(days=1)
    return _resolve_local(datetime(end.year, end.month, end.day)).astimezone(UTC)


def last_day(deadline: datetime) -> str:
    """The Oslo date (ISO) of the last day before ``deadline``, an instant that starts a day:
    what a notice says the answer comes by."""
    _require_aware(deadline)
    return (deadline - timedelta(microseconds=1)).astimezone(OSLO).date().isoformat()


class WorkingCalendar:
    """Norwegian working days and deadline arithmetic in Oslo local time.

    A working day is Monday–Friday (Monday–Saturday with ``saturday_is_working_day``, since
    *virkedag* includes Saturday under ferieloven) minus the public holidays from the ``holidays``
    package. Sundays are never working days; that is decided here rather than through the
    package's ``include_sundays`` option, whose default has changed between versions.

    ``years`` preloads holidays for those years; any other year is loaded on first use.
    """

    def __init__(self, *, saturday_is_working_day: bool = False, years: range | None = None):
        self._saturday_is_working_day = saturday_is_working_day
        self._holidays: dict[date, str] = {}
        self._loaded_years: set[int] = set()
        for year in years or ():
            self._load_year(year)

    def _load_year(self, year: int) -> None:
        if year in self._loaded_years:
            return
        import holidays  # on first use: a caseworker's `case show` never needs it

        loaded = holidays.country_holidays("NO", years=year, include_sundays=False)
        self._holidays.update(loaded.items())
        self._loaded_years.add(year)

    def public_holidays(self, year: int) -> dict[date, str]:
        """The public holidays of ``year`` (ordinary Sundays excluded), by date, with names."""
        self._load_year(year)
        return {day: name for day, name in sorted(self._holidays.items()) if day.year == year}

    def is_working_day(self, d: date) -> bool:
        """Whether the (Oslo) calendar date ``d`` is a working day."""
        if isinstance(d, datetime):
            # datetime is a date subclass but never equals a date key, so a holiday would be
            # missed; and which local date an aware datetime falls on must be decided by the caller.
            raise TypeError("is_working_day takes a date; use dt.astimezone(OSLO).date()")
        weekday = d.weekday()
        if weekday == _SUNDAY or (weekday == _SATURDAY and not self._saturday_is_working_day):
            return False
        self._load_year(d.year)
        return d not in self._holidays

    def add_working_days(self, instant: datetime, n: int) -> datetime:
        """The same Oslo clock time on the n-th working day after the instant's Oslo date (UTC).

        The instant's own date does not count, whether or not it is a working day; ``n = 0``
        returns the instant unchanged and a negative ``n`` counts backwards. A clock time that
        does not exist on the target day gives the first instant after the gap; an ambiguous one
        its first occurrence.
        """
        local = to_utc(instant).astimezone(OSLO)
        if n == 0:
            return local.astimezone(UTC)
        step = timedelta(days=1 if n > 0 else -1)
        day = local.date()
        remaining = abs(n)
        while remaining:
            day += step
            if self.is_working_day(day):
                remaining -= 1
        return _resolve_local(datetime.combine(day, local.time()))

    def add_days(self, instant: datetime, n: int) -> datetime:
        """The same Oslo clock time ``n`` calendar days later (UTC), same gap/overlap rule.

        Across a DST change this is 23 or 25 hours per local day, not 24.
        """
        local = to_utc(instant).astimezone(OSLO)
        if n == 0:
            return local.astimezone(UTC)
        return _resolve_local(datetime.combine(local.date() + timedelta(days=n), local.time()))

    def add(
        self, instant: datetime, *, hours: float = 0, days: int = 0, working_days: int = 0
    ) -> datetime:
        """Apply working days, then calendar days, then elapsed hours (real time, not wall time)."""
        result = self.add_working_days(instant, working_days)
        result = self.add_days(result, days)
        return result + timedelta(hours=hours)
