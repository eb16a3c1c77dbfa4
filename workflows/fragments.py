"""Pieces shared by several workflows, declared once: the consent step, the HES tail, and the
triggers every workflow has (cancel, clear_flag, the SLA breach)."""

from __future__ import annotations

from collections.abc import Callable

from hanport.workflows.definition import (
    Duration,
    Field,
    FieldKind,
    HesTail,
    Intent,
    Notice,
    Role,
    State,
    Timer,
    TimerKind,
    Transition,
)
from hanport.workflows.errors import Refusal
from hanport.workflows.intents import (
    ClearFlag,
    CountHesFailure,
    EndConsent,
    PortAcknowledged,
    RecordConsent,
    ResetHesAttempts,
    RetryHesCommand,
    SendHesCommand,
    ValidateConsent,
)
from hanport.workflows.model import Opening

FLAGS = ("address_review", "sla_breached", "swap_overdue", "hes_attention", "mail_dead", "no_email")

SIGNER_ROLES = ("subscriber", "power_of_attorney")
SECURITY_OPTIONS = ("inside_dwelling", "locked_room", "locked_cabinet", "shared_locked_meter_room")
CONSENT_CHANNELS = ("form", "email", "phone")
END_REASONS = (
    "withdrawn",
    "move_out",
    "end_of_supply",
    "move_in",
    "meter_replaced",
    "cancelled",
    "expired",
)

CONSENT_FIELDS: tuple[Field, ...] = (
    Field("signer_name", FieldKind.TEXT, "Name of the person who signed", personal=True),
    Field(
        "signer_role",
        FieldKind.CHOICE,
        "Signed by the subscriber or under a power of attorney (fullmakt)",
        choices=SIGNER_ROLES,
    ),
    Field(
        "address", FieldKind.TEXT, "Installation address as written on the consent", personal=True
    ),
    Field("postal_code", FieldKind.POSTAL_CODE, "Postal code as written on the consent (4 digits)"),
    Field(
        "security",
        FieldKind.CHOICE,
        "How the meter is physically secured",
        choices=SECURITY_OPTIONS,
    ),
    Field("channel", FieldKind.CHOICE, "How the consent arrived", choices=CONSENT_CHANNELS),
    Field(
        "from_email",
        FieldKind.EMAIL,
        "Sender address, for a consent received by e-mail",
        required=False,
        personal=True,
    ),
    Field(
        "declaration_version",
        FieldKind.DECLARATION,
        "Version of the declaration text the customer was shown (templates/declarations)",
    ),
    # Received before the case was opened is normal: the regulator's deadline counts from the
    # customer's notice, and a form may be registered days after it arrived.
    Field(
        "received_at",
        FieldKind.INSTANT,
        "When the consent was received (and signed)",
        not_future=True,
        in_tenure=True,
    ),
)

REASON = Field("reason", FieldKind.TEXT, "Why (kept as a case note)", personal=True)


def consent_states(entry_notice: str) -> tuple[State, ...]:
    """``awaiting_consent`` (its entry notice asks for the declaration) and ``address_review``."""
    return (
        State(
            "awaiting_consent",
            "Waiting for the customer's signed consent declaration",
            notices=(Notice(entry_notice),),
        ),
        State(
            "address_review",
            "The address or sender on the consent did not match; a supervisor decides",
            flag="address_review",
            notices=(Notice("address_review"),),
        ),
    )


def consent_waiting() -> tuple[Transition, ...]:
    """The reminder and the expiry while no consent has come."""
    return (
        Transition(
            "remind_consent",
            ("awaiting_consent",),
            None,
            "Remind the customer that the consent is missing",
            role=Role.SYSTEM,
            notices=(Notice("consent_reminder"),),
        ),
        Transition(
            "expire",
            ("awaiting_consent",),
            "expired",
            "No consent arrived in time",
            role=Role.SYSTEM,
            notices=(Notice("consent_expired"),),
        ),
    )


CONSENT_TIMERS: tuple[Timer, ...] = (
    Timer(
        "remind_consent",
        TimerKind.STATE,
        "remind_consent",
        "Remind once when no consent has come after 7 days",
        after=Duration(days=7),
        state="awaiting_consent",
        config_key="remind_consent",
    ),
    Timer(
        "expire",
        TimerKind.STATE,
        "expire",
        "Expire the request when no consent has come after 30 days",
        after=Duration(days=30),
        state="awaiting_consent",
        config_key="expire",
    ),
)


def reject_transition(sources: tuple[str, ...]) -> Transition:
    """A caseworker rejects the consent under review (reason required)."""
    return Transition(
        "reject",
        sources,
        "rejected",
        "Reject the consent",
        fields=(REASON,),
        notices=(Notice("opening_rejected"),),
        intents=(EndConsent("cancelled"),),
    )


def consent_fragment(
    *, from_states: tuple[str, ...], next_state: str, entry_notice: str
) -> tuple[tuple[State, ...], tuple[Transition, ...], tuple[Timer, ...]]:
    """``awaiting_consent`` and ``address_review``; a valid consent leads to ``next_state``."""
    record_sources = (*from_states, "awaiting_consent")
    transitions = (
        Transition(
            "record_consent",
            record_sources,
            next_state,
            "Record the signed consent; it matches the installation address",
            guards=("address_matches", "sender_verified"),
            fields=CONSENT_FIELDS,
            intents=(RecordConsent(),),
        ),
        Transition(
            "record_consent",
            record_sources,
            "address_review",
            "Record the signed consent; the address or sender needs review",
            fields=CONSENT_FIELDS,
            intents=(RecordConsent(),),
        ),
        Transition(
            "approve_address",
            ("address_review",),
            next_state,
            "Accept the consent despite the address mismatch (supervisor, with a note)",
            role=Role.SUPERVISOR,
            note_required=True,
            intents=(ValidateConsent(),),
        ),
        reject_transition(("address_review",)),
        *consent_waiting(),
    )
    return consent_states(entry_notice), transitions, CONSENT_TIMERS


def hes_fragment(
    *, direction: str, done_state: str, done_notices: tuple[Notice, ...]
) -> tuple[tuple[State, ...], tuple[Transition, ...], tuple[Timer, ...]]:
    """The HES tail: ``opening`` or ``closing``, acknowledgement, failures, retry."""
    busy = "opening" if direction == "open" else "closing"
    confirm = f"confirm_{direction}"
    error = Field("error", FieldKind.TEXT, "What the HES or vendor reported", required=False)
    states = (
        State(
            busy,
            f"Command to {direction} the port sent to the head-end system; waiting for the ack",
            intents=(SendHesCommand(direction),),
        ),
        State(
            "needs_attention",
            "The head-end system failed three times; a caseworker must look",
            flag="hes_attention",
            notices=(Notice("hes_delay"),),
        ),
    )
    transitions = (
        Transition(
            confirm,
            (busy, "needs_attention"),
            done_state,
            f"The head-end system acknowledged: port {'opened' if direction == 'open' else 'closed'}",
            also=(Role.SYSTEM,),
            notices=done_notices,
            intents=(PortAcknowledged(direction),),
        ),
        Transition(
            "report_failure",
            (busy,),
            "needs_attention",
            "The command failed or timed out, for the last allowed time",
            guards=("failures_exhausted",),
            also=(Role.SYSTEM,),
            fields=(error,),
            intents=(CountHesFailure(),),
        ),
        Transition(
            "report_failure",
            (busy,),
            None,
            "The command failed or timed out; it is retried with backoff",
            also=(Role.SYSTEM,),
            fields=(error,),
            intents=(CountHesFailure(), RetryHesCommand(direction)),
        ),
        Transition(
            "retry",
            ("needs_attention",),
            busy,
            "Send the command again (resets the attempt count)",
            intents=(ResetHesAttempts(),),
        ),
    )
    timers = (
        Timer(
            "hes_timeout",
            TimerKind.STATE,
            "report_failure",
            "No acknowledgement within 24 h counts as a failure",
            after=Duration(hours=24),
            state=busy,
            config_key="hes_timeout",
        ),
    )
    return states, transitions, timers


def hes_tail(direction: str) -> HesTail:
    """The names ``hes_fragment`` gives its states and triggers, for answering a command."""
    busy = "opening" if direction == "open" else "closing"
    return HesTail(direction, busy, f"confirm_{direction}")


SLA_TIMER = Timer(
    "sla",
    TimerKind.CASE,
    "sla_breached",
    "The port should be open within 3 working days of a complete request (RME guideline)",
    after=Duration(working_days=3),
    start_on=("record_consent:opening", "approve_address"),
    config_key="sla",
)


def cancel_transition(
    states: tuple[State, ...], *, intents: tuple[Intent, ...], **kw: object
) -> Transition:
    """``cancel`` from every non-final state (reason required)."""
    options: dict = {"help": "Cancel the case (reason required)", **kw}
    return Transition(
        "cancel",
        tuple(s.name for s in states if not s.final),
        "cancelled",
        fields=(REASON,),
        notices=(Notice("case_cancelled"),),
        intents=intents,
        **options,
    )


def common_transitions(states: tuple[State, ...]) -> tuple[Transition, ...]:
    """``clear_flag`` and the dead-mail flag from every state, the SLA breach from every
    non-final one."""
    live = tuple(s.name for s in states if not s.final)
    every = tuple(s.name for s in states)
    return (
        Transition(
            "clear_flag",
            every,
            None,
            "Clear a flag after looking into it (supervisor, with a note)",
            role=Role.SUPERVISOR,
            note_required=True,
            fields=(Field("flag", FieldKind.CHOICE, "The flag to clear", choices=FLAGS),),
            intents=(ClearFlag(),),
        ),
        Transition(
            "flag_mail_dead",
            every,
            None,
            "A notice could not be delivered (refused, or too many attempts)",
            role=Role.SYSTEM,
            sets_flags=("mail_dead",),
        ),
        Transition(
            "flag_no_email",
            every,
            None,
            "The customer has no e-mail address: notices wait until one is registered",
            role=Role.SYSTEM,
            sets_flags=("no_email",),
        ),
        Transition(
            "sla_breached",
            live,
            None,
            "The SLA ran out before the case reached its end",
            role=Role.SYSTEM,
            sets_flags=("sla_breached",),
        ),
    )


# --- rules for opening a case that changes the port ------------------------------------------


def mapped_to(workflow: str) -> Callable[[Opening], None]:
    """The point's municipality is mapped to ``workflow`` (the area decides the process)."""

    def rule(o: Opening) -> None:
        p = o.point
        if o.area_workflow is None:
            raise Refusal(
                f"metering point {p.gsrn} is in municipality {p.municipality}, which is not "
                "mapped to any workflow (configure it under [areas])",
                field="municipality",
            )
        if o.area_workflow != workflow:
            raise Refusal(
                f"metering point {p.gsrn} is in {o.area_name} ({p.municipality}), which uses "
                f"{o.area_workflow}, not {workflow}"
            )

    return rule


def point_free(o: Opening) -> None:
    """No other case holds the point (one case at a time changes a port)."""
    if o.holder is not None:
        raise Refusal(
            f"case {o.holder.ref} ({o.holder.state}) already holds metering point {o.point.gsrn}"
        )


def current_customer(o: Opening) -> None:
    """Only the point's current customer can ask for its port to change."""
    if o.point.customer_pk != o.customer.pk:
        raise Refusal(
            f"customer {o.customer.customer_id} is not the current customer of {o.point.gsrn}"
        )
