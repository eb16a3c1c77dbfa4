"""The consent timeline (``consent_events``): when each consent was given and when it ended,
one append-only row a fact, as the case events tell it.

The rows are history, not state: the writer writes them in the transaction of the event that
causes them, migration 0010 filled them from the events an older database already held, and
``audit verify`` derives them from the events again (:class:`FromEvents`) and compares. When a
consent opened the port is the port timeline's to tell (``port_events``), not this one's.
No personal data: ids, channels, versions, instants.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple


class ConsentEventRow(NamedTuple):
    consent_id: int
    kind: str  # given | ended
    at: Any  # the event's instant (a datetime, or as the database returned it)
    case_id: int | None = None  # the case whose event gave or ended it
    reason: str | None = None  # ended: why
    channel: str | None = None
    declaration_version: str | None = None
    security: str | None = None
    signer_role: str | None = None
    received_at: str | None = None
    address_match: str | None = None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def given(case_id: int, at: Any, data: Mapping[str, Any]) -> ConsentEventRow | None:
    """The consent an event's data records (``effects.consent_id``), with what it was given
    by; None when it records none."""
    effects = data.get("effects") or {}
    cid = effects.get("consent_id")
    if cid is None:
        return None
    fields = data.get("fields") or {}
    return ConsentEventRow(
        int(cid),
        "given",
        at,
        case_id,
        channel=_text(fields.get("channel")),
        declaration_version=_text(fields.get("declaration_version")),
        security=_text(fields.get("security")),
        signer_role=_text(fields.get("signer_role")),
        received_at=_text(fields.get("received_at")),
        address_match=_text(effects.get("address_match")),
    )


def ended(consent_id: int, at: Any, reason: str | None, case_id: int | None) -> ConsentEventRow:
    return ConsentEventRow(int(consent_id), "ended", at, case_id, reason)


def ended_by(data: Mapping[str, Any]) -> tuple[list[int], str | None]:
    """The consents an event's data says it ended (``effects.consent_ended``), and why."""
    end = (data.get("effects") or {}).get("consent_ended") or {}
    return [int(c) for c in end.get("ids") or ()], end.get("reason")


class FromEvents:
    """The rows the case events give, fed in the order they were written: what a consent
    event says (given, ended), and the end it implies — a consent recorded on a case whose
    earlier consent is still live ends that one as ``cancelled``."""

    def __init__(self) -> None:
        self.latest: dict[int, int] = {}  # case -> its last consent
        self.done: set[int] = set()  # consents ended

    def rows(self, case_id: int, at: Any, data: Mapping[str, Any]) -> list[ConsentEventRow]:
        out = []
        g = given(case_id, at, data)
        if g is not None:
            previous = self.latest.get(case_id)
            if previous is not None and previous != g.consent_id:
                out += self._end(previous, at, "cancelled", case_id)
            self.latest[case_id] = g.consent_id
            out.append(g)
        ids, reason = ended_by(data)
        for cid in ids:
            out += self._end(cid, at, reason, case_id)
        return out

    def _end(self, cid: int, at: Any, reason: str | None, case_id: int) -> list[ConsentEventRow]:
        if cid in self.done:
            return []
        self.done.add(cid)
        return [ended(cid, at, reason, case_id)]
