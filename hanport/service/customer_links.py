"""The customer's signed links, acted on: object to an opening, withdraw a consent (the port
closes), confirm a close asked for on the web form.

The link is the proof: it was sent to the e-mail on file, so what it asks for is done at once,
by the actor ``customer-link`` of kind ``customer``, through the same commands as everything
else (each with an idempotency key made from the link, so a double click acts once). What the
case's state no longer allows is answered, not refused loudly: ``done`` is False and the page
says what the case is doing now.
"""

from __future__ import annotations

from dataclasses import dataclass

from hanport import workflows
from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.links import LinkSigner
from hanport.service.commands import Advance, CustomerLink, OpenCase
from hanport.storage.views import reading
from hanport.workflows.definition import Actor, Role

LINK_ACTOR = Actor("customer-link", Role.CUSTOMER, "customer")
ACTS = ("object", "withdraw", "confirm")


@dataclass(frozen=True)
class LinkOutcome:
    case: str  # the case the link is for
    done: bool
    state: str  # the state of the case that acted (the close's, for a withdrawal)
    acted_on: str  # that case's reference


@dataclass(frozen=True)
class _Case:
    ref: str
    workflow: str
    version: int
    state: str
    customer: str
    meter_number: str | None


def act(app: App, actor: Actor, cmd: CustomerLink) -> LinkOutcome:
    if actor.role is not Role.CUSTOMER:
        raise Refused(f"{actor.name} is {actor.role.value}: links are the customer's")
    if cmd.purpose not in ACTS:
        raise Refused(f"a {cmd.purpose} link acts on nothing", field="purpose")
    claim = LinkSigner.from_app(app).read(cmd.token, cmd.purpose)
    case = _case(app, claim.case)
    if cmd.purpose == "withdraw" and not _may(case, "object"):
        return _withdraw(app, case)  # the port is open (or a click before closed it): close
    trigger = {"object": "object", "withdraw": "object", "confirm": "confirm_by_link"}
    return _fire(app, case, trigger[cmd.purpose])


def _case(app: App, ref: str) -> _Case:
    with reading(app.engine) as views:
        row = views.cases.by_ref(ref)
        if row is None:
            raise Refused(f"case {ref} is gone", field="token")
        point = views.cases.point(row.point_id) if row.point_id is not None else None
        customer = views.cases.customer(row.customer_pk)
    return _Case(
        row.ref,
        row.workflow,
        row.workflow_version,
        row.state,
        customer.customer_id if customer else "",
        point.meter_number if point else None,
    )


def _may(case: _Case, trigger: str) -> bool:
    """Whether the customer may fire ``trigger`` from the case's state (as the workflow
    declares it; guards are the decider's)."""
    wf = workflows.get(case.workflow, case.version)
    return any(
        case.state in t.source and Role.CUSTOMER in t.also for t in wf.transitions_for(trigger)
    )


def _fire(app: App, case: _Case, trigger: str) -> LinkOutcome:
    from hanport.service.cases import advance

    if not _may(case, trigger):
        return LinkOutcome(case.ref, False, case.state, case.ref)
    done = advance(app, LINK_ACTOR, Advance(case.ref, trigger, key=f"link-{trigger}-{case.ref}"))
    return LinkOutcome(case.ref, True, done.state, case.ref)


def _withdraw(app: App, case: _Case) -> LinkOutcome:
    """Close the port this case opened, as asked from the link (a second click finds the
    close the first one opened; nothing left to close is answered, not refused)."""
    from hanport.service.cases import open_case

    if not case.meter_number:
        return LinkOutcome(case.ref, False, case.state, case.ref)
    cmd = OpenCase(
        "close_port",
        customer=case.customer,
        meter_number=case.meter_number,
        channel="link",
        key=f"link-withdraw-{case.ref}",
        version=2,
    )
    try:
        done = open_case(app, LINK_ACTOR, cmd)
    except Refused:  # a close already under way, or nothing left to close
        return LinkOutcome(case.ref, False, case.state, case.ref)
    return LinkOutcome(case.ref, True, done.state, done.case)
