"""``hanport customer export`` at the command line: JSON and HTML, to stdout or a file; refused
to a caseworker and an auditor (exit 4, nothing read or logged), an unknown customer exit 3;
and the page in a real browser (Chromium through Playwright), screenshotted into
docs/screenshots/customer-export.png."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.cli import Hanport, consent_sets
from tests.support import NORE_POINT

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOT = ROOT / "docs" / "screenshots" / "customer-export.png"


def _story(hp: Hanport) -> str:
    hp.env["HANPORT_ROLES"] += ",dpo=privacy"
    ref = hp.call(
        "case", "open", "nore-open", "--customer", "1001", "--metering-point", NORE_POINT,
        *consent_sets(),
    ).ok().json["case"]  # fmt: skip
    hp.call("case", "advance", ref, "confirm-open").ok()
    hp.call("customer", "show", "1001").ok()  # a caseworker's read, listed in the export
    return str(ref)


def test_customer_export_formats_files_and_roles(hp: Hanport, tmp_path: Path) -> None:
    ref = _story(hp)
    x = hp.call("customer", "export", "1001", "--format", "json", user="dpo").ok().json
    assert x["customer"]["name"] == "Kari Nordmann" and [c["case"] for c in x["cases"]] == [ref]
    assert {r["purpose"] for r in x["reads"]} >= {"casework", "access request"}
    page = hp.call("customer", "export", "1001", user="sup", as_json=False).ok().out
    assert page.startswith("<!DOCTYPE html>") and "Kari Nordmann" in page
    out = tmp_path / "innsyn.html"
    r = hp.call("customer", "export", "1001", "--output", out, user="dpo", as_json=False).ok()
    assert not r.out and "written to" in r.err and "Samtykker" in out.read_text("utf-8")
    f = tmp_path / "innsyn.json"
    hp.call("customer", "export", "1001", "--format", "json", "--out", f, user="dpo").ok()
    assert json.loads(f.read_text("utf-8"))["customer_id"] == "1001"
    for who in ("cw", "aud"):
        hp.refused(4, "customer", "export", "1001", user=who, says="privacy or a supervisor")
    hp.refused(3, "customer", "export", "9999", user="dpo", says="not found")
    hp.refused(4, "customer", "export", "1001", "--output", tmp_path / "no" / "x.html", user="dpo")


def test_customer_export_in_a_browser(hp: Hanport, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("HANPORT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"no Chromium at {CHROMIUM} (HANPORT_REQUIRE_BROWSER=1)")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    _story(hp)
    page_file = tmp_path / "innsyn.html"
    hp.call("customer", "export", "1001", "--output", page_file, user="dpo", as_json=False).ok()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            for section in ("kunde", "samtykker", "saker", "e-post", "port", "innsyn"):
                assert page.locator(f"section#{section} h2").is_visible(), section
            assert page.locator("html").get_attribute("lang") == "nb"
            assert "Porten er åpnet" in page.inner_text("section#saker")
            page.locator("section#samtykker details summary").first.click()
            assert "samtykke" in page.inner_text("section#samtykker").lower()
            SHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOT), full_page=True)
        finally:
            browser.close()
    assert requests == [page_file.as_uri()], f"the page fetched more than itself: {requests}"
    assert SHOT.stat().st_size > 30_000
