"""The meter on a metering point is a time-versioned attribute: a swap changes the meter number,
not the metering point ID."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, insert, update
from sqlalchemy.engine import Connection

from hanport.storage.repository import METERS


def replace_meter(
    conn: Connection, point_id: int, meter_number: str, at: datetime, *, source: str
) -> None:
    """End the point's current meter at ``at`` and start ``meter_number`` from then."""
    conn.execute(
        update(METERS)
        .where(and_(METERS.c.point_id == point_id, METERS.c.valid_to.is_(None)))
        .values(valid_to=at)
    )
    conn.execute(
        insert(METERS).values(
            point_id=point_id, meter_number=meter_number, valid_from=at, source=source
        )
    )
