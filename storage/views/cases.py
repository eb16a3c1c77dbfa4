"""Cases as ``case show`` and ``case list`` read them: the case row, its point and customer,
its pending timers, and the list with its filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from hanport.storage.rows import CaseRow, CustomerBrief, PointBrief
from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class PendingTimer:
    name: str
    trigger: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class VersionCount:
    workflow: str
    version: int
    active: bool
    count: int


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """What ``case list`` narrows to (every given condition must hold)."""

    workflow: str | None = None
    state: str | None = None
    customer: str | None = None
    metering_point: str | None = None
    attention: bool = False  # flagged, or in a state waiting for a person
    overdue_at: datetime | None = None  # SLA breached, or a timer due by then still pending
    limit: int = 500


@dataclass(frozen=True, slots=True)
class CaseListed:
    ref: str
    workflow: str
    state: str
    flags: str  # canonical JSON text
    updated_at: datetime
    gsrn: str | None  # None: a data subject's request (about a person, not a point)
    customer_id: str


ATTENTION_STATES = ("needs_attention", "address_review")


@dataclass(frozen=True, slots=True)
class SubjectRequestListed:
    """A data subject's request (``privacy_request``) as the data-protection officer lists it."""

    ref: str
    state: str
    active: bool
    data: str  # canonical JSON text: the kind, channel, receipt and deadline
    created_at: datetime
    updated_at: datetime
    customer_id: str


class CaseReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_ref(self, ref: str) -> CaseRow | None:
        sql = f"SELECT {_columns.listed(CaseRow)} FROM cases WHERE ref = ?"
        return next(iter(_columns.fetch(self.conn, CaseRow, sql, (ref,))), None)

    def point(self, pk: int) -> PointBrief | None:
        sql = f"SELECT {_columns.listed(PointBrief)} FROM metering_points WHERE id = ?"
        return next(iter(_columns.fetch(self.conn, PointBrief, sql, (pk,))), None)

    def customer(self, pk: int) -> CustomerBrief | None:
        sql = f"SELECT {_columns.listed(CustomerBrief)} FROM customers WHERE id = ?"
        return next(iter(_columns.fetch(self.conn, CustomerBrief, sql, (pk,))), None)

    def pending_timers(self, case_id: int) -> list[PendingTimer]:
        """The case's pending timers, soonest first."""
        sql = (
            f"SELECT {_columns.listed(PendingTimer)} FROM timers "
            "WHERE case_id = ? AND status = 'pending' ORDER BY due_at"
        )
        return _columns.fetch(self.conn, PendingTimer, sql, (case_id,))

    def by_version(self) -> list[VersionCount]:
        """How many cases each workflow version has, live and ended (``workflow versions``)."""
        sql = (
            "SELECT workflow, workflow_version, active, count(*) FROM cases "
            "GROUP BY workflow, workflow_version, active ORDER BY workflow, workflow_version"
        )
        return _columns.fetch(self.conn, VersionCount, sql)

    def subject_requests(self, *, open_only: bool) -> list[SubjectRequestListed]:
        """The data subjects' requests, oldest first (only those still open)."""
        own = _columns.listed(SubjectRequestListed, "c").replace("c.customer_id", "u.customer_id")
        sql = (
            f"SELECT {own} FROM cases c JOIN customers u ON u.id = c.customer_pk "
            "WHERE c.workflow = 'privacy_request'" + (" AND c.active" if open_only else "")
        )
        return _columns.fetch(self.conn, SubjectRequestListed, sql + " ORDER BY c.id")

    def listing(self, f: CaseFilter) -> list[CaseListed]:
        """The cases ``f`` selects, oldest first, at most ``f.limit``."""
        from sqlalchemy import and_, select

        from hanport.storage.tables import CASES, CUSTOMERS, POINTS

        C, P, U = CASES, POINTS, CUSTOMERS
        stmt = (
            select(
                C.c.ref,
                C.c.workflow,
                C.c.state,
                C.c.flags,
                C.c.updated_at,
                P.c.gsrn,
                U.c.customer_id,
            )
            .outerjoin(P, P.c.id == C.c.point_id)  # a subject's request has no point
            .join(U, U.c.id == C.c.customer_pk)
        )
        conds = _conditions(f)
        if conds:
            stmt = stmt.where(and_(*conds))
        stmt = stmt.order_by(C.c.id).limit(f.limit)
        return [_columns.make(CaseListed, r) for r in self.conn.execute(stmt)]


def _conditions(f: CaseFilter) -> list[Any]:
    from sqlalchemy import and_, exists, or_

    from hanport.storage.tables import CASES, CUSTOMERS, POINTS, TIMERS

    C, P, U, T = CASES, POINTS, CUSTOMERS, TIMERS
    conds: list[Any] = []
    if f.workflow:
        conds.append(C.c.workflow == f.workflow)
    if f.state:
        conds.append(C.c.state == f.state)
    if f.customer:
        conds.append(U.c.customer_id == f.customer)
    if f.metering_point:
        conds.append(P.c.gsrn == f.metering_point)
    if f.attention:
        conds.append(or_(C.c.flags != "[]", C.c.state.in_(ATTENTION_STATES)))
    if f.overdue_at is not None:
        due = and_(T.c.case_id == C.c.id, T.c.status == "pending", T.c.due_at <= f.overdue_at)
        conds.append(or_(C.c.flags.like('%"sla_breached"%'), exists().where(due)))
    return conds
