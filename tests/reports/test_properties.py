"""Property tests: for random Nore histories around the summer-time change and Easter 2026
(orders with or without the form, consents arriving late, ports opened after a few hours to
two weeks, cancellations), the report's counts equal counts taken straight from the events,
and its working days equal a count done another way (local dates, day by day). The same
histories give the same report on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hanport.bootstrap import App
from hanport.calendar import OSLO, parse_instant
from hanport.queries.reports.build import build
from hanport.storage import tables
from tests import support as s
from tests.conftest import drop_pg_database, new_pg_database
from tests.reports import fixture as fx

BASE = datetime(2026, 3, 23, 6, 0, tzinfo=UTC)  # Monday before the clocks go forward
PERIOD = (date(2026, 3, 1), date(2026, 5, 31))
AS_OF = parse_instant("2026-05-31T12:00+02:00")


@dataclass(frozen=True)
class Plan:
    order_min: int  # after BASE
    signed: bool  # the form came with the order
    consent_after_min: int  # unsigned: the form reached us this long after the order
    recorded_after_min: int  # … and was recorded this long after it reached us
    outcome: str  # open | cancel | none
    outcome_after_min: int  # after the consent was recorded


plans = st.lists(
    st.builds(
        Plan,
        st.integers(0, 14 * 24 * 60),
        st.booleans(),
        st.integers(0, 6 * 24 * 60),
        st.integers(0, 3 * 24 * 60),
        st.sampled_from(["open", "open", "open", "cancel", "none"]),
        st.integers(0, 14 * 24 * 60),
    ),
    min_size=1,
    max_size=6,
)


def _actions(ps: list[Plan]) -> list[tuple[datetime, int, str, Any]]:
    out: list[tuple[datetime, int, str, Any]] = []
    for i, p in enumerate(ps, start=1):
        ordered = BASE + timedelta(minutes=p.order_min)
        received = ordered if p.signed else ordered + timedelta(minutes=p.consent_after_min)
        recorded = ordered if p.signed else received + timedelta(minutes=p.recorded_after_min)
        out.append((ordered, 0, "order", (i, p.signed)))
        if not p.signed:
            out.append((recorded, 1, "consent", (i, received)))
        if p.outcome != "none":
            out.append((recorded + timedelta(minutes=p.outcome_after_min), 2, p.outcome, i))
    return sorted(out, key=lambda a: (a[0], a[1]))


def run(app: App, folder: Path, ps: list[Plan]) -> None:
    app.clock.set(parse_instant(fx.BEGIN))  # type: ignore[attr-defined]
    fx.import_registry(app, folder, len(ps))
    refs: dict[int, str] = {}
    for when, _, kind, arg in _actions(ps):
        app.clock.set(when)  # type: ignore[attr-defined]
        who = s.actor(app)
        if kind == "order":
            i, signed = arg
            fields = fx.consent_for(i, when.isoformat()) if signed else None
            r = s.open_case(
                app, who, "nore_open", customer=str(3000 + i), metering_point=fx.gsrn(i),
                fields=fields,
            )  # fmt: skip
            refs[i] = r.case
            if not signed:
                s.advance(app, who, r.case, "request_consent")
        elif kind == "consent":
            i, received = arg
            s.advance(app, who, refs[i], "record_consent", fx.consent_for(i, received.isoformat()))
        elif kind == "open":
            s.advance(app, who, refs[arg], "confirm_open")
        else:
            s.advance(app, who, refs[arg], "cancel", {"reason": "changed my mind"})
    app.clock.set(AS_OF)  # type: ignore[attr-defined]


@dataclass
class Direct:
    """What the events say, counted without the report's code."""

    requests: Counter[str]
    opened: Counter[str]
    notices: int
    within: int
    late: int
    cancelled: int
    days: Counter[int]


def _month(at: datetime) -> str:
    return at.astimezone(OSLO).strftime("%Y-%m")


def _stamp(raw: Any) -> datetime:
    return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)


def _events(app: App) -> Iterator[tuple[int, str, datetime, str | None]]:
    E = tables.EVENTS
    stmt = select(E.c.case_id, E.c.trigger, E.c.occurred_at, E.c.data).order_by(E.c.id)
    with app.engine.connect() as conn:
        for case_id, trigger, at, data in conn.execute(stmt):
            yield case_id, trigger, _stamp(at), data


def working_days(app: App, notice: date, opened: date) -> int:
    """Working days after ``notice`` up to the first working day on or after ``opened``."""
    if opened <= notice:
        return 0
    end = opened
    while not app.calendar.is_working_day(end):
        end += timedelta(days=1)
    n = (end - notice).days
    return sum(app.calendar.is_working_day(notice + timedelta(days=k)) for k in range(1, n + 1))


def direct(app: App) -> Direct:
    d = Direct(Counter(), Counter(), 0, 0, 0, 0, Counter())
    notice: dict[int, datetime] = {}
    for case_id, trigger, at, data in _events(app):
        if trigger == "open":
            d.requests[_month(at)] += 1
        elif trigger == "record_consent" and case_id not in notice:
            received = parse_instant(json.loads(data or "{}")["fields"]["received_at"])
            notice[case_id] = min(received, at)
        elif trigger == "confirm_open":
            d.opened[_month(at)] += 1
            n = working_days(
                app, notice[case_id].astimezone(OSLO).date(), at.astimezone(OSLO).date()
            )
            d.days[n] += 1
            if n <= 3:
                d.within += 1
            else:
                d.late += 1
        elif trigger == "cancel":
            d.cancelled += 1
    d.notices = len(notice)
    return d


def _check(app: App) -> None:
    r = build(app, *PERIOD, as_of=AS_OF)
    d = direct(app)
    rows = {(x["area"], x["month"]): x for x in r.sla}
    for month, n in d.requests.items():
        assert rows[("Nore og Uvdal", month)]["requests"] == n
    for month, n in d.opened.items():
        assert rows[("Nore og Uvdal", month)]["ports_opened"] == n
    total = rows[("all", "all")]
    assert total["requests"] == sum(d.requests.values())
    assert total["ports_opened"] == sum(d.opened.values())
    assert total["notices"] == d.notices
    assert (total["within_3"], total["late"], total["ended_unopened"]) == (
        d.within,
        d.late,
        d.cancelled,
    )
    assert (
        total["within_3"]
        + total["late"]
        + total["overdue"]
        + total["waiting"]
        + total["ended_unopened"]
        == d.notices
    )
    assert {x["working_days"]: x["cases"] for x in r.distribution} == dict(d.days)
    assert len(r.breaches) == total["late"] + total["overdue"]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(plans)
def test_the_reports_counts_are_the_events_counts(ps: list[Plan]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        app = s.make_app(f"sqlite:///{folder / 'h.db'}", now=fx.BEGIN)
        try:
            run(app, folder / "registry", ps)
            _check(app)
        finally:
            app.close()


SAMPLE = [
    Plan(0, True, 0, 0, "open", 3 * 24 * 60),
    Plan(5 * 24 * 60 + 17 * 60, False, 20 * 60, 14 * 60, "open", 5 * 24 * 60),
    Plan(8 * 24 * 60 + 9 * 60, True, 0, 0, "open", 8 * 24 * 60 + 60),
    Plan(9 * 24 * 60, True, 0, 0, "cancel", 60),
    Plan(10 * 24 * 60 + 30, False, 0, 0, "none", 0),
    Plan(4 * 24 * 60 + 17 * 60 + 40, True, 0, 0, "open", 4 * 24 * 60 + 5 * 60),
]


def _report_on(url: str, folder: Path, ps: list[Plan] | None) -> dict[str, Any]:
    app = s.make_app(url, now=fx.BEGIN)
    try:
        if ps is None:
            fx.build(app, folder)
            out = build(app, *fx.PERIOD, as_of=parse_instant(fx.AS_OF)).as_dict()
        else:
            run(app, folder, ps)
            _check(app)
            out = build(app, *PERIOD, as_of=AS_OF).as_dict()
        return out
    finally:
        app.close()


def test_sqlite_and_postgresql_give_the_same_report(tmp_path: Path) -> None:
    url = new_pg_database()
    try:
        for i, ps in enumerate((None, SAMPLE)):
            lite = _report_on(f"sqlite:///{tmp_path / f'{i}.db'}", tmp_path / f"l{i}", ps)
            pg = _report_on(url, tmp_path / f"p{i}", ps)
            assert lite == pg
            assert lite["events_read"] >= 15 and lite["sla"]
            drop_pg_database(url)
            url = new_pg_database()
    finally:
        drop_pg_database(url)
