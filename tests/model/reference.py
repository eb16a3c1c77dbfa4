"""An independent reference model of the three workflows, transcribed from the tables and prose of
shared/design.md (not derived from ``workflows/``): for each state, the triggers it accepts and the
states each may lead to. The model-based test checks every event the engine appends against it.
"""

from __future__ import annotations

# --- the shared fragments (design.md, "Consent fragment", "HES fragment") ----------------------

_CONSENT_RESULT = frozenset({"opening", "address_review"})

_AWAITING_CONSENT = {
    "record_consent": _CONSENT_RESULT,
    "cancel": {"cancelled"},
    # system: the 7-day reminder (internal), the 30-day expiry
    "remind_consent": {"awaiting_consent"},
    "expire": {"expired"},
}
_ADDRESS_REVIEW = {
    "approve_address": {"opening"},
    "reject": {"rejected"},
    "cancel": {"cancelled"},
}


def _hes_tail(busy: str, confirm: str, done: str) -> dict[str, dict[str, set[str] | frozenset]]:
    return {
        busy: {
            confirm: {done},
            # a failure is retried with backoff (stays) or, the 3rd time, needs attention
            "report_failure": {busy, "needs_attention"},
            "cancel": {"cancelled"},
        },
        "needs_attention": {
            "retry": {busy},
            # a late acknowledgement still completes the case
            confirm: {done},
            "cancel": {"cancelled"},
        },
    }


NORE_OPEN: dict[str, dict[str, set[str] | frozenset]] = {
    "requested": {
        "request_consent": {"awaiting_consent"},
        # the Nore form carries the order and the consent together
        "record_consent": _CONSENT_RESULT,
        "cancel": {"cancelled"},
    },
    "awaiting_consent": dict(_AWAITING_CONSENT),
    "address_review": dict(_ADDRESS_REVIEW),
    **_hes_tail("opening", "confirm_open", "confirmed"),
    "confirmed": {},
    "rejected": {},
    "expired": {},
    "cancelled": {},
}

METER_SWAP: dict[str, dict[str, set[str] | frozenset]] = {
    "requested": {
        "enqueue": {"queued"},
        "acknowledge_energipilot": {"queued"},
        "cancel": {"cancelled"},
    },
    "queued": {
        "schedule_visit": {"visit_scheduled"},
        "record_installation": {"awaiting_consent"},
        "swap_overdue": {"queued"},
        "cancel": {"cancelled"},
    },
    "visit_scheduled": {
        "schedule_visit": {"visit_scheduled"},
        "record_installation": {"awaiting_consent"},
        "swap_overdue": {"visit_scheduled"},
        "cancel": {"cancelled"},
    },
    "awaiting_consent": dict(_AWAITING_CONSENT),
    "address_review": dict(_ADDRESS_REVIEW),
    **_hes_tail("opening", "confirm_open", "confirmed"),
    "confirmed": {},
    "rejected": {},
    "expired": {},
    "cancelled": {},
}

CLOSE_PORT: dict[str, dict[str, set[str] | frozenset]] = {
    "requested": {
        "reject_request": {"rejected"},  # another customer's meter
        "accept_email": {"closing"},  # by e-mail from the registered address
        "verify_identity": {"closing"},
        "start_close": {"closing"},  # a due auto-close
        "schedule": {"scheduled"},  # a future auto-close
        "cancel": {"cancelled"},
    },
    "scheduled": {
        "start_close": {"closing"},
        "rollback": {"cancelled"},
        "cancel": {"cancelled"},
    },
    **_hes_tail("closing", "confirm_close", "closed"),
    "closed": {},
    "rejected": {},
    "cancelled": {},
}

REFERENCE = {"nore_open": NORE_OPEN, "meter_swap": METER_SWAP, "close_port": CLOSE_PORT}
FINAL = {
    "nore_open": {"confirmed", "rejected", "expired", "cancelled"},
    "meter_swap": {"confirmed", "rejected", "expired", "cancelled"},
    "close_port": {"closed", "rejected", "cancelled"},
}
INITIAL = "requested"

# Cases in these states change (or are about to change) the point's port: one per point.
# An unverified close request and a scheduled auto-close do not hold it yet.
HOLDING = {
    "nore_open": set(NORE_OPEN) - FINAL["nore_open"],
    "meter_swap": set(METER_SWAP) - FINAL["meter_swap"],
    "close_port": {"closing", "needs_attention"},
}

# Flags are case attributes: clearing one, or a flag-only system event, never moves the case.
# The SLA breach is an event and a flag, in non-final states only.
FLAG_TRIGGERS_ANY_STATE = {"clear_flag", "flag_mail_dead", "flag_no_email"}
FLAG_TRIGGERS_LIVE = {"sla_breached"}

# What the scheduler, the HES gateway and the mailer may do during a tick.
SYSTEM_TRIGGERS = {
    "remind_consent",
    "expire",
    "report_failure",
    "confirm_open",
    "confirm_close",
    "swap_overdue",
    "start_close",
    "sla_breached",
    "flag_mail_dead",
    "flag_no_email",
}
SYSTEM_ACTOR_KINDS = {"scheduler", "hes", "system"}

# Auto triggers a command that opens a case may fire right after the ``open`` event.
OPEN_FOLLOW_UPS = {
    "nore_open": {"record_consent"},
    "meter_swap": {"enqueue"},
    "close_port": {"reject_request", "accept_email", "start_close", "schedule"},
}


def allowed(workflow: str, state: str) -> dict[str, set[str]]:
    """Trigger → possible destinations from ``state``, flag triggers included."""
    table = REFERENCE[workflow]
    out = {t: set(d) for t, d in table[state].items()}
    for t in FLAG_TRIGGERS_ANY_STATE:
        out.setdefault(t, set()).add(state)
    if state not in FINAL[workflow]:
        for t in FLAG_TRIGGERS_LIVE:
            out.setdefault(t, set()).add(state)
    return out
