"""Replay and the port timeline on a history the demo produced: tests/fixtures/demo-history-v1.db.

The committed file is never modified: every test copies it (and any -wal/-shm beside it) to
tmp_path and opens the copy as an auditor, as an archived database would be opened years later
(``bootstrap`` migrates it if the schema moved on). A change to the workflows, the hashing or the
replay that breaks old histories fails here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from hanport.bootstrap import App, bootstrap
from hanport.calendar import parse_instant
from hanport.config import load
from hanport.queries import audit
from tests.audit.helpers import FIXTURE, Cli, copy_history, tamper

ROLES = "revisor=auditor"

# What the demo recorded: case → (workflow, final state, number of events).
RECORDED = {
    "HAN-2026-000001": ("nore_open", "confirmed", 3),
    "HAN-2026-000002": ("nore_open", "rejected", 5),
    "HAN-2026-000003": ("nore_open", "expired", 4),
    "HAN-2026-000004": ("meter_swap", "confirmed", 7),
    "HAN-2026-000005": ("meter_swap", "confirmed", 10),
    "HAN-2026-000006": ("close_port", "closed", 3),
    "HAN-2026-000007": ("close_port", "closed", 3),
    "HAN-2026-000008": ("meter_swap", "cancelled", 5),
    "HAN-2026-000009": ("close_port", "closed", 3),
    "HAN-2026-000010": ("close_port", "closed", 4),
    "HAN-2026-000011": ("close_port", "closed", 4),
    "HAN-2026-000012": ("close_port", "cancelled", 3),
    "HAN-2026-000013": ("close_port", "closed", 4),
    "HAN-2026-000014": ("close_port", "rejected", 2),
}

# Points of the demo (hanport/demo.py).
KARI_POINT = "707057500053182051"  # opened by HAN-2026-000001, closed by HAN-2026-000006
SIRI_POINT = "707057500000000049"  # imported open (legacy consent), closed by HAN-2026-000007
OVERTAKEN_POINT = "707057500000000063"  # opening (HAN-2026-000008) overtaken by a close (…09)
LEGACY_MOVE_IN_POINT = "707057500000000094"  # imported open, auto-closed on a move-in (…13)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fixture_digest() -> Iterator[str]:
    """The committed file is the same after the module as before it."""
    assert FIXTURE.exists(), f"{FIXTURE} is missing"
    before = _sha256(FIXTURE)
    yield before
    assert _sha256(FIXTURE) == before, "the committed fixture was modified"


@pytest.fixture
def copy(tmp_path: Path, fixture_digest: str) -> Path:
    dest = copy_history(tmp_path / "history" / "demo-history-v1.db")
    return dest


@pytest.fixture
def app(copy: Path) -> Iterator[App]:
    a = bootstrap(
        load({"HANPORT_DATABASE_URL": f"sqlite:///{copy}", "HANPORT_ROLES": ROLES}, user="revisor")
    )
    try:
        yield a
    finally:
        a.close()


@pytest.fixture
def cli(app: App, copy: Path, tmp_path: Path) -> Cli:
    return Cli(f"sqlite:///{copy}", tmp_path / "cli", roles=ROLES)


def _dump(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{t}"')) for t in tables}
    finally:
        conn.close()


# --- replay as recorded ------------------------------------------------------------------------


def test_every_case_replays_as_recorded(app: App, cli: Cli) -> None:
    r = cli("audit", "replay", "--all", user="revisor")
    assert r.code == 0, str(r)
    assert r.json == {"cases": len(RECORDED), "ok": True, "diverging": []}, str(r)

    results = audit.replay(app)
    assert [x.case for x in results] == sorted(RECORDED)
    for x in results:
        workflow, state, n = RECORDED[x.case]
        assert (x.workflow, x.workflow_version, x.state) == (workflow, 1, state), x.case
        assert x.divergences == [], (x.case, x.divergences)
        assert [t["seq"] for t in x.timeline] == list(range(1, n + 1)), x.case
        # Each step starts where the one before ended.
        for before, after in zip(x.timeline, x.timeline[1:], strict=False):
            assert after["from"] == before["to"], (x.case, after)

    one = cli("audit", "replay", "han-2026-000005", user="revisor")
    assert one.code == 0, str(one)
    assert one.json["state"] == "confirmed" and one.json["ok"] is True
    assert [t["trigger"] for t in one.json["timeline"]] == [
        "open", "enqueue", "record_installation", "record_consent", "report_failure",
        "report_failure", "report_failure", "sla_breached", "retry", "confirm_open",
    ]  # fmt: skip
    human = cli("audit", "replay", "--all", user="revisor", as_json=False)
    assert human.code == 0 and "14 cases replayed: all as recorded" in human.out, str(human)


def test_fixture_history_verifies_intact(app: App, cli: Cli) -> None:
    r = cli("audit", "verify", "--all", user="revisor")
    assert r.code == 0, str(r)
    assert r.json == {"ok": True, "cases": 14, "events": 60, "points": 9, "problems": []}


def test_as_of_gives_the_state_at_a_moment(cli: Cli) -> None:
    """HAN-2026-000002: reminded 2026-03-10 10:50 Oslo, consent recorded (address review) and
    rejected 2026-03-11 11:06 Oslo."""
    ref = "HAN-2026-000002"
    cases = [
        ("2026-03-11T09:00:00+01:00", "awaiting_consent", 3),  # between seq 3 and 4
        ("2026-03-11T09:00", "awaiting_consent", 3),  # Oslo local time without an offset
        ("2026-03-03", "awaiting_consent", 2),  # a date: local midnight, before the reminder
        ("2026-03-11T10:06:00Z", "rejected", 5),  # exactly at seq 4 and 5: both included
        ("2026-03-11T10:05:59Z", "awaiting_consent", 3),
    ]
    for as_of, state, n in cases:
        r = cli("audit", "replay", ref, "--as-of", as_of, user="revisor")
        assert r.code == 0, str(r)
        assert r.json["state"] == state, (as_of, r.json)
        assert [t["seq"] for t in r.json["timeline"]] == list(range(1, n + 1)), (as_of, r.json)
    human = cli(
        "audit", "replay", ref, "--as-of", "2026-03-11T09:00", user="revisor", as_json=False
    )
    assert human.code == 0 and "awaiting_consent as of 2026-03-11T09:00" in human.out, str(human)
    before = cli("audit", "replay", ref, "--as-of", "2026-03-01", user="revisor")
    assert before.code == 0 and before.json["timeline"] == [] and before.json["state"] is None
    bad = cli("audit", "replay", ref, "--as-of", "2026-03-29T02:30", user="revisor")
    assert bad.code == 4, str(bad)  # that local time does not exist (summer time)


def test_replay_writes_nothing(app: App, cli: Cli, copy: Path) -> None:
    before = _dump(copy)
    counts = {t: len(rows) for t, rows in before.items()}
    for args in (
        ("audit", "replay", "--all"),
        ("audit", "replay", "HAN-2026-000002", "--as-of", "2026-03-11T09:00"),
        ("audit", "verify", "--all"),
        ("audit", "port", OVERTAKEN_POINT),
        ("audit", "port", KARI_POINT, "--at", "2026-04-01T12:00"),
    ):
        assert cli(*args, user="revisor").code == 0
    audit.replay(app)
    after = _dump(copy)
    assert {t: len(rows) for t, rows in after.items()} == counts
    assert after == before


# --- doctored history --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "seq", "change", "says"),
    [
        # expire → cancel: allowed from awaiting_consent, but it leads elsewhere.
        ("HAN-2026-000003", 4, {"trigger": "cancel"}, ("cancel", "cancelled", "expired")),
        # record_consent led to opening; the doctored history says address_review.
        (
            "HAN-2026-000001",
            2,
            {"to_state": "address_review"},
            ("record_consent", "opening", "address_review"),
        ),
        # A trigger the state does not allow at all.
        ("HAN-2026-000014", 2, {"trigger": "confirm_close"}, ("confirm_close", "refused")),
    ],
)
def test_doctored_event_is_a_replay_divergence(
    app: App, cli: Cli, ref: str, seq: int, change: dict, says: tuple[str, ...]
) -> None:
    with tamper(app) as t:
        t.set_event(ref, seq, **change)
        t.rehash(ref, from_seq=seq)  # the chain still verifies
    v = cli("audit", "verify", "--all", user="revisor")
    assert v.code == 0, f"the doctored chain should still verify\n{v}"

    r = cli("audit", "replay", "--all", user="revisor")
    assert r.code == 7, str(r)
    assert r.json["ok"] is False
    assert [d["case"] for d in r.json["diverging"]] == [ref], str(r)
    divs = r.json["diverging"][0]["divergences"]
    hit = [d for d in divs if d["seq"] == seq]
    assert hit, str(r)
    assert all(w in hit[0]["what"] for w in says), hit
    one = cli("audit", "replay", ref, user="revisor")
    assert one.code == 7 and one.json["ok"] is False, str(one)
    human = cli("audit", "replay", "--all", user="revisor", as_json=False)
    assert human.code == 7 and ref in human.out and "1 diverge" in human.out, str(human)


def test_doctored_guard_input_is_a_replay_divergence(app: App, cli: Cli) -> None:
    """The recorded guard inputs decide the replay: a consent address that no longer matches the
    installation address replays to address_review, not opening."""
    ref = "HAN-2026-000001"
    with tamper(app) as t:
        data = json.loads(t.event(ref, 2)["data"])
        data["guards"]["address_matches"]["inputs"]["consent_address"] = "h:" + "0" * 32
        t.set_event(
            ref, 2, data=json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        )
        t.rehash(ref, from_seq=2)
    assert cli("audit", "verify", "--all", user="revisor").code == 0
    r = cli("audit", "replay", ref, user="revisor")
    assert r.code == 7, str(r)
    assert any(d["seq"] == 2 and "opening" in d["what"] for d in r.json["divergences"]), str(r)


def test_doctored_from_state_is_a_replay_divergence(app: App, cli: Cli) -> None:
    ref = "HAN-2026-000003"
    with tamper(app) as t:
        t.set_event(ref, 4, from_state="requested")  # the history said awaiting_consent
        t.rehash(ref, from_seq=4)
    assert cli("audit", "verify", "--all", user="revisor").code == 0
    r = cli("audit", "replay", ref, user="revisor")
    assert r.code == 7, str(r)
    assert any(d["seq"] == 4 for d in r.json["divergences"]), str(r)


# --- the port of a metering point --------------------------------------------------------------


def test_port_open_at_a_moment_under_a_case_consent(app: App, cli: Cli) -> None:
    r = cli("audit", "port", KARI_POINT, "--at", "2026-04-01T12:00", user="revisor")
    assert r.code == 0, str(r)
    p = r.json
    assert (p["state"], p["data_may_flow"], p["case"]) == ("open", True, "HAN-2026-000001")
    assert p["since"] == "2026-03-02T08:16:00+00:00"
    assert p["consent_live_at_that_moment"] is True
    c = p["consent"]
    assert (c["legacy"], c["source"], c["case"], c["channel"]) == (
        False,
        "case",
        "HAN-2026-000001",
        "form",
    )
    assert c["end_reason"] == "withdrawn" and c["ended_at"] == "2026-05-07T10:24:00+00:00"
    human = cli(
        "audit", "port", KARI_POINT, "--at", "2026-04-01T12:00", user="revisor", as_json=False
    )
    assert human.code == 0, str(human)
    assert "open since" in human.out and "HAN-2026-000001" in human.out
    assert f"consent #{c['id']}" in human.out and "live then: yes" in human.out
    # Before it opened, and after the close was acknowledged.
    assert audit.port(app, KARI_POINT, parse_instant("2026-03-02T09:10"))["state"] == "opening"
    late = audit.port(app, KARI_POINT, parse_instant("2026-06-01"))
    assert (late["state"], late["data_may_flow"], late["consent"]) == ("closed", False, None)


def test_port_open_under_a_legacy_consent_is_named_legacy(app: App, cli: Cli) -> None:
    r = cli("audit", "port", SIRI_POINT, "--at", "2026-04-01T12:00", user="revisor")
    assert r.code == 0, str(r)
    p = r.json
    assert (p["state"], p["data_may_flow"], p["case"]) == ("open", True, None)
    assert (p["consent"]["legacy"], p["consent"]["source"]) == (True, "legacy_import")
    assert p["consent_live_at_that_moment"] is True
    human = cli(
        "audit", "port", SIRI_POINT, "--at", "2026-04-01T12:00", user="revisor", as_json=False
    )
    assert "LEGACY consent" in human.out, str(human)
    # A legacy consent ended by a move-in: closing, and no longer live.
    q = cli("audit", "port", LEGACY_MOVE_IN_POINT, "--at", "2026-05-07T13:30+02:00", user="revisor")
    assert q.code == 0, str(q)
    assert (q.json["state"], q.json["data_may_flow"]) == ("closing", True)
    assert q.json["consent"]["legacy"] is True
    assert q.json["consent"]["end_reason"] == "move_in"
    assert q.json["consent_live_at_that_moment"] is False


def test_port_timeline_names_open_without_live_consent(cli: Cli) -> None:
    r = cli("audit", "port", OVERTAKEN_POINT, user="revisor")
    assert r.code == 0, str(r)
    timeline = r.json["timeline"]
    assert [t["state"] for t in timeline] == [
        "none", "closed", "opening", "closing", "open", "closing", "closed",
    ]  # fmt: skip
    assert r.json["port_now"] == "closed"
    flagged = [t for t in timeline if t["open_without_live_consent"]]
    assert flagged, timeline
    # The late "opened" acknowledgement of the cancelled opening: open with no live consent.
    late_open = next(t for t in timeline if t["state"] == "open")
    assert late_open["case"] == "HAN-2026-000008"
    assert late_open["open_without_live_consent"] == {
        "from": "2026-05-07T11:12:00+00:00",
        "until": "2026-05-07T11:12:00+00:00",
    }
    # Together the flagged intervals cover the close request until the close was acknowledged.
    spans = sorted(
        (t["open_without_live_consent"]["from"], t["open_without_live_consent"]["until"])
        for t in flagged
    )
    assert spans[0][0] == "2026-05-07T10:57:00+00:00"
    assert spans[-1][1] == "2026-05-07T11:27:00+00:00"
    for (_, until), (start, _) in itertools.pairwise(spans):
        assert start <= until, spans  # no gap
    assert all(t["data_may_flow"] for t in flagged)
    assert not any(t["open_without_live_consent"] for t in timeline if not t["data_may_flow"])

    human = cli("audit", "port", OVERTAKEN_POINT, user="revisor", as_json=False)
    assert human.code == 0 and "OPEN WITHOUT LIVE CONSENT" in human.out, str(human)


def test_port_of_unknown_point_is_not_found(cli: Cli) -> None:
    r = cli("audit", "port", "707057500000000999", user="revisor")
    assert r.code == 3, str(r)
