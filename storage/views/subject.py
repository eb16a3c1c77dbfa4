"""What hanport holds about one customer, by reference: their cases, consents and the
metering points they had anything to do with (an access request's index; the personal values
themselves are read through ``views.personal``, each read logged)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class SubjectCase:
    id: int
    ref: str
    workflow: str
    workflow_version: int
    state: str
    active: bool
    created_at: datetime
    updated_at: datetime
    gsrn: str | None  # None: a data subject's request (about a person, not a point)


@dataclass(frozen=True, slots=True)
class SubjectPoint:
    """A metering point of the customer's: ``current`` when it is registered to them now."""

    id: int
    gsrn: str
    meter_number: str | None
    municipality: str
    han_port: str
    current: bool


@dataclass(frozen=True, slots=True)
class SubjectConsent:
    """A consent of the customer's without who signed it or the address written (those:
    ``views.personal.consent``)."""

    id: int
    source: str
    meter_number: str | None
    signer_role: str | None
    address_match: str | None
    security: str | None
    channel: str | None
    declaration_version: str | None
    received_at: datetime | None
    recorded_at: datetime
    opened_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    case_ref: str | None
    gsrn: str


class SubjectReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def cases(self, customer_pk: int) -> list[SubjectCase]:
        """The customer's cases, oldest first, each with its point's GSRN."""
        own = _columns.listed(SubjectCase, "c").replace("c.gsrn", "p.gsrn")
        sql = (
            f"SELECT {own} FROM cases c LEFT JOIN metering_points p ON p.id = c.point_id "
            "WHERE c.customer_pk = ? ORDER BY c.id"
        )
        return _columns.fetch(self.conn, SubjectCase, sql, (customer_pk,))

    def consents(self, customer_pk: int) -> list[SubjectConsent]:
        """The customer's consents (given on their cases, or imported), in order."""
        own = ", ".join(f"k.{n}" for n in _columns.names(SubjectConsent)[:-2])
        sql = (
            f"SELECT {own}, c.ref, p.gsrn FROM consents k "
            "JOIN metering_points p ON p.id = k.point_id LEFT JOIN cases c ON c.id = k.case_id "
            "WHERE k.customer_pk = ? ORDER BY k.id"
        )
        return _columns.fetch(self.conn, SubjectConsent, sql, (customer_pk,))

    def points(self, customer_pk: int) -> list[SubjectPoint]:
        """The points registered to the customer now, and those of their cases and consents
        (a point they have moved from), by GSRN."""
        sql = (
            "SELECT p.id, p.gsrn, p.meter_number, p.municipality, p.han_port, "
            "CASE WHEN p.customer_pk = ? THEN 1 ELSE 0 END FROM metering_points p "
            "WHERE p.customer_pk = ? "
            "OR p.id IN (SELECT point_id FROM cases WHERE customer_pk = ?) "
            "OR p.id IN (SELECT point_id FROM consents WHERE customer_pk = ?) ORDER BY p.gsrn"
        )
        rows = _columns.Driver(self.conn).all(sql, (customer_pk,) * 4)
        return [SubjectPoint(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]
