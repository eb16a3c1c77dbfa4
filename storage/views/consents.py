"""A consent as the audit shows it: its own fields, whose it is and the case that recorded it.
Who signed, and the address written, are personal: ``views.personal.consent``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class ConsentDetail:
    id: int
    source: str
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
        own = ", ".join(f"c.{n}" for n in _columns.names(ConsentDetail)[:-2])
        sql = (
            f"SELECT {own}, u.customer_id, k.ref FROM consents c "
            "LEFT JOIN customers u ON u.id = c.customer_pk LEFT JOIN cases k ON k.id = c.case_id "
            "WHERE c.id = ?"
        )
        return next(iter(_columns.fetch(self.conn, ConsentDetail, sql, (pk,))), None)
