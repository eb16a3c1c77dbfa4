"""The mail outbox as every role reads it: the list, one mail, a case's mails."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class MailEntry:
    """An outbox row with its case's reference, without what is personal (recipient,
    text, context, errors: ``views.personal.mail``)."""

    id: int
    case_id: int
    seq: int
    template: str
    language: str
    status: str
    message_id: str
    subject: str | None
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    case_ref: str


@dataclass(frozen=True, slots=True)
class MailBrief:
    id: int
    template: str
    status: str
    seq: int


def _entry() -> Any:
    from hanport.storage.tables import CASES, MAIL

    return select(*_columns.of(MAIL, MailEntry, but_last=1), CASES.c.ref).join(
        CASES, CASES.c.id == MAIL.c.case_id
    )


class MailReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def listing(self, status: str | None = None, limit: int = 500) -> list[MailEntry]:
        """The outbox (or its rows with ``status``), oldest first, at most ``limit``."""
        from hanport.storage.tables import MAIL

        stmt = _entry().order_by(MAIL.c.id).limit(limit)
        if status:
            stmt = stmt.where(MAIL.c.status == status)
        return [_columns.make(MailEntry, r) for r in self.conn.execute(stmt)]

    def get(self, mail_id: int) -> MailEntry | None:
        from hanport.storage.tables import MAIL

        row = self.conn.execute(_entry().where(MAIL.c.id == mail_id)).first()
        return None if row is None else _columns.make(MailEntry, row)

    def of_case(self, case_id: int) -> list[MailBrief]:
        """The case's mails, in the order they were queued."""
        sql = f"SELECT {_columns.listed(MailBrief)} FROM mail_outbox WHERE case_id = ? ORDER BY id"
        return _columns.fetch(self.conn, MailBrief, sql, (case_id,))
