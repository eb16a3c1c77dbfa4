"""The personal-data access log as the data-protection officer reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from hanport.storage.views import _columns


@dataclass(frozen=True, slots=True)
class AccessEntry:
    id: int
    read_no: int
    at: datetime
    recorded_at: datetime
    login: str
    actor: str
    role: str
    on_behalf_of: str | None
    command: str
    purpose: str
    subject: str
    what: str


@dataclass(frozen=True)
class AccessFilter:
    subject: str | None = None  # a customer number
    reader: str | None = None  # the acting user or the login
    since: datetime | None = None
    limit: int = 1000


class AccessReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def listing(self, f: AccessFilter) -> list[AccessEntry]:
        """The log's rows ``f`` selects, oldest first, at most ``f.limit``."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if f.subject is not None:
            where.append("subject = ?")
            params.append(f.subject)
        if f.reader is not None:
            where.append("(actor = ? OR login = ? OR on_behalf_of = ?)")
            params += [f.reader] * 3
        if f.since is not None:
            where.append("at >= ?")
            params.append(_columns.Driver(self.conn).ts(f.since))
        sql = (
            f"SELECT {_columns.listed(AccessEntry)} FROM access_log WHERE {' AND '.join(where)} "
            f"ORDER BY id LIMIT {int(f.limit)}"
        )
        return _columns.fetch(self.conn, AccessEntry, sql, params)

    def missing(self, limit: int = 1000) -> list[int]:
        """The read numbers issued that have no row (at most ``limit``): on PostgreSQL, reads
        whose reader rolled their transaction back (or a server crash within a read). The
        numbers retention cleared (up to its mark) are not missing."""
        from hanport.storage.erasure import ACCESS_LOG_CLEARED
        from hanport.storage.personal import READ_SEQUENCE

        db = _columns.Driver(self.conn)
        cleared = int(db.one(f"SELECT {ACCESS_LOG_CLEARED}")[0])  # gone by retention
        if db.sqlite:
            issued = db.one("SELECT coalesce(max(read_no), 0) FROM access_log")[0]
        else:
            last, called = db.one(f"SELECT last_value, is_called FROM {READ_SEQUENCE}")
            issued = last if called else 0
        issued = max(issued, cleared)
        after = "SELECT {} FROM access_log WHERE read_no > ?"
        if db.one(after.format("count(*)"), (cleared,))[0] == issued - cleared:
            return []
        have = {r[0] for r in db.all(after.format("read_no"), (cleared,))}
        return [n for n in range(cleared + 1, issued + 1) if n not in have][:limit]
