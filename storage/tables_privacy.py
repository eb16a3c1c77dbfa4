"""The tables of accountability and of the customer's door: the consent timeline, the access
log, the customers' hashing keys, the web intakes and the erasure ledger (re-exported by
:mod:`hanport.storage.tables`, whose ``METADATA`` holds them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from hanport.storage.types import ts_column


class ConsentEvent(SQLModel, table=True):
    """Append-only timeline of the consents the case events give and end, one row a fact,
    written with the event that causes it (``hanport.storage.consent_timeline``): what the
    consent register reads and ``audit verify`` checks against the events. No personal data."""

    __tablename__ = "consent_events"
    __table_args__ = (
        Index("ix_consent_events_consent", "consent_id", "kind", "at"),
        Index("ix_consent_events_kind", "kind", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    consent_id: int = Field(sa_column=Column(Integer, nullable=False))
    kind: str = Field(sa_column=Column(String(8), nullable=False))  # given | ended
    at: datetime = Field(sa_column=ts_column())
    case_id: int | None = None  # given: the consent's case
    reason: str | None = None  # ended: why
    channel: str | None = None
    declaration_version: str | None = None
    security: str | None = None
    signer_role: str | None = None
    received_at: str | None = None  # as the event's fields carry it
    address_match: str | None = None


class AccessLog(SQLModel, table=True):
    """Every read of personal data for a person (GDPR accountability), append-only — but for
    retention, which deletes the rows past the ``access_log`` period (``RetentionMark``): when (the
    database's clock, and ``at`` on the application's), who (the login, the acting user and
    role, the person a service account acted for), which command and purpose, whose data (the
    customer number, never a name) and what was read."""

    __tablename__ = "access_log"
    id: int | None = Field(default=None, primary_key=True)
    read_no: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True, index=True))
    at: datetime = Field(sa_column=ts_column(index=True))
    recorded_at: datetime = Field(sa_column=ts_column())
    login: str
    actor: str
    role: str = Field(sa_column=Column(String(16), nullable=False))
    on_behalf_of: str | None = None
    command: str
    purpose: str
    subject: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    what: str


class SubjectKey(SQLModel, table=True):
    """Each customer's own hashing key (hex): the values events carry for their personal fields
    are keyed with it under the pepper (configuration). Erasing the customer destroys it."""

    __tablename__ = "subject_keys"
    customer_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("customers.id"), primary_key=True, autoincrement=False)
    )
    key: str | None = Field(default=None, sa_column=Column(String(64)))
    created_at: datetime = Field(sa_column=ts_column())
    destroyed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class Intake(SQLModel, table=True):
    """A customer's web form as typed (personal, erasable), kept before anything is decided:
    the form token is its idempotency key. ``status``: ``new`` until the intake pass takes it,
    then ``done`` (a case was opened), ``merged`` (into an open request for the same point),
    ``review`` (it matched nothing: for the caseworkers) or ``resolved`` (a caseworker settled
    it). ``outcome`` says why in words that repeat nothing typed."""

    __tablename__ = "intakes"
    __table_args__ = (Index("ix_intakes_status", "status", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    form: str = Field(sa_column=Column(String(32), nullable=False))
    form_token: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    language: str = Field(sa_column=Column(String(2), nullable=False))
    received_at: datetime = Field(sa_column=ts_column(index=True))
    declaration_version: str | None = Field(default=None, sa_column=Column(String(16)))
    declaration_sha256: str | None = Field(default=None, sa_column=Column(String(64)))
    fields: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    customer_pk: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("customers.id"), nullable=True)
    )
    case_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("cases.id"), nullable=True, index=True)
    )
    outcome: str | None = Field(default=None, sa_column=Column(Text))
    processed_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    resolved_by: str | None = None
    resolved_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))
    resolution_note: str | None = Field(default=None, sa_column=Column(Text))
    erased_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class Erasure(SQLModel, table=True):
    """The erasure ledger: which subject (a customer number, or ``consent-N`` for a signer who
    is not the customer), when, who, why and what was erased (rows per table) — never a
    personal value. Kept outside the database too (``HANPORT_ERASURE_LEDGER``) so that
    ``privacy reapply`` can erase again after a restore; ``reapplied_at`` marks an entry
    brought back that way (an entry added then, never an update). Never updated or deleted: a
    trigger refuses both (and TRUNCATE on PostgreSQL), whoever asks."""

    __tablename__ = "erasures"
    id: int | None = Field(default=None, primary_key=True)
    erasure_id: str = Field(sa_column=Column(String(36), unique=True, nullable=False))
    subject_kind: str = Field(sa_column=Column(String(16), nullable=False))  # customer|signer
    subject: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    scope: str = Field(sa_column=Column(String(16), nullable=False))  # contact|subject|signer
    at: datetime = Field(sa_column=ts_column())
    actor: str
    role: str = Field(sa_column=Column(String(16), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    erased: str = Field(sa_column=Column(Text, nullable=False))  # JSON: table → rows
    reapplied_at: datetime | None = Field(default=None, sa_column=ts_column(nullable=True))


class RetentionMark(SQLModel, table=True):
    """How far retention has cleared an append-only record (``access_log``): every row read
    before ``cleared_before`` and numbered up to ``last_read_no`` is gone. Its delete trigger
    lets through only those rows; SQLite numbers its reads after them."""

    __tablename__ = "retention_marks"
    kind: str = Field(sa_column=Column(String(32), primary_key=True))
    cleared_before: datetime = Field(sa_column=ts_column())
    last_read_no: int = Field(sa_column=Column(BigInteger, nullable=False))
