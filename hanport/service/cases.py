"""Opening and advancing cases: load → decide → write → commit, once each.

``advance`` loads the case (one read), lets the decider fire the trigger through the case's
pinned workflow version, hands the decision to the writer and commits. ``open_case`` does the
same for a new case: the opening rules of its workflow, its first event, and the triggers that
follow on their own (a form that carries its consent, an automatic close that is due).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hanport import workflows
from hanport.bootstrap import App
from hanport.errors import NotFound, Refused
from hanport.identifiers import InvalidIdentifier, normalise_meter_number, validate_gsrn
from hanport.service import ledgers, load, roles
from hanport.service.commands import Advance, OpenCase
from hanport.service.policy import decision_for
from hanport.service.unit import transaction
from hanport.service.writer import write
from hanport.storage.rows import CustomerRow, Loaded
from hanport.storage.uow import UnitOfWork
from hanport.workflows.definition import Actor, Role, Workflow
from hanport.workflows.model import Case, Opening, OtherCase


@dataclass
class Result:
    case: str
    workflow: str
    state: str
    version: int
    already_applied: bool = False
    warnings: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- idempotency keys -----------------------------------------------------------------------


def earlier_result(
    app: App, uow: UnitOfWork, kind: str, key: str | None, request: Mapping[str, Any]
) -> Result | None:
    """The stored result of an earlier command with this key, or None. A key reused for other
    data is refused."""
    if key is None:
        return None
    row = uow.idempotency.get(kind, key)
    if row is None:
        return None
    if not ledgers.same(app, row.request_hash, ledgers.bare(request)):
        raise Refused(f"key {key!r} was already used for a different {kind} request", field="key")
    result = Result(**row.result)
    result.already_applied = True
    return result


def keep_result(
    app: App,
    uow: UnitOfWork,
    kind: str,
    key: str | None,
    request: Mapping[str, Any],
    result: Result,
    now: datetime,
) -> None:
    if key is not None:
        data = result.as_dict()
        data.pop("already_applied")
        digest = ledgers.keyed(app, ledgers.bare(request))
        uow.idempotency.put(kind, key, digest, None, data, now)


# --- advancing --------------------------------------------------------------------------------


def advance(app: App, actor: Actor, cmd: Advance) -> Result:
    roles.require_writer(actor)
    ref = cmd.case.strip().upper()
    request = {
        "case": ref,
        "trigger": workflows.canonical_name(cmd.trigger),
        "fields": dict(cmd.fields),
        "note": cmd.note,
    }
    now = app.clock.now()
    with transaction(app) as uow:
        done = earlier_result(app, uow, "advance", cmd.key, request)
        if done is not None:
            return done
        decision = decision_for(app, actor, now, uow)
        # a trigger with fields may hash personal values: the customer's key comes with the load
        case = _load(uow, decision, "ref", ref, subject_keys=bool(cmd.fields)).get(ref)
        if case is None:
            raise NotFound(f"case {ref} not found")
        _meters_for(uow, case, cmd.fields)
        _hook(app, "after_load")
        before = case.state
        decision.fire(case, cmd.trigger, cmd.fields, note=cmd.note)
        write(app, uow, decision)
        result = Result(ref, case.workflow, case.state, case.version, cancelled=decision.cancelled)
        if before == case.state and case.state in ("opening", "closing"):
            result.warnings.append("the command will be retried with backoff")
        keep_result(app, uow, "advance", cmd.key, request, result, now)
        uow.commit()
    return result


def _load(
    uow: UnitOfWork, decision: Any, by: str, key: Any, *, subject_keys: bool = False
) -> dict[Any, Case]:
    loaded: Loaded = uow.cases.load(by, [key], subject_keys=subject_keys)
    if loaded.subject_keys is not None:
        decision.sources.know_keys(loaded.subject_keys)
    cases = load.into(decision, loaded)
    return {c.ref: c for c in cases.values()} if by == "ref" else cases


def _meters_for(uow: UnitOfWork, case: Case, fields: Mapping[str, Any]) -> None:
    """A trigger that installs a meter needs to know where its number has been before."""
    number = fields.get("meter_number")
    if not number:
        return
    try:
        number, _ = normalise_meter_number(str(number))
    except InvalidIdentifier:
        return  # the field's own check refuses it
    case.point.meter_seen[number] = [
        (m.point_id, m.valid_to is None, m.gsrn) for m in uow.ports.meter_seen([number])
    ]


def _hook(app: App, name: str) -> None:
    fn = app.extras.get(name)
    if fn is not None:
        fn()


# --- opening ----------------------------------------------------------------------------------


def open_case(app: App, actor: Actor, cmd: OpenCase) -> Result:
    """Open a case. ``cmd.fields`` (nore_open) carry a consent given with the order."""
    roles.require_writer(actor)
    try:
        wf = (
            workflows.for_new_case(cmd.workflow, app.settings.workflow_versions)
            if cmd.version is None
            else workflows.get(cmd.workflow, cmd.version)
        )
    except KeyError:
        raise Refused(
            f"unknown workflow {cmd.workflow!r} (workflows: nore_open, meter_swap, close_port)"
        ) from None
    request = {
        "workflow": wf.name,
        "customer": cmd.customer,
        "metering_point": cmd.metering_point,
        "meter_number": cmd.meter_number,
        "channel": cmd.channel,
        "from_email": cmd.from_email,
        "fields": dict(cmd.fields),
        "energipilot_ack": cmd.energipilot_ack,
        **({"version": cmd.version} if cmd.version is not None else {}),
    }
    now = app.clock.now()
    with transaction(app) as uow:
        done = earlier_result(app, uow, "open", cmd.key, request)
        if done is not None:
            return done
        decision = decision_for(app, actor, now, uow)
        warnings: list[str] = []
        if wf.name == "close_port":
            cust = _customer(uow, cmd.customer)
            case = _open_close(app, uow, decision, wf, cmd, cust, warnings)
        else:
            case = _open_port_case(app, uow, decision, wf, cmd)
        write(app, uow, decision)
        result = Result(
            str(case.ref),
            wf.name,
            case.state,
            case.version,
            warnings=warnings,
            cancelled=decision.cancelled,
        )
        keep_result(app, uow, "open", cmd.key, request, result, now)
        uow.commit()
    return result


def _customer(uow: UnitOfWork, customer_id: str) -> CustomerRow:
    cust = uow.customers.by_id(customer_id.strip())
    if cust is None:
        raise NotFound(f"customer {customer_id} not found")
    return cust


def opening(
    app: App,
    uow: UnitOfWork,
    decision: Any,
    wf: Workflow,
    gsrn: str,
    cust: CustomerRow,
    meter_number: str | None = None,
    loaded: Loaded | None = None,
) -> Opening:
    """What the opening rules read, for the customer ``cust`` on the point ``gsrn`` (``loaded``:
    the point's load, if it was read already)."""
    if loaded is None:
        loaded = uow.cases.load("gsrn", [gsrn])
    if not loaded.points:
        raise NotFound(f"metering point {gsrn} not found")
    cases = load.into(decision, loaded)
    point = decision.points[loaded.points[0].id]
    area = app.settings.area(point.municipality)
    if point.customer_pk is None or point.customer_pk == cust.id:
        holder_cust = cust if point.customer_pk is not None else None
    else:
        holder_cust = uow.customers.by_pk(point.customer_pk)
    others = tuple(
        OtherCase(str(c.ref), c.state, c.workflow, c.holds_port, c.customer.pk)
        for c in cases.values()
        if c.active
    )
    return Opening(
        workflow=wf.name,
        point=point,
        customer=load.customer(cust),
        area_name=area.name if area else None,
        area_workflow=area.workflow if area else None,
        point_customer_id=holder_cust.customer_id if holder_cust else None,
        others=others,
        meter_number=meter_number,
    )


def _gsrn(value: str | None, wf: Workflow) -> str:
    if value is None:
        raise Refused(f"{wf.name} needs --metering-point", field="metering-point")
    try:
        return validate_gsrn(value)
    except InvalidIdentifier as exc:
        raise Refused(str(exc), field="metering-point") from None


def _open_port_case(app: App, uow: UnitOfWork, decision: Any, wf: Workflow, cmd: OpenCase) -> Case:
    customer_id = cmd.customer.strip()
    try:
        gsrn = validate_gsrn(cmd.metering_point) if cmd.metering_point is not None else None
    except InvalidIdentifier:
        gsrn = None
    if gsrn is None:  # refused below, after the customer is looked up (as always)
        cust = _customer(uow, cmd.customer)
        gsrn = _gsrn(cmd.metering_point, wf)
        loaded = None
    else:  # the customer and the point's load in one read
        loaded = uow.cases.load("gsrn", [gsrn], customer=customer_id)
        if loaded.customer is None:
            raise NotFound(f"customer {cmd.customer} not found")
        cust = loaded.customer
    o = opening(app, uow, decision, wf, gsrn, cust, loaded=loaded)
    decision.check_opening(wf, o)
    _hook(app, "after_load")  # the rules passed; nothing written yet (tests race here)
    data: dict[str, Any] = {}
    if cmd.channel is not None:
        data["channel"] = cmd.channel
    if cmd.energipilot_ack:
        data["energipilot_ack"] = True
    opened = {
        "metering_point": o.point.gsrn,
        "customer": o.customer.customer_id,
        **({"channel": cmd.channel} if cmd.channel else {}),
    }
    case = decision.open_case(wf, o.point, o.customer, data, {"fields": opened})
    if cmd.fields:
        if wf.name != "nore_open":
            raise Refused(f"{wf.name} takes no consent fields when opened", field="set")
        decision.fire(case, "record_consent", {"channel": cmd.channel or "form", **cmd.fields})
    decision.run_auto(case)
    return case


def _open_close(
    app: App,
    uow: UnitOfWork,
    decision: Any,
    wf: Workflow,
    cmd: OpenCase,
    cust: CustomerRow,
    warnings: list[str],
) -> Case:
    if not cmd.meter_number:
        raise Refused(
            "close-port needs --meter-number (the customer must give it)", field="meter-number"
        )
    try:
        number, warns = normalise_meter_number(cmd.meter_number)
    except InvalidIdentifier as exc:
        raise Refused(str(exc), field="meter-number") from None
    warnings.extend(warns)
    if cmd.channel not in ("email", "phone", "form", "link"):
        raise Refused("close-port needs --channel email or phone", field="channel")
    if cmd.channel in ("form", "link") and decision.actor.role is not Role.CUSTOMER:
        raise Refused(f"a close by {cmd.channel} is the customer's own", field="channel")
    if cmd.channel == "email" and not cmd.from_email:
        raise Refused("a close request by e-mail needs --from-email", field="from-email")
    seen = uow.ports.meter_seen([number])
    if not seen:
        raise NotFound(f"meter number {number} is not registered on any metering point")
    latest = seen[0]
    if latest.valid_to is not None:
        from hanport.calendar import format_local

        raise Refused(
            f"meter {number} was replaced on {format_local(latest.valid_to)}; metering point "
            f"{latest.gsrn} has another meter now: ask the customer for the current number",
            field="meter-number",
        )
    o = opening(app, uow, decision, wf, latest.gsrn, cust, number)
    decision.check_opening(wf, o)
    data = {
        "channel": cmd.channel,
        "close_reason": "withdrawn",
        "meter_holder": o.point_customer_id,
    }
    opened: dict[str, Any] = {
        "fields": {"meter_number": number, "channel": cmd.channel, "metering_point": o.point.gsrn}
    }
    if cmd.from_email:
        opened["personal"] = {"from_email": decision.hash(cust.id, cmd.from_email.strip().lower())}
    case = decision.open_case(wf, o.point, o.customer, data, opened)
    decision.run_auto(case, {"from_email": cmd.from_email} if cmd.from_email else None)
    return case
