"""Reading cases: what ``case show`` and ``case list`` print."""

from __future__ import annotations

import json
from typing import Any

from hanport import workflows
from hanport.bootstrap import App
from hanport.calendar import format_local, isoformat_utc
from hanport.errors import NotFound, Refused
from hanport.storage.rows import CaseRow
from hanport.storage.views import Views, reading
from hanport.storage.views.cases import CaseFilter, CaseListed, PendingTimer
from hanport.storage.views.events import EventRow
from hanport.storage.views.mail import MailBrief
from hanport.storage.views.notes import NoteRow
from hanport.storage.views.personal import Access
from hanport.workflows.definition import Actor, Workflow


def case_view(app: App, ref: str, access: Access | None = None) -> dict[str, Any]:
    """Everything ``case show`` prints: state, flags, allowed triggers with their fields,
    pending timers, mail, the history, and its notes (personal: only with ``access``, the read
    logged under it; None when withheld)."""
    ref = ref.strip().upper()
    with reading(app.engine) as views:
        case = views.cases.by_ref(ref)
        if case is None:
            raise NotFound(f"case {ref} not found")
        view = _case_fields(views, case)
        view["timers"] = [_timer(t) for t in views.cases.pending_timers(case.id)]
        view["consent"] = _consent(views, json.loads(case.data).get("consent_id"))
        view["hes_commands"] = [
            {"id": h.id, "action": h.action, "status": h.status, "attempt": h.attempt}
            for h in views.hes.of_case(case.id)
        ]
        view["mail"] = [_mail(m) for m in views.mail.of_case(case.id)]
        view["history"] = [history_entry(e) for e in views.events.of_case(case.id)]
        notes = views.personal.notes(case.id, access) if access else None
    view["notes"] = None if notes is None else [note_entry(n) for n in notes]
    return view


def note_entry(n: NoteRow) -> dict[str, Any]:
    return {
        "seq": n.seq,
        "kind": n.kind,
        "author": n.author,
        "text": n.body,
        "at": isoformat_utc(n.created_at),
        "at_local": format_local(n.created_at),
        "erased": n.erased_at is not None,
    }


def _case_fields(views: Views, case: CaseRow) -> dict[str, Any]:
    """The case's own fields, its point's and customer's, and what may be done next."""
    point = views.cases.point(case.point_id) if case.point_id is not None else None
    customer = views.cases.customer(case.customer_pk)
    wf = workflows.get(case.workflow, case.workflow_version)
    return {
        "case": case.ref,
        "workflow": case.workflow,
        "workflow_version": case.workflow_version,
        "state": case.state,
        "state_help": wf.state(case.state).help,
        "version": case.version,
        "active": bool(case.active),
        "flags": list(json.loads(case.flags)),
        "metering_point": point.gsrn if point else None,
        "meter_number": point.meter_number if point else None,
        "port": point.han_port if point else None,
        "customer": customer.customer_id if customer else None,
        "created_at": isoformat_utc(case.created_at),
        "allowed": allowed(wf, case.state),
        **({"request": _subject_request(case)} if case.point_id is None else {}),
    }


def _subject_request(case: CaseRow) -> dict[str, Any]:
    """A data subject's request: which right, how and when it came, when the answer is due."""
    data = json.loads(case.data)
    keys = ("request_kind", "channel", "received_at", "answer_by", "due_at_before")
    return {k: data.get(k) for k in keys}


def allowed(wf: Workflow, state: str) -> list[dict[str, Any]]:
    """The triggers a person may fire from ``state``, with their fields."""
    out = []
    for trig in wf.allowed(state):
        ts = [t for t in wf.transitions_for(trig) if state in t.source]
        if all(t.role.value == "system" and not t.also for t in ts):
            continue
        out.append(
            {
                "trigger": trig,
                "help": next((t.help for t in ts if not t.guards), ts[0].help),
                "role": ts[0].role.value,
                "fields": [
                    {
                        "name": f.name,
                        "required": f.required,
                        "help": f.help,
                        **({"choices": list(f.choices)} if f.choices else {}),
                    }
                    for f in wf.fields_for(trig)
                ],
                "note_required": any(t.note_required for t in ts),
            }
        )
    return out


def _timer(t: PendingTimer) -> dict[str, Any]:
    return {
        "name": t.name,
        "trigger": t.trigger,
        "due_at": isoformat_utc(t.due_at),
        "due_local": format_local(t.due_at),
    }


def _consent(views: Views, consent_id: int | None) -> dict[str, Any] | None:
    c = views.consents.get(consent_id) if consent_id else None
    if c is None:
        return None
    return {
        "id": c.id,
        "signer_role": c.signer_role,
        "channel": c.channel,
        "address_match": c.address_match,
        "declaration_version": c.declaration_version,
        "ended_at": isoformat_utc(c.ended_at) if c.ended_at else None,
        "end_reason": c.end_reason,
    }


def _mail(m: MailBrief) -> dict[str, Any]:
    return {"id": m.id, "template": m.template, "status": m.status, "seq": m.seq}


def event_step(e: EventRow) -> dict[str, Any]:
    """An event as a step of a case's path: when, who, which trigger, from and to."""
    return {
        "seq": e.seq,
        "at": isoformat_utc(e.occurred_at),
        "at_local": format_local(e.occurred_at),
        "actor": e.actor,
        "actor_kind": e.actor_kind,
        "trigger": e.trigger,
        "from": e.from_state,
        "to": e.to_state,
        "workflow_version": e.workflow_version,
    }


def history_entry(e: EventRow) -> dict[str, Any]:
    """An event as ``case show`` lists it: its step, its data and its hash."""
    return {**event_step(e), "data": json.loads(e.data), "hash": e.hash}


def list_cases(
    app: App,
    *,
    workflow: str | None = None,
    state: str | None = None,
    customer: str | None = None,
    metering_point: str | None = None,
    attention: bool = False,
    overdue: bool = False,
    limit: int = 500,
) -> list[dict[str, Any]]:
    selected = CaseFilter(
        workflow=_known_workflow(workflow) if workflow else None,
        state=_known_state(state, workflow) if state else None,
        customer=customer,
        metering_point=metering_point,
        attention=attention,
        overdue_at=app.clock.now() if overdue else None,
        limit=limit,
    )
    with reading(app.engine) as views:
        rows = views.cases.listing(selected)
    return [_listed(r) for r in rows]


def _known_workflow(name: str) -> str:
    """A workflow's name, or ``Refused`` listing the known ones (a filter that can match
    nothing is a typing mistake, not an empty answer)."""
    wanted = workflows.canonical_name(name)
    known = sorted({wf.name for wf in workflows.WORKFLOWS.values()})
    if wanted not in known:
        raise Refused(
            f"--workflow: no workflow {name!r} (workflows: {', '.join(known)})", field="workflow"
        )
    return wanted


def _known_state(name: str, workflow: str | None) -> str:
    """A state of the (given, or any) workflow, or ``Refused`` listing them."""
    wanted = name.replace("-", "_")
    wfs = [
        w
        for w in workflows.WORKFLOWS.values()
        if workflow is None or w.name == workflows.canonical_name(workflow)
    ]
    known = sorted({s.name for w in wfs for s in w.states})
    if wanted not in known:
        raise Refused(f"--state: no state {name!r} (states: {', '.join(known)})", field="state")
    return wanted


def _listed(r: CaseListed) -> dict[str, Any]:
    return {
        "case": r.ref,
        "workflow": r.workflow,
        "state": r.state,
        "flags": json.loads(r.flags),
        "metering_point": r.gsrn,
        "customer": r.customer_id,
        "updated_at": isoformat_utc(r.updated_at),
    }


def subject_requests(app: App, reader: Actor, *, open_only: bool = True) -> list[dict[str, Any]]:
    """The data subjects' requests with their deadlines, soonest due first (the
    data-protection officer's list; ``overdue`` once the deadline has passed)."""
    from hanport.service.erasure import require_reader
    from hanport.workflows.guards import deadline_passed

    require_reader(reader, "the data subjects' requests")
    with reading(app.engine) as views:
        rows = views.cases.subject_requests(open_only=open_only)
    now = isoformat_utc(app.clock.now())
    out = []
    for r in rows:
        data = json.loads(r.data)
        out.append(
            {
                "case": r.ref,
                "customer": r.customer_id,
                "kind": data.get("request_kind"),
                "state": r.state,
                "received": data.get("received_at", "")[:10],
                "answer_by": data.get("answer_by"),
                "extended": "due_at_before" in data,
                # A restriction in force answered the request: it is due no more.
                "overdue": r.active
                and r.state != "restricted"
                and deadline_passed(data["due_at"], now),
                "active": r.active,
            }
        )
    return sorted(out, key=lambda x: (not x["active"], x["answer_by"] or "", x["case"]))
