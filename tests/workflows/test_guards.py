"""Guards are pure functions of their declared inputs: same inputs, same answer, nothing else read
(no clock, no time zone, no other facts). A replay re-evaluates them from the recorded inputs."""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanport.workflows.guards import GUARDS, evaluate

READS = {
    "address_matches": ("consent_address", "installation_address"),
    "sender_verified": ("channel", "from_email", "registered_email"),
    "email_from_registered": ("channel", "from_email", "registered_email"),
    "failures_exhausted": ("hes_failures", "hes_max_attempts"),
    "energipilot_cleared": ("energipilot", "energipilot_ack"),
    "energipilot_warning_due": ("energipilot", "energipilot_ack"),
    "meter_of_other_customer": ("meter_holder", "customer"),
    "effective_reached": ("effective_at", "now"),
    "is_auto_close": ("close_reason",),
    "from_form": ("channel",),
    "from_link": ("channel",),
    "has_email_on_file": ("registered_email",),
    "identity_plain": (
        "signer_role",
        "signer",
        "registered_name",
        "from_email",
        "registered_email",
    ),
    "identity_was_plain": ("identity",),
    "request_access": ("request_kind",),
    "request_rectification": ("request_kind",),
    "request_erasure": ("request_kind",),
    "request_restriction": ("request_kind",),
    "deadline_extended": ("due_at_before",),
    "deadline_passed": ("due_at", "now"),
    "subject_erased": ("subject_erased",),
}

_PLAIN = {
    "signer_role": "subscriber",
    "signer": "h:kari",
    "registered_name": "h:kari",
    "from_email": None,
    "registered_email": "h:e",
}

# (guard, inputs, expected)
CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("address_matches", {"consent_address": "h:a", "installation_address": "h:a"}, True),
    ("address_matches", {"consent_address": "h:a", "installation_address": "h:b"}, False),
    ("address_matches", {"consent_address": None, "installation_address": None}, False),
    ("address_matches", {"consent_address": "h:a", "installation_address": None}, False),
    ("address_matches", {"consent_address": None, "installation_address": "h:a"}, False),
    ("sender_verified", {"channel": "form", "from_email": None, "registered_email": "h:e"}, True),
    ("sender_verified", {"channel": "phone", "from_email": "h:x", "registered_email": "h:e"}, True),
    ("sender_verified", {"channel": "email", "from_email": "h:e", "registered_email": "h:e"}, True),
    (
        "sender_verified",
        {"channel": "email", "from_email": "h:x", "registered_email": "h:e"},
        False,
    ),
    ("sender_verified", {"channel": "email", "from_email": None, "registered_email": "h:e"}, False),
    ("sender_verified", {"channel": "email", "from_email": "h:e", "registered_email": None}, False),
    ("sender_verified", {"channel": "email", "from_email": None, "registered_email": None}, False),
    (
        "email_from_registered",
        {"channel": "email", "from_email": "h:e", "registered_email": "h:e"},
        True,
    ),
    (
        "email_from_registered",
        {"channel": "email", "from_email": "h:x", "registered_email": "h:e"},
        False,
    ),
    (
        "email_from_registered",
        {"channel": "phone", "from_email": "h:e", "registered_email": "h:e"},
        False,
    ),
    (
        "email_from_registered",
        {"channel": "email", "from_email": None, "registered_email": None},
        False,
    ),
    (
        "email_from_registered",
        {"channel": "email", "from_email": "h:e", "registered_email": None},
        False,
    ),
    (
        "email_from_registered",
        {"channel": None, "from_email": None, "registered_email": None},
        False,
    ),
    ("failures_exhausted", {"hes_failures": 0, "hes_max_attempts": 3}, False),
    ("failures_exhausted", {"hes_failures": 1, "hes_max_attempts": 3}, False),
    ("failures_exhausted", {"hes_failures": 2, "hes_max_attempts": 3}, True),
    ("failures_exhausted", {"hes_failures": 7, "hes_max_attempts": 3}, True),
    ("failures_exhausted", {"hes_failures": 3, "hes_max_attempts": 5}, False),
    ("failures_exhausted", {"hes_failures": 4, "hes_max_attempts": 5}, True),
    ("failures_exhausted", {"hes_failures": 0, "hes_max_attempts": 1}, True),
    ("energipilot_cleared", {"energipilot": False, "energipilot_ack": False}, True),
    ("energipilot_cleared", {"energipilot": None, "energipilot_ack": None}, True),
    ("energipilot_cleared", {"energipilot": True, "energipilot_ack": True}, True),
    ("energipilot_cleared", {"energipilot": True, "energipilot_ack": False}, False),
    ("energipilot_cleared", {"energipilot": True, "energipilot_ack": None}, False),
    ("energipilot_warning_due", {"energipilot": True, "energipilot_ack": False}, True),
    ("energipilot_warning_due", {"energipilot": True, "energipilot_ack": None}, True),
    ("energipilot_warning_due", {"energipilot": True, "energipilot_ack": True}, False),
    ("energipilot_warning_due", {"energipilot": False, "energipilot_ack": False}, False),
    ("energipilot_warning_due", {"energipilot": None, "energipilot_ack": None}, False),
    ("meter_of_other_customer", {"meter_holder": "C2", "customer": "C1"}, True),
    ("meter_of_other_customer", {"meter_holder": "C1", "customer": "C1"}, False),
    ("meter_of_other_customer", {"meter_holder": None, "customer": "C1"}, False),
    ("has_email_on_file", {"registered_email": "h:e"}, True),
    ("has_email_on_file", {"registered_email": None}, False),
    ("identity_plain", _PLAIN, True),
    ("identity_plain", {**_PLAIN, "from_email": "h:e"}, True),  # the form's e-mail is on file
    ("identity_plain", {**_PLAIN, "from_email": "h:other"}, False),  # another e-mail given
    ("identity_plain", {**_PLAIN, "registered_email": None}, False),  # no e-mail on file
    ("identity_plain", {**_PLAIN, "signer_role": "power_of_attorney"}, False),
    ("identity_plain", {**_PLAIN, "signer_role": "organisation"}, False),
    ("identity_plain", {**_PLAIN, "signer": "h:ola"}, False),  # someone else signed
    ("identity_plain", {**_PLAIN, "signer": None, "registered_name": None}, False),
    ("identity_was_plain", {"identity": "plain"}, True),
    ("identity_was_plain", {"identity": "review"}, False),
    ("identity_was_plain", {"identity": None}, False),
    ("is_auto_close", {"close_reason": "move_out"}, True),
    ("is_auto_close", {"close_reason": "end_of_supply"}, True),
    ("is_auto_close", {"close_reason": "move_in"}, True),
    ("is_auto_close", {"close_reason": "meter_replaced"}, True),
    ("from_form", {"channel": "form"}, True),
    ("from_form", {"channel": "email"}, False),
    ("from_link", {"channel": "link"}, True),
    ("from_link", {"channel": "form"}, False),
    ("is_auto_close", {"close_reason": "withdrawn"}, False),
    ("is_auto_close", {"close_reason": None}, False),
    # effective_reached: instants, compared as instants whatever their offsets
    (
        "effective_reached",
        {"effective_at": "2026-03-29T00:00:00+01:00", "now": "2026-03-28T23:00:00+00:00"},
        True,  # the same instant
    ),
    (
        "effective_reached",
        {"effective_at": "2026-03-29T00:00:00+01:00", "now": "2026-03-28T22:59:59+00:00"},
        False,
    ),
    (
        "effective_reached",
        {"effective_at": "2026-03-29T01:00:00+01:00", "now": "2026-03-29T00:30:00+00:00"},
        True,  # 00:00Z has passed at 00:30Z, though "…00:30…" < "…01:00…" as text
    ),
    (
        "effective_reached",
        {"effective_at": "2026-03-29T00:30:00+00:00", "now": "2026-03-29T01:00:00+01:00"},
        False,  # 00:00Z is before 00:30Z, though "…01:00…" > "…00:30…" as text
    ),
    (
        "effective_reached",
        {"effective_at": "2026-03-29T03:00:00+02:00", "now": "2026-03-29T01:00:00Z"},
        True,  # the first CEST instant of 2026
    ),
    (
        "effective_reached",
        {"effective_at": "2026-10-25T02:30:00+01:00", "now": "2026-10-25T02:45:00+02:00"},
        False,  # the second 02:30 (01:30Z) is after the first 02:45 (00:45Z)
    ),
    (
        "effective_reached",
        {"effective_at": "2026-10-25T02:30:00+02:00", "now": "2026-10-25T02:15:00+01:00"},
        True,  # 00:30Z has passed at 01:15Z
    ),
    (
        "effective_reached",
        {"effective_at": "2999-01-01T00:00:00+00:00", "now": "3000-01-01T00:00:00+00:00"},
        True,  # no wall clock involved
    ),
    (
        "effective_reached",
        {"effective_at": "1999-01-02T00:00:00+00:00", "now": "1999-01-01T00:00:00+00:00"},
        False,
    ),
    ("effective_reached", {"effective_at": None, "now": "2026-03-29T00:00:00+00:00"}, False),
    ("effective_reached", {"effective_at": "2026-03-29T00:00:00+00:00", "now": None}, False),
]

# A data subject's request: which right, whether its deadline was extended or has passed, and
# whether the subject is erased.
for _kind in ("access", "rectification", "erasure", "restriction"):
    CASES += [
        (f"request_{_kind}", {"request_kind": _kind}, True),
        (f"request_{_kind}", {"request_kind": None}, False),
        (f"request_{_kind}", {"request_kind": "objection"}, False),
    ]
CASES += [
    ("request_access", {"request_kind": "erasure"}, False),
    ("deadline_extended", {"due_at_before": "2026-04-03T00:00:00+02:00"}, True),
    ("deadline_extended", {"due_at_before": None}, False),
    (
        "deadline_passed",
        {"due_at": "2026-04-03T00:00:00+02:00", "now": "2026-04-02T22:00:00+00:00"},
        True,
    ),
    (
        "deadline_passed",
        {"due_at": "2026-04-03T00:00:00+02:00", "now": "2026-04-02T21:59:59+00:00"},
        False,
    ),
    ("deadline_passed", {"due_at": None, "now": "2026-04-02T22:00:00+00:00"}, False),
    ("subject_erased", {"subject_erased": True}, True),
    ("subject_erased", {"subject_erased": False}, False),
    ("subject_erased", {"subject_erased": None}, False),
]

CASE_PARAMS = [
    pytest.param(name, inputs, expected, id=f"{name}-{i}")
    for i, (name, inputs, expected) in enumerate(CASES)
]

# Values for every fact any guard reads, none of which any case above uses: a guard that read
# another guard's inputs would change its answer.
JUNK = {
    "consent_address": "h:junk",
    "installation_address": "h:other-junk",
    "channel": "email",
    "from_email": "h:junk-mail",
    "registered_email": "h:junk-registered",
    "hes_failures": 99,
    "hes_max_attempts": 1,
    "energipilot": True,
    "energipilot_ack": False,
    "meter_holder": "C-junk",
    "customer": "C-other",
    "effective_at": "2000-01-01T00:00:00+00:00",
    "now": "2100-01-01T00:00:00+00:00",
    "close_reason": "move_out",
    "postal_address": "h:junk",
    "signer_role": "organisation",
    "signer": "h:junk-signer",
    "registered_name": "h:junk-name",
    "identity": "junk",
    "request_kind": "junk",
    "due_at_before": "2000-01-01T00:00:00+00:00",
    "due_at": "2000-01-01T00:00:00+00:00",
    "subject_erased": True,
}


def test_reads_are_pinned() -> None:
    assert {name: g.reads for name, g in GUARDS.items()} == READS


@pytest.mark.parametrize("name", sorted(READS))
def test_a_guard_reads_exactly_its_parameters(name: str) -> None:
    """What an event records as a guard's inputs is what the guard was called with."""
    g = GUARDS[name]
    assert g.name == name
    assert tuple(inspect.signature(g.fn).parameters) == g.reads
    assert g.help.strip(), f"{name} has no help (its docstring)"


def test_every_guard_has_true_and_false_cases() -> None:
    results: dict[str, set[bool]] = {}
    for name, _, expected in CASES:
        results.setdefault(name, set()).add(expected)
    assert results == {name: {True, False} for name in GUARDS}


@pytest.mark.parametrize(("name", "inputs", "expected"), CASE_PARAMS)
def test_guard(name: str, inputs: dict[str, Any], expected: bool) -> None:
    g = GUARDS[name]
    assert set(inputs) == set(g.reads)
    before = copy.deepcopy(inputs)
    first = g(inputs)
    second = g(inputs)
    assert first is expected
    assert second is first
    assert g.fn(**inputs) == expected  # the function itself, not only the wrapper
    assert inputs == before, "a guard must not change its inputs"


@pytest.mark.parametrize(("name", "inputs", "expected"), CASE_PARAMS)
def test_guard_ignores_everything_but_its_inputs(
    name: str, inputs: dict[str, Any], expected: bool
) -> None:
    g = GUARDS[name]
    noisy = MappingProxyType({**JUNK, **inputs})  # read-only, with every other fact set
    assert g(noisy) is expected
    assert g.inputs(noisy) == inputs
    assert evaluate((name,), noisy) == {name: {"inputs": inputs, "result": expected}}


@pytest.fixture(params=["UTC", "Europe/Oslo", "America/St_Johns", "Pacific/Kiritimati"])
def local_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_guards_do_not_depend_on_the_local_zone(local_zone: str) -> None:
    for name, inputs, expected in CASES:
        assert GUARDS[name](inputs) is expected, (local_zone, name, inputs)


def test_missing_inputs_are_none() -> None:
    assert GUARDS["effective_reached"]({}) is False
    assert GUARDS["address_matches"]({}) is False
    assert GUARDS["is_auto_close"]({}) is False
    assert GUARDS["energipilot_cleared"]({}) is True
    assert GUARDS["effective_reached"].inputs({}) == {"effective_at": None, "now": None}


def test_energipilot_guards_are_complementary() -> None:
    """``enqueue`` and ``acknowledge_energipilot`` never both apply, and one always does."""
    for pilot in (None, False, True):
        for ack in (None, False, True):
            facts = {"energipilot": pilot, "energipilot_ack": ack}
            cleared = GUARDS["energipilot_cleared"](facts)
            due = GUARDS["energipilot_warning_due"](facts)
            assert cleared is not due, facts


def test_sender_guards_agree_on_email() -> None:
    """For an e-mail, "sender verified" (consent) and "from the registered address" (close)
    are the same test."""
    values = (None, "h:e", "h:x")
    for from_email in values:
        for registered in values:
            facts = {"channel": "email", "from_email": from_email, "registered_email": registered}
            assert GUARDS["sender_verified"](facts) is GUARDS["email_from_registered"](facts)


_offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
_instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(effective=_instants, now=_instants, eff_zone=_offsets, now_zone=_offsets)
def test_effective_reached_compares_instants(
    effective: datetime, now: datetime, eff_zone: timezone, now_zone: timezone
) -> None:
    facts = {
        "effective_at": effective.astimezone(eff_zone).isoformat(),
        "now": now.astimezone(now_zone).isoformat(),
    }
    assert GUARDS["effective_reached"](facts) is (now >= effective)
