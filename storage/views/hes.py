"""HES commands as a caseworker reads them: those still out (or all), and a case's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from hanport.storage.views import _columns


def hes_out() -> Any:
    """A command that may still change its point's port: not settled yet (pending, sent), or
    counted as failed with the gateway's answer still to come."""
    from hanport.storage.tables import HES

    return or_(
        HES.c.status.in_(("pending", "sent")),
        and_(HES.c.status == "failed", HES.c.ack_due_at.is_not(None)),
    )


@dataclass(frozen=True, slots=True)
class CommandListed:
    """A command with its case and point."""

    id: int
    action: str
    status: str
    attempt: int
    adapter: str | None
    created_at: datetime
    sent_at: datetime | None
    ack_due_at: datetime | None
    case_ref: str
    case_state: str
    case_active: bool
    gsrn: str


@dataclass(frozen=True, slots=True)
class CommandBrief:
    id: int
    action: str
    status: str
    attempt: int


@dataclass(frozen=True, slots=True)
class CommandAnswered:
    """A command with what became of it: when it left, when it was settled and how."""

    id: int
    action: str
    status: str
    attempt: int
    sends: int
    adapter: str | None
    created_at: datetime
    sent_at: datetime | None
    done_at: datetime | None
    result: str | None  # opened | closed, once acknowledged
    error: str | None
    ack_outcome: str | None  # what the gateway reported (or will)


class HesReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def listing(self, *, gsrn: str | None = None, everything: bool = False) -> list[CommandListed]:
        """Commands still out (``hes_out()``; all with ``everything``), of one point if ``gsrn``
        is given, oldest first."""
        from hanport.storage.tables import CASES, HES, POINTS

        stmt = (
            select(
                *_columns.of(HES, CommandListed, but_last=4),
                CASES.c.ref,
                CASES.c.state,
                CASES.c.active,
                POINTS.c.gsrn,
            )
            .join(CASES, CASES.c.id == HES.c.case_id)
            .join(POINTS, POINTS.c.id == HES.c.point_id)
            .order_by(HES.c.id)
        )
        if not everything:
            stmt = stmt.where(hes_out())
        if gsrn is not None:
            stmt = stmt.where(POINTS.c.gsrn == gsrn)
        return [_columns.make(CommandListed, r) for r in self.conn.execute(stmt)]

    def of_case(self, case_id: int) -> list[CommandBrief]:
        """The case's commands, oldest first."""
        sql = f"SELECT {_columns.listed(CommandBrief)} FROM hes_commands WHERE case_id = ? ORDER BY id"
        return _columns.fetch(self.conn, CommandBrief, sql, (case_id,))

    def answered_of_case(self, case_id: int) -> list[CommandAnswered]:
        """The case's commands with their answers, oldest first."""
        sql = (
            f"SELECT {_columns.listed(CommandAnswered)} FROM hes_commands "
            "WHERE case_id = ? ORDER BY id"
        )
        return _columns.fetch(self.conn, CommandAnswered, sql, (case_id,))
