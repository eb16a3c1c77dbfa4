"""Nore (Aidon meters): request → consent → remote open → confirmed.

Every meter in Nore has a HAN port, closed by default. The Nore form carries the order and the
consent together, so ``record_consent`` is accepted straight from ``requested``.

Two versions, both live (a case stays on the version it started on until ``workflow migrate``
moves it; released versions never change — ``workflows/released.json``):

- **v1**: a consent whose address matches opens the port at once.
- **v2**: the process a public form needs. A request that did not come through the registered
  customer's own channel never opens a port quietly: the customer is told at the e-mail on file
  and an objection window (default 1 working day) runs before the head-end command leaves; an
  objection cancels the request, or closes the port behind a command already sent. When there is
  no e-mail on file, another e-mail was given, or someone else signed (a representative, an
  organisation), a caseworker reviews who asked first. A form never changes what is on file.
"""

from __future__ import annotations

from dataclasses import replace

from hanport.workflows.definition import (
    Duration,
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
    CONSENT_FIELDS,
    CONSENT_TIMERS,
    SLA_TIMER,
    cancel_transition,
    common_transitions,
    consent_fragment,
    consent_states,
    consent_waiting,
    current_customer,
    hes_fragment,
    hes_tail,
    mapped_to,
    point_free,
    reject_transition,
)
from hanport.workflows.intents import (
    CloseBehind,
    EndConsent,
    RecordConsent,
    RecordDue,
    SetCaseData,
    ValidateConsent,
)
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


V1 = Workflow(
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


# --- version 2 ---------------------------------------------------------------------------------

# The form may be signed by the subscriber, under a power of attorney, or for an organisation.
SIGNER_ROLES_V2 = ("subscriber", "power_of_attorney", "organisation")
CONSENT_FIELDS_V2: tuple[Field, ...] = tuple(
    replace(f, choices=SIGNER_ROLES_V2)
    if f.name == "signer_role"
    else replace(f, help="The sender's address (e-mail), or the e-mail typed on the form")
    if f.name == "from_email"
    else f
    for f in CONSENT_FIELDS
)
OBJECTION = Field(
    "reason",
    FieldKind.TEXT,
    "What the customer said (kept as a case note)",
    required=False,
    personal=True,
)
_RECORD = ("requested", "awaiting_consent")
_MATCHES = ("address_matches", "sender_verified")
_hes_states_v2, _hes_transitions_v2, _hes_timers_v2 = hes_fragment(
    direction="open", done_state="confirmed", done_notices=(Notice("port_opened"),)
)

STATES_V2: tuple[State, ...] = (
    State("requested", "The customer asked to have the port opened"),
    *consent_states("consent_needed"),
    State(
        "identity_review",
        "Who asked is not plainly the registered customer (no e-mail on file, another e-mail "
        "given, a representative or an organisation signed): a caseworker checks before "
        "anything opens",
        notices=(Notice("identity_review"),),
    ),
    State(
        "objection_window",
        "The customer has been told at the e-mail on file; the port opens when the window "
        "ends without an objection",
        notices=(Notice("objection_window"),),
        intents=(RecordDue("objection_window", "objection_until"),),
    ),
    *_hes_states_v2,
    State("confirmed", "The port is open", final=True),
    State("rejected", "The consent was rejected", final=True),
    State("expired", "No consent arrived in time", final=True),
    State("objected", "The customer objected; nothing stays open", final=True),
    State("cancelled", "The case was cancelled", final=True),
)


def _record(dest: str, help: str, guards: tuple[str, ...], *more: object) -> Transition:
    return Transition(
        "record_consent",
        _RECORD,
        dest,
        help,
        guards=guards,
        fields=CONSENT_FIELDS_V2,
        also=(Role.CUSTOMER,),  # the customer's own order-and-consent form
        intents=(RecordConsent(), *more),  # type: ignore[arg-type]
    )


TRANSITIONS_V2: tuple[Transition, ...] = (
    Transition(
        "request_consent",
        ("requested",),
        "awaiting_consent",
        "Ask the customer for the signed consent declaration",
    ),
    # The first transition whose guards hold is taken, in this order.
    _record(
        "opening",
        "Record the consent; it came by e-mail from the address on file, signed by the "
        "customer: the customer's own channel, so no objection window",
        (*_MATCHES, "email_from_registered", "identity_plain"),
    ),
    _record(
        "objection_window",
        "Record the consent; the customer is told at the e-mail on file and may object",
        (*_MATCHES, "identity_plain"),
    ),
    _record(
        "identity_review",
        "Record the consent; who asked must be checked by a caseworker first",
        _MATCHES,
    ),
    _record(
        "address_review",
        "Record the consent; the address or sender needs review",
        ("identity_plain",),
        SetCaseData("identity", "plain"),
    ),
    _record(
        "address_review",
        "Record the consent; the address or sender needs review, and who asked as well",
        (),
        SetCaseData("identity", "review"),
    ),
    Transition(
        "approve_address",
        ("address_review",),
        "objection_window",
        "Accept the address despite the mismatch (supervisor, with a note); the customer is "
        "told at the e-mail on file and may object",
        guards=("identity_was_plain",),
        role=Role.SUPERVISOR,
        note_required=True,
        intents=(ValidateConsent(),),
    ),
    Transition(
        "approve_address",
        ("address_review",),
        "identity_review",
        "Accept the address despite the mismatch (supervisor, with a note); who asked is "
        "checked next",
        role=Role.SUPERVISOR,
        note_required=True,
        intents=(ValidateConsent(),),
    ),
    Transition(
        "confirm_identity",
        ("identity_review",),
        "objection_window",
        "Who asked is confirmed (a power of attorney seen, the customer called back on the "
        "number on file); the customer is told at the e-mail on file and may object",
        guards=("has_email_on_file",),
        note_required=True,
    ),
    Transition(
        "confirm_identity",
        ("identity_review",),
        "opening",
        "Who asked is confirmed, and the customer has no e-mail on file: the caseworker's "
        "check stands in for the notice",
        note_required=True,
    ),
    reject_transition(("address_review", "identity_review")),
    *consent_waiting(),
    Transition(
        "window_closed",
        ("objection_window",),
        "opening",
        "The objection window ended without an objection: the open command leaves",
        role=Role.SYSTEM,
    ),
    Transition(
        "object",
        tuple(s.name for s in STATES_V2 if not s.final),
        "objected",
        "The customer objects: the request is cancelled and its consent ends; a command "
        "already sent is followed by a close (after confirmed, an objection is a close request)",
        fields=(OBJECTION,),
        also=(Role.CUSTOMER,),  # from the signed link in the notice to the e-mail on file
        notices=(Notice("objection_received"),),
        intents=(EndConsent("withdrawn"), CloseBehind()),
    ),
    *_hes_transitions_v2,
    cancel_transition(STATES_V2, intents=(EndConsent("cancelled"), CloseBehind())),
    *common_transitions(STATES_V2),
)

OBJECTION_TIMER = Timer(
    "objection_window",
    TimerKind.STATE,
    "window_closed",
    "The objection window: the port opens after 1 working day without an objection (it "
    "counts against the SLA, so keep it short)",
    after=Duration(working_days=1),
    state="objection_window",
    config_key="objection_window",
)
SLA_TIMER_V2 = replace(
    SLA_TIMER,
    start_on=(
        "record_consent:objection_window",
        "record_consent:opening",
        "record_consent:identity_review",
        "approve_address",
    ),
)

V2 = Workflow(
    name="nore_open",
    version=2,
    title="Open the HAN port on an existing meter (Nore), with the objection window",
    initial="requested",
    states=STATES_V2,
    transitions=TRANSITIONS_V2,
    timers=(*CONSENT_TIMERS, OBJECTION_TIMER, *_hes_timers_v2, SLA_TIMER_V2),
    open_notices=(Notice("request_received"),),
    open_rules=(mapped_to("nore_open"), closed_port, point_free, current_customer),
    opens_port=True,
    hes=hes_tail("open"),
)
