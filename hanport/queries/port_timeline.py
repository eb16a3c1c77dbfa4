"""The port of a metering point: "was it open at T, and under which consent?", or its whole
timeline with every interval it was open without a live consent named."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import format_local, isoformat_utc
from hanport.errors import NotFound
from hanport.storage.views import Views, reading
from hanport.storage.views.personal import Access
from hanport.storage.views.ports import PortStep

FLOWING = ("open", "closing")  # the port states in which data may flow


def consent_view(
    views: Views, consent_id: int | None, access: Access | None = None
) -> dict[str, Any] | None:
    """The consent as the audit shows it (None if there is none); who signed it only with
    ``access`` (the read logged under it; else ``signer_name`` is None)."""
    c = views.consents.get(consent_id) if consent_id is not None else None
    if c is None:
        return None
    p = views.personal.consent(c.id, access) if access else None
    whose = c.customer_id or ""
    erased = views.erasures.erased_on([whose]) if whose else {}
    return {
        "id": c.id,
        "legacy": c.source == "legacy_import",
        "source": c.source,
        "customer": c.customer_id,
        "signer_name": p.signer_name if p else None,
        "signer_role": c.signer_role,
        "received_at": isoformat_utc(c.received_at) if c.received_at else None,
        "recorded_at": isoformat_utc(c.recorded_at),
        "channel": c.channel,
        "declaration_version": c.declaration_version,
        "address_match": c.address_match,
        "validated_by": c.validated_by,
        "ended_at": isoformat_utc(c.ended_at) if c.ended_at else None,
        "end_reason": c.end_reason,
        "case": c.case_ref,
        # the consent's subject was erased (GDPR art. 17) then: the facts stay, the person not
        "subject_erased_at": isoformat_utc(erased[whose]) if erased else None,
    }


def port(
    app: App, gsrn: str, at: datetime | None = None, access: Access | None = None
) -> dict[str, Any]:
    """The point's port at ``at`` (open or closed, since when, under which consent and case), or
    its whole timeline with every "open without live consent" interval named; who signed the
    consents only with ``access``."""
    with reading(app.engine) as views:
        point = views.ports.point(gsrn)
        if point is None:
            raise NotFound(f"metering point {gsrn} not found")
        steps = views.ports.timeline(point.id)
        consents: dict[int | None, dict[str, Any] | None] = {
            s.consent_id: consent_view(views, s.consent_id, access) for s in steps if s.consent_id
        }
    timeline = [
        _entry(s, steps[i + 1].at if i + 1 < len(steps) else None, consents.get(s.consent_id))
        for i, s in enumerate(steps)
    ]
    result: dict[str, Any] = {
        "metering_point": gsrn,
        "meter_number": point.meter_number,
        "port_now": point.han_port,
    }
    if at is None:
        result["timeline"] = timeline
        return result
    result["at"] = isoformat_utc(at)
    result.update(_at(timeline, at))
    return result


def _entry(s: PortStep, until: datetime | None, consent: dict[str, Any] | None) -> dict[str, Any]:
    """One change of the port, lasting ``until`` the next one."""
    flowing = s.state in FLOWING
    return {
        "from": isoformat_utc(s.at),
        "from_local": format_local(s.at),
        "until": isoformat_utc(until) if until else None,
        "state": s.state,
        "data_may_flow": flowing,
        "cause": s.cause,
        "case": s.case_ref,
        "consent": consent,
        "open_without_live_consent": _unconsented(s, until, consent) if flowing else None,
    }


def _unconsented(
    s: PortStep, until: datetime | None, consent: dict[str, Any] | None
) -> dict[str, Any] | None:
    """While data may flow from this change until the next one: when no live consent stood
    behind it (none at all, or one that ended within)."""
    until_text = isoformat_utc(until) if until else None
    if consent is None:
        return {"from": isoformat_utc(s.at), "until": until_text}
    ended = datetime.fromisoformat(consent["ended_at"]) if consent["ended_at"] else None
    if ended is not None and (until is None or ended < until):
        return {"from": consent["ended_at"], "until": until_text}
    return None


def _at(timeline: list[dict[str, Any]], at: datetime) -> dict[str, Any]:
    """The timeline's entry in force at ``at``."""
    entry = None
    for t in timeline:
        if datetime.fromisoformat(t["from"]) <= at:
            entry = t
    if entry is None:
        return {"state": "unknown", "detail": "before the point's history begins"}
    consent = entry["consent"]
    return {
        "state": entry["state"],
        "data_may_flow": entry["data_may_flow"],
        "since": entry["from"],
        "since_local": entry["from_local"],
        "cause": entry["cause"],
        "case": entry["case"],
        "consent": consent,
        "consent_live_at_that_moment": _live(consent, at) if consent else False,
    }


def _live(consent: dict[str, Any] | None, at: datetime) -> bool:
    if consent is None:
        return False
    ended = consent["ended_at"]
    return ended is None or datetime.fromisoformat(ended) > at
