"""Helpers shared by the time tests: Oslo instants, simulated-HES apps, and reads of what a case
wrote (events, timers, mail, HES commands, the metering point) straight from the tables."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from hanport.bootstrap import App
from hanport.calendar import OSLO
from hanport.config import Area, _default_areas
from hanport.entrypoints.tick import tick
from hanport.service import hes
from hanport.storage import tables
from tests.support import make_app


def oslo(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """An Oslo wall-clock time (never in a DST gap or overlap in these tests)."""
    return datetime(y, mo, d, h, mi, s, tzinfo=OSLO)


def simulated_areas() -> dict[str, Area]:
    return {code: replace(a, hes_adapter="simulated") for code, a in _default_areas().items()}


def sim_app(url: str, **over: Any) -> App:
    """An app whose every area uses the simulated HES adapter."""
    return make_app(url, areas=simulated_areas(), **over)


def _rows(app: App, stmt: Any) -> list[dict[str, Any]]:
    with app.engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _case_pk(app: App, ref: str) -> int:
    return int(case_row(app, ref)["id"])


def case_row(app: App, ref: str) -> dict[str, Any]:
    found = _rows(app, select(tables.CASES).where(tables.CASES.c.ref == ref))
    assert len(found) == 1, ref
    out = found[0]
    out["flags"] = json.loads(out["flags"])
    out["data"] = json.loads(out["data"])
    return out


def events(app: App, ref: str) -> list[dict[str, Any]]:
    E = tables.EVENTS
    rows = _rows(app, select(E).where(E.c.case_id == _case_pk(app, ref)).order_by(E.c.seq))
    for r in rows:
        r["data"] = json.loads(r["data"])
    return rows


def triggers(app: App, ref: str) -> list[str]:
    return [e["trigger"] for e in events(app, ref)]


def timer_rows(app: App, ref: str, name: str | None = None) -> list[dict[str, Any]]:
    T = tables.TIMERS
    stmt = select(T).where(T.c.case_id == _case_pk(app, ref))
    if name is not None:
        stmt = stmt.where(T.c.name == name)
    with app.engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt.order_by(T.c.id)).mappings()]


def pending(app: App, ref: str, name: str) -> dict[str, Any]:
    rows = [t for t in timer_rows(app, ref, name) if t["status"] == "pending"]
    assert len(rows) == 1, (name, timer_rows(app, ref))
    return rows[0]


def mail_templates(app: App, ref: str) -> list[str]:
    M = tables.MAIL
    stmt = select(M.c.template).where(M.c.case_id == _case_pk(app, ref)).order_by(M.c.id)
    return [m["template"] for m in _rows(app, stmt)]


def hes_rows(app: App, ref: str | None = None, *, point: str | None = None) -> list[dict[str, Any]]:
    H = tables.HES
    stmt = select(H).order_by(H.c.id)
    if ref is not None:
        stmt = stmt.where(H.c.case_id == _case_pk(app, ref))
    if point is not None:
        stmt = stmt.where(H.c.point_id == _point(app, point)["id"])
    return _rows(app, stmt)


def _point(app: App, gsrn: str) -> dict[str, Any]:
    found = _rows(app, select(tables.POINTS).where(tables.POINTS.c.gsrn == gsrn))
    assert len(found) == 1, gsrn
    return found[0]


def port(app: App, gsrn: str) -> str:
    return str(_point(app, gsrn)["han_port"])


def tick_until(
    app: App, done: Any, *, step: timedelta = timedelta(minutes=5), max_steps: int = 200
) -> int:
    """Tick, then move the clock by ``step``, until ``done()``; returns the steps taken."""
    for n in range(max_steps):
        tick(app)
        if done():
            return n
        app.clock.advance(step)
    raise AssertionError(f"not done after {max_steps} ticks of {step}")


def dispatch_spy(monkeypatch: Any) -> list[tuple[int, str, datetime]]:
    """Record every command a gateway is asked to send: (command id, action, when)."""
    sent: list[tuple[int, str, datetime]] = []
    real = hes.gateways

    def spying(settings: Any) -> dict[str, Any]:
        gws = real(settings)
        out = {}
        for name, gw in gws.items():

            class Spy:
                def __init__(self, inner: Any) -> None:
                    self.inner = inner
                    self.name = inner.name

                def send(self, command: dict[str, Any], now: datetime) -> Any:
                    sent.append((command["id"], command["action"], now))
                    return self.inner.send(command, now)

            out[name] = Spy(gw)
        return out

    monkeypatch.setattr(hes, "gateways", spying)
    return sent
