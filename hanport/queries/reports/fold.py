"""One case's history folded into what the reports need: when it opened and where, the
customer's notice, when the port opened, how the time was spent (whose clock), the swap queue
and the close, and the operational events in the period."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hanport.storage.views.reports import ReportEvent

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

AreaOf = Callable[[str], tuple[str, str]]  # municipality -> (area name, vendor)


@dataclass(slots=True)
class Segment:
    state: str
    start: datetime
    end: datetime


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
    ops: Counter[str] = field(default_factory=Counter)  # operational events in the period

    def clock(self) -> tuple[float, float, float]:
        """(customer's time before the notice, grid company's time after it, customer's time
        after it), in seconds, up to the open port (or the end, or as_of)."""
        waits = CUSTOMER_STATES.get(self.workflow, frozenset())
        notice = self.notice_at
        before = grid = after = 0.0
        for s in self.segments:
            if notice is None or s.end <= notice:
                if s.state in waits:
                    before += (s.end - s.start).total_seconds()
                continue
            start = max(s.start, notice)
            if s.state in waits and s.start >= notice:
                after += (s.end - start).total_seconds()
            else:
                if s.state in waits and s.start < notice:
                    before += (notice - s.start).total_seconds()
                grid += (s.end - start).total_seconds()
        return before, grid, after


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _on_open(rec: CaseRecord, data: dict[str, Any]) -> None:
    fields = data.get("fields", {})
    if rec.workflow == "close_port":
        rec.close_kind = "auto" if "document_id" in fields else "request"
        rec.close_reason = fields.get("reason", "withdrawn")


def _on_data(rec: CaseRecord, ev: ReportEvent) -> None:
    data = json.loads(ev.data) if ev.data else {}
    if ev.trigger == "record_consent" and rec.notice_at is None:
        received = data.get("fields", {}).get("received_at")
        rec.notice_at = min(_instant(received), ev.at) if received else ev.at
    elif ev.trigger == "schedule":
        for t in data.get("timers_started", ()):
            if t.get("name") == "auto_close_due":
                rec.effective_at = _instant(t["due_at"])


def _area(first: ReportEvent, area_of: AreaOf) -> tuple[str, str, dict[str, Any]]:
    data = json.loads(first.data) if first.data else {}
    recorded = data.get("area")
    if recorded:
        return recorded["name"], recorded.get("vendor", ""), data
    # An event from before the open event named its area: the point's registered
    # municipality (the registry keeps no history of it), mapped as configured now.
    name, vendor = area_of(first.municipality)
    return name, vendor, data


def fold(
    events: Iterable[ReportEvent],
    area_of: AreaOf,
    as_of: datetime,
    period: tuple[datetime, datetime],
) -> CaseRecord | None:
    """Fold one case's events (in seq order, none after ``as_of``); None for no events."""
    it = iter(events)
    first = next(it, None)
    if first is None:
        return None
    area, vendor, data = _area(first, area_of)
    rec = CaseRecord(first.case_id, first.ref, first.workflow, area, vendor, first.at)
    _on_open(rec, data)
    state, since = first.to_state, first.at
    lo, hi = period
    for ev in it:
        if ev.data is not None:
            _on_data(rec, ev)
        if lo <= ev.at < hi:
            _count(rec.ops, ev)
        if ev.to_state != state:
            rec.segments.append(Segment(state, since, ev.at))
            _enter(rec, ev, state)
            state, since = ev.to_state, ev.at
        if ev.trigger == "migrate":
            rec.migrated = True
    if rec.ended is None:
        rec.segments.append(Segment(state, since, as_of))
    return rec


def _enter(rec: CaseRecord, ev: ReportEvent, left: str) -> None:
    to = ev.to_state
    if to == "queued" and rec.queued_at is None:
        rec.queued_at = ev.at
    elif left in QUEUE_STATES and to not in QUEUE_STATES and rec.left_queue_at is None:
        rec.left_queue_at = ev.at
        if ev.trigger == "record_installation":
            rec.installed_at = ev.at
    if ev.trigger == "confirm_open" and rec.port_open_at is None:
        rec.port_open_at = ev.at
    if ev.trigger == "confirm_close" and to == "closed":
        rec.closed_at = ev.at
    if to in ENDED:
        rec.ended, rec.ended_at = to, ev.at


def _count(ops: Counter[str], ev: ReportEvent) -> None:
    t = ev.trigger
    if t == "report_failure":
        ops["hes_failures"] += 1
        ops["hes_needs_attention" if ev.to_state == "needs_attention" else "hes_resent"] += 1
    elif t == "retry":
        ops["hes_manual_retries"] += 1
    elif t == "flag_mail_dead":
        ops["dead_mail"] += 1
    elif t == "sla_breached":
        ops["sla_timer_breaches"] += 1
    if ev.actor_kind in PEOPLE and t in MANUAL_TRIGGERS:
        ops["manual_interventions"] += 1
