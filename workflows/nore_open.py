"""Nore (Aidon meters): request → consent → remote open → confirmed.

Every meter in Nore has a HAN port, closed by default. The Nore form carries the order and the
consent together, so ``record_consent`` is accepted straight from ``requested``.
"""

from __future__ import annotations

from hanport.workflows.definition import Notice, State, Transition, Workflow
from hanport.workflows.errors import Refusal
from hanport.workflows.fragments import (
    SLA_TIMER,
    cancel_transition,
    common_transitions,
    consent_fragment,
    current_customer,
    hes_fragment,
    hes_tail,
    mapped_to,
    point_free,
)
from hanport.workflows.intents import CloseBehind, EndConsent
from hanport.workflows.model import Opening

_consent_states, _consent_transitions, _consent_timers = consent_fragment(
    from_states=("requested",), next_state="opening", entry_notice="consent_needed"
)
_hes_states, _hes_transitions, _hes_timers = hes_fragment(
    direction="open", done_state="confirmed", done_notices=(Notice("port_opened"),)
)

STATES: tuple[State, ...] = (
    State("requested", "The customer asked to have the port opened"),
    *_consent_states,
    *_hes_states,
    State("confirmed", "The port is open", final=True),
    State("rejected", "The consent was rejected", final=True),
    State("expired", "No consent arrived in time", final=True),
    State("cancelled", "The case was cancelled", final=True),
)

TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        "request_consent",
        ("requested",),
        "awaiting_consent",
        "Ask the customer for the signed consent declaration",
    ),
    *_consent_transitions,
    *_hes_transitions,
    cancel_transition(STATES, intents=(EndConsent("cancelled"), CloseBehind())),
    *common_transitions(STATES),
)


def closed_port(o: Opening) -> None:
    """The meter has a HAN port, and it is closed."""
    if o.point.port == "none":
        raise Refusal(f"metering point {o.point.gsrn} has no HAN port")
    if o.point.port == "open":
        raise Refusal(f"the HAN port of {o.point.gsrn} is already open")


WORKFLOW = Workflow(
    name="nore_open",
    version=1,
    title="Open the HAN port on an existing meter (Nore)",
    initial="requested",
    states=STATES,
    transitions=TRANSITIONS,
    timers=(*_consent_timers, *_hes_timers, SLA_TIMER),
    open_notices=(Notice("request_received"),),
    open_rules=(mapped_to("nore_open"), closed_port, point_free, current_customer),
    opens_port=True,
    hes=hes_tail("open"),
)
