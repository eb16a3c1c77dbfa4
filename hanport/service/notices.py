"""Notices that no transition sends: the word to the customer that a request came in again and
was merged into the one already open (a repeat is recorded on the intake, not in the case's
history, so the case's process is unchanged)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hanport.bootstrap import App
from hanport.errors import NotFound
from hanport.notifications.outbox import intent_row
from hanport.notifications.render import render
from hanport.storage.uow import UnitOfWork


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
    language = cust.language if cust.language in ("nb", "en") else "nb"
    context = {
        "case_ref": ref,
        "customer_name": cust.name or cust.customer_id,
        "meter_last4": (point.meter_number or "")[-4:],
        "sender_name": s.sender_name,
        "contact_address": s.sender_address,
        "workflow": bundle.case.workflow,
    }
    domain = s.sender_address.rpartition("@")[2] or "hanport.invalid"
    row = intent_row(
        case_id=case_id,
        case_ref=ref,
        seq=bundle.case.version,
        template="request_merged",
        language=language,
        recipient=cust.email,
        context=context,
        now=now,
        domain=domain,
    )
    rendered = render("request_merged", language, {**context, "links": bool(s.link_secret)})
    row.update(
        message_id=f"<{ref}.intake-{intake_id}.request_merged@{domain}>",
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
    )
    return [row]
