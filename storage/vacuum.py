"""What erasure and retention cleared, out of the database's own files too.

- **SQLite** (``secure_delete`` on every connection, ``storage.engine``): a write zeroes the
  freed bytes of every page it changes, but in WAL mode the earlier images of those pages stay
  in the ``-wal`` file. A checkpoint copies the newest images back into the database file and
  leaves the log as it was; the next writer starts over at its beginning and overwrites only as
  far as it writes — the older frames after that stay until they are written over.
  :func:`checkpoint` runs ``wal_checkpoint(TRUNCATE)``: every page back in the database file,
  the log cut to zero bytes.
- **PostgreSQL**: an UPDATE leaves the old row version in the table's pages; VACUUM marks its
  space free but does not overwrite it (the bytes stay until a new row lands there), nor an
  index entry's. :func:`vacuum` rewrites the tables that hold personal values and the
  customers' keys (``VACUUM FULL``: new files holding the live rows only, their TOAST tables and
  indexes rebuilt, the old files removed) and, where the login may, ``pg_statistic`` (planner
  statistics: migration 0012 keeps the personal columns out of it; a database analysed before
  held some of their values there). Only a table's owner (or the database's) may: the login
  that runs ``db upgrade``. ``VACUUM FULL`` holds each table's exclusive lock while it copies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from hanport.storage.personal import PERSONAL_COLUMNS

VACUUMED = (*PERSONAL_COLUMNS, "subject_keys")
STATISTICS = "pg_catalog.pg_statistic"


@dataclass
class Vacuumed:
    """What :func:`vacuum` did: ``seconds`` per table rewritten; ``complete`` — SQLite: the WAL
    was emptied (no reader held it); ``skipped`` — PostgreSQL: the tables this login may not
    vacuum (nothing is done when one of hanport's is among them)."""

    backend: str
    seconds: dict[str, float] = field(default_factory=dict)
    complete: bool = True
    skipped: list[str] = field(default_factory=list)


def checkpoint(engine: Engine) -> bool:
    """SQLite: every page back in the database file and the WAL truncated to zero bytes; False
    when a reader still held part of the log after the busy timeout (it stays until the next
    checkpoint). Another backend: True, nothing done."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as conn:
        raw = conn.connection.driver_connection  # no transaction: a checkpoint runs outside one
        assert raw is not None
        busy, _frames, _copied = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return int(busy) == 0


def vacuum(engine: Engine) -> Vacuumed:
    """SQLite: :func:`checkpoint`. PostgreSQL: ``VACUUM FULL`` of :data:`VACUUMED` and, where
    this login may, of ``pg_statistic`` — or nothing, with ``skipped`` naming hanport's tables
    it may not."""
    if engine.dialect.name == "sqlite":
        return Vacuumed("sqlite", complete=checkpoint(engine))
    out = Vacuumed("postgresql")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        may: dict[str, bool] = dict(
            conn.exec_driver_sql(
                "SELECT r::text, pg_has_role(current_user, c.relowner, 'USAGE') "
                "OR pg_has_role(current_user, d.datdba, 'USAGE') "
                "FROM unnest(CAST(%(names)s AS regclass[])) r "
                "JOIN pg_class c ON c.oid = r "
                "JOIN pg_database d ON d.datname = current_database()",
                {"names": [*VACUUMED, STATISTICS]},
            ).all()
        )
        out.skipped = [t for t, allowed in may.items() if not allowed]
        if any(t in out.skipped for t in VACUUMED):
            return out
        for table in [t for t in may if t not in out.skipped]:
            started = time.monotonic()
            conn.exec_driver_sql(f"VACUUM (FULL) {table}")
            out.seconds[table] = round(time.monotonic() - started, 3)
    return out
