"""Markers and isolation for the time tests."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sim(**settings): settings overrides for test_hes.py's simulated-HES app"
    )


@pytest.fixture(autouse=True)
def _own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ticks deliver mail to a Maildir (beside an SQLite file; for PostgreSQL ``./maildir``) and
    the configuration reads ``./hanport.toml``: run every test in its own folder so nothing is
    written to, or read from, the working copy."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HANPORT_MAILDIR", str(tmp_path / "maildir"))
    monkeypatch.delenv("HANPORT_CONFIG", raising=False)
