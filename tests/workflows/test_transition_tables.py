"""The workflows' public contract, written out literally (design.md, "Workflows").

Every trigger from every state of every workflow, allowed (with the state it leads to) or refused,
with the guard inputs ("facts") the service layer would pass. The expected outcomes are copied from
the design, not computed from the definitions: a change to a definition must show up as a change to
this file. Only the completeness checks (no state or trigger left out) read the definitions.
"""

from __future__ import annotations

from typing import Any

import pytest

from hanport import workflows
from hanport.workflows import intents
from hanport.workflows.definition import Duration, Notice, Role, TimerKind, Workflow
from hanport.workflows.runner import NotAllowed

REFUSED = "REFUSED"

# --- guard inputs ---------------------------------------------------------------------------
# Personal values arrive as salted hashes; equality is all the guards need, so short stand-ins do.

NOTHING: dict[str, Any] = {}

# record_consent
MATCH = {  # a form whose address matches the installation address
    "consent_address": "h:storgata 12b|3510",
    "installation_address": "h:storgata 12b|3510",
    "channel": "form",
    "from_email": None,
    "registered_email": "h:kari@example.no",
}
PHONE_MATCH = {
    "consent_address": "h:storgata 12b|3510",
    "installation_address": "h:storgata 12b|3510",
    "channel": "phone",
    "from_email": None,
    "registered_email": "h:kari@example.no",
}
MISMATCH = {  # another address (e.g. only the customer's postal address)
    "consent_address": "h:kongens gate 5|3511",
    "installation_address": "h:storgata 12b|3510",
    "channel": "form",
    "from_email": None,
    "registered_email": "h:kari@example.no",
}
NO_ADDRESS = {  # neither side known: never a match
    "consent_address": None,
    "installation_address": None,
    "channel": "form",
    "from_email": None,
    "registered_email": "h:kari@example.no",
}
EMAIL_REGISTERED = {  # e-mail from the registered address, address matches
    "consent_address": "h:storgata 12b|3510",
    "installation_address": "h:storgata 12b|3510",
    "channel": "email",
    "from_email": "h:kari@example.no",
    "registered_email": "h:kari@example.no",
}
EMAIL_UNREGISTERED = {  # address matches, but sent from an address that is not the registered one
    "consent_address": "h:storgata 12b|3510",
    "installation_address": "h:storgata 12b|3510",
    "channel": "email",
    "from_email": "h:someone@example.com",
    "registered_email": "h:kari@example.no",
}
EMAIL_NO_REGISTERED = {  # the customer has no registered e-mail address
    "consent_address": "h:storgata 12b|3510",
    "installation_address": "h:storgata 12b|3510",
    "channel": "email",
    "from_email": "h:kari@example.no",
    "registered_email": None,
}

# report_failure: failures so far (before this one) and the configured limit
HES_FIRST = {"hes_failures": 0, "hes_max_attempts": 3}
HES_SECOND = {"hes_failures": 1, "hes_max_attempts": 3}
HES_LAST = {"hes_failures": 2, "hes_max_attempts": 3}
HES_BEYOND = {"hes_failures": 5, "hes_max_attempts": 3}
HES5_BELOW = {"hes_failures": 3, "hes_max_attempts": 5}
HES5_LAST = {"hes_failures": 4, "hes_max_attempts": 5}
HES1_LAST = {"hes_failures": 0, "hes_max_attempts": 1}

# meter_swap: ENERGIPILOT
NO_PILOT = {"energipilot": False, "energipilot_ack": False}
PILOT_UNACKED = {"energipilot": True, "energipilot_ack": False}
PILOT_ACKED = {"energipilot": True, "energipilot_ack": True}

# close_port
PHONE_REQUEST = {
    "channel": "phone",
    "from_email": None,
    "registered_email": "h:kari@example.no",
    "meter_holder": "C1",
    "customer": "C1",
    "close_reason": "withdrawn",
}
EMAIL_REQUEST = {
    "channel": "email",
    "from_email": "h:kari@example.no",
    "registered_email": "h:kari@example.no",
    "meter_holder": "C1",
    "customer": "C1",
    "close_reason": "withdrawn",
}
EMAIL_REQUEST_OTHER_SENDER = {
    "channel": "email",
    "from_email": "h:someone@example.com",
    "registered_email": "h:kari@example.no",
    "meter_holder": "C1",
    "customer": "C1",
    "close_reason": "withdrawn",
}
EMAIL_REQUEST_NO_REGISTERED = {
    "channel": "email",
    "from_email": "h:kari@example.no",
    "registered_email": None,
    "meter_holder": "C1",
    "customer": "C1",
    "close_reason": "withdrawn",
}
OTHER_CUSTOMERS_METER = {
    "channel": "phone",
    "from_email": None,
    "registered_email": "h:kari@example.no",
    "meter_holder": "C2",
    "customer": "C1",
    "close_reason": "withdrawn",
}
UNKNOWN_HOLDER = {
    "channel": "phone",
    "from_email": None,
    "registered_email": "h:kari@example.no",
    "meter_holder": None,
    "customer": "C1",
    "close_reason": "withdrawn",
}
NO_REASON = {"close_reason": None}
# Auto-closes: effective 2026-03-29T00:00+01:00 == 2026-03-28T23:00Z (the DST night).
AUTO_PENDING = {  # one second before the effective instant
    "close_reason": "move_out",
    "effective_at": "2026-03-29T00:00:00+01:00",
    "now": "2026-03-28T22:59:59+00:00",
}
AUTO_DUE = {  # exactly the effective instant, written with another offset
    "close_reason": "move_out",
    "effective_at": "2026-03-29T00:00:00+01:00",
    "now": "2026-03-28T23:00:00+00:00",
}
AUTO_PAST = {  # 00:30Z is after 01:00+01:00 (= 00:00Z), although it sorts before it as text
    "close_reason": "end_of_supply",
    "effective_at": "2026-03-29T01:00:00+01:00",
    "now": "2026-03-29T00:30:00+00:00",
}
AUTO_NOT_YET = {  # 01:00+01:00 (= 00:00Z) is before 00:30Z, although it sorts after it as text
    "close_reason": "move_in",
    "effective_at": "2026-03-29T00:30:00+00:00",
    "now": "2026-03-29T01:00:00+01:00",
}
AUTO_REPLACED = {
    "close_reason": "meter_replaced",
    "effective_at": "2026-03-29T00:00:00+01:00",
    "now": "2026-04-01T08:00:00+00:00",
}
AUTO_END_OF_SUPPLY = {
    "close_reason": "end_of_supply",
    "effective_at": "2026-10-25T02:30:00+02:00",
    "now": "2026-10-25T00:29:59+00:00",
}
AUTO_MOVE_IN = {
    "close_reason": "move_in",
    "effective_at": "2026-10-25T02:30:00+01:00",  # the second 02:30 of the autumn night
    "now": "2026-10-25T01:30:00Z",
}
AUTO_NO_EFFECTIVE = {"close_reason": "move_out", "effective_at": None, "now": "2026-03-29T00:00Z"}


# --- nore_open ------------------------------------------------------------------------------

NORE_OPEN_TABLE: list[tuple[str, str, dict[str, Any], str]] = [
    # requested: the Nore form carries order and consent together
    ("requested", "request_consent", NOTHING, "awaiting_consent"),
    ("requested", "record_consent", MATCH, "opening"),
    ("requested", "record_consent", PHONE_MATCH, "opening"),
    ("requested", "record_consent", EMAIL_REGISTERED, "opening"),
    ("requested", "record_consent", MISMATCH, "address_review"),
    ("requested", "record_consent", NO_ADDRESS, "address_review"),
    ("requested", "record_consent", EMAIL_UNREGISTERED, "address_review"),
    ("requested", "record_consent", EMAIL_NO_REGISTERED, "address_review"),
    ("requested", "approve_address", NOTHING, REFUSED),
    ("requested", "reject", NOTHING, REFUSED),
    ("requested", "remind_consent", NOTHING, REFUSED),
    ("requested", "expire", NOTHING, REFUSED),
    ("requested", "confirm_open", NOTHING, REFUSED),
    ("requested", "report_failure", HES_LAST, REFUSED),
    ("requested", "report_failure", HES_FIRST, REFUSED),
    ("requested", "retry", NOTHING, REFUSED),
    ("requested", "cancel", NOTHING, "cancelled"),
    ("requested", "clear_flag", NOTHING, "requested"),
    ("requested", "flag_mail_dead", NOTHING, "requested"),
    ("requested", "flag_no_email", NOTHING, "requested"),
    ("requested", "sla_breached", NOTHING, "requested"),
    # awaiting_consent
    ("awaiting_consent", "request_consent", NOTHING, REFUSED),
    ("awaiting_consent", "record_consent", MATCH, "opening"),
    ("awaiting_consent", "record_consent", PHONE_MATCH, "opening"),
    ("awaiting_consent", "record_consent", EMAIL_REGISTERED, "opening"),
    ("awaiting_consent", "record_consent", MISMATCH, "address_review"),
    ("awaiting_consent", "record_consent", NO_ADDRESS, "address_review"),
    ("awaiting_consent", "record_consent", EMAIL_UNREGISTERED, "address_review"),
    ("awaiting_consent", "record_consent", EMAIL_NO_REGISTERED, "address_review"),
    ("awaiting_consent", "approve_address", NOTHING, REFUSED),
    ("awaiting_consent", "reject", NOTHING, REFUSED),
    ("awaiting_consent", "remind_consent", NOTHING, "awaiting_consent"),
    ("awaiting_consent", "expire", NOTHING, "expired"),
    ("awaiting_consent", "confirm_open", NOTHING, REFUSED),
    ("awaiting_consent", "report_failure", HES_LAST, REFUSED),
    ("awaiting_consent", "retry", NOTHING, REFUSED),
    ("awaiting_consent", "cancel", NOTHING, "cancelled"),
    ("awaiting_consent", "clear_flag", NOTHING, "awaiting_consent"),
    ("awaiting_consent", "flag_mail_dead", NOTHING, "awaiting_consent"),
    ("awaiting_consent", "flag_no_email", NOTHING, "awaiting_consent"),
    ("awaiting_consent", "sla_breached", NOTHING, "awaiting_consent"),
    # address_review
    ("address_review", "request_consent", NOTHING, REFUSED),
    ("address_review", "record_consent", MATCH, REFUSED),
    ("address_review", "record_consent", MISMATCH, REFUSED),
    ("address_review", "approve_address", NOTHING, "opening"),
    ("address_review", "reject", NOTHING, "rejected"),
    ("address_review", "remind_consent", NOTHING, REFUSED),
    ("address_review", "expire", NOTHING, REFUSED),
    ("address_review", "confirm_open", NOTHING, REFUSED),
    ("address_review", "report_failure", HES_LAST, REFUSED),
    ("address_review", "retry", NOTHING, REFUSED),
    ("address_review", "cancel", NOTHING, "cancelled"),
    ("address_review", "clear_flag", NOTHING, "address_review"),
    ("address_review", "flag_mail_dead", NOTHING, "address_review"),
    ("address_review", "flag_no_email", NOTHING, "address_review"),
    ("address_review", "sla_breached", NOTHING, "address_review"),
    # opening
    ("opening", "request_consent", NOTHING, REFUSED),
    ("opening", "record_consent", MATCH, REFUSED),
    ("opening", "record_consent", MISMATCH, REFUSED),
    ("opening", "approve_address", NOTHING, REFUSED),
    ("opening", "reject", NOTHING, REFUSED),
    ("opening", "remind_consent", NOTHING, REFUSED),
    ("opening", "expire", NOTHING, REFUSED),
    ("opening", "confirm_open", NOTHING, "confirmed"),
    ("opening", "report_failure", HES_FIRST, "opening"),
    ("opening", "report_failure", HES_SECOND, "opening"),
    ("opening", "report_failure", HES_LAST, "needs_attention"),
    ("opening", "report_failure", HES_BEYOND, "needs_attention"),
    ("opening", "report_failure", HES5_BELOW, "opening"),
    ("opening", "report_failure", HES5_LAST, "needs_attention"),
    ("opening", "report_failure", HES1_LAST, "needs_attention"),
    ("opening", "retry", NOTHING, REFUSED),
    ("opening", "cancel", NOTHING, "cancelled"),
    ("opening", "clear_flag", NOTHING, "opening"),
    ("opening", "flag_mail_dead", NOTHING, "opening"),
    ("opening", "flag_no_email", NOTHING, "opening"),
    ("opening", "sla_breached", NOTHING, "opening"),
    # needs_attention
    ("needs_attention", "request_consent", NOTHING, REFUSED),
    ("needs_attention", "record_consent", MATCH, REFUSED),
    ("needs_attention", "approve_address", NOTHING, REFUSED),
    ("needs_attention", "reject", NOTHING, REFUSED),
    ("needs_attention", "remind_consent", NOTHING, REFUSED),
    ("needs_attention", "expire", NOTHING, REFUSED),
    ("needs_attention", "confirm_open", NOTHING, "confirmed"),
    ("needs_attention", "report_failure", HES_FIRST, REFUSED),
    ("needs_attention", "report_failure", HES_LAST, REFUSED),
    ("needs_attention", "retry", NOTHING, "opening"),
    ("needs_attention", "cancel", NOTHING, "cancelled"),
    ("needs_attention", "clear_flag", NOTHING, "needs_attention"),
    ("needs_attention", "flag_mail_dead", NOTHING, "needs_attention"),
    ("needs_attention", "flag_no_email", NOTHING, "needs_attention"),
    ("needs_attention", "sla_breached", NOTHING, "needs_attention"),
    # confirmed (final)
    ("confirmed", "request_consent", NOTHING, REFUSED),
    ("confirmed", "record_consent", MATCH, REFUSED),
    ("confirmed", "approve_address", NOTHING, REFUSED),
    ("confirmed", "reject", NOTHING, REFUSED),
    ("confirmed", "remind_consent", NOTHING, REFUSED),
    ("confirmed", "expire", NOTHING, REFUSED),
    ("confirmed", "confirm_open", NOTHING, REFUSED),
    ("confirmed", "report_failure", HES_LAST, REFUSED),
    ("confirmed", "retry", NOTHING, REFUSED),
    ("confirmed", "cancel", NOTHING, REFUSED),
    ("confirmed", "clear_flag", NOTHING, "confirmed"),
    ("confirmed", "flag_mail_dead", NOTHING, "confirmed"),
    ("confirmed", "flag_no_email", NOTHING, "confirmed"),
    ("confirmed", "sla_breached", NOTHING, REFUSED),
    # rejected (final)
    ("rejected", "request_consent", NOTHING, REFUSED),
    ("rejected", "record_consent", MATCH, REFUSED),
    ("rejected", "approve_address", NOTHING, REFUSED),
    ("rejected", "reject", NOTHING, REFUSED),
    ("rejected", "remind_consent", NOTHING, REFUSED),
    ("rejected", "expire", NOTHING, REFUSED),
    ("rejected", "confirm_open", NOTHING, REFUSED),
    ("rejected", "report_failure", HES_LAST, REFUSED),
    ("rejected", "retry", NOTHING, REFUSED),
    ("rejected", "cancel", NOTHING, REFUSED),
    ("rejected", "clear_flag", NOTHING, "rejected"),
    ("rejected", "flag_mail_dead", NOTHING, "rejected"),
    ("rejected", "flag_no_email", NOTHING, "rejected"),
    ("rejected", "sla_breached", NOTHING, REFUSED),
    # expired (final)
    ("expired", "request_consent", NOTHING, REFUSED),
    ("expired", "record_consent", MATCH, REFUSED),
    ("expired", "approve_address", NOTHING, REFUSED),
    ("expired", "reject", NOTHING, REFUSED),
    ("expired", "remind_consent", NOTHING, REFUSED),
    ("expired", "expire", NOTHING, REFUSED),
    ("expired", "confirm_open", NOTHING, REFUSED),
    ("expired", "report_failure", HES_LAST, REFUSED),
    ("expired", "retry", NOTHING, REFUSED),
    ("expired", "cancel", NOTHING, REFUSED),
    ("expired", "clear_flag", NOTHING, "expired"),
    ("expired", "flag_mail_dead", NOTHING, "expired"),
    ("expired", "flag_no_email", NOTHING, "expired"),
    ("expired", "sla_breached", NOTHING, REFUSED),
    # cancelled (final)
    ("cancelled", "request_consent", NOTHING, REFUSED),
    ("cancelled", "record_consent", MATCH, REFUSED),
    ("cancelled", "approve_address", NOTHING, REFUSED),
    ("cancelled", "reject", NOTHING, REFUSED),
    ("cancelled", "remind_consent", NOTHING, REFUSED),
    ("cancelled", "expire", NOTHING, REFUSED),
    ("cancelled", "confirm_open", NOTHING, REFUSED),
    ("cancelled", "report_failure", HES_LAST, REFUSED),
    ("cancelled", "retry", NOTHING, REFUSED),
    ("cancelled", "cancel", NOTHING, REFUSED),
    ("cancelled", "clear_flag", NOTHING, "cancelled"),
    ("cancelled", "flag_mail_dead", NOTHING, "cancelled"),
    ("cancelled", "flag_no_email", NOTHING, "cancelled"),
    ("cancelled", "sla_breached", NOTHING, REFUSED),
]


# --- meter_swap -----------------------------------------------------------------------------

METER_SWAP_TABLE: list[tuple[str, str, dict[str, Any], str]] = [
    # requested: an ENERGIPILOT customer must acknowledge the warning before the swap is queued
    ("requested", "enqueue", NO_PILOT, "queued"),
    ("requested", "enqueue", PILOT_ACKED, "queued"),
    ("requested", "enqueue", PILOT_UNACKED, REFUSED),
    ("requested", "acknowledge_energipilot", PILOT_UNACKED, "queued"),
    ("requested", "acknowledge_energipilot", NO_PILOT, REFUSED),
    ("requested", "acknowledge_energipilot", PILOT_ACKED, REFUSED),
    ("requested", "schedule_visit", NOTHING, REFUSED),
    ("requested", "record_installation", NOTHING, REFUSED),
    ("requested", "swap_overdue", NOTHING, REFUSED),
    ("requested", "record_consent", MATCH, REFUSED),
    ("requested", "record_consent", MISMATCH, REFUSED),
    ("requested", "approve_address", NOTHING, REFUSED),
    ("requested", "reject", NOTHING, REFUSED),
    ("requested", "remind_consent", NOTHING, REFUSED),
    ("requested", "expire", NOTHING, REFUSED),
    ("requested", "confirm_open", NOTHING, REFUSED),
    ("requested", "report_failure", HES_LAST, REFUSED),
    ("requested", "retry", NOTHING, REFUSED),
    ("requested", "cancel", NOTHING, "cancelled"),
    ("requested", "clear_flag", NOTHING, "requested"),
    ("requested", "flag_mail_dead", NOTHING, "requested"),
    ("requested", "flag_no_email", NOTHING, "requested"),
    ("requested", "sla_breached", NOTHING, "requested"),
    # queued
    ("queued", "enqueue", NO_PILOT, REFUSED),
    ("queued", "acknowledge_energipilot", PILOT_UNACKED, REFUSED),
    ("queued", "schedule_visit", NOTHING, "visit_scheduled"),
    ("queued", "record_installation", NOTHING, "awaiting_consent"),
    ("queued", "swap_overdue", NOTHING, "queued"),
    ("queued", "record_consent", MATCH, REFUSED),
    ("queued", "record_consent", MISMATCH, REFUSED),
    ("queued", "approve_address", NOTHING, REFUSED),
    ("queued", "reject", NOTHING, REFUSED),
    ("queued", "remind_consent", NOTHING, REFUSED),
    ("queued", "expire", NOTHING, REFUSED),
    ("queued", "confirm_open", NOTHING, REFUSED),
    ("queued", "report_failure", HES_LAST, REFUSED),
    ("queued", "retry", NOTHING, REFUSED),
    ("queued", "cancel", NOTHING, "cancelled"),
    ("queued", "clear_flag", NOTHING, "queued"),
    ("queued", "flag_mail_dead", NOTHING, "queued"),
    ("queued", "flag_no_email", NOTHING, "queued"),
    ("queued", "sla_breached", NOTHING, "queued"),
    # visit_scheduled: schedule_visit again reschedules
    ("visit_scheduled", "enqueue", NO_PILOT, REFUSED),
    ("visit_scheduled", "acknowledge_energipilot", PILOT_UNACKED, REFUSED),
    ("visit_scheduled", "schedule_visit", NOTHING, "visit_scheduled"),
    ("visit_scheduled", "record_installation", NOTHING, "awaiting_consent"),
    ("visit_scheduled", "swap_overdue", NOTHING, "visit_scheduled"),
    ("visit_scheduled", "record_consent", MATCH, REFUSED),
    ("visit_scheduled", "approve_address", NOTHING, REFUSED),
    ("visit_scheduled", "reject", NOTHING, REFUSED),
    ("visit_scheduled", "remind_consent", NOTHING, REFUSED),
    ("visit_scheduled", "expire", NOTHING, REFUSED),
    ("visit_scheduled", "confirm_open", NOTHING, REFUSED),
    ("visit_scheduled", "report_failure", HES_LAST, REFUSED),
    ("visit_scheduled", "retry", NOTHING, REFUSED),
    ("visit_scheduled", "cancel", NOTHING, "cancelled"),
    ("visit_scheduled", "clear_flag", NOTHING, "visit_scheduled"),
    ("visit_scheduled", "flag_mail_dead", NOTHING, "visit_scheduled"),
    ("visit_scheduled", "flag_no_email", NOTHING, "visit_scheduled"),
    ("visit_scheduled", "sla_breached", NOTHING, "visit_scheduled"),
    # awaiting_consent: the consent is ordered after the swap
    ("awaiting_consent", "enqueue", NO_PILOT, REFUSED),
    ("awaiting_consent", "acknowledge_energipilot", PILOT_UNACKED, REFUSED),
    ("awaiting_consent", "schedule_visit", NOTHING, REFUSED),
    ("awaiting_consent", "record_installation", NOTHING, REFUSED),
    ("awaiting_consent", "swap_overdue", NOTHING, REFUSED),
    ("awaiting_consent", "record_consent", MATCH, "opening"),
    ("awaiting_consent", "record_consent", PHONE_MATCH, "opening"),
    ("awaiting_consent", "record_consent", EMAIL_REGISTERED, "opening"),
    ("awaiting_consent", "record_consent", MISMATCH, "address_review"),
    ("awaiting_consent", "record_consent", NO_ADDRESS, "address_review"),
    ("awaiting_consent", "record_consent", EMAIL_UNREGISTERED, "address_review"),
    ("awaiting_consent", "record_consent", EMAIL_NO_REGISTERED, "address_review"),
    ("awaiting_consent", "approve_address", NOTHING, REFUSED),
    ("awaiting_consent", "reject", NOTHING, REFUSED),
    ("awaiting_consent", "remind_consent", NOTHING, "awaiting_consent"),
    ("awaiting_consent", "expire", NOTHING, "expired"),
    ("awaiting_consent", "confirm_open", NOTHING, REFUSED),
    ("awaiting_consent", "report_failure", HES_LAST, REFUSED),
    ("awaiting_consent", "retry", NOTHING, REFUSED),
    ("awaiting_consent", "cancel", NOTHING, "cancelled"),
    ("awaiting_consent", "clear_flag", NOTHING, "awaiting_consent"),
    ("awaiting_consent", "flag_mail_dead", NOTHING, "awaiting_consent"),
    ("awaiting_consent", "flag_no_email", NOTHING, "awaiting_consent"),
    ("awaiting_consent", "sla_breached", NOTHING, "awaiting_consent"),
    # address_review
    ("address_review", "enqueue", NO_PILOT, REFUSED),
    ("address_review", "acknowledge_energipilot", PILOT_UNACKED, REFUSED),
    ("address_review", "schedule_visit", NOTHING, REFUSED),
    ("address_review", "record_installation", NOTHING, REFUSED),
    ("address_review", "swap_overdue", NOTHING, REFUSED),
    ("address_review", "record_consent", MATCH, REFUSED),
    ("address_review", "approve_address", NOTHING, "opening"),
    ("address_review", "reject", NOTHING, "rejected"),
    ("address_review", "remind_consent", NOTHING, REFUSED),
    ("address_review", "expire", NOTHING, REFUSED),
    ("address_review", "confirm_open", NOTHING, REFUSED),
    ("address_review", "report_failure", HES_LAST, REFUSED),
    ("address_review", "retry", NOTHING, REFUSED),
    ("address_review", "cancel", NOTHING, "cancelled"),
    ("address_review", "clear_flag", NOTHING, "address_review"),
    ("address_review", "flag_mail_dead", NOTHING, "address_review"),
    ("address_review", "flag_no_email", NOTHING, "address_review"),
    ("address_review", "sla_breached", NOTHING, "address_review"),
    # opening
    ("opening", "enqueue", NO_PILOT, REFUSED),
    ("opening", "acknowledge_energipilot", PILOT_UNACKED, REFUSED),
    ("opening", "schedule_visit", NOTHING, REFUSED),
    ("opening", "record_installation", NOTHING, REFUSED),
    ("opening", "swap_overdue", NOTHING, REFUSED),
    ("opening", "record_consent", MATCH, REFUSED),
    ("opening", "approve_address", NOTHING, REFUSED),
    ("opening", "reject", NOTHING, REFUSED),
    ("opening", "remind_consent", NOTHING, REFUSED),
    ("opening", "expire", NOTHING, REFUSED),
    ("opening", "confirm_open", NOTHING, "confirmed"),
    ("opening", "report_failure", HES_FIRST, "opening"),
    ("opening", "report_failure", HES_SECOND, "opening"),
    ("opening", "report_failure", HES_LAST, "needs_attention"),
    ("opening", "report_failure", HES_BEYOND, "needs_attention"),
    ("opening", "report_failure", HES5_BELOW, "opening"),
    ("opening", "report_failure", HES5_LAST, "needs_attention"),
    ("opening", "retry", NOTHING, REFUSED),
    ("opening", "cancel", NOTHING, "cancelled"),
    ("opening", "clear_flag", NOTHING, "opening"),
    ("opening", "flag_mail_dead", NOTHING, "opening"),
    ("opening", "flag_no_email", NOTHING, "opening"),
    ("opening", "sla_breached", NOTHING, "opening"),
    # needs_attention
    ("needs_attention", "enqueue", NO_PILOT, REFUSED),
    ("needs_attention", "acknowledge_energipilot", PILOT_UNACKED, REFUSED),
    ("needs_attention", "schedule_visit", NOTHING, REFUSED),
    ("needs_attention", "record_installation", NOTHING, REFUSED),
    ("needs_attention", "swap_overdue", NOTHING, REFUSED),
    ("needs_attention", "record_consent", MATCH, REFUSED),
    ("needs_attention", "approve_address", NOTHING, REFUSED),
    ("needs_attention", "reject", NOTHING, REFUSED),
    ("needs_attention", "remind_consent", NOTHING, REFUSED),
    ("needs_attention", "expire", NOTHING, REFUSED),
    ("needs_attention", "confirm_open", NOTHING, "confirmed"),
    ("needs_attention", "report_failure", HES_LAST, REFUSED),
    ("needs_attention", "retry", NOTHING, "opening"),
    ("needs_attention", "cancel", NOTHING, "cancelled"),
    ("needs_attention", "clear_flag", NOTHING, "needs_attention"),
    ("needs_attention", "flag_mail_dead", NOTHING, "needs_attention"),
    ("needs_attention", "flag_no_email", NOTHING, "needs_attention"),
    ("needs_attention", "sla_breached", NOTHING, "needs_attention"),
    # confirmed (final)
    ("confirmed", "enqueue", NO_PILOT, REFUSED),
    ("confirmed", "acknowledge_energipilot", PILOT_UNACKED, REFUSED),
    ("confirmed", "schedule_visit", NOTHING, REFUSED),
    ("confirmed", "record_installation", NOTHING, REFUSED),
    ("confirmed", "swap_overdue", NOTHING, REFUSED),
    ("confirmed", "record_consent", MATCH, REFUSED),
    ("confirmed", "approve_address", NOTHING, REFUSED),
    ("confirmed", "reject", NOTHING, REFUSED),
    ("confirmed", "remind_consent", NOTHING, REFUSED),
    ("confirmed", "expire", NOTHING, REFUSED),
    ("confirmed", "confirm_open", NOTHING, REFUSED),
    ("confirmed", "report_failure", HES_LAST, REFUSED),
    ("confirmed", "retry", NOTHING, REFUSED),
    ("confirmed", "cancel", NOTHING, REFUSED),
    ("confirmed", "clear_flag", NOTHING, "confirmed"),
    ("confirmed", "flag_mail_dead", NOTHING, "confirmed"),
    ("confirmed", "flag_no_email", NOTHING, "confirmed"),
    ("confirmed", "sla_breached", NOTHING, REFUSED),
    # rejected (final)
    ("rejected", "enqueue", NO_PILOT, REFUSED),
    ("rejected", "acknowledge_energipilot", PILOT_UNACKED, REFUSED),
    ("rejected", "schedule_visit", NOTHING, REFUSED),
    ("rejected", "record_installation", NOTHING, REFUSED),
    ("rejected", "swap_overdue", NOTHING, REFUSED),
    ("rejected", "record_consent", MATCH, REFUSED),
    ("rejected", "approve_address", NOTHING, REFUSED),
    ("rejected", "reject", NOTHING, REFUSED),
    ("rejected", "remind_consent", NOTHING, REFUSED),
    ("rejected", "expire", NOTHING, REFUSED),
    ("rejected", "confirm_open", NOTHING, REFUSED),
    ("rejected", "report_failure", HES_LAST, REFUSED),
    ("rejected", "retry", NOTHING, REFUSED),
    ("rejected", "cancel", NOTHING, REFUSED),
    ("rejected", "clear_flag", NOTHING, "rejected"),
    ("rejected", "flag_mail_dead", NOTHING, "rejected"),
    ("rejected", "flag_no_email", NOTHING, "rejected"),
    ("rejected", "sla_breached", NOTHING, REFUSED),
    # expired (final)
    ("expired", "enqueue", NO_PILOT, REFUSED),
    ("expired", "acknowledge_energipilot", PILOT_UNACKED, REFUSED),
    ("expired", "schedule_visit", NOTHING, REFUSED),
    ("expired", "record_installation", NOTHING, REFUSED),
    ("expired", "swap_overdue", NOTHING, REFUSED),
    ("expired", "record_consent", MATCH, REFUSED),
    ("expired", "approve_address", NOTHING, REFUSED),
    ("expired", "reject", NOTHING, REFUSED),
    ("expired", "remind_consent", NOTHING, REFUSED),
    ("expired", "expire", NOTHING, REFUSED),
    ("expired", "confirm_open", NOTHING, REFUSED),
    ("expired", "report_failure", HES_LAST, REFUSED),
    ("expired", "retry", NOTHING, REFUSED),
    ("expired", "cancel", NOTHING, REFUSED),
    ("expired", "clear_flag", NOTHING, "expired"),
    ("expired", "flag_mail_dead", NOTHING, "expired"),
    ("expired", "flag_no_email", NOTHING, "expired"),
    ("expired", "sla_breached", NOTHING, REFUSED),
    # cancelled (final)
    ("cancelled", "enqueue", NO_PILOT, REFUSED),
    ("cancelled", "acknowledge_energipilot", PILOT_UNACKED, REFUSED),
    ("cancelled", "schedule_visit", NOTHING, REFUSED),
    ("cancelled", "record_installation", NOTHING, REFUSED),
    ("cancelled", "swap_overdue", NOTHING, REFUSED),
    ("cancelled", "record_consent", MATCH, REFUSED),
    ("cancelled", "approve_address", NOTHING, REFUSED),
    ("cancelled", "reject", NOTHING, REFUSED),
    ("cancelled", "remind_consent", NOTHING, REFUSED),
    ("cancelled", "expire", NOTHING, REFUSED),
    ("cancelled", "confirm_open", NOTHING, REFUSED),
    ("cancelled", "report_failure", HES_LAST, REFUSED),
    ("cancelled", "retry", NOTHING, REFUSED),
    ("cancelled", "cancel", NOTHING, REFUSED),
    ("cancelled", "clear_flag", NOTHING, "cancelled"),
    ("cancelled", "flag_mail_dead", NOTHING, "cancelled"),
    ("cancelled", "flag_no_email", NOTHING, "cancelled"),
    ("cancelled", "sla_breached", NOTHING, REFUSED),
]


# --- close_port -----------------------------------------------------------------------------

CLOSE_PORT_TABLE: list[tuple[str, str, dict[str, Any], str]] = [
    # requested: rejected (another customer's meter), at once (e-mail from the registered
    # address), after an identity check, or scheduled (an auto-close)
    ("requested", "reject_request", OTHER_CUSTOMERS_METER, "rejected"),
    ("requested", "reject_request", PHONE_REQUEST, REFUSED),
    ("requested", "reject_request", UNKNOWN_HOLDER, REFUSED),
    ("requested", "accept_email", EMAIL_REQUEST, "closing"),
    ("requested", "accept_email", EMAIL_REQUEST_OTHER_SENDER, REFUSED),
    ("requested", "accept_email", EMAIL_REQUEST_NO_REGISTERED, REFUSED),
    ("requested", "accept_email", PHONE_REQUEST, REFUSED),
    ("requested", "accept_email", AUTO_DUE, REFUSED),
    ("requested", "verify_identity", PHONE_REQUEST, "closing"),
    ("requested", "verify_identity", EMAIL_REQUEST_OTHER_SENDER, "closing"),
    ("requested", "schedule", AUTO_PENDING, "scheduled"),
    ("requested", "schedule", AUTO_DUE, REFUSED),  # due: start_close skips scheduled
    ("requested", "schedule", AUTO_END_OF_SUPPLY, "scheduled"),
    ("requested", "schedule", AUTO_MOVE_IN, REFUSED),
    ("requested", "schedule", AUTO_REPLACED, REFUSED),
    ("requested", "schedule", PHONE_REQUEST, REFUSED),
    ("requested", "schedule", NO_REASON, REFUSED),
    ("requested", "start_close", AUTO_DUE, "closing"),
    ("requested", "start_close", AUTO_PENDING, REFUSED),
    ("requested", "start_close", PHONE_REQUEST, REFUSED),
    ("requested", "rollback", NOTHING, REFUSED),
    ("requested", "confirm_close", NOTHING, REFUSED),
    ("requested", "report_failure", HES_LAST, REFUSED),
    ("requested", "retry", NOTHING, REFUSED),
    ("requested", "cancel", PHONE_REQUEST, "cancelled"),
    ("requested", "cancel", AUTO_PENDING, "cancelled"),
    ("requested", "clear_flag", NOTHING, "requested"),
    ("requested", "flag_mail_dead", NOTHING, "requested"),
    ("requested", "flag_no_email", NOTHING, "requested"),
    ("requested", "sla_breached", NOTHING, "requested"),
    # scheduled: the absolute timer fires start_close at effective_at
    ("scheduled", "reject_request", OTHER_CUSTOMERS_METER, REFUSED),
    ("scheduled", "accept_email", EMAIL_REQUEST, REFUSED),
    ("scheduled", "verify_identity", PHONE_REQUEST, REFUSED),
    ("scheduled", "schedule", AUTO_PENDING, REFUSED),
    ("scheduled", "start_close", AUTO_DUE, "closing"),
    ("scheduled", "start_close", AUTO_PAST, "closing"),
    ("scheduled", "start_close", AUTO_REPLACED, "closing"),
    ("scheduled", "start_close", AUTO_MOVE_IN, "closing"),
    ("scheduled", "start_close", AUTO_PENDING, REFUSED),
    ("scheduled", "start_close", AUTO_NOT_YET, REFUSED),
    ("scheduled", "start_close", AUTO_END_OF_SUPPLY, REFUSED),
    ("scheduled", "start_close", AUTO_NO_EFFECTIVE, REFUSED),
    ("scheduled", "rollback", NOTHING, "cancelled"),
    ("scheduled", "confirm_close", NOTHING, REFUSED),
    ("scheduled", "report_failure", HES_LAST, REFUSED),
    ("scheduled", "retry", NOTHING, REFUSED),
    ("scheduled", "cancel", AUTO_PENDING, "cancelled"),
    ("scheduled", "cancel", PHONE_REQUEST, "cancelled"),
    ("scheduled", "clear_flag", NOTHING, "scheduled"),
    ("scheduled", "flag_mail_dead", NOTHING, "scheduled"),
    ("scheduled", "flag_no_email", NOTHING, "scheduled"),
    ("scheduled", "sla_breached", NOTHING, "scheduled"),
    # closing
    ("closing", "reject_request", OTHER_CUSTOMERS_METER, REFUSED),
    ("closing", "accept_email", EMAIL_REQUEST, REFUSED),
    ("closing", "verify_identity", PHONE_REQUEST, REFUSED),
    ("closing", "schedule", AUTO_PENDING, REFUSED),
    ("closing", "start_close", AUTO_DUE, REFUSED),
    ("closing", "rollback", NOTHING, REFUSED),
    ("closing", "confirm_close", NOTHING, "closed"),
    ("closing", "report_failure", HES_FIRST, "closing"),
    ("closing", "report_failure", HES_SECOND, "closing"),
    ("closing", "report_failure", HES_LAST, "needs_attention"),
    ("closing", "report_failure", HES_BEYOND, "needs_attention"),
    ("closing", "report_failure", HES5_BELOW, "closing"),
    ("closing", "report_failure", HES5_LAST, "needs_attention"),
    ("closing", "retry", NOTHING, REFUSED),
    ("closing", "cancel", PHONE_REQUEST, "cancelled"),
    ("closing", "cancel", AUTO_DUE, "cancelled"),
    ("closing", "clear_flag", NOTHING, "closing"),
    ("closing", "flag_mail_dead", NOTHING, "closing"),
    ("closing", "flag_no_email", NOTHING, "closing"),
    ("closing", "sla_breached", NOTHING, "closing"),
    # needs_attention
    ("needs_attention", "reject_request", OTHER_CUSTOMERS_METER, REFUSED),
    ("needs_attention", "accept_email", EMAIL_REQUEST, REFUSED),
    ("needs_attention", "verify_identity", PHONE_REQUEST, REFUSED),
    ("needs_attention", "schedule", AUTO_PENDING, REFUSED),
    ("needs_attention", "start_close", AUTO_DUE, REFUSED),
    ("needs_attention", "rollback", NOTHING, REFUSED),
    ("needs_attention", "confirm_close", NOTHING, "closed"),
    ("needs_attention", "report_failure", HES_LAST, REFUSED),
    ("needs_attention", "retry", NOTHING, "closing"),
    ("needs_attention", "cancel", PHONE_REQUEST, "cancelled"),
    ("needs_attention", "cancel", AUTO_DUE, "cancelled"),
    ("needs_attention", "clear_flag", NOTHING, "needs_attention"),
    ("needs_attention", "flag_mail_dead", NOTHING, "needs_attention"),
    ("needs_attention", "flag_no_email", NOTHING, "needs_attention"),
    ("needs_attention", "sla_breached", NOTHING, "needs_attention"),
    # closed (final)
    ("closed", "reject_request", OTHER_CUSTOMERS_METER, REFUSED),
    ("closed", "accept_email", EMAIL_REQUEST, REFUSED),
    ("closed", "verify_identity", PHONE_REQUEST, REFUSED),
    ("closed", "schedule", AUTO_PENDING, REFUSED),
    ("closed", "start_close", AUTO_DUE, REFUSED),
    ("closed", "rollback", NOTHING, REFUSED),
    ("closed", "confirm_close", NOTHING, REFUSED),
    ("closed", "report_failure", HES_LAST, REFUSED),
    ("closed", "retry", NOTHING, REFUSED),
    ("closed", "cancel", PHONE_REQUEST, REFUSED),
    ("closed", "cancel", AUTO_DUE, REFUSED),
    ("closed", "clear_flag", NOTHING, "closed"),
    ("closed", "flag_mail_dead", NOTHING, "closed"),
    ("closed", "flag_no_email", NOTHING, "closed"),
    ("closed", "sla_breached", NOTHING, REFUSED),
    # rejected (final)
    ("rejected", "reject_request", OTHER_CUSTOMERS_METER, REFUSED),
    ("rejected", "accept_email", EMAIL_REQUEST, REFUSED),
    ("rejected", "verify_identity", PHONE_REQUEST, REFUSED),
    ("rejected", "schedule", AUTO_PENDING, REFUSED),
    ("rejected", "start_close", AUTO_DUE, REFUSED),
    ("rejected", "rollback", NOTHING, REFUSED),
    ("rejected", "confirm_close", NOTHING, REFUSED),
    ("rejected", "report_failure", HES_LAST, REFUSED),
    ("rejected", "retry", NOTHING, REFUSED),
    ("rejected", "cancel", PHONE_REQUEST, REFUSED),
    ("rejected", "cancel", AUTO_DUE, REFUSED),
    ("rejected", "clear_flag", NOTHING, "rejected"),
    ("rejected", "flag_mail_dead", NOTHING, "rejected"),
    ("rejected", "flag_no_email", NOTHING, "rejected"),
    ("rejected", "sla_breached", NOTHING, REFUSED),
    # cancelled (final)
    ("cancelled", "reject_request", OTHER_CUSTOMERS_METER, REFUSED),
    ("cancelled", "accept_email", EMAIL_REQUEST, REFUSED),
    ("cancelled", "verify_identity", PHONE_REQUEST, REFUSED),
    ("cancelled", "schedule", AUTO_PENDING, REFUSED),
    ("cancelled", "start_close", AUTO_DUE, REFUSED),
    ("cancelled", "rollback", NOTHING, REFUSED),
    ("cancelled", "confirm_close", NOTHING, REFUSED),
    ("cancelled", "report_failure", HES_LAST, REFUSED),
    ("cancelled", "retry", NOTHING, REFUSED),
    ("cancelled", "cancel", PHONE_REQUEST, REFUSED),
    ("cancelled", "cancel", AUTO_DUE, REFUSED),
    ("cancelled", "clear_flag", NOTHING, "cancelled"),
    ("cancelled", "flag_mail_dead", NOTHING, "cancelled"),
    ("cancelled", "flag_no_email", NOTHING, "cancelled"),
    ("cancelled", "sla_breached", NOTHING, REFUSED),
]


TABLES: dict[str, list[tuple[str, str, dict[str, Any], str]]] = {
    "nore_open": NORE_OPEN_TABLE,
    "meter_swap": METER_SWAP_TABLE,
    "close_port": CLOSE_PORT_TABLE,
}
VERSIONS = {"nore_open": 1, "meter_swap": 1, "close_port": 1}

ROWS = [
    pytest.param(name, *row, id=f"{name}:{row[0]}:{row[1]}:{i}")
    for name, table in TABLES.items()
    for i, row in enumerate(table)
]


def wf(name: str) -> Workflow:
    return workflows.get(name, VERSIONS[name])


@pytest.mark.parametrize(("workflow", "state", "trigger", "facts", "expected"), ROWS)
def test_transition_table(
    workflow: str, state: str, trigger: str, facts: dict[str, Any], expected: str
) -> None:
    runner = workflows.runner(workflow, VERSIONS[workflow])
    if expected == REFUSED:
        with pytest.raises(NotAllowed):
            runner.decide(state, trigger, facts)
        assert runner.may(state, trigger, facts) is False
    else:
        decision = runner.decide(state, trigger, facts)
        assert decision.dest == expected
        assert decision.source == state
        assert decision.trigger == trigger
        assert runner.may(state, trigger, facts) is True


@pytest.mark.parametrize("workflow", list(TABLES))
def test_table_covers_every_state_and_trigger(workflow: str) -> None:
    """A state or trigger added to a definition must be added to the table (and vice versa)."""
    definition = wf(workflow)
    table = TABLES[workflow]
    states = {s.name for s in definition.states}
    triggers = set(definition.triggers)
    assert {row[0] for row in table} == states
    assert {row[1] for row in table} == triggers
    covered = {(row[0], row[1]) for row in table}
    missing = {(s, t) for s in states for t in triggers} - covered
    assert not missing, f"pairs missing from the table: {sorted(missing)}"


def test_versions_are_the_ones_the_tables_pin() -> None:
    """These tables pin the first version of each workflow; nore_open v2 and close_port v2
    have their own (tests/workflows/test_nore_open_v2.py, test_close_port_v2.py), and so has
    privacy_request (tests/workflows/test_privacy_request.py)."""
    assert set(workflows.WORKFLOWS) == {
        ("nore_open", 1),
        ("nore_open", 2),
        ("meter_swap", 1),
        ("close_port", 1),
        ("close_port", 2),
        ("privacy_request", 1),
    }
    latest = {name: w.version for name, w in workflows.LATEST.items()}
    assert latest == {**VERSIONS, "nore_open": 2, "close_port": 2, "privacy_request": 1}


@pytest.mark.parametrize(
    ("workflow", "trigger"),
    [
        ("nore_open", "enqueue"),
        ("nore_open", "confirm_close"),
        ("nore_open", "accept_email"),
        ("meter_swap", "request_consent"),
        ("meter_swap", "start_close"),
        ("close_port", "record_consent"),
        ("close_port", "confirm_open"),
        ("close_port", "approve_address"),
        ("close_port", "expire"),
        ("close_port", "no_such_trigger"),
    ],
)
def test_triggers_of_other_workflows_are_refused(workflow: str, trigger: str) -> None:
    runner = workflows.runner(workflow, VERSIONS[workflow])
    with pytest.raises(NotAllowed):
        runner.decide("requested", trigger, MATCH)


# --- which transition was taken ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "facts", "role"),
    [
        ("requested", PHONE_REQUEST, Role.CASEWORKER),
        ("requested", EMAIL_REQUEST, Role.CASEWORKER),
        ("requested", AUTO_PENDING, Role.SUPERVISOR),
        ("requested", AUTO_REPLACED, Role.SUPERVISOR),
        ("scheduled", AUTO_PENDING, Role.SUPERVISOR),
        ("scheduled", AUTO_END_OF_SUPPLY, Role.SUPERVISOR),
        ("scheduled", AUTO_MOVE_IN, Role.SUPERVISOR),
        ("closing", PHONE_REQUEST, Role.CASEWORKER),
        ("closing", AUTO_DUE, Role.SUPERVISOR),
        ("needs_attention", PHONE_REQUEST, Role.CASEWORKER),
        ("needs_attention", AUTO_DUE, Role.SUPERVISOR),
    ],
)
def test_close_port_cancel_of_an_auto_close_is_for_supervisors(
    state: str, facts: dict[str, Any], role: Role
) -> None:
    decision = workflows.runner("close_port", 1).decide(state, "cancel", facts)
    assert decision.dest == "cancelled"
    assert decision.transition.role is role
    assert decision.transition.also == ()


@pytest.mark.parametrize(
    ("workflow", "state", "facts", "dest", "internal"),
    [
        ("nore_open", "opening", HES_FIRST, "opening", True),
        ("nore_open", "opening", HES_LAST, "needs_attention", False),
        ("meter_swap", "opening", HES_SECOND, "opening", True),
        ("meter_swap", "opening", HES_LAST, "needs_attention", False),
        ("close_port", "closing", HES_FIRST, "closing", True),
        ("close_port", "closing", HES_LAST, "needs_attention", False),
    ],
)
def test_report_failure_retries_in_place_below_the_limit(
    workflow: str, state: str, facts: dict[str, Any], dest: str, internal: bool
) -> None:
    """Below the limit the failure is an internal transition (the busy state's timer is not
    restarted by leaving and re-entering it); at the limit the case needs attention."""
    decision = workflows.runner(workflow, VERSIONS[workflow]).decide(state, "report_failure", facts)
    assert decision.dest == dest
    assert (decision.transition.dest is None) is internal
    assert decision.guards["failures_exhausted"]["result"] is not internal
    assert decision.guards["failures_exhausted"]["inputs"] == facts


@pytest.mark.parametrize(
    ("workflow", "state", "facts", "dest", "guards"),
    [
        (
            "nore_open",
            "requested",
            MATCH,
            "opening",
            {"address_matches": True, "sender_verified": True},
        ),
        ("nore_open", "requested", MISMATCH, "address_review", {"address_matches": False}),
        (
            "nore_open",
            "awaiting_consent",
            EMAIL_UNREGISTERED,
            "address_review",
            {"address_matches": True, "sender_verified": False},
        ),
        (
            "meter_swap",
            "awaiting_consent",
            EMAIL_REGISTERED,
            "opening",
            {"address_matches": True, "sender_verified": True},
        ),
    ],
)
def test_record_consent_records_the_guards_it_evaluated(
    workflow: str, state: str, facts: dict[str, Any], dest: str, guards: dict[str, bool]
) -> None:
    decision = workflows.runner(workflow, VERSIONS[workflow]).decide(state, "record_consent", facts)
    assert decision.dest == dest
    assert {name: g["result"] for name, g in decision.guards.items()} == guards


def test_refusal_by_guard_reports_the_guards() -> None:
    with pytest.raises(NotAllowed) as info:
        workflows.runner("meter_swap", 1).decide("requested", "enqueue", PILOT_UNACKED)
    assert info.value.guards == {
        "energipilot_cleared": {
            "inputs": {"energipilot": True, "energipilot_ack": False},
            "result": False,
        }
    }


def test_close_port_auto_triggers_try_rejection_first() -> None:
    """Another customer's meter is rejected before anything else is tried; a due auto-close goes
    from ``requested`` straight to ``closing`` (skipping ``scheduled``), a pending one waits."""
    assert wf("close_port").auto_triggers == (
        "reject_request",
        "accept_email",
        "start_close",
        "schedule",
    )
    assert wf("meter_swap").auto_triggers == ("enqueue",)
    assert wf("nore_open").auto_triggers == ()


# --- final states, the point, roles ---------------------------------------------------------

FINAL_STATES = {
    "nore_open": {"confirmed", "rejected", "expired", "cancelled"},
    "meter_swap": {"confirmed", "rejected", "expired", "cancelled"},
    "close_port": {"closed", "rejected", "cancelled"},
}

INITIAL_STATES = {"nore_open": "requested", "meter_swap": "requested", "close_port": "requested"}

# Non-final states whose case holds its metering point (one such case per point).
HOLDING_STATES = {
    "nore_open": {"requested", "awaiting_consent", "address_review", "opening", "needs_attention"},
    "meter_swap": {
        "requested",
        "queued",
        "visit_scheduled",
        "awaiting_consent",
        "address_review",
        "opening",
        "needs_attention",
    },
    # An unverified request or a scheduled auto-close must not block (or cancel) an opening.
    "close_port": {"closing", "needs_attention"},
}

FLAGGED_STATES = {
    "nore_open": {"address_review": "address_review", "needs_attention": "hes_attention"},
    "meter_swap": {"address_review": "address_review", "needs_attention": "hes_attention"},
    "close_port": {"needs_attention": "hes_attention"},
}

_CW = (Role.CASEWORKER, ())
_SUP = (Role.SUPERVISOR, ())
_SYS = (Role.SYSTEM, ())
_CW_OR_SYS = (Role.CASEWORKER, (Role.SYSTEM,))

# trigger -> every (role, also) its transitions declare
ROLES: dict[str, dict[str, set[tuple[Role, tuple[Role, ...]]]]] = {
    "nore_open": {
        "request_consent": {_CW},
        "record_consent": {_CW},
        "approve_address": {_SUP},
        "reject": {_CW},
        "remind_consent": {_SYS},
        "expire": {_SYS},
        "confirm_open": {_CW_OR_SYS},
        "report_failure": {_CW_OR_SYS},
        "retry": {_CW},
        "cancel": {_CW},
        "clear_flag": {_SUP},
        "flag_mail_dead": {_SYS},
        "flag_no_email": {_SYS},
        "sla_breached": {_SYS},
    },
    "meter_swap": {
        "enqueue": {_CW},
        "acknowledge_energipilot": {_CW},
        "schedule_visit": {_CW},
        "record_installation": {_CW},
        "swap_overdue": {_SYS},
        "record_consent": {_CW},
        "approve_address": {_SUP},
        "reject": {_CW},
        "remind_consent": {_SYS},
        "expire": {_SYS},
        "confirm_open": {_CW_OR_SYS},
        "report_failure": {_CW_OR_SYS},
        "retry": {_CW},
        "cancel": {_CW},
        "clear_flag": {_SUP},
        "flag_mail_dead": {_SYS},
        "flag_no_email": {_SYS},
        "sla_breached": {_SYS},
    },
    "close_port": {
        "reject_request": {_SYS},
        "accept_email": {_SYS},
        "verify_identity": {_CW},
        "schedule": {_SYS},
        "start_close": {_SYS},
        "rollback": {_SYS},
        "confirm_close": {_CW_OR_SYS},
        "report_failure": {_CW_OR_SYS},
        "retry": {_CW},
        "cancel": {_CW, _SUP},
        "clear_flag": {_SUP},
        "flag_mail_dead": {_SYS},
        "flag_no_email": {_SYS},
        "sla_breached": {_SYS},
    },
}

NOTE_REQUIRED = {
    "nore_open": {"approve_address", "clear_flag"},
    "meter_swap": {"approve_address", "clear_flag"},
    "close_port": {"clear_flag"},
}


@pytest.mark.parametrize("workflow", list(TABLES))
def test_final_and_initial_states(workflow: str) -> None:
    definition = wf(workflow)
    assert set(definition.final_states) == FINAL_STATES[workflow]
    assert definition.initial == INITIAL_STATES[workflow]
    assert definition.initial not in definition.final_states


@pytest.mark.parametrize("workflow", list(TABLES))
def test_which_states_hold_the_point(workflow: str) -> None:
    definition = wf(workflow)
    # The service layer stores ``holds_port and not final``.
    holding = {s.name for s in definition.states if s.holds_port and not s.final}
    assert holding == HOLDING_STATES[workflow]


@pytest.mark.parametrize("workflow", list(TABLES))
def test_state_flags(workflow: str) -> None:
    definition = wf(workflow)
    assert {s.name: s.flag for s in definition.states if s.flag} == FLAGGED_STATES[workflow]


@pytest.mark.parametrize("workflow", list(TABLES))
def test_roles(workflow: str) -> None:
    definition = wf(workflow)
    actual: dict[str, set[tuple[Role, tuple[Role, ...]]]] = {}
    for t in definition.transitions:
        actual.setdefault(t.trigger, set()).add((t.role, tuple(t.also)))
    assert actual == ROLES[workflow]


@pytest.mark.parametrize("workflow", list(TABLES))
def test_note_required_and_reasons(workflow: str) -> None:
    definition = wf(workflow)
    assert {t.trigger for t in definition.transitions if t.note_required} == NOTE_REQUIRED[workflow]
    for t in definition.transitions_for("cancel"):
        reason = {f.name: f for f in t.fields}.get("reason")
        assert reason is not None and reason.required, "cancel requires a reason"
    for t in definition.transitions_for("reject"):
        assert [f.name for f in t.fields] == ["reason"]


@pytest.mark.parametrize("workflow", list(TABLES))
def test_cancel_from_every_non_final_state_only(workflow: str) -> None:
    definition = wf(workflow)
    non_final = {s.name for s in definition.states if not s.final}
    for t in definition.transitions_for("cancel"):
        assert set(t.source) == non_final
        assert t.dest == "cancelled"


FLAG_EVENTS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "nore_open": {
        "sla_breached": ((), ("sla_breached",)),
        "flag_mail_dead": ((), ("mail_dead",)),
        "flag_no_email": ((), ("no_email",)),
    },
    "meter_swap": {
        "sla_breached": ((), ("sla_breached",)),
        "flag_mail_dead": ((), ("mail_dead",)),
        "flag_no_email": ((), ("no_email",)),
        "swap_overdue": ((), ("swap_overdue",)),
        "record_installation": (("swap_overdue",), ()),
    },
    "close_port": {
        "sla_breached": ((), ("sla_breached",)),
        "flag_mail_dead": ((), ("mail_dead",)),
        "flag_no_email": ((), ("no_email",)),
    },
}


@pytest.mark.parametrize("workflow", list(TABLES))
def test_flags_set_and_cleared_by_events(workflow: str) -> None:
    """trigger -> (clears_flags, sets_flags); the breach and the overdue swap are internal."""
    definition = wf(workflow)
    actual = {
        t.trigger: (t.clears_flags, t.sets_flags)
        for t in definition.transitions
        if t.clears_flags or t.sets_flags
    }
    assert actual == FLAG_EVENTS[workflow]
    for trig, (_, sets) in FLAG_EVENTS[workflow].items():
        if sets:
            assert all(t.dest is None for t in definition.transitions_for(trig))


# --- timers ---------------------------------------------------------------------------------

# name -> (kind, trigger fired, after, state, start_on, stop_on, stop_at_final, at_field)
_REMIND = (
    TimerKind.STATE,
    "remind_consent",
    Duration(days=7),
    "awaiting_consent",
    (),
    (),
    True,
    None,
)
_EXPIRE = (TimerKind.STATE, "expire", Duration(days=30), "awaiting_consent", (), (), True, None)
_SLA = (
    TimerKind.CASE,
    "sla_breached",
    Duration(working_days=3),
    None,
    ("record_consent:opening", "approve_address"),
    (),
    True,
    None,
)
TIMERS: dict[str, dict[str, tuple[Any, ...]]] = {
    "nore_open": {
        "remind_consent": _REMIND,
        "expire": _EXPIRE,
        "hes_timeout": (
            TimerKind.STATE,
            "report_failure",
            Duration(hours=24),
            "opening",
            (),
            (),
            True,
            None,
        ),
        "sla": _SLA,
    },
    "meter_swap": {
        "swap_overdue": (
            TimerKind.CASE,
            "swap_overdue",
            Duration(days=60),
            None,
            ("enqueue", "acknowledge_energipilot"),
            ("record_installation",),
            True,
            None,
        ),
        "remind_consent": _REMIND,
        "expire": _EXPIRE,
        "hes_timeout": (
            TimerKind.STATE,
            "report_failure",
            Duration(hours=24),
            "opening",
            (),
            (),
            True,
            None,
        ),
        "sla": _SLA,
    },
    "close_port": {
        "auto_close_due": (
            TimerKind.ABSOLUTE,
            "start_close",
            None,
            "scheduled",
            (),
            (),
            True,
            "effective_at",
        ),
        "hes_timeout": (
            TimerKind.STATE,
            "report_failure",
            Duration(hours=24),
            "closing",
            (),
            (),
            True,
            None,
        ),
    },
}


@pytest.mark.parametrize("workflow", list(TABLES))
def test_timers(workflow: str) -> None:
    definition = wf(workflow)
    actual = {
        tm.name: (
            tm.kind,
            tm.trigger,
            tm.after,
            tm.state,
            tuple(tm.start_on),
            tuple(tm.stop_on),
            tm.stop_at_final,
            tm.at_field,
        )
        for tm in definition.timers
    }
    assert len(actual) == len(definition.timers), "timer names are unique"
    assert actual == TIMERS[workflow]


@pytest.mark.parametrize("workflow", list(TABLES))
def test_timers_fire_system_triggers_allowed_where_they_run(workflow: str) -> None:
    definition = wf(workflow)
    for tm in definition.timers:
        transitions = definition.transitions_for(tm.trigger)
        assert transitions, tm.name
        assert all(t.role is Role.SYSTEM or Role.SYSTEM in t.also for t in transitions), tm.name
        if tm.state is not None:
            assert tm.trigger in definition.allowed(tm.state), tm.name
        for spec in (*tm.start_on, *tm.stop_on):
            trigger, _, dest = spec.partition(":")
            matching = definition.transitions_for(trigger)
            assert matching, f"{tm.name}: {spec} names no trigger"
            if dest:
                assert any(t.dest == dest for t in matching), f"{tm.name}: {spec} names no dest"


def test_sla_timer_durations_read_as_the_design_says() -> None:
    timers = {tm.name: tm for tm in wf("nore_open").timers}
    assert str(timers["sla"].after) == "3 working days"
    assert str(timers["remind_consent"].after) == "7 days"
    assert str(timers["expire"].after) == "30 days"
    assert str(timers["hes_timeout"].after) == "24 h"
    assert str({tm.name: tm for tm in wf("meter_swap").timers}["swap_overdue"].after) == "60 days"


# --- notices --------------------------------------------------------------------------------

STATE_NOTICES: dict[str, dict[str, tuple[Notice, ...]]] = {
    "nore_open": {
        "awaiting_consent": (Notice("consent_needed"),),
        "address_review": (Notice("address_review"),),
        "needs_attention": (Notice("hes_delay"),),
    },
    "meter_swap": {
        "requested": (Notice("energipilot_warning", when=("energipilot_warning_due",)),),
        "queued": (Notice("swap_queued"),),
        "visit_scheduled": (Notice("visit_scheduled"),),
        "awaiting_consent": (Notice("meter_installed"),),
        "address_review": (Notice("address_review"),),
        "needs_attention": (Notice("hes_delay"),),
    },
    "close_port": {
        "needs_attention": (Notice("hes_delay"),),
    },
}

# (trigger, dest) -> notices; dest None for an internal transition
TRANSITION_NOTICES: dict[str, dict[tuple[str, str | None], tuple[Notice, ...]]] = {
    "nore_open": {
        ("reject", "rejected"): (Notice("opening_rejected"),),
        ("remind_consent", None): (Notice("consent_reminder"),),
        ("expire", "expired"): (Notice("consent_expired"),),
        ("confirm_open", "confirmed"): (Notice("port_opened"),),
        ("cancel", "cancelled"): (Notice("case_cancelled"),),
    },
    "meter_swap": {
        ("swap_overdue", None): (Notice("swap_delayed"),),
        ("reject", "rejected"): (Notice("opening_rejected"),),
        ("remind_consent", None): (Notice("consent_reminder"),),
        ("expire", "expired"): (Notice("consent_expired"),),
        ("confirm_open", "confirmed"): (Notice("port_opened"),),
        ("cancel", "cancelled"): (Notice("case_cancelled"),),
    },
    "close_port": {
        ("reject_request", "rejected"): (Notice("close_rejected"),),
        ("rollback", "cancelled"): (Notice("close_cancelled_rollback"),),
        ("confirm_close", "closed"): (
            Notice("port_closed", unless=("is_auto_close",)),
            Notice("auto_closed", when=("is_auto_close",)),
        ),
        ("cancel", "cancelled"): (Notice("case_cancelled"),),
    },
}

OPEN_NOTICES = {
    "nore_open": (Notice("request_received"),),
    "meter_swap": (),
    "close_port": (),
}


@pytest.mark.parametrize("workflow", list(TABLES))
def test_state_notices(workflow: str) -> None:
    definition = wf(workflow)
    actual = {s.name: s.notices for s in definition.states if s.notices}
    assert actual == STATE_NOTICES[workflow]


@pytest.mark.parametrize("workflow", list(TABLES))
def test_transition_notices(workflow: str) -> None:
    definition = wf(workflow)
    actual: dict[tuple[str, str | None], set[tuple[Notice, ...]]] = {}
    for t in definition.transitions:
        if t.notices:
            actual.setdefault((t.trigger, t.dest), set()).add(t.notices)
    expected = {key: {notices} for key, notices in TRANSITION_NOTICES[workflow].items()}
    assert actual == expected


@pytest.mark.parametrize("workflow", list(TABLES))
def test_open_notices(workflow: str) -> None:
    assert wf(workflow).open_notices == OPEN_NOTICES[workflow]


def test_every_cancel_of_close_port_notifies() -> None:
    cancels = wf("close_port").transitions_for("cancel")
    assert len(cancels) == 2
    assert all(t.notices == (Notice("case_cancelled"),) for t in cancels)


# --- effects the design names -----------------------------------------------------------------


def test_entering_closing_takes_over_the_point_and_ends_the_consent() -> None:
    definition = wf("close_port")
    into_closing = {t.trigger: t.intents for t in definition.transitions if t.dest == "closing"}
    takes_over = (intents.TakeOverPoint(), intents.EndConsent(point=True))
    assert into_closing == {
        "accept_email": takes_over,
        "verify_identity": takes_over,
        "start_close": takes_over,
        "retry": (intents.ResetHesAttempts(),),
    }
    assert definition.state("closing").intents == (intents.SendHesCommand("close"),)


@pytest.mark.parametrize("workflow", ["nore_open", "meter_swap"])
def test_opening_sends_the_open_command(workflow: str) -> None:
    assert wf(workflow).state("opening").intents == (intents.SendHesCommand("open"),)
