"""SQLModel tables. Personal data (names, addresses, e-mail, phone, free text) lives only in
customers, customer_history, metering_points, consents, case_notes and mail_outbox
(``hanport.storage.personal`` names the columns); access_log records who read it; case_events
carries references and keyed hashes (per customer, under the pepper), so erasing personal fields
keeps every chain verifiable.

Instants are UTC (``UTCDateTime``). JSON is stored as canonical text so hashes are stable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

# The tables of accountability and the customer's door, declared in a module of their own.
from hanport.storage.tables_privacy import AccessLog as AccessLog
from hanport.storage.tables_privacy import ConsentEvent as ConsentEvent
from hanport.storage.tables_privacy import Erasure as Erasure
from hanport.storage.tables_privacy import Intake as Intake
from hanport.storage.tables_privacy import RetentionMark as RetentionMark
from hanport.storage.tables_privacy import SubjectKey as SubjectKey
from hanport.storage.types import ts_column


def _ts(nullable: bool = False, index: bool = False) -> Column:
    return ts_column(nullable, index)


class Meta(SQLModel, table=True):
    """Per-database settings: the clock mode, the simulated time (the old hashing salt is gone)."""

    __tablename__ = "meta"
    key: str = Field(sa_column=Column(String(64), primary_key=True))
    value: str = Field(sa_column=Column(Text, nullable=False))


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    postal_code: str | None = Field(default=None, sa_column=Column(String(4)))
    city: str | None = None
    language: str = Field(default="nb", sa_column=Column(String(2), nullable=False))
    energipilot: bool = False
    version: int = 1
    updated_at: datetime = Field(sa_column=_ts())
    erased_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class CustomerHistory(SQLModel, table=True):
    """One row per change of a customer: the snapshot as it was from ``valid_from``."""

    __tablename__ = "customer_history"
    id: int | None = Field(default=None, primary_key=True)
    customer_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    )
    version: int
    valid_from: datetime = Field(sa_column=_ts())
    changed_by: str
    source: str  # import | cli | demo
    snapshot: str = Field(sa_column=Column(Text, nullable=False))
    erased_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class MeteringPoint(SQLModel, table=True):
    __tablename__ = "metering_points"
    id: int | None = Field(default=None, primary_key=True)
    gsrn: str = Field(sa_column=Column(String(18), unique=True, nullable=False))
    customer_pk: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("customers.id"), index=True)
    )
    meter_number: str | None = None
    municipality: str = Field(sa_column=Column(String(4), nullable=False))
    street: str | None = None
    postal_code: str | None = Field(default=None, sa_column=Column(String(4)))
    city: str | None = None
    han_port: str = Field(sa_column=Column(String(8), nullable=False))  # none|closed|opening|...
    port_since: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    consent_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    updated_at: datetime = Field(sa_column=_ts())


class MeterHistory(SQLModel, table=True):
    """Which meter sat on a metering point when: a swap changes the meter, not the point."""

    __tablename__ = "meter_history"
    id: int | None = Field(default=None, primary_key=True)
    point_id: int = Field(
        sa_column=Column(Integer, ForeignKey("metering_points.id"), nullable=False, index=True)
    )
    meter_number: str = Field(sa_column=Column(String(18), nullable=False, index=True))
    valid_from: datetime = Field(sa_column=_ts())
    valid_to: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    source: str


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        # One case at a time may change a point's port: a partial unique index, WHERE
        # holds_port, as migration 0001 creates it on each backend. Its condition is not
        # repeated here: a ``postgresql_where`` makes SQLAlchemy load the PostgreSQL dialect at
        # import, on SQLite too (40 ms of every command's start-up); the tables here only build
        # statements, the migrations build the schema (a test compares the two).
        Index("ux_cases_point_holding", "point_id", unique=True),
        Index("ix_cases_state", "workflow", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(sa_column=Column(String(20), unique=True, nullable=False))
    workflow: str = Field(sa_column=Column(String(32), nullable=False))
    workflow_version: int
    state: str = Field(sa_column=Column(String(32), nullable=False))
    version: int
    # NULL for a data subject's request (``privacy_request``): about a person, not a point.
    point_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("metering_points.id"), nullable=True, index=True),
    )
    customer_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    )
    holds_port: bool
    active: bool
    flags: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    last_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class CaseEvent(SQLModel, table=True):
    """Append-only (a database trigger refuses UPDATE and DELETE). ``id`` is the global sequence."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),)
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    case_id: int = Field(sa_column=Column(Integer, ForeignKey("cases.id"), nullable=False))
    seq: int
    occurred_at: datetime = Field(sa_column=_ts())
    actor: str
    actor_kind: str
    trigger: str
    from_state: str | None = None
    to_state: str
    workflow_version: int
    data: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


class CaseNote(SQLModel, table=True):
    """Free text (notes, reasons): personal, erasable; events carry its keyed hash."""

    __tablename__ = "case_notes"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    )
    seq: int
    kind: str
    author: str
    body: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=_ts())
    erased_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class Timer(SQLModel, table=True):
    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "status", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    )
    name: str
    kind: str
    trigger: str
    due_at: datetime = Field(sa_column=_ts())
    status: str = Field(sa_column=Column(String(12), nullable=False))  # pending|fired|cancelled
    created_at: datetime = Field(sa_column=_ts())
    started_seq: int
    ended_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    outcome: str | None = None


class Consent(SQLModel, table=True):
    __tablename__ = "consents"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("cases.id"), nullable=True, index=True)
    )
    customer_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    )
    point_id: int = Field(
        sa_column=Column(Integer, ForeignKey("metering_points.id"), nullable=False, index=True)
    )
    meter_number: str | None = None
    source: str  # case | legacy_import
    signer_name: str | None = None
    signer_role: str | None = None
    address_written: str | None = None
    postal_code_written: str | None = None
    address_match: str | None = None  # installation | postal_address | none
    security: str | None = None
    channel: str | None = None
    from_email: str | None = None
    declaration_version: str | None = None
    received_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    recorded_at: datetime = Field(sa_column=_ts())
    recorded_by: str
    validated_by: str | None = None
    opened_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    end_reason: str | None = None
    erased_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class MailOutbox(SQLModel, table=True):
    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_status", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    )
    seq: int
    template: str
    language: str = Field(sa_column=Column(String(2), nullable=False))
    recipient: str | None = None
    context: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(12), nullable=False))
    message_id: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    subject: str | None = Field(default=None, sa_column=Column(Text))
    body_text: str | None = Field(default=None, sa_column=Column(Text))
    body_html: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=_ts())
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=_ts())
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    erased_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class HesCommand(SQLModel, table=True):
    """Commands to the head-end system, dispatched in order per point, one at a time."""

    __tablename__ = "hes_commands"
    __table_args__ = (Index("ix_hes_commands_point", "point_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=Column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    )
    point_id: int = Field(
        sa_column=Column(Integer, ForeignKey("metering_points.id"), nullable=False)
    )
    action: str  # open | close
    status: str = Field(sa_column=Column(String(12), nullable=False, index=True))
    attempt: int
    # Times sent: a failed close left behind by a cancelled case goes again in its place.
    sends: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    adapter: str | None = None
    not_before: datetime = Field(sa_column=_ts())
    created_at: datetime = Field(sa_column=_ts())
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    done_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    result: str | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    # What the gateway will report, and when (the simulated adapter stores its acknowledgement
    # here at dispatch; a later tick applies it once the clock has reached ``ack_due_at``).
    ack_due_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    ack_outcome: str | None = None  # opened | closed | failed


class IdempotencyKey(SQLModel, table=True):
    """A command's key, scoped per kind: a repeat returns the first result."""

    __tablename__ = "idempotency_keys"
    kind: str = Field(sa_column=Column(String(32), primary_key=True))
    key: str = Field(sa_column=Column(String(200), primary_key=True))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    case_id: int | None = None
    result: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_ts())


class BatchRun(SQLModel, table=True):
    __tablename__ = "batch_runs"
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    file_name: str
    file_hash: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    started_at: datetime = Field(sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    rows_read: int = 0
    applied: int = 0
    noop: int = 0
    rejected: int = 0
    actor: str


class BatchDocument(SQLModel, table=True):
    """Every Elhub document seen, with its outcome; applied or no-op ones are never re-applied."""

    __tablename__ = "batch_documents"
    document_id: str = Field(sa_column=Column(String(64), primary_key=True))
    run_id: int = Field(sa_column=Column(Integer, ForeignKey("batch_runs.id"), nullable=False))
    row_number: int
    event: str
    gsrn: str | None = Field(default=None, sa_column=Column(String(32), nullable=True, index=True))
    outcome: str  # applied | noop | rejected
    detail: str | None = Field(default=None, sa_column=Column(Text))
    case_id: int | None = None
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    recorded_at: datetime = Field(sa_column=_ts())


class PortEvent(SQLModel, table=True):
    """Append-only timeline of each metering point's port state and the consent behind it:
    what ``audit port`` answers from and what ``audit verify`` checks the points against."""

    __tablename__ = "port_events"
    __table_args__ = (
        Index("ix_port_events_point", "point_id", "id"),
        Index("ix_port_events_consent", "consent_id", "state", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    point_id: int = Field(
        sa_column=Column(Integer, ForeignKey("metering_points.id"), nullable=False)
    )
    at: datetime = Field(sa_column=_ts())
    state: str = Field(sa_column=Column(String(8), nullable=False))
    consent_id: int | None = None
    cause: str
    case_id: int | None = None
    hes_command_id: int | None = None


class BatchFile(SQLModel, table=True):
    """A file taken from the batch inbox, keyed on its content: several schedulers sharing one
    database process each file once."""

    __tablename__ = "batch_files"
    file_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    file_name: str
    status: str = Field(sa_column=Column(String(12), nullable=False))  # running | done
    claimed_by: str
    lease_until: datetime = Field(sa_column=_ts())
    run_id: int | None = None
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


METADATA = SQLModel.metadata

# The tables as SQLAlchemy Core sees them, for the statements storage builds (and the tests'
# checks of what was stored).
CASES: Table = Case.__table__  # type: ignore[attr-defined]
EVENTS: Table = CaseEvent.__table__  # type: ignore[attr-defined]
NOTES: Table = CaseNote.__table__  # type: ignore[attr-defined]
TIMERS: Table = Timer.__table__  # type: ignore[attr-defined]
CONSENTS: Table = Consent.__table__  # type: ignore[attr-defined]
MAIL: Table = MailOutbox.__table__  # type: ignore[attr-defined]
HES: Table = HesCommand.__table__  # type: ignore[attr-defined]
POINTS: Table = MeteringPoint.__table__  # type: ignore[attr-defined]
METERS: Table = MeterHistory.__table__  # type: ignore[attr-defined]
CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]
CUSTOMER_HISTORY: Table = CustomerHistory.__table__  # type: ignore[attr-defined]
IDEMPOTENCY: Table = IdempotencyKey.__table__  # type: ignore[attr-defined]
META: Table = Meta.__table__  # type: ignore[attr-defined]
PORT_EVENTS: Table = PortEvent.__table__  # type: ignore[attr-defined]
