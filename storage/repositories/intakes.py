"""The customer's web forms (``intakes``): kept as typed, claimed by the intake pass, settled
with what became of them, resolved by a caseworker when they matched nothing."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from hanport.storage.sql import Driver


class NewIntake(NamedTuple):
    form: str
    form_token: str
    language: str
    received_at: datetime
    declaration_version: str | None
    declaration_sha256: str | None
    fields: str  # canonical JSON of the form as typed


class IntakeRow(NamedTuple):
    """An intake as the intake pass reads it (a service login's read: it keeps its SELECT)."""

    id: int
    form: str
    language: str
    received_at: datetime
    declaration_version: str | None
    declaration_sha256: str | None
    fields: str | None
    status: str
    case_id: int | None


_COLUMNS = (
    "id, form, language, received_at, declaration_version, declaration_sha256, fields, status, "
    "case_id"
)


class Intakes:
    def __init__(self, db: Driver) -> None:
        self.db = db

    def add(self, i: NewIntake) -> tuple[int, bool]:
        """Keep ``i`` unless its form token is already kept: (its id, whether it was)."""
        cur = self.db.execute(
            "INSERT INTO intakes (form, form_token, language, received_at, declaration_version, "
            "declaration_sha256, fields, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'new') "
            "ON CONFLICT (form_token) DO NOTHING",
            (*i[:3], self.db.ts(i.received_at), *i[4:]),
        )
        added = cur.rowcount == 1
        (intake_id,) = self.db.one("SELECT id FROM intakes WHERE form_token = ?", (i.form_token,))
        return int(intake_id), not added

    def claim(self, limit: int) -> list[IntakeRow]:
        """The oldest new intakes, locked for this transaction (on PostgreSQL another worker
        skips them; SQLite has one writer)."""
        lock = "" if self.db.sqlite else " FOR UPDATE SKIP LOCKED"
        rows = self.db.all(
            f"SELECT {_COLUMNS} FROM intakes WHERE status = 'new' ORDER BY id LIMIT ?{lock}",
            (limit,),
        )
        return [self._row(r) for r in rows]

    def get(self, intake_id: int, *, lock: bool = False) -> IntakeRow | None:
        tail = "" if self.db.sqlite or not lock else " FOR UPDATE"
        row = self.db.one(f"SELECT {_COLUMNS} FROM intakes WHERE id = ?{tail}", (intake_id,))
        return None if row is None else self._row(row)

    def _row(self, r: tuple[object, ...]) -> IntakeRow:
        row = IntakeRow._make(r)
        received = self.db.read_ts(row.received_at)
        assert received is not None  # NOT NULL
        return row._replace(received_at=received)

    def settle(
        self,
        intake_id: int,
        status: str,
        outcome: str,
        at: datetime,
        *,
        case_id: int | None = None,
        customer_pk: int | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE intakes SET status = ?, outcome = ?, processed_at = ?, case_id = ?, "
            "customer_pk = ? WHERE id = ?",
            (status, outcome, self.db.ts(at), case_id, customer_pk, intake_id),
        )

    def resolve(
        self,
        intake_id: int,
        by: str,
        at: datetime,
        note: str,
        *,
        case_id: int | None = None,
        customer_pk: int | None = None,
    ) -> int:
        """A caseworker settles an intake under review; the number of rows changed (0: it was
        not under review any more)."""
        return self.db.rowcount(
            "UPDATE intakes SET status = 'resolved', resolved_by = ?, resolved_at = ?, "
            "resolution_note = ?, case_id = coalesce(?, case_id), "
            "customer_pk = coalesce(?, customer_pk) WHERE id = ? AND status = 'review'",
            (by, self.db.ts(at), note, case_id, customer_pk, intake_id),
        )
