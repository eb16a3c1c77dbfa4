"""Registering a data subject's request (GDPR art. 15–18) as a ``privacy_request`` case.

The case is about the person, not a metering point. It is due one month after receipt (art.
12(3), :func:`hanport.calendar.months_after`); every later step is ``case advance`` through
the workflow (:mod:`workflows.privacy_request`).
"""

from __future__ import annotations

from datetime import timedelta

from hanport import workflows
from hanport.bootstrap import App
from hanport.calendar import format_local, isoformat_utc, last_day, months_after
from hanport.errors import NotFound, Refused
from hanport.service import load, roles
from hanport.service.cases import Result, earlier_result, keep_result
from hanport.service.commands import OpenSubjectRequest
from hanport.service.policy import decision_for
from hanport.service.unit import transaction
from hanport.service.writer import write
from hanport.workflows.definition import Actor
from hanport.workflows.privacy_request import CHANNELS, KINDS

# How far ahead of the server's clock a given receipt time may be (a caseworker's clock).
SKEW = timedelta(minutes=5)


def _check(cmd: OpenSubjectRequest) -> None:
    if cmd.kind not in KINDS:
        raise Refused(f"--kind must be one of {', '.join(KINDS)}, not {cmd.kind!r}", field="kind")
    if cmd.channel not in CHANNELS:
        raise Refused(
            f"--channel must be one of {', '.join(CHANNELS)}, not {cmd.channel!r}",
            field="channel",
        )


def open_request(app: App, actor: Actor, cmd: OpenSubjectRequest) -> Result:
    """Open the request's case, or the one an earlier command with the same key opened."""
    roles.require_writer(actor)
    now = app.clock.now()
    _check(cmd)
    received = cmd.received_at or now
    if received > now + SKEW:
        raise Refused(
            f"--received-at {format_local(received)} is in the future", field="received-at"
        )
    wf = workflows.for_new_case("privacy_request", app.settings.workflow_versions)
    request = {
        "workflow": wf.name,
        "customer": cmd.customer.strip(),
        "kind": cmd.kind,
        "channel": cmd.channel,
        "received_at": isoformat_utc(received),
    }
    due = months_after(received, 1)
    with transaction(app) as uow:
        done = earlier_result(app, uow, "open", cmd.key, request)
        if done is not None:
            return done
        row = uow.customers.by_id(cmd.customer.strip())
        if row is None:
            raise NotFound(f"customer {cmd.customer} not found")
        if row.erased_at is not None:
            raise Refused(
                f"customer {row.customer_id} was erased on {format_local(row.erased_at)}: "
                "nothing personal is held to ask about",
                field="customer",
            )
        decision = decision_for(app, actor, now, uow)
        data = {
            "request_kind": cmd.kind,
            "channel": cmd.channel,
            "received_at": isoformat_utc(received),
            "due_at": isoformat_utc(due),
            "answer_by": last_day(due),
        }
        fields = {"customer": row.customer_id, **{k: data[k] for k in ("request_kind", "channel")}}
        opened = {"fields": {**fields, "received_at": data["received_at"]}}
        case = decision.open_case(wf, load.no_point(), load.customer(row), data, opened)
        write(app, uow, decision)
        result = Result(str(case.ref), wf.name, case.state, case.version)
        keep_result(app, uow, "open", cmd.key, request, result, now)
        uow.commit()
    return result
