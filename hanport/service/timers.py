"""Firing due timers: each exactly once, however many schedulers run.

The database, not APScheduler, guarantees exactly once: a timer is claimed in the transaction
that fires it (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so another process skips it; SQLite has
one writer at a time), the trigger runs as actor ``scheduler`` with the timer's ID as idempotency
key, and the row is marked fired in the same transaction. A crash before the commit leaves the
timer pending for the next tick; a crash after leaves it fired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update

from hanport import workflows
from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import Conflict, Refused
from hanport.retry import on_conflict
from hanport.service.casework import Actor, CaseRow, Facts, Work, apply, finish
from hanport.storage import repository as repo

SCHEDULER = Actor.system("scheduler")


@dataclass
class FireReport:
    fired: int = 0
    skipped: int = 0
    details: list[str] = field(default_factory=list)


def _claim(app: App, conn: Any, now: datetime, limit: int) -> list[dict[str, Any]]:
    T, C = repo.TIMERS, repo.CASES
    stmt = (
        select(T)
        .where(and_(T.c.status == "pending", T.c.due_at <= now))
        .order_by(T.c.due_at, T.c.id)
        .limit(limit)
    )
    if app.backend == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    timers = [dict(r) for r in conn.execute(stmt).mappings()]
    # One timer per case per batch: a firing may cancel the case's other timers.
    first: dict[int, dict[str, Any]] = {}
    for t in timers:
        first.setdefault(t["case_id"], t)
    if app.backend == "postgresql" and first:
        # Lock the cases in id order so a caseworker's command waits instead of conflicting,
        # and two schedulers never deadlock.
        conn.execute(
            select(C.c.id).where(C.c.id.in_(sorted(first))).order_by(C.c.id).with_for_update()
        ).all()
    return sorted(first.values(), key=lambda t: (t["due_at"], t["id"]))


def _mark(conn: Any, timer_ids: list[int], status: str, now: datetime, outcome: str) -> None:
    if not timer_ids:
        return
    T = repo.TIMERS
    conn.execute(
        update(T)
        .where(and_(T.c.id.in_(timer_ids), T.c.status == "pending"))
        .values(status=status, ended_at=now, outcome=outcome)
    )


def _skip(conn: Any, timer_id: int, why: str) -> None:
    T = repo.TIMERS
    conn.execute(update(T).where(T.c.id == timer_id).values(status="skipped", outcome=why))


def fire_batch(app: App, *, limit: int = 50) -> FireReport:
    """Claim and fire up to ``limit`` due timers in one transaction.

    The fast path writes the batch's events and mail in bulk. If anything in it fails, the whole
    transaction rolls back and the batch is redone one timer at a time, each in a savepoint, so a
    timer that cannot fire is marked skipped instead of blocking the others forever.
    """
    try:
        return _fire(app, limit, safe=False)
    except (Refused, Conflict):
        return _fire(app, limit, safe=True)


def _fire(app: App, limit: int, *, safe: bool) -> FireReport:
    from hanport.service.cases import transaction

    report = FireReport()
    now = app.clock.now()
    with transaction(app, immediate=True) as uow:
        conn = uow.conn
        claimed = _claim(app, conn, now, limit)
        # Marked fired before they fire: a firing that leaves the timer's state cancels the
        # state's pending timers, and must not cancel the one being fired.
        _mark(conn, [t["id"] for t in claimed], "fired", now, "fired")
        loaded = repo.cases_full_by_pks(conn, [t["case_id"] for t in claimed])
        deferred: dict[str, list[dict[str, Any]]] | None = (
            None if safe else {"events": [], "mail": []}
        )
        for t in claimed:
            case_row, point, customer = loaded[t["case_id"]]
            work = Work(app, conn, SCHEDULER, now, CaseRow.from_row(case_row), point, customer)
            work.deferred = deferred
            # Claimed above: FOR UPDATE on PostgreSQL, the one writer's lock on SQLite.
            work.claimed = True
            late = int((now - t["due_at"]).total_seconds())
            extra = {
                "timer": {"id": t["id"], "name": t["name"], "due_at": isoformat_utc(t["due_at"])},
                "late_seconds": late,
                "key": f"timer:{t['id']}",
            }
            wf = work.case.wf
            if not workflows.runner(wf.name, wf.version).may(
                work.case.state, t["trigger"], Facts(work, {})
            ):
                _skip(conn, t["id"], f"{t['trigger']} not allowed in {work.case.state}")
                report.skipped += 1
                report.details.append(f"{case_row['ref']}: {t['name']} skipped ({work.case.state})")
                continue
            try:
                if safe:
                    with conn.begin_nested():
                        apply(work, t["trigger"], {}, extra=extra)
                        finish(work)
                else:
                    apply(work, t["trigger"], {}, extra=extra)
                    finish(work)
            except Refused as exc:
                if not safe:
                    raise
                _skip(conn, t["id"], str(exc)[:500])
                report.skipped += 1
                report.details.append(f"{case_row['ref']}: {t['name']} skipped ({exc})")
                continue
            report.fired += 1
            report.details.append(
                f"{case_row['ref']}: {t['name']} fired → {work.case.state} (late {late}s)"
            )
        if deferred is not None:
            repo.insert_events(conn, deferred["events"])
            repo.insert_mail(conn, deferred["mail"])
        uow.commit()
    return report


def fire_due(app: App, *, batch: int = 50, max_batches: int = 10_000) -> FireReport:
    """Fire every due timer, batch after batch, until none is left."""
    total = FireReport()
    for _ in range(max_batches):
        r = on_conflict(lambda: fire_batch(app, limit=batch))
        total.fired += r.fired
        total.skipped += r.skipped
        total.details.extend(r.details)
        if r.fired + r.skipped == 0:
            break
    return total
