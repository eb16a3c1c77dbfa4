"""``customer export``: everything hanport holds about one customer, for their access request
(GDPR art. 15) — the customer record and its history, the metering points, the consents with
the declaration texts accepted, the cases with their history in plain words, the notes, the
mails as sent, the port timeline of their points while it was theirs, and when and why their
data was read (never by whom).

Complete by construction: :data:`PARTS` is the export, one part per section, and each part
names the personal columns (``hanport.storage.personal.PERSONAL_COLUMNS``) it holds and the key
each appears under. A table with personal columns that no part covers fails a test; a new
table is one more :class:`Part`. Every personal value is read through ``views.personal``, each
read logged under the export's ``Access``. The HTML is :mod:`hanport.queries.customer_export_html`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hanport import declarations
from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import NotFound
from hanport.queries import export_words as words
from hanport.queries.port_timeline import port
from hanport.storage.rows import CustomerBrief
from hanport.storage.views import Views, reading
from hanport.storage.views.personal import Access
from hanport.storage.views.subject import SubjectCase, SubjectConsent, SubjectPoint


def _t(dt: datetime | None) -> str | None:
    return isoformat_utc(dt) if dt else None


@dataclass
class Subject:
    """What every part reads from: the customer, their cases, consents and points."""

    app: App
    views: Views
    access: Access
    customer: CustomerBrief
    cases: list[SubjectCase] = field(default_factory=list)
    consents: list[SubjectConsent] = field(default_factory=list)
    points: list[SubjectPoint] = field(default_factory=list)


@dataclass(frozen=True)
class Part:
    """One section of the export: how it is read, and the personal columns it holds — table →
    column → the key of the section's items (or of the section itself) that holds it."""

    section: str
    read: Callable[[Subject], Any]
    covers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def _customer(s: Subject) -> dict[str, Any]:
    contact = s.views.personal.contact(s.customer.customer_id, s.access)
    c = s.customer
    return {
        "customer": c.customer_id,
        **(asdict(contact) if contact else {}),
        "language": c.language,
        "energipilot": bool(c.energipilot),
        "version": c.version,
        "updated_at": _t(c.updated_at),
        "erased_at": _t(c.erased_at),
    }


def _history(s: Subject) -> list[dict[str, Any]]:
    versions = {v.version: v for v in s.views.customers.history(s.customer.id)}
    out = []
    for snap in s.views.personal.history(s.customer.customer_id, s.access):
        v = versions.get(snap.version)
        out.append(
            {
                "version": snap.version,
                "valid_from": _t(v.valid_from) if v else None,
                "source": v.source if v else None,
                "snapshot": json.loads(snap.snapshot),
            }
        )
    return out


def _points(s: Subject) -> list[dict[str, Any]]:
    out = []
    for p in s.points:
        # The installation address belongs to whoever the point is registered to now.
        address = s.views.personal.point(p.gsrn, s.access) if p.current else None
        out.append(
            {
                "metering_point": p.gsrn,
                "meter_number": p.meter_number,
                "municipality": p.municipality,
                "port": p.han_port,
                "yours_now": p.current,
                "street": address.street if address else None,
                "postal_code": address.postal_code if address else None,
                "city": address.city if address else None,
            }
        )
    return out


def _consents(s: Subject) -> list[dict[str, Any]]:
    language = s.customer.language
    out = []
    for k in s.consents:
        p = s.views.personal.consent(k.id, s.access)
        version = k.declaration_version
        out.append(
            {
                "consent": k.id,
                "metering_point": k.gsrn,
                "meter_number": k.meter_number,
                "case": k.case_ref,
                "source": k.source,
                "channel": k.channel,
                "signer_name": p.signer_name if p else None,
                "signer_role": k.signer_role,
                "address_written": p.address_written if p else None,
                "postal_code_written": p.postal_code_written if p else None,
                "address_match": k.address_match,
                "from_email": p.from_email if p else None,
                "security": k.security,
                "declaration_version": version,
                "declaration_sha256": declarations.digest(version, language),
                "declaration_text": declarations.text(version, language) if version else None,
                "received_at": _t(k.received_at),
                "recorded_at": _t(k.recorded_at),
                "opened_at": _t(k.opened_at),
                "ended_at": _t(k.ended_at),
                "end_reason": k.end_reason,
                "end_reason_words": words.END_REASONS.get(k.end_reason or ""),
            }
        )
    return out


def _cases(s: Subject) -> list[dict[str, Any]]:
    out = []
    for c in s.cases:
        history = [
            {
                "seq": e.seq,
                "at": _t(e.occurred_at),
                "by": words.actor_words(e.actor_kind),
                "trigger": e.trigger,
                "from": e.from_state,
                "to": e.to_state,
                "words": words.state_words(c.workflow, e.to_state),
            }
            for e in s.views.events.of_case(c.id)
        ]
        out.append(
            {
                "case": c.ref,
                "workflow": c.workflow,
                "what": words.WORKFLOWS.get(c.workflow, c.workflow),
                "metering_point": c.gsrn,
                "state": c.state,
                "state_words": words.state_words(c.workflow, c.state),
                "active": bool(c.active),
                "opened_at": _t(c.created_at),
                "updated_at": _t(c.updated_at),
                "history": history,
            }
        )
    return out


def _notes(s: Subject) -> list[dict[str, Any]]:
    return [
        {
            "case": c.ref,
            "seq": n.seq,
            "kind": n.kind,
            "text": n.body,
            "at": _t(n.created_at),
            "erased": n.erased_at is not None,
        }
        for c in s.cases
        for n in s.views.personal.notes(c.id, s.access)
    ]


def _mails(s: Subject) -> list[dict[str, Any]]:
    out = []
    for c in s.cases:
        for brief in s.views.mail.of_case(c.id):
            m = s.views.mail.get(brief.id)
            p = s.views.personal.mail(brief.id, s.access)
            if m is None or p is None:
                continue
            out.append(
                {
                    "id": m.id,
                    "case": c.ref,
                    "template": m.template,
                    "language": m.language,
                    "status": m.status,
                    "subject": m.subject,
                    "recipient": p.recipient,
                    "created_at": _t(m.created_at),
                    "sent_at": _t(m.sent_at),
                    "text": p.body_text,
                    "html": p.body_html,
                    "context": json.loads(p.context),
                    "last_error": p.last_error,
                }
            )
    return out


def _timeline(s: Subject) -> list[dict[str, Any]]:
    """Each point's port timeline while it was the customer's: the changes their cases caused
    or their consents stood behind, and (on a point registered to them now) those of no case
    and no consent (an import's). Another customer's consents are named by number only."""
    refs = {c.ref for c in s.cases}
    consents = {k.id for k in s.consents}
    out = []
    for p in s.points:
        entries = []
        for t in port(s.app, p.gsrn)["timeline"]:
            cid = (t["consent"] or {}).get("id")
            theirs = t["case"] in refs or cid in consents
            if theirs or (p.current and t["case"] is None and cid is None):
                entries.append(
                    {
                        "from": t["from"],
                        "until": t["until"],
                        "state": t["state"],
                        "state_words": words.PORT_STATES.get(t["state"], t["state"]),
                        "data_may_flow": t["data_may_flow"],
                        "cause": t["cause"],
                        "case": t["case"],
                        "consent": cid,
                    }
                )
        if entries:
            out.append({"metering_point": p.gsrn, "timeline": entries})
    return out


def _intakes(s: Subject) -> list[dict[str, Any]]:
    """The web forms about the customer's points, as typed, and what became of each."""
    out = []
    for i in s.views.intakes.of_customer(s.customer.id):
        p = s.views.personal.intake(i.id, s.access)
        fields = json.loads(p.fields) if p and p.fields else None
        out.append(
            {
                "intake": i.id,
                "form": i.form,
                "received_at": _t(i.received_at),
                "declaration_version": i.declaration_version,
                "status": i.status,
                "case": i.case_ref,
                "outcome": i.outcome,
                "fields": fields,
                "resolution_note": p.resolution_note if p else None,
            }
        )
    return out


def _reads(s: Subject) -> list[dict[str, Any]]:
    return [
        {
            "at": _t(r.at),
            "role": r.role,
            "role_words": words.ROLES.get(r.role, r.role),
            "command": r.command,
            "purpose": r.purpose,
            "purpose_words": words.PURPOSES.get(r.purpose, r.purpose),
            "what": r.what,
            "what_words": words.READ_WHAT.get(r.what, r.what),
        }
        for r in s.views.personal.reads(s.customer.customer_id, s.access)
    ]


PARTS: tuple[Part, ...] = (
    Part(
        "customer",
        _customer,
        {"customers": {c: c for c in ("name", "email", "phone", "street", "postal_code", "city")}},
    ),
    Part("customer_history", _history, {"customer_history": {"snapshot": "snapshot"}}),
    Part(
        "metering_points",
        _points,
        {"metering_points": {c: c for c in ("street", "postal_code", "city")}},
    ),
    Part(
        "consents",
        _consents,
        {
            "consents": {
                c: c
                for c in ("signer_name", "address_written", "postal_code_written", "from_email")
            }
        },
    ),
    Part("cases", _cases),
    Part("notes", _notes, {"case_notes": {"body": "text"}}),
    Part(
        "mails",
        _mails,
        {
            "mail_outbox": {
                "recipient": "recipient",
                "context": "context",
                "body_text": "text",
                "body_html": "html",
                "last_error": "last_error",
            }
        },
    ),
    Part("port_timeline", _timeline),
    Part(
        "intakes",
        _intakes,
        {"intakes": {"fields": "fields", "resolution_note": "resolution_note"}},
    ),
    Part("reads", _reads),  # last: this export's own reads are among them
)

# Table → column → (section, key): where the export holds each personal column.
COVERED: dict[str, dict[str, tuple[str, str]]] = {}
for _part in PARTS:
    for _table, _keys in _part.covers.items():
        COVERED.setdefault(_table, {}).update(
            {col: (_part.section, key) for col, key in _keys.items()}
        )


def customer_export(app: App, customer_id: str, access: Access) -> dict[str, Any]:
    """Everything held about ``customer_id``, every personal read logged under ``access``."""
    customer_id = customer_id.strip()
    with reading(app.engine) as views:
        c = views.customers.by_id(customer_id)
        if c is None:
            raise NotFound(f"customer {customer_id} not found")
        s = Subject(app, views, access, c)
        s.cases = views.subject.cases(c.id)
        s.consents = views.subject.consents(c.id)
        s.points = views.subject.points(c.id)
        sections = {p.section: p.read(s) for p in PARTS}
    return {
        "kind": "hanport-customer-export",
        "exported_at": isoformat_utc(app.clock.now()),
        "customer_id": customer_id,
        **sections,
    }
