"""The erasure ledger is append-only by trigger, and the access log keeps its reads only for
the ``access_log`` period — on both backends: the database refuses every change to a ledger
entry and every deletion from the log but retention's; the nightly slot deletes the reads past
the (configurable) period, oldest first, and again deletes nothing; ``privacy due`` counts them;
``audit access`` reports no gap where retention cleared; SQLite numbers the next read after
the cleared ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hanport.bootstrap import App
from hanport.entrypoints.scheduler import nightly
from hanport.errors import Refused
from hanport.retention import Keep, parse_keep, periods
from hanport.service import reads, run
from hanport.service.commands import EraseCustomer
from hanport.service.retention import due
from hanport.storage.views.access import AccessFilter
from tests.support import actor

KARI, OLA = "1001", "1002"


def _refused(app: App, *statements: str) -> None:
    for sql in statements:
        with pytest.raises(DBAPIError, match="append-only"), app.engine.begin() as conn:
            conn.execute(text(sql))


def _rows(app: App, sql: str) -> list[tuple[Any, ...]]:
    with app.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _skip(app: App, days: int) -> None:
    app.clock.advance(timedelta(days=days))  # type: ignore[attr-defined]


# --- the erasure ledger ------------------------------------------------------------------------


def test_the_erasure_ledger_refuses_every_update_and_delete(seeded: App) -> None:
    app = seeded
    # Kari holds her point: the e-mail and phone go, and the ledger has its entry.
    r = run(app, actor(app, "dpo"), EraseCustomer(KARI, "art. 17 request by letter"))
    assert r.outcome == "partly erased"
    before = _rows(app, "SELECT * FROM erasures")
    assert len(before) == 1
    statements = [
        "UPDATE erasures SET reason = 'nothing to see'",
        "UPDATE erasures SET erased = '{}'",
        "UPDATE erasures SET subject = '9999'",
        # Nor ``reapplied_at``: reapply adds the entry it applies again, never updates one.
        "UPDATE erasures SET reapplied_at = at",
        "DELETE FROM erasures",
    ]
    if app.backend == "postgresql":
        statements.append("TRUNCATE erasures")
    _refused(app, *statements)
    assert _rows(app, "SELECT * FROM erasures") == before
    # Appending is what remains: the next erasure adds its entry.
    run(app, actor(app, "dpo"), EraseCustomer(OLA, "art. 17 request by e-mail"))
    assert len(_rows(app, "SELECT id FROM erasures")) == 2


# --- the access log's retention ----------------------------------------------------------------


def _read(app: App, customer: str) -> None:
    """A caseworker looks at a customer: two rows in the access log (contact, history)."""
    reads.show_customer(app, actor(app, "cw"), customer)


def _log(app: App) -> list[tuple[int, str]]:
    return [(int(n), str(s)) for n, s in _rows(app, "SELECT read_no, subject FROM access_log")]


def _missing(app: App) -> list[int]:
    return reads.access_log(app, actor(app, "dpo"), AccessFilter())[1]


def test_nightly_retention_deletes_the_reads_past_their_period(seeded: App) -> None:
    app = seeded
    _read(app, KARI)
    _skip(app, 400)
    _read(app, OLA)
    first = _log(app)
    assert [s for _, s in first] == [KARI, KARI, OLA, OLA]
    dpo = actor(app, "dpo")
    # Inside its period a read is kept, and the log refuses to lose it or change it.
    assert due(app, dpo)["access_log"] == 0
    assert nightly(app)["retention"]["access_log"] == 0
    _refused(
        app,
        "DELETE FROM access_log",
        f"DELETE FROM access_log WHERE read_no = {first[0][0]}",
        "UPDATE access_log SET purpose = 'x'",
    )
    # Three years after Kari's read: hers go, Ola's (a year younger) stay.
    _skip(app, 3 * 366 - 400 + 1)
    assert due(app, dpo)["access_log"] == 2
    assert nightly(app)["retention"]["access_log"] == 2
    assert _log(app) == first[2:]
    assert nightly(app)["retention"]["access_log"] == 0  # idempotent
    assert due(app, dpo)["access_log"] == 0
    assert _missing(app) == []  # what retention cleared is no gap
    # What is left is still the log's: no deleting it early, even after the mark moved.
    _refused(app, "DELETE FROM access_log", "UPDATE access_log SET what = 'x'")
    # Everything goes: the next read is numbered after the cleared ones.
    _skip(app, 400)
    assert nightly(app)["retention"]["access_log"] == 2
    assert _log(app) == []
    _read(app, KARI)
    assert [n for n, _ in _log(app)] == [first[-1][0] + 1, first[-1][0] + 2]
    assert _missing(app) == []


def test_the_access_log_period_is_configurable(seeded: App) -> None:
    app = seeded
    assert periods({})["access_log"].keep == Keep(3, "y")
    assert periods({})["access_log"].automatic
    with pytest.raises(Refused, match="10 years"):
        parse_keep("11y")
    app.settings = replace(app.settings, retention={"access_log": parse_keep("6m")})
    _read(app, KARI)
    _skip(app, 190)
    d = due(app, actor(app, "dpo"))
    assert d["access_log"] == 2
    assert {p["kind"]: p["keep"] for p in d["periods"]}["access_log"] == "6 months"
    assert nightly(app)["retention"]["access_log"] == 2
    assert _log(app) == []


def test_retention_is_for_the_scheduler_and_privacy(seeded: App) -> None:
    from hanport.service.commands import ApplyRetention

    _read(seeded, KARI)
    _skip(seeded, 3 * 366 + 1)
    with pytest.raises(Refused, match="retention is run by the scheduler or privacy"):
        run(seeded, actor(seeded, "cw"), ApplyRetention())
    plan = run(seeded, actor(seeded, "dpo"), ApplyRetention(dry_run=True))
    assert plan["access_log"] == 2 and len(_log(seeded)) == 2  # rolled back
