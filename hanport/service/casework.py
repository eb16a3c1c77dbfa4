"""Running one trigger on one case inside a unit of work.

``Work`` holds what a command has loaded (case, point, customer) and collects what it writes;
``apply`` runs a trigger through the case's pinned workflow and performs the declared effects:
timers, flags, notices (mail intents), HES commands, consents, the point's port state. ``finish``
writes the case with a compare-and-swap on its version and appends the events, chained by hash.
Nothing here commits or talks to the outside world.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from hanport import workflows
from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import Conflict, NotFound, Refused
from hanport.notifications.outbox import intent_row
from hanport.service.fields import clean_fields
from hanport.storage import repository as repo
from hanport.storage.hashing import canonical_event, canonical_json, chain_hash
from hanport.workflows.definition import Notice, Role, Timer, TimerKind, Transition, Workflow
from hanport.workflows.guards import GUARDS
from hanport.workflows.runner import Decision, NotAllowed

ROLE_RANK = {Role.AUDITOR: 0, Role.CASEWORKER: 1, Role.SUPERVISOR: 2}


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role
    kind: str  # caseworker | supervisor | scheduler | batch | hes | system | customer

    @classmethod
    def system(cls, kind: str = "system", name: str | None = None) -> Actor:
        return cls(name or kind, Role.SYSTEM, kind)


@dataclass
class CaseRow:
    id: int
    ref: str
    workflow: str
    workflow_version: int
    state: str
    version: int
    point_id: int
    customer_pk: int
    holds_port: bool
    active: bool
    flags: list[str]
    data: dict[str, Any]
    last_hash: str
    created_at: datetime
    original_version: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CaseRow:
        return cls(
            id=row["id"],
            ref=row["ref"],
            workflow=row["workflow"],
            workflow_version=row["workflow_version"],
            state=row["state"],
            version=row["version"],
            point_id=row["point_id"],
            customer_pk=row["customer_pk"],
            holds_port=bool(row["holds_port"]),
            active=bool(row["active"]),
            flags=list(json.loads(row["flags"])),
            data=dict(json.loads(row["data"])),
            last_hash=row["last_hash"],
            created_at=row["created_at"],
            original_version=row["version"],
        )

    @property
    def wf(self) -> Workflow:
        return workflows.get(self.workflow, self.workflow_version)


@dataclass
class Work:
    """One case's share of a command: what was loaded, and the events to append."""

    app: App
    conn: Connection
    actor: Actor
    now: datetime
    case: CaseRow
    point: dict[str, Any]
    customer: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    # Set when another case takes the point over: the consent's end reason, no close behind.
    superseded_reason: str | None = None
    # When set, events and mail rows are collected here and written by the caller in bulk
    # (the timer batch); otherwise each command writes its own.
    deferred: dict[str, list[dict[str, Any]]] | None = None
    # Cases this command cancelled on the way (a close request taking over an opening).
    cancelled: list[str] = field(default_factory=list)
    # The case row is locked at the version loaded (a new case, a claimed timer batch, or after
    # the first ``claim``).
    claimed: bool = False

    def claim(self) -> None:
        if not self.claimed:
            if not repo.claim_case(self.conn, self.case.id, self.case.original_version):
                raise Conflict(
                    f"case {self.case.ref} was changed by someone else meanwhile: nothing written; retry"
                )
            self.claimed = True

    @classmethod
    def load(cls, app: App, conn: Connection, actor: Actor, now: datetime, ref: str) -> Work:
        found = repo.case_full_by_ref(conn, ref)
        if found is None:
            raise NotFound(f"case {ref} not found")
        row, point, customer = found
        return cls(app, conn, actor, now, CaseRow.from_row(row), point, customer)

    @classmethod
    def for_row(
        cls, app: App, conn: Connection, actor: Actor, now: datetime, row: Mapping[str, Any]
    ) -> Work:
        case = CaseRow.from_row(row)
        point = repo.point_by_pk(conn, case.point_id)
        customer = repo.customer_by_pk(conn, case.customer_pk)
        assert point is not None and customer is not None
        return cls(app, conn, actor, now, case, point, customer)


# --- guard inputs -----------------------------------------------------------------------------


class Facts(Mapping[str, Any]):
    """Guard inputs, computed on demand from the case, its point and customer, and the command's
    fields. Personal values are salted hashes."""

    def __init__(self, work: Work, fields: Mapping[str, Any]) -> None:
        self.work = work
        self.fields = fields
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            provider = _FACTS.get(name)
            if provider is None:
                raise KeyError(name)
            self._cache[name] = provider(self.work, self.fields)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_FACTS)

    def __len__(self) -> int:
        return len(_FACTS)


def _address_hash(work: Work, street: str | None, postal: str | None) -> str | None:
    from hanport.address import normalise_street

    if not street or not postal:
        return None
    return work.app.hash(f"{normalise_street(street)}|{postal.strip()}")


def _email_hash(work: Work, email: str | None) -> str | None:
    return work.app.hash(email.strip().lower()) if email else None


_FACTS: dict[str, Callable[[Work, Mapping[str, Any]], Any]] = {
    "consent_address": lambda w, f: _address_hash(w, f.get("address"), f.get("postal_code")),
    "installation_address": lambda w, f: _address_hash(
        w, w.point["street"], w.point["postal_code"]
    ),
    "postal_address": lambda w, f: _address_hash(
        w, w.customer["street"], w.customer["postal_code"]
    ),
    "channel": lambda w, f: f.get("channel", w.case.data.get("channel")),
    "from_email": lambda w, f: _email_hash(w, f.get("from_email")),
    "registered_email": lambda w, f: _email_hash(w, w.customer["email"]),
    "hes_failures": lambda w, f: int(w.case.data.get("hes_failures", 0)),
    "hes_max_attempts": lambda w, f: w.app.settings.hes_max_attempts,
    "energipilot": lambda w, f: bool(w.customer["energipilot"]),
    "energipilot_ack": lambda w, f: bool(w.case.data.get("energipilot_ack")),
    "meter_holder": lambda w, f: w.case.data.get("meter_holder"),
    "customer": lambda w, f: w.customer["customer_id"],
    "effective_at": lambda w, f: w.case.data.get("effective_at"),
    "now": lambda w, f: isoformat_utc(w.now),
    "close_reason": lambda w, f: w.case.data.get("close_reason"),
}


# --- applying a trigger -----------------------------------------------------------------------


def role_allows(actor: Actor, t: Transition) -> bool:
    if actor.role is Role.SYSTEM:
        return t.role is Role.SYSTEM or Role.SYSTEM in t.also
    if t.role is Role.SYSTEM:
        return False
    return ROLE_RANK.get(actor.role, 0) >= ROLE_RANK[t.role]


def apply(
    work: Work,
    trigger: str,
    payload: Mapping[str, str] | None = None,
    *,
    note: str | None = None,
    auto: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Decision:
    """Run ``trigger`` on the case; raise ``Refused`` (nothing kept) when it is not allowed.

    ``auto`` marks a consequence of a command already authorised (auto triggers after opening,
    a take-over): no role check, unknown fields ignored. ``extra`` goes into the event's data.
    """
    case = work.case
    wf = case.wf
    trigger = workflows.canonical_name(trigger)
    if trigger not in wf.triggers:
        raise Refused(
            f"{wf.name} has no trigger {trigger!r} (triggers: {', '.join(wf.triggers)})",
            field="trigger",
        )
    if not case.active and trigger not in wf.allowed(case.state):
        raise Refused(f"case {case.ref} is {case.state} (final): {trigger} is not allowed")
    if not auto:
        candidates = [t for t in wf.transitions_for(trigger) if case.state in t.source]
        if candidates and not any(role_allows(work.actor, t) for t in candidates):
            roles_needed = sorted({t.role.value for t in candidates})
            who = "the system" if roles_needed == ["system"] else "a " + " or ".join(roles_needed)
            raise Refused(
                f"{trigger} on {case.ref} is for {who}; {work.actor.name} is {work.actor.role.value}"
            )
    clean, personal = clean_fields(wf, trigger, payload or {}, case.state, strict=not auto)
    # An auto trigger's guards may read what the opening command carried (e.g. the sender).
    facts = Facts(work, {**payload, **clean} if auto and payload else clean)
    try:
        decision = workflows.runner(wf.name, wf.version).decide(case.state, trigger, facts)
    except NotAllowed as exc:
        raise Refused(f"case {case.ref}: {exc}") from None
    t = decision.transition
    if not auto and not role_allows(work.actor, t):
        who = "the system" if t.role is Role.SYSTEM else f"a {t.role.value}"
        raise Refused(
            f"{trigger} on {case.ref} is for {who}; {work.actor.name} is {work.actor.role}"
        )
    if t.note_required and not note:
        raise Refused(f"{trigger} needs a note (--note TEXT)", field="note")
    for f in t.fields:
        if f.required and f.name not in clean:
            raise Refused(f"{trigger} needs the field {f.name}: {f.help}", field=f.name)

    work.claim()
    seq = case.version + 1
    data: dict[str, Any] = {}
    if clean:
        data["fields"] = {k: v for k, v in clean.items() if k not in personal}
        hashed = {k: work.app.hash(str(v)) for k, v in clean.items() if k in personal}
        if hashed:
            data["personal"] = hashed
    if decision.guards:
        data["guards"] = decision.guards
    if auto:
        data["auto"] = True
    if extra:
        data.update(extra)
    if note:
        data["note"] = work.app.hash(note)
        _note(work, seq, "note", note)
    if "reason" in clean:
        _note(work, seq, "reason", str(clean["reason"]))

    source, dest = decision.source, t.dest
    entered = dest is not None
    new_state = dest if dest is not None else source
    src_state, dst_state = wf.state(source), wf.state(new_state)
    fx = Effects(work, decision, clean, seq, data)

    if entered:
        fx.cancel_timers([tm.name for tm in _state_timers(wf, source)], f"left {source}")
        if src_state.flag and src_state.flag != dst_state.flag:
            fx.flag(src_state.flag, False)
    for name in t.effects:
        fx.run(name)
    for flag_name in t.clears_flags:
        fx.flag(flag_name, False)
    for flag_name in t.sets_flags:
        fx.flag(flag_name, True)
    case.state = new_state
    case.holds_port = dst_state.holds_port and not dst_state.final
    case.active = not dst_state.final
    if entered:
        if dst_state.flag:
            fx.flag(dst_state.flag, True)
        for name in dst_state.effects:
            fx.run(name)
        for tm in _state_timers(wf, new_state):
            fx.start_timer(tm)
    for tm in wf.timers:
        if tm.kind is TimerKind.CASE:
            if _matches(tm.start_on, trigger, new_state) and not repo.timer_started(
                work.conn, case.id, tm.name
            ):
                fx.start_timer(tm)
            if _matches(tm.stop_on, trigger, new_state):
                fx.cancel_timers([tm.name], f"stopped by {trigger}")
    if dst_state.final:
        fx.cancel_timers(None, f"case {new_state}")
    notices = [*t.notices, *(dst_state.notices if entered else ())]
    fx.notify(notices, facts)

    _append_event(work, seq, trigger, source, new_state, data)
    return decision


def _matches(specs: tuple[str, ...], trigger: str, dest: str) -> bool:
    return any(s == trigger or s == f"{trigger}:{dest}" for s in specs)


def _state_timers(wf: Workflow, state: str) -> list[Timer]:
    return [tm for tm in wf.timers if tm.state == state and tm.kind is not TimerKind.CASE]


def _note(work: Work, seq: int, kind: str, body: str) -> None:
    repo.insert_note(
        work.conn,
        {
            "case_id": work.case.id,
            "seq": seq,
            "kind": kind,
            "author": work.actor.name,
            "body": body,
            "created_at": work.now,
        },
    )


def _append_event(
    work: Work, seq: int, trigger: str, source: str | None, dest: str, data: dict[str, Any]
) -> None:
    case = work.case
    occurred = isoformat_utc(work.now)
    ev = canonical_event(
        case_ref=case.ref,
        seq=seq,
        occurred_at=occurred,
        actor=work.actor.name,
        actor_kind=work.actor.kind,
        trigger=trigger,
        from_state=source,
        to_state=dest,
        workflow=case.workflow,
        workflow_version=case.workflow_version,
        data=data,
    )
    h = chain_hash(case.last_hash, ev)
    work.events.append(
        {
            "case_id": case.id,
            "seq": seq,
            "occurred_at": work.now,
            "actor": work.actor.name,
            "actor_kind": work.actor.kind,
            "trigger": trigger,
            "from_state": source,
            "to_state": dest,
            "workflow_version": case.workflow_version,
            "data": canonical_json(data),
            "prev_hash": case.last_hash,
            "hash": h,
        }
    )
    case.last_hash = h
    case.version = seq


def record_opened(work: Work, initial: str, data: dict[str, Any]) -> None:
    """The first event of a case: opened into its initial state (timers and notices included)."""
    wf = work.case.wf
    seq = work.case.version + 1
    fx = Effects(work, None, {}, seq, data)
    for tm in _state_timers(wf, initial):
        fx.start_timer(tm)
    facts = Facts(work, {})
    fx.notify([*wf.open_notices, *wf.state(initial).notices], facts)
    _append_event(work, seq, "open", None, initial, data)


def finish(work: Work) -> None:
    """Write the case (compare-and-swap on its version) and append its events."""
    case = work.case
    ok = repo.cas_update_case(
        work.conn,
        case.id,
        case.original_version,
        {
            "state": case.state,
            "version": case.version,
            "holds_port": case.holds_port,
            "active": case.active,
            "flags": canonical_json(sorted(set(case.flags))),
            "data": canonical_json(case.data),
            "last_hash": case.last_hash,
            "updated_at": work.now,
        },
    )
    if not ok:
        raise Conflict(
            f"case {case.ref} was changed by someone else meanwhile: nothing written; retry"
        )
    if work.deferred is not None:
        work.deferred["events"].extend(work.events)
    else:
        repo.insert_events(work.conn, work.events)
    case.original_version = case.version
    work.events = []


# --- effects ----------------------------------------------------------------------------------


# The port's state while a command for it is out.
TRANSIT = {"open": "opening", "close": "closing"}


class Effects:
    """The named effects a workflow declares, run inside the command's transaction."""

    def __init__(
        self,
        work: Work,
        decision: Decision | None,
        fields: Mapping[str, Any],
        seq: int,
        data: dict[str, Any],
    ) -> None:
        self.work = work
        self.decision = decision
        self.fields = fields
        self.seq = seq
        self.data = data

    # bookkeeping shared by the effects

    def _record(self, key: str, value: Any) -> None:
        self.data.setdefault("effects", {})[key] = value

    def flag(self, name: str, on: bool) -> None:
        flags = self.work.case.flags
        if on and name not in flags:
            flags.append(name)
            self.data.setdefault("flags_set", []).append(name)
        elif not on and name in flags:
            flags.remove(name)
            self.data.setdefault("flags_cleared", []).append(name)

    def start_timer(self, tm: Timer) -> None:
        w = self.work
        if tm.kind is TimerKind.ABSOLUTE:
            from hanport.calendar import parse_instant

            at = w.case.data.get(tm.at_field or "")
            if not at:
                return
            due = parse_instant(at)
        else:
            assert tm.after is not None
            d = w.app.settings.timer_duration(tm.config_key, tm.after)
            due = w.app.calendar.add(w.now, hours=d.hours, days=d.days, working_days=d.working_days)
        self._start(tm, due)

    def _start(self, tm: Timer, due: datetime) -> None:
        w = self.work
        tid = repo.insert_timer(
            w.conn,
            {
                "case_id": w.case.id,
                "name": tm.name,
                "kind": tm.kind.value,
                "trigger": tm.trigger,
                "due_at": due,
                "status": "pending",
                "created_at": w.now,
                "started_seq": self.seq,
            },
        )
        self.data.setdefault("timers_started", []).append(
            {"id": tid, "name": tm.name, "due_at": isoformat_utc(due)}
        )

    def cancel_timers(self, names: list[str] | None, outcome: str) -> None:
        n = repo.cancel_timers(self.work.conn, self.work.case.id, names, self.work.now, outcome)
        if n:
            self.data.setdefault("timers_cancelled", []).extend(names or ["*"])

    def notify(self, notices: list[Notice], facts: Facts) -> None:
        w = self.work
        templates = [n.template for n in notices if _notice_applies(n, facts)]
        if not templates:
            return
        rows = [self._mail(template) for template in templates]
        if w.deferred is not None:
            w.deferred["mail"].extend(rows)
        else:
            repo.insert_mail(w.conn, rows)
        self.data["notices"] = templates
        if any(r["status"] == "no_address" for r in rows):
            self.flag("no_email", True)

    def _mail(self, template: str) -> dict[str, Any]:
        """A mail intent, rendered now: the outbox holds exactly what will be sent."""
        from hanport.notifications.render import render

        w = self.work
        settings = w.app.settings
        meter = w.point["meter_number"] or ""
        context: dict[str, Any] = {
            "case_ref": w.case.ref,
            "workflow": w.case.workflow,
            "customer_name": w.customer["name"] or w.customer["customer_id"],
            "meter_last4": meter[-4:],
            "sender_name": settings.sender_name,
            "contact_address": settings.sender_address,
            **{k: v for k, v in w.case.data.items() if k in _MAIL_DATA},
            **{k: v for k, v in self.fields.items() if k in _MAIL_FIELDS},
        }
        if template == "swap_queued":
            from hanport.queries.swapqueue import expected_wait_weeks

            context["wait_weeks_min"], context["wait_weeks_max"] = expected_wait_weeks(
                w.conn, settings, w.now
            )
        domain = settings.sender_address.rpartition("@")[2] or "hanport.invalid"
        language = w.customer["language"] if w.customer["language"] in ("nb", "en") else "nb"
        rendered = render(template, language, context)
        row = intent_row(
            case_id=w.case.id,
            case_ref=w.case.ref,
            seq=self.seq,
            template=template,
            language=w.customer["language"],
            recipient=w.customer["email"],
            context=context,
            now=w.now,
            domain=domain,
        )
        row.update(subject=rendered.subject, body_text=rendered.text, body_html=rendered.html)
        return row

    def run(self, spec: str) -> None:
        name, _, arg = spec.partition(":")
        handler = getattr(self, f"fx_{name}", None)
        if handler is None:  # pragma: no cover - definitions are checked by a test
            raise RuntimeError(f"unknown effect {name}")
        handler(arg or None)

    # consent

    def fx_record_consent(self, _: str | None) -> None:
        w, f = self.work, self.fields
        facts = Facts(w, f)
        if (
            facts["consent_address"] is not None
            and facts["consent_address"] == facts["installation_address"]
        ):
            match = "installation"
        elif (
            facts["consent_address"] is not None
            and facts["consent_address"] == facts["postal_address"]
        ):
            match = "postal_address"
        else:
            match = "none"
        from hanport.calendar import parse_instant

        dest = self.decision.transition.dest if self.decision else None
        consent_id = repo.insert_consent(
            w.conn,
            {
                "case_id": w.case.id,
                "customer_pk": w.case.customer_pk,
                "point_id": w.case.point_id,
                "meter_number": w.point["meter_number"],
                "source": "case",
                "signer_name": f.get("signer_name"),
                "signer_role": f.get("signer_role"),
                "address_written": f.get("address"),
                "postal_code_written": f.get("postal_code"),
                "address_match": match,
                "security": f.get("security"),
                "channel": f.get("channel"),
                "from_email": f.get("from_email"),
                "declaration_version": f.get("declaration_version"),
                "received_at": parse_instant(f["received_at"]) if f.get("received_at") else None,
                "recorded_at": w.now,
                "recorded_by": w.actor.name,
                "validated_by": w.actor.name if dest != "address_review" else None,
            },
        )
        previous = w.case.data.get("consent_id")
        if previous:
            repo.end_consent(w.conn, previous, w.now, "cancelled")
        w.case.data["consent_id"] = consent_id
        self._record("consent_id", consent_id)
        self._record("address_match", match)

    def fx_validate_consent(self, _: str | None) -> None:
        cid = self.work.case.data.get("consent_id")
        if cid:
            repo.update_consent(self.work.conn, cid, validated_by=self.work.actor.name)

    def fx_end_consent(self, reason: str | None) -> None:
        w = self.work
        reason = w.superseded_reason or reason or w.case.data.get("close_reason") or "withdrawn"
        ended = []
        own = w.case.data.get("consent_id")
        if own and repo.end_consent(w.conn, own, w.now, reason):
            ended.append(own)
        if w.case.workflow == "close_port":
            live = repo.point_by_pk(w.conn, w.case.point_id)
            cid = live["consent_id"] if live else None
            if cid and repo.end_consent(w.conn, cid, w.now, reason):
                ended.append(cid)
        if ended:
            self._record("consent_ended", {"ids": ended, "reason": reason})

    def fx_energipilot_ack(self, _: str | None) -> None:
        self.work.case.data["energipilot_ack"] = True

    # the metering point

    def fx_install_meter(self, _: str | None) -> None:
        from hanport.calendar import parse_instant

        w = self.work
        number = str(self.fields["meter_number"])
        installed_at = parse_instant(str(self.fields["installed_at"]))
        for other in repo.points_with_meter(w.conn, number):
            if other["point_id"] != w.case.point_id or other["valid_to"] is None:
                raise Refused(
                    f"meter number {number} is already registered on metering point "
                    f"{other['gsrn']}",
                    field="meter_number",
                )
        from hanport.service.meters import replace_meter

        replace_meter(w.conn, w.case.point_id, number, installed_at, source=w.case.ref)
        repo.set_port(
            w.conn,
            w.case.point_id,
            "closed",
            installed_at,
            f"new meter {number} installed ({w.case.ref})",
            case_id=w.case.id,
            meter_number=number,
        )
        w.point = repo.point_by_pk(w.conn, w.case.point_id) or w.point
        self._record("meter_installed", {"meter_number": number, "at": isoformat_utc(installed_at)})

    def fx_take_over_point(self, _: str | None) -> None:
        """Cancel the in-flight opening or swap holding this point; its consent ends with this
        close's reason."""
        w = self.work
        holder = repo.holding_case(w.conn, w.case.point_id)
        if holder is None or holder["id"] == w.case.id:
            return
        if holder["workflow"] == "close_port":
            raise Refused(f"a close is already in progress for this point ({holder['ref']})")
        other = Work.for_row(w.app, w.conn, w.actor, w.now, holder)
        other.superseded_reason = w.case.data.get("close_reason") or "withdrawn"
        apply(
            other,
            "cancel",
            {"reason": f"superseded by close {w.case.ref}"},
            auto=True,
            extra={"superseded_by": w.case.ref},
        )
        finish(other)
        self._record("took_over", holder["ref"])
        w.cancelled.append(holder["ref"])

    # HES commands

    def _hes(self, action: str, not_before: datetime | None = None) -> int:
        w = self.work
        area = w.app.settings.area(w.point["municipality"])
        cmd = repo.insert_hes(
            w.conn,
            {
                "case_id": w.case.id,
                "point_id": w.case.point_id,
                "action": action,
                "status": "pending",
                "attempt": int(w.case.data.get("hes_failures", 0)) + 1,
                "adapter": area.hes_adapter if area else "manual",
                "not_before": not_before or w.now,
                "created_at": w.now,
            },
        )
        ahead = repo.hes_out_for_others(w.conn, w.case.point_id, w.case.id)
        if ahead:
            # Queued behind another case's command (a close left by a cancelled case): the port
            # stays as that one leaves it until this one is sent (the dispatch records it).
            self._record(f"hes_{action}", cmd)
            self._record("hes_queued_behind", [c["id"] for c in ahead])
            return cmd
        repo.set_port(
            w.conn,
            w.case.point_id,
            TRANSIT[action],
            w.now,
            f"{action} command sent to the HES ({w.case.ref})",
            case_id=w.case.id,
            hes_command_id=cmd,
        )
        self._record(f"hes_{action}", cmd)
        return cmd

    def fx_hes_open(self, _: str | None) -> None:
        self._hes("open")

    def fx_hes_close(self, _: str | None) -> None:
        self._hes("close")

    def _ack(self, action: str, result: str) -> None:
        """Settle the case's command — refused while another case's command for the point is
        still out: it would change the port after this answer (a close left behind by a
        cancelled case runs before this case's command and must be settled first)."""
        w = self.work
        ahead = repo.hes_out_for_others(w.conn, w.case.point_id, w.case.id)
        if ahead:
            c = ahead[0]
            raise Refused(
                f"{c['action']} command #{c['id']} of {c['ref']} for this metering point is "
                f"still {'out' if c['status'] != 'pending' else 'waiting to be sent'}; it "
                "would change the port after this answer: record it once that one is settled"
            )
        repo.ack_latest_hes(w.conn, w.case.id, action, "acked", w.now, result)

    def fx_port_opened(self, _: str | None) -> None:
        w = self.work
        self._ack("open", "opened")
        cid = w.case.data.get("consent_id")
        repo.set_port(
            w.conn,
            w.case.point_id,
            "open",
            w.now,
            f"opened, acknowledged by {w.actor.name} ({w.case.ref})",
            consent_id=cid,
            case_id=w.case.id,
        )
        if cid:
            repo.update_consent(w.conn, cid, opened_at=w.now)

    def fx_port_closed(self, _: str | None) -> None:
        w = self.work
        self._ack("close", "closed")
        repo.set_port(
            w.conn,
            w.case.point_id,
            "closed",
            w.now,
            f"closed, acknowledged by {w.actor.name} ({w.case.ref})",
            consent_id=None,
            case_id=w.case.id,
        )

    def fx_hes_failed(self, _: str | None) -> None:
        w = self.work
        action = "open" if w.case.state == "opening" else "close"
        cmd = repo.latest_hes(w.conn, w.case.id, action)
        error = str(self.fields.get("error") or "failure reported")
        if cmd is not None and cmd["status"] in ("pending", "sent"):
            repo.update_hes(w.conn, cmd["id"], status="failed", done_at=w.now, error=error)
        failures = int(w.case.data.get("hes_failures", 0)) + 1
        w.case.data["hes_failures"] = failures
        self._record("hes_failures", failures)

    def _retry(self, action: str) -> None:
        w = self.work
        failures = int(w.case.data.get("hes_failures", 1))
        backoff = timedelta(minutes=w.app.settings.hes_backoff_minutes * 2 ** (failures - 1))
        not_before = w.now + backoff
        self._hes(action, not_before)
        wf = w.case.wf
        timeouts = [tm for tm in _state_timers(wf, w.case.state) if tm.trigger == "report_failure"]
        self.cancel_timers([tm.name for tm in timeouts], "retry scheduled")
        for tm in timeouts:
            assert tm.after is not None
            d = w.app.settings.timer_duration(tm.config_key, tm.after)
            self._start(tm, not_before + timedelta(hours=d.hours, days=d.days))

    def fx_hes_retry_open(self, _: str | None) -> None:
        self._retry("open")

    def fx_hes_retry_close(self, _: str | None) -> None:
        self._retry("close")

    def fx_hes_reset(self, _: str | None) -> None:
        self.work.case.data["hes_failures"] = 0

    def fx_hes_close_behind(self, _: str | None) -> None:
        """A cancelled opening whose open command was enqueued: never leave the port open.
        Commands that have not left are recalled; if one ever left (even one that failed or
        timed out: it may still be carried out), a close follows it."""
        w = self.work
        opens = [c for c in repo.hes_for_case(w.conn, w.case.id) if c["action"] == "open"]
        if not opens:
            return
        for c in opens:
            if c["status"] == "pending":
                repo.update_hes(w.conn, c["id"], status="cancelled", done_at=w.now)
        if not any(c["status"] in ("sent", "failed", "acked") for c in opens):
            if repo.hes_out_for_others(w.conn, w.case.point_id, w.case.id):
                # It waited behind another case's command, which decides the port.
                self._record("hes_open_recalled", [c["id"] for c in opens])
                return
            repo.set_port(
                w.conn,
                w.case.point_id,
                "closed",
                w.now,
                f"open command recalled before it left ({w.case.ref})",
                case_id=w.case.id,
            )
            self._record("hes_open_recalled", [c["id"] for c in opens])
            return
        if w.superseded_reason is not None:
            return  # the case taking over enqueues its own close right behind
        self._hes("close")

    def fx_hes_keep_closing(self, _: str | None) -> None:
        """A close cancelled after its consent ended (``closing``, ``needs_attention``): the
        port must still close. A close command still out stays where it is; when none is (every
        attempt failed), one more is queued. Either is settled like a close behind a cancelled
        opening: sent again after a failure, the port closed by its acknowledgement."""
        w = self.work
        closes = [c for c in repo.hes_for_case(w.conn, w.case.id) if c["action"] == "close"]
        if not closes:
            return  # never reached ``closing``: no consent was ended, nothing to close
        out = [c["id"] for c in closes if c["status"] in ("pending", "sent")]
        if out:
            self._record("hes_close_kept", out)
            return
        self._hes("close")

    def fx_clear_flag(self, _: str | None) -> None:
        name = str(self.fields["flag"])
        if name not in self.work.case.flags:
            raise Refused(f"flag {name} is not set on {self.work.case.ref}", field="flag")
        self.flag(name, False)


# Case data a notice may show (never personal values).
_MAIL_DATA = ("close_reason", "effective_at")
# Fields of the command a notice may show.
_MAIL_FIELDS = ("visit_date",)


def _notice_applies(n: Notice, facts: Mapping[str, Any]) -> bool:
    return all(GUARDS[g](facts) for g in n.when) and not any(GUARDS[g](facts) for g in n.unless)
