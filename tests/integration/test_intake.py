"""The web intake through the service layer, on a real SQLite file and on PostgreSQL: a form is
kept as typed (one row per form token), then the intake pass opens its case as the customer,
merges a repeat into the open request, and hands what matches nothing to the caseworkers."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from hanport.bootstrap import App
from hanport.declarations import current
from hanport.errors import NotFound, Refused
from hanport.queries import intakes
from hanport.queries.cases import case_view
from hanport.service import run
from hanport.service.commands import OpenCase, ProcessIntakes, ResolveIntake, SubmitIntake
from hanport.service.intake import intake_actor
from hanport.storage.views import reading
from hanport.storage.views.access import AccessFilter
from hanport.storage.views.personal import Access
from hanport.web.engine import PROCESSOR, WEB
from tests.mail.helpers import outbox
from tests.support import (
    HOLE_METER,
    NORE_METER,
    NORE_POINT,
    RINGERIKE_METER,
    actor,
    nore_form,
)


def submit(app: App, form: str, fields: dict[str, str], token: str, lang: str = "nb") -> Any:
    decl = current(form, lang) if form == "nore_order" else None
    return run(
        app,
        WEB,
        SubmitIntake(
            form,
            fields,
            token.ljust(24, "0"),
            lang,
            decl.version if decl else None,
            decl.sha256 if decl else None,
        ),
    )


def process(app: App) -> Any:
    return run(app, PROCESSOR, ProcessIntakes())


def status(app: App, intake_id: int) -> Any:
    with reading(app.engine) as views:
        return views.intakes.one(intake_id)


def test_a_form_is_kept_once_then_becomes_a_v2_case_opened_by_the_customer(seeded: App) -> None:
    first = submit(seeded, "nore_order", nore_form(), "tok-a")
    again = submit(seeded, "nore_order", nore_form(signer_name="Someone Else"), "tok-a")
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.intake_id == first.intake_id
    assert intakes.backlog(seeded) == 1 and status(seeded, first.intake_id).status == "new"

    done = process(seeded)
    assert (done.done, done.merged, done.review) == (1, 0, 0)
    row = status(seeded, first.intake_id)
    assert row.status == "done" and row.customer_id == "1001" and row.case_ref
    assert intakes.backlog(seeded) == 0
    view = case_view(seeded, row.case_ref)
    assert (view["workflow"], view["workflow_version"], view["state"]) == (
        "nore_open",
        2,
        "objection_window",
    )
    with reading(seeded.engine) as views:
        case = views.cases.by_ref(row.case_ref)
        events = views.events.of_case(case.id)
    assert {(e.actor, e.actor_kind) for e in events} == {
        (f"web-intake-{first.intake_id}", "customer")
    }
    consent = json.loads(events[1].data)
    assert events[1].trigger == "record_consent"
    assert consent["fields"]["channel"] == "form"
    assert consent["fields"]["declaration_version"] == "v2"
    assert "Kari" not in "".join(e.data for e in events)  # the typed name is hashed, not kept
    mails = outbox(seeded, row.case_ref)
    assert {m["recipient"] for m in mails} == {"kari@example.no"}
    assert [m["template"] for m in mails] == ["request_received", "objection_window"]


def test_the_typed_email_never_gets_mail_and_a_stranger_goes_to_identity_review(
    seeded: App,
) -> None:
    kept = submit(
        seeded,
        "nore_order",
        nore_form(signer_name="Mallory", signer_role="representative", email="m@evil.example"),
        "tok-b",
    )
    process(seeded)
    ref = status(seeded, kept.intake_id).case_ref
    assert case_view(seeded, ref)["state"] == "identity_review"
    assert {m["recipient"] for m in outbox(seeded)} == {"kari@example.no"}


def test_a_repeat_is_merged_and_the_customer_told_once_an_hour(seeded: App) -> None:
    submit(seeded, "nore_order", nore_form(), "tok-1")
    process(seeded)
    ids = [submit(seeded, "nore_order", nore_form(), f"tok-r{i}").intake_id for i in range(3)]
    done = process(seeded)
    assert (done.done, done.merged) == (0, 3)
    rows = [status(seeded, i) for i in ids]
    assert {r.status for r in rows} == {"merged"} and len({r.case_ref for r in rows}) == 1
    merged = [m for m in outbox(seeded) if m["template"] == "request_merged"]
    assert len(merged) == 1 and merged[0]["recipient"] == "kari@example.no"

    seeded.clock.advance(timedelta(hours=1, minutes=1))  # type: ignore[attr-defined]
    submit(seeded, "nore_order", nore_form(), "tok-later")
    process(seeded)
    assert len([m for m in outbox(seeded) if m["template"] == "request_merged"]) == 2


def test_what_matches_nothing_goes_to_review_and_a_caseworker_resolves_it(seeded: App) -> None:
    kept = submit(seeded, "close_request", {"meter": "123456789"}, "tok-c")
    done = process(seeded)
    assert done.review == 1
    row = status(seeded, kept.intake_id)
    assert row.status == "review" and "no metering point" in (row.outcome or "")
    assert "123456789" not in (row.outcome or "")  # the reason repeats nothing typed

    cw = actor(seeded, "cw")
    with pytest.raises(Refused, match="needs a note"):
        run(seeded, cw, ResolveIntake(kept.intake_id, " "))
    with pytest.raises(Refused, match="can look but change nothing"):
        run(seeded, actor(seeded, "aud"), ResolveIntake(kept.intake_id, "called"))
    with pytest.raises(NotFound):
        run(seeded, cw, ResolveIntake(kept.intake_id, "called", case="HAN-2026-999999"))
    run(seeded, cw, ResolveIntake(kept.intake_id, "Called the customer: wrong number, sorted"))
    row = status(seeded, kept.intake_id)
    assert (row.status, row.resolved_by) == ("resolved", "cw")
    with pytest.raises(Refused, match="not under review"):
        run(seeded, cw, ResolveIntake(kept.intake_id, "again"))

    access = Access("cw", "caseworker", None, "intake show", "casework", seeded.clock.now())
    detail = intakes.show(seeded, kept.intake_id, access)
    assert detail.fields == {"meter": "123456789"}
    assert detail.resolution_note and "wrong number" in detail.resolution_note
    with reading(seeded.engine) as views:
        logged = views.access.listing(AccessFilter(subject=f"intake-{kept.intake_id}"))
    assert [a.what for a in logged] == ["web form as typed"]


def test_swap_and_close_forms_open_their_cases(seeded: App) -> None:
    swap = submit(
        seeded,
        "swap_order",
        {"meter": RINGERIKE_METER, "name": "Ola", "energipilot": "yes", "energipilot_ack": "yes"},
        "tok-s",
    )
    hole = submit(seeded, "swap_order", {"meter": HOLE_METER, "name": "Per"}, "tok-h")
    close = submit(seeded, "close_request", {"meter": NORE_METER}, "tok-x")
    process(seeded)
    s, h = status(seeded, swap.intake_id), status(seeded, hole.intake_id)
    assert (s.status, h.status) == ("done", "done")
    assert case_view(seeded, s.case_ref)["workflow"] == "meter_swap"
    with reading(seeded.engine) as views:
        assert json.loads(views.cases.by_ref(s.case_ref).data).get("energipilot_ack") is True
    c = status(seeded, close.intake_id)
    # The Nore port is closed with nothing in flight: the close workflow refuses, a caseworker
    # hears of it rather than the customer being told anything by the form.
    assert c.status == "review" and "close_port workflow refused" in (c.outcome or "")


def test_a_pass_that_died_after_opening_opens_nothing_twice(seeded: App) -> None:
    kept = submit(seeded, "nore_order", nore_form(), "tok-d")
    # What the pass did before it died: the case opened under the intake's key.
    first = run(
        seeded,
        intake_actor(kept.intake_id),
        OpenCase(
            "nore_open",
            customer="1001",
            metering_point=NORE_POINT,
            channel="form",
            key=f"intake-{kept.intake_id}",
            version=2,
            fields={
                "signer_name": "Kari Nordmann",
                "signer_role": "subscriber",
                "address": "Sentrumsvegen 5",
                "postal_code": "3630",
                "security": "inside_dwelling",
                "from_email": "kari@example.no",
                "declaration_version": "v2",
                "received_at": status(seeded, kept.intake_id).received_at.isoformat(),
            },
        ),
    )
    process(seeded)
    row = status(seeded, kept.intake_id)
    assert (row.status, row.case_ref) == ("done", first.case)
    assert len(intakes.listed(seeded)) == 1
    with reading(seeded.engine) as views:
        assert views.cases.by_ref("HAN-2026-000002") is None  # no second case


@pytest.mark.parametrize(
    ("form", "fields", "lang", "decl", "field"),
    [
        ("nowhere", {}, "nb", None, "form"),
        ("close_request", {}, "de", None, "language"),
        ("close_request", {"meter": "x" * 3000}, "nb", None, "meter"),
        ("nore_order", {}, "nb", ("v2", "0" * 64), "declaration"),
        ("nore_order", {}, "nb", ("v9", None), "declaration"),
    ],
)
def test_bad_submissions_are_refused_naming_the_field_and_keep_nothing(
    seeded: App, form: str, fields: dict[str, str], lang: str, decl: Any, field: str
) -> None:
    version, sha = decl or (None, None)
    with pytest.raises(Refused) as exc:
        run(seeded, WEB, SubmitIntake(form, fields, "t" * 24, lang, version, sha))
    assert exc.value.field == field
    assert intakes.listed(seeded) == []


def test_only_the_web_submits_and_only_the_system_processes(seeded: App) -> None:
    with pytest.raises(Refused, match="intakes come from the web form"):
        run(seeded, actor(seeded, "cw"), SubmitIntake("close_request", {}, "t" * 24, "nb"))
    with pytest.raises(Refused, match="the intake pass is the system's"):
        run(seeded, WEB, ProcessIntakes())
