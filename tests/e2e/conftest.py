"""End-to-end fixtures: the CLI on a SQLite file, with the test registry imported once per
session (through the real ``hanport import`` subprocesses) and copied for each test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli import Hanport, Run


@pytest.fixture(scope="session")
def registry_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run, Run]:
    """A database with tests.support's customers and metering points, imported by subprocess."""
    hp = Hanport(tmp_path_factory.mktemp("registry"))
    customers, points = hp.import_registry()
    assert customers.code == 0, str(customers)
    assert points.code == 0, str(points)
    return hp.db_path, customers, points


@pytest.fixture
def hp(tmp_path: Path, registry_db: tuple[Path, Run, Run]) -> Hanport:
    """The CLI on a fresh copy of the imported registry."""
    h = Hanport(tmp_path)
    h.copy_db_from(registry_db[0])
    return h


@pytest.fixture
def empty(tmp_path: Path) -> Hanport:
    """The CLI on a database that does not exist yet."""
    return Hanport(tmp_path, init=False)
