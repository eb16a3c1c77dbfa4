"""The decider: a command's triggers run through the cases' workflows, in memory.

A :class:`Decision` collects everything one command decides — the cases it opens or changes,
their new events, and the rows to write (:mod:`workflows.writes`) — without reading or writing
anything itself: the service layer loads the facts first and hands the finished decision to the
writer. Firing a trigger takes these steps, in this order (the workflows' contract):

1. the trigger must be declared and allowed for the actor's role; its fields are cleaned;
2. the transitions machine picks the transition whose guards hold (their inputs are recorded);
3. leaving the state cancels its state timers and clears its flag;
4. the transition's intents run, then its flag changes;
5. entering the new state sets its flag, runs its intents and starts its state timers;
6. case timers start and stop on their triggers; a final state cancels every timer;
7. the notices of the transition and of the state entered are enqueued;
8. the event is appended (the writer seals it into the case's hash chain).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hanport import workflows
from hanport.workflows import migration, restriction
from hanport.workflows.definition import Actor, Duration, Role, Timer, Transition, Workflow
from hanport.workflows.errors import Refusal
from hanport.workflows.facts import Facts
from hanport.workflows.migration import HistoryEntry, Plan
from hanport.workflows.model import Case, Consent, Customer, Event, Opening, OtherCase, Point
from hanport.workflows.runner import Choice, NotAllowed
from hanport.workflows.step import Step, state_timers
from hanport.workflows.writes import KEEP, ConsentEnded, PortChanged, Write

__all__ = ["Decision", "Policy", "Sources", "Step", "role_allows", "state_timers"]

ROLE_RANK = {Role.AUDITOR: 0, Role.CASEWORKER: 1, Role.SUPERVISOR: 2}


@dataclass(frozen=True)
class Policy:
    """What a decision takes from configuration and the calendar, as values and pure functions."""

    # the keyed hash events carry instead of a personal value: (the subject's secret, value)
    hash: Callable[[bytes, str], str]
    address_key: Callable[[str | None, str | None], str | None]  # an address as compared
    clean_fields: Callable[..., tuple[dict[str, Any], set[str]]]
    delay: Callable[[Timer], Duration]  # a timer's configured duration
    add: Callable[[datetime, Duration], datetime]  # the working calendar's addition
    hes_adapter: Callable[[str], str]  # municipality -> HES adapter
    # municipality -> the area as the open event records it (code, name, vendor), or None
    area: Callable[[str], dict[str, str] | None]
    hes_max_attempts: int
    hes_backoff_minutes: int
    sender_name: str
    sender_address: str
    year: Callable[[datetime], int]  # the Oslo year a case opened in (its reference)


class Sources(Protocol):
    """What a decision may ask for while it decides, besides its loaded facts."""

    def next_case_id(self) -> int:
        """The id of the next case this command opens (its reference is made from it)."""

    def swap_wait_weeks(self) -> tuple[int, int]:
        """The meter-swap queue's expected wait, in weeks (low, high)."""

    def customer_since(self, point_id: int, customer_pk: int) -> datetime | None:
        """The earliest the customer can have held the point, as far as the records tell
        (None: they set no bound): what a trigger's instants may not precede."""

    def subject_secret(self, customer_pk: int) -> bytes:
        """The secret the customer's personal values are hashed with (their own key under
        the pepper)."""


def role_allows(actor: Actor, t: Transition) -> bool:
    if actor.role is Role.SYSTEM:
        return t.role is Role.SYSTEM or Role.SYSTEM in t.also
    if actor.role is Role.CUSTOMER:
        return Role.CUSTOMER in t.also
    if t.role is Role.SYSTEM:
        return False
    return ROLE_RANK.get(actor.role, 0) >= ROLE_RANK[t.role]


class Decision:
    """Everything one command decides: changed cases (with their new events) and writes."""

    def __init__(self, policy: Policy, actor: Actor, now: datetime, sources: Sources) -> None:
        self.policy: Policy = policy
        self.actor: Actor = actor
        self.now: datetime = now
        self.sources: Sources = sources
        self.cases: list[Case] = []
        self.events: list[tuple[Case, Event]] = []  # the new events, in the order they happened
        self._touched: set[int] = set()
        self.writes: list[Write] = []
        self.cancelled: list[str] = []  # refs of cases this command cancelled on the way
        # The consents the cases and points name (whose they are, whether still live).
        self.consents: dict[Any, Consent] = {}
        # Cases loaded with the command's case that may take part (a point's holder), and
        # every point loaded, by id.
        self.loaded: list[Case] = []
        self.points: dict[int, Point] = {}
        # Customers whose processing is restricted (GDPR art. 18): the request restricting it.
        self.restricted: dict[int, str] = {}

    # --- bookkeeping ---------------------------------------------------------------------

    def hash(self, customer_pk: int, value: str) -> str:
        """The keyed hash an event carries for one of the customer's personal values."""
        return self.policy.hash(self.sources.subject_secret(customer_pk), value)

    def touch(self, case: Case) -> None:
        if id(case) not in self._touched:
            self._touched.add(id(case))
            self.cases.append(case)

    def write(self, w: Write) -> None:
        self.writes.append(w)

    def consent(self, consent_id: Any) -> Consent:
        if consent_id not in self.consents:
            raise RuntimeError(f"consent {consent_id} was not loaded for this decision")
        return self.consents[consent_id]

    def consent_live(self, consent_id: Any) -> bool:
        return self.consent(consent_id).live

    def end_consent(self, consent_id: Any, reason: str) -> None:
        self.consent(consent_id).live = False
        self.write(ConsentEnded(consent_id, self.now, reason))

    def cases_on(self, point: Point) -> list[Case]:
        """The active cases on ``point`` this command knows: loaded, or opened by it."""
        seen: dict[int, Case] = {}
        for c in (*self.loaded, *self.cases):
            if c.point is point and c.active:
                seen.setdefault(id(c), c)
        return list(seen.values())

    def others_on(self, point: Point) -> tuple[OtherCase, ...]:
        return tuple(
            OtherCase(str(c.ref), c.state, c.workflow, c.holds_port, c.customer.pk)
            for c in self.cases_on(point)
        )

    def set_port(
        self,
        point: Point,
        state: str,
        cause: str,
        *,
        consent_id: Any = KEEP,
        case_id: Any = None,
        hes_command_id: Any = None,
        meter_number: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Change a point's port (and, if given, the consent behind it); its timeline gets a
        row naming the case and the cause."""
        point.port = state
        if consent_id is not KEEP:
            point.consent_id = consent_id
        self.write(
            PortChanged(
                point.id,
                state,
                at or self.now,
                cause,
                consent_id,
                point.consent_id,
                case_id,
                hes_command_id,
                meter_number,
            )
        )

    def holder_of(self, point: Point) -> Case | None:
        """The case holding ``point`` (one per point), among the cases this command loaded."""
        holders = [c for c in (*self.loaded, *self.cases) if c.point is point and c.holds_port]
        if not holders and point.holder_id is not None:
            raise RuntimeError(f"the case holding point {point.gsrn} was not loaded")
        return holders[0] if holders else None

    # --- opening and firing --------------------------------------------------------------

    def check_opening(self, wf: Workflow, o: Opening) -> None:
        """The rules a new case must pass, ``Refusal`` at the first that fails: a restriction
        of the customer's processing (GDPR art. 18) first, then the workflow's own rules."""
        restriction.check_opening(wf.name, o.customer, self.restricted)
        for rule in wf.open_rules:
            rule(o)

    def open_case(
        self,
        wf: Workflow,
        point: Point,
        customer: Customer,
        data: dict[str, Any],
        event_data: dict[str, Any],
    ) -> Case:
        """A new case in its workflow's initial state: its first event (``open``), the initial
        state's timers and the opening notices. The event records the point's area as it is
        now, so a later change to the registry or the area mapping never moves the case."""
        area = self.policy.area(point.municipality)
        if area is not None:
            event_data = {**event_data, "area": area}
        new_id = self.sources.next_case_id()
        initial = wf.state(wf.initial)
        case = Case(
            id=new_id,
            ref=f"HAN-{self.policy.year(self.now)}-{new_id:06d}",
            workflow=wf.name,
            workflow_version=wf.version,
            state=wf.initial,
            version=0,
            flags=[],
            data=dict(data),
            holds_port=initial.holds_port,
            active=True,
            point=point,
            customer=customer,
            prev_hash="",
            created_at=self.now,
            new=True,
        )
        self.touch(case)
        step = Step(self, case, wf, None, {}, case.version + 1, event_data)
        for tm in state_timers(wf, wf.initial):
            step.start_timer(tm)
        step.notify([*wf.open_notices, *initial.notices])
        step.append("open", None, wf.initial)
        return case

    def fire(
        self,
        case: Case,
        trigger: str,
        payload: Mapping[str, Any] | None = None,
        *,
        note: str | None = None,
        auto: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> Choice:
        """Run ``trigger`` on ``case``; ``Refusal`` when it is not allowed (nothing kept then:
        the command refuses as a whole).

        ``auto`` marks a consequence of a command already authorised (auto triggers after
        opening, a take-over): no role check, unknown fields ignored. ``extra`` goes into the
        event's data."""
        wf = workflows.get(case.workflow, case.workflow_version)
        trigger = workflows.canonical_name(trigger)
        payload = payload or {}
        self._check_trigger(case, wf, trigger, auto)
        restriction.check_trigger(case, trigger, self.restricted)
        clean, personal = self.policy.clean_fields(
            wf,
            trigger,
            payload,
            case.state,
            strict=not auto,
            now=self.now,
            customer_since=lambda: self.sources.customer_since(case.point.id, case.customer.pk),
        )
        # An auto trigger's guards may read what the opening command carried (e.g. the sender).
        fields = {**payload, **clean} if auto and payload else clean
        facts = Facts(self, case, fields)
        try:
            choice = workflows.runner(wf.name, wf.version).decide(case.state, trigger, facts)
        except NotAllowed as exc:
            raise Refusal(f"case {case.ref}: {exc}") from None
        t = choice.transition
        if not auto and not role_allows(self.actor, t):
            who = "the system" if t.role is Role.SYSTEM else f"a {t.role.value}"
            raise Refusal(
                f"{trigger} on {case.ref} is for {who}; {self.actor.name} is {self.actor.role}"
            )
        if t.note_required and not note:
            raise Refusal(f"{trigger} needs a note (--note TEXT)", field="note")
        for f in t.fields:
            if f.required and f.name not in clean:
                raise Refusal(f"{trigger} needs the field {f.name}: {f.help}", field=f.name)
        self.touch(case)
        step = Step(self, case, wf, choice, clean, case.version + 1, {}, facts)
        step.record_inputs(clean, personal, auto, extra, note)
        step.run()
        return choice

    def _check_trigger(self, case: Case, wf: Workflow, trigger: str, auto: bool) -> None:
        if trigger not in wf.triggers:
            raise Refusal(
                f"{wf.name} has no trigger {trigger!r} (triggers: {', '.join(wf.triggers)})",
                field="trigger",
            )
        if not case.active and trigger not in wf.allowed(case.state):
            raise Refusal(f"case {case.ref} is {case.state} (final): {trigger} is not allowed")
        if auto:
            return
        candidates = [t for t in wf.transitions_for(trigger) if case.state in t.source]
        if candidates and not any(role_allows(self.actor, t) for t in candidates):
            needed = sorted({t.role.value for t in candidates})
            who = "the system" if needed == ["system"] else "a " + " or ".join(needed)
            raise Refusal(
                f"{trigger} on {case.ref} is for {who}; {self.actor.name} is "
                f"{self.actor.role.value}"
            )

    def may(self, case: Case, trigger: str, payload: Mapping[str, Any] | None = None) -> bool:
        """Whether ``trigger`` is allowed from the case's state with its guards holding."""
        wf = workflows.get(case.workflow, case.workflow_version)
        if trigger not in wf.allowed(case.state):
            return False
        runner = workflows.runner(wf.name, wf.version)
        return runner.may(case.state, trigger, Facts(self, case, payload or {}))

    def migrate(
        self,
        case: Case,
        target: Workflow,
        mapping: Mapping[str, str],
        history: Sequence[HistoryEntry],
    ) -> Plan:
        """Move a live case to version ``target`` of its workflow (:mod:`workflows.migration`:
        ``Refusal`` when it cannot): its state mapped, its timers planned again, one event in
        its chain, made under ``target``, saying so. Nothing on entry runs."""
        source = workflows.get(case.workflow, case.workflow_version)
        due = migration.delay_of(self.policy.delay, self.policy.add)
        p = migration.plan(case, source, target, mapping, history, due)
        self.touch(case)
        case.workflow_version = target.version
        data: dict[str, Any] = {
            "migration": {
                "from_version": source.version,
                "to_version": target.version,
                "mapping": dict(mapping),
            }
        }
        step = Step(self, case, target, None, {}, case.version + 1, data)
        step.cancel_timers(p.cancel, f"migrated to v{target.version}")
        for d in p.start:
            step.start_timer(d.timer, at=d.due)
        for name in p.flags_cleared:
            step.flag(name, False)
        for name in p.flags_set:
            step.flag(name, True)
        case.state = p.state_to
        dst = target.state(p.state_to)
        case.holds_port = dst.holds_port and not dst.final
        step.append(migration.MIGRATE, p.state_from, p.state_to)
        return p

    def run_auto(self, case: Case, payload: Mapping[str, Any] | None = None) -> None:
        """Fire the workflow's auto triggers that are allowed and whose guards hold, in order."""
        wf = workflows.get(case.workflow, case.workflow_version)
        for trig in wf.auto_triggers:
            if self.may(case, trig, payload):
                self.fire(case, trig, payload, auto=True)
