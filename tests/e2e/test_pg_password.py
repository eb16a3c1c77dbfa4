"""Identity on PostgreSQL with passwords: who acts is the login the server let in.

The shared test server (127.0.0.1:5432) trusts every local connection, so a test there cannot
show that acting as someone needs their password. These tests start a cluster of their own
(``tests/pgcluster.py``) where every connection authenticates with scram-sha-256, set it up the
way an operator would (``docs/postgres-roles.sql``, ``hanport db init`` as ``hanport_owner`` on a
system clock, the grants again), and give these logins passwords:

- ``anne``   a caseworker (``hanport_caseworker``)
- ``bjorn``  a supervisor (``hanport_supervisor``)
- ``svc``    a service account (``hanport_caseworker`` and ``hanport_impersonate``)
- ``nobody`` a login in no hanport group

Then: the right password lets a login act as itself; a wrong or missing one, or another login's,
is refused with a clear message (exit 4) and writes nothing; ``--as`` / ``HANPORT_USER``, ``SET
ROLE`` and ``SET SESSION AUTHORIZATION`` do not make anne someone else; a service account acts
for a person and the events say so; a supervisor's trigger needs a supervisor's login.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from hanport.storage.engine import create_engine
from hanport.storage.views.identity import IdentityReads
from tests.e2e.cli import (
    CUSTOMERS_CSV,
    NORE_POINT,
    NORE_POINT_2,
    POINTS_CSV,
    Hanport,
    Run,
    consent_sets,
)
from tests.pgcluster import Cluster, running_cluster

ROOT = Path(__file__).resolve().parents[2]
ROLES_SQL = ROOT / "docs" / "postgres-roles.sql"
LOGINS = {
    "anne": "hanport_caseworker",
    "bjorn": "hanport_supervisor",
    "svc": "hanport_caseworker, hanport_impersonate",
    "nobody": "",
}
# Two more closed Nore ports: one a service account opens, one only refused commands name (so
# nothing but who is asking stands in their way).
SVC_POINT, FREE_POINT = "707057500000000063", "707057500000000070"
MORE_CUSTOMERS = (
    "1006;Liv Dahl;liv@example.no;;Nedre Dal 4;3631;Rødberg;nb;no\n"
    "1007;Tor Moe;tor@example.no;;Nedre Dal 6;3631;Rødberg;nb;no\n"
)
MORE_POINTS = (
    f"{SVC_POINT};1006;7359992905160885;3050;Nedre Dal 4;3631;Rødberg;closed\n"
    f"{FREE_POINT};1007;7359992905160892;3050;Nedre Dal 6;3631;Rødberg;closed\n"
)
# Written by every bootstrap (the salt, the clock): not a sign that a refused command wrote.
VOLATILE = ("meta",)


@dataclass
class PgPass:
    cluster: Cluster
    hp: Hanport
    admin: Engine  # the superuser, on the hanport database
    passwords: dict[str, str]

    def url(self, login: str, password: str | None = None) -> str:
        """``login``'s URL with its own password, another (``password``), or none (``""``)."""
        if password == "":
            return self.cluster.url(login, None)
        return self.cluster.url(login, self.passwords[login] if password is None else password)

    def call(self, login: str, *args: str | Path, password: str | None = None) -> Run:
        """``hanport --db <login's URL> …`` with no ``--as``."""
        return self.hp.call("--db", self.url(login, password), *args, user=None)

    def dump(self) -> dict[str, list[str]]:
        """Every row of every hanport table (but ``meta``), read as the superuser."""
        with self.admin.connect() as conn:
            names = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'hanport'")
            ).scalars()
            return {
                t: sorted(
                    repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM hanport."{t}"'))
                )
                for t in sorted(names)
                if t not in VOLATILE
            }

    def refused(self, code: int, login: str, *args: str | Path, says: tuple[str, ...],
                password: str | None = None) -> Run:  # fmt: skip
        """Run a command that must exit ``code``, say each of ``says`` on stderr, print nothing
        on stdout and write nothing."""
        before = self.dump()
        r = self.call(login, *args, password=password)
        assert r.code == code, f"expected exit {code}\n{r}"
        assert not r.out.strip(), f"a refused command printed on stdout\n{r}"
        for word in says:
            assert word.lower() in r.err.lower(), f"stderr does not mention {word!r}\n{r}"
        assert self.dump() == before, f"a refused command changed the database\n{r}"
        return r

    def events(self, ref: str) -> list[tuple[str, str, str]]:
        """(actor, actor_kind, data) of ``ref``'s events, read as the superuser."""
        with self.admin.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT e.actor, e.actor_kind, e.data FROM hanport.case_events e "
                    "JOIN hanport.cases c ON c.id = e.case_id WHERE c.ref = :ref ORDER BY e.seq"
                ),
                {"ref": ref},
            )
            return [(str(a), str(k), str(d)) for a, k, d in rows]


def _psql(cluster: Cluster, *args: str) -> None:
    done = cluster.psql(*args)
    assert done.returncode == 0, f"psql {' '.join(args)} failed:\n{done.stderr}"


def _set_up(cluster: Cluster, folder: Path) -> PgPass:
    """What an operator does: the roles, the schema as hanport_owner, the grants, the logins."""
    pw = {n: secrets.token_hex(12) for n in ("hanport_owner", "hanport_app", *LOGINS)}
    created = cluster.psql("-c", "CREATE DATABASE hanport", database="postgres")
    assert created.returncode == 0, created.stderr
    roles_sql = ("-v", f"owner_pw='{pw['hanport_owner']}'", "-v", f"app_pw='{pw['hanport_app']}'",
                 "-f", str(ROLES_SQL))  # fmt: skip
    _psql(cluster, *roles_sql)
    hp = Hanport(folder, url=cluster.url("hanport_owner", pw["hanport_owner"]), simulated=False,
                 init=False)  # fmt: skip
    hp.env["PGPASSFILE"] = str(folder / "no-pgpass")  # no password but the URL's
    made = hp.call("db", "init", user=None).ok().json
    assert made["clock"] == "system", made
    _psql(cluster, *roles_sql)  # the grants on the tables db init created
    for login, groups in LOGINS.items():
        member = f" IN ROLE {groups}" if groups else ""
        _psql(cluster, "-c", f"CREATE ROLE {login} LOGIN PASSWORD '{pw[login]}'{member}")
    admin = create_engine(cluster.url("postgres", cluster.password), pool=False)
    s = PgPass(cluster, hp, admin, pw)
    # The registry, imported as the app would, by a login with rights.
    registry = (
        ("customers", CUSTOMERS_CSV + MORE_CUSTOMERS),
        ("metering-points", POINTS_CSV + MORE_POINTS),
    )
    for what, csv in registry:
        s.call("bjorn", "import", what, hp.write(f"{what}.csv", csv)).ok()
    return s


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgPass]:
    with running_cluster() as cluster:
        s = _set_up(cluster, tmp_path_factory.mktemp("pgpass"))
        try:
            yield s
        finally:
            s.admin.dispose()


def _open(point: str, customer: str, *extra: str) -> tuple[str, ...]:
    return ("case", "open", "nore-open", "--metering-point", point, "--customer", customer,
            *extra)  # fmt: skip


def _show(pg: PgPass, login: str, ref: str) -> dict[str, Any]:
    return dict(pg.call(login, "case", "show", ref).ok().json)


# --- the password is the identity --------------------------------------------------------------


def test_anne_with_her_password_acts_as_anne(pg: PgPass) -> None:
    ref = str(pg.call("anne", *_open(NORE_POINT_2, "1005")).ok().json["case"])
    history = _show(pg, "anne", ref)["history"]
    assert [(e["actor"], e["actor_kind"]) for e in history] == [("anne", "caseworker")]
    assert "on_behalf_of" not in history[0]["data"], history[0]
    assert [(a, k) for a, k, _ in pg.events(ref)] == [("anne", "caseworker")]


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("not-annes-password", ("refused the login", "password authentication failed", "anne")),
        ("", ("refused the login", "asks for a password and none was given")),
    ],
    ids=["wrong-password", "no-password"],
)
def test_anne_without_her_password_is_refused(
    pg: PgPass, password: str, says: tuple[str, ...]
) -> None:
    if password == "":
        pg.hp.env["PGPASSWORD"] = ""  # libpq: no password from the environment either
    try:
        r = pg.refused(4, "anne", *_open(FREE_POINT, "1007"), says=says, password=password)
    finally:
        pg.hp.env.pop("PGPASSWORD", None)
    assert "--db / HANPORT_DATABASE_URL" in r.err, str(r)
    assert pg.passwords["anne"] not in r.err
    assert password == "" or password not in r.err, "the password given was shown"


def test_being_bjorn_needs_bjorns_password(pg: PgPass) -> None:
    pg.refused(
        4, "bjorn", *_open(FREE_POINT, "1007"), password=pg.passwords["anne"],
        says=("refused the login", "password authentication failed", "bjorn"),
    )  # fmt: skip


# --- naming someone else does not make anne someone else ---------------------------------------


def test_anne_cannot_name_bjorn(pg: PgPass) -> None:
    args = _open(FREE_POINT, "1007")
    pg.refused(4, "anne", "--as", "bjorn", *args, says=("bjorn", "refused", "you are anne"))
    pg.hp.env["HANPORT_USER"] = "bjorn"
    try:
        pg.refused(4, "anne", *args, says=("bjorn", "refused", "you are anne"))
    finally:
        del pg.hp.env["HANPORT_USER"]


def _sql_refused(conn: Any, sql: str) -> str:
    with pytest.raises(DBAPIError) as caught:
        conn.execute(text(sql))
    conn.rollback()
    return str(caught.value.orig)


def test_set_role_does_not_change_who_anne_is(pg: PgPass) -> None:
    eng = create_engine(pg.url("anne"), pool=False)
    try:
        with eng.connect() as conn:
            assert "permission denied" in _sql_refused(conn, "SET ROLE hanport_supervisor")
            said = _sql_refused(conn, "SET SESSION AUTHORIZATION bjorn")
            assert "permission denied" in said, said
            conn.execute(text("SET ROLE hanport_caseworker"))  # a group anne is in: allowed
            assert conn.execute(text("SELECT current_user")).scalar() == "hanport_caseworker"
            who, groups = IdentityReads(conn).session()
    finally:
        eng.dispose()
    assert who == "anne"
    assert "hanport_supervisor" not in groups and "hanport_caseworker" in groups, groups


# --- a service account acts for a person -------------------------------------------------------


def test_service_account_acts_for_anne_and_the_events_say_so(pg: PgPass) -> None:
    opened = pg.call("svc", "--as", "anne", *_open(SVC_POINT, "1006")).ok().json
    first = _show(pg, "svc", opened["case"])["history"][0]
    assert (first["actor"], first["actor_kind"]) == ("svc", "caseworker"), first
    assert first["data"]["on_behalf_of"] == "anne", first
    [(actor, _, data)] = pg.events(opened["case"])
    assert actor == "svc" and json.loads(data)["on_behalf_of"] == "anne", data


def test_service_account_cannot_act_for_a_login_without_a_group(pg: PgPass) -> None:
    pg.refused(4, "svc", "--as", "nobody", *_open(FREE_POINT, "1007"),
               says=("nobody", "has no role", "hanport group role"))  # fmt: skip


def test_service_account_needs_its_password(pg: PgPass) -> None:
    pg.refused(4, "svc", "--as", "anne", *_open(FREE_POINT, "1007"), password="guess",
               says=("refused the login", "password authentication failed"))  # fmt: skip


# --- a supervisor's trigger needs a supervisor's login -----------------------------------------


def test_approving_an_address_needs_bjorn(pg: PgPass) -> None:
    received = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
    sets = consent_sets(address="Sentrumsvegen 7", received_at=received)  # mismatch: review
    ref = str(pg.call("anne", *_open(NORE_POINT, "1001", *sets)).ok().json["case"])
    assert _show(pg, "anne", ref)["state"] == "address_review"
    approve = ("case", "advance", ref, "approve-address", "--note", "Called: same house")
    pg.refused(4, "anne", *approve, says=("approve_address", "supervisor", "anne"))
    pg.refused(4, "anne", "--as", "bjorn", *approve, says=("refused", "you are anne"))
    done = pg.call("bjorn", *approve).ok().json
    assert done["state"] == "opening", done
    last = _show(pg, "bjorn", ref)["history"][-1]
    assert (last["actor"], last["actor_kind"]) == ("bjorn", "supervisor"), last
