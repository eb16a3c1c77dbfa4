"""Timers: started and cancelled by decisions, claimed and marked by the tick."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hanport.storage.rows import TimerRow
from hanport.storage.sql import Driver


class Timers:
    def __init__(self, db: Driver) -> None:
        self.db = db

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        """id, case_id, name, kind, trigger, due_at, created_at, started_seq (status pending)."""
        db = self.db
        db.executemany(
            "INSERT INTO timers (id, case_id, name, kind, trigger, due_at, status, created_at, "
            "started_seq) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            [(*r[:5], db.ts(r[5]), db.ts(r[6]), r[7]) for r in rows],
        )

    def cancel(self, rows: Sequence[tuple[int, datetime, str]]) -> None:
        """(timer id, when, outcome): cancel each timer that is still pending."""
        db = self.db
        db.executemany(
            "UPDATE timers SET status = 'cancelled', ended_at = ?, outcome = ? "
            "WHERE id = ? AND status = 'pending'",
            [(db.ts(at), outcome, tid) for tid, at, outcome in rows],
        )

    def claim_due(self, now: datetime, limit: int) -> list[TimerRow]:
        """Up to ``limit`` due timers, the earliest of each case only (a firing may cancel the
        case's other timers). On PostgreSQL the timers are locked (``SKIP LOCKED``: another
        scheduler takes others) and so are their cases, in id order (a caseworker's command
        waits instead of conflicting; two schedulers never deadlock)."""
        db = self.db
        lock = "" if db.sqlite else " FOR UPDATE SKIP LOCKED"
        rows = db.all(
            "SELECT id, case_id, name, kind, trigger, due_at FROM timers "
            f"WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?{lock}",
            (db.ts(now), limit),
        )
        first: dict[int, TimerRow] = {}
        for r in rows:
            first.setdefault(r[1], TimerRow._make((*r[:5], db.read_ts(r[5]))))
        if first and not db.sqlite:
            test, params = db.member(sorted(first))
            db.all(f"SELECT id FROM cases WHERE id {test} ORDER BY id FOR UPDATE", params)
        return sorted(first.values(), key=lambda t: (t.due_at, t.id))

    def end(self, rows: Sequence[tuple[int, str, datetime | None, str]]) -> None:
        """(id, status, when, outcome) for timers still pending: ``fired`` or ``skipped``."""
        db = self.db
        db.executemany(
            "UPDATE timers SET status = ?, ended_at = coalesce(?, ended_at), outcome = ? "
            "WHERE id = ? AND status = 'pending'",
            [(status, db.ts_or_none(at), outcome, tid) for tid, status, at, outcome in rows],
        )
