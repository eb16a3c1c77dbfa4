"""The demo's SLA report in a real browser: Debian's Chromium (Playwright) opens the page the
demo writes, fetches nothing, shows every section with its charts drawn, passes axe-core's WCAG
2.1 A/AA checks, and is screenshotted into docs/screenshots/report.png (the README shows it).
With ``HANPORT_REQUIRE_BROWSER=1`` (CI) a missing browser or axe-core fails instead of
skipping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hanport.demo.story import run
from tests.web.test_browser import AXE, CHROMIUM, SHOTS, _axe, _need

SECTIONS = ("summary", "sla", "trend", "breaches", "queue", "closes", "operations", "definitions")


@pytest.fixture
def page_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HANPORT_CONFIG", raising=False)
    assert run(tmp_path / "demo", "2026-03-02T09:00:00+01:00", as_json=True)
    return tmp_path / "demo" / "report.html"


def test_the_demos_report_in_chromium(page_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()  # the demo's JSON story
    _need(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}")
    _need(AXE.exists(), f"no axe-core at {AXE} (npm install axe-core)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            fetched: list[str] = []
            page.on("request", lambda r: fetched.append(r.url))
            page.goto(page_file.as_uri())
            _check(page)
            assert fetched == [page_file.as_uri()], fetched  # nothing but the page itself
            assert _axe(page) == []
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "report.png"), full_page=True)
        finally:
            browser.close()


def _check(page: Any) -> None:
    for name in SECTIONS:
        assert page.locator(f"section#{name}").count() == 1, name
    assert page.title().startswith("HAN port: three working days, 2026-03-01")
    charts = page.locator("figure[role=img] svg")
    assert charts.count() == 3
    for i in range(3):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 120, box
    text = page.locator("body").inner_text()
    for needle in ("Nore og Uvdal", "Ringerike", "Hole", "whose clock", "Swap queue"):
        assert needle in text, needle
    assert page.locator("#sla tr").count() > 3
