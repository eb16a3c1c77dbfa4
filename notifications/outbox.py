"""Mail intents: rows of ``mail_outbox`` written in the command's own transaction.

Delivery happens only from the outbox, after commit. A customer without an e-mail address gets a
row all the same, with status ``no_address``, so the history shows the notice was due.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hanport.storage.hashing import canonical_json


def message_id(case_ref: str, seq: int, template: str, domain: str) -> str:
    """Stable across retries and crashes: a duplicate delivery carries the same Message-ID."""
    return f"<{case_ref}.{seq}.{template}@{domain}>"


def intent_row(
    *,
    case_id: int,
    case_ref: str,
    seq: int,
    template: str,
    language: str,
    recipient: str | None,
    context: Mapping[str, Any],
    now: datetime,
    domain: str,
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "seq": seq,
        "template": template,
        "language": language if language in ("nb", "en") else "nb",
        "recipient": recipient,
        "context": canonical_json(dict(context)),
        "status": "pending" if recipient else "no_address",
        "message_id": message_id(case_ref, seq, template, domain),
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
