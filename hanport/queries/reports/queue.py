"""The meter-swap queue (Ringerike and Hole): who waits now and for how long, installations
per week, the expected wait for a new order, and the queue's length over time."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from hanport.calendar import OSLO, isoformat_utc
from hanport.queries.reports.fold import CaseRecord
from hanport.queries.reports.sla import ALL, week_of

RATE_WINDOW = timedelta(days=56)  # the installation rate: the last eight weeks
MIN_INSTALLATIONS = 8  # fewer in the window: no estimate from the rate
_DAY = 86400.0


@dataclass(slots=True)
class Stay:
    area: str
    queued: datetime
    left: datetime | None
    installed: datetime | None


def week_ends(lo: datetime, hi: datetime) -> list[datetime]:
    """The ends of the (Oslo, Monday-first) weeks that end inside [lo, hi): Monday 00:00."""
    day = lo.astimezone(OSLO).date()
    day += timedelta(days=(7 - day.weekday()) % 7 or 7)
    ends: list[datetime] = []
    while True:
        at = datetime.combine(day, time(0), OSLO).astimezone(lo.tzinfo)
        if at > hi:
            return ends
        ends.append(at)
        day += timedelta(days=7)


@dataclass
class Queue:
    period: tuple[datetime, datetime]
    at: datetime  # the snapshot: the end of the period, or as_of if earlier
    stays: list[Stay] = field(default_factory=list)

    @property
    def earliest(self) -> datetime:
        """The earliest moment the queue looks at: the period's start, or the start of the
        rate's window if that is earlier."""
        return min(self.period[0], self.at - RATE_WINDOW)

    def add(self, rec: CaseRecord) -> None:
        if rec.workflow != "meter_swap" or rec.queued_at is None or rec.queued_at >= self.at:
            return
        left = rec.left_queue_at if rec.left_queue_at and rec.left_queue_at <= self.at else None
        if left is not None and left < self.earliest:
            return  # out of the queue before anything this report shows
        installed = rec.installed_at if left is not None else None
        self.stays.append(Stay(rec.area, rec.queued_at, left, installed))

    def _waiting(self, stays: list[Stay], at: datetime) -> list[Stay]:
        return [s for s in stays if s.queued <= at and (s.left is None or s.left > at)]

    def summary(self) -> list[dict[str, Any]]:
        by_area: dict[str, list[Stay]] = defaultdict(list)
        for s in self.stays:
            by_area[s.area].append(s)
            by_area[ALL].append(s)
        return [self._area(a, by_area[a]) for a in sorted(by_area, key=lambda a: (a == ALL, a))]

    def _area(self, area: str, stays: list[Stay]) -> dict[str, Any]:
        waiting = self._waiting(stays, self.at)
        waits = [(self.at - s.queued).total_seconds() / _DAY for s in waiting]
        recent = [s for s in stays if s.installed and self.at - RATE_WINDOW <= s.installed]
        per_week = len(recent) / (RATE_WINDOW.days / 7)
        lo, hi = self.period
        installed = [s for s in stays if s.installed and lo <= s.installed < hi]
        estimate = None
        if len(recent) >= MIN_INSTALLATIONS:
            estimate = round(len(waiting) / per_week, 1)
        return {
            "area": area,
            "at": isoformat_utc(self.at),
            "waiting": len(waiting),
            "median_wait_days": round(statistics.median(waits), 1) if waits else None,
            "oldest_wait_days": round(max(waits), 1) if waits else None,
            "installed_in_period": len(installed),
            "installed_per_week_recent": round(per_week, 2),
            "estimated_wait_weeks": estimate,
        }

    def installed_per_week(self) -> list[dict[str, Any]]:
        lo, hi = self.period
        weeks = Counter(
            (s.area, week_of(s.installed))
            for s in self.stays
            if s.installed is not None and lo <= s.installed < hi
        )
        return [{"area": a, "week": w, "installed": n} for (a, w), n in sorted(weeks.items())]

    def over_time(self) -> list[dict[str, Any]]:
        """The queue's length at the end of each week of the period (and at the snapshot)."""
        points = [*week_ends(self.period[0], self.at)]
        if not points or points[-1] != self.at:
            points.append(self.at)
        areas = sorted({s.area for s in self.stays})
        return [
            {"at": isoformat_utc(t), "area": a, "waiting": len(self._waiting(per, t))}
            for t in points
            for a, per in ((a, [s for s in self.stays if s.area == a]) for a in areas)
        ]
