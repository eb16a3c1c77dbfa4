"""One case's history folded into what the reports need: when it opened and where, the
customer's notice, when the port opened, how the time was spent (whose clock), the swap queue
and the close, and the operational events in the period."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

from hanport.storage.views.reports import CaseHistory

OPENING_WORKFLOWS = ("nore_open", "meter_swap")
# Where the case waits for the customer: the consent not yet given (and, for a close asked for
# by phone, the identity not yet proved). Every other live state is the grid company's time:
# address and identity review, the objection window, the HES command and its retries.
CUSTOMER_STATES: dict[str, frozenset[str]] = {
    "nore_open": frozenset({"requested", "awaiting_consent"}),
    "meter_swap": frozenset({"requested", "awaiting_consent"}),
    "close_port": frozenset({"requested"}),
}
ENDED_UNOPENED = frozenset({"cancelled", "rejected", "expired", "objected"})
ENDED = ENDED_UNOPENED | {"confirmed", "closed"}  # a case's time stops there
QUEUE_STATES = frozenset({"queued", "visit_scheduled"})
MANUAL_TRIGGERS = frozenset(
    {
        "retry",
        "clear_flag",
        "approve_address",
        "confirm_identity",
        "reject",
        "cancel",
        "confirm_open",
        "confirm_close",
        "report_failure",
        "migrate",
    }
)
PEOPLE = frozenset({"caseworker", "supervisor"})
# The triggers an operational count may look at (the others pass it by unasked).
COUNTED = MANUAL_TRIGGERS | {"report_failure", "flag_mail_dead", "sla_breached"}

AreaOf = Callable[[str], tuple[str, str]]  # municipality -> (area name, vendor)


Segment = tuple[str, datetime, datetime]  # a state, from, until (a tuple: one per change)


@dataclass(slots=True)
class CaseRecord:
    """A case as the reports see it; instants in UTC, durations in seconds."""

    case_id: int
    ref: str
    workflow: str
    area: str
    vendor: str
    opened_at: datetime
    segments: list[Segment] = field(default_factory=list)
    notice_at: datetime | None = None
    port_open_at: datetime | None = None
    ended: str | None = None  # the final state it reached (by as_of)
    ended_at: datetime | None = None
    migrated: bool = False
    queued_at: datetime | None = None
    left_queue_at: datetime | None = None
    installed_at: datetime | None = None
    close_kind: str | None = None  # request | auto (close_port)
    close_reason: str | None = None
    effective_at: datetime | None = None
    closed_at: datetime | None = None
    ops: Counter[str] | None = None  # operational events in the period (None: none)

    def clock(self) -> tuple[float, float, float]:
        """(customer's time before the notice, grid company's time after it, customer's time
        after it), in seconds, up to the open port (or the end, or as_of)."""
        waits = CUSTOMER_STATES.get(self.workflow, frozenset())
        notice = self.notice_at
        before = grid = after = 0.0
        for state, since, until in self.segments:
            if notice is None or until <= notice:
                if state in waits:
                    before += (until - since).total_seconds()
                continue
            start = max(since, notice)
            if state in waits and since >= notice:
                after += (until - start).total_seconds()
            else:
                if state in waits and since < notice:
                    before += (notice - since).total_seconds()
                grid += (until - start).total_seconds()
        return before, grid, after


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _on_data(rec: CaseRecord, trigger: str, at: datetime, detail: str) -> None:
    if trigger == "record_consent":
        if rec.notice_at is None:
            rec.notice_at = min(_instant(detail), at) if detail else at
    elif trigger == "schedule":
        for t in json.loads(detail).get("timers_started", ()):
            if t.get("name") == "auto_close_due":
                rec.effective_at = _instant(t["due_at"])


def _record(history: CaseHistory, area_of: AreaOf, opened_at: datetime) -> CaseRecord:
    """The record of a case as its open event describes it."""
    h = history
    if h.area:
        area, vendor = h.area, h.vendor or ""
    else:
        # A history from before the open event named its area: the point's registered
        # municipality (the registry keeps no history of it), mapped as configured now.
        area, vendor = area_of(h.municipality)
    rec = CaseRecord(h.case_id, h.ref, h.workflow, area, vendor, opened_at)
    if h.workflow == "close_port":
        rec.close_kind = "auto" if h.names_document else "request"
        rec.close_reason = h.reason or "withdrawn"
    return rec


def fold(
    history: CaseHistory,
    area_of: AreaOf,
    as_of: datetime,
    period: tuple[datetime, datetime],
) -> CaseRecord | None:
    """Fold one case's events (in seq order, none after ``as_of``); None for no events."""
    events = history.events
    if not events:
        return None
    first = events[0]
    rec = _record(history, area_of, first.at)
    state, since = first.to_state, first.at
    lo, hi = period
    segments = rec.segments
    for at, actor_kind, trigger, to, raw in islice(events, 1, None):
        if raw is not None:
            _on_data(rec, trigger, at, raw)
        if trigger in COUNTED and lo <= at < hi:
            _count(rec, trigger, actor_kind, to)
        if to != state:
            segments.append((state, since, at))
            _enter(rec, at, trigger, to, state)
            state, since = to, at
        if trigger == "migrate":
            rec.migrated = True
    if rec.ended is None:
        segments.append((state, since, as_of))
    return rec


def _enter(rec: CaseRecord, at: datetime, trigger: str, to: str, left: str) -> None:
    if to == "queued" and rec.queued_at is None:
        rec.queued_at = at
    elif left in QUEUE_STATES and to not in QUEUE_STATES and rec.left_queue_at is None:
        rec.left_queue_at = at
        if trigger == "record_installation":
            rec.installed_at = at
    if trigger == "confirm_open" and rec.port_open_at is None:
        rec.port_open_at = at
    if trigger == "confirm_close" and to == "closed":
        rec.closed_at = at
    if to in ENDED:
        rec.ended, rec.ended_at = to, at


def _count(rec: CaseRecord, t: str, actor_kind: str, to: str) -> None:
    ops = rec.ops
    if ops is None:
        ops = rec.ops = Counter()
    if t == "report_failure":
        ops["hes_failures"] += 1
        ops["hes_needs_attention" if to == "needs_attention" else "hes_resent"] += 1
    elif t == "retry":
        ops["hes_manual_retries"] += 1
    elif t == "flag_mail_dead":
        ops["dead_mail"] += 1
    elif t == "sla_breached":
        ops["sla_timer_breaches"] += 1
    if actor_kind in PEOPLE and t in MANUAL_TRIGGERS:
        ops["manual_interventions"] += 1
