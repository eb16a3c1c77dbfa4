"""From the rows a command loaded to the objects its decision works on: one ``Point`` per
metering point, shared by every case on it, with the HES commands and consents that concern it.
"""

from __future__ import annotations

import json

from hanport.storage.repositories.cases import NO_POINT
from hanport.storage.rows import CaseBundle, CustomerRow, Loaded, PointRow
from hanport.storage.uow import Repositories
from hanport.workflows.decider import Decision
from hanport.workflows.model import Case, Consent, Customer, HesCommand, Point


def point(row: PointRow) -> Point:
    return Point(
        id=row.id,
        gsrn=row.gsrn,
        meter_number=row.meter_number,
        municipality=row.municipality,
        street=row.street,
        postal_code=row.postal_code,
        port=row.han_port,
        consent_id=row.consent_id,
        customer_pk=row.customer_pk,
    )


def no_point() -> Point:
    """The point of a case about a person, not a metering point (a data subject's request)."""
    return point(NO_POINT)


def customer(row: CustomerRow) -> Customer:
    return Customer(
        pk=row.id,
        customer_id=row.customer_id,
        name=row.name,
        email=row.email,
        language=row.language,
        energipilot=bool(row.energipilot),
        street=row.street,
        postal_code=row.postal_code,
        erased=row.erased_at is not None,
    )


def _case(b: CaseBundle, p: Point) -> Case:
    c = b.case
    return Case(
        id=c.id,
        ref=c.ref,
        workflow=c.workflow,
        workflow_version=c.workflow_version,
        state=c.state,
        version=c.version,
        flags=list(json.loads(c.flags)),
        data=dict(json.loads(c.data)),
        holds_port=c.holds_port,
        active=c.active,
        point=p,
        customer=customer(b.customer),
        prev_hash=c.last_hash,
        created_at=c.created_at,
        loaded_version=c.version,
    )


def into(decision: Decision, loaded: Loaded, *, firing: set[int] | None = None) -> dict[int, Case]:
    """Make the loaded rows the decision's facts; returns the loaded cases by id. A case or
    point the decision already knows stays the object it has (a second load adds only what is
    new). ``firing``: the timers being fired, which no longer count as pending."""
    points = decision.points
    for row in loaded.points:
        points.setdefault(row.id, point(row))
    known = {c.id: c for c in decision.loaded}
    cases: dict[int, Case] = {}
    fresh: set[int] = set()
    for b in loaded.cases:
        if b.case.id in known:
            cases[b.case.id] = known[b.case.id]
            continue
        p = points.setdefault(b.point.id, point(b.point))
        case = cases[b.case.id] = _case(b, p)
        fresh.add(case.id)
        decision.loaded.append(case)
        if case.holds_port:
            p.holder_id = case.id
    for t in loaded.timers:
        if t.case_id in fresh:
            case = cases[t.case_id]
            case.started_timers.add(t.name)
            if t.status == "pending" and t.id not in (firing or ()):
                case.pending_timers.append((t.id, t.name))
    for h in loaded.hes:
        p = points[h.point_id]
        if all(c.id != h.id for c in p.hes):
            p.hes.append(HesCommand(h.id, h.case_id, h.case_ref, h.action, h.status, h.answer_due))
            p.hes.sort(key=lambda c: c.id if isinstance(c.id, int) else 1 << 62)
    for c in loaded.consents:
        decision.consents.setdefault(c.id, Consent(c.id, c.customer_pk, c.live))
    decision.restricted.update(loaded.restricted)
    return cases


def customer_of(uow: Repositories, decision: Decision, pk: int) -> Customer:
    """The customer ``pk``: as a case the decision knows has it, else read."""
    for c in (*decision.loaded, *decision.cases):
        if c.customer.pk == pk:
            return c.customer
    row = uow.customers.by_pk(pk)
    if row is None:
        raise LookupError(f"customer #{pk} is gone")
    return customer(row)
