"""The SLA report: the case histories streamed from storage, folded one case at a time and
aggregated; nothing but the figures is kept, so memory stays flat however long the history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import OSLO, isoformat_utc
from hanport.errors import NotFound, Refused
from hanport.queries.reports.closes import CONFIRMATION_TEMPLATES, Closes
from hanport.queries.reports.days import Days
from hanport.queries.reports.definitions import DEFINITIONS
from hanport.queries.reports.fold import ENDED, fold
from hanport.queries.reports.operations import Operations, unconsented
from hanport.queries.reports.queue import Queue
from hanport.queries.reports.sla import Sla
from hanport.storage.views import reading
from hanport.storage.views.reports import Window


@dataclass
class Report:
    period_from: date
    period_to: date
    area: str | None
    as_of: datetime
    cases: int = 0
    events: int = 0
    sla: list[dict[str, Any]] = field(default_factory=list)
    breaches: list[dict[str, Any]] = field(default_factory=list)
    weekly: list[dict[str, Any]] = field(default_factory=list)
    distribution: list[dict[str, Any]] = field(default_factory=list)
    queue: list[dict[str, Any]] = field(default_factory=list)
    installed_per_week: list[dict[str, Any]] = field(default_factory=list)
    queue_over_time: list[dict[str, Any]] = field(default_factory=list)
    closes: list[dict[str, Any]] = field(default_factory=list)
    unconsented: list[dict[str, Any]] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": "sla",
            "from": self.period_from.isoformat(),
            "to": self.period_to.isoformat(),
            "area": self.area,
            "as_of": isoformat_utc(self.as_of),
            "cases_read": self.cases,
            "events_read": self.events,
            "sla": self.sla,
            "breaches": self.breaches,
            "weekly_share_within_3": self.weekly,
            "working_days_distribution": self.distribution,
            "swap_queue": self.queue,
            "swap_installed_per_week": self.installed_per_week,
            "swap_queue_over_time": self.queue_over_time,
            "closes": self.closes,
            "open_without_live_consent": self.unconsented,
            "operations": self.operations,
            "definitions": dict(DEFINITIONS),
        }


def _area_of(app: App) -> Callable[[str], tuple[str, str]]:
    def area_of(code: str) -> tuple[str, str]:
        found = app.settings.area(code)
        return (found.name, found.vendor) if found else (f"unmapped {code}", "")

    return area_of


def area_name(app: App, asked: str | None) -> str | None:
    """The area a ``--area`` names: its name (any case) or one of its municipality numbers."""
    if asked is None:
        return None
    wanted = asked.strip()
    found = app.settings.area(wanted)
    if found is not None:
        return found.name
    names = sorted({a.name for a in app.settings.areas.values()})
    for name in names:
        if name.casefold() == wanted.casefold():
            return name
    raise NotFound(f"--area: {asked!r} is no area here (areas: {', '.join(names)})")


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[local midnight of ``start``, local midnight after ``end``) as UTC instants."""
    if end < start:
        raise Refused(f"--to {end} is before --from {start}", field="to")
    lo = datetime.combine(start, time(0), OSLO)
    hi = datetime.combine(end + timedelta(days=1), time(0), OSLO)
    return lo.astimezone(UTC), hi.astimezone(UTC)


def build(
    app: App,
    start: date,
    end: date,
    area: str | None = None,
    as_of: datetime | None = None,
    *,
    whole_history: bool = False,
) -> Report:
    """The report for the Oslo dates ``start``..``end`` (inclusive), as known at ``as_of``
    (default: now), for one area or all. Only the cases the period can involve are read (see
    ``Window``); ``whole_history`` folds every case instead (the same figures, slower: what the
    tests hold the window to)."""
    name = area_name(app, area)
    lo, hi = period_bounds(start, end)
    as_of = as_of or app.clock.now()
    period = (lo, hi)
    snapshot = min(hi, as_of)
    sla, queue = Sla(Days(app.calendar), period, as_of), Queue(period, snapshot)
    closes, ops = Closes(period), Operations()
    parts = (sla, queue, closes, ops)
    report = Report(start, end, name, as_of)
    area_of = _area_of(app)
    window = None if whole_history else Window(hi, queue.earliest, tuple(sorted(ENDED)))
    with reading(app.engine) as views:
        for history in views.reports.histories(as_of, window):
            report.events += len(history.events)
            rec = fold(history, area_of, as_of, period)
            if rec is None or (name is not None and rec.area != name):
                continue
            report.cases += 1
            for part in parts:
                part.add(rec)
        closes.mailed(views.reports.mail_sent(closes.wants_mail(), CONFIRMATION_TEMPLATES, as_of))
        ports = views.reports.port_changes(as_of)
        report.unconsented = unconsented(
            ports, period, snapshot, lambda c: area_of(c)[0], lambda a: name in (None, a)
        )
    _fill(report, sla, queue, closes, ops)
    return report


def _fill(report: Report, sla: Sla, queue: Queue, closes: Closes, ops: Operations) -> None:
    report.sla = sla.rows()
    report.breaches = [c.as_dict() for c in sorted(sla.cases, key=_by_notice) if c.breach]
    report.weekly = sla.weekly()
    report.distribution = sla.distribution()
    report.queue = queue.summary()
    report.installed_per_week = queue.installed_per_week()
    report.queue_over_time = queue.over_time()
    report.closes = closes.rows()
    report.operations = ops.rows()


def _by_notice(c: Any) -> tuple[datetime, str]:
    return (c.notice, c.ref)
