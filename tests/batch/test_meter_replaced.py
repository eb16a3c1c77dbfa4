"""A meter replaced outside a swap case (a registry import with a new meter number): an open
port closes automatically (``close_port``, reason ``meter_replaced``), the consent ends
``meter_replaced``, and the point carries the new meter number (the old one kept in its
history). On SQLite and PostgreSQL, through the real import code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stdnum import ean

from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.service.registry import ImportReport
from tests.batch.helpers import (
    cases_for,
    consents,
    events,
    hes,
    live_consents,
    mail,
    open_port_1001,
    opening_in_flight_1001,
    point,
    rows,
)
from tests.support import (
    NORE_METER,
    NORE_METER_2,
    NORE_OPEN_METER,
    NORE_OPEN_POINT,
    NORE_POINT,
    NORE_POINT_2,
    POINTS_CSV,
    actor,
    advance,
    import_points,
    open_case,
)


def new_meter(old: str) -> str:
    """Another meter number of the same vendor, with a valid GS1 check digit."""
    body = old[:-1]
    body = body[:-1] + str((int(body[-1]) + 3) % 10)
    return body + ean.calc_check_digit(body)


def import_with_meter(app: App, tmp_path: Path, old: str, new: str) -> ImportReport:
    assert old in POINTS_CSV
    f = tmp_path / "points.csv"
    f.write_text(POINTS_CSV.replace(old, new), encoding="utf-8")
    report = import_points(app, actor(app), f)
    assert not report.rejected, report.rejected
    return report


def meter_history(app: App, gsrn: str) -> list[dict]:
    return rows(
        app.engine,
        "SELECT m.meter_number, m.valid_to FROM meter_history m "
        "JOIN metering_points p ON p.id = m.point_id WHERE p.gsrn = :g ORDER BY m.id",
        g=gsrn,
    )


@pytest.mark.parametrize(
    ("gsrn", "old", "holder", "email"),
    [
        (NORE_OPEN_POINT, NORE_OPEN_METER, "1004", "siri@example.no"),  # legacy consent
        (NORE_POINT, NORE_METER, "1001", "kari@example.no"),  # a consent from a case
    ],
    ids=["legacy-consent", "case-consent"],
)
def test_a_new_meter_on_an_open_port_closes_it_automatically(
    seeded: App, tmp_path: Path, gsrn: str, old: str, holder: str, email: str
) -> None:
    app = seeded
    if gsrn == NORE_POINT:
        open_port_1001(app)
    new = new_meter(old)
    report = import_with_meter(app, tmp_path, old, new)
    assert report.updated == 1 and report.inserted == 0

    (c,) = cases_for(app, gsrn, "close_port")
    assert c["data"]["close_reason"] == "meter_replaced"
    assert (c["data"]["old_meter"], c["data"]["new_meter"]) == (old, new)
    assert c["state"] == "closing"  # effective at once
    assert any(c["ref"] in w for w in report.warnings)
    owner = rows(app.engine, "SELECT customer_id FROM customers WHERE id = :i", i=c["customer_pk"])
    assert owner == [{"customer_id": holder}]
    assert events(app, c["ref"])[0]["actor_kind"] == "system"

    # The consent ends meter_replaced; the point has the new meter, the old one in its history.
    ended = consents(app, gsrn)
    assert [(s["customer"], s["end_reason"]) for s in ended] == [(holder, "meter_replaced")]
    assert live_consents(app, gsrn) == []
    assert point(app, gsrn)["meter_number"] == new
    history = meter_history(app, gsrn)
    assert [h["meter_number"] for h in history] == [old, new]
    assert history[0]["valid_to"] is not None and history[1]["valid_to"] is None
    assert [h["action"] for h in hes(app, c["ref"])] == ["close"]

    assert advance(app, actor(app), c["ref"], "confirm_close").state == "closed"
    assert point(app, gsrn)["han_port"] == "closed"
    assert [(m["template"], m["recipient"]) for m in mail(app, c["ref"])] == [
        ("auto_closed", email)
    ]
    # The old number is refused for a close request now, naming the replacement.
    with pytest.raises(Refused, match="replaced"):
        open_case(app, actor(app), "close_port", customer=holder, meter_number=old, channel="phone")
    # The same import again changes nothing and opens no second case.
    again = import_with_meter(app, tmp_path, old, new)
    assert again.unchanged == 5
    assert len(cases_for(app, gsrn, "close_port")) == 1


def test_a_new_meter_on_a_closed_port_starts_no_case(seeded: App, tmp_path: Path) -> None:
    app = seeded
    new = new_meter(NORE_METER_2)
    import_with_meter(app, tmp_path, NORE_METER_2, new)
    assert cases_for(app, NORE_POINT_2) == []
    assert point(app, NORE_POINT_2)["meter_number"] == new
    assert point(app, NORE_POINT_2)["han_port"] == "closed"


def test_a_new_meter_during_an_opening_cancels_it(seeded: App, tmp_path: Path) -> None:
    app = seeded
    opening = opening_in_flight_1001(app)
    new = new_meter(NORE_METER)
    import_with_meter(app, tmp_path, NORE_METER, new)
    by_workflow = {c["workflow"]: c for c in cases_for(app, NORE_POINT)}
    assert by_workflow["nore_open"]["ref"] == opening
    assert by_workflow["nore_open"]["state"] == "cancelled"
    close = by_workflow["close_port"]
    assert (close["state"], close["data"]["close_reason"]) == ("closing", "meter_replaced")
    assert [s["end_reason"] for s in consents(app, NORE_POINT)] == ["meter_replaced"]
    assert point(app, NORE_POINT)["meter_number"] == new
