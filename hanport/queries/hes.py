"""Reading the HES commands: what ``hes list`` prints, with what each command waits for."""

from __future__ import annotations

from typing import Any

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import NotFound
from hanport.service.hes import OUTCOMES, confirm_trigger
from hanport.storage.views import reading
from hanport.storage.views.hes import CommandListed


def list_commands(
    app: App, *, metering_point: str | None = None, everything: bool = False
) -> list[dict[str, Any]]:
    """HES commands still out (or all with ``everything``), oldest first, each with what it waits
    for — in particular a manual command left by an ended case, which only ``answer`` settles."""
    with reading(app.engine) as views:
        if metering_point is not None and views.ports.point(metering_point) is None:
            raise NotFound(f"metering point {metering_point} not found")
        rows = views.hes.listing(gsrn=metering_point, everything=everything)
    return [
        {
            "id": r.id,
            "case": r.case_ref,
            "case_state": r.case_state,
            "metering_point": r.gsrn,
            "action": r.action,
            "status": r.status,
            "attempt": r.attempt,
            "adapter": r.adapter,
            "created_at": isoformat_utc(r.created_at),
            "sent_at": isoformat_utc(r.sent_at) if r.sent_at else None,
            "waits_for": waits_for(r),
        }
        for r in rows
    ]


def waits_for(r: CommandListed) -> str:
    """What the command waits for, in words (with the command that settles it)."""
    if r.status == "pending":
        return "its turn (sent by the next tick once the point's earlier commands are settled)"
    if r.status == "failed" and r.ack_due_at is not None:
        return "the gateway's late answer"
    if r.status != "sent":
        return "-"
    if r.adapter != "manual":
        return "the gateway's answer"
    if r.case_active:
        return f"a caseworker: hanport case advance {r.case_ref} {confirm_trigger(r.action)}|report_failure"
    return f"a caseworker: hanport hes answer {r.id} {'|'.join(OUTCOMES[r.action])}"
