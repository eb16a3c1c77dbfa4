"""Firing due timers: each exactly once, however many schedulers run.

The database, not APScheduler, guarantees exactly once: a batch of due timers is claimed in the
transaction that fires them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so another process skips
them; SQLite has one writer at a time), each trigger runs as actor ``scheduler`` with the
timer's id as idempotency key, and the rows are marked fired in the same transaction. A crash
before the commit leaves the timers pending for the next tick; a crash after leaves them fired.

A batch is one decision and one write. If one of its timers is refused on the way, the batch is
decided again one timer at a time, so a timer that cannot fire is marked skipped instead of
blocking the others forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hanport import failpoints
from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import Conflict, Refused
from hanport.retry import on_conflict
from hanport.service import load
from hanport.service.commands import FireTimers
from hanport.service.policy import decision_for
from hanport.service.unit import transaction
from hanport.service.writer import write
from hanport.storage.rows import TimerRow
from hanport.storage.uow import UnitOfWork
from hanport.workflows.definition import Actor
from hanport.workflows.errors import Refusal

SCHEDULER = Actor.system("scheduler")


@dataclass
class FireReport:
    fired: int = 0
    skipped: int = 0
    details: list[str] = field(default_factory=list)


def fire_due(app: App, actor: Actor, cmd: FireTimers | None = None) -> FireReport:
    """Fire every due timer, batch after batch, until none is left."""
    size = (cmd or FireTimers()).batch
    total = FireReport()
    for _ in range(10_000):
        r = on_conflict(lambda: fire_batch(app, limit=size))
        total.fired += r.fired
        total.skipped += r.skipped
        total.details.extend(r.details)
        if r.fired + r.skipped == 0:
            break
    return total


def fire_batch(app: App, *, limit: int = 50) -> FireReport:
    """Claim and fire up to ``limit`` due timers in one transaction."""
    try:
        return _fire(app, limit, one_by_one=False)
    except (Refused, Conflict):
        return _fire(app, limit, one_by_one=True)


def _fire(app: App, limit: int, *, one_by_one: bool) -> FireReport:
    report = FireReport()
    now = app.clock.now()
    with transaction(app, immediate=True) as uow:
        claimed = uow.timers.claim_due(now, limit)
        if one_by_one:
            for t in claimed:
                _one(app, uow, now, [t], report, tolerate=True)
        elif claimed:
            _one(app, uow, now, claimed, report, tolerate=False)
        if claimed:
            failpoints.reached(app, "tick.before_commit")
        uow.commit()
    if claimed:
        failpoints.reached(app, "tick.timers_committed")
    return report


def _one(
    app: App,
    uow: UnitOfWork,
    now: datetime,
    timers: list[TimerRow],
    report: FireReport,
    *,
    tolerate: bool,
) -> None:
    """Fire ``timers`` (one per case) as one decision. With ``tolerate`` a refusal skips the
    (single) timer instead of failing the batch."""
    decision = decision_for(app, SCHEDULER, now, uow)
    firing = {t.id for t in timers}
    cases = load.into(decision, uow.cases.load("id", [t.case_id for t in timers]), firing=firing)
    ends: list[tuple[int, str, datetime | None, str]] = []
    for t in timers:
        case = cases[t.case_id]
        late = int((now - t.due_at).total_seconds())
        if not decision.may(case, t.trigger):
            ends.append((t.id, "skipped", now, f"{t.trigger} not allowed in {case.state}"))
            report.skipped += 1
            report.details.append(f"{case.ref}: {t.name} skipped ({case.state})")
            continue
        extra = {
            "timer": {"id": t.id, "name": t.name, "due_at": isoformat_utc(t.due_at)},
            "late_seconds": late,
            "key": f"timer:{t.id}",
        }
        try:
            decision.fire(case, t.trigger, {}, extra=extra)
        except Refusal as exc:
            if not tolerate:
                raise Refused(str(exc)) from None
            uow.timers.end([(t.id, "skipped", now, str(exc)[:500])])
            report.skipped += 1
            report.details.append(f"{case.ref}: {t.name} skipped ({exc})")
            return
        ends.append((t.id, "fired", now, "fired"))
        report.fired += 1
        report.details.append(f"{case.ref}: {t.name} fired → {case.state} (late {late}s)")
    write(app, uow, decision)
    uow.timers.end(ends)
