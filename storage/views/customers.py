"""A customer as ``customer show`` reads it: the row, its versions, its points and cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from hanport.storage.rows import CustomerRow, PointRow
from hanport.storage.tables import CASES, CUSTOMER_HISTORY, CUSTOMERS, POINTS
from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class CustomerVersion:
    version: int
    valid_from: datetime
    changed_by: str
    source: str
    snapshot: str  # JSON text


@dataclass(frozen=True, slots=True)
class CaseBrief:
    ref: str
    workflow: str
    state: str


class CustomerReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_id(self, customer_id: str) -> CustomerRow | None:
        stmt = select(*_columns.of(CUSTOMERS, CustomerRow)).where(
            CUSTOMERS.c.customer_id == customer_id
        )
        row = self.conn.execute(stmt).first()
        return None if row is None else CustomerRow._make(row)

    def history(self, customer_pk: int) -> list[CustomerVersion]:
        """Every version of the customer, oldest first."""
        H = CUSTOMER_HISTORY
        stmt = (
            select(*_columns.of(H, CustomerVersion))
            .where(H.c.customer_pk == customer_pk)
            .order_by(H.c.version)
        )
        return [_columns.make(CustomerVersion, r) for r in self.conn.execute(stmt)]

    def points(self, customer_pk: int) -> list[PointRow]:
        """The customer's metering points, by GSRN."""
        stmt = (
            select(*_columns.of(POINTS, PointRow))
            .where(POINTS.c.customer_pk == customer_pk)
            .order_by(POINTS.c.gsrn)
        )
        return [PointRow._make(r) for r in self.conn.execute(stmt)]

    def cases(self, customer_pk: int) -> list[CaseBrief]:
        """The customer's cases, oldest first."""
        stmt = (
            select(*_columns.of(CASES, CaseBrief))
            .where(CASES.c.customer_pk == customer_pk)
            .order_by(CASES.c.id)
        )
        return [_columns.make(CaseBrief, r) for r in self.conn.execute(stmt)]
