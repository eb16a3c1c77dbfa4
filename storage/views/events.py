"""The case events as the audit reads them: the hash chains streamed for verification, the
chain heads for a checkpoint, and one case's history."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import String, select, type_coerce
from sqlalchemy.engine import Connection

from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    case_id: int
    seq: int
    occurred_at: datetime
    actor: str
    actor_kind: str
    trigger: str
    from_state: str | None
    to_state: str
    workflow_version: int
    data: str  # canonical JSON text, as hashed
    prev_hash: str
    hash: str


class ChainLink(NamedTuple):
    """An event with its case, as verification reads it (a tuple: there may be millions).
    ``case_pk`` and the case's fields are None when the case row is gone; ``occurred`` is the
    instant as ISO 8601 text in UTC, the form the hash covers."""

    case_pk: int | None
    ref: str | None
    workflow: str | None
    state: str | None
    version: int | None
    last_hash: str | None
    id: int
    seq: int
    occurred: str
    actor: str
    actor_kind: str
    trigger: str
    from_state: str | None
    to_state: str
    workflow_version: int
    data: str
    prev_hash: str
    hash: str
    case_id: int


@dataclass(frozen=True, slots=True)
class CaseHead:
    id: int
    ref: str
    workflow: str
    workflow_version: int


def _sqlite_instant(raw: str) -> str:
    """The ISO UTC text of a naive UTC timestamp as SQLite stores it
    (``YYYY-MM-DD HH:MM:SS.ffffff``), without building a datetime: verification's hot path."""
    micro = raw[20:26]
    return f"{raw[:10]}T{raw[11:19]}{'' if not micro or micro == '000000' else '.' + micro}+00:00"


def _instant(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


class EventReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"

    def case_pk(self, ref: str) -> int | None:
        from hanport.storage.tables import CASES

        return self.conn.execute(select(CASES.c.id).where(CASES.c.ref == ref)).scalar()

    def of_case(self, case_id: int) -> list[EventRow]:
        """The case's events in order."""
        sql = f"SELECT {_columns.listed(EventRow)} FROM case_events WHERE case_id = ? ORDER BY seq"
        return _columns.fetch(self.conn, EventRow, sql, (case_id,))

    def chains(self, ref: str | None = None) -> Iterator[ChainLink]:
        """Every event (of case ``ref``) joined with its case, in (case, seq) order, streamed:
        memory stays flat however long the history."""
        from hanport.storage.tables import CASES, EVENTS

        E, C = EVENTS, CASES
        occurred: Any = type_coerce(E.c.occurred_at, String) if self.sqlite else E.c.occurred_at
        instant = _sqlite_instant if self.sqlite else _instant
        stmt = (
            select(
                C.c.id,
                C.c.ref,
                C.c.workflow,
                C.c.state,
                C.c.version,
                C.c.last_hash,
                E.c.id,
                E.c.seq,
                occurred,
                E.c.actor,
                E.c.actor_kind,
                E.c.trigger,
                E.c.from_state,
                E.c.to_state,
                E.c.workflow_version,
                E.c.data,
                E.c.prev_hash,
                E.c.hash,
                E.c.case_id,
            )
            .join_from(E, C, C.c.id == E.c.case_id, isouter=True)
            .order_by(E.c.case_id, E.c.seq)
        )
        if ref is not None:
            stmt = stmt.where(C.c.ref == ref)
        rows = self.conn.execution_options(stream_results=True, yield_per=10_000).execute(stmt)
        make = ChainLink._make
        for r in rows:
            yield make((*r[:8], instant(r[8]), *r[9:]))

    def without_events(self, ref: str | None = None) -> list[str]:
        """The references of cases that have no events (of ``ref`` only, if given)."""
        from hanport.storage.tables import CASES, EVENTS

        E, C = EVENTS, CASES
        stmt = select(C.c.ref).where(~select(E.c.id).where(E.c.case_id == C.c.id).exists())
        if ref is not None:
            stmt = stmt.where(C.c.ref == ref)
        return [r[0] for r in self.conn.execute(stmt)]

    def hash_at(self, case_pk: int, seq: int) -> str | None:
        """The stored hash of the case's event ``seq`` (None: no such event)."""
        from hanport.storage.tables import EVENTS

        E = EVENTS
        stmt = select(E.c.hash).where(E.c.case_id == case_pk, E.c.seq == seq)
        return self.conn.execute(stmt).scalar()

    def heads(self) -> dict[str, tuple[int, str]]:
        """Every case's (version, chain head), by reference."""
        from hanport.storage.tables import CASES

        rows = self.conn.execute(select(CASES.c.ref, CASES.c.version, CASES.c.last_hash))
        return {r[0]: (r[1], r[2]) for r in rows}

    def max_id(self) -> int | None:
        """The global sequence's last value (None: no events)."""
        from hanport.storage.tables import EVENTS

        E = EVENTS
        return self.conn.execute(select(E.c.id).order_by(E.c.id.desc()).limit(1)).scalar()

    def cases(self, ref: str | None = None) -> list[CaseHead]:
        """Every case (or case ``ref``), oldest first."""
        from hanport.storage.tables import CASES

        C = CASES
        stmt = select(*_columns.of(C, CaseHead)).order_by(C.c.id)
        if ref is not None:
            stmt = stmt.where(C.c.ref == ref)
        return [_columns.make(CaseHead, r) for r in self.conn.execute(stmt)]
