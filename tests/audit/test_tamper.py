"""Tampering with the history behind the application's back, on SQLite and PostgreSQL.

A small history is built through the service layer (tests/audit/helpers.py: a nore_open case
through its full path, a close request, a cancelled case). Then the append-only triggers are
bypassed as an attacker with owner rights would (SQLite: a raw connection drops them; PostgreSQL:
the owner disables them) and each kind of tampering must be caught by ``hanport.queries.audit.verify``
and by ``hanport audit verify --all`` (exit 7) — and *named*: the case, the event's seq and what
happened (design.md, "Reliability and security").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.queries import audit
from hanport.storage.hashing import canonical_event, chain_hash
from tests.audit.helpers import Cli, History, Run, build_history, instant, problems, tamper
from tests.support import NORE_POINT, seed

# --- fixtures and checks -----------------------------------------------------------------------


@pytest.fixture
def hist(app: App, tmp_path: Path) -> History:
    seed(app, tmp_path / "registry")
    return build_history(app)


@pytest.fixture
def cli(app: App, tmp_path: Path) -> Cli:
    return Cli(app.settings.database_url, tmp_path / "cli")


@pytest.fixture
def checkpoint_file(hist: History, cli: Cli, tmp_path: Path) -> Iterator[Path]:
    """A checkpoint written by ``audit checkpoint --out`` before any tampering."""
    path = tmp_path / "checkpoint.json"
    r = cli("audit", "checkpoint", "--out", path)
    assert r.code == 0, str(r)
    assert r.json["cases"] == 3
    yield path


Expect = tuple[str, int | None, tuple[str, ...]]


def _matches(found: list[tuple[str, int | None, str]], ref: str, seq: int | None, words) -> bool:
    return any(
        c == ref and s == seq and all(w.lower() in what.lower() for w in words)
        for c, s, what in found
    )


def assert_caught(
    app: App,
    cli: Cli,
    *expected: Expect,
    only: str | None = None,
    checkpoint: Path | None = None,
) -> Run:
    """Each expected (case, seq, words) is named by ``audit.verify`` and by the CLI (exit 7);
    with ``only``, every problem is about that case (nothing else is accused)."""
    cp = json.loads(checkpoint.read_text(encoding="utf-8")) if checkpoint else None
    report = audit.verify(app, checkpoint=cp)
    found = problems(report)
    assert not report.ok, "tampering not caught"
    for ref, seq, words in expected:
        assert _matches(found, ref, seq, words), (
            f"no problem names {ref} seq {seq} with {words}; problems: {found}"
        )
    if only is not None:
        assert {c for c, _, _ in found} <= {only, "checkpoint"}, found

    args = ["audit", "verify", "--all"] + (["--checkpoint", str(checkpoint)] if checkpoint else [])
    r = cli(*args)
    assert r.code == 7, str(r)
    assert r.json["ok"] is False
    cli_found = [(p["case"], p["seq"], p["what"]) for p in r.json["problems"]]
    for ref, seq, words in expected:
        assert _matches(cli_found, ref, seq, words), str(r)
    # The human form names them too.
    human = cli(*args, as_json=False)
    assert human.code == 7, str(human)
    for ref, _, _ in expected:
        assert ref in human.out, str(human)
    return r


def assert_clean(app: App, cli: Cli, checkpoint: Path | None = None) -> None:
    cp = json.loads(checkpoint.read_text(encoding="utf-8")) if checkpoint else None
    report = audit.verify(app, checkpoint=cp)
    assert report.ok, problems(report)
    args = ["audit", "verify", "--all"] + (["--checkpoint", str(checkpoint)] if checkpoint else [])
    r = cli(*args)
    assert r.code == 0, str(r)
    assert r.json["ok"] is True


# --- a clean history ---------------------------------------------------------------------------


def test_clean_history_verifies(app: App, hist: History, cli: Cli, checkpoint_file: Path) -> None:
    report = audit.verify(app)
    assert report.ok, problems(report)
    assert (report.cases, report.events, report.points) == (3, 10, 5)
    r = cli("audit", "verify", "--all")
    assert r.code == 0, str(r)
    assert r.json == {"ok": True, "cases": 3, "events": 10, "points": 5, "problems": []}
    for ref in hist.refs:
        one = cli("audit", "verify", ref.lower())
        assert one.code == 0, str(one)
        assert one.json["cases"] == 1
    assert_clean(app, cli, checkpoint_file)
    human = cli("audit", "verify", "--all", as_json=False)
    assert human.code == 0 and "all intact" in human.out, str(human)


def test_verify_usage_and_unknown_case(app: App, hist: History, cli: Cli) -> None:
    assert cli("audit", "verify").code == 2
    assert cli("audit", "verify", hist.nore, "--all").code == 2
    r = cli("audit", "verify", "HAN-2026-999999")
    assert r.code == 3, str(r)


# --- changed fields ----------------------------------------------------------------------------


def _changed_value(field: str, event: dict) -> object:
    if field == "data":
        data = json.loads(event["data"])
        data["fields"] = {**data.get("fields", {}), "channel": "phone"}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
    if field == "actor":
        return "sup"
    if field == "to_state":
        return "rejected"
    if field == "occurred_at":
        return instant(event["occurred_at"]) - timedelta(hours=1)
    raise AssertionError(field)


@pytest.mark.parametrize("field", ["data", "actor", "to_state", "occurred_at"])
def test_changed_field_in_the_middle_is_named(
    app: App, hist: History, cli: Cli, field: str
) -> None:
    with tamper(app) as t:
        ev = t.event(hist.nore, 2)
        t.set_event(hist.nore, 2, **{field: _changed_value(field, ev)})
    r = assert_caught(app, cli, (hist.nore, 2, ("changed",)), only=hist.nore)
    # Only that event is accused: the chain after it still links to its stored hash.
    assert {(p["case"], p["seq"]) for p in r.json["problems"]} == {(hist.nore, 2)}, str(r)
    # Verifying only another case finds nothing; only this case finds it.
    assert audit.verify(app, hist.close).ok
    assert not audit.verify(app, hist.nore).ok


@pytest.mark.parametrize("field", ["data", "actor", "to_state", "occurred_at"])
def test_changed_field_of_the_last_event_is_named(
    app: App, hist: History, cli: Cli, field: str
) -> None:
    with tamper(app) as t:
        ev = t.event(hist.close, 3)
        t.set_event(hist.close, 3, **{field: _changed_value(field, ev)})
    expected: list = [(hist.close, 3, ("changed",))]
    if field == "to_state":  # the case row now disagrees with its history too
        expected.append((hist.close, 3, ("closed", "rejected")))
    assert_caught(app, cli, *expected, only=hist.close)


# --- removed, swapped, inserted ----------------------------------------------------------------


def test_deleted_middle_event_is_named(app: App, hist: History, cli: Cli) -> None:
    with tamper(app) as t:
        t.delete_event(hist.nore, 2)
    assert_caught(
        app,
        cli,
        (hist.nore, 3, ("missing", "2")),
        (hist.nore, 3, ("chain is broken",)),
        only=hist.nore,
    )


def test_deleted_last_event_is_named(app: App, hist: History, cli: Cli) -> None:
    with tamper(app) as t:
        t.delete_event(hist.nore, 4)
    # The case row still says version 4 (confirmed) with the removed event's hash as its head.
    assert_caught(
        app,
        cli,
        (hist.nore, 3, ("version 4", "seq 3")),
        (hist.nore, 3, ("chain head",)),
        (hist.nore, 3, ("confirmed",)),
        only=hist.nore,
    )


def test_swapped_events_are_named(app: App, hist: History, cli: Cli) -> None:
    cols = (
        "occurred_at",
        "actor",
        "actor_kind",
        "trigger",
        "from_state",
        "to_state",
        "workflow_version",
        "data",
        "prev_hash",
        "hash",
    )
    with tamper(app) as t:
        a, b = t.event(hist.nore, 2), t.event(hist.nore, 3)
        t.set_event(hist.nore, 2, **{c: b[c] for c in cols})
        t.set_event(hist.nore, 3, **{c: a[c] for c in cols})
    assert_caught(
        app,
        cli,
        (hist.nore, 2, ("chain is broken",)),
        (hist.nore, 2, ("changed",)),
        (hist.nore, 3, ("chain is broken",)),
        (hist.nore, 3, ("changed",)),
        only=hist.nore,
    )


def test_reordered_events_are_named(app: App, hist: History, cli: Cli) -> None:
    """The rows keep their content but trade seq numbers (the global sequence then runs
    backwards)."""
    with tamper(app) as t:
        a, b = t.event(hist.close, 2), t.event(hist.close, 3)
        t.execute("UPDATE case_events SET seq = 1000 WHERE id = :id", id=a["id"])
        t.execute("UPDATE case_events SET seq = 2 WHERE id = :id", id=b["id"])
        t.execute("UPDATE case_events SET seq = 3 WHERE id = :id", id=a["id"])
    assert_caught(
        app,
        cli,
        (hist.close, 2, ("chain is broken",)),
        (hist.close, 3, ("reordered",)),
        only=hist.close,
    )


def _forged(t, ref: str, seq: int, prev_hash: str, template: dict) -> dict:
    """An event a forger would insert: a plausible note-like event with a correct hash."""
    case = t.case(ref)
    row = {
        "case_id": case["id"],
        "seq": seq,
        "occurred_at": instant(template["occurred_at"]) + timedelta(minutes=1),
        "actor": "cw",
        "actor_kind": "caseworker",
        "trigger": "remind_consent",
        "from_state": "awaiting_consent",
        "to_state": "awaiting_consent",
        "workflow_version": template["workflow_version"],
        "data": "{}",
        "prev_hash": prev_hash,
    }
    ev = canonical_event(
        case_ref=ref,
        seq=seq,
        occurred_at=isoformat_utc(row["occurred_at"]),
        actor=row["actor"],
        actor_kind=row["actor_kind"],
        trigger=row["trigger"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        workflow=case["workflow"],
        workflow_version=row["workflow_version"],
        data={},
    )
    row["hash"] = chain_hash(prev_hash, ev)
    cols = ", ".join(row)
    t.execute(f"INSERT INTO case_events ({cols}) VALUES ({', '.join(':' + c for c in row)})", **row)
    return row


def test_inserted_event_in_the_middle_is_named(app: App, hist: History, cli: Cli) -> None:
    """Later events move up one seq; the forged event links correctly to the one before it."""
    with tamper(app) as t:
        events = t.events(hist.nore)
        for e in reversed(events[2:]):  # seq 3, 4 → 4, 5 (one at a time: seq is unique)
            t.execute(
                "UPDATE case_events SET seq = :new WHERE id = :id", new=e["seq"] + 1, id=e["id"]
            )
        _forged(t, hist.nore, 3, events[1]["hash"], events[1])
    assert_caught(
        app,
        cli,
        (hist.nore, 4, ("chain is broken", "inserted")),
        (hist.nore, 4, ("changed",)),
        (hist.nore, 4, ("reordered",)),
        (hist.nore, 5, ("version 4", "seq 5")),
        only=hist.nore,
    )


def test_inserted_event_at_the_end_is_named(app: App, hist: History, cli: Cli) -> None:
    """A correctly chained extra event: the case row (version, head) does not know it."""
    with tamper(app) as t:
        events = t.events(hist.cancelled)
        _forged(t, hist.cancelled, 4, events[-1]["hash"], events[-1])
    assert_caught(
        app,
        cli,
        (hist.cancelled, 4, ("version 3", "seq 4")),
        (hist.cancelled, 4, ("chain head",)),
        only=hist.cancelled,
    )


# --- what only a checkpoint catches ------------------------------------------------------------


def test_truncated_chain_is_caught_with_a_checkpoint(
    app: App, hist: History, cli: Cli, checkpoint_file: Path
) -> None:
    """The last two events go and the case row is fixed up to match (and the consent timeline
    rows the record_consent event gave): the chain left is consistent, so only the checkpoint
    (seq 4 recorded) shows it."""
    with tamper(app, ("case_events", "consent_events")) as t:
        kept = t.event(hist.nore, 2)
        t.delete_event(hist.nore, 4)
        t.delete_event(hist.nore, 3)
        t.set_case(hist.nore, version=2, last_hash=kept["hash"], state=kept["to_state"])
        t.execute(
            "DELETE FROM consent_events WHERE case_id = (SELECT id FROM cases WHERE ref = :r)",
            r=hist.nore,
        )
    assert_clean(app, cli)  # without a checkpoint nothing shows
    assert_caught(
        app,
        cli,
        (hist.nore, 4, ("truncated", "seq 4")),
        only=hist.nore,
        checkpoint=checkpoint_file,
    )


def test_deleted_case_is_caught_with_a_checkpoint(
    app: App, hist: History, cli: Cli, checkpoint_file: Path
) -> None:
    """The cancelled case, its events and every row that refers to it are gone."""
    with tamper(app) as t:
        cid = t.case(hist.cancelled)["id"]
        port_rows = t.query("SELECT count(*) AS n FROM port_events WHERE case_id = :c", c=cid)
        assert port_rows[0]["n"] == 0  # nothing in the (append-only) port timeline to remove
        for table in (
            "timers",
            "mail_outbox",
            "hes_commands",
            "case_notes",
            "consents",
            "idempotency_keys",
            "case_events",
        ):
            t.execute(f"DELETE FROM {table} WHERE case_id = :c", c=cid)
        t.execute("DELETE FROM cases WHERE id = :c", c=cid)
    assert_clean(app, cli)  # without a checkpoint nothing shows
    assert_caught(
        app,
        cli,
        (hist.cancelled, None, ("deleted",)),
        only=hist.cancelled,
        checkpoint=checkpoint_file,
    )


def _delete_case_row_only(app: App, ref: str) -> None:
    with tamper(app, foreign_keys=False) as t:
        assert t.execute("DELETE FROM cases WHERE ref = :r", r=ref) == 1


def test_case_row_deleted_with_its_events_left_is_caught(
    app: App, hist: History, cli: Cli, checkpoint_file: Path
) -> None:
    """Only the case row goes (foreign keys off): its events are orphans, caught without a
    checkpoint; with one, the case is named by its reference."""
    _delete_case_row_only(app, hist.close)
    found = problems(audit.verify(app))
    assert any("case that does not" in what for _, _, what in found), found
    r = cli("audit", "verify", "--all")
    assert r.code == 7, str(r)
    assert any("case that does not" in p["what"] for p in r.json["problems"]), str(r)
    assert_caught(app, cli, (hist.close, None, ("deleted",)), checkpoint=checkpoint_file)


def test_orphaned_events_are_named_once_not_accused_of_changes(app: App, hist: History) -> None:
    _delete_case_row_only(app, hist.close)
    found = problems(audit.verify(app))
    assert len([p for p in found if "case that does not" in p[2]]) == 1, found
    misleading = [
        p
        for p in found
        if any(w in p[2] for w in ("changed", "missing", "version None", "chain head"))
    ]
    assert not misleading, misleading


def test_recomputed_chain_is_caught_only_with_a_checkpoint(
    app: App, hist: History, cli: Cli, checkpoint_file: Path
) -> None:
    """A field is changed and the whole chain rehashed consistently (storage.hashing), the case's
    last_hash too: the hashes alone cannot tell, the checkpoint can."""
    with tamper(app) as t:
        t.set_event(hist.nore, 2, actor="sup", actor_kind="supervisor")
        t.rehash(hist.nore, from_seq=2)
    assert_clean(app, cli)
    with app.engine.connect() as conn:
        actor = conn.execute(
            text(
                "SELECT e.actor FROM case_events e JOIN cases c ON c.id = e.case_id "
                "WHERE c.ref = :r AND e.seq = 2"
            ),
            {"r": hist.nore},
        ).scalar()
    assert actor == "sup"  # the forgery is in place
    assert_caught(
        app,
        cli,
        (hist.nore, 4, ("rewritten", "recomputed")),
        only=hist.nore,
        checkpoint=checkpoint_file,
    )


def test_tampered_checkpoint_file_is_reported(
    app: App, hist: History, cli: Cli, checkpoint_file: Path
) -> None:
    cp = json.loads(checkpoint_file.read_text(encoding="utf-8"))
    seq, _head = cp["cases"][hist.close]
    cp["cases"][hist.close] = [seq, "f" * 64]  # an edited head; the digest left as it was
    checkpoint_file.write_text(json.dumps(cp, indent=2), encoding="utf-8")
    assert_caught(
        app,
        cli,
        ("checkpoint", None, ("checkpoint", "altered")),
        only=hist.close,
        checkpoint=checkpoint_file,
    )


def test_checkpoint_covers_every_chain_head(
    app: App, hist: History, cli: Cli, checkpoint_file: Path
) -> None:
    cp = json.loads(checkpoint_file.read_text(encoding="utf-8"))
    assert cp["kind"] == "hanport-audit-checkpoint"
    with app.engine.connect() as conn:
        rows = conn.execute(text("SELECT ref, version, last_hash FROM cases")).all()
        max_id = conn.execute(text("SELECT max(id) FROM case_events")).scalar()
    assert cp["cases"] == {r[0]: [r[1], r[2]] for r in rows}
    assert cp["max_event_id"] == max_id
    printed = cli("audit", "checkpoint", as_json=False)
    assert printed.code == 0 and json.loads(printed.out)["digest"] == cp["digest"], str(printed)


# --- the triggers themselves -------------------------------------------------------------------


@pytest.mark.parametrize("table", ["case_events", "port_events", "consent_events"])
@pytest.mark.parametrize("verb", ["UPDATE", "DELETE"])
def test_append_only_trigger_refuses(app: App, hist: History, table: str, verb: str) -> None:
    sql = f"UPDATE {table} SET id = id" if verb == "UPDATE" else f"DELETE FROM {table}"
    with app.engine.connect() as conn:
        before = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    assert before
    with pytest.raises(DBAPIError) as caught, app.engine.begin() as conn:
        conn.execute(text(sql))
    assert f"{table} is append-only" in str(caught.value)
    with app.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == before
    assert audit.verify(app).ok


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # TRUNCATE is PostgreSQL's
def test_truncate_case_events_refused_on_postgresql(app: App, hist: History) -> None:
    with (
        pytest.raises(DBAPIError, match="case_events is append-only"),
        app.engine.begin() as conn,
    ):
        conn.execute(text("TRUNCATE case_events CASCADE"))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_truncate_port_events_refused_on_postgresql(app: App, hist: History) -> None:
    with (
        pytest.raises(DBAPIError, match="port_events is append-only"),
        app.engine.begin() as conn,
    ):
        conn.execute(text("TRUNCATE port_events"))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_truncate_consent_events_refused_on_postgresql(app: App, hist: History) -> None:
    with (
        pytest.raises(DBAPIError, match="consent_events is append-only"),
        app.engine.begin() as conn,
    ):
        conn.execute(text("TRUNCATE consent_events"))


# --- the consent timeline against the events ---------------------------------------------------


def _consent_of(t: Any, ref: str) -> int:
    return int(json.loads(t.case(ref)["data"])["consent_id"])


def test_changed_consent_timeline_row_is_caught(app: App, hist: History, cli: Cli) -> None:
    """The consent's channel rewritten in the timeline (the register would show it): the
    events say otherwise."""
    with tamper(app, ("consent_events",)) as t:
        cid = _consent_of(t, hist.nore)
        n = t.execute(
            "UPDATE consent_events SET channel = 'email' WHERE consent_id = :c AND kind = 'given'",
            c=cid,
        )
        assert n == 1
    assert_caught(app, cli, (hist.nore, None, (f"consent #{cid}", "given", "changed")))


def test_consent_end_added_to_the_timeline_is_caught(app: App, hist: History, cli: Cli) -> None:
    """An end no event gives (the register would show the consent ended) is named."""
    with tamper(app, ("consent_events",)) as t:
        cid = _consent_of(t, hist.nore)
        t.execute(
            "INSERT INTO consent_events (consent_id, kind, at, case_id, reason) "
            "SELECT consent_id, 'ended', at, case_id, 'withdrawn' FROM consent_events "
            "WHERE consent_id = :c AND kind = 'given'",
            c=cid,
        )
    assert_caught(app, cli, (hist.nore, None, (f"consent #{cid}", "ended", "no event gives it")))


def test_consent_removed_from_the_timeline_is_caught(app: App, hist: History, cli: Cli) -> None:
    with tamper(app, ("consent_events",)) as t:
        cid = _consent_of(t, hist.nore)
        t.execute("DELETE FROM consent_events WHERE consent_id = :c", c=cid)
    assert_caught(app, cli, (hist.nore, None, (f"consent #{cid}", "given", "missing")))


def test_emptied_port_timeline_is_caught(app: App, hist: History, cli: Cli) -> None:
    with tamper(app, ("port_events",)) as t:
        t.execute("DELETE FROM port_events")
    assert_caught(app, cli, (NORE_POINT, None, ("no port history",)))


# --- derived state -----------------------------------------------------------------------------


def test_case_state_changed_directly_is_named(app: App, hist: History, cli: Cli) -> None:
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE cases SET state = 'opening' WHERE ref = :r"), {"r": hist.nore})
    assert_caught(app, cli, (hist.nore, 4, ("opening", "confirmed", "last event")), only=hist.nore)


def test_port_changed_directly_is_named(app: App, hist: History, cli: Cli) -> None:
    with app.engine.begin() as conn:
        conn.execute(
            text("UPDATE metering_points SET han_port = 'closed' WHERE gsrn = :g"),
            {"g": NORE_POINT},
        )
    assert_caught(app, cli, (NORE_POINT, None, ("closed", "open", "history")), only=NORE_POINT)


# --- personal data -----------------------------------------------------------------------------


def test_events_carry_no_personal_data(app: App, hist: History) -> None:
    with app.engine.connect() as conn:
        events = " ".join(
            " ".join(str(v) for v in r)
            for r in conn.execute(text("SELECT actor, trigger, data FROM case_events"))
        ).lower()
    for value in (
        "Kari Nordmann",
        "kari@example.no",
        "91234567",
        "Sentrumsvegen",
        "Siri Berg",
        "siri@example.no",
        "Nils Li",
        "Nedre Dal",
        "asked twice",  # the cancel reason: free text
    ):
        assert value.lower() not in events, f"{value!r} is in the event history"


def test_erasing_personal_data_keeps_every_chain_verifiable(
    app: App, hist: History, cli: Cli, checkpoint_file: Path
) -> None:
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE customers SET name = NULL, email = NULL, phone = NULL"))
        conn.execute(text("UPDATE customers SET street = NULL, postal_code = NULL, city = NULL"))
        conn.execute(
            text(
                "UPDATE consents SET signer_name = NULL, address_written = NULL, from_email = NULL"
            )
        )
        conn.execute(text("UPDATE case_notes SET body = NULL"))
    assert_clean(app, cli, checkpoint_file)
    r = cli("audit", "replay", "--all")
    assert r.code == 0 and r.json["ok"] is True, str(r)
