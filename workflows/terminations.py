"""Whose port a termination closes: when a customer moves out, ends the grid contract, a
newcomer moves in, or the meter is replaced, the HAN stream closes without anyone asking — but
only the stream of the consent the event concerns, and never twice.

The consent that holds a port is the live one it is open (or in transit) under, else the one of
an opening or swap in flight on the point. ``move_out`` and ``end_of_supply`` close the named
customer's own consent only; ``move_in`` closes someone else's (the named customer is the
newcomer); ``meter_replaced`` closes whoever's it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hanport import workflows
from hanport.workflows.decider import Decision
from hanport.workflows.model import Case, Consent, Customer, OtherCase, Point

# The states of a close that make a second close a no-op.
BLOCKING_CLOSE_STATES = ("scheduled", "closing", "needs_attention")


@dataclass(frozen=True)
class Closing:
    """The consent holder whose port closes (None: nothing to do), and why, in words."""

    customer_pk: int | None
    detail: str


def _holder(point: Point, consent: Consent | None, others: tuple[OtherCase, ...]) -> Closing:
    if point.port in ("open", "opening", "closing") and consent is not None and consent.live:
        return Closing(consent.customer_pk, "open port")
    for c in others:
        if c.holds_port and workflows.get(c.workflow).opens_port:
            return Closing(c.customer_pk, f"opening in flight ({c.ref})")
    return Closing(None, "nothing")


def who_closes(
    point: Point,
    consent: Consent | None,
    others: tuple[OtherCase, ...],
    event: str,
    customer_pk: int | None,
) -> Closing:
    """Whether a termination of ``event`` for ``customer_pk`` closes the point's port.

    ``consent`` is the consent the point's port is under; ``others`` the point's active cases."""
    for c in others:
        if c.workflow == "close_port" and c.state in BLOCKING_CLOSE_STATES:
            return Closing(None, f"a close is already {c.state} for this point ({c.ref})")
    h = _holder(point, consent, others)
    if h.customer_pk is None:
        return Closing(None, "the port is closed and nothing is in flight")
    why = h.detail
    if event in ("move_out", "end_of_supply"):
        if h.customer_pk != customer_pk:
            return Closing(None, f"the port ({why}) is held by another customer's consent")
        return Closing(h.customer_pk, f"closing the {why} of the customer who left")
    if event == "move_in":
        if h.customer_pk == customer_pk:
            return Closing(None, f"the port ({why}) is held by the newcomer's own consent")
        return Closing(h.customer_pk, f"closing the previous customer's {why}")
    return Closing(h.customer_pk, f"closing the {why}: {event}")


def open_auto_close(
    decision: Decision,
    point: Point,
    customer: Customer,
    reason: str,
    effective_at: datetime,
    data: dict[str, Any] | None = None,
) -> Case:
    """Open the ``close_port`` case for the consent holder: ``scheduled`` with an absolute
    timer at the effective time, or straight to ``closing`` when that time has come."""
    case_data = {
        "close_reason": reason,
        "effective_at": effective_at.astimezone(UTC).isoformat(),
        **(data or {}),
    }
    opened = {"fields": {"metering_point": point.gsrn, "reason": reason, **(data or {})}}
    case = decision.open_case(workflows.get("close_port"), point, customer, case_data, opened)
    decision.run_auto(case)
    return case
