"""The regulator's three working days, in Oslo local dates over the engine's working-day
calendar (Norwegian public holidays; Saturday only if so configured)."""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, time, timedelta

from hanport.calendar import OSLO, WorkingCalendar

SLA_WORKING_DAYS = 3
_DAY = timedelta(days=1)


class Days:
    """Working-day counts from a notice, with the calendar's answers, the deadlines and the
    counts kept per date (a report asks about the same few hundred dates many thousand
    times)."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.calendar = calendar
        self._working: dict[date, bool] = {}
        self._deadlines: dict[date, datetime] = {}
        self._counts: dict[tuple[date, date], int] = {}

    def working(self, d: date) -> bool:
        known = self._working.get(d)
        if known is None:
            known = self._working[d] = self.calendar.is_working_day(d)
        return known

    def deadline(self, notice: datetime) -> datetime:
        """The end of the third working day after the notice's (Oslo) day: local midnight,
        as a UTC instant."""
        start = notice.astimezone(OSLO).date()
        known = self._deadlines.get(start)
        if known is None:
            day, left = start, SLA_WORKING_DAYS
            while left:
                day += _DAY
                if self.working(day):
                    left -= 1
            known = self._deadlines[start] = datetime.combine(day + _DAY, time(0), OSLO)
        return known.astimezone(notice.tzinfo)

    def to_open(self, notice: datetime, opened: datetime) -> int:
        """By the end of which working day after the notice's day the port was open: 0 when
        it opened on the notice's own day, else the count of working days after that day up
        to the first working day on or after the day it opened."""
        start = notice.astimezone(OSLO).date()
        end = opened.astimezone(OSLO).date()
        if end <= start:
            return 0
        known = self._counts.get((start, end))
        if known is None:
            known = self._counts[(start, end)] = self._count(start, end)
        return known

    def _count(self, start: date, end: date) -> int:
        count, day = 0, start
        while True:
            day += _DAY
            if self.working(day):
                count += 1
                if day >= end:
                    return count


def median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def p90(values: list[int]) -> int | None:
    """The 90th percentile by nearest rank: the ⌈0.9·n⌉-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]
