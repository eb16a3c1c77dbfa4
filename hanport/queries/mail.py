"""Reading the mail outbox: what ``mail list`` and ``mail show`` print."""

from __future__ import annotations

import json
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import NotFound
from hanport.storage.views import reading
from hanport.storage.views.mail import MailEntry


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
        "recipient": r.recipient,
        "status": r.status,
        "attempts": r.attempts,
        "created_at": isoformat_utc(r.created_at),
        "sent_at": isoformat_utc(r.sent_at) if r.sent_at else None,
    }


def show_mail(app: App, mail_id: int) -> dict[str, Any]:
    with reading(app.engine) as views:
        r = views.mail.get(mail_id)
    if r is None:
        raise NotFound(f"mail {mail_id} not found")
    return {
        "id": r.id,
        "case": r.case_ref,
        "seq": r.seq,
        "template": r.template,
        "language": r.language,
        "recipient": r.recipient,
        "status": r.status,
        "message_id": r.message_id,
        "subject": r.subject,
        "text": r.body_text,
        "html": r.body_html,
        "attempts": r.attempts,
        "next_attempt_at": isoformat_utc(r.next_attempt_at),
        "last_error": r.last_error,
        "created_at": isoformat_utc(r.created_at),
        "sent_at": isoformat_utc(r.sent_at) if r.sent_at else None,
        "context": json.loads(r.context),
    }
