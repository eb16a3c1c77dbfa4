"""nore_open v2 through the service layer, on both backends: the objection window (a notice to
the e-mail on file, then the open command only after one working day), objections before and
after the command left, the identity review (another e-mail, no e-mail on file, a representative,
an organisation), and v1 and v2 cases side by side through the same ticks.

The clock is simulated; tests move it past the window and fire the timers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hanport.bootstrap import App
from hanport.config import ConfigError, load, parse_duration
from hanport.errors import Refused
from hanport.storage import tables
from tests.support import (
    NORE_POINT,
    NORE_POINT_2,
    START,
    actor,
    advance,
    consent,
    dispatch,
    fire_due,
    make_app,
    open_case,
    seed,
)
from tests.time.helpers import case_row, events, hes_rows, pending, port, timer_rows

T0 = datetime.fromisoformat(START)  # Monday 2026-03-02 09:00 Oslo


@pytest.fixture
def v2(db_url: str, tmp_path: Any) -> Any:
    """The suite pins nore_open v1 for its own tests; here new cases start on v2."""
    a = make_app(db_url, workflow_versions={})
    seed(a, tmp_path / "registry")
    try:
        yield a
    finally:
        a.close()


def _open(app: App, customer: str = "1001", point: str = NORE_POINT, **over: str) -> str:
    fields = consent(received_at=app.clock.now().isoformat(), **over)
    if customer == "1005":
        fields.update(signer_name="Nils Li", address="Nedre Dal 2", postal_code="3631")
    r = open_case(
        app, actor(app), "nore_open", customer=customer, metering_point=point, fields=fields
    )
    return r.case


def _mails(app: App, ref: str) -> list[dict[str, Any]]:
    M = tables.MAIL
    cid = case_row(app, ref)["id"]
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(M.c.template, M.c.recipient, M.c.context)
            .where(M.c.case_id == cid)
            .order_by(M.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def _consent(app: App, ref: str) -> dict[str, Any]:
    C = tables.CONSENTS
    with app.engine.connect() as conn:
        return dict(
            conn.execute(select(C).where(C.c.case_id == case_row(app, ref)["id"])).mappings().one()
        )


def test_a_form_consent_waits_out_the_objection_window_then_opens(v2: App) -> None:
    ref = _open(v2)
    row = case_row(v2, ref)
    assert (row["workflow_version"], row["state"]) == (2, "objection_window")
    assert hes_rows(v2, ref) == []  # nothing has left for the meter
    window = pending(v2, ref, "objection_window")
    assert window["due_at"] == T0 + timedelta(days=1)  # Monday 09:00 + 1 working day
    notice = [m for m in _mails(v2, ref) if m["template"] == "objection_window"]
    assert [m["recipient"] for m in notice] == ["kari@example.no"]  # the e-mail on file
    assert datetime.fromisoformat(row["data"]["objection_until"]) == window["due_at"]
    assert "objection_until" in notice[0]["context"]

    v2.clock.set(window["due_at"] - timedelta(minutes=1))
    fire_due(v2)
    assert case_row(v2, ref)["state"] == "objection_window"
    v2.clock.set(window["due_at"])
    fire_due(v2)
    assert case_row(v2, ref)["state"] == "opening"
    assert [h["action"] for h in hes_rows(v2, ref)] == ["open"]
    assert [e["trigger"] for e in events(v2, ref)] == ["open", "record_consent", "window_closed"]
    assert any(t["name"] == "sla" and t["status"] == "pending" for t in timer_rows(v2, ref))


def test_the_window_lasts_what_the_configuration_says(db_url: str, tmp_path: Any) -> None:
    app = make_app(
        db_url,
        workflow_versions={},
        timer_overrides={"objection_window": parse_duration("2wd")},
    )
    try:
        seed(app, tmp_path / "registry")
        ref = _open(app)
        assert pending(app, ref, "objection_window")["due_at"] == T0 + timedelta(days=2)
    finally:
        app.close()


def test_an_objection_in_the_window_cancels_and_nothing_leaves(v2: App) -> None:
    ref = _open(v2)
    r = advance(v2, actor(v2), ref, "object", {"reason": "Det var ikke meg"})
    assert r.state == "objected"
    assert _consent(v2, ref)["end_reason"] == "withdrawn"
    assert hes_rows(v2, ref) == []
    assert port(v2, NORE_POINT) == "closed"
    assert not [t for t in timer_rows(v2, ref) if t["status"] == "pending"]
    assert "objection_received" in [m["template"] for m in _mails(v2, ref)]
    v2.clock.set(T0 + timedelta(days=3))
    fire_due(v2)
    assert case_row(v2, ref)["state"] == "objected"


def test_an_objection_after_the_command_left_closes_behind_it(v2: App) -> None:
    ref = _open(v2)
    v2.clock.set(T0 + timedelta(days=1))
    fire_due(v2)
    dispatch(v2)
    assert [h["status"] for h in hes_rows(v2, ref)] == ["sent"]
    advance(v2, actor(v2), ref, "object")
    assert case_row(v2, ref)["state"] == "objected"
    assert [h["action"] for h in hes_rows(v2, ref)] == ["open", "close"]


def test_the_customers_own_email_channel_needs_no_window(v2: App) -> None:
    ref = _open(v2, channel="email", from_email="kari@example.no")
    assert case_row(v2, ref)["state"] == "opening"
    assert [h["action"] for h in hes_rows(v2, ref)] == ["open"]


@pytest.mark.parametrize(
    "over",
    [
        {"from_email": "someone@example.com"},  # the form gave another e-mail
        {"signer_role": "power_of_attorney", "signer_name": "Ola Fullmektig"},
        {"signer_role": "organisation", "signer_name": "Borettslaget Sentrum"},
        {"signer_name": "Per Nabo"},  # "subscriber", but not the one on file
        {"channel": "email", "from_email": "kari@example.no", "signer_role": "power_of_attorney"},
    ],
    ids=["other-email", "power-of-attorney", "organisation", "other-signer", "email-poa"],
)
def test_who_asked_is_reviewed_before_anything_opens(v2: App, over: dict[str, str]) -> None:
    ref = _open(v2, **over)
    assert case_row(v2, ref)["state"] == "identity_review"
    assert hes_rows(v2, ref) == []
    # Every notice goes to the e-mail on file, never to the one typed on the form.
    assert {m["recipient"] for m in _mails(v2, ref)} == {"kari@example.no"}
    assert "identity_review" in [m["template"] for m in _mails(v2, ref)]
    with pytest.raises(Refused, match="needs a note"):
        advance(v2, actor(v2), ref, "confirm_identity")
    r = advance(v2, actor(v2), ref, "confirm_identity", note="Fullmakt sett, kunden ringt tilbake")
    assert r.state == "objection_window"
    assert hes_rows(v2, ref) == []


def test_no_email_on_file_the_caseworkers_check_stands_in(v2: App) -> None:
    ref = _open(v2, customer="1005", point=NORE_POINT_2)
    assert case_row(v2, ref)["state"] == "identity_review"
    assert "no_email" in case_row(v2, ref)["flags"]
    r = advance(v2, actor(v2), ref, "confirm_identity", note="Ringt kunden på nummer i registeret")
    assert r.state == "opening"
    assert [h["action"] for h in hes_rows(v2, ref)] == ["open"]


def test_a_rejected_identity_ends_the_consent(v2: App) -> None:
    ref = _open(v2, signer_role="organisation", signer_name="Ukjent AS")
    r = advance(v2, actor(v2), ref, "reject", {"reason": "Ingen fullmakt"})
    assert r.state == "rejected"
    assert _consent(v2, ref)["end_reason"] == "cancelled"


@pytest.mark.parametrize(
    ("over", "after"),
    [
        ({}, "objection_window"),
        ({"signer_role": "power_of_attorney", "signer_name": "Ola Fullmektig"}, "identity_review"),
    ],
    ids=["plain", "representative"],
)
def test_an_address_approved_still_goes_through_window_or_review(
    v2: App, over: dict[str, str], after: str
) -> None:
    ref = _open(v2, address="Kongens gate 5", **over)
    assert case_row(v2, ref)["state"] == "address_review"
    r = advance(v2, actor(v2, "sup"), ref, "approve_address", note="Gammel adresse, samme bolig")
    assert r.state == after


def test_v1_and_v2_cases_run_side_by_side(db_url: str, tmp_path: Any) -> None:
    old = make_app(db_url)  # pinned to v1, as before the release
    seed(old, tmp_path / "registry")
    v1_ref = _open(old)
    assert case_row(old, v1_ref)["state"] == "opening"
    old.close()
    new = make_app(db_url, workflow_versions={})
    try:
        advance(new, actor(new), v1_ref, "cancel", {"reason": "test"})
        v2_ref = _open(new)
        assert [case_row(new, r)["workflow_version"] for r in (v1_ref, v2_ref)] == [1, 2]
        new.clock.set(T0 + timedelta(days=1))
        fire_due(new)
        assert case_row(new, v2_ref)["state"] == "opening"
        assert case_row(new, v1_ref)["state"] == "cancelled"
    finally:
        new.close()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nore_open=3", "nore_open has no version '3' (versions: 1, 2)"),
        ("nore_open=two", "nore_open has no version 'two' (versions: 1, 2)"),
        (
            "nore_shut=1",
            "no workflow 'nore_shut' (workflows: close_port, meter_swap, nore_open, privacy_request)",
        ),
    ],
)
def test_a_bad_pin_is_refused_naming_what_exists(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load({"HANPORT_WORKFLOW_VERSIONS": value})


def test_a_pin_is_read_from_the_environment_and_the_file(tmp_path: Any) -> None:
    assert load({"HANPORT_WORKFLOW_VERSIONS": "nore-open=1"}).workflow_versions == {"nore_open": 1}
    f = tmp_path / "hanport.toml"
    f.write_text("[workflow_versions]\nnore_open = 2\n", encoding="utf-8")
    assert load({"HANPORT_CONFIG": str(f)}).workflow_versions == {"nore_open": 2}
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    assert load({"HANPORT_CONFIG": str(empty)}).workflow_versions == {}


def test_the_customer_may_object_and_nothing_else(v2: App) -> None:
    from hanport.workflows.definition import Actor, Role

    customer = Actor("customer", Role.CUSTOMER, "customer")
    ref = _open(v2)
    for trigger in ("cancel", "window_closed", "confirm_identity"):
        with pytest.raises(Refused):
            advance(v2, customer, ref, trigger, {"reason": "x"} if trigger == "cancel" else None)
    assert advance(v2, customer, ref, "object").state == "objected"
    assert events(v2, ref)[-1]["actor_kind"] == "customer"


def test_customer_is_no_role_a_login_can_have() -> None:
    with pytest.raises(ConfigError, match="unknown role 'customer'"):
        load({"HANPORT_ROLES": "mallory=customer"})
