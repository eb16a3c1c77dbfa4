"""Notices that no transition sends: the word to the customer that a request came in again and
was merged into the one already open (a repeat is recorded on the intake, not in the case's
history, so the case's process is unchanged)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hanport.bootstrap import App
from hanport.errors import NotFound
from hanport.service.writer import mail_row
from hanport.storage.uow import UnitOfWork
from hanport.workflows.writes import NewMail


def merged_notice(
    app: App, uow: UnitOfWork, case_id: int, ref: str, intake_id: int, now: datetime
) -> list[dict[str, Any]]:
    """The outbox row telling the case's customer, at the e-mail on file, that intake
    ``intake_id`` was merged into case ``ref``."""
    loaded = uow.cases.load("ref", [ref])
    bundle = next((b for b in loaded.cases if b.case.id == case_id), None)
    if bundle is None:  # pragma: no cover - the caller just found it
        raise NotFound(f"case {ref} not found")
    cust, point = bundle.customer, bundle.point
    s = app.settings
    context = {
        "case_ref": ref,
        "customer_name": cust.name or cust.customer_id,
        "meter_last4": (point.meter_number or "")[-4:],
        "sender_name": s.sender_name,
        "contact_address": s.sender_address,
        "workflow": bundle.case.workflow,
    }
    language = cust.language if cust.language in ("nb", "en") else "nb"
    mail = NewMail(
        case_id, ref, bundle.case.version, "request_merged", language, cust.email, context, now
    )
    row = mail_row(app, mail)
    # One per merged intake: the case's sequence number alone would repeat.
    domain = s.sender_address.rpartition("@")[2] or "hanport.invalid"
    row["message_id"] = f"<{ref}.intake-{intake_id}.request_merged@{domain}>"
    return [row]
