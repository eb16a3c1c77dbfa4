"""Metering points and their port timelines, as the audit reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from hanport.storage.rows import PointBrief
from hanport.storage.tables import CASES, POINTS, PORT_EVENTS
from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class PortStep:
    """One change of a point's port, with the reference of the case behind it."""

    at: datetime
    state: str
    consent_id: int | None
    cause: str
    case_id: int | None
    case_ref: str | None


@dataclass(frozen=True, slots=True)
class PortHead:
    """A point's port now, and the state its timeline ends with (None: it has none)."""

    id: int
    gsrn: str
    han_port: str
    last_state: str | None


class PortReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def point(self, gsrn: str) -> PointBrief | None:
        stmt = select(*_columns.of(POINTS, PointBrief)).where(POINTS.c.gsrn == gsrn)
        row = self.conn.execute(stmt).first()
        return None if row is None else PointBrief._make(row)

    def timeline(self, point_id: int) -> list[PortStep]:
        """Every change of the point's port, in the order they happened."""
        PE = PORT_EVENTS
        stmt = (
            select(*_columns.of(PE, PortStep, but_last=1), CASES.c.ref)
            .outerjoin(CASES, CASES.c.id == PE.c.case_id)
            .where(PE.c.point_id == point_id)
            .order_by(PE.c.id)
        )
        return [_columns.make(PortStep, r) for r in self.conn.execute(stmt)]

    def heads(self) -> list[PortHead]:
        """Every point with its port and the last state of its timeline, by id."""
        PE, each = PORT_EVENTS, PORT_EVENTS.alias("each")
        last = (
            select(func.max(each.c.id))
            .where(each.c.point_id == POINTS.c.id)
            .correlate(POINTS)
            .scalar_subquery()
        )
        stmt = (
            select(POINTS.c.id, POINTS.c.gsrn, POINTS.c.han_port, PE.c.state)
            .select_from(POINTS)
            .outerjoin(PE, PE.c.id == last)
            .order_by(POINTS.c.id)
        )
        return [_columns.make(PortHead, r) for r in self.conn.execute(stmt)]
