"""Storage: every test runs on a real SQLite file and on a fresh PostgreSQL database.

What design.md ("The core invariant", "The port, the consent and the HES commands", "Storage",
"Reliability and security") promises about what lands in the database, checked on the rows.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from hanport.bootstrap import App
from hanport.calendar import OSLO, isoformat_utc
from hanport.errors import Conflict, HanportError, Refused
from hanport.storage import migrate, schema
from hanport.storage.engine import create_engine
from hanport.storage.errors import PointHeld
from hanport.storage.hashing import GENESIS, canonical_event, chain_hash
from hanport.storage.repositories.cases import CASE_COLS, Cases
from hanport.storage.rows import CaseRow
from hanport.storage.uow import UnitOfWork
from hanport.storage.views import reading
from hanport.storage.views.cases import CaseFilter
from tests.integration import dbstate as db
from tests.support import (
    CUSTOMERS_CSV,
    HOLE_POINT,
    NORE_METER,
    NORE_POINT,
    NORE_POINT_2,
    actor,
    advance,
    consent,
    customer_of,
    dispatch,
    keyed_hash_of,
    make_app,
    open_case,
)

# --- helpers ----------------------------------------------------------------------------------


def _open_nore(app: App, point: str = NORE_POINT, customer: str = "1001") -> str:
    return open_case(app, actor(app), "nore_open", customer=customer, metering_point=point).case


def _to_opening(app: App) -> str:
    """A nore_open case on NORE_POINT in ``opening`` (request → consent → opening)."""
    ref = _open_nore(app)
    advance(app, actor(app), ref, "request_consent")
    assert advance(app, actor(app), ref, "record_consent", consent()).state == "opening"
    return ref


def _oslo(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


# --- engine -----------------------------------------------------------------------------------


def test_sqlite_pragmas(sqlite_url: str) -> None:
    """SQLite only (PostgreSQL has no equivalent): WAL, synchronous=FULL, foreign keys, a busy
    timeout — on every connection the engine hands out."""
    app = make_app(sqlite_url)
    try:
        for _ in range(2):
            with app.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
            app.engine.dispose()  # the second round checks a brand-new connection
    finally:
        app.close()
    # WAL is a property of the file: a plain connection sees it too.
    raw = sqlite3.connect(make_url(sqlite_url).database)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_foreign_keys_are_enforced(seeded: App) -> None:
    """A note for a case that does not exist is refused by the database (the driver's own
    integrity error: no storage error names it)."""
    import psycopg

    now = datetime.now(UTC)
    with (
        pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)),
        UnitOfWork(seeded.engine) as uow,
    ):
        uow.cases.insert_notes([(999_999, 1, "note", "cw", "x", now)])
    assert db.scalar(seeded.engine, "SELECT count(*) FROM case_notes") == 0


# --- migrations -------------------------------------------------------------------------------


def test_migrations_head_is_the_schema_head() -> None:
    assert migrate.head() == schema.SCHEMA_HEAD


@pytest.fixture
def fresh_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables at all) on the same backend as ``db_url``."""
    if make_url(db_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    from tests.conftest import _admin_engine, _db_url, drop_pg_database

    name = f"hanport_t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = _db_url(name)
    try:
        yield url
    finally:
        drop_pg_database(url)


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = migrate._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _append_only_triggers(engine: Engine) -> set[str]:
    if engine.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'case_events'"
    else:
        sql = (
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid = 'case_events'::regclass"
        )
    with engine.connect() as conn:
        return set(conn.execute(text(sql)).scalars())


def test_migrations_upgrade_downgrade_upgrade(fresh_url: str) -> None:
    engine = create_engine(fresh_url, pool=False)
    try:
        assert migrate.current(engine) is None
        assert schema.current_revision(engine) is None

        migrate.upgrade(engine)
        assert migrate.current(engine) == schema.SCHEMA_HEAD
        assert schema.current_revision(engine) == schema.SCHEMA_HEAD
        tables = set(inspect(engine).get_table_names())
        for t in (*db.WRITTEN_TABLES, "customers", "meta", "batch_runs", "batch_documents"):
            assert t in tables
        assert _append_only_triggers(engine)

        # The models and the migrations describe the same schema.
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from hanport.storage.tables import METADATA

        with engine.connect() as conn:
            mc = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(mc, METADATA) == []

        _downgrade(engine, "base")
        assert migrate.current(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM pg_proc WHERE proname = 'case_events_append_only'")
                ).scalar()
            assert left == 0

        migrate.upgrade(engine)
        assert migrate.current(engine) == schema.SCHEMA_HEAD
        assert db.WRITTEN_TABLES[0] in inspect(engine).get_table_names()
        assert _append_only_triggers(engine)
    finally:
        engine.dispose()


def test_bootstrap_migrates_only_the_embedded_default(fresh_url: str) -> None:
    """SQLite migrates itself on first use; a shared PostgreSQL must be upgraded on purpose."""
    if make_url(fresh_url).get_backend_name() == "sqlite":
        a = make_app(fresh_url)
        try:
            assert schema.current_revision(a.engine) == schema.SCHEMA_HEAD
        finally:
            a.close()
        return
    with pytest.raises(HanportError, match="db upgrade"):
        make_app(fresh_url)


# --- case_events is append-only ---------------------------------------------------------------


def test_case_events_refuse_update_delete_truncate(seeded: App) -> None:
    ref = _to_opening(seeded)
    before = db.events(seeded.engine, ref)
    assert len(before) == 3
    statements = [
        "UPDATE case_events SET actor = 'mallory'",
        "UPDATE case_events SET data = '{}' WHERE seq = 2",
        "DELETE FROM case_events WHERE seq = 3",
        "DELETE FROM case_events",
    ]
    if seeded.backend == "postgresql":
        statements.append("TRUNCATE case_events CASCADE")
    for sql in statements:
        with pytest.raises(DBAPIError) as exc, seeded.engine.begin() as conn:
            conn.execute(text(sql))
        assert "append-only" in str(exc.value.orig), sql
    after = db.events(seeded.engine, ref)
    assert [(e["id"], e["data"], e["hash"]) for e in after] == [
        (e["id"], e["data"], e["hash"]) for e in before
    ]
    # Appending is what remains possible (the service layer does it on every command).
    advance(seeded, actor(seeded), ref, "confirm_open")
    assert len(db.events(seeded.engine, ref)) == 4


# --- the read side -----------------------------------------------------------------------------


def test_readers_return_typed_rows(seeded: App) -> None:
    """What ``storage.views`` hands the read side: typed rows, instants aware in UTC on both
    backends, and the instant text verification hashes equal to ``isoformat_utc`` of the stored
    instant (with and without microseconds)."""
    app = seeded
    ref = _open_nore(app)
    advance(app, actor(app), ref, "request_consent")
    app.clock.advance(timedelta(minutes=3, microseconds=123456))
    advance(app, actor(app), ref, "record_consent", consent())
    with reading(app.engine) as views:
        case = views.cases.by_ref(ref)
        assert isinstance(case, CaseRow) and case.holds_port is True and case.active is True
        events = views.events.of_case(case.id)
        links = list(views.events.chains(ref))
        timers = views.cases.pending_timers(case.id)
        listed = views.cases.listing(CaseFilter(metering_point=NORE_POINT))
        commands = views.hes.listing(gsrn=NORE_POINT)
        mails = views.mail.of_case(case.id)
        point = views.ports.point(NORE_POINT)
        assert point is not None
        steps = views.ports.timeline(point.id)
        heads = {h.gsrn: h for h in views.ports.heads()}
        assert views.events.heads()[ref] == (case.version, case.last_hash)
        assert views.events.without_events() == []
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[-1].occurred_at.microsecond == 123456
    instants = [e.occurred_at for e in events] + [t.due_at for t in timers] + [case.created_at]
    assert all(i.utcoffset() == timedelta(0) for i in instants)
    assert [x.occurred for x in links] == [isoformat_utc(e.occurred_at) for e in events]
    assert [(x.case_pk, x.ref, x.hash) for x in links] == [(case.id, ref, e.hash) for e in events]
    assert {t.name for t in timers} == {"sla", "hes_timeout"}
    assert [(c.ref, c.gsrn, c.customer_id) for c in listed] == [(ref, NORE_POINT, "1001")]
    assert [(c.action, c.status, c.case_ref, c.case_active) for c in commands] == [
        ("open", "pending", ref, True)
    ]
    assert [m.template for m in mails] == ["request_received", "consent_needed"]
    assert steps[-1].state == point.han_port == heads[NORE_POINT].last_state == "opening"
    assert steps[-1].case_ref == ref


def test_load_brings_the_cases_customers_hashing_keys(seeded: App) -> None:
    """``Cases.load(subject_keys=True)``: the hashing key of each loaded case's customer, as
    ``subject_keys`` holds it, in the load's own read (one case: a scalar key on PostgreSQL;
    several: an array); without the flag, none."""
    app = seeded
    first = _open_nore(app)
    second = _open_nore(app, NORE_POINT_2, "1005")
    with UnitOfWork(app.engine) as uow:
        pks = {ref: uow.cases.customer_pk_of(ref) for ref in (first, second)}
        stored = {pk: uow.subject_keys.get(pk)[1] for pk in pks.values() if pk is not None}
        one = uow.cases.load("ref", [first], subject_keys=True)
        both = uow.cases.load("ref", [first, second], subject_keys=True)
        without = uow.cases.load("ref", [first])
    assert all(stored.values()) and len(set(stored.values())) == 2
    assert one.subject_keys == {pks[first]: stored[pks[first]]}
    assert both.subject_keys == stored
    assert without.subject_keys is None


# --- the hash chain ---------------------------------------------------------------------------


def test_hash_chain_recomputes_from_stored_rows(seeded: App) -> None:
    app = seeded
    ref = _open_nore(app)
    other = _open_nore(app, NORE_POINT_2, "1005")  # interleaved: global ids are shared
    advance(app, actor(app), ref, "request_consent")
    advance(app, actor(app), other, "cancel", {"reason": "duplicate request"})
    app.clock.advance(timedelta(hours=3))
    advance(app, actor(app), ref, "record_consent", consent())
    app.clock.advance(timedelta(minutes=17, microseconds=123456))
    advance(app, actor(app), ref, "confirm_open")

    for case_ref in (ref, other):
        case = db.case_row(app.engine, case_ref)
        evs = db.events(app.engine, case_ref)
        assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
        assert evs[0]["prev_hash"] == GENESIS
        prev = GENESIS
        for e in evs:
            assert e["prev_hash"] == prev
            canon = canonical_event(
                case_ref=case["ref"],
                seq=e["seq"],
                occurred_at=isoformat_utc(e["occurred_at"]),
                actor=e["actor"],
                actor_kind=e["actor_kind"],
                trigger=e["trigger"],
                from_state=e["from_state"],
                to_state=e["to_state"],
                workflow=case["workflow"],
                workflow_version=e["workflow_version"],
                data=json.loads(e["data"]),
            )
            assert chain_hash(prev, canon) == e["hash"], (case_ref, e["seq"])
            prev = e["hash"]
        assert case["last_hash"] == evs[-1]["hash"]
        assert case["version"] == evs[-1]["seq"]
        ids = [e["id"] for e in evs]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)

    evs = db.events(app.engine, ref)
    assert [(e["trigger"], e["to_state"]) for e in evs] == [
        ("open", "requested"),
        ("request_consent", "awaiting_consent"),
        ("record_consent", "opening"),
        ("confirm_open", "confirmed"),
    ]
    # Sub-second instants survive the round trip (the hash covers them).
    assert evs[-1]["occurred_at"].microsecond == 123456
    # The global sequence follows commit order across cases.
    all_ids = db.rows(app.engine, "SELECT id, case_id, seq FROM case_events ORDER BY id")
    order = [(r["case_id"], r["seq"]) for r in all_ids]
    ref_id, other_id = db.case_row(app.engine, ref)["id"], db.case_row(app.engine, other)["id"]
    assert order == [
        (ref_id, 1),
        (other_id, 1),
        (ref_id, 2),
        (other_id, 2),
        (ref_id, 3),
        (ref_id, 4),
    ]


def test_hash_chain_detects_a_changed_row(seeded: App) -> None:
    """The recomputation above is not vacuous: a changed stored field breaks it."""
    ref = _to_opening(seeded)
    case = db.case_row(seeded.engine, ref)
    e = db.events(seeded.engine, ref)[1]
    canon = canonical_event(
        case_ref=case["ref"],
        seq=e["seq"],
        occurred_at=isoformat_utc(e["occurred_at"]),
        actor="someone-else",
        actor_kind=e["actor_kind"],
        trigger=e["trigger"],
        from_state=e["from_state"],
        to_state=e["to_state"],
        workflow=case["workflow"],
        workflow_version=e["workflow_version"],
        data=json.loads(e["data"]),
    )
    assert chain_hash(e["prev_hash"], canon) != e["hash"]


# --- no personal data in events ---------------------------------------------------------------

NOTE = "Checked by phone with Nils Li on +47 99887766; lives at Postboks 7"
REASON = "Kari Nordmann rang from 91234567: moving to Storgata 12B, kari.private@example.com"


def _personal_strings() -> list[str]:
    out = {NOTE, REASON, "99887766", "kari.private@example.com", "Nedre Dal"}
    header, *lines = CUSTOMERS_CSV.strip().splitlines()
    cols = header.split(";")
    for line in lines:
        rec = dict(zip(cols, line.split(";"), strict=True))
        for k in ("name", "email", "phone", "street"):
            if rec[k]:
                out.add(rec[k])
                out.add(rec[k].split()[0])  # first name / street name alone
    return sorted(out)


def test_events_carry_no_personal_data(seeded: App) -> None:
    app = seeded
    cw, sup = actor(app), actor(app, "sup")
    # Case 1: consent by e-mail from the registered address, then cancelled with a reason.
    ref = _open_nore(app)
    advance(app, cw, ref, "request_consent")
    fields = consent(channel="email", from_email="kari@example.no")
    assert advance(app, cw, ref, "record_consent", fields).state == "opening"
    dispatch(app)  # the open command leaves, so the cancel queues a close behind it
    advance(app, cw, ref, "cancel", {"reason": REASON})
    # The customer then asks by e-mail to close the port (the sender is personal too).
    close = open_case(
        app,
        cw,
        "close_port",
        customer="1001",
        meter_number=NORE_METER,
        channel="email",
        from_email="kari@example.no",
    )
    assert close.state == "closing"
    # Case 2: a consent written with the postal address → address_review → approved with a note.
    ref2 = _open_nore(app, NORE_POINT_2, "1005")
    c2 = consent(signer_name="Nils Li", address="Postboks 7", postal_code="3631")
    assert advance(app, cw, ref2, "record_consent", c2).state == "address_review"
    assert advance(app, sup, ref2, "approve_address", note=NOTE).state == "opening"

    stored = db.rows(app.engine, "SELECT * FROM case_events")
    assert len(stored) == 9
    # Every column, and the data both as stored and decoded (JSON escapes would hide ø, å).
    blob = "\n".join(
        json.dumps({k: str(v) for k, v in e.items()}, ensure_ascii=False)
        + json.dumps(json.loads(e["data"]), ensure_ascii=False)
        for e in stored
    )
    leaked = [
        s for s in _personal_strings() if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", blob, re.I)
    ]
    assert leaked == []

    # The values are where they belong ...
    consents = db.rows(app.engine, "SELECT * FROM consents WHERE source = 'case' ORDER BY id")
    assert [c["signer_name"] for c in consents] == ["Kari Nordmann", "Nils Li"]
    assert [c["address_written"] for c in consents] == ["Sentrumsvegen 5", "Postboks 7"]
    assert consents[0]["from_email"] == "kari@example.no"
    notes = db.rows(app.engine, "SELECT kind, body, author FROM case_notes ORDER BY id")
    assert {"kind": "reason", "body": REASON, "author": "cw"} in notes
    assert {"kind": "note", "body": NOTE, "author": "sup"} in notes

    # ... and the events carry hashes keyed with Kari's own key under the pepper instead.
    evs = {e["trigger"]: e["parsed"] for e in db.events(app.engine, ref)}
    personal = evs["record_consent"]["personal"]
    assert set(personal) == {"signer_name", "address", "from_email"}
    assert personal["signer_name"] == keyed_hash_of(app, "1001", "Kari Nordmann")
    assert personal["address"] == keyed_hash_of(app, "1001", "Sentrumsvegen 5")
    assert personal["signer_name"] != keyed_hash_of(app, "1005", "Kari Nordmann")  # per subject
    assert all(v.startswith("k:") for v in personal.values())
    for guard in evs["record_consent"]["guards"].values():
        for name, value in guard["inputs"].items():
            if name in (
                "consent_address",
                "installation_address",
                "from_email",
                "registered_email",
            ):
                assert isinstance(value, str) and value.startswith("k:"), (name, value)
    assert evs["cancel"]["personal"]["reason"] == keyed_hash_of(app, "1001", REASON)
    close_events = db.events(app.engine, close.case)
    sender = close_events[0]["parsed"]["personal"]["from_email"]
    assert sender == keyed_hash_of(app, "1001", "kari@example.no")
    approve = next(
        e["parsed"] for e in db.events(app.engine, ref2) if e["trigger"] == "approve_address"
    )
    assert approve["note"] == keyed_hash_of(app, customer_of(app, ref2), NOTE)


# --- one active port-changing case per point --------------------------------------------------


def test_second_opening_on_the_same_point_is_refused(seeded: App) -> None:
    app = seeded
    ref = _open_nore(app)
    before = db.snapshot(app.engine)
    with pytest.raises(Refused, match=ref):
        _open_nore(app)
    assert db.diff(before, db.snapshot(app.engine)) == {}
    assert db.scalar(app.engine, "SELECT count(*) FROM cases") == 1


def test_partial_unique_index_allows_one_holding_case_per_point(seeded: App) -> None:
    app = seeded
    ref = _open_nore(app)
    row = db.case_row(app.engine, ref)
    assert row["holds_port"]

    def copy(pk: int, **values: object) -> list[object]:
        """The case's row under a new id, with ``values`` changed (columns as ``CASE_COLS``)."""
        changed = {**row, "id": pk, **values}
        return [changed[c.strip()] for c in CASE_COLS.split(",")]

    with pytest.raises(PointHeld) as exc, UnitOfWork(app.engine) as uow:
        uow.cases.insert([copy(row["id"] + 1000, ref="HAN-2026-999999")])
    refused = str(exc.value.__cause__)
    if app.backend == "postgresql":
        assert "ux_cases_point_holding" in refused
    else:
        assert "cases.point_id" in refused
        sql = db.scalar(
            app.engine, "SELECT sql FROM sqlite_master WHERE name = 'ux_cases_point_holding'"
        )
        assert "UNIQUE" in sql.upper() and "WHERE holds_port = 1" in sql
    # The index is partial: cases that do not hold the point are not limited.
    with UnitOfWork(app.engine) as uow:
        uow.cases.insert(
            [
                copy(row["id"] + 1001 + i, ref=f"HAN-2026-99999{i}", holds_port=False, active=False)
                for i in range(2)
            ]
        )
        uow.commit()
    assert db.scalar(app.engine, "SELECT count(*) FROM cases") == 3


# --- compare-and-swap -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setup, first, competing",
    [
        # Someone else recorded the consent while this caseworker was cancelling.
        (
            "requested",
            ("cancel", {"reason": "customer changed mind"}),
            ("record_consent", consent()),
        ),
        # Two caseworkers confirm the same acknowledgement (the same notice would be enqueued).
        ("opening", ("confirm_open", {}), ("confirm_open", {})),
    ],
    ids=["different-trigger", "same-trigger"],
)
def test_compare_and_swap_conflict_writes_nothing(
    seeded: App, db_url: str, request: pytest.FixtureRequest, setup, first, competing
) -> None:
    app = seeded
    ref = _open_nore(app) if setup == "requested" else _to_opening(app)
    seen: dict[str, object] = {}

    def competitor() -> None:
        del app.extras["after_load"]  # once
        other = make_app(db_url)
        try:
            r = advance(other, actor(other, "cw2"), ref, competing[0], competing[1])
            seen["competitor"] = r.state
        finally:
            other.close()
        seen["after_competitor"] = db.snapshot(app.engine)

    app.extras["after_load"] = competitor
    with pytest.raises(Conflict):
        advance(app, actor(app), ref, first[0], first[1])
    assert "competitor" in seen, "the hook did not run"
    assert db.diff(seen["after_competitor"], db.snapshot(app.engine)) == {}
    evs = db.events(app.engine, ref)
    assert evs[-1]["actor"] == "cw2"
    assert db.case_row(app.engine, ref)["state"] == seen["competitor"]


# --- idempotency keys -------------------------------------------------------------------------


def test_idempotency_keys(seeded: App) -> None:
    app = seeded
    cw = actor(app)
    r1 = open_case(app, cw, "nore_open", customer="1001", metering_point=NORE_POINT, key="k1")
    assert not r1.already_applied
    before = db.snapshot(app.engine)
    r2 = open_case(app, cw, "nore_open", customer="1001", metering_point=NORE_POINT, key="k1")
    assert r2.already_applied and r2.case == r1.case and r2.state == r1.state
    assert db.diff(before, db.snapshot(app.engine)) == {}
    assert db.scalar(app.engine, "SELECT count(*) FROM cases") == 1

    with pytest.raises(Refused, match="k1"):
        open_case(
            app,
            cw,
            "nore_open",
            customer="1001",
            metering_point=NORE_POINT,
            channel="phone",
            key="k1",
        )
    assert db.diff(before, db.snapshot(app.engine)) == {}

    # Keys are scoped per command kind: the same text may key an advance.
    a1 = advance(app, cw, r1.case, "request_consent", key="k1")
    assert not a1.already_applied and a1.state == "awaiting_consent"
    n_events = len(db.events(app.engine, r1.case))
    a2 = advance(app, cw, r1.case, "request_consent", key="k1")
    assert a2.already_applied and a2.version == a1.version
    assert len(db.events(app.engine, r1.case)) == n_events
    with pytest.raises(Refused, match="k1"):
        advance(app, cw, r1.case, "cancel", {"reason": "x"}, key="k1")
    assert len(db.events(app.engine, r1.case)) == n_events
    assert db.case_row(app.engine, r1.case)["state"] == "awaiting_consent"


# --- the port state and the consent -----------------------------------------------------------


def test_port_opens_under_the_consent_and_closes_on_request(seeded: App) -> None:
    app = seeded
    cw = actor(app)
    assert db.point(app.engine, NORE_POINT)["han_port"] == "closed"
    ref = _open_nore(app)
    assert db.point(app.engine, NORE_POINT)["han_port"] == "closed"
    advance(app, cw, ref, "record_consent", consent())
    p = db.point(app.engine, NORE_POINT)
    assert p["han_port"] == "opening" and p["consent_id"] is None
    cid = json.loads(db.case_row(app.engine, ref)["data"])["consent_id"]
    c = db.consent_row(app.engine, cid)
    assert c["opened_at"] is None and c["ended_at"] is None
    assert c["address_match"] == "installation" and c["source"] == "case"
    hes = db.rows(app.engine, "SELECT action, status FROM hes_commands")
    assert hes == [{"action": "open", "status": "pending"}]

    app.clock.advance(timedelta(hours=2))
    advance(app, cw, ref, "confirm_open")
    p = db.point(app.engine, NORE_POINT)
    assert p["han_port"] == "open" and p["consent_id"] == cid
    assert p["port_since"] == app.clock.now()
    c = db.consent_row(app.engine, cid)
    assert c["opened_at"] == app.clock.now() and c["ended_at"] is None
    assert db.rows(app.engine, "SELECT status, result FROM hes_commands") == [
        {"status": "acked", "result": "opened"}
    ]

    # A close request by e-mail from the registered address: straight to closing.
    app.clock.advance(timedelta(days=1))
    r = open_case(
        app,
        cw,
        "close_port",
        customer="1001",
        meter_number=NORE_METER,
        channel="email",
        from_email="kari@example.no",
    )
    assert r.state == "closing"
    c = db.consent_row(app.engine, cid)
    assert c["end_reason"] == "withdrawn" and c["ended_at"] == app.clock.now()
    assert db.point(app.engine, NORE_POINT)["han_port"] == "closing"
    assert db.case_row(app.engine, r.case)["holds_port"]

    advance(app, cw, r.case, "confirm_close")
    p = db.point(app.engine, NORE_POINT)
    assert p["han_port"] == "closed" and p["consent_id"] is None
    assert db.case_row(app.engine, r.case)["state"] == "closed"
    assert not db.case_row(app.engine, r.case)["holds_port"]


def test_close_request_takes_over_an_opening_in_flight(seeded: App) -> None:
    app = seeded
    cw = actor(app)
    ref = _to_opening(app)
    cid = json.loads(db.case_row(app.engine, ref)["data"])["consent_id"]
    r = open_case(
        app,
        cw,
        "close_port",
        customer="1001",
        meter_number=NORE_METER,
        channel="email",
        from_email="kari@example.no",
    )
    assert r.state == "closing"
    opening = db.case_row(app.engine, ref)
    assert opening["state"] == "cancelled"
    assert not opening["active"] and not opening["holds_port"]
    last = db.events(app.engine, ref)[-1]
    assert last["trigger"] == "cancel" and last["parsed"]["superseded_by"] == r.case
    c = db.consent_row(app.engine, cid)
    assert c["end_reason"] == "withdrawn" and c["ended_at"] is not None
    closing = db.case_row(app.engine, r.case)
    assert closing["holds_port"] and closing["active"]
    assert db.point(app.engine, NORE_POINT)["han_port"] == "closing"
    hes = db.rows(app.engine, "SELECT case_id, action, status FROM hes_commands ORDER BY id")
    assert hes == [
        {"case_id": opening["id"], "action": "open", "status": "cancelled"},
        {"case_id": closing["id"], "action": "close", "status": "pending"},
    ]
    assert [t["status"] for t in db.timers(app.engine, ref) if t["status"] == "pending"] == []


# --- timers -----------------------------------------------------------------------------------


def test_timer_rows_follow_the_states(seeded: App) -> None:
    app = seeded
    cw = actor(app)
    ref = _open_nore(app)
    assert db.timers(app.engine, ref) == []
    advance(app, cw, ref, "request_consent")  # Monday 2026-03-02 09:00 Oslo
    t = {x["name"]: x for x in db.timers(app.engine, ref)}
    assert set(t) == {"remind_consent", "expire"}
    assert all(x["status"] == "pending" and x["kind"] == "state" for x in t.values())
    assert t["remind_consent"]["trigger"] == "remind_consent"
    assert t["remind_consent"]["due_at"] == _utc(_oslo(2026, 3, 9, 9, 0))
    # 30 days later, across the switch to summer time: same local clock time.
    assert t["expire"]["trigger"] == "expire"
    assert t["expire"]["due_at"] == _utc(_oslo(2026, 4, 1, 9, 0))
    assert t["expire"]["started_seq"] == 2

    # A consent recorded on Friday 2026-03-27 15:00: the SLA is due Wednesday 1 April 15:00
    # (three working days; the weekend and the DST switch in between).
    app.clock.set(_oslo(2026, 3, 27, 15, 0))
    advance(app, cw, ref, "record_consent", consent())
    rows = db.timers(app.engine, ref)
    by = {x["name"]: x for x in rows}
    assert by["remind_consent"]["status"] == "cancelled"
    assert by["expire"]["status"] == "cancelled"
    assert by["expire"]["ended_at"] == app.clock.now()
    assert by["sla"]["status"] == "pending" and by["sla"]["kind"] == "case"
    assert by["sla"]["trigger"] == "sla_breached"
    assert by["sla"]["due_at"] == _utc(_oslo(2026, 4, 1, 15, 0))
    assert by["hes_timeout"]["status"] == "pending"
    assert by["hes_timeout"]["due_at"] == _utc(_oslo(2026, 3, 28, 15, 0))
    assert by["hes_timeout"]["trigger"] == "report_failure"
    assert len(rows) == 4

    advance(app, cw, ref, "confirm_open")
    rows = db.timers(app.engine, ref)
    assert len(rows) == 4
    assert [x for x in rows if x["status"] == "pending"] == []
    assert {x["name"]: x["status"] for x in rows} == {
        "remind_consent": "cancelled",
        "expire": "cancelled",
        "sla": "cancelled",
        "hes_timeout": "cancelled",
    }


def test_sla_starts_on_approve_address(seeded: App) -> None:
    app = seeded
    ref = _open_nore(app, NORE_POINT_2, "1005")
    c = consent(signer_name="Nils Li", address="Postboks 7", postal_code="3631")
    advance(app, actor(app), ref, "record_consent", c)
    assert [t["name"] for t in db.timers(app.engine, ref)] == []
    app.clock.set(_oslo(2026, 3, 27, 15, 0))
    advance(app, actor(app, "sup"), ref, "approve_address", note="checked")
    sla = [t for t in db.timers(app.engine, ref) if t["name"] == "sla"]
    assert len(sla) == 1 and sla[0]["due_at"] == _utc(_oslo(2026, 4, 1, 15, 0))


# --- mail intents -----------------------------------------------------------------------------


def test_every_notice_is_a_mail_row_with_a_stable_message_id(seeded: App) -> None:
    app = seeded
    ref = _to_opening(app)
    advance(app, actor(app), ref, "confirm_open")
    mails = db.mail(app.engine, ref)
    evs = {e["seq"]: e["parsed"] for e in db.events(app.engine, ref)}
    expected = [(seq, t) for seq, d in sorted(evs.items()) for t in d.get("notices", [])]
    assert [(m["seq"], m["template"]) for m in mails] == expected
    assert [t for _, t in expected] == ["request_received", "consent_needed", "port_opened"]
    for m in mails:
        assert m["message_id"] == f"<{ref}.{m['seq']}.{m['template']}@foie.no>"
        assert m["status"] == "pending" and m["recipient"] == "kari@example.no"
        assert m["language"] == "nb" and m["attempts"] == 0
        assert json.loads(m["context"])["case_ref"] == ref
    assert db.case_row(app.engine, ref)["flags"] == "[]"


def test_customer_without_email_gets_no_address_rows_and_the_flag(seeded: App) -> None:
    app = seeded
    ref = _open_nore(app, NORE_POINT_2, "1005")
    mails = db.mail(app.engine, ref)
    assert [(m["template"], m["status"], m["recipient"]) for m in mails] == [
        ("request_received", "no_address", None)
    ]
    assert mails[0]["message_id"] == f"<{ref}.1.request_received@foie.no>"
    assert json.loads(db.case_row(app.engine, ref)["flags"]) == ["no_email"]
    assert "no_email" in db.events(app.engine, ref)[0]["parsed"].get("flags_set", [])
    advance(app, actor(app), ref, "request_consent")
    assert [m["status"] for m in db.mail(app.engine, ref)] == ["no_address", "no_address"]


# --- a failed command writes nothing ----------------------------------------------------------


def test_failed_guard_rolls_back_everything(seeded: App) -> None:
    app = seeded
    cw = actor(app)
    r = open_case(app, cw, "meter_swap", customer="1003", metering_point=HOLE_POINT)
    assert r.state == "queued"
    before = db.snapshot(app.engine)
    with pytest.raises(Refused, match=NORE_POINT):
        advance(
            app,
            cw,
            r.case,
            "record_installation",
            {"meter_number": NORE_METER, "installed_at": "2026-03-02T08:00:00+01:00"},
        )
    assert db.diff(before, db.snapshot(app.engine)) == {}


def test_error_late_in_a_command_rolls_back_everything(
    seeded: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error after the timers, mail, consent, HES command and point were written (while
    appending the events) leaves none of them behind."""
    app = seeded
    cw = actor(app)
    ref = _open_nore(app)
    advance(app, cw, ref, "request_consent")
    before = db.snapshot(app.engine)

    def boom(self, rows):
        assert rows, "no events to append"
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Cases, "insert_events", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        advance(app, cw, ref, "record_consent", consent())
    assert db.diff(before, db.snapshot(app.engine)) == {}
    monkeypatch.undo()
    # The same command then goes through.
    assert advance(app, cw, ref, "record_consent", consent()).state == "opening"
