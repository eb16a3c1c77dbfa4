"""One trigger firing on one case, inside a decision: the steps of a transition in the order the
workflows' contract fixes (see ``workflows.decider``), and the bookkeeping the intents call —
flags, timers, notices, the port, the head-end system — each turning into writes and a note in
the event's data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hanport.workflows.definition import Actor, Notice, Timer, TimerKind, Workflow
from hanport.workflows.facts import Facts
from hanport.workflows.guards import GUARDS
from hanport.workflows.model import TRANSIT, Case, Event, HesCommand, NewId
from hanport.workflows.runner import Choice
from hanport.workflows.writes import (
    KEEP,
    NewHesCommand,
    NewMail,
    NewNote,
    NewTimer,
    TimersCancelled,
    Write,
)

if TYPE_CHECKING:
    from hanport.workflows.decider import Decision, Policy

# Case data a notice may show (never personal values), and fields of the command it may show.
MAIL_DATA = ("close_reason", "effective_at", "objection_until", "request_kind", "answer_by")
MAIL_FIELDS = ("visit_date",)


@dataclass
class Step:
    """One trigger firing on one case: what its intents see and the event they fill in."""

    decision: Decision
    case: Case
    wf: Workflow
    choice: Choice | None
    fields: Mapping[str, Any]
    seq: int
    data: dict[str, Any]
    facts: Facts | None = None
    notices: list[Notice] = field(default_factory=list)

    @property
    def now(self) -> datetime:
        return self.decision.now

    @property
    def policy(self) -> Policy:
        return self.decision.policy

    @property
    def actor(self) -> Actor:
        return self.decision.actor

    def write(self, w: Write) -> None:
        self.decision.write(w)

    def record(self, key: str, value: Any) -> None:
        """Note what an intent did in the event's ``effects`` (ids, outcomes)."""
        self.data.setdefault("effects", {})[key] = value

    def record_inputs(
        self,
        clean: Mapping[str, Any],
        personal: set[str],
        auto: bool,
        extra: Mapping[str, Any] | None,
        note: str | None,
    ) -> None:
        data, pk = self.data, self.case.customer.pk

        def h(value: str) -> str:
            return self.decision.hash(pk, value)

        if clean:
            data["fields"] = {k: v for k, v in clean.items() if k not in personal}
            hashed = {k: h(str(v)) for k, v in clean.items() if k in personal}
            if hashed:
                data["personal"] = hashed
        assert self.choice is not None
        if self.choice.guards:
            data["guards"] = self.choice.guards
        if auto:
            data["auto"] = True
        if extra:
            data.update(extra)
        if note:
            data["note"] = h(note)
            self.note("note", note)
        if "reason" in clean:
            self.note("reason", str(clean["reason"]))

    def note(self, kind: str, body: str) -> None:
        c = self.case
        self.write(NewNote(c.id, self.seq, kind, self.actor.name, body, self.now))

    # --- the steps of a transition -------------------------------------------------------

    def run(self) -> None:
        assert self.choice is not None
        case, wf, t = self.case, self.wf, self.choice.transition
        source, dest = self.choice.source, t.dest
        entered = dest is not None
        new_state = dest if dest is not None else source
        src, dst = wf.state(source), wf.state(new_state)
        if entered:
            self.cancel_timers([tm.name for tm in state_timers(wf, source)], f"left {source}")
            if src.flag and src.flag != dst.flag:
                self.flag(src.flag, False)
        for intent in t.intents:
            intent.apply(self)
        for name in t.clears_flags:
            self.flag(name, False)
        for name in t.sets_flags:
            self.flag(name, True)
        case.state = new_state
        case.holds_port = dst.holds_port and not dst.final
        case.active = not dst.final
        if entered:
            if dst.flag:
                self.flag(dst.flag, True)
            for intent in dst.intents:
                intent.apply(self)
            for tm in state_timers(wf, new_state):
                self.start_timer(tm)
        self._case_timers(t.trigger, new_state)
        if dst.final:
            self.cancel_timers(None, f"case {new_state}")
        self.notify([*t.notices, *(dst.notices if entered else ())])
        self.append(t.trigger, source, new_state)

    def _case_timers(self, trigger: str, state: str) -> None:
        for tm in self.wf.timers:
            if tm.kind is not TimerKind.CASE:
                continue
            if _matches(tm.start_on, trigger, state) and tm.name not in self.case.started_timers:
                self.start_timer(tm)
            if _matches(tm.stop_on, trigger, state):
                self.cancel_timers([tm.name], f"stopped by {trigger}")

    def append(self, trigger: str, source: str | None, dest: str) -> None:
        c, a = self.case, self.actor
        data = (
            self.data if a.on_behalf_of is None else {**self.data, "on_behalf_of": a.on_behalf_of}
        )
        ev = Event(self.seq, self.now, a.name, a.kind, trigger, source, dest, data)
        self.decision.events.append((c, ev))
        c.version = self.seq

    # --- the port and the head-end system ------------------------------------------------

    def set_port(
        self,
        state: str,
        cause: str,
        *,
        consent_id: Any = KEEP,
        hes_command_id: Any = None,
        meter_number: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Change the case's point's port (and, if given, the consent behind it)."""
        self.decision.set_port(
            self.case.point,
            state,
            cause,
            consent_id=consent_id,
            case_id=self.case.id,
            hes_command_id=hes_command_id,
            meter_number=meter_number,
            at=at,
        )

    def send_hes(self, action: str, not_before: datetime | None = None) -> None:
        case, point = self.case, self.case.point
        ahead = point.hes_out_for_others(case.id)
        cmd = NewId("hes_commands")
        self.write(
            NewHesCommand(
                cmd,
                case.id,
                point.id,
                action,
                int(case.data.get("hes_failures", 0)) + 1,
                self.policy.hes_adapter(point.municipality),
                not_before or self.now,
                self.now,
            )
        )
        point.hes.append(HesCommand(cmd, case.id, case.ref, action, "pending"))
        self.record(f"hes_{action}", cmd)
        if ahead:
            # Queued behind another case's command (a close left by a cancelled case): the port
            # stays as that one leaves it until this one is sent (the dispatch records it).
            self.record("hes_queued_behind", [c.id for c in ahead])
            return
        self.set_port(
            TRANSIT[action],
            f"{action} command sent to the HES ({case.ref})",
            hes_command_id=cmd,
        )

    # --- flags, timers, notices ----------------------------------------------------------

    def flag(self, name: str, on: bool) -> None:
        flags = self.case.flags
        if on and name not in flags:
            flags.append(name)
            self.data.setdefault("flags_set", []).append(name)
        elif not on and name in flags:
            flags.remove(name)
            self.data.setdefault("flags_cleared", []).append(name)

    def start_timer(self, tm: Timer, at: datetime | None = None) -> None:
        """Start ``tm`` (due after its configured delay, or at ``at``; an absolute timer at the
        instant in the case data it names)."""
        if at is not None:
            due = at
        elif tm.kind is TimerKind.ABSOLUTE:
            value = self.case.data.get(tm.at_field or "")
            if not value:
                return
            due = datetime.fromisoformat(value)
        else:
            due = self.policy.add(self.now, self.policy.delay(tm))
        tid = NewId("timers")
        c = self.case
        self.write(NewTimer(tid, c.id, tm.name, tm.kind.value, tm.trigger, due, self.now, self.seq))
        c.pending_timers.append((tid, tm.name))
        c.started_timers.add(tm.name)
        self.data.setdefault("timers_started", []).append(
            {"id": tid, "name": tm.name, "due_at": _utc_iso(due)}
        )

    def cancel_timers(self, names: list[str] | None, outcome: str) -> None:
        """Cancel the case's pending timers (all, or those named); the event says so when
        there were any."""
        c = self.case
        hit = [(tid, n) for tid, n in c.pending_timers if names is None or n in names]
        if not hit:
            return
        c.pending_timers = [t for t in c.pending_timers if t not in hit]
        self.write(TimersCancelled(c.id, tuple(tid for tid, _ in hit), self.now, outcome))
        self.data.setdefault("timers_cancelled", []).extend(names or ["*"])

    def notify(self, notices: list[Notice]) -> None:
        facts = self.facts or Facts(self.decision, self.case, {})
        templates = [n.template for n in notices if _notice_applies(n, facts)]
        if not templates:
            return
        c = self.case
        for template in templates:
            self.write(
                NewMail(
                    c.id,
                    c.ref,
                    self.seq,
                    template,
                    c.customer.language if c.customer.language in ("nb", "en") else "nb",
                    c.customer.email,
                    self.mail_context(template),
                    self.now,
                )
            )
        self.data["notices"] = templates
        if c.customer.email is None:
            self.flag("no_email", True)

    def mail_context(self, template: str) -> dict[str, Any]:
        c, p = self.case, self.policy
        meter = c.point.meter_number or ""
        context: dict[str, Any] = {
            "case_ref": c.ref,
            "workflow": c.workflow,
            "customer_name": c.customer.name or c.customer.customer_id,
            "meter_last4": meter[-4:],
            "sender_name": p.sender_name,
            "contact_address": p.sender_address,
            **{k: v for k, v in c.data.items() if k in MAIL_DATA},
            **{k: v for k, v in self.fields.items() if k in MAIL_FIELDS},
        }
        if template == "swap_queued":
            weeks = self.decision.sources.swap_wait_weeks()
            context["wait_weeks_min"], context["wait_weeks_max"] = weeks
        return context


def state_timers(wf: Workflow, state: str) -> list[Timer]:
    return [tm for tm in wf.timers if tm.state == state and tm.kind is not TimerKind.CASE]


def _matches(specs: tuple[str, ...], trigger: str, dest: str) -> bool:
    return any(s == trigger or s == f"{trigger}:{dest}" for s in specs)


def _notice_applies(n: Notice, facts: Mapping[str, Any]) -> bool:
    return all(GUARDS[g](facts) for g in n.when) and not any(GUARDS[g](facts) for g in n.unless)


def _utc_iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()
