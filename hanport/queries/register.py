"""The consent register: every consent with its point, subject, channel, declaration, security
option, when it was given, opened the port and ended — as the history stood at any moment.

The rows come from the append-only timelines (:mod:`hanport.storage.views.register`): the
consents given and ended (``consent_events``, written with the events that give and end them)
and the port's openings (``port_events``), so the answer for a past moment never depends on
today's rows; here each becomes what the register shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from hanport.declarations import digest, texts
from hanport.storage.views import Views
from hanport.storage.views.register import RegisterRow


def register(
    views: Views,
    at: datetime | None = None,
    *,
    point: str | None = None,
    customer: str | None = None,
    live: bool | None = None,
) -> Iterator[dict[str, Any]]:
    """The consents given up to ``at``, by id: only live (``live``) or only ended
    (``live=False``) ones then, only the ``point``'s, only the ``customer``'s; streamed."""
    for r in views.register.consents(at, gsrn=point, customer=customer, live=live):
        yield as_dict(r)


def register_json(
    views: Views,
    at: datetime | None = None,
    *,
    point: str | None = None,
    customer: str | None = None,
    live: bool | None = None,
) -> Iterator[str]:
    """:func:`register` as each row's JSON object text (the same keys and values), built by
    the database."""
    yield from views.register.consents_json(texts(), at, gsrn=point, customer=customer, live=live)


def as_dict(r: RegisterRow) -> dict[str, Any]:
    case = r.source == "case"
    return {
        "consent": r.id,
        "metering_point": r.gsrn,
        "customer": r.customer,
        "case": r.case,
        "source": r.source,
        "channel": r.channel,
        "declaration_version": r.declaration_version,
        "declaration_sha256": digest(r.declaration_version, r.language) if case else None,
        "security": r.security,
        "signer_role": r.signer_role,
        "address_match": r.address_match,
        "received_at": r.received_at,
        "given_at": r.given_at,
        "opened_at": r.opened_at,
        "ended_at": r.ended_at,
        "end_reason": r.end_reason,
        "live": r.ended_at is None,
    }
