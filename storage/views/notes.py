"""A case's notes: the free text (reasons, supervisors' notes) kept beside its events.

Notes are personal data. Only :func:`hanport.queries.evidence.read_personal` reads them for
an export, so that reading them can be logged in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class NoteRow:
    """One note; ``body`` is None once erased."""

    seq: int  # the event it belongs to
    kind: str  # reason | note
    author: str
    body: str | None
    created_at: datetime
    erased_at: datetime | None


class NoteReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def of_case(self, case_id: int) -> list[NoteRow]:
        """The case's notes, in the order of its events."""
        sql = (
            f"SELECT {_columns.listed(NoteRow)} FROM case_notes WHERE case_id = ? ORDER BY seq, id"
        )
        return _columns.fetch(self.conn, NoteRow, sql, (case_id,))
