"""What the database refused, in the storage layer's words; the service layer names them for
people (exit codes live there)."""

from __future__ import annotations

import re


class StorageError(Exception):
    pass


class Conflict(StorageError):
    """Someone else changed the row first, or the database was busy: nothing written; retry."""


class PointHeld(StorageError):
    """Another case holds the metering point (one port-changing case per point)."""


class Unreachable(StorageError):
    """The database could not be reached or went away (a restart): nothing after the last
    commit was written; retry."""


class DiskFull(StorageError):
    """The database's disk is full (or could not be written): the transaction was rolled back,
    nothing after the last commit was written; free space, then retry."""


class Unusable(StorageError):
    """The URL names a database that cannot be used as given — no scheme, an unsupported one, a
    SQLite file in a missing folder, no such database on the server, a login refused: an
    operator's mistake; nothing was written."""


# What the drivers say when the server is down, restarting or dropped the connection.
GONE = (
    "could not connect",
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "connection is closed",
    "consuming input failed",
    "the connection is lost",
)


def _database_error(exc: BaseException) -> bool:
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError | sqlite3.Error):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, psycopg.Error)


def operational(exc: BaseException) -> bool:
    """The driver said the database could not do it now (busy or locked, above all), through
    SQLAlchemy or straight from ``sqlite3``."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError | sqlite3.OperationalError)


# SQLite's SQLITE_FULL and SQLITE_IOERR; PostgreSQL's disk_full (SQLSTATE 53100) and the
# server's "could not extend file … No space left on device".
FULL = ("database or disk is full", "no space left on device", "could not extend file")
IO_ERROR = ("disk i/o error",)
PG_DISK_FULL = "53100"
# What PostgreSQL says when the URL names a database or a login it does not have (FATAL at
# connect, no SQLSTATE on psycopg's connection error).
NO_DATABASE = re.compile(r'database "([^"]+)" does not exist')
LOGIN_REFUSED = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "permission denied for database",
)
NO_ROLE = re.compile(r'role "[^"]+" does not exist')
# libpq's own refusal, before the server says FATAL: the server asks for a password and the URL
# (or PGPASSWORD, ~/.pgpass) gave none.
NO_PASSWORD = "no password supplied"
# What the engine knows about where the database is, put on SQLAlchemy's exception by the
# engine's ``handle_error`` hook (storage.engine): "the PostgreSQL server at host:5432".
WHERE = "hanport_where"


def translate(exc: BaseException) -> StorageError | None:
    """The storage error a driver or SQLAlchemy exception stands for, if it is one we know
    (anything else — a refusal, a bug — passes through as it is)."""
    if not _database_error(exc):
        return None
    orig = getattr(exc, "orig", None) or exc
    name = type(orig).__name__
    text = str(orig).lower()
    if "IntegrityError" in name or "UniqueViolation" in name or _integrity(orig):
        return _integrity_error(text)
    where = getattr(exc, WHERE, None) or "the database"
    first = (str(orig).strip().splitlines() or [name])[0]
    return (
        _disk_full(orig, text, where, first)
        or _unusable(str(orig), text, where)
        or _busy_or_gone(exc, text, where, first)
    )


def _integrity_error(text: str) -> StorageError | None:
    if "ux_cases_point_holding" in text or "cases.point_id" in text:
        return PointHeld("another case already holds this metering point (it was opened meanwhile)")
    if (
        "uq_case_events_case_seq" in text
        or "case_events.case_id" in text
        or 'column "case_id" of relation "case_events"' in text
    ):
        return Conflict("the case was changed by someone else meanwhile; retry")
    if "idempotency_keys" in text:
        return Conflict("the same key was used concurrently; retry")
    return None


def _disk_full(orig: BaseException, text: str, where: str, first: str) -> StorageError | None:
    full = getattr(orig, "sqlstate", None) == PG_DISK_FULL or any(f in text for f in FULL)
    if not full and not any(f in text for f in IO_ERROR):
        return None
    what = "is full" if full else "is full or failing"
    return DiskFull(
        f"the disk of {where} {what} ({first}): nothing was written after the last commit; "
        "free some space, then run the command again — a retry is safe"
    )


def _unusable(raw: str, text: str, where: str) -> StorageError | None:
    fatal = raw.split("FATAL:", 1)[-1].strip().splitlines()[0] if "FATAL:" in raw else ""
    missing = NO_DATABASE.search(raw)
    if missing:
        return Unusable(
            f'the database "{missing.group(1)}" does not exist on {where}: correct the URL '
            f"(--db / HANPORT_DATABASE_URL), or create it (createdb {missing.group(1)}) and "
            "run `hanport db upgrade`"
        )
    if fatal and (NO_ROLE.search(raw) or any(r in text for r in LOGIN_REFUSED)):
        return Unusable(
            f"{where} refused the login ({fatal}): correct the user or password in the URL "
            "(--db / HANPORT_DATABASE_URL)"
        )
    if NO_PASSWORD in text:
        return Unusable(
            f"{where} refused the login (it asks for a password and none was given): put the "
            "login's password in the URL (--db / HANPORT_DATABASE_URL), PGPASSWORD or ~/.pgpass"
        )
    if "unable to open database file" in text:
        return Unusable(
            f"{where} could not be opened (unable to open database file): check that its "
            "folder exists and may be written, or correct --db / HANPORT_DATABASE_URL"
        )
    return None


def _busy_or_gone(exc: BaseException, text: str, where: str, first: str) -> StorageError | None:
    if "locked" in text or "busy" in text or "could not serialize" in text:
        return Conflict("the database was busy; nothing written, retry")
    if any(g in text for g in GONE) or getattr(exc, "connection_invalidated", False):
        return Unreachable(
            f"{where} could not be reached or went away ({first}); nothing after the last "
            "commit was written: retry"
        )
    return None


def _integrity(orig: BaseException) -> bool:
    import sqlite3

    if isinstance(orig, sqlite3.IntegrityError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(orig, psycopg.IntegrityError)
