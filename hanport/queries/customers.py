"""Reading the registry: what ``customer show`` prints. The customer's name, contact details,
address and the snapshots of its history are personal: read (and logged) only with an
``Access``; without one they are withheld (None)."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import NotFound
from hanport.storage.rows import PointBrief
from hanport.storage.views import reading
from hanport.storage.views.customers import CustomerVersion
from hanport.storage.views.personal import Access, Contact

CONTACT = tuple(f.name for f in fields(Contact))


def customer_view(app: App, customer_id: str, access: Access | None = None) -> dict[str, Any]:
    """The customer, every version of it, its metering points and its cases; the personal
    fields only with ``access`` (the read logged under it)."""
    with reading(app.engine) as views:
        c = views.customers.by_id(customer_id)
        if c is None:
            raise NotFound(f"customer {customer_id} not found")
        history = views.customers.history(c.id)
        points = views.customers.points(c.id)
        cases = views.customers.cases(c.id)
        contact = views.personal.contact(customer_id, access) if access else None
        snapshots = (
            {s.version: json.loads(s.snapshot) for s in views.personal.history(customer_id, access)}
            if access
            else {}
        )
    personal = asdict(contact) if contact is not None else dict.fromkeys(CONTACT)
    return {
        "customer": c.customer_id,
        "personal": access is not None,
        **personal,
        "language": c.language,
        "energipilot": bool(c.energipilot),
        "version": c.version,
        "updated_at": isoformat_utc(c.updated_at),
        "history": [_version(h, snapshots.get(h.version)) for h in history],
        "metering_points": [_point(p) for p in points],
        "cases": [{"ref": r.ref, "workflow": r.workflow, "state": r.state} for r in cases],
    }


def _version(h: CustomerVersion, snapshot: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "version": h.version,
        "valid_from": isoformat_utc(h.valid_from),
        "changed_by": h.changed_by,
        "source": h.source,
        "snapshot": snapshot,
    }


def _point(p: PointBrief) -> dict[str, Any]:
    return {
        "metering_point": p.gsrn,
        "meter_number": p.meter_number,
        "municipality": p.municipality,
        "port": p.han_port,
    }
