"""Fixtures: a real SQLite file and a real PostgreSQL database for every storage test.

PostgreSQL: ``HANPORT_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``) names a
server database used only to create and drop per-test databases from a migrated template. When
no server answers the PostgreSQL cases skip with a clear message — unless
``HANPORT_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hanport.bootstrap import App
from tests.support import PINNED, TEST_PEPPER, make_app, seed

# Commands a test runs in this process read the environment: they pin nore_open v1 too.
for _key, _value in PINNED.items():
    os.environ.setdefault(_key, _value)
os.environ.setdefault("HANPORT_PEPPER", TEST_PEPPER)

PG_ADMIN_URL = os.environ.get("HANPORT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("HANPORT_REQUIRE_POSTGRES") == "1"
# One template per test session, so concurrent sessions on one server do not clobber each other.
TEMPLATE = f"hanport_test_template_{os.getpid()}"

_pg_state: dict[str, object] = {}


def _admin_engine():  # type: ignore[no-untyped-def]
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    return sa_create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _pg_available() -> str | None:
    """None when usable, else why not."""
    if "error" in _pg_state:
        return str(_pg_state["error"]) or None
    try:
        eng = _admin_engine()
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{TEMPLATE}"'))
        eng.dispose()
        from hanport.storage import migrate
        from hanport.storage.engine import create_engine

        tmpl = create_engine(_db_url(TEMPLATE), pool=False)
        migrate.upgrade(tmpl)
        tmpl.dispose()
        _pg_state["error"] = ""
    except Exception as exc:  # no server, no rights: say so once
        _pg_state["error"] = (
            f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}: {exc}"
        )
    return str(_pg_state["error"]) or None


def _db_url(name: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def new_pg_database() -> str:
    """A fresh, migrated PostgreSQL database (copied from the template); its URL."""
    problem = _pg_available()
    if problem:
        if REQUIRE_PG:
            pytest.fail(problem + " (HANPORT_REQUIRE_POSTGRES=1)")
        pytest.skip(problem)
    name = f"hanport_t_{uuid.uuid4().hex[:12]}"
    eng = _admin_engine()
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    eng.dispose()
    return _db_url(name)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    eng = _admin_engine()
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture(scope="session", autouse=True)
def _drop_template() -> Iterator[None]:
    yield
    if _pg_state.get("error") == "":
        eng = _admin_engine()
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)'))
        eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each backend: a real SQLite file, a real PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hanport.db'}"
        return
    url = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hanport.db'}"


@pytest.fixture
def app(db_url: str) -> Iterator[App]:
    """A bootstrapped application on an empty database (simulated clock at tests.support.START)."""
    a = make_app(db_url)
    try:
        yield a
    finally:
        a.close()


@pytest.fixture
def seeded(app: App, tmp_path: Path) -> App:
    """``app`` with the test registry imported (tests.support)."""
    seed(app, tmp_path / "registry")
    return app
