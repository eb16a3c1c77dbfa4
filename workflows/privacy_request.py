"""A data subject's request (GDPR art. 15–18): access, rectification, erasure or restriction of
processing — a case about a person, not a metering point (its point is ``NO_POINT``).

A caseworker registers the request as it came (letter, e-mail, phone, in person) and checks who
asked before anything is disclosed or changed. The answer is due one month after receipt (art.
12(3)): the deadline is a timer that flags the case ``sla_breached`` — the data-protection
officer's overdue list is ``case list --workflow privacy_request --overdue``, like any other. A
supervisor may extend it once by two further months, with the reason, and the subject is told
(art. 12(3)); a refusal gives the reasons and the right to complain to Datatilsynet (art. 12(4)).

The answer itself goes through the engine's own tools, and the case records it: access is
``customer export`` delivered to the subject; rectification is ``customer update``; erasure is
``customer erase`` (the case can only be answered once the subject is erased); a restriction is
this case held in ``restricted``, which stops every other processing of the subject
(:mod:`workflows.restriction`) until it is lifted, the subject told first (art. 18(3)).
"""

from __future__ import annotations

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
from hanport.workflows.fragments import REASON, cancel_transition, common_transitions
from hanport.workflows.intents import ExtendDeadline

KINDS = ("access", "rectification", "erasure", "restriction")
CHANNELS = ("letter", "email", "phone", "in_person", "form")
IDENTITY_CHECKS = ("bankid", "in_person", "registered_email", "callback_registered_phone", "letter")
DELIVERY = ("email", "letter", "in_person")
# Art. 18(1)(a)–(d): why processing is restricted.
RESTRICTION_GROUNDS = (
    "accuracy_contested",
    "unlawful_processing",
    "needed_for_legal_claims",
    "objection_pending",
)
LIFT_GROUNDS = ("accuracy_verified", "claims_settled", "objection_decided", "subject_asked")
EXTENSION_MONTHS = 2

_OPEN = ("identity_check", "in_progress")

STATES: tuple[State, ...] = (
    State(
        "identity_check",
        "Registered as it came; a caseworker checks who asked before anything is disclosed or "
        "changed",
        holds_port=False,
    ),
    State(
        "in_progress",
        "Who asked is verified; the request is being answered",
        holds_port=False,
    ),
    State(
        "restricted",
        "Processing of the subject's data is restricted (art. 18): kept, nothing else, until "
        "the restriction is lifted",
        holds_port=False,
        notices=(Notice("privacy_restricted"),),
    ),
    State("answered", "The request was answered", final=True, holds_port=False),
    State("refused", "The request was refused, with the reasons", final=True, holds_port=False),
    State("lifted", "The restriction was lifted", final=True, holds_port=False),
    State("cancelled", "The subject withdrew the request", final=True, holds_port=False),
)


def _extend(state: str) -> Transition:
    return Transition(
        "extend",
        (state,),
        state,
        f"Extend the deadline once by {EXTENSION_MONTHS} months (supervisor; the reason is kept "
        "as a note, the subject is told before the first month ends)",
        role=Role.SUPERVISOR,
        unless=("deadline_extended", "deadline_passed"),
        fields=(REASON,),
        notices=(Notice("privacy_request_extended"),),
        intents=(ExtendDeadline(EXTENSION_MONTHS),),
    )


def _answer(kind: str, help: str, *more: str, **kw: object) -> Transition:
    options: dict = {"note_required": True, **kw}
    return Transition(
        "deliver_access" if kind == "access" else "answer",
        ("in_progress",),
        "answered",
        help,
        role=Role.SUPERVISOR,
        guards=(f"request_{kind}", *more),
        notices=(Notice("privacy_request_answered", unless=("subject_erased",)),),
        **options,
    )


TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        "verify_identity",
        ("identity_check",),
        "in_progress",
        "The caseworker verified who asked (recorded as the actor, with how)",
        fields=(
            Field(
                "method", FieldKind.CHOICE, "How the identity was verified", choices=IDENTITY_CHECKS
            ),
        ),
    ),
    _extend("identity_check"),
    _extend("in_progress"),
    _answer(
        "access",
        "The export of everything held (customer export) was delivered to the subject",
        fields=(Field("delivered_by", FieldKind.CHOICE, "How it was delivered", choices=DELIVERY),),
        note_required=False,
    ),
    _answer(
        "rectification",
        "The records were corrected (customer update); the note says what was corrected",
    ),
    _answer(
        "erasure",
        "The subject was erased (customer erase); the note says what, if anything, is kept",
        "subject_erased",
        note_required=False,
    ),
    Transition(
        "restrict",
        ("in_progress",),
        "restricted",
        "Restrict processing of the subject's data: every other case of theirs stops but for "
        "cancelling and closing",
        role=Role.SUPERVISOR,
        guards=("request_restriction",),
        fields=(
            Field(
                "ground",
                FieldKind.CHOICE,
                "Why (art. 18(1))",
                choices=RESTRICTION_GROUNDS,
            ),
        ),
    ),
    Transition(
        "lift_restriction",
        ("restricted",),
        "lifted",
        "Lift the restriction (supervisor, with a note); the subject is told",
        role=Role.SUPERVISOR,
        note_required=True,
        fields=(Field("ground", FieldKind.CHOICE, "Why it ends", choices=LIFT_GROUNDS),),
        notices=(Notice("privacy_restriction_lifted"),),
    ),
    Transition(
        "refuse",
        _OPEN,
        "refused",
        "Refuse the request (supervisor): who asked could not be verified, or the request is "
        "manifestly unfounded or excessive (art. 12(5)); the reason is kept as a note and the "
        "subject is told of the right to complain to Datatilsynet",
        role=Role.SUPERVISOR,
        fields=(REASON,),
        notices=(Notice("privacy_request_refused"),),
    ),
    cancel_transition(
        STATES, intents=(), help="The subject withdrew the request (reason required)"
    ),
    *common_transitions(STATES),
)

# The deadline runs from receipt whatever the state (one timer per open state, both at the
# instant the case data holds: an extension moves it, and re-entering the state restarts it).
DEADLINE_HELP = "The answer is due one month after receipt, or when extended (art. 12(3))"
TIMERS: tuple[Timer, ...] = tuple(
    Timer(
        f"deadline_{state}",
        TimerKind.ABSOLUTE,
        "sla_breached",
        DEADLINE_HELP,
        state=state,
        at_field="due_at",
    )
    for state in _OPEN
)

WORKFLOW = Workflow(
    name="privacy_request",
    version=1,
    title="A data subject's request: access, rectification, erasure or restriction (GDPR)",
    initial="identity_check",
    states=STATES,
    transitions=TRANSITIONS,
    timers=TIMERS,
    open_notices=(Notice("privacy_request_received"),),
)
