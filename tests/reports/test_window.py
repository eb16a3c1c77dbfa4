"""The report reads only the cases its period can involve (``Window``), on both backends: every
month's report, and reports as of earlier moments, equal the report that folds every case —
with an old case that ended long before, closes on request and from the nightly file, a swap
that has waited in the queue untouched since March, and a case opened after the period whose
form reached us in it (a late notice)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import parse_instant
from hanport.queries.reports.build import build
from tests.support import (
    HOLE_POINT,
    NORE_METER,
    NORE_OPEN_POINT,
    NORE_POINT,
    NORE_POINT_2,
    RINGERIKE_POINT,
    actor,
    advance,
    consent,
    open_case,
    run_terminations,
)

MONTHS = [(date(2026, m, 1), date(2026, m + 1, 1) - timedelta(days=1)) for m in range(2, 9)]


def _at(app: App, when: str) -> None:
    app.clock.set(parse_instant(when))  # type: ignore[attr-defined]


def _closes(app: App, tmp: Path) -> None:
    """In April: Kari's port closed on her request, and Siri's (open before hanport) closed
    automatically when the nightly file says she moved out."""
    cw, sup = actor(app), actor(app, "sup")
    _at(app, "2026-04-20T10:00+02:00")
    ref = open_case(
        app, cw, "close_port", customer="1001", meter_number=NORE_METER, channel="phone"
    ).case
    advance(app, sup, ref, "verify_identity", {"method": "bankid"})
    _at(app, "2026-04-21T10:00+02:00")
    advance(app, cw, ref, "confirm_close")
    _at(app, "2026-04-22T02:00+02:00")
    file = tmp / "terminations.csv"
    file.write_text(
        "document_id;metering_point_id;event;brs_code;effective_at;customer_id;rollback_of\n"
        f"D-1;{NORE_OPEN_POINT};move_out;BRS-NO-201;2026-04-21T00:00:00+02:00;1004;\n",
        encoding="utf-8",
    )
    (row,) = run_terminations(app, cw, file, details=True).outcomes
    assert row["outcome"] == "applied", row
    _at(app, "2026-04-22T09:00+02:00")
    advance(app, cw, row["case"], "confirm_close")


def _history(app: App, tmp: Path) -> str:
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
    _closes(app, tmp)
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


def test_the_window_reads_what_the_whole_history_says(seeded: App, tmp_path: Path) -> None:
    app = seeded
    late = _history(app, tmp_path)
    for start, end in MONTHS:
        for as_of in (None, parse_instant(f"{end.isoformat()}T12:00+02:00")):
            window = build(app, start, end, as_of=as_of)
            whole = build(app, start, end, as_of=as_of, whole_history=True)
            assert _figures(window) == _figures(whole), (start, as_of)
            assert window.cases <= whole.cases
    april = build(app, *MONTHS[2])
    assert [b["case"] for b in april.breaches] == [late]  # noticed 29 April, open 6 May: late
    closes = {(c["area"], c["kind"]): c for c in april.closes}
    assert closes[("Nore og Uvdal", "request")]["closed"] == 1
    assert closes[("Nore og Uvdal", "auto")]["by_reason"] == {"move_out": 1}
    july = build(app, *MONTHS[5])
    assert july.cases == 2  # the two live swaps: the four that ended by May are not read
    assert [(q["area"], q["waiting"]) for q in july.queue] == [("Ringerike", 1), ("all", 1)]
    assert build(app, *MONTHS[5], whole_history=True).cases == 6
