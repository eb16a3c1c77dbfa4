"""Erasure (GDPR art. 17) through the service layer on both backends: the holds (an active
case holds everything; a registered point, a live consent, records inside their retention hold
all but the e-mail and phone), tombstones everywhere the person's values were, the ledger,
``audit verify``/``replay`` still passing, ``audit port`` naming the erasure, the export's
tombstones; a signer who is not the customer; restore-then-reapply; retention applied by the
nightly slot as the injected clock moves."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hanport.bootstrap import App
from hanport.errors import NotFound, Refused
from hanport.queries import audit
from hanport.queries.port_timeline import port
from hanport.service import run
from hanport.service.commands import (
    EraseCustomer,
    EraseSigner,
    ProcessIntakes,
    ReapplyErasures,
    ResolveIntake,
    SubmitIntake,
)
from hanport.service.reads import customer_export
from hanport.storage.engine import sqlite_file
from hanport.web.engine import PROCESSOR, WEB
from tests.conftest import drop_pg_database, new_pg_database
from tests.support import (
    NORE_METER,
    NORE_POINT,
    POINTS_CSV,
    actor,
    advance,
    consent,
    deliver,
    import_points,
    make_app,
    open_case,
    update_customer,
)

KARI = "1001"
KARI_VALUES = ("Kari Nordmann", "kari.nordmann@example.no", "+4791234567", "Kari ringte")


@dataclass
class Story:
    app: App
    opened: str
    closed: str


def _skip(app: App, days: int) -> None:
    app.clock.advance(timedelta(days=days))  # type: ignore[attr-defined]


def _rows(app: App, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with app.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _erase(app: App, who: str = "dpo", dry_run: bool = False) -> Any:
    return run(app, actor(app, who), EraseCustomer(KARI, "art. 17 request by letter", dry_run))


def _open_and_confirm(app: App) -> str:
    cw = actor(app)
    update_customer(app, cw, KARI, email="kari.nordmann@example.no")
    fields = consent(channel="email", from_email="kari.nordmann@example.no")
    ref = open_case(app, cw, "nore_open", customer=KARI, metering_point=NORE_POINT).case
    advance(app, cw, ref, "request_consent")
    advance(app, cw, ref, "record_consent", fields, note="Kari ringte og bekreftet")
    advance(app, cw, ref, "confirm_open")
    deliver(app)
    return ref


def _close_and_move(app: App, folder: Path) -> str:
    cw, sup = actor(app), actor(app, "sup")
    ref = open_case(
        app, cw, "close_port", customer=KARI, meter_number=NORE_METER, channel="phone"
    ).case
    with pytest.raises(Refused, match="active case"):
        _erase(app)  # the close in progress needs her contact details
    advance(app, sup, ref, "verify_identity", {"method": "bankid"})
    advance(app, cw, ref, "confirm_close")
    deliver(app)
    # Kari moves away: the registry gives the point to Nils (1005).
    moved = folder / "moved.csv"
    moved.write_text(POINTS_CSV.replace(f"{NORE_POINT};1001;", f"{NORE_POINT};1005;"), "utf-8")
    import_points(app, cw, moved)
    return ref


@pytest.fixture
def story(seeded: App, tmp_path: Path) -> Story:
    # Notices go into this test's own Maildir (on PostgreSQL the default is ./maildir).
    seeded.settings = replace(seeded.settings, maildir=str(tmp_path / "maildir"))
    opened = _open_and_confirm(seeded)
    return Story(seeded, opened, "")


def test_held_then_contact_then_refused_then_erased(story: Story, tmp_path: Path) -> None:
    app = story.app
    copies = len(_maildir_copies(app))
    assert copies > 0  # the notices delivered into the Maildir (no SMTP configured)
    # While she holds the point and her consent is live: only the e-mail and phone go — and
    # the Maildir copies of her notices, which hold the address.
    r = _erase(app)
    assert r.outcome == "partly erased" and r.scope == "contact"
    assert r.erased["maildir"] == copies and _maildir_copies(app) == []
    held = {h.what for h in r.holds}
    assert {"registered customer of metering point", "live consent", "case record"} <= held
    assert _rows(app, "SELECT name, email, phone FROM customers WHERE customer_id = '1001'") == [
        ("Kari Nordmann", None, None)
    ]
    # The registry's nightly file still lists her old contact details: they stay erased.
    again = _reimport(app, tmp_path)
    assert not again.rejected and any(
        "1001: e-mail and phone were erased" in w for w in again.warnings
    )
    assert _rows(app, "SELECT email, phone FROM customers WHERE customer_id = '1001'") == [
        (None, None)
    ]
    with pytest.raises(Refused, match="already erased; the rest is kept for"):
        _erase(app)
    story.closed = _close_and_move(app, tmp_path)
    with pytest.raises(Refused, match=r"consent evidence .* until 2029-03"):
        _erase(app)
    with pytest.raises(Refused, match="privacy or a supervisor"):
        _erase(app, "cw")
    with pytest.raises(NotFound):
        run(app, actor(app, "dpo"), EraseCustomer("9999", "x"))
    with pytest.raises(Refused, match="reason"):
        run(app, actor(app, "dpo"), EraseCustomer(KARI, "  "))
    _skip(app, 3 * 366)
    before = _rows(app, "SELECT name FROM customers WHERE customer_id = '1001'")
    plan = _erase(app, dry_run=True)
    assert plan.outcome == "would erase" and plan.erased["consents"] == 1
    assert _rows(app, "SELECT name FROM customers WHERE customer_id = '1001'") == before
    done = _erase(app, "sup")
    assert done.outcome == "erased" and done.scope == "subject" and not done.holds
    _assert_tombstones(app)
    _assert_audit_passes(app, story)
    assert _erase(app).outcome == "already erased"
    # Nor does an import bring the erased person back: her row is rejected, by number.
    again = _reimport(app, tmp_path)
    assert [r.number for r in again.rejected] == [2]
    assert "was erased" in again.rejected[0].reason
    assert _rows(app, "SELECT name FROM customers WHERE customer_id = '1001'") == [(None,)]
    with pytest.raises(Refused, match="was erased"):
        update_customer(app, actor(app, "cw"), KARI, email="kari@example.no")
    (entry,) = [e for e in _ledger(app) if e[1] == "subject"]
    assert entry[0] == KARI and entry[2] == "sup" and "Kari" not in json.dumps(entry)


def _maildir_copies(app: App) -> list[str]:
    import mailbox

    from hanport.service.mail import maildir

    folder = maildir(app)
    if not folder.exists():
        return []
    return [str(m["To"]) for m in mailbox.Maildir(folder, create=False) if "kari" in str(m["To"])]


def _reimport(app: App, folder: Path) -> Any:
    from tests.support import CUSTOMERS_CSV, import_customers

    path = folder / "customers-again.csv"
    path.write_text(CUSTOMERS_CSV, encoding="utf-8")
    return import_customers(app, actor(app, "cw"), path)


def _ledger(app: App) -> list[tuple[Any, ...]]:
    return _rows(app, "SELECT subject, scope, actor, reason, erased FROM erasures ORDER BY id")


def _assert_tombstones(app: App) -> None:
    assert _rows(
        app,
        "SELECT name, email, phone, street, postal_code, city FROM customers "
        "WHERE customer_id = '1001'",
    ) == [(None,) * 6]
    pk = _rows(app, "SELECT id FROM customers WHERE customer_id = '1001'")[0][0]
    for (snap,) in _rows(app, "SELECT snapshot FROM customer_history WHERE customer_pk = :p", p=pk):
        s = json.loads(snap)
        assert s["name"] is None and s["email"] is None and s["erased_at"], s
    assert _rows(
        app,
        "SELECT signer_name, address_written, from_email FROM consents WHERE customer_pk = :p "
        "AND erased_at IS NOT NULL",
        p=pk,
    ) == [(None, None, None)]
    cases = "SELECT id FROM cases WHERE customer_pk = :p"
    notes = _rows(app, f"SELECT body, erased_at FROM case_notes WHERE case_id IN ({cases})", p=pk)
    assert notes and all(b is None and e is not None for b, e in notes)
    mails = _rows(
        app,
        f"SELECT recipient, body_text, body_html, context FROM mail_outbox WHERE case_id IN ({cases})",
        p=pk,
    )
    assert mails and all(m == (None, None, None, "{}") for m in mails)
    dumped = json.dumps(customer_export(app, actor(app, "dpo"), KARI), ensure_ascii=False)
    for value in KARI_VALUES:
        assert value not in dumped, value
    x = customer_export(app, actor(app, "dpo"), KARI)
    assert x["customer"]["name"] is None and x["customer"]["erased_at"]
    assert all(n["erased"] and n["text"] is None for n in x["notes"])


def _assert_audit_passes(app: App, story: Story) -> None:
    report = audit.verify(app)
    assert report.ok, [p.as_dict() for p in report.problems[:5]]
    assert not [r.case for r in audit.replay(app) if r.divergences]
    timeline = port(app, NORE_POINT)["timeline"]
    opened = next(t for t in timeline if t["state"] == "open")
    assert opened["consent"]["customer"] == KARI
    assert opened["consent"]["subject_erased_at"], opened["consent"]


def test_a_signer_who_is_not_the_customer(seeded: App) -> None:
    app, cw, dpo = seeded, actor(seeded), actor(seeded, "dpo")
    fields = consent(signer_role="power_of_attorney", signer_name="Ola Fullmektig")
    ref = open_case(app, cw, "nore_open", customer=KARI, metering_point=NORE_POINT).case
    advance(app, cw, ref, "record_consent", fields)
    (cid,) = _rows(app, "SELECT id FROM consents WHERE signer_name = 'Ola Fullmektig'")[0]
    with pytest.raises(Refused, match=f"consent #{cid}: the signer is kept for live consent"):
        run(app, dpo, EraseSigner(cid, "request from the signer"))
    advance(app, cw, ref, "cancel", {"reason": "customer changed their mind"})
    with pytest.raises(Refused, match="until 2029"):
        run(app, dpo, EraseSigner(cid, "request from the signer"))
    _skip(app, 3 * 366)
    r = run(app, dpo, EraseSigner(cid, "request from the signer"))
    assert r.outcome == "erased" and r.erased == {"consents": 1}
    assert _rows(app, "SELECT signer_name FROM consents WHERE id = :c", c=cid) == [(None,)]
    # The customer's own values on the consent stay (their evidence is another subject's).
    assert _rows(app, "SELECT address_written FROM consents WHERE id = :c", c=cid) == [
        ("Sentrumsvegen 5",)
    ]
    assert run(app, dpo, EraseSigner(cid, "again")).outcome == "already erased"
    assert audit.verify(app).ok


# --- restore an older backup, then reapply --------------------------------------------------


def _backup(app: App, tmp_path: Path) -> str:
    """A copy of the database as it is now (the "backup"), its URL."""
    url = app.settings.database_url
    file = sqlite_file(url)
    if file is not None:
        copy = tmp_path / "backup.db"
        src, dst = sqlite3.connect(file), sqlite3.connect(copy)
        src.backup(dst)
        src.close()
        dst.close()
        return f"sqlite:///{copy}"
    copy_url = new_pg_database()
    drop_pg_database(copy_url)  # the name, free: made again from the live database
    from sqlalchemy.engine import make_url

    from tests.conftest import _admin_engine

    app.engine.dispose()
    eng = _admin_engine()
    with eng.connect() as conn:
        live, name = make_url(url).database, make_url(copy_url).database
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{live}"'))
    eng.dispose()
    return copy_url


def test_restore_then_reapply_erases_again(seeded: App, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    app = make_app(seeded.settings.database_url, erasure_ledger=str(ledger))
    _open_and_confirm(app)
    _close_and_move(app, tmp_path)
    _skip(app, 3 * 366)
    from hanport.bootstrap import save_clock

    save_clock(app)
    seeded.engine.dispose()
    backup_url = _backup(app, tmp_path)
    assert _erase(app).outcome == "erased"
    lines = [json.loads(x) for x in ledger.read_text("utf-8").splitlines()]
    assert [(e["subject"], e["scope"]) for e in lines] == [(KARI, "subject")]
    # The restore: the older copy comes back with Kari in it.
    restored = make_app(backup_url, erasure_ledger=str(ledger), now=app.clock.now().isoformat())
    try:
        assert _rows(restored, "SELECT name FROM customers WHERE customer_id = '1001'") == [
            ("Kari Nordmann",)
        ]
        dpo = actor(restored, "dpo")
        plan = run(restored, dpo, ReapplyErasures(dry_run=True))
        assert [e["subject"] for e in plan.applied] == [KARI]
        assert _rows(restored, "SELECT name FROM customers WHERE customer_id = '1001'")[0][0]
        done = run(restored, dpo, ReapplyErasures(ledger))
        assert [e["subject"] for e in done.applied] == [KARI] and not done.missing
        _assert_tombstones(restored)
        assert audit.verify(restored).ok
        again = run(restored, dpo, ReapplyErasures())
        assert not again.applied and again.already == 1
        with pytest.raises(Refused, match="privacy or a supervisor"):
            run(restored, actor(restored, "cw"), ReapplyErasures())
    finally:
        restored.close()
        if sqlite_file(backup_url) is None:
            drop_pg_database(backup_url)
    app.close()


# --- retention, applied by the nightly slot ---------------------------------------------------


def test_nightly_retention_clears_mail_bodies_and_forms_that_became_nothing(seeded: App) -> None:
    from hanport.entrypoints.scheduler import nightly
    from hanport.service.retention import due

    app, cw = seeded, actor(seeded)
    _open_and_confirm(app)
    run(app, WEB, SubmitIntake("close_request", {"meter": "123456"}, "k" * 24, "nb"))
    run(app, PROCESSOR, ProcessIntakes())
    run(app, cw, ResolveIntake(1, "Ringte: feil målernummer"))
    mails = _rows(app, "SELECT count(*) FROM mail_outbox WHERE body_text IS NOT NULL")[0][0]
    assert mails and not due(app, actor(app, "dpo"))["mail_bodies"]
    _skip(app, 31)
    d = due(app, actor(app, "dpo"))
    assert d["intakes"] == [1] and not d["mail_bodies"]
    assert nightly(app)["retention"] == {
        "mail_body": 0,
        "intake_unmatched": 1,
        "access_log": 0,
        "batch_file": 0,
    }
    assert _rows(app, "SELECT fields, resolution_note FROM intakes") == [(None, None)]
    _skip(app, 365)
    assert len(due(app, actor(app, "dpo"))["mail_bodies"]) == mails
    retained = {"mail_body": mails, "intake_unmatched": 0, "access_log": 0, "batch_file": 0}
    assert nightly(app)["retention"] == retained  # the reads are younger than 3 years
    assert set(nightly(app)["retention"].values()) == {0}  # idempotent
    assert _rows(app, "SELECT count(*) FROM mail_outbox WHERE body_text IS NOT NULL") == [(0,)]
    assert audit.verify(app).ok
