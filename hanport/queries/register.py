"""The consent register: every consent with its point, subject, channel, declaration, security
option, when it was given, opened the port and ended — as the history stood at any moment.

The core (:func:`fold`, :func:`select`) is pure: it folds the stream of facts
(:class:`~hanport.storage.views.register.ConsentFact`) the storage reads from the append-only
events and port timeline, so the answer for a past moment never depends on today's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hanport.calendar import isoformat_utc
from hanport.declarations import digest
from hanport.storage.views.register import ConsentFact


@dataclass
class Entry:
    id: int
    gsrn: str
    customer: str | None
    case: str | None
    source: str  # case | legacy_import
    channel: str | None = None
    declaration_version: str | None = None
    text_sha256: str | None = None
    security: str | None = None
    signer_role: str | None = None
    address_match: str | None = None
    received_at: str | None = None
    given_at: datetime | None = None
    opened_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None


def fold(facts: Iterable[ConsentFact]) -> dict[int, Entry]:
    """Every consent the facts name, as they tell it (a fact's instant orders nothing here:
    the first opening and the first end win, as the history can have no other)."""
    out: dict[int, Entry] = {}
    latest: dict[int, int] = {}  # case -> its consent, which a newer record_consent cancels
    later: list[ConsentFact] = []  # opened/ended facts, applied once every consent is known
    for f in facts:
        if f.kind == "given":
            _given(out, latest, f)
        elif f.kind == "legacy" and f.consent_id not in out:
            out[f.consent_id or 0] = Entry(
                f.consent_id or 0, f.gsrn, f.customer, None, "legacy_import", given_at=f.at
            )
            later.append(f)
        else:
            later.append(f)
    for f in later:
        if f.kind == "ended":
            for cid in json.loads(f.ended_ids or "[]"):
                _end(out.get(int(cid)), f.at, f.reason)
        else:
            e = out.get(f.consent_id or 0)
            if e is not None and e.opened_at is None:
                e.opened_at = f.at
    return out


def _given(out: dict[int, Entry], latest: dict[int, int], f: ConsentFact) -> None:
    cid = f.consent_id or 0
    if f.case_id is not None:
        previous = latest.get(f.case_id)
        if previous is not None and previous != cid:
            _end(out.get(previous), f.at, "cancelled")  # a new consent on the case replaces it
        latest[f.case_id] = cid
    out[cid] = Entry(
        cid, f.gsrn, f.customer, f.case_ref, "case", f.channel, f.declaration_version,
        digest(f.declaration_version, f.language), f.security, f.signer_role, f.address_match,
        f.received_at, f.at,
    )  # fmt: skip


def _end(e: Entry | None, at: datetime, reason: str | None) -> None:
    if e is not None and e.ended_at is None:
        e.ended_at, e.end_reason = at, reason


def select(
    entries: dict[int, Entry], *, live: bool | None = None, customer: str | None = None
) -> list[Entry]:
    """The entries, by id: only live (``live``) or only ended (``live=False``) ones, only the
    ``customer``'s."""
    return [
        e
        for _, e in sorted(entries.items())
        if (customer is None or e.customer == customer)
        and (live is None or (e.ended_at is None) is live)
    ]


def as_dict(e: Entry) -> dict[str, Any]:
    def t(d: datetime | None) -> str | None:
        return isoformat_utc(d) if d else None

    return {
        "consent": e.id,
        "metering_point": e.gsrn,
        "customer": e.customer,
        "case": e.case,
        "source": e.source,
        "channel": e.channel,
        "declaration_version": e.declaration_version,
        "declaration_sha256": e.text_sha256,
        "security": e.security,
        "signer_role": e.signer_role,
        "address_match": e.address_match,
        "received_at": e.received_at,
        "given_at": t(e.given_at),
        "opened_at": t(e.opened_at),
        "ended_at": t(e.ended_at),
        "end_reason": e.end_reason,
        "live": e.ended_at is None,
    }
