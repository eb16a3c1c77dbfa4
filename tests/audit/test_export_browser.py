"""``audit export`` in a real browser: Chromium renders the page headless, the screenshot is a
real picture, and the DOM it builds holds every section of the evidence.

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Without it the test skips with a
clear message — except in CI (``CI`` or ``HANPORT_REQUIRE_BROWSER=1``), where it fails.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.audit.helpers import Cli
from tests.audit.test_export import SECTIONS

REQUIRE = bool(os.environ.get("CI")) or os.environ.get("HANPORT_REQUIRE_BROWSER") == "1"
WIDTH, HEIGHT = 1280, 2400


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "chromium not installed (apt-get install -y chromium): browser test not run"
        if REQUIRE:
            pytest.fail(message + " — required in CI")
        pytest.skip(message)
    return found


def chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium as root in a container: no sandbox, no GPU, its own profile."""
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    cmd += [f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


def png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the pixels of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], len(set(zlib.decompress(idat)))


def test_export_renders_in_chromium(fixture_cli: Cli, tmp_path: Path) -> None:
    browser = _chromium()
    page = tmp_path / "evidence.html"
    r = fixture_cli("audit", "export", "HAN-2026-000008", "--out", page, user="revisor")
    assert r.code == 0, str(r)
    shot = tmp_path / "evidence.png"
    run = chromium(
        browser,
        tmp_path / "profile",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{HEIGHT}",
        page.as_uri(),
    )
    assert shot.exists(), run.stderr[-2000:]
    data = shot.read_bytes()
    width, height, shades = png_facts(data)
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(data) > 50_000 and shades > 50, (len(data), shades)  # not a blank page

    dom = chromium(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for name in SECTIONS:
        assert f'<section id="{name}">' in html, name
    assert "<svg" in html and 'class="edge taken"' in html
    for needle in ("HES commands", "Port timeline", "Open without a live consent", "Superseded by"):
        assert needle in html, needle
    assert "note withheld — export with --personal" in html
