"""The report reads only the cases its period can involve (``Window``), on both backends: every
month's report, and reports as of earlier moments, equal the report that folds every case —
with an old case that ended long before, a swap that has waited in the queue untouched since
March, and a case opened after the period whose form reached us in it (a late notice)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import parse_instant
from hanport.queries.reports.build import build
from tests.support import (
    HOLE_POINT,
    NORE_POINT,
    NORE_POINT_2,
    RINGERIKE_POINT,
    actor,
    advance,
    consent,
    open_case,
)

MONTHS = [(date(2026, m, 1), date(2026, m + 1, 1) - timedelta(days=1)) for m in range(2, 9)]


def _at(app: App, when: str) -> None:
    app.clock.set(parse_instant(when))  # type: ignore[attr-defined]


def _history(app: App) -> str:
    """The cases; returns the reference of the late notice's case."""
    cw = actor(app)
    _at(app, "2026-03-02T10:00+01:00")
    fields = consent(received_at="2026-03-02T10:00+01:00")
    old = open_case(app, cw, "nore_open", customer="1001", metering_point=NORE_POINT, fields=fields)
    _at(app, "2026-03-03T09:00+01:00")
    queued = open_case(
        app, cw, "meter_swap", customer="1002", metering_point=RINGERIKE_POINT, channel="phone"
    ).case
    advance(app, cw, queued, "acknowledge_energipilot")  # and then waits, untouched
    swap = open_case(
        app, cw, "meter_swap", customer="1003", metering_point=HOLE_POINT, channel="phone"
    ).case
    _at(app, "2026-03-04T12:00+01:00")
    advance(app, cw, old.case, "confirm_open")
    _at(app, "2026-04-14T09:00+02:00")
    installed = {"meter_number": "5706567316639543", "installed_at": "2026-04-14T08:00+02:00"}
    advance(app, cw, swap, "record_installation", installed)
    _at(app, "2026-05-04T09:00+02:00")
    late = open_case(app, cw, "nore_open", customer="1005", metering_point=NORE_POINT_2).case
    advance(app, cw, late, "request_consent")
    form = consent(
        signer_name="Nils Li",
        address="Nedre Dal 2",
        postal_code="3631",
        received_at="2026-04-29T15:00+02:00",
    )
    advance(app, cw, late, "record_consent", form)
    _at(app, "2026-05-06T10:00+02:00")
    advance(app, cw, late, "confirm_open")
    _at(app, "2026-08-31T12:00+02:00")
    return late


def _figures(report: Any) -> dict[str, Any]:
    out = report.as_dict()
    del out["cases_read"], out["events_read"]
    return dict(out)


def test_the_window_reads_what_the_whole_history_says(seeded: App) -> None:
    app = seeded
    late = _history(app)
    for start, end in MONTHS:
        for as_of in (None, parse_instant(f"{end.isoformat()}T12:00+02:00")):
            window = build(app, start, end, as_of=as_of)
            whole = build(app, start, end, as_of=as_of, whole_history=True)
            assert _figures(window) == _figures(whole), (start, as_of)
            assert window.cases <= whole.cases
    april = build(app, *MONTHS[2])
    assert [b["case"] for b in april.breaches] == [late]  # noticed 29 April, open 6 May: late
    july = build(app, *MONTHS[5])
    assert july.cases == 2  # the two live swaps: the cases that ended in March and May are not read
    assert [(q["area"], q["waiting"]) for q in july.queue] == [("Ringerike", 1), ("all", 1)]
    assert build(app, *MONTHS[5], whole_history=True).cases == 4
