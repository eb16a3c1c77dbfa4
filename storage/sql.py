"""Statements on the driver's own connection, for the hot path of every command.

A repository method on the hot path runs a fixed SQL text with positional parameters straight on
the DBAPI cursor (``sqlite3`` or ``psycopg``) inside the unit of work's transaction: building and
executing the same statement through SQLAlchemy cost more than the database work. The text is
written once with ``?`` placeholders and rendered for the backend (``%s`` for psycopg); values
cross in the forms SQLAlchemy's own column types use, so rows written here read back the same
through SQLAlchemy and the other way round (``UTCDateTime``: naive UTC text on SQLite,
``timestamptz`` on PostgreSQL; booleans as 0/1 on SQLite).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy.engine import Connection

from hanport.storage.personal import PROCESSING, Processing


@lru_cache(maxsize=1024)  # a command's instants repeat (its clock's now above all)
def _sqlite_ts(dt: datetime) -> str:
    u = dt.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d} "
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}"
    )


def _sqlite_read_ts(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):  # pragma: no cover - the driver returns text
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return _sqlite_parse_ts(value)


@lru_cache(maxsize=4096)  # the instants a load reads repeat (created, updated, the clock's now)
def _sqlite_parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _pg_read_ts(value: Any) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _sqlite_read_iso(value: Any) -> str | None:
    """The stored instant as ``isoformat()`` of its aware UTC datetime writes it, straight
    from the stored text (reads of many rows skip parsing and formatting)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 26:  # pragma: no cover - not ours
        d = _sqlite_read_ts(value)
        return None if d is None else d.isoformat()
    if value.endswith(".000000"):
        return f"{value[:10]}T{value[11:19]}+00:00"
    return f"{value[:10]}T{value[11:]}+00:00"


def _pg_read_iso(value: Any) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


class Driver:
    """The unit of work's connection as the DBAPI sees it, with the value conversions of its
    backend."""

    def __init__(self, conn: Connection, *, begin: bool = False) -> None:
        self.sa = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.raw: Any = conn.connection.driver_connection
        self.ts = _sqlite_ts if self.sqlite else _identity
        self.read_ts = _sqlite_read_ts if self.sqlite else _pg_read_ts
        self.read_iso = _sqlite_read_iso if self.sqlite else _pg_read_iso
        # A login that reads personal data only through the logging functions
        # (``hanport.storage.personal``): the repositories read through them, and the command's
        # context goes to the server before the first statement.
        self.processing: Processing | None = None if self.sqlite else PROCESSING.get()
        # ``begin``: the unit of work begins the transaction itself on PostgreSQL (the driver
        # in autocommit mode), so that BEGIN travels with the first statement instead of
        # costing a round trip of its own.
        self._begin = begin and not self.sqlite
        self._lead_pending = self._begin or self.processing is not None
        self._queued: Any = None  # PostgreSQL: the pipeline that ``batch`` statements wait in
        self._queueing = False
        self._cursor: Any = None  # for the statements whose results nobody reads

    @property
    def _writes(self) -> Any:
        """One cursor for every statement whose result is not read (writes, BEGIN, COMMIT): in
        a pipeline, a cursor per statement cost psycopg a third more than the statement."""
        if self._cursor is None:
            self._cursor = self.raw.cursor()
        return self._cursor

    def ts_or_none(self, dt: datetime | None) -> Any:
        return None if dt is None else self.ts(dt)

    def iso_utc(self, column: str) -> str:
        """SQL for the instant in ``column`` as ISO 8601 text in UTC, as ``read_iso`` gives it
        (microseconds only when there are any; NULL stays NULL)."""
        if self.sqlite:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff'
            return (
                f"(CASE WHEN {column} LIKE '%.000000' THEN replace(substr({column}, 1, 19), "
                f"' ', 'T') ELSE replace({column}, ' ', 'T') END || '+00:00')"
            )
        utc = f"({column} AT TIME ZONE 'UTC')"
        return (
            f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
            f"CASE WHEN extract(microseconds FROM {utc})::bigint % 1000000 = 0 THEN '' "
            f"ELSE to_char({utc}, '.US') END || '+00:00')"
        )

    def sql(self, text: str) -> str:
        return text if self.sqlite else _pg(text)

    def _lead(self) -> list[tuple[str, Sequence[Any]]]:
        """What goes to the server before the first statement (once): BEGIN, when the unit
        of work begins the transaction itself, and the command's processing context."""
        if not self._lead_pending:
            return []
        self._lead_pending = False
        out: list[tuple[str, Sequence[Any]]] = [("BEGIN", ())] if self._begin else []
        if self.processing is not None:
            sql, values = self.processing.settings()
            out.append((self.sql(sql), values))
        return out

    def _send(self, lead: list[tuple[str, Sequence[Any]]]) -> None:
        for text, params in lead:
            self._writes.execute(text, params, prepare=False)

    def _ready(self) -> list[tuple[str, Sequence[Any]]]:
        """Before a statement: what ``batch`` queued is settled unless this one is queued too;
        returns the lead still to send (with the statement, in one round trip)."""
        if self._queued is not None and not self._queueing:
            self.settle()
        lead = self._lead()
        if lead and self._queued is not None:
            self._send(lead)
            return []
        return lead

    def begun(self) -> None:
        """Make sure the transaction has begun and nothing is left queued (before a statement
        that does not go through this driver: SQLAlchemy's own)."""
        if self._queued is not None:
            self.settle()
        self._send(self._lead())

    def execute(self, text: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        lead = self._ready()
        cur = self.raw.cursor()
        if lead:
            with self.raw.pipeline():
                self._send(lead)
                cur.execute(self.sql(text), params)
            return cur
        cur.execute(self.sql(text), params)
        return cur

    def executemany(self, text: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self._send(self._ready())
            self._writes.executemany(self.sql(text), rows)

    def executemany_count(self, text: str, rows: Iterable[Sequence[Any]]) -> Callable[[], int]:
        """``executemany``; returns how to read the rows it changed in all — at once on SQLite,
        once what the batch queued has been sent on PostgreSQL."""
        rows = list(rows)
        if not rows:
            return lambda: 0
        self._send(self._ready())
        cur = self.raw.cursor()
        cur.executemany(self.sql(text), rows)
        if self.sqlite:
            count = int(cur.rowcount)
            return lambda: count

        def counted() -> int:
            if self._queued is not None:
                self.settle()
            return int(cur.rowcount)

        return counted

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Statements sent together, one by one on SQLite. On PostgreSQL they wait in a pipeline
        until the commit (which goes with them: one round trip) or the next statement outside a
        batch, whichever comes first; their errors arrive then. A connection whose transactions
        its holder commits itself (not a unit of work's) sends them as the block ends."""
        if self.sqlite:
            yield
            return
        if not self._begin:
            with self.raw.pipeline():
                yield
            return
        if self._queued is None:
            pipe = self.raw.pipeline()
            pipe.__enter__()
            self._queued = pipe
            self._send(self._lead())  # queued with the batch
        self._queueing = True
        try:
            yield
        finally:
            self._queueing = False

    def settle(self) -> None:
        """Send what ``batch`` queued and wait for its results: its errors raise here."""
        pipe, self._queued = self._queued, None
        if pipe is not None:
            pipe.__exit__(None, None, None)

    def commit_queued(self) -> bool:
        """PostgreSQL: COMMIT after what ``batch`` queued, sent with it (one round trip; an
        error in any of it leaves the transaction uncommitted and raises here). False: nothing
        was queued (commit the ordinary way)."""
        if self._queued is None:
            return False
        self._writes.execute("COMMIT", prepare=False)
        self.settle()
        return True

    def abandon(self) -> None:
        """Leave the queue after a failure: what it holds is discarded with the transaction."""
        pipe, self._queued = self._queued, None
        if pipe is not None:
            with suppress(Exception):  # the failure that got here is the one to report
                pipe.__exit__(None, None, None)

    def pipelined(self, statements: Sequence[tuple[str, Any]]) -> list[list[Any]]:
        """Run the statements in order and return each one's rows; PostgreSQL gets them in one
        round trip (pipeline mode)."""
        if self.sqlite:
            return [self.all(t, p) for t, p in statements]
        lead = self._ready()
        cursors = []
        with self.raw.pipeline():
            self._send(lead)
            for text, params in statements:
                cur = self.raw.cursor()
                cur.execute(self.sql(text), params)
                cursors.append(cur)
        return [list(c.fetchall()) for c in cursors]

    def one(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(text, params).fetchone()

    def all(self, text: str, params: Any = ()) -> list[Any]:
        return list(self.execute(text, params).fetchall())

    def rowcount(self, text: str, params: Sequence[Any] = ()) -> int:
        return int(self.execute(text, params).rowcount)

    def placeholders(self, n: int) -> str:
        return ", ".join("?" * n)

    def member(self, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A membership test to follow a column (``… WHERE id {test}``) and its positional
        parameters: ``= ANY(?)`` with one array on PostgreSQL, so the statement's text is the
        same however many values (psycopg parses and prepares it once); ``IN (?, …)`` on
        SQLite."""
        if self.sqlite:
            return f"IN ({self.placeholders(len(values))})", list(values)
        return "= ANY(?)", [list(values)]

    def member_named(self, name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
        """``member`` with named parameters (``:name`` on PostgreSQL, ``:name0, …`` on
        SQLite)."""
        if self.sqlite:
            params = {f"{name}{i}": v for i, v in enumerate(values)}
            return "IN (" + ", ".join(f":{k}" for k in params) + ")", params
        return f"= ANY(:{name})", {name: list(values)}


def _identity(dt: datetime) -> datetime:
    return dt


_NAMED = re.compile(r"(?<![:\w]):(\w+)")


@cache
def _pg(text: str) -> str:
    """``?`` and ``:name`` placeholders as psycopg's ``%s`` and ``%(name)s`` (a literal ``%``
    doubled)."""
    return _NAMED.sub(r"%(\1)s", text.replace("%", "%%").replace("?", "%s"))
