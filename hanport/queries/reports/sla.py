"""Per area and month: requests, ports opened, working days from the customer's notice to the
open port (median, 90th percentile), the share within three working days, and the breaches —
each saying whose clock ran out."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hanport.calendar import OSLO, isoformat_utc
from hanport.queries.reports.days import Days, median, p90
from hanport.queries.reports.fold import OPENING_WORKFLOWS, CaseRecord

ALL = "all"


def month_of(at: datetime) -> str:
    local = at.astimezone(OSLO)
    return f"{local.year:04d}-{local.month:02d}"  # a third of a strftime's time


def week_of(at: datetime) -> str:
    y, w, _ = at.astimezone(OSLO).isocalendar()
    return f"{y}-W{w:02d}"


@dataclass(slots=True)
class Measured:
    """A case whose notice fell in the period, as the SLA sees it."""

    ref: str
    area: str
    month: str
    week: str
    notice: datetime
    deadline: datetime
    opened: datetime | None
    days: int | None  # working days to open (None: not open)
    status: str  # within | late | overdue | waiting | ended
    whose: str | None  # for a breach: grid_company | customer
    grid_hours: float
    customer_hours_after_notice: float
    customer_hours_before_notice: float
    migrated: bool
    ended: str | None

    @property
    def breach(self) -> bool:
        return self.status in ("late", "overdue")

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.ref,
            "area": self.area,
            "month": self.month,
            "notice_at": isoformat_utc(self.notice),
            "deadline": isoformat_utc(self.deadline),
            "opened_at": isoformat_utc(self.opened) if self.opened else None,
            "working_days": self.days,
            "status": self.status,
            "whose": self.whose,
            "grid_hours": round(self.grid_hours, 2),
            "customer_hours_after_notice": round(self.customer_hours_after_notice, 2),
            "customer_hours_before_notice": round(self.customer_hours_before_notice, 2),
            "migrated": self.migrated,
            "ended": self.ended,
        }


@dataclass
class Sla:
    days: Days
    period: tuple[datetime, datetime]
    as_of: datetime
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    opened: Counter[tuple[str, str]] = field(default_factory=Counter)
    cases: list[Measured] = field(default_factory=list)

    def add(self, rec: CaseRecord) -> None:
        if rec.workflow not in OPENING_WORKFLOWS:
            return
        lo, hi = self.period
        if lo <= rec.opened_at < hi:
            self.requests[(rec.area, month_of(rec.opened_at))] += 1
        if rec.port_open_at is not None and lo <= rec.port_open_at < hi:
            self.opened[(rec.area, month_of(rec.port_open_at))] += 1
        if rec.notice_at is not None and lo <= rec.notice_at < hi:
            self.cases.append(self._measure(rec, rec.notice_at))

    def _measure(self, rec: CaseRecord, notice: datetime) -> Measured:
        deadline = self.days.deadline(notice)
        before, grid, after = rec.clock()
        opened, days, whose = rec.port_open_at, None, None
        if opened is not None:
            days = self.days.to_open(notice, opened)
            status = "within" if opened < deadline else "late"
        elif rec.ended is not None:
            status = "ended"
        else:
            status = "overdue" if self.as_of >= deadline else "waiting"
        if status in ("late", "overdue"):
            ours = notice + timedelta(seconds=grid) >= deadline
            whose = "grid_company" if ours else "customer"
        return Measured(
            rec.ref,
            rec.area,
            month_of(notice),
            week_of(notice),
            notice,
            deadline,
            opened,
            days,
            status,
            whose,
            grid / 3600,
            after / 3600,
            before / 3600,
            rec.migrated,
            rec.ended,
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per area and month, then one per area for the whole period, then one for
        all areas."""
        groups: dict[tuple[str, str], list[Measured]] = defaultdict(list)
        for c in self.cases:
            groups[(c.area, c.month)].append(c)
            groups[(c.area, ALL)].append(c)
            groups[(ALL, ALL)].append(c)
        keys = set(groups) | set(self.requests) | set(self.opened)
        for area, _ in list(self.requests + self.opened):
            keys |= {(area, ALL), (ALL, ALL)}
        return [self._row(k, groups.get(k, [])) for k in sorted(keys, key=_order)]

    def _count(self, counter: Counter[tuple[str, str]], area: str, month: str) -> int:
        return sum(n for (a, m), n in counter.items() if area in (a, ALL) and month in (m, ALL))

    def _row(self, key: tuple[str, str], cases: list[Measured]) -> dict[str, Any]:
        area, month = key
        days = [c.days for c in cases if c.days is not None]
        decided = [c for c in cases if c.status in ("within", "late", "overdue")]
        within = sum(1 for c in cases if c.status == "within")
        breaches = [c for c in cases if c.breach]
        return {
            "area": area,
            "month": month,
            "requests": self._count(self.requests, area, month),
            "ports_opened": self._count(self.opened, area, month),
            "notices": len(cases),
            "median_working_days": median(days),
            "p90_working_days": p90(days),
            "within_3": within,
            "share_within_3": round(within / len(decided), 4) if decided else None,
            "late": sum(1 for c in cases if c.status == "late"),
            "overdue": sum(1 for c in cases if c.status == "overdue"),
            "waiting": sum(1 for c in cases if c.status == "waiting"),
            "ended_unopened": sum(1 for c in cases if c.status == "ended"),
            "breaches_ours": sum(1 for c in breaches if c.whose == "grid_company"),
            "breaches_customer": sum(1 for c in breaches if c.whose == "customer"),
            "breach_cases": sorted(c.ref for c in breaches),
        }

    def weekly(self) -> list[dict[str, Any]]:
        """The share within three working days per week of the notice."""
        weeks: dict[str, list[Measured]] = defaultdict(list)
        for c in self.cases:
            if c.status in ("within", "late", "overdue"):
                weeks[c.week].append(c)
        return [
            {
                "week": w,
                "decided": len(cs),
                "within_3": sum(1 for c in cs if c.status == "within"),
                "share_within_3": round(sum(1 for c in cs if c.status == "within") / len(cs), 4),
            }
            for w, cs in sorted(weeks.items())
        ]

    def distribution(self) -> list[dict[str, Any]]:
        """How many ports opened after 0, 1, 2, … working days."""
        counts = Counter(c.days for c in self.cases if c.days is not None)
        return [{"working_days": d, "cases": n} for d, n in sorted(counts.items())]


def _order(key: tuple[str, str]) -> tuple[bool, str, bool, str]:
    area, month = key
    return (area == ALL, area, month == ALL, month)
