"""Data subjects' requests (GDPR art. 15–18) as ``privacy_request`` cases, through the service
layer on both backends: registered as they came, the identity checked by a caseworker, the
one-month deadline a timer the injected clock runs out (the case then on the overdue list),
one extension with the subject told, answers recorded for access and erasure, a refusal, and a
restriction that stops every other processing of the subject until it is lifted; the histories
still verify and replay."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hanport.bootstrap import App
from hanport.errors import NotFound, Refused
from hanport.queries import audit
from hanport.queries.cases import case_view, list_cases
from hanport.service import run
from hanport.service.commands import EraseCustomer, ImportCustomers, OpenSubjectRequest
from tests.support import (
    CUSTOMERS_CSV,
    NORE_POINT,
    actor,
    advance,
    consent,
    deliver,
    fire_due,
    open_case,
)

KARI = "1001"
EVA = "1006"  # a customer with no metering point: nothing holds her erasure back


def _request(app: App, kind: str, who: str = "cw", **over: Any) -> str:
    options: dict[str, Any] = {"customer": KARI, "kind": kind, "channel": "letter", **over}
    return str(run(app, actor(app, who), OpenSubjectRequest(**options)).case)


def _rows(app: App, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with app.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _data(app: App, ref: str) -> dict[str, Any]:
    (row,) = _rows(app, "SELECT data FROM cases WHERE ref = :r", r=ref)
    return dict(json.loads(row[0]))


def _templates(app: App, ref: str) -> list[str]:
    return [
        r[0]
        for r in _rows(
            app,
            "SELECT m.template FROM mail_outbox m JOIN cases c ON c.id = m.case_id "
            "WHERE c.ref = :r ORDER BY m.id",
            r=ref,
        )
    ]


@pytest.fixture
def dpo_app(seeded: App, tmp_path: Path) -> App:
    seeded.settings = replace(seeded.settings, maildir=str(tmp_path / "maildir"))
    return seeded


def test_access_request_verified_extended_answered(dpo_app: App) -> None:
    app = dpo_app
    ref = _request(app, "access")
    view = case_view(app, ref)
    assert view["workflow"] == "privacy_request" and view["state"] == "identity_check"
    assert view["metering_point"] is None
    data = _data(app, ref)
    # Received on Monday 2 March 2026 at 09:00: due by the end of 2 April (Oslo).
    assert data["answer_by"] == "2026-04-02"
    assert datetime.fromisoformat(data["due_at"]) == datetime.fromisoformat(
        "2026-04-03T00:00:00+02:00"
    )
    assert [t["name"] for t in view["timers"]] == ["deadline_identity_check"]
    with pytest.raises(Refused, match="not allowed in state 'identity_check'"):
        advance(app, actor(app, "sup"), ref, "deliver_access", {"delivered_by": "email"})
    advance(app, actor(app), ref, "verify_identity", {"method": "bankid"})
    with pytest.raises(Refused, match="is for a supervisor"):
        advance(app, actor(app), ref, "deliver_access", {"delivered_by": "email"})
    assert [t["name"] for t in case_view(app, ref)["timers"]] == ["deadline_in_progress"]
    advance(app, actor(app, "sup"), ref, "extend", {"reason": "Mange saker og mye historikk"})
    data = _data(app, ref)
    assert data["answer_by"] == "2026-06-02" and data["due_at_before"]
    with pytest.raises(Refused, match="deadline_extended"):
        advance(app, actor(app, "sup"), ref, "extend", {"reason": "igjen"})
    advance(app, actor(app, "sup"), ref, "deliver_access", {"delivered_by": "email"})
    view = case_view(app, ref)
    assert view["state"] == "answered" and view["timers"] == []
    assert _templates(app, ref) == [
        "privacy_request_received",
        "privacy_request_extended",
        "privacy_request_answered",
    ]
    deliver(app)
    assert audit.verify(app).ok
    assert not [r.case for r in audit.replay(app) if r.divergences]


def test_the_deadline_runs_out_onto_the_overdue_list(dpo_app: App) -> None:
    app = dpo_app
    received = app.clock.now() - timedelta(days=20)
    ref = _request(app, "rectification", received_at=received)
    early = _request(app, "access")
    overdue = {c["case"] for c in list_cases(app, workflow="privacy_request", overdue=True)}
    assert overdue == set()
    app.clock.advance(timedelta(days=12))  # type: ignore[attr-defined]
    fire_due(app)
    listed = list_cases(app, workflow="privacy_request", overdue=True)
    assert [c["case"] for c in listed] == [ref] and listed[0]["metering_point"] is None
    assert "sla_breached" in case_view(app, ref)["flags"]
    assert early not in {c["case"] for c in listed}
    # Too late to extend once it is overdue (the subject had to be told within the month).
    with pytest.raises(Refused, match="deadline_passed"):
        advance(app, actor(app, "sup"), ref, "extend", {"reason": "for sent"})
    advance(app, actor(app), ref, "verify_identity", {"method": "letter"})
    with pytest.raises(Refused, match="needs a note"):
        advance(app, actor(app, "sup"), ref, "answer")
    advance(app, actor(app, "sup"), ref, "answer", note="Rettet e-postadressen")
    assert case_view(app, ref)["state"] == "answered"


def test_registration_is_checked(dpo_app: App) -> None:
    app = dpo_app
    with pytest.raises(Refused, match="--kind must be one of"):
        _request(app, "forget-me")
    with pytest.raises(Refused, match="--channel must be one of"):
        _request(app, "access", channel="pigeon")
    with pytest.raises(Refused, match="in the future"):
        _request(app, "access", received_at=app.clock.now() + timedelta(days=1))
    with pytest.raises(NotFound):
        _request(app, "access", customer="9999")
    with pytest.raises(Refused, match="auditor"):
        _request(app, "access", who="aud")
    assert _rows(app, "SELECT count(*) FROM cases WHERE workflow = 'privacy_request'") == [(0,)]
    key = {"key": "letter-2026-03-02-1"}
    first = _request(app, "access", **key)
    assert _request(app, "access", **key) == first
    assert _rows(app, "SELECT count(*) FROM cases WHERE workflow = 'privacy_request'") == [(1,)]


def test_restriction_stops_other_processing_until_lifted(dpo_app: App) -> None:
    app = dpo_app
    cw, sup = actor(app), actor(app, "sup")
    first = open_case(app, cw, "nore_open", customer=KARI, metering_point=NORE_POINT).case
    ref = _request(app, "restriction")
    with pytest.raises(Refused, match="not allowed in state 'identity_check'"):
        advance(app, sup, ref, "restrict", {"ground": "accuracy_contested"})
    advance(app, cw, ref, "verify_identity", {"method": "in_person"})
    advance(app, sup, ref, "restrict", {"ground": "accuracy_contested"})
    assert case_view(app, ref)["state"] == "restricted"
    with pytest.raises(Refused, match=r"restricted \(GDPR art. 18\) by " + ref):
        advance(app, cw, first, "request_consent")
    assert case_view(app, first)["state"] == "requested"
    # Cancelling goes on; a new case does not.
    advance(app, cw, first, "cancel", {"reason": "Kunden ba om begrensning"})
    assert case_view(app, first)["state"] == "cancelled"
    with pytest.raises(Refused, match="a new nore_open case waits until"):
        open_case(app, cw, "nore_open", customer=KARI, metering_point=NORE_POINT)
    with pytest.raises(Refused, match="needs a note"):
        advance(app, sup, ref, "lift_restriction", {"ground": "accuracy_verified"})
    advance(app, sup, ref, "lift_restriction", {"ground": "accuracy_verified"}, note="Sjekket")
    nore = open_case(app, cw, "nore_open", customer=KARI, metering_point=NORE_POINT).case
    advance(app, cw, nore, "request_consent")
    advance(app, cw, nore, "record_consent", consent())
    assert case_view(app, nore)["state"] == "opening"
    assert _templates(app, ref)[-2:] == ["privacy_restricted", "privacy_restriction_lifted"]
    assert audit.verify(app).ok
    assert not [r.case for r in audit.replay(app) if r.divergences]


def test_a_timer_of_a_restricted_customer_is_skipped(dpo_app: App) -> None:
    app = dpo_app
    cw, sup = actor(app), actor(app, "sup")
    nore = open_case(app, cw, "nore_open", customer=KARI, metering_point=NORE_POINT).case
    advance(app, cw, nore, "request_consent")
    ref = _request(app, "restriction")
    advance(app, cw, ref, "verify_identity", {"method": "in_person"})
    advance(app, sup, ref, "restrict", {"ground": "objection_pending"})
    app.clock.advance(timedelta(days=8))  # type: ignore[attr-defined]
    report = fire_due(app)
    assert any("restricted (GDPR art. 18)" in d for d in report.details), report.details
    skipped = _rows(
        app,
        "SELECT t.name, t.outcome FROM timers t JOIN cases c ON c.id = t.case_id "
        "WHERE c.ref = :r AND t.status = 'skipped'",
        r=nore,
    )
    assert skipped and all(ref in outcome for _, outcome in skipped)
    assert "consent_reminder" not in _templates(app, nore)


def test_erasure_request_answered_once_erased(dpo_app: App, tmp_path: Path) -> None:
    app = dpo_app
    extra = tmp_path / "eva.csv"
    header = CUSTOMERS_CSV.splitlines()[0]
    extra.write_text(f"{header}\n{EVA};Eva Moe;eva@example.no;;Lia 1;3630;Rødberg;nb;no\n")
    assert not run(app, actor(app), ImportCustomers(extra)).rejected
    ref = _request(app, "erasure", customer=EVA, channel="email")
    advance(app, actor(app), ref, "verify_identity", {"method": "registered_email"})
    with pytest.raises(Refused, match="subject_erased"):
        advance(app, actor(app, "sup"), ref, "answer")
    deliver(app)  # the receipt went out before she is erased
    done = run(app, actor(app, "dpo"), EraseCustomer(EVA, "art. 17, request " + ref))
    assert done.outcome == "erased", done
    advance(app, actor(app, "sup"), ref, "answer")
    assert case_view(app, ref)["state"] == "answered"
    # Nothing to tell her at an address that is gone: the answer's notice is not made.
    assert _templates(app, ref) == ["privacy_request_received"]
    with pytest.raises(Refused, match="was erased on"):
        _request(app, "access", customer=EVA)
    assert audit.verify(app).ok
    assert not [r.case for r in audit.replay(app) if r.divergences]


def test_the_nightly_move_still_closes_a_restricted_customers_port(
    dpo_app: App, tmp_path: Path
) -> None:
    """Closing stops processing: a move-out in the nightly file still closes the open port of
    a customer whose processing is restricted (the close command goes out)."""
    from tests.batch.helpers import PAST, open_port_1001, row, run_file, write_file

    app = dpo_app
    open_port_1001(app)
    ref = _request(app, "restriction")
    advance(app, actor(app), ref, "verify_identity", {"method": "in_person"})
    advance(app, actor(app, "sup"), ref, "restrict", {"ground": "accuracy_contested"})
    path = write_file(tmp_path / "moves.csv", [row("m-1", NORE_POINT, "move_out", PAST, KARI)])
    report = run_file(app, path)
    assert (report.applied, report.rejected) == (1, 0), report.summary()
    (close,) = [o["case"] for o in report.outcomes if o["case"]]
    assert case_view(app, close)["state"] == "closing"
    assert case_view(app, ref)["state"] == "restricted"
