"""Plausible instants (issue 11, item 3), through the service layer on both backends.

``received_at`` and ``installed_at`` may not lie after the application's clock (beyond
``CLOCK_SKEW``) nor before the case's customer held its metering point (the last Elhub move or
contract end of another customer there); a refused field is named and nothing is written. A
form received before its case was opened stays accepted. The tests move the simulated clock.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hanport.bootstrap import App
from hanport.calendar import OSLO
from hanport.errors import Refused
from hanport.service.fields import CLOCK_SKEW
from tests.batch.helpers import open_port_1001, rollback, row, run_file, write_file
from tests.integration import dbstate as db
from tests.support import (
    HOLE_POINT,
    NORE_OPEN_POINT,
    NORE_POINT,
    actor,
    advance,
    consent,
    import_points,
    open_case,
)


def _iso(app: App, delta: timedelta = timedelta()) -> str:
    return (app.clock.now() + delta).astimezone(OSLO).isoformat()


def _move(app: App, delta: timedelta) -> None:
    app.clock.advance(delta)  # type: ignore[attr-defined]


def test_future_received_at_is_refused_naming_the_field(seeded: App) -> None:
    app, cw = seeded, actor(seeded)
    ref = open_case(app, cw, "nore_open", customer="1001", metering_point=NORE_POINT).case
    before = db.snapshot(app.engine)
    with pytest.raises(Refused, match="in the future") as refused:
        advance(app, cw, ref, "record_consent", consent(received_at="2027-03-01T10:00"))
    assert refused.value.field == "received_at"
    assert str(refused.value) == (
        "record_consent: field received_at: 2027-03-01T10:00+01:00 is in the future "
        "(now 2026-03-02T09:00+01:00; allowed skew 5 min)"
    )
    assert db.diff(before, db.snapshot(app.engine)) == {}
    assert db.case_row(app.engine, ref)["state"] == "requested"


def test_the_clock_skew_is_allowed_and_the_clock_is_the_apps(seeded: App) -> None:
    app, cw = seeded, actor(seeded)
    ahead = _iso(app, timedelta(hours=1))
    ref = open_case(app, cw, "nore_open", customer="1001", metering_point=NORE_POINT).case
    with pytest.raises(Refused, match="received_at"):
        advance(app, cw, ref, "record_consent", consent(received_at=ahead))
    _move(app, timedelta(minutes=56))  # an hour ahead is now 4 minutes ahead: within the skew
    assert timedelta(minutes=4) < CLOCK_SKEW
    assert advance(app, cw, ref, "record_consent", consent(received_at=ahead)).state == "opening"


def test_a_form_received_before_its_case_was_opened_is_accepted(seeded: App) -> None:
    app, cw = seeded, actor(seeded)
    received = _iso(app, -timedelta(days=6))
    _move(app, timedelta(days=3))
    ref = open_case(app, cw, "nore_open", customer="1001", metering_point=NORE_POINT).case
    _move(app, timedelta(hours=2))
    assert advance(app, cw, ref, "record_consent", consent(received_at=received)).state == "opening"


def test_a_future_consent_given_with_the_order_creates_no_case(seeded: App) -> None:
    app, cw = seeded, actor(seeded)
    before = db.snapshot(app.engine)
    with pytest.raises(Refused, match="received_at") as refused:
        open_case(
            app,
            cw,
            "nore_open",
            customer="1001",
            metering_point=NORE_POINT,
            fields=consent(received_at=_iso(app, timedelta(days=1))),
        )
    assert refused.value.field == "received_at"
    assert db.diff(before, db.snapshot(app.engine)) == {}


def test_future_installation_is_refused(seeded: App) -> None:
    app, cw = seeded, actor(seeded)
    ref = open_case(app, cw, "meter_swap", customer="1003", metering_point=HOLE_POINT).case
    before = db.snapshot(app.engine)
    fields = {"meter_number": "5706567316639543", "installed_at": _iso(app, timedelta(hours=3))}
    with pytest.raises(Refused, match=r"installed_at: .* is in the future") as refused:
        advance(app, cw, ref, "record_installation", fields)
    assert refused.value.field == "installed_at"
    assert db.diff(before, db.snapshot(app.engine)) == {}
    _move(app, timedelta(hours=3))
    assert advance(app, cw, ref, "record_installation", fields).state == "awaiting_consent"


NEWCOMER_POINTS = (
    "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port\n"
    f"{NORE_OPEN_POINT};1001;6970631401582127;0633;Uvdalsvegen 40;3632;Uvdal;open\n"
)


def _newcomer_on_open_point(app: App, tmp_path: Path) -> None:
    """Customer 1004 moves out of NORE_OPEN_POINT and 1001 moves in, effective 1 March: the
    nightly file closes 1004's legacy port, then the registry names 1001."""
    cw = actor(app)
    moved = "2026-03-01T00:00:00+01:00"
    report = run_file(
        app, write_file(tmp_path / "t.csv", [row("d1", NORE_OPEN_POINT, "move_in", moved, "1001")])
    )
    close = report.outcomes[0]
    assert close["outcome"] == "applied", report.outcomes
    ref = db.rows(app.engine, "SELECT ref FROM cases WHERE workflow = 'close_port'")[0]["ref"]
    assert advance(app, cw, ref, "confirm_close").state == "closed"
    points = tmp_path / "points.csv"
    points.write_text(NEWCOMER_POINTS, encoding="utf-8")
    assert not import_points(app, cw, points).rejected


def test_a_consent_before_the_customer_held_the_point_is_refused(
    seeded: App, tmp_path: Path
) -> None:
    app, cw = seeded, actor(seeded)
    _newcomer_on_open_point(app, tmp_path)
    newcomer = consent(address="Uvdalsvegen 40", postal_code="3632")
    before = db.snapshot(app.engine)
    with pytest.raises(Refused, match="before the customer held the metering point") as refused:
        open_case(
            app,
            cw,
            "nore_open",
            customer="1001",
            metering_point=NORE_OPEN_POINT,
            fields={**newcomer, "received_at": "2026-02-27T12:00"},
        )
    assert refused.value.field == "received_at"
    assert "2026-03-01T00:00+01:00" in str(refused.value)
    assert db.diff(before, db.snapshot(app.engine)) == {}
    # Received on the day of the move, before the case was opened: accepted.
    fields = {**newcomer, "received_at": "2026-03-01T00:00"}
    r = open_case(
        app, cw, "nore_open", customer="1001", metering_point=NORE_OPEN_POINT, fields=fields
    )
    assert r.state == "opening"


def test_the_customers_own_end_of_supply_sets_no_bound(seeded: App, tmp_path: Path) -> None:
    """Only another customer's move or contract end tells when the present one took over: the
    customer's own earlier close on the point bounds nothing."""
    app, cw = seeded, actor(seeded)
    open_port_1001(app)
    _move(app, timedelta(days=2))
    ended = "2026-03-03T00:00:00+01:00"
    report = run_file(
        app, write_file(tmp_path / "t.csv", [row("d1", NORE_POINT, "end_of_supply", ended, "1001")])
    )
    assert report.outcomes[0]["outcome"] == "applied", report.outcomes
    ref = db.rows(app.engine, "SELECT ref FROM cases WHERE workflow = 'close_port'")[0]["ref"]
    assert advance(app, cw, ref, "confirm_close").state == "closed"
    fields = consent(received_at="2026-03-02T12:00")
    r = open_case(app, cw, "nore_open", customer="1001", metering_point=NORE_POINT, fields=fields)
    assert r.state == "opening"


def test_a_rolled_back_move_sets_no_bound(seeded: App, tmp_path: Path) -> None:
    """``Cases.supply_ended`` counts the closes that stand: a rolled-back move never ended
    anyone's supply."""
    from hanport.service.unit import transaction

    app = seeded
    moved = "2026-03-10T00:00:00+01:00"
    lines = [row("d1", NORE_OPEN_POINT, "move_in", moved, "1001")]
    run_file(app, write_file(tmp_path / "t1.csv", lines))
    point = db.point(app.engine, NORE_OPEN_POINT)["id"]
    newcomer = db.rows(app.engine, "SELECT id FROM customers WHERE customer_id = '1001'")[0]["id"]
    with transaction(app) as uow:
        since = uow.cases.supply_ended(point, newcomer)
    assert since is not None and since.astimezone(OSLO).isoformat() == "2026-03-10T00:00:00+01:00"
    run_file(app, write_file(tmp_path / "t2.csv", [rollback("d2", NORE_OPEN_POINT, "d1")]))
    with transaction(app) as uow:
        assert uow.cases.supply_ended(point, newcomer) is None
