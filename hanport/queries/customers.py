"""Reading the registry: what ``customer show`` prints."""

from __future__ import annotations

import json
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import NotFound
from hanport.service.registry import CUSTOMER_FIELDS
from hanport.storage.rows import PointRow
from hanport.storage.views import reading
from hanport.storage.views.customers import CustomerVersion


def customer_view(app: App, customer_id: str) -> dict[str, Any]:
    """The customer, every version of it, its metering points and its cases."""
    with reading(app.engine) as views:
        c = views.customers.by_id(customer_id)
        if c is None:
            raise NotFound(f"customer {customer_id} not found")
        history = views.customers.history(c.id)
        points = views.customers.points(c.id)
        cases = views.customers.cases(c.id)
    fields = c._asdict()
    return {
        "customer": c.customer_id,
        **{k: fields[k] for k in CUSTOMER_FIELDS},
        "version": c.version,
        "updated_at": isoformat_utc(c.updated_at),
        "history": [_version(h) for h in history],
        "metering_points": [_point(p) for p in points],
        "cases": [{"ref": r.ref, "workflow": r.workflow, "state": r.state} for r in cases],
    }


def _version(h: CustomerVersion) -> dict[str, Any]:
    return {
        "version": h.version,
        "valid_from": isoformat_utc(h.valid_from),
        "changed_by": h.changed_by,
        "source": h.source,
        "snapshot": json.loads(h.snapshot),
    }


def _point(p: PointRow) -> dict[str, Any]:
    return {
        "metering_point": p.gsrn,
        "meter_number": p.meter_number,
        "municipality": p.municipality,
        "port": p.han_port,
    }
