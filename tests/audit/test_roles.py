"""Who may do what. An auditor (HANPORT_ROLES) reads everything and changes nothing, on both
backends; and on PostgreSQL the roles of docs/postgres-roles.sql keep the application itself
from rewriting history (design.md, "Storage").
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hanport.bootstrap import App, save_clock
from hanport.errors import Refused
from hanport.queries import audit
from hanport.storage import migrate
from hanport.storage.engine import create_engine
from tests.audit.helpers import Cli, History, build_history
from tests.conftest import drop_pg_database, new_pg_database
from tests.support import (
    CUSTOMERS_CSV,
    HOLE_POINT,
    NORE_METER,
    NORE_OPEN_POINT,
    NORE_POINT,
    NORE_POINT_2,
    POINTS_CSV,
    actor,
    advance,
    consent,
    make_app,
    open_case,
    seed,
)

ROOT = Path(__file__).resolve().parents[2]
ROLES_SQL = ROOT / "docs" / "postgres-roles.sql"


def dump(app: App) -> dict[str, list[str]]:
    """Every row of every table, on either backend."""
    with app.engine.connect() as conn:
        names = sorted(inspect(conn).get_table_names())
        return {
            t: sorted(repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{t}"')))
            for t in names
        }


# --- an auditor through the CLI, on both backends ----------------------------------------------


@dataclass
class Setup:
    app: App
    cli: Cli
    hist: History
    pending: str  # a nore_open case still in ``requested``
    folder: Path


@pytest.fixture
def setup(app: App, tmp_path: Path) -> Setup:
    seed(app, tmp_path / "registry")
    hist = build_history(app)
    # One case still open to advance (NORE_POINT_2's earlier case was cancelled).
    pending = open_case(
        app, actor(app), "nore_open", customer="1005", metering_point=NORE_POINT_2
    ).case
    save_clock(app)
    return Setup(app, Cli(app.settings.database_url, tmp_path / "cli"), hist, pending, tmp_path)


def test_auditor_runs_every_audit_command_and_reads_cases(setup: Setup) -> None:
    s, cli, h = setup, setup.cli, setup.hist
    before = dump(s.app)
    out = s.folder / "out"
    out.mkdir()
    cp = out / "cp.json"
    for args in (
        ("audit", "verify", "--all"),
        ("audit", "verify", h.nore),
        ("audit", "checkpoint"),
        ("audit", "checkpoint", "--out", cp),
        ("audit", "verify", "--all", "--checkpoint", cp),
        ("audit", "replay", "--all"),
        ("audit", "replay", h.close, "--as-of", "2026-03-02T10:00"),
        ("audit", "port", NORE_POINT),
        ("audit", "port", NORE_POINT, "--at", "2026-03-02T12:00"),
        ("audit", "export", h.nore, "--format", "json", "--out", out / "e.json"),
        ("audit", "export", h.nore, "--format", "html", "--out", out / "e.html"),
        ("audit", "export", h.cancelled),
        ("case", "show", h.nore),
        ("case", "show", s.pending),
        ("case", "list"),
        ("case", "list", "--workflow", "nore-open", "--state", "cancelled"),
    ):
        r = cli(*args, user="aud")
        assert r.code == 0, str(r)
    listed = cli("case", "list", user="aud").json
    assert {c["case"] for c in listed} == {*h.refs, s.pending}
    assert cli("case", "show", h.nore, user="aud").json["state"] == "confirmed"
    assert dump(s.app) == before, "an auditor's reading changed the database"


def _changing_commands(s: Setup) -> list[tuple[str, ...]]:
    f = s.folder / "files"
    f.mkdir(exist_ok=True)
    customers = f / "customers.csv"
    customers.write_text(CUSTOMERS_CSV.replace("kari@example.no", "kari@new.example"), "utf-8")
    points = f / "points.csv"
    points.write_text(POINTS_CSV, encoding="utf-8")
    terminations = f / "terminations.csv"
    terminations.write_text(
        "document_id;metering_point_id;event;brs_code;effective_at;customer_id;rollback_of\n"
        f"doc-1;{NORE_POINT};move_out;BRS-NO-201;2026-03-01T00:00:00+01:00;1001;\n",
        encoding="utf-8",
    )
    return [
        ("case", "open", "nore-open", "--metering-point", NORE_OPEN_POINT, "--customer", "1004"),
        ("case", "open", "meter-swap", "--metering-point", HOLE_POINT, "--customer", "1003"),
        (
            "case",
            "open",
            "close-port",
            "--meter-number",
            NORE_METER,
            "--customer",
            "1001",
            "--channel",
            "phone",
        ),
        ("case", "advance", s.pending, "request-consent"),
        ("case", "advance", s.pending, "cancel", "--set", "reason=auditor tries"),
        ("import", "customers", str(customers)),
        ("import", "metering-points", str(points)),
        ("customer", "update", "1001", "--email", "kari@new.example"),
        ("customer", "update", "1001", "--language", "en"),
        ("batch", "terminations", str(terminations)),
        ("mail", "retry", "1"),
    ]


def test_auditor_is_refused_every_changing_command(setup: Setup) -> None:
    s = setup
    before = dump(s.app)
    for args in _changing_commands(s):
        r = s.cli(*args, user="aud")
        assert r.code == 4, str(r)
        assert "auditor" in r.err.lower(), str(r)
        assert not r.out.strip(), str(r)
    assert dump(s.app) == before, "a refused command changed the database"
    # The same commands would have worked for a caseworker: the role is what refused them.
    for args in _changing_commands(s)[:4]:
        r = s.cli(*args, user="cw")
        assert r.code == 0, str(r)


def test_auditor_is_refused_in_the_service_layer(setup: Setup) -> None:
    """Not only in the CLI: the service functions refuse an auditor actor too."""
    aud = actor(setup.app, "aud")
    with pytest.raises(Refused, match="auditor"):
        open_case(setup.app, aud, "meter_swap", customer="1003", metering_point=HOLE_POINT)
    with pytest.raises(Refused, match="auditor"):
        advance(setup.app, aud, setup.pending, "request_consent")


def test_auditor_cannot_tick(setup: Setup) -> None:
    s = setup
    advance(s.app, actor(s.app), s.pending, "request_consent")  # reminder and expiry timers
    before = dump(s.app)
    r = s.cli("tick", "--now", "2026-04-15T12:00", user="aud")
    after = dump(s.app)
    changed = sorted(t for t in before if before[t] != after.get(t) and t != "meta")
    assert r.code == 4 and not changed, f"{r}\nchanged tables: {changed}"


def test_auditor_cannot_send_mail(setup: Setup) -> None:
    s = setup
    before = dump(s.app)
    r = s.cli("mail", "send", user="aud")
    after = dump(s.app)
    changed = sorted(t for t in before if before[t] != after.get(t))
    assert r.code == 4 and not changed, f"{r}\nchanged tables: {changed}"


# --- PostgreSQL roles --------------------------------------------------------------------------


def _as(url: str, role: str) -> str:
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


def _psql(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(ROLES_SQL)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class PgRoles:
    url: str  # as postgres
    owner: str
    app: str
    auditor: str
    refs: list[str]


@pytest.fixture(scope="module")
def pg_roles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgRoles]:
    url = new_pg_database()
    try:
        first = _psql(url)
        assert first.returncode == 0, f"psql -f {ROLES_SQL} failed:\n{first.stderr}"
        owner = _as(url, "hanport_owner")
        eng = create_engine(owner, pool=False)
        try:
            migrate.upgrade(eng)
            with eng.connect() as conn:
                assert conn.execute(text("SHOW search_path")).scalar() == "hanport"
                where = conn.execute(
                    text(
                        "SELECT schemaname, tableowner FROM pg_tables "
                        "WHERE tablename = 'case_events' AND schemaname = 'hanport'"
                    )
                ).all()
            assert where == [("hanport", "hanport_owner")], where
        finally:
            eng.dispose()
        again = _psql(url)  # the grants on what the migrations created
        assert again.returncode == 0, f"second run of {ROLES_SQL} failed:\n{again.stderr}"

        app_url = _as(url, "hanport_app")
        folder = tmp_path_factory.mktemp("pgroles")
        a = make_app(app_url)
        try:
            seed(a, folder / "registry")
            hist = build_history(a)
            refs = list(hist.refs)
        finally:
            a.close()
        yield PgRoles(url, owner, app_url, _as(url, "hanport_auditor"), refs)
    finally:
        drop_pg_database(url)


def _refused(url: str, sql: str) -> str:
    eng = create_engine(url, pool=False)
    try:
        with pytest.raises(DBAPIError) as caught, eng.begin() as conn:
            conn.execute(text(sql))
        return str(caught.value.orig)
    finally:
        eng.dispose()


def _scalar(url: str, sql: str) -> Any:
    eng = create_engine(url, pool=False)
    try:
        with eng.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        eng.dispose()


def test_pg_app_role_runs_the_service_layer(pg_roles: PgRoles, tmp_path: Path) -> None:
    a = make_app(pg_roles.app)
    try:
        report = audit.verify(a)
        assert report.ok, report.problems
        assert (report.cases, report.events) == (3, 10)
        # and a further case, through to the HES acknowledgement
        cw = actor(a)
        ref = open_case(
            a, cw, "nore_open", customer="1005", metering_point=NORE_POINT_2, channel="phone"
        ).case
        advance(a, cw, ref, "request_consent")
        fields = consent(
            signer_name="Nils Li", address="Nedre Dal 2", postal_code="3631", channel="phone"
        )
        assert advance(a, cw, ref, "record_consent", fields).state == "opening"
        assert advance(a, cw, ref, "confirm_open").state == "confirmed"
        assert audit.verify(a).ok
    finally:
        a.close()
    assert _scalar(pg_roles.app, "SELECT current_user") == "hanport_app"


@pytest.mark.parametrize("table", ["case_events", "port_events", "consent_events"])
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE {t} SET id = id",
        "DELETE FROM {t}",
        "TRUNCATE {t}",
        "ALTER TABLE {t} DISABLE TRIGGER USER",
        "DROP TABLE {t} CASCADE",
    ],
)
def test_pg_app_role_cannot_rewrite_history(pg_roles: PgRoles, table: str, sql: str) -> None:
    before = _scalar(pg_roles.url, f"SELECT count(*) FROM hanport.{table}")
    assert before
    err = _refused(pg_roles.app, sql.format(t=table))
    assert "permission denied" in err or "must be owner" in err, err
    assert _scalar(pg_roles.url, f"SELECT count(*) FROM hanport.{table}") == before


def test_pg_auditor_role_reads_and_writes_nothing(pg_roles: PgRoles, tmp_path: Path) -> None:
    assert _scalar(pg_roles.auditor, "SELECT count(*) FROM case_events") >= 10
    assert _scalar(pg_roles.auditor, "SELECT count(*) FROM cases") >= 3
    for sql in (
        "INSERT INTO meta (key, value) VALUES ('x', 'y')",
        "UPDATE cases SET state = 'opening'",
        "UPDATE metering_points SET han_port = 'open'",
        "DELETE FROM mail_outbox",
        "INSERT INTO case_events (case_id, seq, occurred_at, actor, actor_kind, trigger, "
        "to_state, workflow_version, data, prev_hash, hash) SELECT case_id, 99, occurred_at, "
        "actor, actor_kind, trigger, to_state, workflow_version, data, prev_hash, hash "
        "FROM case_events LIMIT 1",
    ):
        err = _refused(pg_roles.auditor, sql)
        assert "permission denied" in err, (sql, err)
    # The audit commands work on the auditor's connection.
    cli = Cli(pg_roles.auditor, tmp_path / "cli")
    r = cli("audit", "verify", "--all", user="aud")
    assert r.code == 0, str(r)
    r = cli("audit", "replay", "--all", user="aud")
    assert r.code == 0, str(r)
    r = cli("audit", "export", pg_roles.refs[0], "--format", "html", user="aud")
    assert r.code == 0 and "<svg" in r.out, str(r)
    r = cli("case", "list", user="aud")
    assert r.code == 0 and {c["case"] for c in r.json} >= set(pg_roles.refs), str(r)


def test_pg_roles_script_is_idempotent(pg_roles: PgRoles) -> None:
    r = _psql(pg_roles.url)
    assert r.returncode == 0, r.stderr
    privileges = _scalar(
        pg_roles.url,
        "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) "
        "FROM information_schema.role_table_grants "
        "WHERE grantee = 'hanport_app' AND table_schema = 'hanport' "
        "AND table_name = 'case_events'",
    )
    assert privileges == "INSERT,SELECT", privileges


# --- personal data on PostgreSQL: the database enforces it ------------------------------------


def test_pg_people_have_no_select_on_personal_columns(pg_roles: PgRoles) -> None:
    """The grants of docs/postgres-roles.sql match ``PERSONAL_COLUMNS``, column by column, for
    every group of people (the staff's, the auditors', and so the privacy officer's)."""
    from hanport.storage.personal import PERSONAL_COLUMNS
    from hanport.storage.tables import METADATA

    eng = create_engine(pg_roles.url, pool=False)
    try:
        with eng.connect() as conn:
            for role in ("hanport_auditor", "hanport_staff", "hanport_caseworker"):
                for table, personal in PERSONAL_COLUMNS.items():
                    for column in (c.name for c in METADATA.tables[table].columns):
                        may = conn.execute(
                            text("SELECT has_column_privilege(:r, :t, :c, 'SELECT')"),
                            {"r": role, "t": f"hanport.{table}", "c": column},
                        ).scalar()
                        assert may == (column not in personal), (role, table, column, may)
            rights = conn.execute(
                text(
                    "SELECT r, p FROM unnest(ARRAY['hanport_app', 'hanport_staff', "
                    "'hanport_auditor', 'hanport_privacy']) r, unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', "
                    "'DELETE']) p WHERE has_table_privilege(r, 'hanport.access_log', p)"
                )
            ).all()
        assert rights == [("hanport_privacy", "SELECT")], rights
    finally:
        eng.dispose()
    for sql in (
        "SELECT name FROM customers",
        "SELECT body FROM case_notes",
        "SELECT body_text FROM mail_outbox",
        "SELECT signer_name FROM consents",
        "SELECT snapshot FROM customer_history",
        "SELECT street FROM metering_points",
        "SELECT * FROM access_log",
    ):
        assert "permission denied" in _refused(pg_roles.auditor, sql), sql


def test_pg_an_auditors_personal_read_goes_through_the_log(
    pg_roles: PgRoles, tmp_path: Path
) -> None:
    count = "SELECT count(*) FROM hanport.access_log"
    before = _scalar(pg_roles.url, count)
    cli = Cli(pg_roles.auditor, tmp_path / "cli")
    plain = cli("customer", "show", "1001", user="aud")
    assert plain.code == 0 and plain.json["name"] is None, str(plain)
    assert _scalar(pg_roles.url, count) == before
    asked = cli("customer", "show", "1001", "--personal", "--purpose", "complaint 7", user="aud")
    assert asked.code == 0 and asked.json["name"] == "Kari Nordmann", str(asked)
    # The function wrote the rows as the database's owner; the login is the database's word.
    eng = create_engine(pg_roles.url, pool=False)
    try:
        with eng.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT login, actor, role, command, purpose, subject, what "
                    "FROM hanport.access_log ORDER BY id OFFSET :n"
                ),
                {"n": before},
            ).all()
    finally:
        eng.dispose()
    assert [tuple(r) for r in rows] == [
        ("hanport_auditor", "aud", "auditor", "customer show", "complaint 7", "1001", w)
        for w in ("contact details", "contact history")
    ]
    # Straight at the function from psql: logged just the same, under the real login.
    call = (
        "SELECT name FROM personal_contact('1001', 'someone', 'auditor', NULL, 'psql', "
        "'curiosity', now())"
    )
    eng = create_engine(pg_roles.auditor, pool=False)
    try:
        with eng.begin() as conn:
            assert conn.execute(text(call)).scalar() == "Kari Nordmann"
        assert _scalar(pg_roles.url, count) == before + 3
        last = "SELECT login, actor FROM hanport.access_log ORDER BY id DESC LIMIT 1"
        assert tuple(_row(pg_roles.url, last)) == ("hanport_auditor", "someone")
        # ... and rolled back: the name was seen, the row is gone, the gap is reported.
        with eng.connect() as conn:
            assert conn.execute(text(call)).scalar() == "Kari Nordmann"
            conn.rollback()
    finally:
        eng.dispose()
    assert _scalar(pg_roles.url, count) == before + 3
    login = f"dpo_{uuid.uuid4().hex[:8]}"  # roles are the server's: a name of this test's own
    _commit(pg_roles.url, f"CREATE ROLE {login} LOGIN IN ROLE hanport_privacy")
    try:
        cli = Cli(_as(pg_roles.url, login), tmp_path / "dpo", roles="dpo=privacy")
        r = cli("audit", "access", user="dpo")
        human = cli("audit", "access", user="dpo", as_json=False)
    finally:
        _commit(pg_roles.url, f"DROP ROLE {login}")
    assert r.code == 7, str(r)
    assert r.json["missing"] == [before + 4], r.json["missing"]
    assert len(r.json["reads"]) == before + 3
    assert human.code == 7 and "rolled the read's transaction back" in human.out, str(human)


def _row(url: str, sql: str) -> Any:
    eng = create_engine(url, pool=False)
    try:
        with eng.connect() as conn:
            return conn.execute(text(sql)).one()
    finally:
        eng.dispose()


def _commit(url: str, sql: str) -> None:
    eng = create_engine(url, pool=False)
    try:
        with eng.begin() as conn:
            conn.execute(text(sql))
    finally:
        eng.dispose()


def test_pg_a_caseworkers_commands_read_personal_data_only_through_the_log(
    pg_roles: PgRoles, tmp_path: Path
) -> None:
    """A caseworker's login has no SELECT on the personal columns either: the commands it runs
    read them (the notice's name and address, the installation address a consent is checked
    against) through the processing functions, each row logged under the command."""
    login = f"cw_{uuid.uuid4().hex[:8]}"
    _commit(pg_roles.url, f"CREATE ROLE {login} LOGIN IN ROLE hanport_caseworker")
    url = _as(pg_roles.url, login)
    count = "SELECT count(*) FROM hanport.access_log"
    before = _scalar(pg_roles.url, count)
    try:
        assert "permission denied" in _refused(url, "SELECT name, email FROM customers")
        assert "permission denied" in _refused(url, "SELECT street FROM metering_points")
        a = make_app(url)
        try:
            cw = actor(a)
            ref = open_case(
                a, cw, "close_port", customer="1001", meter_number=NORE_METER, channel="phone"
            ).case
            assert advance(a, cw, ref, "verify_identity", {"method": "bankid"}).state == "closing"
            assert audit.verify(a).ok
        finally:
            a.close()
        rows = _rows(
            pg_roles.url,
            "SELECT login, actor, command, purpose, subject, what FROM hanport.access_log "
            f"ORDER BY id OFFSET {before}",
        )
    finally:
        _commit(pg_roles.url, f"DROP OWNED BY {login}; DROP ROLE {login}")
    assert rows, "the caseworker's commands read personal data without a log row"
    assert {r[0] for r in rows} == {login} and {r[1] for r in rows} == {"cw"}
    assert {r[3] for r in rows} == {"processing"} and {r[4] for r in rows} == {"1001"}
    commands = {r[2] for r in rows}
    assert {"OpenCase close_port", "Advance verify_identity"} <= commands, commands
    assert {"contact details", "installation address"} <= {r[5] for r in rows}


def _rows(url: str, sql: str) -> list[Any]:
    eng = create_engine(url, pool=False)
    try:
        with eng.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        eng.dispose()


@pytest.mark.parametrize("group", ["hanport_privacy", "hanport_supervisor"])
def test_pg_customer_export_as_a_login_without_select_on_personal_columns(
    pg_roles: PgRoles, tmp_path: Path, group: str
) -> None:
    """An access request's export on a login that may not read the personal columns (the
    data-protection officer's, a supervisor's): every value through the logging functions,
    each read logged with the purpose 'access request' under the login."""
    login = f"x_{uuid.uuid4().hex[:8]}"
    role = "privacy" if group == "hanport_privacy" else "supervisor"
    _commit(pg_roles.url, f"CREATE ROLE {login} LOGIN IN ROLE {group}")
    count = "SELECT count(*) FROM hanport.access_log"
    before = _scalar(pg_roles.url, count)
    try:
        url = _as(pg_roles.url, login)
        assert "permission denied" in _refused(url, "SELECT street FROM metering_points")
        cli = Cli(url, tmp_path / "cli", roles=f"who={role}")
        r = cli("customer", "export", "1001", "--format", "json", user="who")
        page = cli("customer", "export", "1001", user="who", as_json=False)
        rows = _rows(
            pg_roles.url,
            "SELECT login, command, purpose, subject FROM hanport.access_log "
            f"ORDER BY id OFFSET {before}",
        )
    finally:
        _commit(pg_roles.url, f"DROP OWNED BY {login}; DROP ROLE {login}")
    assert r.code == 0, str(r)
    x = r.json
    assert x["customer"]["name"] == "Kari Nordmann" and x["metering_points"][0]["street"]
    assert x["consents"] and x["consents"][0]["signer_name"] == "Kari Nordmann"
    assert any(m["text"] for m in x["mails"]) and x["reads"]
    assert page.code == 0 and "Kari Nordmann" in page.out and 'lang="nb"' in page.out, str(page)
    assert rows and set(rows) == {(login, "customer export", "access request", "1001")}


def test_pg_erasure_as_the_privacy_officer_without_select_on_personal_columns(
    pg_roles: PgRoles, tmp_path: Path
) -> None:
    """The data-protection officer's login erases through the erase_* functions (it cannot
    read what it erases) and writes the ledger; an auditor's login may not call them."""
    login = f"x_{uuid.uuid4().hex[:8]}"
    _commit(pg_roles.url, f"CREATE ROLE {login} LOGIN IN ROLE hanport_privacy")
    try:
        url = _as(pg_roles.url, login)
        assert "permission denied" in _refused(url, "SELECT email FROM customers")
        cli = Cli(url, tmp_path / "cli", roles="who=privacy")
        # Per Åsen (1003) holds his point: only the e-mail and phone go (exit 6).
        r = cli("customer", "erase", "1003", "--reason", "art. 17 request", user="who")
        ledger = _rows(pg_roles.url, "SELECT subject, scope, actor FROM hanport.erasures")
    finally:
        _commit(pg_roles.url, f"DROP OWNED BY {login}; DROP ROLE {login}")
    assert r.code == 6, str(r)
    assert r.json["erased"]["customers"] == 1
    assert _rows(
        pg_roles.url, "SELECT name, email FROM hanport.customers WHERE customer_id = '1003'"
    ) == [("Per Åsen", None)]
    assert ledger == [("1003", "contact", "who")]
    assert "permission denied" in _refused(
        pg_roles.auditor, "SELECT * FROM erase_subject(1, now())"
    )
    assert "permission denied" in _refused(pg_roles.app, "SELECT * FROM erase_subject(1, now())")


def test_pg_the_ledger_the_access_log_retention_and_the_vacuum(
    pg_roles: PgRoles, tmp_path: Path
) -> None:
    """The ledger and the access log refuse even their owner (a superuser here); the scheduler's
    login deletes the log's old reads only through ``retain_access_log``, which nobody else may
    call, and nobody moves the mark by hand; ``privacy due`` counts them for an auditor; only
    the tables' owner vacuums (``pg_statistic`` is the database owner's)."""
    from hanport.entrypoints.scheduler import nightly
    from hanport.service.vacuum import vacuum
    from hanport.storage.vacuum import VACUUMED

    auditor = Cli(pg_roles.auditor, tmp_path / "cli")
    shown = auditor("customer", "show", "1001", "--personal", "--purpose", "audit 9", user="aud")
    assert shown.code == 0, str(shown)  # a read in the log, at least
    for sql in ("TRUNCATE hanport.erasures", "DELETE FROM hanport.access_log"):
        assert "append-only" in _refused(pg_roles.url, sql), sql
    for url in (pg_roles.app, pg_roles.auditor):
        assert "permission denied" in _refused(url, "DELETE FROM access_log")
        assert "permission denied" in _refused(url, "UPDATE retention_marks SET last_read_no = 9")
    assert "permission denied" in _refused(pg_roles.auditor, "SELECT retain_access_log(now())")
    reads = _scalar(pg_roles.url, "SELECT count(*) FROM hanport.access_log")
    assert reads
    later = "2030-03-02T09:00:00+01:00"  # past the log's 3 years
    listed = auditor("privacy", "due", "--at", later, user="aud")
    assert listed.code == 0 and listed.json["access_log"] == reads, str(listed)
    scheduler = make_app(pg_roles.app, now=later)
    try:
        assert nightly(scheduler)["retention"]["access_log"] == reads
        assert nightly(scheduler)["retention"]["access_log"] == 0
        with pytest.raises(Refused, match="as the tables' owner"):
            vacuum(scheduler)
    finally:
        scheduler.close()
    assert _scalar(pg_roles.url, "SELECT count(*) FROM hanport.access_log") == 0
    owner = make_app(pg_roles.owner, now=later)
    try:
        done = vacuum(owner)
    finally:
        owner.close()
    assert set(done.seconds) == set(VACUUMED) and done.skipped == ["pg_statistic"], done


def test_pg_a_privacy_request_worked_by_caseworker_supervisor_and_dpo_logins(
    pg_roles: PgRoles, tmp_path: Path
) -> None:
    """A data subject's request on real logins without SELECT on personal columns: a
    caseworker's registers it and checks who asked, a supervisor's restricts processing (the
    caseworker's next step on the subject's other case is then refused), the data-protection
    officer's lists the requests but may change no case."""
    logins = {g: f"x_{uuid.uuid4().hex[:8]}" for g in ("caseworker", "supervisor", "privacy")}
    for group, login in logins.items():
        _commit(pg_roles.url, f"CREATE ROLE {login} LOGIN IN ROLE hanport_{group}")
    cli = {g: Cli(_as(pg_roles.url, n), tmp_path / g, roles=f"who={g}") for g, n in logins.items()}
    try:
        opened = cli["caseworker"]("privacy", "request", "1004", "--kind", "restriction",
                                   "--channel", "letter", user="who")  # fmt: skip
        assert opened.code == 0, str(opened)
        ref = opened.json["case"]
        steps = [
            ("caseworker", ref, "verify_identity", "--set", "method=in_person"),
            ("supervisor", ref, "restrict", "--set", "ground=accuracy_contested"),
        ]
        for who, *args in steps:
            r = cli[who]("case", "advance", *args, user="who")
            assert r.code == 0, str(r)
        listed = cli["privacy"]("privacy", "requests", user="who")
        refused = cli["privacy"]("case", "advance", ref, "lift_restriction", "--set",
                                 "ground=subject_asked", "--note", "x", user="who")  # fmt: skip
        other = cli["caseworker"]("case", "open", "nore-open", "--customer", "1004",
                                  "--metering-point", NORE_OPEN_POINT, user="who")  # fmt: skip
    finally:
        for login in logins.values():
            _commit(pg_roles.url, f"DROP OWNED BY {login}; DROP ROLE {login}")
    assert listed.code == 0 and [(r["case"], r["state"]) for r in listed.json] == [
        (ref, "restricted")
    ], str(listed)
    assert refused.code == 4 and "privacy" in refused.err, str(refused)
    assert other.code == 4 and "GDPR art. 18" in other.err, str(other)
