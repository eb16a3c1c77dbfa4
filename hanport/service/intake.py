"""The customer's web forms: kept as typed, then turned into cases through the service layer.

``SubmitIntake`` keeps the form in one short transaction and decides nothing, so the answer the
customer sees does not depend on what matched. ``ProcessIntakes`` (the server's own pass, the
scheduler, ``hanport tick``) takes each kept intake and finds its metering point and the point's
customer:

- a point with an open request of the same kind: the intake is **merged** into it (recorded on
  the intake, and the customer told at the e-mail on file — at most once an hour per case), so
  neither a repeat nor a bogus request can block the real customer;
- else the case opens, through :func:`hanport.service.cases.open_case` like any other, as the
  actor ``web-intake-<id>`` of kind ``customer`` (never the typed name), with an idempotency key
  made from the intake: a pass that dies between opening and settling opens nothing twice;
- what matches nothing, or what the workflow refuses, goes to the caseworkers (``review``,
  with the reason), never dropped: ``hanport intake list/show/resolve``.

A form never changes what is on file, and nothing here writes to the address typed on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hanport.bootstrap import App
from hanport.declarations import digest
from hanport.errors import HanportError, NotFound, Refused
from hanport.identifiers import InvalidIdentifier, normalise_meter_number, validate_gsrn
from hanport.service import roles
from hanport.service.commands import OpenCase, ProcessIntakes, ResolveIntake, SubmitIntake
from hanport.service.unit import transaction
from hanport.storage.hashing import canonical_json
from hanport.storage.repositories.intakes import IntakeRow, NewIntake
from hanport.storage.uow import UnitOfWork
from hanport.workflows.definition import Actor, Role

WORKFLOW_OF = {"nore_order": "nore_open", "swap_order": "meter_swap", "close_request": "close_port"}
# The version each form's case starts on: the public form runs the Nore process's second
# version (objection window, identity review); the others their configured one.
VERSION_OF: dict[str, int | None] = {"nore_order": 2, "swap_order": None, "close_request": None}
LANGUAGES = ("nb", "nn", "en")
# The form's words for who signed, in the workflow's.
SIGNER_ROLE = {
    "customer": "subscriber",
    "representative": "power_of_attorney",
    "organisation": "organisation",
}
MAX_FIELDS = 20
MAX_VALUE = 2000
MERGE_NOTICE_EVERY = timedelta(hours=1)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,64}")


@dataclass(frozen=True)
class Receipt:
    intake_id: int
    duplicate: bool


@dataclass
class Processed:
    """What one pass did: intakes by outcome, and each one's (id, outcome, case)."""

    done: int = 0
    merged: int = 0
    review: int = 0
    items: list[tuple[int, str, str | None]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.done + self.merged + self.review


def intake_actor(intake_id: int) -> Actor:
    """Who a web intake's case is opened by: a fixed name and the intake's id."""
    return Actor(f"web-intake-{intake_id}", Role.CUSTOMER, "customer")


# --- keeping ----------------------------------------------------------------------------------


def _check(cmd: SubmitIntake) -> None:
    if cmd.form not in WORKFLOW_OF:
        raise Refused(f"unknown form {cmd.form!r} (forms: {', '.join(WORKFLOW_OF)})", field="form")
    if cmd.language not in LANGUAGES:
        raise Refused(f"language {cmd.language!r} is not nb, nn or en", field="language")
    if not _TOKEN.fullmatch(cmd.form_token):
        raise Refused("the form token is malformed", field="form_token")
    if len(cmd.fields) > MAX_FIELDS:
        raise Refused(f"more than {MAX_FIELDS} fields", field="fields")
    for name, value in cmd.fields.items():
        if not isinstance(value, str) or len(value) > MAX_VALUE:
            raise Refused(f"field {name} is not text of at most {MAX_VALUE} characters", field=name)
    if cmd.form == "nore_order":
        expected = digest(cmd.declaration_version, cmd.language)
        if expected is None or expected != cmd.declaration_sha256:
            raise Refused(
                "the declaration's version and text digest do not match a declaration text",
                field="declaration",
            )


def submit(app: App, actor: Actor, cmd: SubmitIntake) -> Receipt:
    """Keep the form as typed (a repeated form token keeps the first)."""
    if actor.role not in (Role.CUSTOMER, Role.SYSTEM):
        raise Refused(f"{actor.name} is {actor.role.value}: intakes come from the web form")
    _check(cmd)
    kept = NewIntake(
        cmd.form,
        cmd.form_token,
        cmd.language,
        app.clock.now(),
        cmd.declaration_version,
        cmd.declaration_sha256,
        canonical_json(dict(cmd.fields)),
    )
    with transaction(app) as uow:
        intake_id, duplicate = uow.intakes.add(kept)
        uow.commit()
    return Receipt(intake_id, duplicate)


# --- processing -------------------------------------------------------------------------------


class _Review(Exception):
    """The intake goes to the caseworkers, for this reason (nothing typed repeated)."""


@dataclass(frozen=True)
class _Target:
    gsrn: str
    customer_id: str
    customer_pk: int
    open_case: tuple[int, str] | None  # (id, ref) of an open request of the same kind
    swap: tuple[int, str] | None = None  # a meter swap waiting for the new meter's consent


def process(app: App, actor: Actor, cmd: ProcessIntakes) -> Processed:
    """One pass over the kept intakes, oldest first; each is settled in its own transaction."""
    if actor.role is not Role.SYSTEM:
        raise Refused(f"{actor.name} is {actor.role.value}: the intake pass is the system's")
    with transaction(app) as uow:
        rows = uow.intakes.claim(max(1, cmd.limit))
    out = Processed()
    for row in rows:
        status, outcome, case = _one(app, row)
        setattr(out, status, getattr(out, status) + 1)
        out.items.append((row.id, outcome, case))
    return out


def _one(app: App, row: IntakeRow) -> tuple[str, str, str | None]:
    fields: dict[str, str] = json.loads(row.fields or "{}")
    now = app.clock.now()
    opened = _opened_before(app, row.id)
    if opened is not None:  # an earlier pass opened it and died before settling
        return _done(app, row.id, opened, now)
    try:
        target = _target(app, row.form, fields)
    except _Review as why:
        _settle(app, row.id, "review", str(why), now)
        return "review", str(why), None
    if target.swap is not None:  # the consent form for a swapped meter
        case_id, ref = target.swap
        note = (
            f"the consent for the new meter of meter swap {ref}: a caseworker records it on "
            "that case (case advance … record-consent, channel form), then resolves this intake"
        )
        _settle(app, row.id, "review", note, now, case_id, target.customer_pk)
        return "review", note, ref
    if target.open_case is not None:
        case_id, ref = target.open_case
        _merge(app, row, target, now)
        _settle(app, row.id, "merged", f"merged into {ref}", now, case_id, target.customer_pk)
        return "merged", f"merged into {ref}", ref
    try:
        result = _open(app, row, fields, target)
    except (Refused, NotFound) as exc:
        reason = f"the {WORKFLOW_OF[row.form]} workflow refused it: {exc}"
        _settle(app, row.id, "review", reason, now, None, target.customer_pk)
        return "review", reason, None
    return _done(app, row.id, result.case, now)


def _key(intake_id: int) -> str:
    return f"intake-{intake_id}"


def _opened_before(app: App, intake_id: int) -> str | None:
    """The case an earlier pass opened for this intake (its idempotency key), if any."""
    with transaction(app) as uow:
        kept = uow.idempotency.get("open", _key(intake_id))
    return None if kept is None else str(kept.result["case"])


def _done(app: App, intake_id: int, ref: str, now: datetime) -> tuple[str, str, str | None]:
    outcome = f"opened {ref}"
    with transaction(app) as uow:
        case_id = uow.cases.id_of(ref)
        pk = uow.cases.customer_pk_of(ref)
        uow.intakes.settle(intake_id, "done", outcome, now, case_id=case_id, customer_pk=pk)
        uow.commit()
    return "done", outcome, ref


def _settle(
    app: App,
    intake_id: int,
    status: str,
    outcome: str,
    now: datetime,
    case_id: int | None = None,
    customer_pk: int | None = None,
) -> None:
    with transaction(app) as uow:
        uow.intakes.settle(
            intake_id, status, outcome, now, case_id=case_id, customer_pk=customer_pk
        )
        uow.commit()


def _point(uow: UnitOfWork, meter: str) -> str:
    """The metering point a form's meter field names: a metering point ID, or the number of
    the meter on a point now."""
    digits = "".join(meter.split())
    if len(digits) == 18:
        try:
            return validate_gsrn(digits)
        except InvalidIdentifier:
            raise _Review("the metering point ID given is not valid") from None
    try:
        number, _ = normalise_meter_number(digits)
    except InvalidIdentifier:
        raise _Review("the meter number given is not valid") from None
    seen = uow.ports.meter_seen([number])
    if not seen:
        raise _Review("no metering point has the meter number given")
    if seen[0].valid_to is not None:
        raise _Review("the meter number given was replaced: the point has another meter now")
    return seen[0].gsrn


def _target(app: App, form: str, fields: dict[str, str]) -> _Target:
    workflow = WORKFLOW_OF[form]
    with transaction(app) as uow:
        gsrn = _point(uow, fields.get("meter", ""))
        loaded = uow.cases.load("gsrn", [gsrn])
        if not loaded.points:
            raise _Review("no metering point has the ID given")
        point = loaded.points[0]
        if point.customer_pk is None:
            raise _Review(f"metering point {gsrn} has no customer on file")
        cust = uow.customers.by_pk(point.customer_pk)
        if cust is None:  # pragma: no cover - a foreign key
            raise _Review(f"metering point {gsrn} has no customer on file")
        live = [b.case for b in loaded.cases if b.case.active and b.case.point_id == point.id]
    same = [c for c in live if c.workflow == workflow]
    waiting = [c for c in live if c.workflow == "meter_swap" and c.state == "awaiting_consent"]
    held = (same[0].id, same[0].ref) if same else None
    swap = (waiting[0].id, waiting[0].ref) if waiting and form == "nore_order" else None
    return _Target(gsrn, cust.customer_id, cust.id, held, swap)


def _open(app: App, row: IntakeRow, fields: dict[str, str], target: _Target) -> Any:
    from hanport.service.cases import open_case

    form = row.form
    consent: dict[str, str] = {}
    if form == "nore_order":
        consent = {
            "signer_name": fields.get("signer_name", ""),
            "signer_role": SIGNER_ROLE.get(fields.get("signer_role", ""), "subscriber"),
            "address": fields.get("address", ""),
            "postal_code": fields.get("postal_code", ""),
            "security": fields.get("security", ""),
            "from_email": fields.get("email", ""),
            "declaration_version": row.declaration_version or "",
            "received_at": row.received_at.isoformat(),
        }
    cmd = OpenCase(
        WORKFLOW_OF[form],
        customer=target.customer_id,
        metering_point=target.gsrn if form != "close_request" else None,
        meter_number=fields.get("meter") if form == "close_request" else None,
        channel="form",
        fields=consent,
        energipilot_ack=fields.get("energipilot_ack") == "yes",
        key=_key(row.id),
        version=VERSION_OF[form],
    )
    return open_case(app, intake_actor(row.id), cmd)


def _merge(app: App, row: IntakeRow, target: _Target, now: datetime) -> None:
    """Tell the customer at the e-mail on file that a request came in again (once an hour at
    most per case: the form must not become a way to flood anyone's mailbox)."""
    from hanport.service.notices import merged_notice

    assert target.open_case is not None
    case_id, ref = target.open_case
    with transaction(app) as uow:
        if uow.outbox.recent(case_id, "request_merged", now - MERGE_NOTICE_EVERY):
            return
        rows = merged_notice(app, uow, case_id, ref, row.id, now)
        uow.outbox.insert(rows)
        uow.commit()


# --- the caseworkers' side --------------------------------------------------------------------


def resolve(app: App, actor: Actor, cmd: ResolveIntake) -> str:
    """Settle an intake under review with a note (and the case opened for it, if any)."""
    roles.require_writer(actor)
    if actor.role in (Role.CUSTOMER, Role.SYSTEM):
        raise Refused(f"{actor.name} is {actor.role.value}: a caseworker resolves intakes")
    note = cmd.note.strip()
    if not note:
        raise Refused("resolving an intake needs a note saying what was done", field="note")
    now = app.clock.now()
    with transaction(app) as uow:
        row = uow.intakes.get(cmd.intake_id, lock=True)
        if row is None:
            raise NotFound(f"intake {cmd.intake_id} not found")
        if row.status != "review":
            raise Refused(
                f"intake {cmd.intake_id} is {row.status}, not under review: nothing to resolve",
                field="intake",
            )
        case_id = _case_id(uow, cmd.case)
        changed = uow.intakes.resolve(row.id, actor.name, now, note, case_id=case_id)
        if changed != 1:  # pragma: no cover - the row is locked (PostgreSQL) or ours (SQLite)
            raise HanportError(f"intake {cmd.intake_id} changed meanwhile; retry")
        uow.commit()
    return "resolved"


def _case_id(uow: UnitOfWork, ref: str | None) -> int | None:
    if ref is None:
        return None
    case_id = uow.cases.id_of(ref.strip().upper())
    if case_id is None:
        raise NotFound(f"case {ref} not found")
    return case_id
