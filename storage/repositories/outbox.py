"""The mail outbox as decisions fill it (delivery: ``notifications`` and the tick)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from hanport.storage.sql import Driver

COLUMNS = (
    "case_id",
    "seq",
    "template",
    "language",
    "recipient",
    "context",
    "status",
    "message_id",
    "subject",
    "body_text",
    "body_html",
    "attempts",
    "next_attempt_at",
    "created_at",
)


MAIL_COLS = (
    "id, case_id, seq, template, language, recipient, context, status, message_id, subject, "
    "body_text, body_html, attempts, last_error, next_attempt_at, created_at, sent_at"
)


class MailRow(NamedTuple):
    id: int
    case_id: int
    seq: int
    template: str
    language: str
    recipient: str | None
    context: str
    status: str
    message_id: str
    subject: str | None
    body_text: str | None
    body_html: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None


class Outbox:
    def __init__(self, db: Driver) -> None:
        self.db = db

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        db = self.db
        db.executemany(
            f"INSERT INTO mail_outbox ({', '.join(COLUMNS)}) "
            f"VALUES ({db.placeholders(len(COLUMNS))})",
            [
                (
                    *(r[c] for c in COLUMNS[:12]),
                    db.ts(r["next_attempt_at"]),
                    db.ts(r["created_at"]),
                )
                for r in rows
            ],
        )

    # --- delivery ---------------------------------------------------------------------------

    def recent(self, case_id: int, template: str, since: datetime) -> bool:
        """Whether the case got a notice from ``template`` enqueued at or after ``since``."""
        row = self.db.one(
            "SELECT 1 FROM mail_outbox WHERE case_id = ? AND template = ? AND created_at >= ? "
            "LIMIT 1",
            (case_id, template, self.db.ts(since)),
        )
        return row is not None

    def claim(self, now: datetime, limit: int, lease: timedelta) -> list[MailRow]:
        """Up to ``limit`` due mails (pending, or ``sending`` whose lease ran out: a crash),
        marked ``sending`` until ``now + lease``; locked with ``SKIP LOCKED`` on PostgreSQL."""
        db = self.db
        lock = "" if db.sqlite else " FOR UPDATE SKIP LOCKED"
        cols = "id" if db.processing is not None else MAIL_COLS
        rows = db.all(
            f"SELECT {cols} FROM mail_outbox WHERE status IN ('pending', 'sending') "
            f"AND next_attempt_at <= ? ORDER BY id LIMIT ?{lock}",
            (db.ts(now), limit),
        )
        if rows and db.processing is not None:
            rows = self._logged([r[0] for r in rows])
        if rows:
            ids = [r[0] for r in rows]
            db.execute(
                "UPDATE mail_outbox SET status = 'sending', next_attempt_at = ? "
                f"WHERE id IN ({db.placeholders(len(ids))})",
                [db.ts(now + lease), *ids],
            )
        return [self._row(r) for r in rows]

    def _row(self, r: Any) -> MailRow:
        ts = self.db.read_ts
        return MailRow._make((*r[:14], ts(r[14]), ts(r[15]), ts(r[16])))

    def get(self, mail_id: int) -> MailRow | None:
        if self.db.processing is not None:
            found = self._logged([mail_id])
            return self._row(found[0]) if found else None
        r = self.db.one(f"SELECT {MAIL_COLS} FROM mail_outbox WHERE id = ?", (mail_id,))
        return None if r is None else self._row(r)

    def _logged(self, ids: list[int]) -> list[Any]:
        """The mails, through the function that logs each read (a login without SELECT on the
        personal columns: ``hanport.storage.personal``)."""
        return self.db.all(
            f"SELECT {MAIL_COLS} FROM processing_mail(CAST(? AS integer[])) ORDER BY id", (ids,)
        )

    def sent(self, mail_id: int, now: datetime, attempts: int) -> None:
        self.db.execute(
            "UPDATE mail_outbox SET status = 'sent', sent_at = ?, attempts = ?, last_error = NULL "
            "WHERE id = ?",
            (self.db.ts(now), attempts, mail_id),
        )

    def failed(
        self,
        mail_id: int,
        status: str,
        attempts: int,
        error: str,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """``dead``, or ``pending`` again at ``next_attempt_at``."""
        db = self.db
        db.execute(
            "UPDATE mail_outbox SET status = ?, attempts = ?, last_error = ?, "
            "next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?",
            (status, attempts, error, db.ts_or_none(next_attempt_at), mail_id),
        )

    def retry(self, mail_id: int, now: datetime, note: str) -> None:
        """Back in line for the next delivery, attempts counted from zero."""
        self.db.execute(
            "UPDATE mail_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
            "last_error = ? WHERE id = ?",
            (self.db.ts(now), note, mail_id),
        )

    def retry_waiting(
        self, now: datetime, statuses: Sequence[str], since: datetime | None, note: str
    ) -> int:
        """Every mail of ``statuses`` (``pending`` waiting out a backoff, ``dead``) created at or
        after ``since``, due now with its attempts counted from zero; how many."""
        db = self.db
        test, params = db.member(list(statuses))
        return db.rowcount(
            "UPDATE mail_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
            f"last_error = ? WHERE status {test} "
            "AND (status = 'dead' OR next_attempt_at > ?) AND created_at >= coalesce(?, created_at)",
            [db.ts(now), note, *params, db.ts(now), db.ts_or_none(since)],
        )
