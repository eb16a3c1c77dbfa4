"""A customer as ``customer show`` reads it: the row, its versions, its points and cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from hanport.storage.rows import CustomerBrief, PointBrief
from hanport.storage.tables import CASES, CUSTOMER_HISTORY, CUSTOMERS, POINTS
from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class CustomerVersion:
    version: int
    valid_from: datetime
    changed_by: str
    source: str


@dataclass(frozen=True, slots=True)
class CaseBrief:
    ref: str
    workflow: str
    state: str


class CustomerReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_id(self, customer_id: str) -> CustomerBrief | None:
        stmt = select(*_columns.of(CUSTOMERS, CustomerBrief)).where(
            CUSTOMERS.c.customer_id == customer_id
        )
        row = self.conn.execute(stmt).first()
        return None if row is None else CustomerBrief._make(row)

    def history(self, customer_pk: int) -> list[CustomerVersion]:
        """Every version of the customer, oldest first (its snapshot is personal:
        ``views.personal.history``)."""
        H = CUSTOMER_HISTORY
        stmt = (
            select(*_columns.of(H, CustomerVersion))
            .where(H.c.customer_pk == customer_pk)
            .order_by(H.c.version)
        )
        return [_columns.make(CustomerVersion, r) for r in self.conn.execute(stmt)]

    def points(self, customer_pk: int) -> list[PointBrief]:
        """The customer's metering points, by GSRN."""
        stmt = (
            select(*_columns.of(POINTS, PointBrief))
            .where(POINTS.c.customer_pk == customer_pk)
            .order_by(POINTS.c.gsrn)
        )
        return [PointBrief._make(r) for r in self.conn.execute(stmt)]

    def cases(self, customer_pk: int) -> list[CaseBrief]:
        """The customer's cases, oldest first."""
        stmt = (
            select(*_columns.of(CASES, CaseBrief))
            .where(CASES.c.customer_pk == customer_pk)
            .order_by(CASES.c.id)
        )
        return [_columns.make(CaseBrief, r) for r in self.conn.execute(stmt)]
