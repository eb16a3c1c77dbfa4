"""privacy_request's transition table: every (state, trigger) pair, with the guard inputs that
pick each transition; any pair not listed is refused. And the rule of restriction (art. 18),
pure: which triggers go on for a restricted subject's other cases."""

from __future__ import annotations

from typing import Any

import pytest

from hanport import workflows
from hanport.workflows import restriction
from hanport.workflows.errors import Refusal
from hanport.workflows.model import Customer
from hanport.workflows.runner import NotAllowed
from tests.workflows.test_transition_tables import REFUSED

WF = workflows.get("privacy_request", 1)
RUNNER = workflows.runner("privacy_request", 1)
OPEN = ("identity_check", "in_progress")
FINAL = ("answered", "refused", "lifted", "cancelled")
DUE = "2026-04-03T00:00:00+02:00"
FRESH: dict[str, Any] = {"due_at_before": None, "due_at": DUE, "now": "2026-03-02T08:00:00+00:00"}

TABLE: list[tuple[str, str, dict[str, Any], str]] = [
    ("identity_check", "verify_identity", {}, "in_progress"),
    *((s, "verify_identity", {}, REFUSED) for s in ("in_progress", "restricted", *FINAL)),
    *((s, "extend", FRESH, s) for s in OPEN),
    *((s, "extend", {**FRESH, "due_at_before": "x"}, REFUSED) for s in OPEN),
    *((s, "extend", {**FRESH, "now": DUE}, REFUSED) for s in OPEN),
    *((s, "extend", FRESH, REFUSED) for s in ("restricted", *FINAL)),
    ("in_progress", "deliver_access", {"request_kind": "access"}, "answered"),
    ("in_progress", "deliver_access", {"request_kind": "erasure"}, REFUSED),
    ("in_progress", "answer", {"request_kind": "rectification"}, "answered"),
    ("in_progress", "answer", {"request_kind": "erasure", "subject_erased": True}, "answered"),
    ("in_progress", "answer", {"request_kind": "erasure", "subject_erased": False}, REFUSED),
    ("in_progress", "answer", {"request_kind": "access"}, REFUSED),
    ("in_progress", "answer", {"request_kind": "restriction"}, REFUSED),
    ("in_progress", "restrict", {"request_kind": "restriction"}, "restricted"),
    ("in_progress", "restrict", {"request_kind": "access"}, REFUSED),
    *((s, t, {"request_kind": "access", "subject_erased": True}, REFUSED)
      for s in ("identity_check", "restricted", *FINAL)
      for t in ("deliver_access", "answer", "restrict")),
    ("restricted", "lift_restriction", {}, "lifted"),
    *((s, "lift_restriction", {}, REFUSED) for s in (*OPEN, *FINAL)),
    *((s, "refuse", {}, "refused") for s in OPEN),
    *((s, "refuse", {}, REFUSED) for s in ("restricted", *FINAL)),
    *((s, "cancel", {}, "cancelled") for s in (*OPEN, "restricted")),
    *((s, "sla_breached", {}, s) for s in (*OPEN, "restricted")),
    *((s, t, {}, s) for s in (*OPEN, "restricted", *FINAL)
      for t in ("clear_flag", "flag_mail_dead", "flag_no_email")),
    *((s, t, {}, REFUSED) for s in FINAL for t in ("cancel", "sla_breached")),
]  # fmt: skip


@pytest.mark.parametrize(("state", "trigger", "facts", "expected"), TABLE)
def test_transition_table(state: str, trigger: str, facts: dict[str, Any], expected: str) -> None:
    if expected == REFUSED:
        with pytest.raises(NotAllowed):
            RUNNER.decide(state, trigger, facts)
        assert RUNNER.may(state, trigger, facts) is False
    else:
        assert RUNNER.decide(state, trigger, facts).dest == expected


def test_the_table_covers_every_pair() -> None:
    covered = {(r[0], r[1]) for r in TABLE}
    assert covered == {(s.name, t) for s in WF.states for t in WF.triggers}


def test_nothing_holds_a_port_and_the_deadline_spans_the_open_states() -> None:
    assert not any(s.holds_port for s in WF.states)
    assert {(t.state, t.at_field, t.trigger) for t in WF.timers} == {
        ("identity_check", "due_at", "sla_breached"),
        ("in_progress", "due_at", "sla_breached"),
    }


KARI = Customer(1, "1001", "Kari", None, "nb", False, None, None)


class _Case:
    def __init__(self, workflow: str) -> None:
        self.workflow, self.ref, self.customer = workflow, "HAN-2026-000009", KARI


@pytest.mark.parametrize("trigger", sorted(restriction.ALLOWED_WHILE_RESTRICTED))
def test_what_ends_processing_goes_on_while_restricted(trigger: str) -> None:
    restriction.check_trigger(_Case("nore_open"), trigger, {1: "HAN-2026-000001"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "trigger", ["request_consent", "record_consent", "window_closed", "remind_consent", "retry",
                "enqueue", "schedule_visit", "record_installation", "approve_address"]
)  # fmt: skip
def test_what_takes_a_case_further_waits(trigger: str) -> None:
    case = _Case("meter_swap")
    with pytest.raises(Refusal, match=r"restricted \(GDPR art. 18\) by HAN-2026-000001"):
        restriction.check_trigger(case, trigger, {1: "HAN-2026-000001"})  # type: ignore[arg-type]
    restriction.check_trigger(case, trigger, {2: "HAN-2026-000001"})  # type: ignore[arg-type]
    restriction.check_trigger(_Case("close_port"), trigger, {1: "HAN-2026-000001"})  # type: ignore[arg-type]


def test_a_new_case_waits_but_a_close_or_a_request_does_not() -> None:
    held = {1: "HAN-2026-000001"}
    for wf in ("nore_open", "meter_swap"):
        with pytest.raises(Refusal, match=f"a new {wf} case waits"):
            restriction.check_opening(wf, KARI, held)
    restriction.check_opening("close_port", KARI, held)
    restriction.check_opening("privacy_request", KARI, held)
    restriction.check_opening("nore_open", KARI, {})
