"""The customer's door end to end over HTTP, on a real SQLite file and a real Maildir: the form
is kept and answered with the same receipt whatever matched; the intake pass opens the case;
the notice's signed links open the status page and the objection page, which acts only on a
POST; a tampered link is a 404 page and an expired one a 410, in the page's language; no token
reaches the access log."""

from __future__ import annotations

import logging
import mailbox
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from litestar.testing import TestClient

from hanport.bootstrap import App
from hanport.entrypoints.tick import tick
from hanport.queries.cases import case_view
from hanport.queries.intakes import listed
from hanport.web.app import asgi
from hanport.web.settings import WebSettings
from tests.support import NORE_METER, make_app, nore_form, seed

WEB = WebSettings(csrf_secret="links-secret-" + "q" * 20, process_every=0)
SECRET = "web-link-secret-" + "s" * 24
LINK = re.compile(r"http://127\.0\.0\.1:8080/(nb|en)/(status|object|withdraw|confirm)/([\w.-]+)")
NORE = nore_form()


@pytest.fixture
def door(tmp_path: Path) -> Iterator[tuple[App, TestClient]]:  # type: ignore[type-arg]
    app = make_app(
        f"sqlite:///{tmp_path / 'web.db'}", link_secret=SECRET, maildir=str(tmp_path / "mail")
    )
    seed(app, tmp_path / "registry")
    with TestClient(app=asgi(app, WEB)) as c:  # type: ignore[arg-type]
        yield app, c
    app.close()


def _tokens(html: str) -> dict[str, str]:
    found = dict(re.findall(r'name="(_csrf_token|form_token)" value="([^"]+)"', html))
    assert "_csrf_token" in found
    return found


def _links(app: App) -> dict[str, str]:
    tick(app)  # takes the intakes, sends the notices
    out: dict[str, str] = {}
    for msg in mailbox.Maildir(app.settings.maildir, create=False):
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                text = part.get_payload(decode=True).decode()
                out.update({purpose: tok for _, purpose, tok in LINK.findall(text)})
    return out


def test_the_receipt_is_the_same_whatever_matched(door: tuple[App, TestClient]) -> None:  # type: ignore[type-arg]
    app, c = door
    pages = []
    for meter in (NORE_METER, "12345678"):  # a real meter, and one on no point
        tokens = _tokens(c.get("/nb/nore").text)
        r = c.post("/nb/nore", data={**tokens, **NORE, "meter": meter})
        pages.append((r.status_code, r.text.replace(tokens["_csrf_token"], "")))
    assert pages[0] == pages[1] and pages[0][0] == 200
    again = c.post("/nb/nore", data={**tokens, **NORE, "meter": "12345678"})  # a resubmit
    assert again.status_code == 200
    tick(app)
    assert sorted(i.status for i in listed(app)) == ["done", "review"]  # one per form token


def test_status_and_objection_pages_from_the_notice(  # type: ignore[type-arg]
    door: tuple[App, TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    app, c = door
    tokens = _tokens(c.get("/nn/nore").text)
    assert c.post("/nn/nore", data={**tokens, **NORE}).status_code == 200
    links = _links(app)
    assert set(links) == {"status", "object"}
    with caplog.at_level(logging.INFO, logger="hanport.web.access"):
        status = c.get(f"/nb/status/{links['status']}")
        assert status.status_code == 200
        assert "Vi har sendt deg beskjed og venter en virkedag" in status.text
        assert "HAN-2026-000001" in status.text
        shown = c.get(f"/en/object/{links['object']}")
        assert shown.status_code == 200 and "Object to the opening" in shown.text
        assert case_view(app, "HAN-2026-000001")["state"] == "objection_window"  # GET: nothing
        csrf = _tokens(shown.text)["_csrf_token"]
        done = c.post(f"/en/object/{links['object']}", data={"_csrf_token": csrf})
        assert done.status_code == 200 and "It is registered" in done.text
        assert case_view(app, "HAN-2026-000001")["state"] == "objected"
        twice = c.post(f"/en/object/{links['object']}", data={"_csrf_token": csrf})
        assert twice.status_code == 200 and "cannot be done now" in twice.text
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "hanport.web.access")
    assert links["status"] not in logged and links["object"] not in logged
    assert "/nb/status/{token}" in logged


def test_tampered_and_expired_links_get_their_pages(door: tuple[App, TestClient]) -> None:  # type: ignore[type-arg]
    app, c = door
    tokens = _tokens(c.get("/nb/nore").text)
    c.post("/nb/nore", data={**tokens, **NORE})
    links = _links(app)
    tampered = links["object"][:-3] + "xyz"
    r = c.get(f"/nn/object/{tampered}")
    assert r.status_code == 404 and "Lenkja er ugyldig" in r.text
    assert c.get(f"/nb/object/{links['status']}").status_code == 404  # wrong purpose
    assert c.get(f"/nb/nowhere/{links['status']}").status_code == 404
    app.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]
    r = c.get(f"/en/object/{links['object']}")
    assert r.status_code == 410 and "The link has expired" in r.text
    csrf = _tokens(c.get("/en/close").text)["_csrf_token"]
    assert c.post(f"/en/object/{links['object']}", data={"_csrf_token": csrf}).status_code == 410
    assert case_view(app, "HAN-2026-000001")["state"] != "objected"


def test_without_a_link_key_link_pages_say_so(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'plain.db'}")
    with TestClient(app=asgi(app, WEB)) as c:  # type: ignore[arg-type]
        r = c.get("/nb/status/abc.def")
        assert r.status_code == 503 and "kan ikke brukes akkurat nå" in r.text
    app.close()
