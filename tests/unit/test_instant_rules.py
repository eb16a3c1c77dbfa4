"""The declared plausibility rules of instant fields, as the field cleaner applies them (no
database: the clock and the customer's tenure are given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hanport.errors import Refused
from hanport.service.fields import CLOCK_SKEW, clean_fields
from hanport.workflows.definition import Field, FieldKind, State, Transition, Workflow

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 in Oslo
SIGNED = Field("signed_at", FieldKind.INSTANT, "signed", not_future=True, not_after="received_at")
RECEIVED = Field("received_at", FieldKind.INSTANT, "received", not_future=True, in_tenure=True)
WF = Workflow(
    "toy",
    1,
    "A workflow with two ordered instants",
    "a",
    (State("a", "start"), State("b", "end", final=True)),
    (Transition("sign", ("a",), "b", "record", fields=(SIGNED, RECEIVED)),),
)


def _clean(since: datetime | None = None, **payload: str) -> dict[str, str]:
    clean, _ = clean_fields(WF, "sign", payload, "a", now=NOW, customer_since=lambda: since)
    return clean


def _refused(since: datetime | None = None, **payload: str) -> Refused:
    with pytest.raises(Refused) as refused:
        _clean(since, **payload)
    return refused.value


def test_signed_before_received_is_accepted() -> None:
    got = _clean(signed_at="2026-03-01T10:00", received_at="2026-03-01T12:00")
    assert got == {
        "signed_at": "2026-03-01T09:00:00+00:00",
        "received_at": "2026-03-01T11:00:00+00:00",
    }


def test_signed_after_received_is_refused_naming_the_field() -> None:
    r = _refused(signed_at="2026-03-01T12:00", received_at="2026-03-01T10:00")
    assert r.field == "signed_at"
    assert str(r) == (
        "sign: field signed_at: 2026-03-01T12:00+01:00 is after received_at "
        "(2026-03-01T10:00+01:00)"
    )


def test_the_future_ends_after_the_allowed_skew() -> None:
    at = (NOW + CLOCK_SKEW).isoformat()
    assert _clean(received_at=at)
    r = _refused(received_at=(NOW + CLOCK_SKEW + timedelta(seconds=1)).isoformat())
    assert (r.field, "is in the future" in str(r)) == ("received_at", True)


def test_tenure_bounds_only_the_fields_that_declare_it() -> None:
    since = datetime(2026, 3, 1, tzinfo=UTC)
    assert _refused(since, received_at="2026-02-28T12:00").field == "received_at"
    assert _clean(since, received_at=since.isoformat())  # from the effective time on
    asked: list[bool] = []

    def ask() -> datetime:
        asked.append(True)
        return since

    clean_fields(WF, "sign", {"signed_at": "2026-02-01T12:00"}, "a", now=NOW, customer_since=ask)
    assert asked == []  # signed_at is not bounded by tenure: the database is not even asked


def test_rules_belong_to_instants_and_name_instants_of_the_same_transition() -> None:
    with pytest.raises(ValueError, match="only an instant"):
        Field("note", FieldKind.TEXT, "text", not_future=True)
    with pytest.raises(ValueError, match="not an instant of the same transition"):
        Workflow(
            "bad",
            1,
            "ordered after a field it does not take",
            "a",
            (State("a", "start"),),
            (Transition("sign", ("a",), None, "record", fields=(SIGNED,)),),
        )
