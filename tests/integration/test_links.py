"""The customer's signed links, on a real SQLite file and on PostgreSQL: the outbox keeps a
placeholder, the delivered message the signed link; a link works for its purpose and case only,
until its date; objecting, withdrawing and confirming a close act at once, once."""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hanport.bootstrap import App
from hanport.config import ConfigError, load
from hanport.entrypoints.tick import tick
from hanport.links import LinkExpired, LinkInvalid, LinkSigner
from hanport.queries import customer_status
from hanport.queries.cases import case_view
from hanport.service import run
from hanport.service.commands import CustomerLink
from hanport.storage.views import reading
from hanport.web.engine import WEB
from tests.integration.test_intake import process, status, submit
from tests.mail.helpers import outbox
from tests.support import NORE_METER, advance, make_app, nore_form, seed

SECRET = "a-test-link-secret-" + "k" * 24
URL = re.compile(r"http://127\.0\.0\.1:8080/(nb|en)/(status|object|withdraw|confirm)/([\w.-]+)")


@pytest.fixture
def linked(db_url: str, tmp_path: Path) -> Iterator[App]:
    """The test registry, notices with links, delivered into a Maildir."""
    app = make_app(db_url, link_secret=SECRET, maildir=str(tmp_path / "maildir"))
    seed(app, tmp_path / "registry")
    try:
        yield app
    finally:
        app.close()


def delivered_links(app: App) -> list[tuple[str, str, str]]:
    """(template subject, purpose, token) of every link in the messages delivered so far."""
    tick(app)
    box = mailbox.Maildir(app.settings.maildir, create=False)
    found = []
    for msg in box:
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                body = part.get_payload(decode=True).decode()
                found += [(str(msg["Subject"]), p, t) for _, p, t in URL.findall(body)]
    return found


def token(app: App, purpose: str) -> str:
    tokens = [t for _, p, t in delivered_links(app) if p == purpose]
    assert tokens, f"no {purpose} link delivered"
    return tokens[-1]


def opened_nore(app: App) -> str:
    kept = submit(app, "nore_order", nore_form(), "tok-link")
    process(app)
    return str(status(app, kept.intake_id).case_ref)


def act(app: App, tok: str, purpose: str) -> Any:
    return run(app, WEB, CustomerLink(tok, purpose, "nb"))


def test_the_outbox_keeps_placeholders_and_the_message_carries_signed_links(linked: App) -> None:
    ref = opened_nore(linked)
    stored = outbox(linked, ref)
    assert all("[[link:status:" + ref in m["text"] for m in stored)
    assert "[[link:object:" + ref in stored[-1]["text"]
    links = delivered_links(linked)
    assert {p for _, p, _ in links} == {"status", "object"}
    for _, _, tok in links:
        assert tok not in "".join(m["text"] + m["html"] for m in outbox(linked))
    # A retry builds the same bytes: the token depends on the notice, not on the send.
    signer = LinkSigner.from_app(linked)
    written = datetime.fromisoformat(stored[-1]["created_at"])
    assert signer.token(ref, "object", written) == signer.token(ref, "object", written)

    view = customer_status.view(linked, token(linked, "status"), "nb")
    assert (view.case, view.state, view.final) == (ref, "objection_window", False)


def test_a_link_is_for_its_purpose_and_case_only_and_expires(linked: App) -> None:
    ref = opened_nore(linked)
    signer = LinkSigner.from_app(linked)
    status_token, object_token = token(linked, "status"), token(linked, "object")
    assert signer.read(object_token, "object").case == ref
    with pytest.raises(LinkInvalid):
        signer.read(status_token, "object")  # a status link cannot object
    with pytest.raises(LinkInvalid):
        signer.read(object_token[:-2] + ("A" if object_token[-1] != "A" else "B") * 2, "object")
    with pytest.raises(LinkInvalid):
        LinkSigner("another-secret-" + "x" * 30, "http://x", linked.clock.now).read(
            object_token, "object"
        )
    # Rotation: a new key in front signs; the old one still verifies what it signed.
    new = "a-newer-link-secret-" + "n" * 24
    rotated = LinkSigner(f"{new},{SECRET}", "http://x", linked.clock.now)
    assert rotated.read(object_token, "object").case == ref
    fresh = rotated.token(ref, "object", linked.clock.now())
    assert LinkSigner(new, "http://x", linked.clock.now).read(fresh, "object").case == ref
    with pytest.raises(LinkInvalid):
        signer.read(fresh, "object")  # the old key alone does not know the new one's links
    with pytest.raises(ConfigError):
        load({"HANPORT_LINK_SECRET": f"{new},short"})
    linked.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]
    with pytest.raises(LinkExpired):
        signer.read(object_token, "object")
    assert signer.read(status_token, "status").case == ref  # 180 days


def test_objecting_from_the_link_stops_the_opening_once(linked: App) -> None:
    ref = opened_nore(linked)
    tok = token(linked, "object")
    first, again = act(linked, tok, "object"), act(linked, tok, "object")
    assert (first.done, first.state) == (True, "objected")
    assert (again.done, again.state) == (False, "objected")  # nothing more to do
    assert case_view(linked, ref)["state"] == "objected"
    with reading(linked.engine) as views:
        events = views.events.of_case(views.cases.by_ref(ref).id)
    assert (events[-1].trigger, events[-1].actor, events[-1].actor_kind) == (
        "object",
        "customer-link",
        "customer",
    )


def test_withdrawing_from_the_link_closes_an_open_port(linked: App) -> None:
    ref = opened_nore(linked)
    linked.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    tick(linked)  # the objection window ends: the open command leaves
    assert case_view(linked, ref)["state"] == "opening"
    advance(linked, linked_actor(linked), ref, "confirm_open")
    assert case_view(linked, ref)["port"] == "open"
    out = act(linked, token(linked, "withdraw"), "withdraw")
    assert out.done and out.acted_on != ref and out.state == "closing"
    close = case_view(linked, out.acted_on)
    assert (close["workflow"], close["workflow_version"]) == ("close_port", 2)
    assert act(linked, token(linked, "withdraw"), "withdraw").acted_on == out.acted_on


def test_a_close_from_the_form_waits_for_the_confirm_link(linked: App) -> None:
    ref = opened_nore(linked)
    linked.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    tick(linked)
    advance(linked, linked_actor(linked), ref, "confirm_open")
    kept = submit(linked, "close_request", {"meter": NORE_METER}, "tok-close")
    process(linked)
    close_ref = str(status(linked, kept.intake_id).case_ref)
    assert case_view(linked, close_ref)["state"] == "requested"  # nothing closes on a form alone
    templates = [m["template"] for m in outbox(linked, close_ref)]
    assert templates == ["close_confirm"]
    out = act(linked, token(linked, "confirm"), "confirm")
    assert (out.done, out.state, out.acted_on) == (True, "closing", close_ref)


def test_without_a_link_secret_notices_carry_no_links(seeded: App) -> None:
    kept = submit(seeded, "nore_order", nore_form(), "tok-plain")
    process(seeded)
    ref = status(seeded, kept.intake_id).case_ref
    assert all("[[link:" not in m["text"] for m in outbox(seeded, ref))


def linked_actor(app: App) -> Any:
    from tests.support import actor

    return actor(app, "cw")


def test_the_new_meters_consent_form_reaches_the_swap_case(linked: App) -> None:
    """After a swap in Hole the notice points to the consent form; a form for that point goes
    to a caseworker with the swap case named (the swap workflow takes no consent from the
    customer directly), never to a second case."""
    from tests.support import HOLE_POINT, actor, open_case

    cw = actor(linked, "cw")
    ref = open_case(linked, cw, "meter_swap", customer="1003", metering_point=HOLE_POINT).case
    installed = {"meter_number": "5706567316639543", "installed_at": linked.clock.now().isoformat()}
    assert advance(linked, cw, ref, "record_installation", installed).state == "awaiting_consent"
    notice = [m for m in outbox(linked, ref) if m["template"] == "meter_installed"]
    assert notice and "http://127.0.0.1:8080/nb/nore" in notice[0]["text"]
    kept = submit(
        linked,
        "nore_order",
        nore_form(
            signer_name="Per Åsen",
            address="Vikveien 3",
            postal_code="3530",
            meter="5706567316639543",
            email="per@example.no",
        ),
        "tok-swap-consent",
    )
    process(linked)
    row = status(linked, kept.intake_id)
    assert (row.status, row.case_ref) == ("review", ref)
    assert "a caseworker records it" in (row.outcome or "")
