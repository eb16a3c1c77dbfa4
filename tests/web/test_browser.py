"""Real-browser tests: Debian's Chromium driven by Playwright against a real ``hanport serve``
on 127.0.0.1. Every page, each language, valid and with errors, is screenshotted and checked
with axe-core (npm) for WCAG 2.1 A/AA violations: there must be none. With
``HANPORT_REQUIRE_BROWSER=1`` (CI) a missing browser or axe-core fails instead of skipping."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
AXE = Path(os.environ.get("HANPORT_AXE", ROOT / ".cache/axe/node_modules/axe-core/axe.min.js"))
SHOTS = ROOT / "docs" / "screenshots"
REQUIRE = os.environ.get("HANPORT_REQUIRE_BROWSER") == "1"


def _need(ok: bool, why: str) -> None:
    if not ok:
        if REQUIRE:
            pytest.fail(why + " (HANPORT_REQUIRE_BROWSER=1)")
        pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{folder / 'web.db'}"
    env = {**os.environ, "HANPORT_DATABASE_URL": url, "HANPORT_WEB_PROCESS_EVERY": "0"}
    hanport = [sys.executable, "-m", "hanport"]
    subprocess.run([*hanport, "db", "init"], env=env, check=True, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen([*hanport, "serve", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):  # bounded: 10 s
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}")
    _need(AXE.exists(), f"no axe-core at {AXE} (npm install axe-core)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _axe(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [{"id": v["id"], "nodes": len(v["nodes"])} for v in result["violations"]]


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_every_form_valid_and_with_errors_has_no_axe_violations(
    server: str, browser: Any, lang: str
) -> None:
    # axe's script is injected by the test, not by the page: the page's own CSP allows none.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    for slug in ("index", "swap", "close", "nore"):
        page.goto(f"{server}/{lang}/{'' if slug == 'index' else slug}")
        assert page.evaluate("document.documentElement.lang") == lang, page.content()[:300]
        _shot(page, f"{lang}-{slug}")
        assert _axe(page) == [], f"{lang}/{slug}"
        if slug == "index":
            continue
        # Submit with the keyboard alone: the button reached by Tab, pressed with Enter.
        page.focus("#field-meter")
        page.keyboard.type("707057500012345678")
        page.locator("button[type=submit]").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        summary = page.locator(".error-summary")
        assert summary.is_visible(), page.locator("main").inner_text()[:300]
        assert page.locator("#field-meter-error").is_visible()
        assert page.locator('.error-summary a[href="#field-meter"]').count() == 1
        _shot(page, f"{lang}-{slug}-errors")
        assert _axe(page) == [], f"{lang}/{slug} with errors"
    context.close()


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """``hanport serve`` on a database with the test registry, notices carrying signed links
    delivered into a Maildir; the test's own application takes the intakes and sends mail."""
    from tests.support import make_app, seed

    folder = tmp_path_factory.mktemp("door")
    url = f"sqlite:///{folder / 'door.db'}"
    secret = "browser-link-secret-" + "b" * 24
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    app = make_app(url, link_secret=secret, maildir=str(folder / "mail"), web_base_url=base)
    seed(app, folder / "registry")
    env = {
        **os.environ,
        "HANPORT_DATABASE_URL": url,
        "HANPORT_WEB_PROCESS_EVERY": "0",
        "HANPORT_LINK_SECRET": secret,
        "HANPORT_WEB_BASE_URL": base,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "hanport", "serve", "--port", str(port)], env=env
    )
    for _ in range(100):  # bounded: 10 s
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield base, app
    proc.terminate()
    proc.wait(timeout=10)
    app.close()


def _delivered_links(app: Any, base: str) -> dict[str, str]:
    import mailbox
    import re

    from hanport.entrypoints.tick import tick

    tick(app)
    pattern = re.compile(re.escape(base) + r"/(?:nb|en)/(status|object|withdraw|confirm)/([\w.-]+)")
    found: dict[str, str] = {}
    for msg in mailbox.Maildir(app.settings.maildir, create=False):
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                found.update(pattern.findall(part.get_payload(decode=True).decode()))
    return found


def test_the_customers_door_end_to_end_in_the_browser(door: tuple[str, Any], browser: Any) -> None:
    """Order and consent typed into the form, kept, taken by the intake pass; the notice's
    status and objection links opened in the browser; once the port is open, the withdraw link
    followed and confirmed with the keyboard (the port closes); every page without axe
    violations."""
    from datetime import timedelta

    from hanport.queries.cases import case_view
    from hanport.service import run
    from hanport.service.commands import Advance
    from hanport.service.roles import resolve
    from tests.support import NORE_METER

    base, app = door
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(f"{base}/nb/nore")
    for field, value in (
        ("signer_name", "Kari Nordmann"),
        ("address", "Sentrumsvegen 5"),
        ("postal_code", "3630"),
        ("meter", NORE_METER),
        ("email", "kari@example.no"),
    ):
        page.fill(f"#field-{field}", value)
    page.check("input[name=signer_role][value=customer]")
    page.check("input[name=security][value=inside_dwelling]")
    page.check("input[name=accept]")
    with page.expect_navigation():
        page.locator("button[type=submit]").click()
    assert "Vi har mottatt henvendelsen" in page.locator("main").inner_text()
    links = _delivered_links(app, base)
    assert set(links) == {"status", "object"}, links
    ref = "HAN-2026-000001"
    assert case_view(app, ref)["state"] == "objection_window"

    page.goto(f"{base}/nb/status/{links['status']}")
    assert ref in page.locator("main").inner_text()
    _shot(page, "nb-status")
    assert _axe(page) == [], "status"
    page.goto(f"{base}/nb/object/{links['object']}")
    _shot(page, "nb-object")  # shown, not confirmed: a GET never acts
    assert _axe(page) == [], "object"
    assert case_view(app, ref)["state"] == "objection_window"

    # The window ends, the port opens; the "port opened" notice carries the withdraw link.
    app.clock.advance(timedelta(days=2))
    _delivered_links(app, base)
    run(app, resolve(app, "cw"), Advance(ref, "confirm_open"))
    links = _delivered_links(app, base)
    page.goto(f"{base}/nb/withdraw/{links['withdraw']}")
    _shot(page, "nb-withdraw")
    assert _axe(page) == [], "withdraw"
    page.locator("button[type=submit]").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Det er registrert" in page.locator("main").inner_text()
    _shot(page, "nb-withdraw-done")
    assert _axe(page) == [], "withdraw done"
    close = case_view(app, "HAN-2026-000002")
    assert (close["workflow"], close["state"]) == ("close_port", "closing")
    page.goto(f"{base}/nb/object/{links['object'][:-4]}abcd")
    assert "Lenken virker ikke" in page.locator("main").inner_text()
    assert _axe(page) == [], "invalid link"
    context.close()
