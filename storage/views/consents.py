"""A consent as the audit shows it: its own fields, whose it is and the case that recorded it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from hanport.storage.tables import CASES, CONSENTS, CUSTOMERS
from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class ConsentDetail:
    id: int
    source: str
    signer_name: str | None
    signer_role: str | None
    received_at: datetime | None
    recorded_at: datetime
    channel: str | None
    declaration_version: str | None
    address_match: str | None
    validated_by: str | None
    ended_at: datetime | None
    end_reason: str | None
    customer_id: str | None  # the customer's registry id
    case_ref: str | None  # the case that recorded it (none for a legacy import)


class ConsentReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, pk: int) -> ConsentDetail | None:
        stmt = (
            select(
                *_columns.of(CONSENTS, ConsentDetail, but_last=2),
                CUSTOMERS.c.customer_id,
                CASES.c.ref,
            )
            .select_from(CONSENTS)
            .outerjoin(CUSTOMERS, CUSTOMERS.c.id == CONSENTS.c.customer_pk)
            .outerjoin(CASES, CASES.c.id == CONSENTS.c.case_id)
            .where(CONSENTS.c.id == pk)
        )
        row = self.conn.execute(stmt).first()
        return None if row is None else _columns.make(ConsentDetail, row)
