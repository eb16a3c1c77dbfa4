"""close_port v2's transition table: v1's, every row of it, plus the customer's own door — a
close from a signed link closes at once, a close from the web form waits for the customer to
confirm it from the link sent to the e-mail on file. Any pair not listed is refused."""

from __future__ import annotations

from typing import Any

import pytest

from hanport import workflows
from hanport.workflows.definition import Role
from hanport.workflows.runner import NotAllowed
from tests.workflows.test_transition_tables import CLOSE_PORT_TABLE, REFUSED

V1 = workflows.get("close_port", 1)
V2 = workflows.get("close_port", 2)
RUNNER = workflows.runner("close_port", 2)
NEW = [
    ("requested", "accept_link", {"channel": "link"}, "closing"),
    ("requested", "accept_link", {"channel": "email"}, REFUSED),
    ("requested", "accept_link", {"channel": "form"}, REFUSED),
    ("requested", "confirm_by_link", {"channel": "form"}, "closing"),
    ("requested", "confirm_by_link", {"channel": "email"}, REFUSED),
    ("requested", "confirm_by_link", {"channel": "phone"}, REFUSED),
    *((s, t, {"channel": "form"}, REFUSED) for s in ("scheduled", "closing", "needs_attention", "closed", "rejected", "cancelled")
      for t in ("accept_link", "confirm_by_link")),
]  # fmt: skip
TABLE = [*CLOSE_PORT_TABLE, *NEW]


@pytest.mark.parametrize(("state", "trigger", "facts", "expected"), TABLE)
def test_transition_table(state: str, trigger: str, facts: dict[str, Any], expected: str) -> None:
    if expected == REFUSED:
        with pytest.raises(NotAllowed):
            RUNNER.decide(state, trigger, facts)
        assert RUNNER.may(state, trigger, facts) is False
    else:
        assert RUNNER.decide(state, trigger, facts).dest == expected


def test_v2_is_v1_plus_the_customers_door() -> None:
    assert {s.name for s in V2.states} == {s.name for s in V1.states}
    assert set(V2.triggers) == {*V1.triggers, "accept_link", "confirm_by_link"}
    assert {(r[0], r[1]) for r in TABLE} >= {(s.name, t) for s in V2.states for t in V2.triggers}
    assert V2.auto_triggers == (
        "reject_request",
        "accept_email",
        "accept_link",
        "start_close",
        "schedule",
    )


def test_only_the_customer_confirms_from_the_link() -> None:
    (confirm,) = V2.transitions_for("confirm_by_link")
    assert (confirm.role, confirm.also) == (Role.SYSTEM, (Role.CUSTOMER,))
    (accept,) = V2.transitions_for("accept_link")
    assert (accept.role, accept.also) == (Role.SYSTEM, ())


def test_the_form_close_is_confirmed_at_the_email_on_file() -> None:
    (notice,) = V2.open_notices
    assert (notice.template, notice.when) == ("close_confirm", ("from_form",))
    assert V1.open_notices == ()
