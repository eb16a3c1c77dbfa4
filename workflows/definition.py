"""The vocabulary workflows are declared in: states, transitions, fields, timers, notices.

A workflow module builds one :class:`Workflow` from these dataclasses. Nothing here does I/O:
the decider (:mod:`workflows.decider`) runs the declarations over the facts a command loaded,
and the intents a transition names (:mod:`workflows.intents`) say what happens besides the state
change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hanport.workflows.decider import Step
    from hanport.workflows.model import Opening


class Role(StrEnum):
    """Who may fire a trigger. Ordered by rank for the human roles."""

    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    PRIVACY = "privacy"  # the data-protection officer: reads the access log, answers requests
    SYSTEM = "system"
    # The customer, through the web form or a signed link in a notice: fires only the triggers
    # a transition names for customers (``also``); never a login's role.
    CUSTOMER = "customer"


@dataclass(frozen=True)
class Actor:
    """Who fires a trigger: a person with a role, or a part of the system (fixed names)."""

    name: str
    role: Role
    kind: str  # caseworker | supervisor | scheduler | batch | hes | system | customer
    # A service account acting for a person: the events carry the person as data.on_behalf_of.
    on_behalf_of: str | None = None

    @classmethod
    def system(cls, kind: str = "system", name: str | None = None) -> Actor:
        return cls(name or kind, Role.SYSTEM, kind)


class Intent(Protocol):
    """What a transition or state does besides the state change (:mod:`workflows.intents`)."""

    def apply(self, step: Step) -> None: ...


class FieldKind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    INSTANT = "instant"
    DATE = "date"
    EMAIL = "email"
    METER_NUMBER = "meter_number"
    POSTAL_CODE = "postal_code"
    DECLARATION = "declaration"


@dataclass(frozen=True)
class Field:
    """A value a trigger takes from the caller (``--set name=value``)."""

    name: str
    kind: FieldKind
    help: str
    required: bool = True
    choices: tuple[str, ...] = ()
    # Personal fields are kept in their own rows (consents, notes); the event gets a salted hash.
    personal: bool = False
    # When an instant can have happened; the service layer's field cleaner checks these against
    # the command's clock (``hanport.service.fields``; a small clock skew is allowed):
    # not after now; not before the case's customer held its metering point; not after the
    # instant in the named other field of the same trigger.
    not_future: bool = False
    in_tenure: bool = False
    not_after: str | None = None

    def __post_init__(self) -> None:
        if self.kind is not FieldKind.INSTANT and (
            self.not_future or self.in_tenure or self.not_after
        ):
            raise ValueError(f"field {self.name}: only an instant has plausibility rules")

    @property
    def rules(self) -> tuple[str, ...]:
        """The plausibility rules, in words (for ``workflow show`` and the docs)."""
        out = ["not in the future"] if self.not_future else []
        if self.in_tenure:
            out.append("not before the customer held the point")
        if self.not_after:
            out.append(f"not after {self.not_after}")
        return tuple(out)


@dataclass(frozen=True)
class Duration:
    """A timer delay: hours, calendar days or working days (Europe/Oslo calendar)."""

    hours: int = 0
    days: int = 0
    working_days: int = 0

    def __str__(self) -> str:
        parts = []
        if self.working_days:
            parts.append(f"{self.working_days} working days")
        if self.days:
            parts.append(f"{self.days} days")
        if self.hours:
            parts.append(f"{self.hours} h")
        return " + ".join(parts) or "0"


class TimerKind(StrEnum):
    STATE = "state"  # starts on entering ``state``, cancelled on leaving it
    CASE = "case"  # started and stopped by named triggers
    ABSOLUTE = "absolute"  # due at an instant taken from the case data


@dataclass(frozen=True)
class Timer:
    name: str
    kind: TimerKind
    trigger: str
    help: str
    after: Duration | None = None
    state: str | None = None
    start_on: tuple[str, ...] = ()
    stop_on: tuple[str, ...] = ()
    stop_at_final: bool = True
    at_field: str | None = None
    # The configuration key its duration may be overridden under (``timers.<config_key>``).
    config_key: str | None = None


@dataclass(frozen=True)
class Notice:
    """A mail to the customer, enqueued when its guards (if any) hold."""

    template: str
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()


@dataclass(frozen=True)
class State:
    name: str
    help: str
    final: bool = False
    # Whether a case in this state holds its metering point (one such case per point).
    holds_port: bool = True
    notices: tuple[Notice, ...] = ()  # enqueued on entry
    flag: str | None = None  # flag set on entry, cleared on leaving
    intents: tuple[Intent, ...] = ()  # run on entry, e.g. SendHesCommand("open")


@dataclass(frozen=True)
class Transition:
    trigger: str
    source: tuple[str, ...]
    dest: str | None  # None: internal (the state does not change)
    help: str
    guards: tuple[str, ...] = ()  # all must hold
    unless: tuple[str, ...] = ()  # none may hold
    role: Role = Role.CASEWORKER
    # Additional actors allowed besides ``role`` (e.g. the HES acknowledges, the scheduler fires).
    also: tuple[Role, ...] = ()
    fields: tuple[Field, ...] = ()
    notices: tuple[Notice, ...] = ()
    intents: tuple[Intent, ...] = ()
    note_required: bool = False
    clears_flags: tuple[str, ...] = ()
    sets_flags: tuple[str, ...] = ()


# A rule a new case must pass: it raises ``Refusal`` (naming the field, when one is at fault).
OpenRule = Callable[["Opening"], None]


@dataclass(frozen=True)
class HesTail:
    """The head-end tail of a workflow: the command its busy state sends and the triggers an
    answer fires (declared once, in ``fragments.hes_fragment``)."""

    action: str  # open | close
    busy: str  # opening | closing
    confirm: str  # confirm_open | confirm_close
    failure: str = "report_failure"
    attention: str = "needs_attention"


@dataclass(frozen=True)
class Workflow:
    name: str
    version: int
    title: str
    initial: str
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]
    timers: tuple[Timer, ...] = ()
    # Notices enqueued when a case is opened.
    open_notices: tuple[Notice, ...] = ()
    # System triggers tried in order right after a case is opened; each fires if it is allowed
    # from the state reached and its guards hold (e.g. a due auto-close skips ``scheduled``).
    auto_triggers: tuple[str, ...] = ()
    # Rules a new case must pass, in order (the first refusal wins; nothing is created).
    open_rules: tuple[OpenRule, ...] = ()
    # Whether a case of this workflow opens the port (a termination closes what it opens).
    opens_port: bool = False
    hes: HesTail | None = None
    _state_index: dict[str, State] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        names = [s.name for s in self.states]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate state names")
        self._state_index.update({s.name: s for s in self.states})
        if self.initial not in self._state_index:
            raise ValueError(f"{self.name}: initial state {self.initial!r} is not declared")
        for t in self.transitions:
            for s in (*t.source, *([t.dest] if t.dest else [])):
                if s not in self._state_index:
                    raise ValueError(
                        f"{self.name}: transition {t.trigger} names unknown state {s!r}"
                    )
        for trig in self.auto_triggers:
            if trig not in self.triggers:
                raise ValueError(f"{self.name}: auto trigger {trig} is not declared")
        for t in self.transitions:
            instants = {f.name for f in t.fields if f.kind is FieldKind.INSTANT}
            for f in t.fields:
                if f.not_after is not None and f.not_after not in instants:
                    raise ValueError(
                        f"{self.name}: field {f.name} of {t.trigger} is ordered after "
                        f"{f.not_after!r}, which is not an instant of the same transition"
                    )
        for tm in self.timers:
            if tm.trigger not in self.triggers:
                raise ValueError(f"{self.name}: timer {tm.name} fires unknown trigger {tm.trigger}")
            if tm.kind is TimerKind.STATE and tm.state not in self._state_index:
                raise ValueError(f"{self.name}: timer {tm.name} names unknown state {tm.state!r}")

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def state(self, name: str) -> State:
        return self._state_index[name]

    @property
    def final_states(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states if s.final)

    @property
    def triggers(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for t in self.transitions:
            seen.setdefault(t.trigger, None)
        return tuple(seen)

    def transitions_for(self, trigger: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.trigger == trigger)

    def allowed(self, state: str) -> tuple[str, ...]:
        """Triggers declared from ``state`` (guards not evaluated)."""
        seen: dict[str, None] = {}
        for t in self.transitions:
            if state in t.source:
                seen.setdefault(t.trigger, None)
        return tuple(seen)

    def fields_for(self, trigger: str) -> tuple[Field, ...]:
        """The union of the fields of every transition for ``trigger``, in declaration order."""
        out: dict[str, Field] = {}
        for t in self.transitions_for(trigger):
            for f in t.fields:
                out.setdefault(f.name, f)
        return tuple(out.values())


def non_final(states: tuple[State, ...]) -> tuple[str, ...]:
    return tuple(s.name for s in states if not s.final)
