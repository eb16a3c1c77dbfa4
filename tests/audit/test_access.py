"""Least privilege for personal data, and its access log (GDPR accountability).

Every read command × every role, through the service layer, on a real SQLite file and on
PostgreSQL: what each role sees, what is withheld, what is refused, and that every personal
read — and only a personal read — leaves one access-log row naming the reader, the command,
the purpose and the subject by customer number. Then the same through the CLI, a few cells per
role, ending with the data-protection officer's ``hanport audit access`` listing every personal
read of the scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hanport.bootstrap import App, save_clock
from hanport.errors import Refused
from hanport.service import reads
from hanport.service.roles import resolve
from hanport.storage.views import reading
from hanport.storage.views.access import AccessFilter
from hanport.workflows.definition import Actor
from tests.audit.helpers import Cli, History, build_history
from tests.support import HOLE_POINT, NORE_POINT, ROLES, actor, advance, open_case, seed

KARI = "1001"  # the customer of History.nore, on NORE_POINT
NILS = "1005"  # the customer of History.cancelled ("asked twice")
NAMES = ("Kari Nordmann", "Nils Li", "kari@example.no")  # never in the log


@dataclass
class World:
    app: App
    hist: History
    mail_id: int  # a mail of the nore case (to Kari)
    folder: Path


@pytest.fixture
def world(app: App, tmp_path: Path) -> World:
    seed(app, tmp_path / "registry")
    hist = build_history(app)
    with app.engine.connect() as conn:
        mail_id = conn.execute(
            text(
                "SELECT m.id FROM mail_outbox m JOIN cases c ON c.id = m.case_id "
                "WHERE c.ref = :r ORDER BY m.id"
            ),
            {"r": hist.nore},
        ).scalar()
    save_clock(app)
    return World(app, hist, mail_id, tmp_path)


def log(app: App) -> list[Any]:
    with reading(app.engine) as views:
        return views.access.listing(AccessFilter(limit=100_000))


# --- the command × role table, through the service layer -------------------------------------

# Each read: how to run it for a reader with or without --personal, whose data it is (the
# customer numbers the log must name), and whether its answer shows personal data.
Read = Callable[[World, Actor, bool], Any]
READS: dict[str, tuple[Read, tuple[str, ...], Callable[[Any], bool]]] = {
    "case show": (
        lambda w, a, p: reads.show_case(w.app, a, w.hist.cancelled, personal=p),
        (NILS,),
        lambda v: v["notes"] is not None and "asked twice" in str(v["notes"]),
    ),
    "customer show": (
        lambda w, a, p: reads.show_customer(w.app, a, KARI, personal=p),
        (KARI, KARI),  # contact details and their history
        lambda v: v["name"] == "Kari Nordmann" and v["history"][0]["snapshot"] is not None,
    ),
    "mail show": (
        lambda w, a, p: reads.show_mail(w.app, a, w.mail_id, personal=p),
        (KARI,),
        lambda v: v["recipient"] == "kari@example.no" and bool(v["text"]),
    ),
    "audit port": (
        lambda w, a, p: reads.port(w.app, a, NORE_POINT, personal=p),
        (KARI,),  # the one consent on the point
        lambda v: any((t["consent"] or {}).get("signer_name") for t in v["timeline"]),
    ),
    "audit export": (
        lambda w, a, p: reads.export(w.app, a, w.hist.cancelled, personal=p),
        (NILS,) * 4,  # its notes, and its three mails
        lambda v: v["ending"]["cancelled"]["reason"] == "asked twice",
    ),
    "case list": (lambda w, a, p: reads.list_cases(w.app, a), (), lambda v: False),
    "mail list": (lambda w, a, p: reads.list_mail(w.app, a), (), lambda v: False),
    "audit access": (
        lambda w, a, p: reads.access_log(w.app, a, AccessFilter()),
        (),
        lambda v: False,
    ),
}
ROLE_NAMES = ("cw", "sup", "aud", "dpo")
S, W, X = "shown", "withheld", "refused"  # personal data shown (and logged); none; refused
# (read, --personal) → what each of cw, sup, aud, dpo gets.
EXPECTED: dict[tuple[str, bool], tuple[str, str, str, str]] = {
    ("case show", False): (S, S, W, W),
    ("case show", True): (S, S, S, S),
    ("customer show", False): (S, S, W, W),
    ("customer show", True): (S, S, S, S),
    ("mail show", False): (S, S, W, W),
    ("mail show", True): (S, S, S, S),
    ("audit port", False): (W, W, W, W),  # an audit command: personal data only when asked
    ("audit port", True): (S, S, S, S),
    ("audit export", False): (W, W, W, W),  # a file leaves the system: only when asked
    ("audit export", True): (S, S, S, S),
    ("case list", False): (W, W, W, W),
    ("mail list", False): (W, W, W, W),
    ("audit access", False): (X, X, X, W),  # the data-protection officer's alone
}


def _cell(w: World, who: Actor, name: str, personal: bool) -> str:
    """Run one cell; check its log rows; say what the reader got."""
    run, subjects, shows = READS[name]
    before = len(log(w.app))
    try:
        answer = run(w, who, personal)
    except Refused:
        assert len(log(w.app)) == before, f"{name}: a refused read was logged"
        return X
    new = log(w.app)[before:]
    got = S if shows(answer) else W
    expected_rows = subjects if got == S else ()
    assert [r.subject for r in new] == list(expected_rows), (name, who.name, personal, new)
    for r in new:
        assert (r.actor, r.role, r.command) == (who.name, who.role.value, name), r
        assert r.purpose and not any(n in str(r) for n in NAMES), r
    return got


def test_every_command_and_role(world: World) -> None:
    actors = {n: actor(world.app, n) for n in ROLE_NAMES}
    got = {cell: tuple(_cell(world, actors[n], *cell) for n in ROLE_NAMES) for cell in EXPECTED}
    assert got == EXPECTED
    # The system (scheduler, batch) works like a caseworker.
    assert _cell(world, Actor.system("scheduler"), "case show", False) == S
    # Writing: the reading roles may not; the working roles may.
    for name in ("aud", "dpo"):
        with pytest.raises(Refused, match=actors[name].role.value):
            open_case(
                world.app, actors[name], "meter_swap", customer="1003", metering_point=HOLE_POINT
            )
    ref = open_case(
        world.app, actors["cw"], "meter_swap", customer="1003", metering_point=HOLE_POINT
    ).case
    assert advance(world.app, actors["sup"], ref, "cancel", {"reason": "test"}).state == "cancelled"


def test_a_user_with_no_role_reads_nothing(world: World) -> None:
    with pytest.raises(Refused, match="no role"):
        resolve(world.app, "mallory")
    assert log(world.app) == []


def test_the_purpose_given_is_logged(world: World) -> None:
    aud = actor(world.app, "aud")
    reads.show_customer(world.app, aud, KARI, personal=True, purpose="complaint 2026-114")
    reads.show_case(world.app, actor(world.app, "cw"), world.hist.nore)  # no notes: no read
    reads.show_case(world.app, actor(world.app, "cw"), world.hist.cancelled)
    rows = log(world.app)
    assert [(r.actor, r.purpose, r.what) for r in rows] == [
        ("aud", "complaint 2026-114", "contact details"),
        ("aud", "complaint 2026-114", "contact history"),
        ("cw", "casework", "case notes"),
    ]
    assert all(r.at == rows[0].at for r in rows)  # the simulated clock did not move


def test_the_access_log_is_append_only(world: World) -> None:
    reads.show_customer(world.app, actor(world.app, "cw"), KARI)
    for sql in ("UPDATE access_log SET purpose = 'x'", "DELETE FROM access_log"):
        with pytest.raises(DBAPIError, match="append-only"), world.app.engine.begin() as conn:
            conn.execute(text(sql))
    assert [r.purpose for r in log(world.app)] == ["casework", "casework"]


# --- through the CLI -------------------------------------------------------------------------


def test_cli_cells_and_the_officers_listing(world: World) -> None:
    cli = Cli(world.app.settings.database_url, world.folder / "cli", roles=ROLES)
    h = world.hist
    # no role: exit 4, nothing printed, nothing logged
    for args in (("customer", "show", KARI), ("case", "show", h.cancelled), ("mail", "list")):
        r = cli(*args, user="mallory", as_json=False)
        assert r.code == 4 and r.out == "" and "no role" in r.err, str(r)
    # a caseworker sees the note; an auditor does not, unless asking (with a purpose)
    assert "asked twice" in cli("case", "show", h.cancelled, user="cw", as_json=False).out
    plain = cli("case", "show", h.cancelled, user="aud", as_json=False)
    assert plain.code == 0 and "asked twice" not in plain.out and "withheld" in plain.out
    asked = cli(
        "case",
        "show",
        h.cancelled,
        "--personal",
        "--purpose",
        "audit 12",
        user="aud",
        as_json=False,
    )
    assert asked.code == 0 and "asked twice" in asked.out, str(asked)
    shown = cli("customer", "show", KARI, user="aud", as_json=False).out
    assert "Kari" not in shown and "withheld" in shown
    # the log is the officer's
    r = cli("audit", "access", user="cw")
    assert r.code == 4 and r.out == "" and "data-protection officer" in r.err, str(r)
    listed = cli("audit", "access", user="dpo").json["reads"]
    assert [
        (e["reader"], e["role"], e["command"], e["customer"], e["purpose"]) for e in listed
    ] == [
        ("cw", "caseworker", "case show", NILS, "casework"),
        ("aud", "auditor", "case show", NILS, "audit 12"),
    ]
    mine = cli("audit", "access", "--customer", NILS, "--reader", "aud", user="dpo").json["reads"]
    assert [e["purpose"] for e in mine] == ["audit 12"]
    table = cli("audit", "access", user="dpo", as_json=False).out
    assert "audit 12" in table and not any(n in table for n in NAMES)
