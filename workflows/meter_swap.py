"""Ringerike and Hole (Kamstrup meters without a HAN port): a free meter swap, queued for about
1–2 months, then the consent, then the opening. ENERGIPILOT participants are warned first: their
real-time unit in the fuse box stops working with the new meter."""

from __future__ import annotations

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
from hanport.workflows.intents import CloseBehind, EndConsent, InstallMeter, SetCaseData
from hanport.workflows.model import Opening

_consent_states, _consent_transitions, _consent_timers = consent_fragment(
    from_states=(), next_state="opening", entry_notice="meter_installed"
)
_hes_states, _hes_transitions, _hes_timers = hes_fragment(
    direction="open", done_state="confirmed", done_notices=(Notice("port_opened"),)
)

STATES: tuple[State, ...] = (
    State(
        "requested",
        "The customer ordered a meter swap",
        notices=(Notice("energipilot_warning", when=("energipilot_warning_due",)),),
    ),
    State(
        "queued",
        "In the swap queue (about 1–2 months)",
        notices=(Notice("swap_queued"),),
    ),
    State(
        "visit_scheduled", "An installer's visit is booked", notices=(Notice("visit_scheduled"),)
    ),
    *_consent_states,
    *_hes_states,
    State("confirmed", "The new meter's port is open", final=True),
    State("rejected", "The consent was rejected", final=True),
    State("expired", "No consent arrived in time", final=True),
    State("cancelled", "The case was cancelled", final=True),
)

VISIT_DATE = Field("visit_date", FieldKind.DATE, "The day the installer comes (YYYY-MM-DD)")

TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        "enqueue",
        ("requested",),
        "queued",
        "Put the swap in the queue (an ENERGIPILOT customer must have been warned)",
        guards=("energipilot_cleared",),
    ),
    Transition(
        "acknowledge_energipilot",
        ("requested",),
        "queued",
        "The ENERGIPILOT customer acknowledged the warning; queue the swap",
        guards=("energipilot_warning_due",),
        intents=(SetCaseData("energipilot_ack", True),),
    ),
    Transition(
        "schedule_visit",
        ("queued",),
        "visit_scheduled",
        "Book the installer's visit",
        fields=(VISIT_DATE,),
    ),
    Transition(
        "schedule_visit",
        ("visit_scheduled",),
        "visit_scheduled",
        "Move the installer's visit to another day",
        fields=(VISIT_DATE,),
    ),
    Transition(
        "record_installation",
        ("queued", "visit_scheduled"),
        "awaiting_consent",
        "The new meter (with a HAN port, closed) is installed",
        fields=(
            Field("meter_number", FieldKind.METER_NUMBER, "The new meter's number"),
            Field(
                "installed_at",
                FieldKind.INSTANT,
                "When the new meter was installed",
                not_future=True,
                in_tenure=True,
            ),
        ),
        intents=(InstallMeter(),),
        clears_flags=("swap_overdue",),
    ),
    Transition(
        "swap_overdue",
        ("queued", "visit_scheduled"),
        None,
        "The swap has waited longer than promised",
        role=Role.SYSTEM,
        sets_flags=("swap_overdue",),
        notices=(Notice("swap_delayed"),),
    ),
    *_consent_transitions,
    *_hes_transitions,
    cancel_transition(STATES, intents=(EndConsent("cancelled"), CloseBehind())),
    *common_transitions(STATES),
)

SWAP_OVERDUE = Timer(
    "swap_overdue",
    TimerKind.CASE,
    "swap_overdue",
    "The swap should be done within 60 days of queueing",
    after=Duration(days=60),
    start_on=("enqueue", "acknowledge_energipilot"),
    stop_on=("record_installation",),
    config_key="swap_overdue",
)


def no_han_port(o: Opening) -> None:
    """The meter has no HAN port yet (a swap is what gives it one)."""
    if o.point.port != "none":
        raise Refusal(f"metering point {o.point.gsrn} already has a meter with a HAN port")


WORKFLOW = Workflow(
    name="meter_swap",
    version=1,
    title="Swap a meter for one with a HAN port, then open it (Ringerike, Hole)",
    initial="requested",
    states=STATES,
    transitions=TRANSITIONS,
    timers=(SWAP_OVERDUE, *_consent_timers, *_hes_timers, SLA_TIMER),
    auto_triggers=("enqueue",),
    open_rules=(mapped_to("meter_swap"), no_han_port, point_free, current_customer),
    opens_port=True,
    hes=hes_tail("open"),
)
