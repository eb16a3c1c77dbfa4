"""Runs a trigger through a workflow's ``transitions`` machine.

One ``Machine`` per workflow version, built once, and one reusable model whose state is set from
the case row before each trigger: no ``add_model`` per case (attaching scans a list, keeps every
model alive and silently skips a model equal to one already attached).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine, MachineError

from hanport.workflows.definition import Transition, Workflow
from hanport.workflows.guards import GUARDS


class NotAllowed(Exception):
    """The trigger is not declared from the case's state, or no transition's guards hold."""

    def __init__(self, message: str, guards: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.guards = guards or {}


@dataclass(frozen=True)
class Choice:
    """The transition a trigger takes from a state, and every guard evaluated on the way."""

    trigger: str
    source: str
    dest: str  # equals source for an internal transition
    transition: Transition
    guards: dict[str, dict[str, Any]]  # every guard evaluated: inputs and result


class _Model:
    """The one reusable model: state from the row, facts for the guards, a log of outcomes."""

    def __init__(self) -> None:
        self.state = ""
        self.facts: Mapping[str, Any] = {}
        self.log: dict[str, dict[str, Any]] = {}
        self.chosen: Transition | None = None


class Runner:
    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self._lock = threading.Lock()
        self._model = _Model()
        self.machine = Machine(
            model=[],
            states=[s.name for s in workflow.states],
            initial=workflow.initial,
            transitions=[self._spec(t) for t in workflow.transitions],
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )

    def _spec(self, t: Transition) -> dict[str, Any]:
        def chosen(ev: EventData, t: Transition = t) -> None:
            model: _Model = ev.model  # type: ignore[assignment]
            model.chosen = t

        return {
            "trigger": t.trigger,
            "source": list(t.source),
            "dest": t.dest,
            "conditions": [self._check(g) for g in t.guards],
            "unless": [self._check(g) for g in t.unless],
            "before": [chosen],
        }

    @staticmethod
    def _check(name: str) -> Any:
        g = GUARDS[name]

        def check(ev: EventData) -> bool:
            model: _Model = ev.model  # type: ignore[assignment]
            if name not in model.log:
                model.log[name] = {"inputs": g.inputs(model.facts), "result": g(model.facts)}
            return bool(model.log[name]["result"])

        return check

    def _why_not(self, state: str, trigger: str, log: Mapping[str, Any]) -> str:
        """Which guards failed (and which ``unless`` conditions held) for ``trigger``."""
        unless = {
            u for t in self.workflow.transitions_for(trigger) if state in t.source for u in t.unless
        }
        failed = [n for n, r in log.items() if not r["result"] and n not in unless]
        held = [n for n, r in log.items() if r["result"] and n in unless]
        parts = ", ".join(failed) if failed else ""
        if held:
            parts += ("; " if parts else "") + "unless " + ", ".join(held)
        return f"{trigger}: guard failed ({parts or '?'})"

    def decide(self, state: str, trigger: str, facts: Mapping[str, Any]) -> Choice:
        """Pick the transition ``trigger`` takes from ``state`` given the guard inputs."""
        if trigger not in self.machine.events:
            raise NotAllowed(f"{self.workflow.name} has no trigger {trigger!r}")
        with self._lock:
            m = self._model
            m.state, m.facts, m.log, m.chosen = state, facts, {}, None
            try:
                ok = self.machine.events[trigger].trigger(m)
            except MachineError:
                allowed = ", ".join(self.workflow.allowed(state)) or "none"
                raise NotAllowed(
                    f"trigger {trigger!r} is not allowed in state {state!r} (allowed: {allowed})"
                ) from None
            if not ok or m.chosen is None:
                raise NotAllowed(self._why_not(state, trigger, m.log), dict(m.log))
            return Choice(trigger, state, m.state, m.chosen, dict(m.log))

    def may(self, state: str, trigger: str, facts: Mapping[str, Any]) -> bool:
        try:
            self.decide(state, trigger, facts)
        except NotAllowed:
            return False
        return True
