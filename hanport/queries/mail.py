"""Reading the mail outbox: what ``mail list`` and ``mail show`` print. Whom a mail went to and
what it said (not its subject) are personal: read (and logged) only with an ``Access``; without one withheld."""

from __future__ import annotations

import json
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import NotFound
from hanport.storage.views import reading
from hanport.storage.views.mail import MailEntry
from hanport.storage.views.personal import Access

PERSONAL = ("recipient", "text", "html", "context", "last_error")


def list_mail(app: App, status: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    with reading(app.engine) as views:
        rows = views.mail.listing(status, limit)
    return [_listed(r) for r in rows]


def _listed(r: MailEntry) -> dict[str, Any]:
    return {
        "id": r.id,
        "case": r.case_ref,
        "template": r.template,
        "language": r.language,
        "status": r.status,
        "attempts": r.attempts,
        "created_at": isoformat_utc(r.created_at),
        "sent_at": isoformat_utc(r.sent_at) if r.sent_at else None,
    }


def show_mail(app: App, mail_id: int, access: Access | None = None) -> dict[str, Any]:
    """The mail; its recipient, subject, text and context only with ``access``."""
    with reading(app.engine) as views:
        r = views.mail.get(mail_id)
        if r is None:
            raise NotFound(f"mail {mail_id} not found")
        p = views.personal.mail(mail_id, access) if access else None
    personal: dict[str, Any] = dict.fromkeys(PERSONAL)
    if p is not None:
        personal.update(
            recipient=p.recipient,
            text=p.body_text,
            html=p.body_html,
            context=json.loads(p.context),
            last_error=p.last_error,
        )
    return {
        "id": r.id,
        "case": r.case_ref,
        "seq": r.seq,
        "template": r.template,
        "language": r.language,
        "status": r.status,
        "message_id": r.message_id,
        "subject": r.subject,
        "attempts": r.attempts,
        "next_attempt_at": isoformat_utc(r.next_attempt_at),
        "created_at": isoformat_utc(r.created_at),
        "sent_at": isoformat_utc(r.sent_at) if r.sent_at else None,
        "personal": p is not None,
        **personal,
    }
