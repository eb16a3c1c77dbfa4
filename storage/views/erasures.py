"""What erasure and retention decide from: a subject's records by reference and instant (no
personal value is read: a privacy officer's login on PostgreSQL may run every read here), what
retention would clear, and the erasure ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Connection

from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    id: int
    customer_pk: int
    signer_role: str | None
    ended_at: datetime | None
    erased_at: datetime | None


@dataclass(frozen=True, slots=True)
class EndedCase:
    ref: str
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    erasure_id: str
    subject_kind: str
    subject: str
    scope: str
    at: datetime
    actor: str
    role: str
    reason: str
    erased: str
    reapplied_at: datetime | None


@dataclass
class SubjectFacts:
    """A customer's records that can hold an erasure back."""

    active_cases: list[str] = field(default_factory=list)
    points: list[str] = field(default_factory=list)  # registered to them now
    consents: list[ConsentFacts] = field(default_factory=list)
    ended_cases: list[EndedCase] = field(default_factory=list)
    unsent_mail: list[int] = field(default_factory=list)
    open_intakes: list[int] = field(default_factory=list)


class ErasureReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.db = _columns.Driver(conn)

    def facts(self, customer_pk: int) -> SubjectFacts:
        db, key = self.db, (customer_pk,)
        # A data subject's own request holds nothing back: it may be the erasure itself.
        cases = db.all(
            "SELECT ref, active, updated_at FROM cases "
            "WHERE customer_pk = ? AND workflow <> 'privacy_request'",
            key,
        )
        return SubjectFacts(
            active_cases=[r[0] for r in cases if r[1]],
            points=[
                r[0]
                for r in db.all(
                    "SELECT gsrn FROM metering_points WHERE customer_pk = ? ORDER BY gsrn", key
                )
            ],
            consents=self.consents_of(customer_pk),
            ended_cases=[EndedCase(r[0], self._ts(r[2])) for r in cases if not r[1]],
            unsent_mail=[
                r[0]
                for r in db.all(
                    "SELECT m.id FROM mail_outbox m JOIN cases c ON c.id = m.case_id "
                    "WHERE c.customer_pk = ? AND m.status IN ('pending', 'sending') ORDER BY m.id",
                    key,
                )
            ],
            open_intakes=[
                r[0]
                for r in db.all(
                    "SELECT id FROM intakes WHERE customer_pk = ? AND status IN ('new', 'review') "
                    "ORDER BY id",
                    key,
                )
            ],
        )

    def _ts(self, value: object) -> datetime:
        read = self.db.read_ts(value)
        assert read is not None
        return read

    def consents_of(self, customer_pk: int) -> list[ConsentFacts]:
        sql = (
            f"SELECT {_columns.listed(ConsentFacts)} FROM consents WHERE customer_pk = ? "
            "ORDER BY id"
        )
        return _columns.fetch(self.conn, ConsentFacts, sql, (customer_pk,))

    def consent(self, consent_id: int) -> ConsentFacts | None:
        sql = f"SELECT {_columns.listed(ConsentFacts)} FROM consents WHERE id = ?"
        return next(iter(_columns.fetch(self.conn, ConsentFacts, sql, (consent_id,))), None)

    def candidates(self) -> list[tuple[int, str]]:
        """Customers not erased, registered to no point and with no active case: (id, number)
        — whose records may all have passed their retention."""
        return [
            (int(r[0]), str(r[1]))
            for r in self.db.all(
                "SELECT u.id, u.customer_id FROM customers u WHERE u.erased_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM metering_points p WHERE p.customer_pk = u.id) "
                "AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.customer_pk = u.id AND c.active) "
                "ORDER BY u.customer_id"
            )
        ]

    def mail_due(self, before: datetime) -> list[int]:
        """Mails no longer waiting to be sent, made before ``before``, not yet cleared."""
        return [
            int(r[0])
            for r in self.db.all(
                "SELECT id FROM mail_outbox WHERE status NOT IN ('pending', 'sending') "
                "AND erased_at IS NULL AND created_at < ? ORDER BY id",
                (self.db.ts(before),),
            )
        ]

    def intakes_due(self, before: datetime) -> list[int]:
        """Intakes a caseworker settled without a case before ``before``, not yet erased."""
        return [
            int(r[0])
            for r in self.db.all(
                "SELECT id FROM intakes WHERE status = 'resolved' AND case_id IS NULL "
                "AND erased_at IS NULL AND resolved_at < ? ORDER BY id",
                (self.db.ts(before),),
            )
        ]

    def access_log_due(self, before: datetime) -> int:
        """How many reads of the access log were made before ``before`` (on PostgreSQL through
        the owner's ``access_log_due``: only the officer reads the log itself)."""
        from hanport.storage.erasure import ACCESS_LOG_DUE

        db = self.db
        if db.sqlite:
            return int(db.execute(ACCESS_LOG_DUE, {"before": db.ts(before)}).fetchone()[0])
        return int(db.one("SELECT access_log_due(?)", (before,))[0])

    def message_ids_of(self, customer_pk: int) -> list[str]:
        """The Message-IDs of every notice about the customer's cases (not personal)."""
        rows = self.conn.exec_driver_sql(
            "SELECT m.message_id FROM mail_outbox m JOIN cases c ON c.id = m.case_id "
            f"WHERE c.customer_pk = {int(customer_pk)}"
        ).all()
        return [str(r[0]) for r in rows]

    def ledger(self) -> list[LedgerEntry]:
        sql = f"SELECT {_columns.listed(LedgerEntry)} FROM erasures ORDER BY at, id"
        return _columns.fetch(self.conn, LedgerEntry, sql)

    def erased_on(self, customer_ids: list[str]) -> dict[str, datetime]:
        """When each of these customers was erased (those that were)."""
        if not customer_ids:
            return {}
        test, params = self.db.member(customer_ids)
        return {
            str(r[0]): self._ts(r[1])
            for r in self.db.all(
                f"SELECT customer_id, erased_at FROM customers WHERE customer_id {test} "
                "AND erased_at IS NOT NULL",
                params,
            )
        }
