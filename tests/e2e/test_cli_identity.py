"""Who is acting: the system's word, not the caller's. A database's clock is chosen when it is
created; ``--as`` / ``HANPORT_USER`` name someone else only on a simulated-clock database or for
a service account allowed to impersonate. A missing SQLite file is refused, never made empty.

On PostgreSQL the shared test server trusts every local login, so these tests show the mapping
(session user → group role → hanport role) and the refusals, not that a password is needed."""

from __future__ import annotations

import getpass
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hanport.storage.engine import create_engine
from tests.conftest import _admin_engine, drop_pg_database, new_pg_database
from tests.e2e.cli import CUSTOMERS_CSV, NORE_POINT, POINTS_CSV, Hanport

LOGIN = getpass.getuser()


def _system(folder: Path, roles: str, **env: str) -> Hanport:
    """The CLI on a new system-clock SQLite database whose roles are ``roles``."""
    hp = Hanport(folder, simulated=False)
    hp.env.update(HANPORT_ROLES=roles, **env)
    return hp


# --- creating and opening -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [("case", "list"), ("customer", "show", "1001"), ("db", "upgrade")]
)
def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path, args: tuple) -> None:
    hp = Hanport(tmp_path, init=False)
    r = hp.call(*args)
    assert r.code == 4, str(r)
    assert "no database at" in r.err and "hanport db init" in r.err, r.err
    assert r.out == ""
    assert not hp.db_path.exists()


def test_db_init_makes_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    hp = Hanport(tmp_path, simulated=False, init=False)
    made = hp.call("db", "init", user=None).ok().json
    assert made["clock"] == "system"
    assert stat.S_IMODE(os.stat(hp.db_path).st_mode) == 0o600


def test_the_clock_is_chosen_once_when_the_database_is_made(tmp_path: Path) -> None:
    hp = _system(tmp_path, f"{LOGIN}=caseworker")
    again = hp.call("db", "init", "--simulated-clock", user=None)
    assert again.code == 4 and "system clock" in again.err, str(again)
    hp.env["HANPORT_CLOCK"] = "simulated"
    r = hp.call("case", "list", user=None)
    assert r.code == 4 and "HANPORT_CLOCK" in r.err and "db init" in r.err, str(r)
    del hp.env["HANPORT_CLOCK"]
    now = hp.call("--now", "2026-03-02T09:00:00+01:00", "case", "list", user=None)
    assert now.code == 4 and "simulated" in now.err, str(now)


# --- SQLite: the operating-system login -------------------------------------------------------


def test_the_login_acts_and_as_is_refused_on_a_system_clock_database(tmp_path: Path) -> None:
    hp = _system(tmp_path, f"{LOGIN}=caseworker,bjorn=supervisor")
    f = hp.write("customers.csv", CUSTOMERS_CSV)
    hp.refused(4, "import", "customers", f, user="bjorn", says=("refused", f"you are {LOGIN}"))
    hp.env["HANPORT_USER"] = "bjorn"
    hp.refused(4, "import", "customers", f, user=None, says=("bjorn", "refused"))
    del hp.env["HANPORT_USER"]
    assert hp.call("import", "customers", f, user=None).ok().json["inserted"] == 5


def test_a_login_the_roles_do_not_name_is_refused(tmp_path: Path) -> None:
    hp = _system(tmp_path, "anne=caseworker")
    f = hp.write("customers.csv", CUSTOMERS_CSV)
    hp.refused(4, "import", "customers", f, user=None, says=(LOGIN, "has no role"))


def test_a_service_account_acts_for_a_person_and_the_events_say_so(tmp_path: Path) -> None:
    hp = _system(tmp_path, f"{LOGIN}=system,anne=caseworker", HANPORT_IMPERSONATORS=LOGIN)
    hp.call("import", "customers", hp.write("c.csv", CUSTOMERS_CSV), user=None).ok()
    hp.call("import", "metering-points", hp.write("p.csv", POINTS_CSV), user=None).ok()
    opened = hp.call(
        "case", "open", "nore-open", "--metering-point", NORE_POINT, "--customer", "1001",
        user="anne",
    ).ok().json  # fmt: skip
    view = hp.call("case", "show", opened["case"], user="anne").ok().json
    first = view["history"][0]
    assert (first["actor"], first["actor_kind"]) == (LOGIN, "caseworker"), first
    assert first["data"]["on_behalf_of"] == "anne", first
    # A person with no role cannot be acted for.
    f = hp.write("c2.csv", CUSTOMERS_CSV)
    hp.refused(4, "import", "customers", f, user="mallory", says=("mallory", "has no role"))


# --- PostgreSQL: the session user and its group roles -----------------------------------------


def _ensure_group(conn, name: str) -> None:  # type: ignore[no-untyped-def]
    if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first():
        conn.execute(text(f"CREATE ROLE {name} NOLOGIN"))


@pytest.fixture
def pg_system(tmp_path: Path) -> Iterator[tuple[Hanport, str, str]]:
    """A system-clock PostgreSQL database, the URL of a login in ``hanport_caseworker``, and
    the name of a login in no hanport group (names unique to the test; dropped after)."""
    url = new_pg_database()
    worker, nobody = (f"t_{uuid.uuid4().hex[:8]}_{n}" for n in ("cw", "none"))
    admin = _admin_engine()
    with admin.connect() as conn:
        _ensure_group(conn, "hanport_caseworker")
        conn.execute(text(f'CREATE ROLE "{worker}" LOGIN IN ROLE hanport_caseworker'))
        conn.execute(text(f'CREATE ROLE "{nobody}" LOGIN'))
        conn.commit()
    hp = Hanport(tmp_path, url=url, simulated=False, init=False)
    hp.call("db", "init", user=None).ok()
    db = create_engine(url, pool=False)
    with db.connect() as conn:  # what docs/postgres-roles.sql grants the working roles
        conn.execute(text("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
                          "TO hanport_caseworker"))  # fmt: skip
        conn.execute(text("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public "
                          "TO hanport_caseworker"))  # fmt: skip
        conn.commit()
    db.dispose()
    try:
        worker_url = make_url(url).set(username=worker).render_as_string(hide_password=False)
        yield hp, worker_url, nobody
    finally:
        drop_pg_database(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{worker}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{nobody}"'))
            conn.commit()
        admin.dispose()


def test_postgresql_acts_as_the_session_user_and_its_group(
    pg_system: tuple[Hanport, str, str],
) -> None:
    hp, worker_url, nobody = pg_system
    f = hp.write("customers.csv", CUSTOMERS_CSV)
    # The server's superuser is in no hanport group: it is no caseworker.
    r = hp.call("import", "customers", f, user=None)
    assert r.code == 4 and "has no role" in r.err and "hanport_caseworker" in r.err, str(r)
    nobody_url = make_url(hp.url).set(username=nobody).render_as_string(hide_password=False)
    r = hp.call("--db", nobody_url, "import", "customers", f, user=None)
    assert r.code == 4 and nobody in r.err and "hanport group role" in r.err, str(r)
    # A member of hanport_caseworker acts as itself, and may not name another.
    r = hp.call("--db", worker_url, "--as", "bjorn", "import", "customers", f, user=None)
    assert r.code == 4 and "refused" in r.err and "you are t_" in r.err, str(r)
    done = hp.call("--db", worker_url, "import", "customers", f, user=None).ok().json
    assert done["inserted"] == 5
