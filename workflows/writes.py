"""What a decision asks the writer to persist: one frozen record per row to insert or change.

These are the decision's output besides the changed cases and their events. The writer persists
them grouped by table, in one transaction; none of them is read back by the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hanport.workflows.model import Id, NewId

# ``PortChanged.consent_id`` when the point keeps the consent it has.
KEEP = "keep"


@dataclass(frozen=True)
class NewTimer:
    id: NewId
    case_id: int
    name: str
    kind: str
    trigger: str
    due_at: datetime
    created_at: datetime
    started_seq: int


@dataclass(frozen=True)
class TimersCancelled:
    case_id: int
    ids: tuple[Id, ...]  # the case's pending timers that end
    at: datetime
    outcome: str


@dataclass(frozen=True)
class NewMail:
    """A notice to render into the outbox (rendered by the writer once the ids are known)."""

    case_id: int
    case_ref: str
    seq: int
    template: str
    language: str
    recipient: str | None
    context: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class NewHesCommand:
    id: NewId
    case_id: int
    point_id: int
    action: str
    attempt: int
    adapter: str
    not_before: datetime
    created_at: datetime


@dataclass(frozen=True)
class HesCommandSettled:
    id: Id
    status: str  # failed | acked | cancelled
    at: datetime
    result: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class HesCommandRequeued:
    """A failed close left behind by an ended case goes again, in its own place in the queue."""

    id: Id
    attempt: int
    not_before: datetime
    error: str


@dataclass(frozen=True)
class NewConsent:
    id: NewId
    values: dict[str, Any]


@dataclass(frozen=True)
class ConsentChanged:
    id: Id
    values: dict[str, Any]  # validated_by, opened_at


@dataclass(frozen=True)
class ConsentEnded:
    id: Id
    at: datetime
    reason: str


@dataclass(frozen=True)
class PortChanged:
    """The point's port (and the consent behind it) changes; its timeline gets a row."""

    point_id: int
    state: str
    at: datetime
    cause: str
    consent_id: Id | str | None = KEEP  # the point's consent becomes this (KEEP: it stays)
    consent_after: Id | None = None  # the consent behind the port after the change
    case_id: int | None = None
    hes_command_id: Id | None = None
    meter_number: str | None = None


@dataclass(frozen=True)
class MeterInstalled:
    point_id: int
    meter_number: str
    at: datetime
    source: str


@dataclass(frozen=True)
class NewNote:
    case_id: int
    seq: int
    kind: str
    author: str
    body: str
    at: datetime


Write = (
    NewTimer
    | TimersCancelled
    | NewMail
    | NewHesCommand
    | HesCommandSettled
    | HesCommandRequeued
    | NewConsent
    | ConsentChanged
    | ConsentEnded
    | PortChanged
    | MeterInstalled
    | NewNote
)
