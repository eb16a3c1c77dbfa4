"""Reading personal data for a person, each read logged in ``access_log`` in the same
transaction (:mod:`hanport.storage.personal`): on PostgreSQL through the ``personal_*``
functions, on SQLite by the same statements run here. Nothing is returned unless its log row
was committed."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from hanport.storage.erasure import ACCESS_LOG_CLEARED
from hanport.storage.personal import LOG_INSERT, READS
from hanport.storage.sql import Driver
from hanport.storage.views.notes import NoteRow


@dataclass(frozen=True)
class Access:
    """Who reads, for which command and purpose, at which instant of the application's clock."""

    actor: str
    role: str
    on_behalf_of: str | None
    command: str
    purpose: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Contact:
    name: str | None
    email: str | None
    phone: str | None
    street: str | None
    postal_code: str | None
    city: str | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    snapshot: str  # JSON text


@dataclass(frozen=True, slots=True)
class MailPersonal:
    recipient: str | None
    body_text: str | None
    body_html: str | None
    context: str  # JSON text
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ConsentPersonal:
    signer_name: str | None
    address_written: str | None
    postal_code_written: str | None
    from_email: str | None


@dataclass(frozen=True, slots=True)
class IntakePersonal:
    fields: str | None  # JSON text: the form as typed
    resolution_note: str | None


@dataclass(frozen=True, slots=True)
class Address:
    street: str | None
    postal_code: str | None
    city: str | None


@dataclass(frozen=True, slots=True)
class ReadOfSubject:
    """One read of a person's data as the person may see it: no login, no reader's name."""

    at: datetime
    role: str
    command: str
    purpose: str
    what: str


class PersonalReads:
    def __init__(self, conn: Connection) -> None:
        self.db = Driver(conn)

    def contact(self, customer_id: str, access: Access) -> Contact | None:
        rows = self._read("contact", customer_id, access)
        return Contact(*rows[0]) if rows else None

    def history(self, customer_id: str, access: Access) -> list[Snapshot]:
        return [Snapshot(*r) for r in self._read("history", customer_id, access)]

    def notes(self, case_id: int, access: Access) -> list[NoteRow]:
        ts = self.db.read_ts
        return [
            NoteRow(seq, kind, author, body, ts(created), ts(erased))  # type: ignore[arg-type]
            for seq, kind, author, body, created, erased in self._read("notes", case_id, access)
        ]

    def mail(self, mail_id: int, access: Access) -> MailPersonal | None:
        rows = self._read("mail", mail_id, access)
        return MailPersonal(*rows[0]) if rows else None

    def consent(self, consent_id: int, access: Access) -> ConsentPersonal | None:
        rows = self._read("consent", consent_id, access)
        return ConsentPersonal(*rows[0]) if rows else None

    def intake(self, intake_id: int, access: Access) -> IntakePersonal | None:
        rows = self._read("intake", intake_id, access)
        return IntakePersonal(*rows[0]) if rows else None

    def point(self, gsrn: str, access: Access) -> Address | None:
        """The installation address of the point (the read's subject: its customer now)."""
        rows = self._read("point", gsrn, access)
        return Address(*rows[0]) if rows else None

    def reads(self, customer_id: str, access: Access) -> list[ReadOfSubject]:
        """Every read of the customer's data, this one's included, oldest first."""
        ts = self.db.read_ts
        return [
            ReadOfSubject(ts(at), role, command, purpose, what)  # type: ignore[arg-type]
            for at, role, command, purpose, what in self._read("reads", customer_id, access)
        ]

    def _read(self, name: str, key: Any, a: Access) -> list[Any]:
        who = (a.actor, a.role, a.on_behalf_of, a.command, a.purpose)
        if self.db.sqlite:
            rows = self._sqlite(name, key, who, a.at)
        else:
            marks = self.db.placeholders(7)
            rows = self.db.all(
                f"SELECT * FROM personal_{name}({marks})", (key, *who, self.db.ts_or_none(a.at))
            )
        self.db.raw.commit()  # the log row lands before anything is shown
        return rows

    def _sqlite(self, name: str, key: Any, who: tuple[Any, ...], at: datetime) -> list[Any]:
        r = READS[name]
        ts = self.db.ts_or_none
        self.db.execute(
            f"{LOG_INSERT}SELECT max((SELECT coalesce(max(read_no), 0) FROM access_log), "
            f"{ACCESS_LOG_CLEARED}) + 1, "
            f"?, ?, ?, ?, ?, ?, ?, ?, s.customer_id, ? FROM ({r.subject.replace(':key', '?')}) s",
            (ts(at), ts(datetime.now(UTC)), getpass.getuser(), *who, r.what)
            + (key,) * r.subject.count(":key"),
        )
        return self.db.all(r.select.replace(":key", "?"), (key,))
