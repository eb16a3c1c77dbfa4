"""``hanport privacy request`` / ``privacy requests`` at the command line: a data subject's
request registered as it came, worked with ``case advance``, its deadline run out by the
simulated clock onto the overdue list; a restriction refuses the subject's other cases with
exit 4 and changes nothing; bad input gets its own exit code and changes nothing."""

from __future__ import annotations

from tests.e2e.cli import Hanport


def _request(hp: Hanport, kind: str, *extra: str) -> str:
    r = hp.call("privacy", "request", "1001", "--kind", kind, "--channel", "letter", *extra)
    return str(r.ok().json["case"])


def test_registered_worked_and_listed(hp: Hanport) -> None:
    hp.refused(2, "privacy", "request", "1001", "--kind", "forget", "--channel", "letter")
    hp.refused(3, "privacy", "request", "9999", "--kind", "access", "--channel", "letter")
    hp.refused(
        4, "privacy", "request", "1001", "--kind", "access", "--channel", "letter",
        "--received-at", "2027-01-01T09:00", says="in the future",
    )  # fmt: skip
    hp.refused(4, "privacy", "request", "1001", "--kind", "access", "--channel", "letter",
               "--received-at", "yesterday", says="--received-at")  # fmt: skip
    late = _request(hp, "rectification", "--received-at", "2026-02-01T10:00")
    ref = _request(hp, "access", "--key", "brev-1")
    assert _request(hp, "access", "--key", "brev-1") == ref
    shown = hp.show(ref)
    assert shown["workflow"] == "privacy_request" and shown["metering_point"] is None
    assert shown["request"]["request_kind"] == "access" and shown["request"]["channel"] == "letter"
    text = hp.call("case", "show", ref, as_json=False).ok().out
    assert "request   access by letter, received 2026-03-02, answer due by 2026-04-02" in text
    hp.refused(4, "privacy", "requests", user="cw", says="privacy, supervisors and auditors")
    listed = hp.call("privacy", "requests", user="aud").ok().json
    assert [(r["case"], r["kind"], r["answer_by"]) for r in listed] == [
        (late, "rectification", "2026-03-01"),
        (ref, "access", "2026-04-02"),
    ]
    assert [r["overdue"] for r in listed] == [True, False]
    hp.call("tick").ok()
    overdue = hp.call("case", "list", "--workflow", "privacy-request", "--overdue").ok().json
    assert [c["case"] for c in overdue] == [late]
    hp.advance(ref, "verify_identity", "--set", "method=bankid").ok()
    hp.advance(ref, "extend", "--set", "reason=Mye historikk", user="sup").ok()
    hp.advance(ref, "deliver_access", "--set", "delivered_by=letter", user="sup").ok()
    text = hp.call("privacy", "requests", "--all", user="sup", as_json=False).ok().out
    assert text.startswith("CASE") and "2026-06-02" in text and "OVERDUE" in text


def test_a_restriction_refuses_the_subjects_other_cases(hp: Hanport) -> None:
    nore = hp.open_nore()
    ref = _request(hp, "restriction")
    hp.advance(ref, "verify_identity", "--set", "method=in_person").ok()
    hp.advance(ref, "restrict", "--set", "ground=accuracy_contested", user="sup").ok()
    hp.refused(4, "case", "advance", nore, "request_consent", says=("GDPR art. 18", ref), case=nore)
    hp.advance(ref, "lift_restriction", "--set", "ground=accuracy_verified", "--note", "Sjekket",
               user="sup").ok()  # fmt: skip
    hp.advance(nore, "request_consent").ok()
