"""The SLA report over the hand-computed fixture (tests/reports/fixture.py): every figure as
worked out by hand there, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hanport.bootstrap import App
from hanport.calendar import parse_instant
from hanport.queries.reports import build as b
from hanport.queries.reports.build import build
from hanport.queries.reports.sla import Sla
from tests.reports import fixture as fx


def test_the_report_gives_the_hand_computed_figures(app: App, tmp_path: Path) -> None:
    story = fx.build(app, tmp_path / "registry")
    r = build(app, *fx.PERIOD, as_of=parse_instant(fx.AS_OF))
    ref = {v: k for k, v in story.refs.items()}
    rows = {(x["area"], x["month"]): x for x in r.sla}
    march, april = rows[("Nore og Uvdal", "2026-03")], rows[("Nore og Uvdal", "2026-04")]
    assert (march["requests"], march["ports_opened"], march["notices"]) == (7, 4, 7)
    assert (march["within_3"], march["late"], march["ended_unopened"]) == (4, 2, 1)
    assert march["share_within_3"] == round(4 / 6, 4)
    assert (march["median_working_days"], march["p90_working_days"]) == (3.0, 4)
    assert (april["requests"], april["ports_opened"], april["notices"]) == (1, 3, 1)
    assert (april["within_3"], april["share_within_3"], april["median_working_days"]) == (
        1,
        1.0,
        3.0,
    )
    whole = rows[("all", "all")]
    assert (whole["requests"], whole["ports_opened"], whole["within_3"]) == (8, 7, 5)
    assert sorted(ref[c] for c in whole["breach_cases"]) == ["B", "D2"]
    assert {ref[b["case"]]: (b["working_days"], b["whose"]) for b in r.breaches} == {
        "B": (4, "grid_company"),
        "D2": (4, "grid_company"),
    }
    assert r.distribution == [{"working_days": 3, "cases": 5}, {"working_days": 4, "cases": 2}]


def _measured(app: App, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Every case the SLA measured (notice in the period), as the report's breaches show one."""
    captured: dict[str, dict[str, Any]] = {}
    fill = b._fill

    def keep(report: b.Report, sla: Sla, *rest: Any) -> None:
        captured.update({c.ref: c.as_dict() for c in sla.cases})
        fill(report, sla, *rest)

    monkeypatch.setattr(b, "_fill", keep)
    b.build(app, *fx.PERIOD, as_of=parse_instant(fx.AS_OF))
    return captured


def test_whose_clock_and_the_summer_time_hour(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = fx.build(app, tmp_path / "registry")
    m = {k: _measured(app, monkeypatch)[v] for k, v in story.refs.items()}
    e = m["E"]
    assert e["notice_at"] == "2026-03-16T11:00:00+00:00"  # received, not recorded (17 March)
    assert (e["customer_hours_before_notice"], e["grid_hours"]) == (339.0, 71.0)
    assert (e["status"], e["customer_hours_after_notice"]) == ("within", 0.0)
    assert (m["D1"]["grid_hours"], m["D1"]["deadline"]) == (119.0, "2026-04-01T22:00:00+00:00")
    assert (m["D2"]["status"], m["D2"]["whose"]) == ("late", "grid_company")
    assert m["C"]["deadline"] == "2026-04-09T22:00:00+00:00"
    assert (m["C"]["working_days"], m["C"]["status"]) == (3, "within")
    assert m["G"]["migrated"] and (m["G"]["status"], m["G"]["working_days"]) == ("within", 3)
    assert not any(m[k]["migrated"] for k in fx.CASES if k != "G")
    assert (m["F"]["status"], m["F"]["ended"]) == ("ended", "cancelled")
