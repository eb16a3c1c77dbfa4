"""nore_open v2's transition table, written out by hand: for every (state, trigger) pair of the
definition, where the trigger leads on the given guard inputs — any pair not listed is refused.
The states and triggers the table names must be exactly the definition's, so a step added to
v2 (which is released, so it cannot be) or to the table fails here."""

from __future__ import annotations

from typing import Any

import pytest

from hanport import workflows
from hanport.workflows.runner import NotAllowed

V2 = workflows.get("nore_open", 2)
RUNNER = workflows.runner("nore_open", 2)

_FORM = {
    "consent_address": "h:storgata 12b|3510",
    "installation_address": "h:storgata 12b|3510",
    "channel": "form",
    "from_email": None,
    "registered_email": "h:kari@example.no",
    "signer_role": "subscriber",
    "signer": "h:kari nordmann",
    "registered_name": "h:kari nordmann",
}
PLAIN = _FORM  # the customer signed, has an e-mail on file, gave no other
PLAIN_SAME_EMAIL = {**_FORM, "from_email": "h:kari@example.no"}
PHONE = {**_FORM, "channel": "phone"}
OTHER_EMAIL = {**_FORM, "from_email": "h:someone@example.com"}  # a form with another e-mail
NO_EMAIL_ON_FILE = {**_FORM, "registered_email": None}
POWER_OF_ATTORNEY = {**_FORM, "signer_role": "power_of_attorney", "signer": "h:ola nordmann"}
ORGANISATION = {**_FORM, "signer_role": "organisation"}
OTHER_SIGNER = {**_FORM, "signer": "h:ola nordmann"}  # "subscriber", but not the one on file
EMAIL_FROM_FILE = {**_FORM, "channel": "email", "from_email": "h:kari@example.no"}
EMAIL_FROM_FILE_POA = {**EMAIL_FROM_FILE, "signer_role": "power_of_attorney"}
EMAIL_ELSEWHERE = {**_FORM, "channel": "email", "from_email": "h:someone@example.com"}
MISMATCH = {**_FORM, "consent_address": "h:kongens gate 5|3511"}
MISMATCH_POA = {**MISMATCH, "signer_role": "power_of_attorney"}
WAS_PLAIN = {"identity": "plain"}
WAS_REVIEWED = {"identity": "review"}
HAS_EMAIL = {"registered_email": "h:kari@example.no"}
HAS_NO_EMAIL = {"registered_email": None}
HES_FIRST = {"hes_failures": 0, "hes_max_attempts": 3}
HES_LAST = {"hes_failures": 2, "hes_max_attempts": 3}
NOTHING: dict[str, Any] = {}

LIVE = (
    "requested",
    "awaiting_consent",
    "address_review",
    "identity_review",
    "objection_window",
    "opening",
    "needs_attention",
)
FINAL = ("confirmed", "rejected", "expired", "objected", "cancelled")
RECORDING = [
    (PLAIN, "objection_window"),
    (PLAIN_SAME_EMAIL, "objection_window"),
    (PHONE, "objection_window"),
    (EMAIL_FROM_FILE, "opening"),  # the customer's own channel: no window
    (EMAIL_FROM_FILE_POA, "identity_review"),
    (OTHER_EMAIL, "identity_review"),
    (NO_EMAIL_ON_FILE, "identity_review"),
    (POWER_OF_ATTORNEY, "identity_review"),
    (ORGANISATION, "identity_review"),
    (OTHER_SIGNER, "identity_review"),
    (EMAIL_ELSEWHERE, "address_review"),
    (MISMATCH, "address_review"),
    (MISMATCH_POA, "address_review"),
]

# (state, trigger, guard inputs, where it leads); every pair not listed is refused.
ALLOWED: list[tuple[str, str, dict[str, Any], str]] = [
    ("requested", "request_consent", NOTHING, "awaiting_consent"),
    *(("requested", "record_consent", f, to) for f, to in RECORDING),
    *(("awaiting_consent", "record_consent", f, to) for f, to in RECORDING),
    ("awaiting_consent", "remind_consent", NOTHING, "awaiting_consent"),
    ("awaiting_consent", "expire", NOTHING, "expired"),
    ("address_review", "approve_address", WAS_PLAIN, "objection_window"),
    ("address_review", "approve_address", WAS_REVIEWED, "identity_review"),
    ("address_review", "approve_address", NOTHING, "identity_review"),
    ("address_review", "reject", NOTHING, "rejected"),
    ("identity_review", "confirm_identity", HAS_EMAIL, "objection_window"),
    ("identity_review", "confirm_identity", HAS_NO_EMAIL, "opening"),
    ("identity_review", "reject", NOTHING, "rejected"),
    ("objection_window", "window_closed", NOTHING, "opening"),
    ("opening", "confirm_open", NOTHING, "confirmed"),
    ("opening", "report_failure", HES_FIRST, "opening"),
    ("opening", "report_failure", HES_LAST, "needs_attention"),
    ("needs_attention", "confirm_open", NOTHING, "confirmed"),
    ("needs_attention", "retry", NOTHING, "opening"),
    *((s, "object", NOTHING, "objected") for s in LIVE),
    *((s, "cancel", NOTHING, "cancelled") for s in LIVE),
    *((s, "sla_breached", NOTHING, s) for s in LIVE),
    *((s, t, NOTHING, s) for s in (*LIVE, *FINAL) for t in ("clear_flag", "flag_mail_dead")),
    *((s, "flag_no_email", NOTHING, s) for s in (*LIVE, *FINAL)),
]
STATES = {*LIVE, *FINAL}
TRIGGERS = {
    "request_consent",
    "record_consent",
    "approve_address",
    "reject",
    "confirm_identity",
    "remind_consent",
    "expire",
    "window_closed",
    "object",
    "confirm_open",
    "report_failure",
    "retry",
    "cancel",
    "clear_flag",
    "flag_mail_dead",
    "flag_no_email",
    "sla_breached",
}
_LISTED = {(s, t) for s, t, _, _ in ALLOWED}
REFUSED_PAIRS = sorted((s, t) for s in STATES for t in TRIGGERS if (s, t) not in _LISTED)


def test_the_table_names_the_definitions_states_and_triggers() -> None:
    assert {s.name for s in V2.states} == STATES
    assert {s.name for s in V2.states if s.final} == set(FINAL)
    assert set(V2.triggers) == TRIGGERS


def test_new_cases_start_on_v2_unless_pinned() -> None:
    assert workflows.LATEST["nore_open"] is V2
    assert workflows.for_new_case("nore_open") is V2
    assert workflows.for_new_case("nore-open", {"nore_open": 1}).version == 1
    assert workflows.for_new_case("meter_swap", {"nore_open": 1}).version == 1


@pytest.mark.parametrize(("state", "trigger", "facts", "expected"), ALLOWED)
def test_allowed(state: str, trigger: str, facts: dict[str, Any], expected: str) -> None:
    choice = RUNNER.decide(state, trigger, facts)
    assert choice.dest == expected
    assert RUNNER.may(state, trigger, facts)


@pytest.mark.parametrize(("state", "trigger"), REFUSED_PAIRS)
def test_refused(state: str, trigger: str) -> None:
    with pytest.raises(NotAllowed):
        RUNNER.decide(state, trigger, PLAIN)
    assert not RUNNER.may(state, trigger, PLAIN)


def test_the_objection_window_is_one_working_day_and_counts_for_the_sla() -> None:
    timer = next(t for t in V2.timers if t.name == "objection_window")
    assert (timer.state, timer.trigger, timer.config_key) == (
        "objection_window",
        "window_closed",
        "objection_window",
    )
    assert timer.after is not None and timer.after.working_days == 1
    sla = next(t for t in V2.timers if t.name == "sla")
    assert "record_consent:objection_window" in sla.start_on


def test_v2_names_the_notices_it_sends() -> None:
    sent = {
        *(n.template for n in V2.open_notices),
        *(n.template for s in V2.states for n in s.notices),
        *(n.template for t in V2.transitions for n in t.notices),
    }
    assert {"objection_window", "objection_received", "identity_review"} <= sent
