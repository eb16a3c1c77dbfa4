"""The report over the committed demo history, whose open events predate the recorded area:
the area falls back to the point's municipality, and the figures are those of its cases."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hanport.calendar import parse_instant
from hanport.queries.reports.build import build
from tests import support as s
from tests.audit.helpers import copy_history


def test_report_over_the_demo_history(tmp_path: Path) -> None:
    db = copy_history(tmp_path / "history" / "demo.db")
    app = s.make_app(f"sqlite:///{db}", now="2026-05-18T12:00:00+02:00")
    try:
        r = build(app, date(2026, 3, 1), date(2026, 5, 31))
        rows = {(x["area"], x["month"]): x for x in r.sla}
        nore = rows[("Nore og Uvdal", "2026-03")]
        assert (nore["requests"], nore["ports_opened"], nore["notices"]) == (3, 1, 2)
        assert nore["ended_unopened"] == 1
        # HAN-2026-000005: notice Thu 5 March, open Tue 10 March before midnight: within the
        # regulator's three working days, though the engine's stricter timer fired.
        hole = rows[("Hole", "2026-03")]
        assert (hole["median_working_days"], hole["within_3"]) == (3.0, 1)
        assert r.breaches == []
        early = build(app, date(2026, 3, 1), date(2026, 5, 31), as_of=parse_instant("2026-03-06"))
        assert {(x["area"], x["month"]): x for x in early.sla}[("Hole", "2026-03")]["waiting"] == 1
    finally:
        app.close()
