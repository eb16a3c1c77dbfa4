"""What a decision knows and changes: the cases, their metering point and customer, the point's
HES commands and consents — loaded by the service layer in one read, changed here in memory.

A decision never reads the database: everything it may need is in these objects when it starts,
and what it changes on them (a case's state, a point's port, a command's status) is what later
steps of the same command see. Rows a command creates get a :class:`NewId` that the writer
fills in when it allocates them, so events and intents can name them before they exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The port's state while a command for it is out.
TRANSIT = {"open": "opening", "close": "closing"}


class NewId:
    """The id of a row this command inserts; set by the writer before anything is written."""

    __slots__ = ("table", "value")

    def __init__(self, table: str) -> None:
        self.table = table
        self.value: int | None = None

    def __int__(self) -> int:
        if self.value is None:
            raise RuntimeError(f"new {self.table} id used before it was allocated")
        return self.value

    def __repr__(self) -> str:
        return f"NewId({self.table}={self.value})"


Id = int | NewId


_PLAIN = frozenset((str, int, bool, type(None)))


def resolve(value: Any) -> Any:
    """``value`` with every ``NewId`` replaced by the id it stands for (a tight walk: this runs
    on every event's data, case data and notice context)."""
    t = type(value)
    if t in _PLAIN:
        return value
    if t is dict:
        return {k: v if type(v) in _PLAIN else resolve(v) for k, v in value.items()}
    if isinstance(value, NewId):
        return int(value)
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v) for v in value]
    return value


@dataclass(frozen=True)
class Customer:
    pk: int
    customer_id: str
    name: str | None
    email: str | None
    language: str
    energipilot: bool
    street: str | None
    postal_code: str | None
    erased: bool = False  # their personal data was erased (GDPR art. 17)


@dataclass
class HesCommand:
    id: Id
    case_id: int
    case_ref: str
    action: str  # open | close
    status: str  # pending | sent | failed | acked | cancelled | superseded
    # A failed command whose gateway answer is still to come (the 24 h timeout counted it).
    answer_due: bool = False

    @property
    def out(self) -> bool:
        """It may still change the port: not settled, or failed with an answer still to come."""
        return self.status in ("pending", "sent") or (self.status == "failed" and self.answer_due)


@dataclass
class Consent:
    id: Id
    customer_pk: int
    live: bool


@dataclass
class Point:
    id: int
    gsrn: str
    meter_number: str | None
    municipality: str
    street: str | None
    postal_code: str | None
    port: str  # none | closed | opening | open | closing
    consent_id: int | NewId | None
    customer_pk: int | None
    # The case holding the point (one per point) when the command began, if any.
    holder_id: int | None = None
    # Every command still out for the point, and every command of the cases loaded with it.
    hes: list[HesCommand] = field(default_factory=list)
    # Points a new meter number has been registered on before: (point id, still current).
    meter_seen: dict[str, list[tuple[int, bool, str]]] = field(default_factory=dict)

    def hes_out_for_others(self, case_id: int) -> list[HesCommand]:
        return [c for c in self.hes if c.out and c.case_id != case_id]


@dataclass
class Case:
    id: int
    ref: str
    workflow: str
    workflow_version: int
    state: str
    version: int
    flags: list[str]
    data: dict[str, Any]
    holds_port: bool
    active: bool
    point: Point
    customer: Customer
    prev_hash: str
    created_at: datetime
    # The timers pending now (id, name), and every timer name ever started.
    pending_timers: list[tuple[Id, str]] = field(default_factory=list)
    started_timers: set[str] = field(default_factory=set)
    # The version the row had when loaded: the writer's compare-and-swap (0 for a new case).
    loaded_version: int = 0
    new: bool = False
    # Set when another case takes the point over: the end reason of this case's consent.
    superseded_reason: str | None = None

    @property
    def hes(self) -> list[HesCommand]:
        return [c for c in self.point.hes if c.case_id == self.id]


@dataclass(frozen=True)
class Event:
    """One entry of a case's history, before the writer seals it into the hash chain."""

    seq: int
    occurred_at: datetime
    actor: str
    actor_kind: str
    trigger: str
    from_state: str | None
    to_state: str
    data: dict[str, Any]


@dataclass(frozen=True)
class OtherCase:
    """A case on the same point, as an opening sees it."""

    ref: str
    state: str
    workflow: str
    holds_port: bool
    customer_pk: int


@dataclass(frozen=True)
class Opening:
    """What the rules for a new case read (``Workflow.open_rules``)."""

    workflow: str
    point: Point
    customer: Customer
    area_name: str | None  # the point's municipality's area, if it is mapped
    area_workflow: str | None
    point_customer_id: str | None  # the point's current customer
    others: tuple[OtherCase, ...]  # the point's active cases
    meter_number: str | None = None  # the number a close request gave

    @property
    def holder(self) -> OtherCase | None:
        return next((c for c in self.others if c.holds_port), None)
