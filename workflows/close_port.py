"""Closing the port: on the customer's request (meter number required, e-mail confirmation), and
automatically when the customer moves, ends the contract, a newcomer moves in, or the meter is
replaced (opened by the nightly batch or a registry import)."""

from __future__ import annotations

from dataclasses import replace

from hanport.workflows.definition import (
    Field,
    FieldKind,
    Notice,
    Role,
    State,
    Timer,
    TimerKind,
    Transition,
    Workflow,
)
from hanport.workflows.errors import Refusal
from hanport.workflows.fragments import (
    cancel_transition,
    common_transitions,
    hes_fragment,
    hes_tail,
)
from hanport.workflows.intents import EndConsent, KeepClosing, TakeOverPoint
from hanport.workflows.model import Opening

AUTO_REASONS = ("move_out", "end_of_supply", "move_in", "meter_replaced")
IDENTITY_METHODS = ("callback_registered_phone", "bankid", "in_person", "registered_email")

_hes_states, _hes_transitions, _hes_timers = hes_fragment(
    direction="close",
    done_state="closed",
    done_notices=(
        Notice("port_closed", unless=("is_auto_close",)),
        Notice("auto_closed", when=("is_auto_close",)),
    ),
)

STATES: tuple[State, ...] = (
    # Not holding the point yet: an unverified request must not cancel someone's opening.
    State(
        "requested",
        "The customer asked to close the port; identity not yet verified",
        holds_port=False,
    ),
    State(
        "scheduled",
        "An automatic close waits for its effective time",
        holds_port=False,
    ),
    *_hes_states,
    State("closed", "The port is closed", final=True),
    State("rejected", "The request was refused", final=True),
    State("cancelled", "The case was cancelled", final=True),
)

# Entering ``closing`` takes over the point: in-flight openings are cancelled and the consent
# ends (``withdrawn`` for a request, the auto-close reason otherwise) before the close is sent.
_CLOSING = (TakeOverPoint(), EndConsent(point=True))

TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        "reject_request",
        ("requested",),
        "rejected",
        "The meter number belongs to another customer's metering point",
        role=Role.SYSTEM,
        guards=("meter_of_other_customer",),
        notices=(Notice("close_rejected"),),
    ),
    Transition(
        "accept_email",
        ("requested",),
        "closing",
        "The request came by e-mail from the registered address: close at once",
        role=Role.SYSTEM,
        guards=("email_from_registered",),
        intents=_CLOSING,
    ),
    Transition(
        "verify_identity",
        ("requested",),
        "closing",
        "The caseworker verified who asked (recorded as the actor)",
        fields=(
            Field(
                "method",
                FieldKind.CHOICE,
                "How the identity was verified",
                choices=IDENTITY_METHODS,
            ),
        ),
        intents=_CLOSING,
    ),
    Transition(
        "start_close",
        ("requested",),
        "closing",
        "An automatic close whose effective time has already come: close at once",
        role=Role.SYSTEM,
        guards=("is_auto_close", "effective_reached"),
        intents=_CLOSING,
    ),
    Transition(
        "schedule",
        ("requested",),
        "scheduled",
        "An automatic close: wait for its effective time",
        role=Role.SYSTEM,
        guards=("is_auto_close",),
        unless=("effective_reached",),
    ),
    Transition(
        "start_close",
        ("scheduled",),
        "closing",
        "The effective time has come: end the consent and close the port",
        role=Role.SYSTEM,
        guards=("effective_reached",),
        intents=_CLOSING,
    ),
    Transition(
        "rollback",
        ("scheduled",),
        "cancelled",
        "Elhub rolled the move or termination back before it took effect",
        role=Role.SYSTEM,
        notices=(Notice("close_cancelled_rollback"),),
    ),
    *_hes_transitions,
    cancel_transition(
        STATES,
        intents=(KeepClosing(),),
        unless=("is_auto_close",),
        help="Cancel the close request (reason required); once its consent has ended the port "
        "still closes: a close command still out stays, or one more is queued",
    ),
    cancel_transition(
        STATES,
        intents=(KeepClosing(),),
        guards=("is_auto_close",),
        role=Role.SUPERVISOR,
        help="Cancel an automatic close (supervisor, reason required); once the consent has "
        "ended the port still closes",
    ),
    *common_transitions(STATES),
)

AUTO_CLOSE_DUE = Timer(
    "auto_close_due",
    TimerKind.ABSOLUTE,
    "start_close",
    "Close at the move's or termination's effective time",
    state="scheduled",
    at_field="effective_at",
)


def something_to_close(o: Opening) -> None:
    """A customer closing their own port: no close already under way, a HAN port to close, and
    either an open port or something in flight. (A meter number of another customer's point is
    taken, and rejected by ``reject_request``.)"""
    if o.point_customer_id != o.customer.customer_id:
        return
    for c in o.others:
        if c.workflow == "close_port":
            raise Refusal(f"a close is already under way for this meter ({c.ref}, {c.state})")
    holding, number = o.holder, o.meter_number
    if o.point.port == "none":
        swap = (
            f" (a meter swap is under way: {holding.ref}; cancel that instead)" if holding else ""
        )
        raise Refusal(f"meter {number} has no HAN port, so there is nothing to close{swap}")
    if o.point.port == "closed" and holding is None:
        raise Refusal(f"the HAN port of meter {number} is already closed, with nothing in flight")


WORKFLOW = Workflow(
    name="close_port",
    version=1,
    title="Close the HAN port: on request, or automatically on a move or contract end",
    initial="requested",
    states=STATES,
    transitions=TRANSITIONS,
    timers=(AUTO_CLOSE_DUE, *_hes_timers),
    auto_triggers=("reject_request", "accept_email", "start_close", "schedule"),
    open_rules=(something_to_close,),
    hes=hes_tail("close"),
)


# --- version 2 ---------------------------------------------------------------------------------
#
# The customer's own door: a close request from the web form is confirmed from a signed link in
# a notice to the e-mail on file (no e-mail on file: a caseworker verifies, as in v1); a close
# asked for from a signed link (withdrawing the consent) closes at once. Everything of v1 stays.

TRANSITIONS_V2: tuple[Transition, ...] = (
    TRANSITIONS[0],  # reject_request: a meter number of another customer's point
    Transition(
        "accept_link",
        ("requested",),
        "closing",
        "The request came from a signed link in a notice sent to the e-mail on file (the "
        "customer withdrawing the consent): close at once",
        role=Role.SYSTEM,
        guards=("from_link",),
        intents=_CLOSING,
    ),
    *TRANSITIONS[1:],
    Transition(
        "confirm_by_link",
        ("requested",),
        "closing",
        "The customer confirmed a close request made on the web form, from the signed link in "
        "the notice sent to the e-mail on file",
        role=Role.SYSTEM,
        also=(Role.CUSTOMER,),
        guards=("from_form",),
        intents=_CLOSING,
    ),
)

WORKFLOW_V2 = replace(
    WORKFLOW,
    version=2,
    title="Close the HAN port: on request (by e-mail, phone or the web form), or automatically "
    "on a move or contract end",
    transitions=TRANSITIONS_V2,
    open_notices=(Notice("close_confirm", when=("from_form",)),),
    auto_triggers=("reject_request", "accept_email", "accept_link", "start_close", "schedule"),
)
