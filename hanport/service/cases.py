"""The service layer: every change to a case is one of these commands, in one transaction.

Each command loads what its guards need, runs the trigger(s) through the case's workflow, writes
the case with a compare-and-swap on its version, appends the events and, in the same transaction,
the timers, mail intents, HES commands, consent and metering-point changes. A failed guard or any
error rolls everything back.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from hanport import workflows
from hanport.bootstrap import App
from hanport.calendar import OSLO, isoformat_utc
from hanport.errors import Conflict, NotFound, Refused
from hanport.identifiers import InvalidIdentifier, normalise_meter_number, validate_gsrn
from hanport.service import roles
from hanport.service.casework import Actor, CaseRow, Facts, Work, apply, finish, record_opened
from hanport.storage import repository as repo
from hanport.storage.hashing import GENESIS, canonical_json
from hanport.storage.uow import UnitOfWork


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


@contextmanager
def transaction(app: App, *, immediate: bool = False) -> Iterator[UnitOfWork]:
    """A unit of work whose database errors become the CLI's conflict and refusal codes."""
    try:
        with UnitOfWork(app.engine, immediate=immediate) as uow:
            yield uow
    except IntegrityError as exc:
        msg = str(exc.orig)
        if "ux_cases_point_holding" in msg or "cases.point_id" in msg:
            raise Refused(
                "another case already holds this metering point (it was opened meanwhile)"
            ) from None
        if "uq_case_events_case_seq" in msg or "case_events.case_id" in msg:
            raise Conflict("the case was changed by someone else meanwhile; retry") from None
        if "idempotency_keys" in msg:
            raise Conflict("the same key was used concurrently; retry") from None
        raise
    except OperationalError as exc:
        text = str(exc.orig).lower()
        if "locked" in text or "busy" in text or "could not serialize" in text:
            raise Conflict("the database was busy; nothing written, retry") from None
        raise


def _request_hash(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(request)).encode()).hexdigest()


def _check_key(
    uow: UnitOfWork, kind: str, key: str | None, request: Mapping[str, Any]
) -> Result | None:
    """The stored result of an earlier command with this key, or None. A key reused for other
    data is refused."""
    if key is None:
        return None
    row = repo.idempotency_get(uow.conn, kind, key)
    if row is None:
        return None
    if row["request_hash"] != _request_hash(request):
        raise Refused(f"key {key!r} was already used for a different {kind} request", field="key")
    result = Result(**row["result"])
    result.already_applied = True
    return result


def _store_key(
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
        repo.idempotency_put(uow.conn, kind, key, _request_hash(request), None, data, now)


def _hook(app: App, name: str) -> None:
    fn: Callable[[], None] | None = app.extras.get(name)
    if fn is not None:
        fn()


# --- opening a case ---------------------------------------------------------------------------


def _point(uow: UnitOfWork, gsrn: str) -> dict[str, Any]:
    try:
        gsrn = validate_gsrn(gsrn)
    except InvalidIdentifier as exc:
        raise Refused(str(exc), field="metering-point") from None
    point = repo.point_by_gsrn(uow.conn, gsrn)
    if point is None:
        raise NotFound(f"metering point {gsrn} not found")
    return point


def _customer(uow: UnitOfWork, customer_id: str) -> dict[str, Any]:
    customer = repo.customer_by_id(uow.conn, customer_id.strip())
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


def _check_opening(
    app: App, uow: UnitOfWork, wf_name: str, point: dict[str, Any], customer: dict[str, Any]
) -> None:
    gsrn = point["gsrn"]
    area = app.settings.area(point["municipality"])
    if area is None:
        raise Refused(
            f"metering point {gsrn} is in municipality {point['municipality']}, which is not mapped "
            "to any workflow (configure it under [areas])",
            field="municipality",
        )
    if area.workflow != wf_name:
        raise Refused(
            f"metering point {gsrn} is in {area.name} ({point['municipality']}), which uses "
            f"{area.workflow}, not {wf_name}"
        )
    if wf_name == "nore_open":
        if point["han_port"] == "none":
            raise Refused(f"metering point {gsrn} has no HAN port")
        if point["han_port"] == "open":
            raise Refused(f"the HAN port of {gsrn} is already open")
    if wf_name == "meter_swap" and point["han_port"] != "none":
        raise Refused(f"metering point {gsrn} already has a meter with a HAN port")
    holder = repo.holding_case(uow.conn, point["id"])
    if holder is not None:
        raise Refused(
            f"case {holder['ref']} ({holder['state']}) already holds metering point {gsrn}"
        )
    if point["customer_pk"] != customer["id"]:
        raise Refused(f"customer {customer['customer_id']} is not the current customer of {gsrn}")


def new_case(
    app: App,
    conn: Connection,
    actor: Actor,
    now: datetime,
    wf_name: str,
    point: dict[str, Any],
    customer: dict[str, Any],
    data: dict[str, Any],
) -> Work:
    wf = workflows.get(wf_name)
    initial = wf.state(wf.initial)
    values = {
        "ref": f"new-{uuid.uuid4().hex[:16]}",  # replaced by HAN-YYYY-NNNNNN below
        "workflow": wf.name,
        "workflow_version": wf.version,
        "state": wf.initial,
        "version": 0,
        "point_id": point["id"],
        "customer_pk": customer["id"],
        "holds_port": initial.holds_port,
        "active": True,
        "flags": "[]",
        "data": canonical_json(data),
        "last_hash": GENESIS,
        "created_at": now,
        "updated_at": now,
    }
    pk = repo.insert_case(conn, values)
    ref = f"HAN-{now.astimezone(OSLO).year}-{pk:06d}"
    repo.set_case_ref(conn, pk, ref)
    row = {**values, "id": pk, "ref": ref}
    case = CaseRow.from_row(row)
    return Work(app, conn, actor, now, case, point, customer, claimed=True)


def run_auto(work: Work, payload: Mapping[str, str] | None = None) -> None:
    """Fire the workflow's auto triggers that are allowed and whose guards hold, in order."""
    wf = work.case.wf
    runner = workflows.runner(wf.name, wf.version)
    payload = payload or {}
    for trig in wf.auto_triggers:
        facts = Facts(work, payload)
        if trig in wf.allowed(work.case.state) and runner.may(work.case.state, trig, facts):
            apply(work, trig, payload, auto=True)


def open_case(
    app: App,
    actor: Actor,
    workflow: str,
    *,
    customer: str,
    metering_point: str | None = None,
    meter_number: str | None = None,
    channel: str | None = None,
    from_email: str | None = None,
    fields: Mapping[str, str] | None = None,
    energipilot_ack: bool = False,
    key: str | None = None,
) -> Result:
    """Open a case. ``fields`` (nore_open) carry a consent given with the order."""
    roles.require_writer(actor)
    try:
        wf = workflows.get(workflow)
    except KeyError:
        raise Refused(
            f"unknown workflow {workflow!r} (workflows: nore_open, meter_swap, close_port)"
        ) from None
    request = {
        "workflow": wf.name,
        "customer": customer,
        "metering_point": metering_point,
        "meter_number": meter_number,
        "channel": channel,
        "from_email": from_email,
        "fields": dict(fields or {}),
        "energipilot_ack": energipilot_ack,
    }
    now = app.clock.now()
    with transaction(app) as uow:
        done = _check_key(uow, "open", key, request)
        if done is not None:
            return done
        cust = _customer(uow, customer)
        warnings: list[str] = []
        data: dict[str, Any] = {}
        if channel is not None:
            data["channel"] = channel
        if wf.name == "close_port":
            work = _open_close_request(
                app, uow, actor, now, cust, meter_number, channel, from_email, warnings
            )
        else:
            if metering_point is None:
                raise Refused(f"{wf.name} needs --metering-point", field="metering-point")
            point = _point(uow, metering_point)
            _check_opening(app, uow, wf.name, point, cust)
            if energipilot_ack:
                data["energipilot_ack"] = True
            work = new_case(app, uow.conn, actor, now, wf.name, point, cust, data)
            record_opened(
                work,
                wf.initial,
                {
                    "fields": {
                        "metering_point": point["gsrn"],
                        "customer": cust["customer_id"],
                        **({"channel": channel} if channel else {}),
                    }
                },
            )
            if fields:
                if wf.name != "nore_open":
                    raise Refused(f"{wf.name} takes no consent fields when opened", field="set")
                apply(work, "record_consent", {"channel": channel or "form", **fields})
            run_auto(work)
        finish(work)
        result = Result(
            work.case.ref,
            wf.name,
            work.case.state,
            work.case.version,
            warnings=warnings,
            cancelled=work.cancelled,
        )
        _store_key(uow, "open", key, request, result, now)
        uow.commit()
    return result


def _open_close_request(
    app: App,
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    cust: dict[str, Any],
    meter_number: str | None,
    channel: str | None,
    from_email: str | None,
    warnings: list[str],
) -> Work:
    if not meter_number:
        raise Refused(
            "close-port needs --meter-number (the customer must give it)", field="meter-number"
        )
    try:
        number, warns = normalise_meter_number(meter_number)
    except InvalidIdentifier as exc:
        raise Refused(str(exc), field="meter-number") from None
    warnings.extend(warns)
    if channel not in ("email", "phone"):
        raise Refused("close-port needs --channel email or phone", field="channel")
    if channel == "email" and not from_email:
        raise Refused("a close request by e-mail needs --from-email", field="from-email")
    seen = repo.points_with_meter(uow.conn, number)
    if not seen:
        raise NotFound(f"meter number {number} is not registered on any metering point")
    latest = seen[0]
    if latest["valid_to"] is not None:
        from hanport.calendar import format_local

        raise Refused(
            f"meter {number} was replaced on {format_local(latest['valid_to'])}; metering point "
            f"{latest['gsrn']} has another meter now: ask the customer for the current number",
            field="meter-number",
        )
    point = repo.point_by_pk(uow.conn, latest["point_id"])
    assert point is not None
    holder_customer = (
        repo.customer_by_pk(uow.conn, point["customer_pk"]) if point["customer_pk"] else None
    )
    holder_id = holder_customer["customer_id"] if holder_customer else None
    own = holder_id == cust["customer_id"]
    if own:
        for c in repo.active_cases_for_point(uow.conn, point["id"]):
            if c["workflow"] == "close_port":
                raise Refused(
                    f"a close is already under way for this meter ({c['ref']}, {c['state']})"
                )
        holding = repo.holding_case(uow.conn, point["id"])
        if point["han_port"] == "none":
            swap = (
                f" (a meter swap is under way: {holding['ref']}; cancel that instead)"
                if holding
                else ""
            )
            raise Refused(f"meter {number} has no HAN port, so there is nothing to close{swap}")
        if point["han_port"] == "closed" and holding is None:
            raise Refused(
                f"the HAN port of meter {number} is already closed, with nothing in flight"
            )
    data = {"channel": channel, "close_reason": "withdrawn", "meter_holder": holder_id}
    work = new_case(app, uow.conn, actor, now, "close_port", point, cust, data)
    record_opened(
        work,
        "requested",
        {
            "fields": {"meter_number": number, "channel": channel, "metering_point": point["gsrn"]},
            **(
                {"personal": {"from_email": app.hash(from_email.strip().lower())}}
                if from_email
                else {}
            ),
        },
    )
    run_auto(work, {"from_email": from_email} if from_email else None)
    return work


# --- advancing a case -------------------------------------------------------------------------


def advance(
    app: App,
    actor: Actor,
    ref: str,
    trigger: str,
    fields: Mapping[str, str] | None = None,
    *,
    note: str | None = None,
    key: str | None = None,
) -> Result:
    roles.require_writer(actor)
    ref = ref.strip().upper()
    request = {
        "case": ref,
        "trigger": workflows.canonical_name(trigger),
        "fields": dict(fields or {}),
        "note": note,
    }
    now = app.clock.now()
    with transaction(app) as uow:
        done = _check_key(uow, "advance", key, request)
        if done is not None:
            return done
        work = Work.load(app, uow.conn, actor, now, ref)
        _hook(app, "after_load")
        before = work.case.state
        apply(work, trigger, fields or {}, note=note)
        finish(work)
        result = Result(
            ref, work.case.workflow, work.case.state, work.case.version, cancelled=work.cancelled
        )
        if before == work.case.state and work.case.state in ("opening", "closing"):
            result.warnings.append("the command will be retried with backoff")
        _store_key(uow, "advance", key, request, result, now)
        uow.commit()
    return result


# --- reading ----------------------------------------------------------------------------------


def case_view(app: App, ref: str) -> dict[str, Any]:
    """Everything ``case show`` prints: state, flags, allowed triggers with their fields,
    pending timers, mail and the history."""
    import json

    from hanport.calendar import format_local

    ref = ref.strip().upper()
    with app.engine.connect() as conn:
        row = repo.case_by_ref(conn, ref)
        if row is None:
            raise NotFound(f"case {ref} not found")
        case = CaseRow.from_row(row)
        point = repo.point_by_pk(conn, case.point_id) or {}
        customer = repo.customer_by_pk(conn, case.customer_pk) or {}
        events = repo.events_for_case(conn, case.id)
        timers = repo.pending_timers(conn, case.id)
        mails = repo.mail_for_case(conn, case.id)
        hes = repo.hes_for_case(conn, case.id)
        consent = (
            repo.consent_by_pk(conn, case.data["consent_id"])
            if case.data.get("consent_id")
            else None
        )
    wf = case.wf
    allowed = []
    for trig in wf.allowed(case.state):
        ts = [t for t in wf.transitions_for(trig) if case.state in t.source]
        if all(t.role.value == "system" and not t.also for t in ts):
            continue
        allowed.append(
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
    return {
        "case": case.ref,
        "workflow": case.workflow,
        "workflow_version": case.workflow_version,
        "state": case.state,
        "state_help": wf.state(case.state).help,
        "version": case.version,
        "active": case.active,
        "flags": case.flags,
        "metering_point": point.get("gsrn"),
        "meter_number": point.get("meter_number"),
        "port": point.get("han_port"),
        "customer": customer.get("customer_id"),
        "created_at": isoformat_utc(case.created_at),
        "allowed": allowed,
        "timers": [
            {
                "name": t["name"],
                "trigger": t["trigger"],
                "due_at": isoformat_utc(t["due_at"]),
                "due_local": format_local(t["due_at"]),
            }
            for t in timers
        ],
        "consent": None
        if consent is None
        else {
            "id": consent["id"],
            "signer_role": consent["signer_role"],
            "channel": consent["channel"],
            "address_match": consent["address_match"],
            "declaration_version": consent["declaration_version"],
            "ended_at": isoformat_utc(consent["ended_at"]) if consent["ended_at"] else None,
            "end_reason": consent["end_reason"],
        },
        "hes_commands": [
            {"id": h["id"], "action": h["action"], "status": h["status"], "attempt": h["attempt"]}
            for h in hes
        ],
        "mail": [
            {"id": m["id"], "template": m["template"], "status": m["status"], "seq": m["seq"]}
            for m in mails
        ],
        "history": [
            {
                "seq": e["seq"],
                "at": isoformat_utc(e["occurred_at"]),
                "at_local": format_local(e["occurred_at"]),
                "actor": e["actor"],
                "actor_kind": e["actor_kind"],
                "trigger": e["trigger"],
                "from": e["from_state"],
                "to": e["to_state"],
                "data": json.loads(e["data"]),
                "hash": e["hash"],
            }
            for e in events
        ],
    }


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
    import json

    from sqlalchemy import and_, exists, or_, select

    C, P, U, T = repo.CASES, repo.POINTS, repo.CUSTOMERS, repo.TIMERS
    stmt = (
        select(
            C.c.ref, C.c.workflow, C.c.state, C.c.flags, C.c.updated_at, P.c.gsrn, U.c.customer_id
        )
        .join(P, P.c.id == C.c.point_id)
        .join(U, U.c.id == C.c.customer_pk)
    )
    conds = []
    if workflow:
        conds.append(C.c.workflow == workflows.canonical_name(workflow))
    if state:
        conds.append(C.c.state == state.replace("-", "_"))
    if customer:
        conds.append(U.c.customer_id == customer)
    if metering_point:
        conds.append(P.c.gsrn == metering_point)
    if attention:
        conds.append(or_(C.c.flags != "[]", C.c.state.in_(("needs_attention", "address_review"))))
    if overdue:
        now = app.clock.now()
        conds.append(
            or_(
                C.c.flags.like('%"sla_breached"%'),
                exists().where(
                    and_(T.c.case_id == C.c.id, T.c.status == "pending", T.c.due_at <= now)
                ),
            )
        )
    if conds:
        stmt = stmt.where(and_(*conds))
    stmt = stmt.order_by(C.c.id).limit(limit)
    with app.engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        {
            "case": r["ref"],
            "workflow": r["workflow"],
            "state": r["state"],
            "flags": json.loads(r["flags"]),
            "metering_point": r["gsrn"],
            "customer": r["customer_id"],
            "updated_at": isoformat_utc(r["updated_at"]),
        }
        for r in rows
    ]
