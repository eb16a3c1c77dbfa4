"""Metering points as decisions change them: the port and the consent behind it (each change
also a row of the point's append-only timeline), and the meter on the point."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from hanport.storage.rows import MeterSeen
from hanport.storage.sql import Driver


class PortChange(NamedTuple):
    point_id: int
    state: str
    at: datetime
    cause: str
    sets_consent: bool  # the point's consent changes to ``consent_id``
    consent_id: int | None  # the consent behind the port after the change
    case_id: int | None
    hes_command_id: int | None
    meter_number: str | None  # a new meter number for the point


_UPDATE_POINT = (
    "UPDATE metering_points SET han_port = ?, port_since = ?, updated_at = ?, "
    "consent_id = CASE WHEN ? THEN ? ELSE consent_id END, "
    "meter_number = coalesce(?, meter_number) WHERE id = ?"
)
_INSERT_PORT_EVENT = (
    "INSERT INTO port_events (point_id, at, state, consent_id, cause, case_id, "
    "hes_command_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class Ports:
    def __init__(self, db: Driver) -> None:
        self.db = db

    def change(self, changes: Sequence[PortChange]) -> None:
        """Apply the changes in order: the point's row, and one timeline row each (on
        PostgreSQL one statement a change, the update in a data-modifying CTE)."""
        db = self.db
        points = [
            (
                c.state,
                db.ts(c.at),
                db.ts(c.at),
                c.sets_consent,
                c.consent_id,
                c.meter_number,
                c.point_id,
            )
            for c in changes
        ]
        events = [
            (c.point_id, db.ts(c.at), c.state, c.consent_id, c.cause, c.case_id, c.hes_command_id)
            for c in changes
        ]
        if not db.sqlite:
            db.executemany(
                f"WITH changed AS ({_UPDATE_POINT} RETURNING id) {_INSERT_PORT_EVENT}",
                [(*p, *e) for p, e in zip(points, events, strict=True)],
            )
            return
        db.executemany(_UPDATE_POINT, points)
        db.executemany(_INSERT_PORT_EVENT, events)

    def install_meters(self, rows: Sequence[tuple[int, str, datetime, str]]) -> None:
        """(point id, meter number, at, source): the point's current meter ends at ``at`` and
        the new one starts then."""
        db = self.db
        for point_id, number, at, source in rows:
            db.execute(
                "UPDATE meter_history SET valid_to = ? WHERE point_id = ? AND valid_to IS NULL",
                (db.ts(at), point_id),
            )
            db.execute(
                "INSERT INTO meter_history (point_id, meter_number, valid_from, source) "
                "VALUES (?, ?, ?, ?)",
                (point_id, number, db.ts(at), source),
            )

    def meter_seen(self, numbers: Sequence[str]) -> list[MeterSeen]:
        """Every time these meter numbers sat on a point, newest first."""
        if not numbers:
            return []
        test, params = self.db.member(numbers)
        rows = self.db.all(
            "SELECT m.point_id, p.gsrn, m.meter_number, m.valid_from, m.valid_to "
            "FROM meter_history m JOIN metering_points p ON p.id = m.point_id "
            f"WHERE m.meter_number {test} ORDER BY m.valid_from DESC, m.id DESC",
            params,
        )
        ts = self.db.read_ts
        return [MeterSeen._make((*r[:3], ts(r[3]), ts(r[4]))) for r in rows]
