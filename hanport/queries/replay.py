"""Replaying cases: the recorded triggers, with their recorded guard inputs, re-applied through
the workflow version each event was recorded under must lead where the history says."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hanport import workflows
from hanport.bootstrap import App
from hanport.errors import NotFound
from hanport.queries.cases import event_step
from hanport.queries.verify import Problem
from hanport.storage.views import reading
from hanport.storage.views.events import EventRow
from hanport.workflows.migration import MIGRATE
from hanport.workflows.runner import NotAllowed, Runner


@dataclass
class Replay:
    case: str
    workflow: str
    workflow_version: int
    state: str | None
    timeline: list[dict[str, Any]]
    divergences: list[Problem]

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "workflow": self.workflow,
            "workflow_version": self.workflow_version,
            "state": self.state,
            "ok": not self.divergences,
            "timeline": self.timeline,
            "divergences": [d.as_dict() for d in self.divergences],
        }


def _facts(data: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for g in data.get("guards", {}).values():
        facts.update(g.get("inputs", {}))
    return facts


def replay_events(
    ref: str,
    workflow: str,
    version: int,
    events: Sequence[EventRow],
    as_of: datetime | None = None,
) -> Replay:
    """Re-apply the recorded triggers with their recorded guard inputs, each through the
    workflow version it was recorded under — a migration event moves the case to its version —
    pure: no mail, no timers, no HES."""
    state: str | None = None
    current = events[0].workflow_version if events else version
    timeline: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for e in events:
        if as_of is not None and e.occurred_at > as_of:
            break
        if e.trigger == "open":
            current = e.workflow_version
            got: str | None = workflows.get(workflow, current).initial
        elif e.trigger == MIGRATE:
            got = _migrated(ref, workflow, current, e, problems)
            current = e.workflow_version
        else:
            if e.workflow_version != current:
                problems.append(
                    Problem(
                        ref,
                        e.seq,
                        f"recorded under v{e.workflow_version}, the case was on v{current}",
                    )
                )
            got = _decide(workflows.runner(workflow, current), ref, state, e, problems)
        problems.extend(_divergences(ref, state, got, e))
        timeline.append(event_step(e))
        state = e.to_state
    return Replay(ref, workflow, current, state, timeline, problems)


def _migrated(
    ref: str, workflow: str, current: int, e: EventRow, problems: list[Problem]
) -> str | None:
    """A migration event: from the version the case was on, to a live state of its own."""
    moved = json.loads(e.data).get("migration", {})
    if moved.get("from_version") != current or moved.get("to_version") != e.workflow_version:
        problems.append(
            Problem(
                ref,
                e.seq,
                f"a migration from v{moved.get('from_version')} to "
                f"v{moved.get('to_version')}, recorded under v{e.workflow_version}, "
                f"of a case on v{current}",
            )
        )
    try:
        target = workflows.get(workflow, e.workflow_version)
    except KeyError:
        problems.append(Problem(ref, e.seq, f"{workflow} has no version {e.workflow_version}"))
        return None
    mapped = moved.get("mapping", {}).get(e.from_state, e.from_state)
    if e.to_state not in {s.name for s in target.states} or target.state(e.to_state).final:
        problems.append(
            Problem(ref, e.seq, f"migrated to {e.to_state}, no live state of v{target.version}")
        )
        return None
    return mapped


def _decide(
    runner: Runner, ref: str, state: str | None, e: EventRow, problems: list[Problem]
) -> str | None:
    """Where the trigger leads from ``state`` on the recorded inputs (None: refused)."""
    try:
        return runner.decide(state or "", e.trigger, _facts(json.loads(e.data))).dest
    except NotAllowed as exc:
        problems.append(Problem(ref, e.seq, f"{e.trigger} replays as refused: {exc}"))
        return None


def _divergences(ref: str, state: str | None, got: str | None, e: EventRow) -> list[Problem]:
    out = []
    if e.trigger != "open" and e.from_state != state:
        out.append(
            Problem(ref, e.seq, f"the event starts from {e.from_state}, but the case was {state}")
        )
    if got is not None and got != e.to_state:
        out.append(
            Problem(
                ref,
                e.seq,
                f"{e.trigger} from {state} replays to {got}, the history says {e.to_state}",
            )
        )
    return out


def replay(app: App, ref: str | None = None, as_of: datetime | None = None) -> list[Replay]:
    """Every case (or case ``ref``) replayed from its history, up to ``as_of`` if given."""
    out = []
    with reading(app.engine) as views:
        cases = views.events.cases(ref)
        if ref is not None and not cases:
            raise NotFound(f"case {ref} not found")
        for c in cases:
            events = views.events.of_case(c.id)
            out.append(replay_events(c.ref, c.workflow, c.workflow_version, events, as_of))
    return out
