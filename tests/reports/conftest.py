"""Isolation for the report tests: each runs in its own folder (mail goes to a Maildir there,
no ``hanport.toml`` is read from the working copy)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HANPORT_MAILDIR", str(tmp_path / "maildir"))
    monkeypatch.delenv("HANPORT_CONFIG", raising=False)
