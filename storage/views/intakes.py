"""The intakes as the caseworkers list them: what came in, when, what became of it — never the
form as typed (that is a personal read, :meth:`PersonalReads.intake`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from hanport.storage.sql import Driver
from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class IntakeSummary:
    id: int
    form: str
    language: str
    received_at: datetime
    declaration_version: str | None
    declaration_sha256: str | None
    status: str
    case_ref: str | None
    customer_id: str | None
    outcome: str | None
    processed_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None


_SELECT = (
    "SELECT i.id, i.form, i.language, i.received_at, i.declaration_version, "
    "i.declaration_sha256, i.status, c.ref AS case_ref, u.customer_id, i.outcome, "
    "i.processed_at, i.resolved_by, i.resolved_at FROM intakes i "
    "LEFT JOIN cases c ON c.id = i.case_id LEFT JOIN customers u ON u.id = i.customer_pk"
)


class IntakeReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def listed(self, statuses: tuple[str, ...], limit: int) -> list[IntakeSummary]:
        """The intakes in ``statuses`` (all when empty), oldest first."""
        where, params = "", list[object]()
        if statuses:
            test, params = Driver(self.conn).member(statuses)
            where = f" WHERE i.status {test}"
        sql = f"{_SELECT}{where} ORDER BY i.id LIMIT ?"
        return _columns.fetch(self.conn, IntakeSummary, sql, (*params, limit))

    def one(self, intake_id: int) -> IntakeSummary | None:
        rows = _columns.fetch(self.conn, IntakeSummary, f"{_SELECT} WHERE i.id = ?", (intake_id,))
        return rows[0] if rows else None

    def of_customer(self, customer_pk: int) -> list[IntakeSummary]:
        """The intakes matched to a customer (their points'), oldest first."""
        sql = f"{_SELECT} WHERE i.customer_pk = ? ORDER BY i.id"
        return _columns.fetch(self.conn, IntakeSummary, sql, (customer_pk,))

    def waiting(self) -> int:
        """Intakes not yet processed (the backlog a duty officer watches)."""
        row = Driver(self.conn).one("SELECT count(*) FROM intakes WHERE status = 'new'")
        return int(row[0])

    def by_status(self) -> dict[str, int]:
        rows = Driver(self.conn).all("SELECT status, count(*) FROM intakes GROUP BY status")
        return {str(s): int(n) for s, n in rows}
