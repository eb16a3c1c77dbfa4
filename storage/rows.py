"""Typed rows the repositories return: one named tuple per table (or per read), instants aware in
UTC, JSON columns as their stored canonical text."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class CaseRow(NamedTuple):
    id: int
    ref: str
    workflow: str
    workflow_version: int
    state: str
    version: int
    point_id: int | None  # None: a data subject's request
    customer_pk: int
    holds_port: bool
    active: bool
    flags: str
    data: str
    last_hash: str
    created_at: datetime
    updated_at: datetime


class PointRow(NamedTuple):
    id: int
    gsrn: str
    customer_pk: int | None
    meter_number: str | None
    municipality: str
    street: str | None
    postal_code: str | None
    city: str | None
    han_port: str
    port_since: datetime | None
    consent_id: int | None
    updated_at: datetime


class PointBrief(NamedTuple):
    """A metering point without its installation address (personal): what every role reads."""

    id: int
    gsrn: str
    customer_pk: int | None
    meter_number: str | None
    municipality: str
    han_port: str
    port_since: datetime | None
    consent_id: int | None
    updated_at: datetime


class CustomerBrief(NamedTuple):
    """A customer without name, contact details or address (personal): what every role reads."""

    id: int
    customer_id: str
    language: str
    energipilot: bool
    version: int
    updated_at: datetime
    erased_at: datetime | None


class CustomerRow(NamedTuple):
    id: int
    customer_id: str
    name: str | None
    email: str | None
    phone: str | None
    street: str | None
    postal_code: str | None
    city: str | None
    language: str
    energipilot: bool
    version: int
    updated_at: datetime
    erased_at: datetime | None


class TimerRow(NamedTuple):
    id: int
    case_id: int
    name: str
    kind: str
    trigger: str
    due_at: datetime


class TimerBrief(NamedTuple):
    case_id: int
    id: int
    name: str
    status: str


class HesBrief(NamedTuple):
    id: int
    case_id: int
    case_ref: str
    point_id: int
    action: str
    status: str
    answer_due: bool


class ConsentBrief(NamedTuple):
    id: int
    case_id: int | None
    customer_pk: int
    live: bool


class CaseBundle(NamedTuple):
    """A case with its point and customer, as one command loads it."""

    case: CaseRow
    point: PointRow
    customer: CustomerRow


class Loaded(NamedTuple):
    """What a command loads in one read: cases (with the holders of their points), their
    timers, the HES commands of those cases and those still out for their points, and the
    consents the cases and points name."""

    cases: list[CaseBundle]
    points: list[PointRow]  # every point the load covers
    timers: list[TimerBrief]
    hes: list[HesBrief]
    consents: list[ConsentBrief]
    customer: CustomerRow | None = None  # asked for with ``Cases.load(customer=...)``
    # Customers whose processing is restricted (GDPR art. 18), with the request restricting it:
    # the cases' customers, and the one asked for.
    restricted: dict[int, str] = {}  # noqa: RUF012 (a NamedTuple's default, never changed)
    # The cases' customers' hashing keys (None: destroyed), asked for with
    # ``Cases.load(subject_keys=True)``; a customer without a key row is not in it.
    subject_keys: dict[int, str | None] | None = None


class MeterSeen(NamedTuple):
    point_id: int
    gsrn: str
    meter_number: str
    valid_from: datetime
    valid_to: datetime | None
