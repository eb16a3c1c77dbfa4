"""Automatic closing: when a customer moves, ends the grid contract, a newcomer moves in, or the
meter is replaced, the HAN stream closes without anyone asking.

``decide`` finds whose consent holds a metering point and whether a termination concerns it;
``open_auto_close`` opens the ``close_port`` case: ``scheduled`` with an absolute timer at the
effective time, or straight to ``closing`` when that time has come. At the effective time the
consent ends with the reason, in-flight openings of the point are cancelled, and the close goes
to the head-end system. A second close for a point that has one scheduled or in progress is a
no-op. The notices go to the consent holder, never to a newcomer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Connection

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.service.casework import Actor, Work, finish, record_opened
from hanport.storage import repository as repo

OPENING_WORKFLOWS = ("nore_open", "meter_swap")
BLOCKING_CLOSE_STATES = ("scheduled", "closing", "needs_attention")


@dataclass(frozen=True)
class Holder:
    """Whose consent holds the point's port (open, or an opening in flight), if anyone's."""

    customer_pk: int | None
    why: str  # "open port" | "opening in flight (REF)" | "nothing"


def holder(conn: Connection, point: dict[str, Any]) -> Holder:
    if point["han_port"] in ("open", "opening", "closing") and point["consent_id"]:
        consent = repo.consent_by_pk(conn, point["consent_id"])
        if consent is not None and consent["ended_at"] is None:
            return Holder(consent["customer_pk"], "open port")
    case = repo.holding_case(conn, point["id"])
    if case is not None and case["workflow"] in OPENING_WORKFLOWS:
        return Holder(case["customer_pk"], f"opening in flight ({case['ref']})")
    return Holder(None, "nothing")


_CLOSE_IN_PROGRESS = (
    select(repo.CASES.c.ref, repo.CASES.c.state)
    .where(
        and_(
            repo.CASES.c.point_id == bindparam("point_id"),
            repo.CASES.c.workflow == "close_port",
            repo.CASES.c.state.in_(BLOCKING_CLOSE_STATES),
        )
    )
    .limit(1)
)


def close_in_progress(conn: Connection, point_id: int) -> dict[str, Any] | None:
    row = conn.execute(_CLOSE_IN_PROGRESS, {"point_id": point_id}).mappings().first()
    return dict(row) if row else None


@dataclass(frozen=True)
class Decision:
    close_for: int | None  # the consent holder whose port closes; None: no-op
    detail: str


def decide(
    conn: Connection, point: dict[str, Any], event: str, customer_pk: int | None
) -> Decision:
    """Whether a termination of ``event`` for ``customer_pk`` closes the point's port.

    ``move_out``/``end_of_supply``: the named customer's own consent only. ``move_in``: someone
    else's consent (``customer_pk`` is the newcomer). ``meter_replaced``: whoever holds it.
    """
    busy = close_in_progress(conn, point["id"])
    if busy is not None:
        return Decision(None, f"a close is already {busy['state']} for this point ({busy['ref']})")
    h = holder(conn, point)
    if h.customer_pk is None:
        return Decision(None, "the port is closed and nothing is in flight")
    if event in ("move_out", "end_of_supply"):
        if h.customer_pk != customer_pk:
            return Decision(None, f"the port ({h.why}) is held by another customer's consent")
        return Decision(h.customer_pk, f"closing the {h.why} of the customer who left")
    if event == "move_in":
        if h.customer_pk == customer_pk:
            return Decision(None, f"the port ({h.why}) is held by the newcomer's own consent")
        return Decision(h.customer_pk, f"closing the previous customer's {h.why}")
    return Decision(h.customer_pk, f"closing the {h.why}: {event}")


def open_auto_close(
    app: App,
    conn: Connection,
    actor: Actor,
    now: datetime,
    point: dict[str, Any],
    customer_pk: int,
    reason: str,
    effective_at: datetime,
    data: dict[str, Any] | None = None,
) -> Work:
    """Open the ``close_port`` case for the consent holder; scheduled, or closing if due."""
    from hanport.service.cases import new_case, run_auto

    customer = repo.customer_by_pk(conn, customer_pk)
    assert customer is not None
    case_data = {
        "close_reason": reason,
        "effective_at": isoformat_utc(effective_at),
        **(data or {}),
    }
    work = new_case(app, conn, actor, now, "close_port", point, customer, case_data)
    record_opened(
        work,
        "requested",
        {"fields": {"metering_point": point["gsrn"], "reason": reason, **(data or {})}},
    )
    run_auto(work)
    finish(work)
    return work
