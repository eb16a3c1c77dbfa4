"""``hanport customer erase``, ``privacy reapply|ledger|due|vacuum`` at the command line (SQLite):
the exit codes — 3 not found, 4 refused (an active case; the wrong role; no reason; the rest
held once the contact details are gone) with nothing changed, 6 partly erased, 0 erased — the
dry run changing nothing, ``audit port`` naming the erasure, the ledger file, and reapply after
a restored copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.e2e.cli import NORE_METER, NORE_POINT, POINTS_CSV, Hanport, consent_sets

LATER = "2029-04-02T12:00:00+02:00"  # past the consent's and the case's 3 years


def _story(hp: Hanport, ledger: Path) -> str:
    hp.env["HANPORT_ROLES"] += ",dpo=privacy"
    hp.env["HANPORT_ERASURE_LEDGER"] = str(ledger)
    ref = hp.call(
        "case", "open", "nore-open", "--customer", "1001", "--metering-point", NORE_POINT,
        *consent_sets(),
    ).ok().json["case"]  # fmt: skip
    hp.call("case", "advance", ref, "confirm-open").ok()
    return str(ref)


def _erase(hp: Hanport, *extra: str, user: str = "dpo") -> list[str]:
    return ["customer", "erase", "1001", "--reason", "art. 17 request by letter", *extra]


def test_erase_exit_codes_dry_run_audit_and_reapply(hp: Hanport, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    _story(hp, ledger)
    close = hp.call(
        "case", "open", "close-port", "--meter-number", NORE_METER, "--customer", "1001",
        "--channel", "phone",
    ).ok().json["case"]  # fmt: skip
    hp.refused(4, *_erase(hp), user="dpo", says=("nothing erased", "active case", close))
    hp.refused(4, *_erase(hp), user="cw", says="privacy or a supervisor")
    hp.refused(4, *_erase(hp), user="aud", says="privacy or a supervisor")
    hp.refused(3, "customer", "erase", "9999", "--reason", "x", user="dpo", says="not found")
    hp.refused(4, "customer", "erase", "1001", "--reason", " ", user="dpo", says="reason")
    hp.call("case", "advance", close, "verify-identity", "--set", "method=bankid", user="sup").ok()
    hp.call("case", "advance", close, "confirm-close").ok()
    hp.call("tick").ok()  # the confirmation mail goes out
    partly = hp.call(*_erase(hp), user="dpo")
    assert partly.code == 6, str(partly)
    assert partly.json["outcome"] == "partly erased"
    assert "registered customer of metering point" in {h["what"] for h in partly.json["holds"]}
    hp.refused(4, *_erase(hp), user="dpo", says=("already erased", "until 2029"))
    moved = hp.write("moved.csv", POINTS_CSV.replace(f"{NORE_POINT};1001;", f"{NORE_POINT};1005;"))
    hp.call("import", "metering-points", moved).ok()
    hp.env["HANPORT_NOW"] = LATER
    backup = tmp_path / "backup"
    backup.mkdir()
    for f in hp.folder.glob("h.db*"):
        shutil.copy(f, backup / f.name)
    before = hp.dump()
    plan = hp.call(*_erase(hp, "--dry-run"), user="dpo").ok().json
    assert plan["outcome"] == "would erase" and plan["dry_run"]
    assert hp.dump() == before
    done = hp.call(*_erase(hp), user="sup", as_json=False).ok()
    assert "1001: erased" in done.out
    assert hp.query("SELECT name, email FROM customers WHERE customer_id = '1001'") == [
        (None, None)
    ]
    hp.call("audit", "verify", "--all", user="aud").ok()
    hp.call("audit", "replay", "--all", user="aud").ok()
    answer = hp.call("audit", "port", NORE_POINT, user="aud", as_json=False).ok().out
    assert "withdrawn (subject erased on 2029-04-02)" in answer, answer
    export = hp.call("customer", "export", "1001", "--format", "json", user="dpo").ok().json
    assert export["customer"]["name"] is None and export["customer"]["erased_at"]
    assert "Kari" not in json.dumps(export, ensure_ascii=False)
    entries = [json.loads(x) for x in ledger.read_text("utf-8").splitlines()]
    assert [(e["subject"], e["scope"]) for e in entries] == [
        ("1001", "contact"),
        ("1001", "subject"),
    ]
    listed = hp.call("privacy", "ledger", user="aud").ok().json
    assert [e["erasure_id"] for e in listed] == [e["erasure_id"] for e in entries]
    exported = tmp_path / "export.jsonl"
    hp.call("privacy", "ledger", "--export", exported, user="dpo").ok()
    assert exported.read_text("utf-8") == ledger.read_text("utf-8")
    # The restore: the copy made before the erasure comes back.
    for f in backup.iterdir():
        shutil.copy(f, hp.folder / f.name)
    assert hp.query("SELECT name FROM customers WHERE customer_id = '1001'") == [("Kari Nordmann",)]
    hp.refused(4, "privacy", "reapply", user="cw", says="privacy or a supervisor")
    r = hp.call("privacy", "reapply", "--ledger", exported, user="dpo").ok().json
    assert [e["subject"] for e in r["applied"]] == ["1001"] and r["already"] == 1
    assert hp.query(
        "SELECT name, erased_at IS NOT NULL FROM customers WHERE customer_id = '1001'"
    ) == [(None, 1)]
    again = hp.call("privacy", "reapply", user="dpo").ok().json
    assert again["applied"] == [] and again["already"] == 2
    hp.call("audit", "verify", "--all", user="aud").ok()


def test_privacy_due_lists_what_retention_would_take(hp: Hanport, tmp_path: Path) -> None:
    _story(hp, tmp_path / "ledger.jsonl")
    hp.call("tick").ok()
    now = hp.call("privacy", "due", user="dpo").ok().json
    assert now["subjects"] == [] and now["mail_bodies"] == [] and now["access_log"] == 0
    assert {p["kind"] for p in now["periods"]} >= {
        "consent",
        "mail_body",
        "intake_unmatched",
        "access_log",
    }
    later = hp.call("privacy", "due", "--at", "2027-04-01T12:00", user="aud").ok().json
    assert later["mail_bodies"]
    hp.refused(4, "privacy", "due", user="cw", says="privacy, supervisors and auditors")
    hp.refused(4, "privacy", "due", "--at", "2026-03-29T02:30", user="dpo")
    # SQLite: the vacuum empties the write-ahead log into the database file.
    assert (hp.folder / "h.db-wal").stat().st_size > 0
    done = hp.call("privacy", "vacuum", as_json=False).ok()
    assert "write-ahead log is empty" in done.out and (hp.folder / "h.db-wal").stat().st_size == 0
