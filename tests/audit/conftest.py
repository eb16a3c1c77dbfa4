"""Shared by the export tests: a copy of tests/fixtures/demo-history-v1.db (real mails,
consents, HES commands, long paths), opened through the CLI as the auditor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hanport.bootstrap import bootstrap
from hanport.config import load
from tests.audit.helpers import Cli, copy_history

ROLES = "revisor=auditor,cw=caseworker"


@pytest.fixture
def fixture_cli(tmp_path: Path) -> Iterator[Cli]:
    dest = copy_history(tmp_path / "history" / "demo.db")
    url = f"sqlite:///{dest}"
    # Opened once as an auditor, as test_replay does (migrates the copy if needed).
    bootstrap(load({"HANPORT_DATABASE_URL": url, "HANPORT_ROLES": ROLES}, user="revisor")).close()
    yield Cli(url, tmp_path / "cli", roles=ROLES)
