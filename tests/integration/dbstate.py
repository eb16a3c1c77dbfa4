"""Reading the database directly in storage tests: rows, counts and whole-table snapshots.

Everything here goes around the service layer on purpose: the tests check what was stored.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from hanport.storage import tables

# What one advance writes, per trigger, from ``opening`` (rows added; pending timers after).
ONE_ADVANCE = {
    # Internal: the failure is recorded, a retry command enqueued, the 24 h timeout restarted.
    "report_failure": {
        "case_events": 1,
        "case_notes": 0,
        "timers": 1,
        "mail_outbox": 0,
        "hes_commands": 1,
        "consents": 0,
        "pending_timers": 2,
    },
    # Final: the "port opened" notice; every timer stops.
    "confirm_open": {
        "case_events": 1,
        "case_notes": 0,
        "timers": 0,
        "mail_outbox": 1,
        "hes_commands": 0,
        "consents": 0,
        "pending_timers": 0,
    },
}

# Every table a command may write to (a snapshot of these proves "nothing written").
WRITTEN_TABLES = (
    "cases",
    "case_events",
    "case_notes",
    "timers",
    "consents",
    "mail_outbox",
    "hes_commands",
    "metering_points",
    "meter_history",
    "idempotency_keys",
)


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def one(engine: Engine, sql: str, **params: Any) -> dict[str, Any]:
    found = rows(engine, sql, **params)
    assert len(found) == 1, (sql, params, found)
    return found[0]


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a command writes, in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in WRITTEN_TABLES:
            out[table] = [
                tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))
            ]
    return out


def diff(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> dict:
    """Per table, the rows only in ``before`` and only in ``after`` (empty when equal)."""
    out = {}
    for table in WRITTEN_TABLES:
        b, a = set(before[table]), set(after[table])
        if b != a:
            out[table] = {"gone": sorted(b - a, key=repr), "new": sorted(a - b, key=repr)}
    return out


def _select(engine: Engine, stmt: Any) -> list[dict[str, Any]]:
    """Typed rows (instants come back as aware UTC datetimes on both backends)."""
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _case_id(engine: Engine, ref: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(tables.CASES.c.id).where(tables.CASES.c.ref == ref)).scalar_one()


def case_row(engine: Engine, ref: str) -> dict[str, Any]:
    found = _select(engine, select(tables.CASES).where(tables.CASES.c.ref == ref))
    assert len(found) == 1, ref
    return found[0]


def events(engine: Engine, ref: str) -> list[dict[str, Any]]:
    E = tables.EVENTS
    found = _select(engine, select(E).where(E.c.case_id == _case_id(engine, ref)).order_by(E.c.seq))
    for e in found:
        e["parsed"] = json.loads(e["data"])
    return found


def all_events(engine: Engine) -> list[dict[str, Any]]:
    return _select(engine, select(tables.EVENTS).order_by(tables.EVENTS.c.id))


def timers(engine: Engine, ref: str) -> list[dict[str, Any]]:
    T = tables.TIMERS
    return _select(engine, select(T).where(T.c.case_id == _case_id(engine, ref)).order_by(T.c.id))


def mail(engine: Engine, ref: str) -> list[dict[str, Any]]:
    M = tables.MAIL
    return _select(engine, select(M).where(M.c.case_id == _case_id(engine, ref)).order_by(M.c.id))


def hes(engine: Engine) -> list[dict[str, Any]]:
    return _select(engine, select(tables.HES).order_by(tables.HES.c.id))


def point(engine: Engine, gsrn: str) -> dict[str, Any]:
    found = _select(engine, select(tables.POINTS).where(tables.POINTS.c.gsrn == gsrn))
    assert len(found) == 1, gsrn
    return found[0]


def consent_row(engine: Engine, pk: int) -> dict[str, Any]:
    found = _select(engine, select(tables.CONSENTS).where(tables.CONSENTS.c.id == pk))
    assert len(found) == 1, pk
    return found[0]


def consents(engine: Engine) -> list[dict[str, Any]]:
    return _select(engine, select(tables.CONSENTS).order_by(tables.CONSENTS.c.id))


def counts(engine: Engine, ref: str) -> dict[str, int]:
    """How many rows of each kind a case has (events, notes, timers, mail, HES commands)."""
    out = {}
    with engine.connect() as conn:
        case_id = conn.execute(text("SELECT id FROM cases WHERE ref = :r"), {"r": ref}).scalar_one()
        for table in (
            "case_events",
            "case_notes",
            "timers",
            "mail_outbox",
            "hes_commands",
            "consents",
        ):
            out[table] = conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE case_id = :c"), {"c": case_id}
            ).scalar_one()
        out["pending_timers"] = conn.execute(
            text("SELECT count(*) FROM timers WHERE case_id = :c AND status = 'pending'"),
            {"c": case_id},
        ).scalar_one()
    return out
