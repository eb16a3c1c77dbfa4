"""Moving a live case from one version of its workflow to another: pure planning.

A migration never guesses. The case's state maps to the state of the same name in the target
version, or to the one ``--map OLD=NEW`` names; a state with neither is refused, and so is a
target state that is final (a migration does not end a case) or that does something on entry
(sends a head-end command, say) which the case never did — entering it without doing that would
leave the case waiting for what was never sent. Nothing on entry runs: no notice, no command.
Pending notices and head-end commands stay as they are.

Timers are planned again under the target version, from the case's own history:

- a pending timer the target declares the same way (same kind, trigger, delay, configuration
  key) for where the case is now is kept, due when it was;
- one the target does not declare there, or declares otherwise, is cancelled — and started
  again under the target's declaration when it has one, due from when it started then;
- a state timer of the target for the case's state that is not pending starts, due from when
  the case entered that state; a case timer that is not pending starts when one of its start
  triggers is in the history (and no stop trigger after it), due from that event — unless it
  ran once already (a timer that fired or was stopped is not started again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hanport.workflows.definition import Duration, Timer, TimerKind, Workflow
from hanport.workflows.errors import Refusal
from hanport.workflows.model import Case

# One event of a case's history: trigger, from_state, to_state, occurred_at.
HistoryEntry = tuple[str, str | None, str, datetime]
MIGRATE = "migrate"  # the trigger of a migration's event


@dataclass(frozen=True)
class Due:
    """A timer the migration starts, and when it is due."""

    timer: Timer
    due: datetime


@dataclass
class Plan:
    """What migrating one case does."""

    ref: str
    from_version: int
    to_version: int
    state_from: str
    state_to: str
    keep: list[str] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    start: list[Due] = field(default_factory=list)
    flags_cleared: list[str] = field(default_factory=list)
    flags_set: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.ref,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "state_from": self.state_from,
            "state_to": self.state_to,
            "timers_kept": sorted(self.keep),
            "timers_cancelled": sorted(self.cancel),
            "timers_started": [
                {"name": d.timer.name, "due_at": d.due.isoformat()}
                for d in sorted(self.start, key=lambda d: d.timer.name)
            ],
            "flags_cleared": self.flags_cleared,
            "flags_set": self.flags_set,
        }


def check_mapping(a: Workflow, b: Workflow, mapping: Mapping[str, str]) -> None:
    """Every ``OLD=NEW`` names a state of ``a`` and a live state of ``b``."""
    for old, new in mapping.items():
        if old not in {s.name for s in a.states}:
            raise Refusal(f"--map {old}={new}: {a.name} v{a.version} has no state {old!r}")
        if new not in {s.name for s in b.states}:
            raise Refusal(f"--map {old}={new}: {b.name} v{b.version} has no state {new!r}")
        if b.state(new).final:
            raise Refusal(f"--map {old}={new}: {new} is final; a migration does not end a case")


def target_state(case: Case, a: Workflow, b: Workflow, mapping: Mapping[str, str]) -> str:
    """Where the case's state maps in ``b``, or ``Refusal`` saying why it cannot."""
    old = case.state
    new = mapping.get(old)
    if new is None:
        if old not in {s.name for s in b.states}:
            raise Refusal(
                f"{case.ref} is in {old}, which {b.name} v{b.version} does not have: "
                f"map it (--map {old}=STATE)"
            )
        new = old
    if b.state(new).final:
        raise Refusal(
            f"{case.ref}: {new} is final in v{b.version}; a migration does not end a case"
        )
    entry = b.state(new)
    if new != old and (entry.intents or entry.notices):
        raise Refusal(
            f"{case.ref}: {new} acts on entry in v{b.version} (a notice, a head-end command), "
            f"which a case in {old} never did; a migration does not enter it"
        )
    return new


def plan(
    case: Case,
    a: Workflow,
    b: Workflow,
    mapping: Mapping[str, str],
    history: Sequence[HistoryEntry],
    due: Callable[[datetime, Timer], datetime],
) -> Plan:
    """Migrating ``case`` from ``a`` to ``b`` (``Refusal`` if it cannot be); ``due(start,
    timer)`` is when a timer started at ``start`` fires (the configured, calendar delay)."""
    if case.workflow != a.name or case.workflow_version != a.version:
        raise Refusal(
            f"{case.ref} is on {case.workflow} v{case.workflow_version}, not v{a.version}"
        )
    if not case.active:
        raise Refusal(f"{case.ref} is {case.state} (final): only live cases migrate")
    new = target_state(case, a, b, mapping)
    p = Plan(case.ref, a.version, b.version, case.state, new)
    _flags(p, a, b)
    _timers(p, case, a, b, history, due)
    return p


def _flags(p: Plan, a: Workflow, b: Workflow) -> None:
    old, new = a.state(p.state_from).flag, b.state(p.state_to).flag
    if old != new:
        p.flags_cleared += [old] if old else []
        p.flags_set += [new] if new else []


def _applies(tm: Timer, state: str) -> bool:
    return tm.kind is TimerKind.CASE or tm.state == state


def _same(x: Timer, y: Timer) -> bool:
    return (x.kind, x.trigger, x.after, x.at_field, x.config_key, x.state) == (
        y.kind,
        y.trigger,
        y.after,
        y.at_field,
        y.config_key,
        y.state,
    )


def _timers(
    p: Plan,
    case: Case,
    a: Workflow,
    b: Workflow,
    history: Sequence[HistoryEntry],
    due: Callable[[datetime, Timer], datetime],
) -> None:
    old_timers = {t.name: t for t in a.timers}
    new_timers = {t.name: t for t in b.timers if _applies(t, p.state_to)}
    pending = {name for _, name in case.pending_timers}
    for name in sorted(pending):
        mine, theirs = old_timers.get(name), new_timers.get(name)
        if mine is not None and theirs is not None and _same(mine, theirs):
            p.keep.append(name)
        else:
            p.cancel.append(name)
    for name, tm in new_timers.items():
        if name in p.keep or tm.kind is TimerKind.ABSOLUTE:
            continue
        if name not in pending and name in case.started_timers:
            continue  # it ran once already (fired, or was stopped)
        start = _started(tm, p.state_from, history)
        if start is not None:
            p.start.append(Due(tm, due(start, tm)))


def _started(tm: Timer, state: str, history: Sequence[HistoryEntry]) -> datetime | None:
    """When ``tm`` would have started in this history: a state timer when the case entered
    ``state`` (the last time), a case timer at its last start trigger not stopped since."""
    if tm.kind is TimerKind.STATE:
        entered = [at for trig, src, dst, at in history if dst == state and src != state]
        return entered[-1] if entered else None
    start: datetime | None = None
    for trig, _src, dst, at in history:
        if any(s == trig or s == f"{trig}:{dst}" for s in tm.start_on):
            start = at if start is None else start
        if any(s == trig or s == f"{trig}:{dst}" for s in tm.stop_on):
            start = None
    return start


def delay_of(
    delay: Callable[[Timer], Duration], add: Callable[[datetime, Duration], datetime]
) -> Callable[[datetime, Timer], datetime]:
    """``due`` for :func:`plan` from a policy's delay and calendar addition."""

    def due(start: datetime, tm: Timer) -> datetime:
        return add(start, delay(tm))

    return due
